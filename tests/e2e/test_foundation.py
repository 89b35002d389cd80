"""Foundation acceptance (issue 2): embedded defaults, token service, ARM basics, RBAC, admin CLI,
simulated clock, TLS names, request ids, observability, az login."""

import datetime
import json
import os
import shutil
import socket
import stat
import subprocess
import time
from urllib.parse import quote

import jwt
import pytest

from conftest import (
    ARM_API, AUTHZ_API, OWNER_ROLE_ID, READER_ROLE_ID, SUBSCRIPTIONS_API, CONFIG_KEYS,
    admin_token, arm_error, cli, cli_json, http, new_principal, parse_rfc3339, read_http_response,
    sdk_credential, tls_socket, token_for, token_request,
)

# Built-in roles with Azure's own role definition ids (issue 2, "What to build" 6).
BUILTIN_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Log Analytics Contributor": "92aaf0da-9dab-42b6-94a3-d43ce8d16293",
    "Log Analytics Reader": "73c42c96-874c-492b-b04d-ab87d138a893",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# Fixed GUIDs (each test runs on a fresh data dir, so no randomness is needed).
RA_NAME_1 = "3f2a9a1e-5a43-4c9b-9a55-0d5b2d7c1a01"
RA_NAME_2 = "3f2a9a1e-5a43-4c9b-9a55-0d5b2d7c1a02"
UNKNOWN_TENANT = "00000000-1111-2222-3333-444444444444"
UNKNOWN_CLIENT = "99999999-8888-7777-6666-555555555555"


def subs_path():
    return f"/subscriptions?api-version={SUBSCRIPTIONS_API}"


def rg_path(server, rg, segment="resourcegroups"):
    return f"/subscriptions/{server.subscriptionId}/{segment}/{rg}?api-version={ARM_API}"


def role_def_id(server, guid):
    return f"/subscriptions/{server.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def ra_path(server, name, scope=None):
    scope = scope or f"/subscriptions/{server.subscriptionId}"
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version={AUTHZ_API}"


def assert_lists_default_subscription(server, resp):
    assert resp.status_code == 200, f"{resp.status_code} {resp.text}"
    subs = resp.json()["value"]
    mine = [s for s in subs if s.get("subscriptionId") == server.subscriptionId]
    assert len(mine) == 1, f"default subscription not listed exactly once: {subs}"
    s = mine[0]
    assert s["id"] == f"/subscriptions/{server.subscriptionId}", s
    assert s["tenantId"] == server.tenantId, s
    assert isinstance(s.get("displayName"), str) and s["displayName"], s
    assert s["state"] == "Enabled", s


def assert_authorization_failed(resp, object_id, action, scope):
    assert resp.status_code == 403, f"expected 403, got {resp.status_code} {resp.text}"
    err = arm_error(resp)
    assert err["code"] == "AuthorizationFailed", err
    msg = err["message"].lower()
    assert object_id.lower() in msg, f"message does not name object id {object_id}: {err['message']}"
    assert action.lower() in msg, f"message does not name action {action}: {err['message']}"
    assert scope.lower() in msg, f"message does not name scope {scope}: {err['message']}"


# ----------------------------------------------------------------------------------------------
# Embedded defaults


def test_client_config_file_contents_and_mode(server):
    path = server.config_path
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, f"client-config.json mode is {oct(mode)}, expected 0o600"
    cfg = server.cfg
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    assert not missing, f"client-config.json lacks {missing}: {sorted(cfg)}"
    port = int(cfg["port"])
    assert 0 < port < 65536
    assert cfg["domain"] == "localhost"
    assert cfg["authorityHost"] == f"https://login.localhost:{port}"
    assert cfg["adfsAuthority"] == f"https://login.localhost:{port}/adfs"
    assert cfg["armEndpoint"] == f"https://management.localhost:{port}"
    assert cfg["armScope"] == "https://management.localhost/.default"
    assert cfg["vaultSuffix"] == ".vault.localhost"
    assert cfg["queryEndpoint"] == f"https://api.loganalytics.localhost:{port}"
    assert cfg["ingestionSuffix"] == ".ingest.localhost"
    for k in ("tenantId", "subscriptionId", "resourceGroup", "clientId", "clientSecret",
              "queryScope", "ingestionScope"):
        assert isinstance(cfg[k], str) and cfg[k], f"{k} empty: {cfg[k]!r}"
    assert os.path.isabs(cfg["caCertPath"]), cfg["caCertPath"]
    with open(cfg["caCertPath"], "rb") as f:
        assert b"-----BEGIN CERTIFICATE-----" in f.read()


