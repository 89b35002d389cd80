"""The rehearsal clock (issue 12): with --simulated-clock the server's clock is real time plus an
offset that `cmklogs clock advance` raises. The data and resource lifecycle runs on it; sessions
(tokens, the TLS certificate, rate windows) stay on real time, because clients keep their own,
un-jumped clocks. So SDK clients built before a 31-day jump keep working after it, and a client
on the real clock trusts the server's certificate 400 simulated days later, across a restart."""
import datetime
import time

from conftest import cli_json, tls_socket, parse_rfc3339
from test_ingest_query import ingestion_client, query_client, records, setup_shared
from test_keyvault import _fresh_challenge_cache, create_vault, key_client, mgmt_client, vault_url  # noqa: F401


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def clock_show(server):
    out = cli_json(server, "clock", "show")
    for k in ("mode", "now", "realNow", "offset", "offsetSeconds"):
        assert k in out, f"clock show lacks {k}: {out}"
    return out


def test_clock_ticks_with_real_time_and_advance_raises_the_offset(sim_server):
    s = sim_server
    first = clock_show(s)
    assert first["mode"] == "simulated" and first["offsetSeconds"] == 0, first
    assert abs((parse_rfc3339(first["now"]) - utc_now()).total_seconds()) < 30, first
    time.sleep(1.2)
    second = clock_show(s)
    assert (parse_rfc3339(second["now"]) - parse_rfc3339(first["now"])).total_seconds() >= 1, \
        f"the simulated clock does not tick: {first} then {second}"
    advanced = cli_json(s, "clock", "advance", "31d")
    assert advanced["offsetSeconds"] == 31 * 86400 and advanced["offset"] == "P31D", advanced
    shown = clock_show(s)
    assert shown["offsetSeconds"] == 31 * 86400, shown
    ahead = (parse_rfc3339(shown["now"]) - parse_rfc3339(shown["realNow"])).total_seconds()
    assert abs(ahead - 31 * 86400) < 1, shown
    assert abs((parse_rfc3339(shown["realNow"]) - utc_now()).total_seconds()) < 30, shown


def test_rows_stamped_with_the_clients_now_are_queryable_at_once(sim_server):
    s = sim_server
    rule, cid = setup_shared(s)
    recs = records(5, seed=3, marker="now")
    stamp = utc_now().isoformat().replace("+00:00", "Z")
    for r in recs:
        r["TimeGenerated"] = stamp  # the client's now: after the server started
    ingestion_client(s).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=recs)
    # A relative timespan ends at the server's now: rows the client stamped with its own now are
    # inside it (a frozen clock, behind the client's, left them in the "future").
    res = query_client(s).query_workspace(cid, "AppEvents_CL | where Message endswith 'now' | count",
                                          timespan=datetime.timedelta(hours=1))
    assert res.status.name == "SUCCESS", res
    assert res.tables[0].rows[0][0] == 5


def test_sdk_clients_built_before_a_31_day_jump_keep_working(sim_server):
    s = sim_server
    rule, cid = setup_shared(s)
    arm_client = mgmt_client(s)
    create_vault(s, "jumpvault", client=arm_client)
    kc = key_client(s, vault_url(s, "jumpvault"))
    key = kc.create_rsa_key("cmk1", size=2048)
    ingest, query = ingestion_client(s), query_client(s)
    ingest.upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(3, seed=1, marker="before",
                                                                           start=utc_now()))
    assert query.query_workspace(cid, "AppEvents_CL | count", timespan=None).tables[0].rows[0][0] == 3
    # Every client now holds a cached token, valid for about an hour of real time.

    jumped = cli_json(s, "clock", "advance", "31d")
    assert jumped["offsetSeconds"] == 31 * 86400, jumped

    assert arm_client.vaults.get(s.resourceGroup, "jumpvault").name == "jumpvault"
    # A PATCH with a body, on the token the KeyClient got before the jump.
    updated = kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    assert updated.properties.enabled is False
    assert kc.get_key("cmk1").properties.enabled is False
    # Rows of the rehearsal's present: stamped on the simulated clock.
    sim_now = parse_rfc3339(jumped["now"]).astimezone(datetime.timezone.utc)
    ingest.upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(4, seed=2, marker="after",
                                                                           start=sim_now))
    res = query.query_workspace(cid, "AppEvents_CL | summarize count() by Message | order by Message asc",
                                timespan=None)
    assert res.status.name == "SUCCESS", res
    # The rows from before the jump passed the workspace's 30 days of retention.
    assert [r[1] for r in res.tables[0].rows] == [1, 1, 1, 1], res.tables[0].rows
    assert all(r[0].endswith("after") for r in res.tables[0].rows), res.tables[0].rows


