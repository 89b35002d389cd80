"""A cluster's storage accounts under its customer-managed key: created when the key is set, their
AEK unwrapped through the vault every check interval as the cluster's identity, revoked within one
interval when the key is disabled or access is removed, restored when it comes back (simulated
clock, --key-check-interval 10)."""
import pytest

from conftest import admin_token, cli, http
from test_control_plane import (create_cluster, grant_policy, kv_props, patch_cluster, set_key,  # noqa: F401
                                vault_with_key, wait_async)
from test_keyvault import _fresh_challenge_cache  # noqa: F401


def storage_of(server, cluster_id):
    r = http(server, "GET", "management", "/cmklogs/admin/storage", token=admin_token(server))
    assert r.status_code == 200, r.text
    return [a for a in r.json()["value"] if a["clusterId"].lower() == cluster_id.lower()]


def states(server, cluster_id):
    return sorted(a["keyState"] for a in storage_of(server, cluster_id))


@pytest.fixture
def cmk_server(server_factory):
    return server_factory(extra_args=["--simulated-clock", "--key-check-interval", "10"])


def setup_cmk_cluster(server):
    kc, key = vault_with_key(server, "storvault")
    cluster = create_cluster(server, "storcluster")
    grant_policy(server, "storvault", cluster["identity"]["principalId"])
    assert storage_of(server, cluster["id"]) == []  # no key, no CMK accounts
    set_key(server, "storcluster", kv_props(server, "storvault"))
    return kc, key, cluster


def test_key_configured_creates_healthy_accounts_wrapped_by_the_key(cmk_server):
    kc, key, cluster = setup_cmk_cluster(cmk_server)
    accounts = storage_of(cmk_server, cluster["id"])
    assert [a["account"] for a in accounts] == ["acct1", "acct2"]
    assert all(a["keyState"] == "Healthy" for a in accounts), accounts
    assert all(a["kid"].endswith("/keys/cmk1/" + key.properties.version) for a in accounts), accounts
    # The unwraps are done as the cluster's identity, and audited.
    import json
    entries = json.loads(cli(cmk_server, "vault", "audit", "--vault", "storvault").stdout)["value"]
    unwraps = [e for e in entries if e["operation"] == "unwrapKey" and e["callerObjectId"] == cluster["identity"]["principalId"]]
    assert unwraps, entries


def test_disabled_key_revokes_within_one_interval_and_reenabling_restores(cmk_server):
    kc, key, cluster = setup_cmk_cluster(cmk_server)
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Revoked", "Revoked"]
    kc.update_key_properties("cmk1", key.properties.version, enabled=True)
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Healthy", "Healthy"]


def test_removed_access_revokes_and_restored_access_recovers(cmk_server):
    from azure.mgmt.keyvault.models import VaultAccessPolicyParameters, VaultAccessPolicyProperties
    from test_keyvault import mgmt_client, policy
    kc, key, cluster = setup_cmk_cluster(cmk_server)
    pid = cluster["identity"]["principalId"]
    mgmt_client(cmk_server).vaults.update_access_policy(
        cmk_server.resourceGroup, "storvault", "remove",
        VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[policy(cmk_server, pid, [])])))
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Revoked", "Revoked"]
    grant_policy(cmk_server, "storvault", pid)
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Healthy", "Healthy"]


def test_rotation_rewraps_under_the_new_version(cmk_server):
    kc, key, cluster = setup_cmk_cluster(cmk_server)
    new = kc.rotate_key("cmk1")
    cli(cmk_server, "clock", "advance", "10s")
    accounts = storage_of(cmk_server, cluster["id"])
    assert all(a["kid"].endswith("/" + new.properties.version) for a in accounts), accounts
    # The old version can go now: the AEKs are wrapped by the new one.
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Healthy", "Healthy"]


def test_identity_none_revokes_until_an_admin_restores_it(cmk_server):
    kc, key, cluster = setup_cmk_cluster(cmk_server)
    r = patch_cluster(cmk_server, "storcluster", {"identity": {"type": "None"}})
    assert r.status_code == 200, r.text
    wait_async(cmk_server, r)
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Revoked", "Revoked"]
    cli(cmk_server, "cluster", "restore-identity", "--cluster", cluster["id"])
    # The restore gives the identity back to the cluster resource; its accounts follow at the
    # next update of the cluster.
    r = patch_cluster(cmk_server, "storcluster", {"tags": {"restored": "yes"}})
    assert r.status_code == 200, r.text
    wait_async(cmk_server, r)
    cli(cmk_server, "clock", "advance", "10s")
    assert states(cmk_server, cluster["id"]) == ["Healthy", "Healthy"]


def test_accounts_survive_a_restart(server_factory):
    s = server_factory(extra_args=["--simulated-clock", "--key-check-interval", "10"])
    kc, key, cluster = setup_cmk_cluster(s)
    before = storage_of(s, cluster["id"])
    s.stop()
    s.start()
    after = storage_of(s, cluster["id"])
    # Same accounts, same wrapping key version (the kid's port is the one of the run that wrapped).
    version = lambda kid: kid.rsplit("/", 1)[1]
    assert [(a["account"], version(a["kid"]), a["keyState"]) for a in after] == \
        [(a["account"], version(a["kid"]), "Healthy") for a in before]


def test_metrics_expose_each_accounts_key_state(cmk_server):
    kc, key, cluster = setup_cmk_cluster(cmk_server)
    def metrics():
        r = http(cmk_server, "GET", "management", "/metrics", token=admin_token(cmk_server))
        assert r.status_code == 200, r.text
        return r.text
    text = metrics()
    line = f'cmklogs_storage_account_key_state{{cluster="{cluster["id"]}",account="acct1",state="Healthy"}} 1'
    assert line in text, text[-2000:]
    assert f'cmklogs_storage_account_seconds_since_unwrap{{cluster="{cluster["id"]}",account="acct2"}}' in text
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(cmk_server, "clock", "advance", "10s")
    text = metrics()
    assert f'cmklogs_storage_account_key_state{{cluster="{cluster["id"]}",account="acct1",state="Revoked"}} 1' in text
    assert line.replace("} 1", "} 0") in text