# ----------------------------------------------------------------------------------------------
# Token service


def test_sdk_client_secret_credential_gets_token(server):
    cred = sdk_credential(server)
    tok = cred.get_token(server.armScope)
    assert tok.token and isinstance(tok.token, str)
    assert tok.expires_on > time.time() + 60, tok.expires_on
    # The token works on ARM.
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=tok.token))


def test_sdk_wrong_secret_raises_aadsts7000215(server):
    from azure.core.exceptions import ClientAuthenticationError
    cred = sdk_credential(server, secret="definitely-not-the-secret")
    with pytest.raises(ClientAuthenticationError) as ei:
        cred.get_token(server.armScope)
    assert "AADSTS7000215" in str(ei.value), str(ei.value)


def test_openid_configuration_tenant_and_adfs(server):
    for url in (f"{server.authorityHost}/{server.tenantId}/v2.0/.well-known/openid-configuration",
                f"{server.adfsAuthority}/.well-known/openid-configuration"):
        r = http(server, "GET", url, headers={"Accept": "*/*"})
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
        doc = r.json()
        for k in ("authorization_endpoint", "token_endpoint", "issuer", "jwks_uri"):
            assert isinstance(doc.get(k), str) and doc[k], f"{url} lacks {k}: {doc}"
        assert doc["token_endpoint"].startswith("https://"), doc
        jwks = http(server, "GET", doc["jwks_uri"])
        assert jwks.status_code == 200, f"{doc['jwks_uri']}: {jwks.status_code} {jwks.text}"
        keys = jwks.json()["keys"]
        assert keys and all(k.get("kty") == "RSA" and k.get("kid") and k.get("n") and k.get("e")
                            for k in keys), keys


def test_token_is_rs256_jwt_verifiable_with_jwks(server):
    oidc = http(server, "GET", f"{server.authorityHost}/{server.tenantId}/v2.0/.well-known/openid-configuration").json()
    keys = http(server, "GET", oidc["jwks_uri"]).json()["keys"]
    sp = new_principal(server, "jwt-check")
    tok = token_for(server, sp["clientId"], sp["clientSecret"])
    header = jwt.get_unverified_header(tok)
    assert header.get("alg") == "RS256", header
    match = [k for k in keys if k.get("kid") == header.get("kid")]
    assert match, f"token kid {header.get('kid')} not in JWKS {[k.get('kid') for k in keys]}"
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(match[0]))
    claims = jwt.decode(tok, key=key, algorithms=["RS256"], options={"verify_aud": False})
    for c in ("iss", "aud", "tid", "oid", "appid", "iat", "nbf", "exp"):
        assert c in claims, f"claim {c} missing: {claims}"
    assert claims["tid"] == server.tenantId
    assert claims["appid"] == sp["clientId"]
    assert claims["oid"] == sp["objectId"]
    assert server.tenantId in claims["iss"], claims["iss"]
    assert claims["aud"].rstrip("/") == "https://management.localhost", claims["aud"]
    now = time.time()
    assert abs(claims["iat"] - now) < 300, (claims["iat"], now)
    assert claims["nbf"] <= now + 300 and claims["exp"] > now + 60, claims


def test_token_tampered_signature_is_rejected(server):
    tok = admin_token(server)
    head, payload, sig = tok.split(".")
    bad_sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (f"{head}.{payload}.{bad_sig}", "not-a-jwt", tok + "x"):
        r = http(server, "GET", "management", subs_path(), token=bad)
        assert r.status_code == 401, f"{bad[:20]}...: {r.status_code} {r.text}"
        arm_error(r)


def test_token_wrong_secret_is_401_aadsts7000215(server):
    r = token_request(server, server.clientId, "wrong-secret")
    assert r.status_code == 401, f"{r.status_code} {r.text}"
    body = r.json()
    assert body.get("error") == "invalid_client", body
    assert body.get("error_description", "").startswith("AADSTS7000215"), body
    assert 7000215 in body.get("error_codes", []), body


