"""Customer Lockbox and the activity log (issue 16), on one server with a simulated clock.

The instance admin (client-config.json) is the operator; a second principal, Owner of the
subscription, is the customer. Lockbox is driven over raw ARM REST (there is no Lockbox SDK), the
activity log through azure-mgmt-monitor's activity_logs.list and through az (`az rest`,
`az monitor activity-log list`), time through `cmklogs clock advance`."""
import datetime
import os

import pytest
from azure.core.exceptions import HttpResponseError

from conftest import Server, _teardown, admin_token, cli, cli_json, http, new_principal, sdk_credential, token_for
from test_az import ROOT, az, readme_az_block, run_bash
from test_control_plane import (create_cluster, create_workspace, grant_policy, kv_props, link, set_key,  # noqa: F401
                                vault_with_key, workspace_id)
from test_ingest_query import create_dcr, create_table, customer_id, ingestion_client, query_client, records
from test_keyvault import _fresh_challenge_cache  # noqa: F401

LB = "2018-02-28-preview"
NS = "Microsoft.CustomerLockbox"


@pytest.fixture(scope="module")
def lb(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("lockbox")
    s = Server(root / "cmklogs-data", ["--simulated-clock", "--key-check-interval", "10"])
    s.start()
    s.root = str(root)
    yield s
    _teardown(request, [s])


@pytest.fixture(scope="module")
def world(lb):
    """A CMK cluster with a linked workspace holding 5 rows, the key rotated (picked up by the key
    check), revoked and restored; a customer Owner and a Reader of the subscription."""
    s = lb
    kc, key = vault_with_key(s, "lbvault")
    cluster = create_cluster(s, "lbcluster")
    grant_policy(s, "lbvault", cluster["identity"]["principalId"])
    create_workspace(s, "lbws")
    create_table(s, "lbws")
    link(s, "lbws", "lbcluster")
    set_key(s, "lbcluster", kv_props(s, "lbvault"))
    rule = create_dcr(s, "lbdcr", "lbws")["properties"]["immutableId"]
    ingestion_client(s).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(5, marker="lb"))
    rotated = kc.rotate_key("cmk1")
    cli(s, "clock", "advance", "10s")
    kc.update_key_properties("cmk1", rotated.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    kc.update_key_properties("cmk1", rotated.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    customer = new_principal(s, "customer-owner")
    cli(s, "role", "assign", "--principal", customer["clientId"], "--role", "Owner")
    reader = new_principal(s, "customer-reader")
    cli(s, "role", "assign", "--principal", reader["clientId"], "--role", "Reader")
    return {"cluster": cluster, "rotated": rotated.properties.version, "customer": customer, "reader": reader,
            "ws": workspace_id(s, "lbws"), "cid": customer_id(s, "lbws")}


def token(s, who):
    return token_for(s, who["clientId"], who["clientSecret"]) if who else admin_token(s)


def arm(s, method, path, who=None, body=None, api=LB):
    sep = "&" if "?" in path else "?"
    return http(s, method, "management", f"{path}{sep}api-version={api}", token=token(s, who), body=body)


def requests_path(s):
    return f"/subscriptions/{s.subscriptionId}/providers/{NS}/requests"


def admin_count(s, cid):
    res = query_client(s).query_workspace(cid, "AppEvents_CL | count", timespan=None)
    return res.tables[0].rows[0][0]


def refused_by_lockbox(s, cid):
    with pytest.raises(HttpResponseError) as e:
        admin_count(s, cid)
    assert e.value.status_code == 403 and "Customer Lockbox" in str(e.value), str(e.value)


def support_request(s, ws, reason, duration="8h"):
    q = cli_json(s, "support", "request", "--workspace", ws, "--reason", reason, "--duration", duration)
    assert q["properties"]["status"] == "Pending", q
    return q["properties"]["requestId"]


def decide(s, who, rid, decision, reason="", expect=200):
    r = arm(s, "POST", f"{requests_path(s)}/{rid}/updateApproval", who, {"status": decision, "reason": reason})
    assert r.status_code == expect, f"{decision} by {who and who['clientId']}: {r.status_code} {r.text}"
    return r


def lockbox_request(s, rid, who):
    r = arm(s, "GET", f"{requests_path(s)}/{rid}", who)
    assert r.status_code == 200, r.text
    return r.json()["properties"]


def monitor_client(s):
    from azure.mgmt.monitor import MonitorManagementClient
    return MonitorManagementClient(sdk_credential(s), s.subscriptionId, base_url=s.armEndpoint,
                                   credential_scopes=[s.armScope], connection_verify=s.caCertPath)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


def activity(s, extra="", start=None, end=None):
    start = start or datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    end = end or datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    f = f"eventTimestamp ge '{iso(start)}' and eventTimestamp le '{iso(end)}'" + (f" and {extra}" if extra else "")
    return list(monitor_client(s).activity_logs.list(filter=f))


def test_with_lockbox_disabled_the_admin_queries_as_before(lb, world):
    s = lb
    assert admin_count(s, world["cid"]) == 5
    r = arm(s, "GET", f"/providers/{NS}/tenantOptedIn/{s.tenantId}")
    assert r.status_code == 200 and r.json() == {"isOptedIn": False}, r.text
    # No request is needed (nor possible) without Lockbox.
    p = cli(s, "support", "request", "--workspace", world["ws"], "--reason", "x", check=False)
    assert p.returncode != 0 and "LockboxNotEnabled" in p.stderr + p.stdout
    assert vault_audit_rows(s) > 0
    assert cli(s, "vault", "audit", "--vault", "lbvault").returncode == 0


def vault_audit_rows(s):
    res = query_client(s).query_workspace("system", "KeyVaultAudit | where Vault =~ 'lbvault' | count", timespan=None)
    return res.tables[0].rows[0][0]


def test_lockbox_requests_approval_grant_access_and_expiry(lb, world):
    s, customer, reader = lb, world["customer"], world["reader"]
    # Only a tenant administrator who is no operator turns Lockbox on.
    assert arm(s, "POST", f"/providers/{NS}/enableLockbox").status_code == 403
    assert arm(s, "POST", f"/providers/{NS}/enableLockbox", customer).status_code == 200
    assert arm(s, "GET", f"/providers/{NS}/tenantOptedIn/{s.tenantId}", reader).json() == {"isOptedIn": True}
    refused_by_lockbox(s, world["cid"])
    # ... also for saved searches, over ARM.
    r = arm(s, "GET", f"{world['ws']}/savedSearches", api="2020-08-01")
    assert r.status_code == 403 and r.json()["error"]["code"] == "CustomerLockboxAccessDenied", r.text
    # The key operations of the customer's vault are the customer's too: no request covers them.
    p = cli(s, "vault", "audit", "--vault", "lbvault", check=False)
    assert p.returncode != 0 and "Customer Lockbox" in p.stderr, p.stderr
    assert vault_audit_rows(s) == 0
    # The customer is not gated.
    cust_query = query_client_for(s, customer)
    assert cust_query.query_workspace(world["cid"], "AppEvents_CL | count", timespan=None).tables[0].rows[0][0] == 5

    rid = support_request(s, world["ws"], "ticket 1234: slow queries")
    pending = arm(s, "GET", f"{requests_path(s)}?$filter=properties/status eq 'Pending'", customer).json()["value"]
    assert [q["properties"]["requestId"] for q in pending] == [rid], pending
    props = pending[0]["properties"]
    assert props["resourceIds"].lower() == world["ws"].lower() and props["duration"] == "8", props
    assert "Auxiliary" in props["notCovered"], props
    decide(s, reader, rid, "Approve", expect=403)
    decide(s, None, rid, "Approve", expect=403)  # the operator approves nothing
    decide(s, customer, rid, "Approve", "go ahead")
    assert lockbox_request(s, rid, customer)["status"] == "Approved"

    assert admin_count(s, world["cid"]) == 5
    accesses = cust_query.query_workspace(
        world["cid"], "LockboxAccess | project OperatorAppId, RequestId, QueryText, RowsReturned", timespan=None)
    assert [list(r) for r in accesses.tables[0].rows] == [[s.clientId, rid, "AppEvents_CL | count", 1]], accesses
    # Through the Lockbox view, time bounds and filters are answered as without it, for its
    # own table and the workspace's.
    for q, want in [("LockboxAccess | where TimeGenerated > ago(1d) | summarize count()", 1),
                    ("LockboxAccess | where TimeGenerated < ago(1d) | count", 0),
                    ("LockboxAccess | where TimeGenerated > ago(1d) and RowsReturned == 1 | count", 1),
                    ("AppEvents_CL | where TimeGenerated > ago(365d) | summarize count()", 5),
                    ("AppEvents_CL | where TimeGenerated > now() | count", 0)]:
        got = cust_query.query_workspace(world["cid"], q, timespan=None).tables[0].rows[0][0]
        assert got == want, (q, got)

    cli(s, "clock", "advance", "8h")
    refused_by_lockbox(s, world["cid"])
    assert lockbox_request(s, rid, customer)["status"] == "Expired"

    unanswered = support_request(s, world["ws"], "ticket 1235")
    cli(s, "clock", "advance", "95h")
    assert lockbox_request(s, unanswered, customer)["status"] == "Pending"
    cli(s, "clock", "advance", "1h")
    assert lockbox_request(s, unanswered, customer)["status"] == "Expired"
    r = decide(s, customer, unanswered, "Approve", expect=409)
    assert r.json()["error"]["additionalInfo"][0]["info"]["currentStatus"] == "Expired", r.text

    denied = support_request(s, world["ws"], "ticket 1236")
    decide(s, customer, denied, "Deny", "not now")
    refused_by_lockbox(s, world["cid"])

    revoked = support_request(s, world["ws"], "ticket 1237")
    decide(s, customer, revoked, "Approve")
    assert admin_count(s, world["cid"]) == 5
    decide(s, customer, revoked, "Deny", "done early")
    assert lockbox_request(s, revoked, customer)["status"] == "Revoked"
    refused_by_lockbox(s, world["cid"])

    # Every transition is in the activity log, with its caller.
    events = activity(s, f"resourceProvider eq '{NS}'")
    seen = {(e.operation_name.value.split("/")[-2], e.properties.get("requestId")): e.caller for e in events}
    admin_oid = cli_json(s, "operator", "list")["value"][0]
    cust_oid = customer["objectId"]
    for want, who in [(("create", rid), admin_oid), (("approve", rid), cust_oid), (("access", rid), admin_oid),
                      (("expire", rid), ""), (("create", unanswered), admin_oid), (("expire", unanswered), ""),
                      (("deny", denied), cust_oid), (("revoke", revoked), cust_oid)]:
        assert want in seen, (want, sorted(seen))
        assert seen[want].lower() == who.lower(), (want, seen[want])
    access = [e for e in events if e.operation_name.value.endswith("/access/action")][0]
    assert access.properties["query"] == "AppEvents_CL | count" and access.properties["rowsReturned"] == "1"


def query_client_for(s, who):
    from azure.monitor.query import LogsQueryClient
    return LogsQueryClient(sdk_credential(s, who["clientId"], who["clientSecret"]),
                           endpoint=f"https://api.loganalytics.{s.domain}:{s.port}", connection_verify=s.caCertPath)


def test_activity_log_lists_arm_writes_and_key_events_with_callers(lb, world):
    s = lb
    admin_oid = cli_json(s, "operator", "list")["value"][0]
    identity = world["cluster"]["identity"]["principalId"]
    events = activity(s, f"resourceGroupName eq '{s.resourceGroup}'")
    ops = [(e.operation_name.value, e.status.value, e.caller) for e in events]

    def has(op, status, caller):
        statuses = {"Accepted", "Succeeded"} if status == "Done" else {status}
        assert any(o.lower() == op.lower() and st in statuses and c.lower() == caller.lower() for o, st, c in ops), \
            (op, status, caller, "\n".join(map(str, ops)))

    oi = "Microsoft.OperationalInsights"
    has(f"{oi}/clusters/write", "Started", admin_oid)
    has(f"{oi}/clusters/write", "Done", admin_oid)  # 202 (Accepted) or, provisioning at once, Succeeded
    has(f"{oi}/workspaces/linkedServices/write", "Done", admin_oid)
    for kind in ("configure", "rotate", "revoke", "restore"):
        has(f"{oi}/clusters/key/{kind}/action", "Succeeded", identity)
    key_events = {e.operation_name.value.split("/")[-2]: e for e in events if "/key/" in e.operation_name.value}
    assert key_events["rotate"].properties["keyVersion"] == world["rotated"], key_events["rotate"].properties
    assert key_events["revoke"].properties["reason"], key_events["revoke"].properties
    # Started and its outcome share a correlation id.
    link_events = [e for e in events if e.operation_name.value.endswith("linkedServices/write")]
    assert len({e.correlation_id for e in link_events}) == 1 and len(link_events) == 2
    by_corr = activity(s, f"correlationId eq '{link_events[0].correlation_id}'")
    assert {e.event_data_id for e in by_corr} == {e.event_data_id for e in link_events}
    # Filtered by another group: none of them; by time: only what came after.
    assert activity(s, "resourceGroupName eq 'nosuchgroup'") == []
    restore = key_events["restore"].event_timestamp
    later = activity(s, f"resourceGroupName eq '{s.resourceGroup}'", start=restore)
    assert later and all(e.event_timestamp >= restore for e in later)
    assert not any(e.operation_name.value.endswith("clusters/write") for e in later)
    # The same events in the system workspace's AzureActivity table.
    res = query_client(s).query_workspace(
        "system", f"AzureActivity | where OperationNameValue endswith '/key/rotate/action' | project Caller, Properties_d",
        timespan=None)
    assert [r[0] for r in res.tables[0].rows] == [identity], res.tables[0].rows


def test_az_rest_and_az_monitor_activity_log_list(lb, world):
    s = lb
    workdir = s.root
    if not os.path.exists(os.path.join(workdir, "scripts")):
        os.symlink(os.path.join(ROOT, "scripts"), os.path.join(workdir, "scripts"))
    _, v = run_bash(workdir, readme_az_block(), os.path.join(workdir, "az.env"))
    url = f"{s.armEndpoint}{requests_path(s)}?api-version={LB}"
    listed = az(workdir, v, "rest", "--method", "get", "--url", url)
    statuses = sorted(q["properties"]["status"] for q in listed["value"])
    assert statuses == ["Denied", "Expired", "Expired", "Revoked"], statuses
    now = datetime.datetime.now(datetime.timezone.utc)
    events = az(workdir, v, "monitor", "activity-log", "list", "--resource-group", s.resourceGroup,
                "--start-time", (now - datetime.timedelta(days=1)).isoformat(),
                "--end-time", (now + datetime.timedelta(days=30)).isoformat(), "--max-events", "500")
    ops = {e["operationName"]["value"] for e in events}
    assert "Microsoft.OperationalInsights/clusters/key/rotate/action" in ops, ops
    assert "Microsoft.OperationalInsights/workspaces/linkedServices/write" in ops, ops


def cmk_account_params(s, vault, uai):
    from azure.mgmt.storage.models import (Encryption, EncryptionIdentity, Identity, KeyVaultProperties, Sku,
                                           StorageAccountCreateParameters, UserAssignedIdentity)
    from test_control_plane import LOCATION
    from test_keyvault import vault_url
    return StorageAccountCreateParameters(
        sku=Sku(name="Standard_LRS"), kind="StorageV2", location=LOCATION,
        identity=Identity(type="UserAssigned", user_assigned_identities={uai: UserAssignedIdentity()}),
        encryption=Encryption(key_source="Microsoft.Keyvault",
                              key_vault_properties=KeyVaultProperties(key_name="cmk1", key_version="",
                                                                      key_vault_uri=vault_url(s, vault)),
                              encryption_identity=EncryptionIdentity(encryption_user_assigned_identity=uai)))


def test_operator_blob_reads_of_a_storage_account_and_its_key_events(lb, world):
    """Storage accounts (issue 15) under Lockbox: the operator's own Entra token reads a customer's
    blob only under an approved request naming the account, and each read is recorded; the
    account's key configure / revoke / restore are in the activity log."""
    from test_byos import BLOB_DATA_CONTRIBUTOR, storage_client
    from test_control_plane import LOCATION, UAI_API, uai_id
    from test_control_plane import arm as cp_arm
    from test_keyvault import admin_object_id, put_role_assignment
    from azure.storage.blob import BlobServiceClient
    s, customer, name = lb, world["customer"], "lbsa1"
    # Set up as the operator while the customer has Lockbox off, then turn it on again.
    assert arm(s, "POST", f"/providers/{NS}/disableLockbox", customer).status_code == 200
    kc, key = vault_with_key(s, "lbsavault")
    uai = cp_arm(s, "PUT", f"{uai_id(s, 'lbuai')}?api-version={UAI_API}", {"location": LOCATION}).json()
    grant_policy(s, "lbsavault", uai["properties"]["principalId"])
    acct = storage_client(s).storage_accounts.begin_create(s.resourceGroup, name,
                                                           cmk_account_params(s, "lbsavault", uai["id"])).result()
    put_role_assignment(s, str(__import__("uuid").uuid4()), admin_object_id(s), BLOB_DATA_CONTRIBUTOR, acct.id)
    bsc = BlobServiceClient(acct.primary_endpoints.blob, credential=sdk_credential(s), connection_verify=s.caCertPath)
    bsc.create_container("data").upload_blob("b1", b"customer data")
    assert arm(s, "POST", f"/providers/{NS}/enableLockbox", customer).status_code == 200
    blob = bsc.get_container_client("data").get_blob_client("b1")
    with pytest.raises(HttpResponseError) as e:
        blob.download_blob().readall()
    assert e.value.status_code == 403 and e.value.error_code == "CustomerLockboxAccessDenied", e.value
    assert "Customer Lockbox" in str(e.value), e.value
    # A request naming the account (by name), approved by the customer, opens it.
    q = cli_json(s, "support", "request", "--storage-account", name, "--reason", "ticket 77", "--duration", "1h")
    assert q["properties"]["resourceIds"].lower() == acct.id.lower(), q
    assert q["properties"]["resourceType"] == "Microsoft.Storage/storageAccounts", q
    decide(s, customer, q["properties"]["requestId"], "Approve", "ok")
    assert blob.download_blob().readall() == b"customer data"
    # Key events of the account: configured at creation, revoked, restored.
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    kc.update_key_properties("cmk1", key.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    events = activity(s, f"resourceUri eq '{acct.id}'")
    ops = {e.operation_name.value: e for e in events}
    for kind in ("configure", "revoke", "restore"):
        ev = ops.get(f"Microsoft.Storage/storageAccounts/key/{kind}/action")
        assert ev is not None and ev.caller.lower() == uai["properties"]["principalId"].lower(), (kind, list(ops))
    assert ops["Microsoft.Storage/storageAccounts/key/revoke/action"].properties["reason"]
    access = ops[f"{NS}/requests/access/action"]
    assert access.properties["requestId"] == q["properties"]["requestId"], access.properties
    assert access.properties["operation"] == "Microsoft.Storage/storageAccounts/blobServices/request"
    assert access.properties["query"] == "GET /data/b1", access.properties