def test_real_clock_client_trusts_the_certificate_after_400_days_and_a_restart(sim_server):
    s = sim_server
    cli_json(s, "clock", "advance", "400d")
    with tls_socket(s, server_hostname="management.localhost") as sock:  # verifies on real time
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
    # The certificate is issued afresh at each start: on real time, not on the simulated clock.
    s.stop_and_check()
    s.start()
    with tls_socket(s, server_hostname="management.localhost") as sock:
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        not_after = sock.getpeercert()["notAfter"]
    expires = datetime.datetime.strptime(not_after, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)
    assert expires < utc_now() + datetime.timedelta(days=398), f"issued on the simulated clock: {not_after}"
    shown = clock_show(s)
    assert shown["offsetSeconds"] >= 400 * 86400, f"the offset did not survive the restart: {shown}"
    kc = key_client(s, vault_url(s, "tlsvault"))
    create_vault(s, "tlsvault")
    assert kc.create_rsa_key("k", size=2048).name == "k"


def test_frozen_mode_stands_still_between_advances(server_factory):
    s = server_factory(extra_args=["--simulated-clock=frozen"])
    first = clock_show(s)
    assert first["mode"] == "frozen", first
    time.sleep(1.2)
    assert clock_show(s)["now"] == first["now"]
    out = cli_json(s, "clock", "advance", "2h")
    assert (parse_rfc3339(out["now"]) - parse_rfc3339(first["now"])).total_seconds() == 7200


def test_pre_jump_clients_write_see_the_link_window_reopen_and_a_rotation_fire(sim_server):
    """Issue 12's acceptance, with SDK clients built once before `clock advance 31d`: an ARM
    write (a link through azure-mgmt-loganalytics) that the 30-day link-operation window refused
    before the jump succeeds after it, and a key rotation policy of 30 days has fired, seen by the
    same KeyClient."""
    from azure.core.exceptions import HttpResponseError
    from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction
    from azure.mgmt.loganalytics.models import LinkedService
    from test_control_plane import create_cluster, create_workspace, cluster_id
    from test_data_collection import la_client

    s = sim_server
    la = la_client(s)
    create_vault(s, "rotvault")
    kc = key_client(s, vault_url(s, "rotvault"))
    first = kc.create_rsa_key("cmk1", size=2048)
    kc.update_key_rotation_policy("cmk1", KeyRotationPolicy(lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")]))
    create_cluster(s, "rehearsecl")
    create_workspace(s, "rehearsews")
    cid = cluster_id(s, "rehearsecl")

    def link():
        return la.linked_services.begin_create_or_update(
            s.resourceGroup, "rehearsews", "cluster", LinkedService(write_access_resource_id=cid)).result(timeout=60)

    link()                                                                          # 1
    la.linked_services.begin_delete(s.resourceGroup, "rehearsews", "cluster").result(timeout=60)  # 2
    try:
        link()                                                                      # 3 in 30 days
        raise AssertionError("a third link operation within 30 days was accepted")
    except HttpResponseError as e:
        assert e.status_code in (400, 409), e

    cli_json(s, "clock", "advance", "31d")

    linked = link()  # the same client, its token cached before the jump: the window reopened
    assert linked.write_access_resource_id.lower() == cid.lower(), linked
    ws = la.workspaces.get(s.resourceGroup, "rehearsews")
    assert ws.name == "rehearsews"
    deadline = time.monotonic() + 15
    while True:
        versions = list(kc.list_properties_of_key_versions("cmk1"))
        if len(versions) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(versions) == 2, f"the 30-day rotation policy did not fire: {[v.version for v in versions]}"
    assert kc.get_key("cmk1").properties.version != first.properties.version


def test_js_sdk_rows_stamped_with_the_clients_now_are_counted_at_once(sim_server):
    """The JS SDK's @azure/monitor-ingestion + @azure/monitor-query-logs on the rehearsal clock:
    12,000 rows stamped with the client's now, counted right away (issue 12)."""
    import shutil
    if shutil.which("node") is None:
        import pytest
        pytest.skip("node is not installed")
    from test_control_plane import create_workspace
    from test_ingest_query import create_dcr, create_table, customer_id
    from test_js_clients import node_modules as _nm, run_node  # noqa: F401
    from conftest import js_modules
    js_modules()
    s = sim_server
    create_workspace(s, "wsjsclock")
    create_table(s, "wsjsclock")
    rule = create_dcr(s, "dcrjsclock", "wsjsclock")["properties"]["immutableId"]
    assert "monitor ok" in run_node(s, "monitor.mjs", rule, "Custom-AppEvents", customer_id(s, "wsjsclock"), "12000")