def test_token_unknown_client_is_aadsts700016(server):
    r = token_request(server, UNKNOWN_CLIENT, "whatever")
    assert r.status_code in (400, 401), f"{r.status_code} {r.text}"
    body = r.json()
    assert "AADSTS700016" in body.get("error_description", ""), body
    assert 700016 in body.get("error_codes", []), body


def test_token_unknown_tenant_is_400_aadsts90002(server):
    r = token_request(server, server.clientId, server.clientSecret, tenant=UNKNOWN_TENANT)
    assert r.status_code == 400, f"{r.status_code} {r.text}"
    body = r.json()
    assert "AADSTS90002" in body.get("error_description", ""), body
    assert 90002 in body.get("error_codes", []), body


def test_token_endpoint_tolerates_msal_extras_and_double_slash_scope(server):
    extra = {
        "client_info": "1",
        "claims": json.dumps({"access_token": {"xms_cc": {"values": ["CP1"]}}}),
        "x-client-SKU": "msal.js.node", "x-client-VER": "5.6.0", "x-client-OS": "linux",
        "x-client-CPU": "x64", "x-ms-lib-capability": "retry-after, h429",
        "x-client-current-telemetry": "5|771,2,,,|,", "client-request-id": "0b1c3a4e-0000-4000-8000-000000000001",
    }
    url = f"{server.authorityHost}/{server.tenantId}/oauth2/v2.0/token?client-request-id=0b1c3a4e-0000-4000-8000-000000000001"
    # ARM with the double slash az uses, and the ingestion audience Python hard-codes.
    for scope in ("https://management.localhost//.default", "https://monitor.azure.com//.default"):
        r = token_request(server, server.clientId, server.clientSecret, scope=scope, extra=extra, url=url)
        assert r.status_code == 200, f"scope {scope}: {r.status_code} {r.text}"
        body = r.json()
        assert body["token_type"].lower() == "bearer" and body["access_token"] and int(body["expires_in"]) > 0, body
    tok = token_request(server, server.clientId, server.clientSecret,
                        scope="https://management.localhost//.default", extra=extra, url=url).json()["access_token"]
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=tok))


def test_adfs_token_endpoint_issues_arm_tokens(server):
    doc = http(server, "GET", f"{server.adfsAuthority}/.well-known/openid-configuration").json()
    r = token_request(server, server.clientId, server.clientSecret,
                      scope="https://management.localhost//.default", url=doc["token_endpoint"],
                      extra={"client_info": "1"})
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    tok = r.json()["access_token"]
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=tok))


# ----------------------------------------------------------------------------------------------
# ARM + RBAC


def test_sdk_subscription_client_lists_default_subscription(server):
    from azure.mgmt.resource import SubscriptionClient
    cred = sdk_credential(server)
    client = SubscriptionClient(cred, base_url=server.armEndpoint, credential_scopes=[server.armScope],
                                connection_verify=server.caCertPath)
    subs = list(client.subscriptions.list())
    mine = [s for s in subs if s.subscription_id == server.subscriptionId]
    assert len(mine) == 1, [s.as_dict() for s in subs]
    assert mine[0].tenant_id == server.tenantId
    assert str(mine[0].state).lower().endswith("enabled"), mine[0].state


def test_list_subscriptions_with_admin_token(server):
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(),
                                                   token=admin_token(server)))
    r = http(server, "GET", "management", f"/subscriptions/{server.subscriptionId}?api-version=2020-01-01",
             token=admin_token(server))
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["subscriptionId"] == server.subscriptionId


def test_arm_without_token_is_401(server):
    r = http(server, "GET", "management", subs_path())
    assert r.status_code == 401, f"{r.status_code} {r.text}"
    arm_error(r)


def test_principal_without_role_gets_403_authorization_failed(server):
    sp = new_principal(server, "norole")
    tok = token_for(server, sp["clientId"], sp["clientSecret"])
    r = http(server, "GET", "management", subs_path(), token=tok)
    assert_authorization_failed(r, sp["objectId"], "Microsoft.Resources/subscriptions/read", "/subscriptions")


