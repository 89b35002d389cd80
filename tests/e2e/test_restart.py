"""Restarting the server on the same data directory keeps its identity, CA and signing keys."""

import hashlib

from conftest import (
    SUBSCRIPTIONS_API, admin_token, cli, http, new_principal, sdk_credential, tls_socket,
    token_for,
)

IDENTITY_KEYS = ("tenantId", "subscriptionId", "resourceGroup", "clientId", "clientSecret", "caCertPath",
                 "domain")


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _subs(server, token):
    return http(server, "GET", "management", f"/subscriptions?api-version={SUBSCRIPTIONS_API}", token=token)


def test_restart_same_port_keeps_config_ca_and_tokens(server_factory):
    s = server_factory()
    before = dict(s.cfg)
    ca_before = _sha256(s.caCertPath)
    raw_token = admin_token(s)
    cred = sdk_credential(s)
    sdk_token = cred.get_token(s.armScope).token
    assert _subs(s, raw_token).status_code == 200

    s.stop_and_check()
    s.start(port=before["port"])

    after = s.cfg
    changed = {k: (before.get(k), after.get(k)) for k in IDENTITY_KEYS + ("port",) if before.get(k) != after.get(k)}
    assert not changed, f"client-config.json changed across restart: {changed}"
    assert _sha256(s.caCertPath) == ca_before, "CA certificate changed across restart"
    with tls_socket(s, "management.localhost"):
        pass

    # Tokens issued before the restart still validate (real clock, same signing key).
    for what, tok in (("raw", raw_token), ("sdk", sdk_token)):
        r = _subs(s, tok)
        assert r.status_code == 200, f"{what} token from before the restart: {r.status_code} {r.text}"
    # And new ones are issued.
    assert _subs(s, admin_token(s)).status_code == 200


def test_restart_new_port_keeps_identity_and_ca(server_factory):
    s = server_factory()
    before = dict(s.cfg)
    ca_before = _sha256(s.caCertPath)
    s.stop_and_check()
    s.start(port=0)
    after = s.cfg
    changed = {k: (before.get(k), after.get(k)) for k in IDENTITY_KEYS if before.get(k) != after.get(k)}
    assert not changed, f"client-config.json changed across restart: {changed}"
    assert _sha256(s.caCertPath) == ca_before, "CA certificate changed across restart"
    p = after["port"]
    assert after["armEndpoint"] == f"https://management.localhost:{p}", after
    assert after["authorityHost"] == f"https://login.localhost:{p}", after
    # The old CA verifies the (possibly re-issued) server certificate, and the admin still works.
    for name in ("login.localhost", "management.localhost", "myvault.vault.localhost"):
        with tls_socket(s, name):
            pass
    assert _subs(s, admin_token(s)).status_code == 200


def test_restart_keeps_principals_and_role_assignments(server_factory):
    """Beyond the minimum: principals and role assignments made through the CLI are stored in the
    data dir, not only in memory."""
    s = server_factory()
    sp = new_principal(s, "survivor")
    cli(s, "role", "assign", "--principal", sp["objectId"], "--role", "Reader",
        "--scope", f"/subscriptions/{s.subscriptionId}")
    assert _subs(s, token_for(s, sp["clientId"], sp["clientSecret"])).status_code == 200
    port = s.port
    s.stop_and_check()
    s.start(port=port)
    r = _subs(s, token_for(s, sp["clientId"], sp["clientSecret"]))
    assert r.status_code == 200, f"principal/role after restart: {r.status_code} {r.text}"