def test_reader_can_read_but_not_write(server):
    sp = new_principal(server, "reader1")
    tok = token_for(server, sp["clientId"], sp["clientSecret"])
    sub_scope = f"/subscriptions/{server.subscriptionId}"
    r = http(server, "GET", "management", subs_path(), token=tok)
    assert r.status_code == 403, f"before role assignment: {r.status_code} {r.text}"

    cli(server, "role", "assign", "--principal", sp["objectId"], "--role", "Reader", "--scope", sub_scope)

    # Same token (roles are checked per request, not baked into the token).
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=tok))
    r = http(server, "GET", "management", f"{sub_scope}?api-version=2020-01-01", token=tok)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    r = http(server, "GET", "management", rg_path(server, server.resourceGroup), token=tok)
    assert r.status_code == 200, f"reader GET default resource group: {r.status_code} {r.text}"

    r = http(server, "PUT", "management", rg_path(server, "rgX"), token=tok, body={"location": "eastus"})
    assert_authorization_failed(r, sp["objectId"], "Microsoft.Resources/subscriptions/resourceGroups/write",
                                f"{sub_scope}/resourcegroups/rgX")
    # The denied PUT created nothing.
    r = http(server, "GET", "management", rg_path(server, "rgX"), token=admin_token(server))
    assert r.status_code == 404, f"{r.status_code} {r.text}"


def test_role_assign_cli_accepts_client_id(server):
    sp = new_principal(server, "reader-by-appid")
    tok = token_for(server, sp["clientId"], sp["clientSecret"])
    cli(server, "role", "assign", "--principal", sp["clientId"], "--role", "Reader",
        "--scope", f"/subscriptions/{server.subscriptionId}")
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=tok))


def test_resource_group_crud_and_path_casing(server):
    tok = admin_token(server)
    r = http(server, "PUT", "management", rg_path(server, "rg-e2e"), token=tok, body={"location": "eastus"})
    assert r.status_code == 201, f"first PUT: {r.status_code} {r.text}"
    rg = r.json()
    assert rg["name"] == "rg-e2e" and rg["location"] == "eastus", rg
    assert rg["id"].lower() == f"/subscriptions/{server.subscriptionId}/resourcegroups/rg-e2e".lower(), rg
    r = http(server, "PUT", "management", rg_path(server, "rg-e2e", "resourceGroups"), token=tok,
             body={"location": "eastus"})
    assert r.status_code == 200, f"second PUT: {r.status_code} {r.text}"
    for seg in ("resourcegroups", "resourceGroups"):
        r = http(server, "GET", "management", rg_path(server, "rg-e2e", seg), token=tok)
        assert r.status_code == 200, f"GET .../{seg}/rg-e2e: {r.status_code} {r.text}"
        assert r.json()["name"] == "rg-e2e"
    r = http(server, "GET", "management",
             f"/subscriptions/{server.subscriptionId}/resourcegroups?api-version={ARM_API}", token=tok)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    names = {g["name"] for g in r.json()["value"]}
    assert {"rg-e2e", server.resourceGroup} <= names, names

    r = http(server, "DELETE", "management", rg_path(server, "rg-e2e", "resourceGroups"), token=tok)
    assert r.status_code in (200, 202), f"DELETE: {r.status_code} {r.text}"
    deadline = time.monotonic() + 20
    while True:
        r = http(server, "GET", "management", rg_path(server, "rg-e2e"), token=tok)
        if r.status_code == 404 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 404, f"after DELETE: {r.status_code} {r.text}"
    arm_error(r)


def test_role_definitions_filter_by_name(server):
    tok = admin_token(server)
    path = (f"/subscriptions/{server.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions"
            f"?api-version={AUTHZ_API}&$filter=roleName%20eq%20'Reader'")
    r = http(server, "GET", "management", path, token=tok)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    defs = r.json()["value"]
    assert len(defs) == 1, defs
    d = defs[0]
    assert d["name"] == READER_ROLE_ID, d
    assert d["id"].lower().endswith(f"/providers/microsoft.authorization/roledefinitions/{READER_ROLE_ID}"), d
    assert d["properties"]["roleName"] == "Reader", d
    # GET by id too.
    r = http(server, "GET", "management",
             f"/subscriptions/{server.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/{READER_ROLE_ID}?api-version={AUTHZ_API}",
             token=tok)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["properties"]["roleName"] == "Reader"


def test_builtin_role_definitions_use_azure_ids(server):
    r = http(server, "GET", "management",
             f"/subscriptions/{server.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions?api-version={AUTHZ_API}",
             token=admin_token(server))
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    by_name = {d["properties"]["roleName"]: d["name"] for d in r.json()["value"]}
    wrong = {n: (by_name.get(n), guid) for n, guid in BUILTIN_ROLES.items() if by_name.get(n) != guid}
    assert not wrong, f"role name -> (served id, Azure id): {wrong}"


def test_role_assignments_put_get_list_conflict_delete(server):
    tok = admin_token(server)
    sp = new_principal(server, "ra-target")
    sp_tok = token_for(server, sp["clientId"], sp["clientSecret"])
    body = {"properties": {"roleDefinitionId": role_def_id(server, READER_ROLE_ID), "principalId": sp["objectId"]}}

    r = http(server, "PUT", "management", ra_path(server, RA_NAME_1), token=tok, body=body)
    assert r.status_code == 201, f"PUT: {r.status_code} {r.text}"
    ra = r.json()
    assert ra["name"] == RA_NAME_1, ra
    assert ra["id"].lower().endswith(f"/providers/microsoft.authorization/roleassignments/{RA_NAME_1}"), ra
    assert ra["properties"]["principalId"] == sp["objectId"], ra
    assert ra["properties"]["roleDefinitionId"].lower().endswith(READER_ROLE_ID), ra
    assert ra["properties"]["scope"] == f"/subscriptions/{server.subscriptionId}", ra

    # It takes effect.
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=sp_tok))

    r = http(server, "PUT", "management", ra_path(server, RA_NAME_2), token=tok, body=body)
    assert r.status_code == 409, f"duplicate: {r.status_code} {r.text}"
    assert arm_error(r)["code"] == "RoleAssignmentExists"

    r = http(server, "GET", "management", ra_path(server, RA_NAME_1), token=tok)
    assert r.status_code == 200, f"GET: {r.status_code} {r.text}"
    assert r.json()["properties"]["principalId"] == sp["objectId"]

    r = http(server, "GET", "management",
             f"/subscriptions/{server.subscriptionId}/providers/Microsoft.Authorization/roleAssignments?api-version={AUTHZ_API}",
             token=tok)
    assert r.status_code == 200, f"list: {r.status_code} {r.text}"
    listed = {a["name"]: a for a in r.json()["value"]}
    assert RA_NAME_1 in listed, sorted(listed)
    # The admin's own Owner assignment is listed as well.
    assert any(a["properties"]["roleDefinitionId"].lower().endswith(OWNER_ROLE_ID) for a in listed.values()), listed

    r = http(server, "DELETE", "management", ra_path(server, RA_NAME_1), token=tok)
    assert r.status_code in (200, 204), f"DELETE: {r.status_code} {r.text}"
    r = http(server, "GET", "management", ra_path(server, RA_NAME_1), token=tok)
    assert r.status_code == 404, f"GET after DELETE: {r.status_code} {r.text}"
    r = http(server, "GET", "management", subs_path(), token=sp_tok)
    assert r.status_code == 403, f"access after the assignment was deleted: {r.status_code} {r.text}"


def test_role_assignment_write_needs_permission(server):
    """A Reader cannot grant roles (needs Microsoft.Authorization/roleAssignments/write)."""
    sp = new_principal(server, "reader-escalate")
    cli(server, "role", "assign", "--principal", sp["objectId"], "--role", "Reader",
        "--scope", f"/subscriptions/{server.subscriptionId}")
    tok = token_for(server, sp["clientId"], sp["clientSecret"])
    body = {"properties": {"roleDefinitionId": role_def_id(server, OWNER_ROLE_ID), "principalId": sp["objectId"]}}
    r = http(server, "PUT", "management", ra_path(server, RA_NAME_1), token=tok, body=body)
    assert_authorization_failed(r, sp["objectId"], "Microsoft.Authorization/roleAssignments/write",
                                f"/subscriptions/{server.subscriptionId}")


# ----------------------------------------------------------------------------------------------
# Admin CLI and simulated clock


def test_cli_token_prints_admin_token(server):
    p = cli(server, "token", "--scope", server.armScope)
    tok = p.stdout.strip()
    assert tok and " " not in tok and "\n" not in tok, repr(p.stdout)
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(), token=tok))


def test_cli_clock_advance_units(sim_server):
    nows = []
    for arg, secs in (("90s", 90), ("30m", 1800), ("2h", 7200), ("14d", 14 * 86400)):
        out = cli_json(sim_server, "clock", "advance", arg)
        nows.append((arg, secs, parse_rfc3339(out["now"])))
    for (_, _, a), (arg, secs, b) in zip(nows, nows[1:]):
        delta = (b - a).total_seconds()
        assert secs <= delta <= secs + 10, f"advance {arg}: clock moved {delta} s"


def test_admin_clock_endpoint(sim_server):
    s = sim_server
    url = "/cmklogs/admin/clock/advance"
    tok = admin_token(s)
    r1 = http(s, "POST", "management", url, token=tok, body={"seconds": 3600})
    assert r1.status_code == 200, f"{r1.status_code} {r1.text}"
    r2 = http(s, "POST", "management", url, token=admin_token(s), body={"seconds": 3600})
    assert r2.status_code == 200, f"{r2.status_code} {r2.text}"
    delta = (parse_rfc3339(r2.json()["now"]) - parse_rfc3339(r1.json()["now"])).total_seconds()
    assert 3600 <= delta <= 3610, delta

    r = http(s, "POST", "management", url, body={"seconds": 60})
    assert r.status_code == 401, f"no token: {r.status_code} {r.text}"

    sp = new_principal(s, "not-owner")
    cli(s, "role", "assign", "--principal", sp["objectId"], "--role", "Reader",
        "--scope", f"/subscriptions/{s.subscriptionId}")
    r = http(s, "POST", "management", url, token=token_for(s, sp["clientId"], sp["clientSecret"]),
             body={"seconds": 60})
    assert r.status_code == 403, f"non-Owner: {r.status_code} {r.text}"


def test_token_issued_before_clock_advance_stays_valid_cli(sim_server):
    """Tokens live on real time (issue 12): the client's clock, which judges them too, did not jump."""
    s = sim_server
    old = admin_token(s)
    assert_lists_default_subscription(s, http(s, "GET", "management", subs_path(), token=old))
    cli_json(s, "clock", "advance", "2h")
    assert_lists_default_subscription(s, http(s, "GET", "management", subs_path(), token=old))
    # A token issued after the advance is valid at once.
    assert_lists_default_subscription(s, http(s, "GET", "management", subs_path(), token=admin_token(s)))


def test_token_issued_before_clock_advance_stays_valid_rest(sim_server):
    s = sim_server
    sp = new_principal(s, "not-expiring")
    cli(s, "role", "assign", "--principal", sp["objectId"], "--role", "Reader",
        "--scope", f"/subscriptions/{s.subscriptionId}")
    old = token_for(s, sp["clientId"], sp["clientSecret"])
    assert_lists_default_subscription(s, http(s, "GET", "management", subs_path(), token=old))
    r = http(s, "POST", "management", "/cmklogs/admin/clock/advance", token=admin_token(s),
             body={"seconds": 31 * 86400})
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["offsetSeconds"] == 31 * 86400, r.text
    assert_lists_default_subscription(s, http(s, "GET", "management", subs_path(), token=old))
    fresh = token_for(s, sp["clientId"], sp["clientSecret"])
    assert_lists_default_subscription(s, http(s, "GET", "management", subs_path(), token=fresh))


# ----------------------------------------------------------------------------------------------
# TLS, HTTP basics, observability

TLS_NAMES = ["login.localhost", "management.localhost", "myvault.vault.localhost",
             "myhsm.managedhsm.localhost", "api.loganalytics.localhost", "mydce.ingest.localhost",
             "localhost", "127.0.0.1"]


@pytest.mark.parametrize("name", TLS_NAMES)
def test_ca_verifies_server_certificate_for(server, name):
    with tls_socket(server, server_hostname=name) as s:  # raises SSLCertVerificationError on mismatch
        assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()


@pytest.mark.parametrize("addr", ["127.0.0.1", "::1"])
def test_listens_on_ipv4_and_ipv6(server, addr):
    with tls_socket(server, server_hostname="localhost", addr=addr) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, _, _ = read_http_response(s)
        assert status == 200


def test_every_response_has_request_id(server):
    tok = admin_token(server)
    responses = {
        "healthz": http(server, "GET", "localhost", "/healthz"),
        "openid": http(server, "GET", f"{server.authorityHost}/{server.tenantId}/v2.0/.well-known/openid-configuration"),
        "token ok": token_request(server, server.clientId, server.clientSecret),
        "token 401": token_request(server, server.clientId, "wrong"),
        "arm 200": http(server, "GET", "management", subs_path(), token=tok),
        "arm 401": http(server, "GET", "management", subs_path()),
        "arm 404": http(server, "GET", "management", rg_path(server, "does-not-exist"), token=tok),
        "unknown path": http(server, "GET", "management", "/no/such/thing?api-version=2020-01-01", token=tok),
    }
    ids = {}
    for what, r in responses.items():
        rid = r.headers.get("x-ms-request-id")
        assert rid, f"{what} ({r.status_code}) has no x-ms-request-id: {dict(r.headers)}"
        ids[what] = rid
    assert len(set(ids.values())) == len(ids), f"request ids are not unique: {ids}"


def test_query_parameter_names_are_percent_decoded(server):
    tok = admin_token(server)
    for path in ("/subscriptions?api%2Dversion=2019-11-01",
                 "/subscriptions?api%2dversion=2019%2D11%2D01",
                 "/subscriptions?%61pi-version=2019-11-01"):
        assert_lists_default_subscription(server, http(server, "GET", "management", path, token=tok))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_healthz_without_auth(server, host):
    r = http(server, "GET", host, "/healthz")
    assert r.status_code == 200, f"{r.status_code} {r.text}"


@pytest.mark.parametrize("host", ["localhost", "management"])
def test_metrics_with_admin_token(server, host):
    tok = admin_token(server)
    http(server, "GET", "management", subs_path(), token=tok)  # at least one counted request
    r = http(server, "GET", host, "/metrics", token=tok)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert "cmklogs_http_requests_total" in r.text, r.text[:2000]
    samples = [l for l in r.text.splitlines() if l.startswith("cmklogs_http_requests_total")]
    assert samples, r.text[:2000]
    for line in samples:
        float(line.rsplit(" ", 1)[1])  # Prometheus sample: "<name>{labels} <value>"


# ----------------------------------------------------------------------------------------------
# Azure CLI (clients.md §7)


@pytest.mark.skipif(shutil.which("az") is None, reason="azure-cli is not installed")
def test_az_login_service_principal_and_account_show(server, tmp_path):
    env = dict(os.environ)
    env.update(AZURE_CONFIG_DIR=str(tmp_path / "azcfg"), REQUESTS_CA_BUNDLE=server.caCertPath,
               AZURE_CORE_COLLECT_TELEMETRY="no", AZURE_CORE_NO_COLOR="true")
    os.makedirs(env["AZURE_CONFIG_DIR"])
    resource_id = server.armScope[: -len(".default")]  # "https://management.localhost/"

    def az(*args):
        p = subprocess.run(["az", *args], env=env, capture_output=True, text=True, timeout=50,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, f"az {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    az("cloud", "register", "-n", "CmkLogsE2E",
       "--endpoint-resource-manager", server.armEndpoint + "/",
       "--endpoint-active-directory", server.adfsAuthority,
       "--endpoint-active-directory-resource-id", resource_id,
       "--endpoint-active-directory-graph-resource-id", "https://graph.localhost/",
       "--endpoint-management", resource_id,
       "--suffix-keyvault-dns", server.vaultSuffix)
    az("cloud", "set", "-n", "CmkLogsE2E")
    az("login", "--service-principal", "-u", server.clientId, "--password=" + server.clientSecret,
       "--tenant", server.tenantId, "-o", "none")
    acct = json.loads(az("account", "show", "-o", "json"))
    assert acct["id"] == server.subscriptionId, acct
    assert acct["tenantId"] == server.tenantId, acct
    at = json.loads(az("account", "get-access-token", "-o", "json"))
    assert_lists_default_subscription(server, http(server, "GET", "management", subs_path(),
                                                   token=at["accessToken"]))
