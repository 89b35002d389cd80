"""Key Vault acceptance (issue 3): Microsoft.KeyVault/vaults and managedHSMs through ARM, the keys
data plane through the stock Python SDK (Debian python3-azure: azure-mgmt-keyvault 10.1.0 which
sends api-version 2022-07-01, azure-keyvault-keys 4.8.0b3 which sends 7.4-preview.1), challenge
authentication, authorization by access policies and RBAC, rotation on the simulated clock, and
the rule that private key material never appears in clear under the data directory.

Every client is configured only from client-config.json (the `server` fixture's attributes). Nothing
here skips: an endpoint the server does not implement yet makes its test fail.
"""

import base64
import datetime
import json
import os
import re
import ssl
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from conftest import (AUTHZ_API, admin_token, arm_error, cli, http, new_principal, read_http_response,
                      sdk_credential, tls_socket, token_for)

KV_MGMT_API = "2022-07-01"   # what azure-mgmt-keyvault 10.1.0 sends for vaults
HSM_API = "2023-07-01"
RG_API = "2021-04-01"
DATA_API = "7.4"
LOCATION = "eastus"

# Every key permission of an access policy (Permissions.keys of Microsoft.KeyVault 2022-07-01).
ALL_KEY_PERMISSIONS = [
    "get", "list", "create", "update", "import", "delete", "recover", "backup", "restore", "purge",
    "encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "rotate",
    "getrotationpolicy", "setrotationpolicy",
]
KV_ADMINISTRATOR_ROLE_ID = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
CRYPTO_SERVICE_ENCRYPTION_USER = "Key Vault Crypto Service Encryption User"

DAY = 86400
HEX32 = re.compile(r"^[0-9a-f]{32}$")
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(autouse=True)
def _fresh_challenge_cache():
    """The Python Key Vault clients cache challenges process-wide by netloc; ports get reused by
    later servers with other tenants, so start every test with an empty cache."""
    from azure.keyvault.keys._shared import http_challenge_cache
    http_challenge_cache.clear()
    yield
    http_challenge_cache.clear()


# ----------------------------------------------------------------------------------------------
# Helpers


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_bytes(i):
    return i.to_bytes((i.bit_length() + 7) // 8, "big")


def vault_url(server, name):
    return f"https://{name}{server.vaultSuffix}:{server.port}"


def hsm_suffix(server):
    return server.cfg.get("managedHsmSuffix") or f".managedhsm.{server.domain}"


def hsm_url(server, name):
    return f"https://{name}{hsm_suffix(server)}:{server.port}"


def vault_resource(server):
    """The challenge resource: a dot-suffix of every vault host, port included (clients.md §3.2)."""
    return f"https://vault.{server.domain}:{server.port}"


def vault_token(server, client_id=None, secret=None):
    scope = vault_resource(server) + "/.default"
    if client_id is None:
        return admin_token(server, scope=scope)
    return token_for(server, client_id, secret, scope=scope)


def data_token(server, base_url):
    """A token for whatever resource the data-plane host at base_url names in its challenge."""
    r = http(server, "GET", base_url, f"/keys?api-version={DATA_API}")
    assert r.status_code == 401, f"challenge from {base_url}: {r.status_code} {r.text}"
    ch = dict(re.findall(r'(\w+)="([^"]*)"', r.headers.get("WWW-Authenticate", "")))
    scope = ch.get("scope") or (ch.get("resource", "").rstrip("/") + "/.default")
    return admin_token(server, scope=scope)


def admin_object_id(server):
    r = http(server, "GET", "management", f"/cmklogs/admin/principals/{server.clientId}",
             token=admin_token(server))
    assert r.status_code == 200, f"admin principal lookup: {r.status_code} {r.text}"
    return r.json()["objectId"]


def vault_resource_id(server, name, rg=None, kind="vaults"):
    return (f"/subscriptions/{server.subscriptionId}/resourceGroups/{rg or server.resourceGroup}"
            f"/providers/Microsoft.KeyVault/{kind}/{name}")


def vault_arm_path(server, name, rg=None, kind="vaults", api=KV_MGMT_API):
    return f"{vault_resource_id(server, name, rg, kind)}?api-version={api}"


def mgmt_client(server, credential=None):
    from azure.mgmt.keyvault import KeyVaultManagementClient
    return KeyVaultManagementClient(
        credential or sdk_credential(server), server.subscriptionId,
        base_url=server.armEndpoint, credential_scopes=[server.armScope],
        connection_verify=server.caCertPath, polling_interval=1)


def policy(server, object_id, keys):
    from azure.mgmt.keyvault.models import AccessPolicyEntry, Permissions
    return AccessPolicyEntry(tenant_id=server.tenantId, object_id=object_id,
                             permissions=Permissions(keys=list(keys)))


def create_vault(server, name, *, rg=None, policies=None, purge_protection=True, retention=None,
                 rbac=False, sku="standard", client=None):
    """Creates a vault with the SDK (begin_create_or_update + result()); returns the Vault model.
    policies: list of AccessPolicyEntry; default: the admin with every key permission."""
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties
    if policies is None:
        policies = [] if rbac else [policy(server, admin_object_id(server), ALL_KEY_PERMISSIONS)]
    props = VaultProperties(
        tenant_id=server.tenantId, sku=Sku(family="A", name=sku), access_policies=policies,
        enable_soft_delete=True, soft_delete_retention_in_days=retention,
        enable_purge_protection=True if purge_protection else None,
        enable_rbac_authorization=rbac)
    client = client or mgmt_client(server)
    poller = client.vaults.begin_create_or_update(
        rg or server.resourceGroup, name, VaultCreateOrUpdateParameters(location=LOCATION, properties=props))
    return poller.result(timeout=30)


def key_client(server, url, credential=None, **kwargs):
    from azure.keyvault.keys import KeyClient
    return KeyClient(url, credential or sdk_credential(server), connection_verify=server.caCertPath, **kwargs)


def crypto_client(server, key_or_kid, credential=None):
    from azure.keyvault.keys.crypto import CryptographyClient
    return CryptographyClient(key_or_kid, credential or sdk_credential(server),
                              connection_verify=server.caCertPath)


def remote_only(crypto):
    """Makes a CryptographyClient send every operation to the service. Needed for oct-HSM keys:
    azure-keyvault-keys 4.8.0b3 builds a local SymmetricKey from a JWK without `k` by generating
    RANDOM key bytes, so stock wrap/unwrap of an oct-HSM key would round-trip locally without ever
    reaching the server."""
    from azure.keyvault.keys.crypto._providers import NoLocalCryptography
    crypto._local_provider = NoLocalCryptography()
    crypto._initialized = True
    return crypto


def sdk_error(exc):
    """The Key Vault / ARM error object of an azure-core HttpResponseError."""
    resp = exc.response
    assert resp is not None, f"no response on {exc!r}"
    try:
        body = json.loads(resp.text())
    except ValueError:
        raise AssertionError(f"{exc.status_code} body is not JSON: {resp.text()!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not an error shape: {body}"
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], body
    assert isinstance(err.get("message"), str) and err["message"], body
    return err


def enum_value(v):
    return getattr(v, "value", v)


def inner_code(err):
    inner = err.get("innererror") or {}
    return inner.get("code") if isinstance(inner, dict) else None


def kv_error(resp):
    """The Key Vault error object of a raw requests.Response."""
    return arm_error(resp)


def expect_status(status, fn, *args, **kwargs):
    """Calls fn; asserts it raises HttpResponseError with `status`; returns the error object."""
    with pytest.raises(HttpResponseError) as ei:
        fn(*args, **kwargs)
    assert ei.value.status_code == status, f"expected {status}, got {ei.value.status_code}: {ei.value}"
    return sdk_error(ei.value)


def wait_poller(poller, timeout=30):
    poller.wait(timeout=timeout)
    assert poller.done(), f"poller not done after {timeout} s"


def put_resource_group(server, rg):
    r = http(server, "PUT", "management",
             f"/subscriptions/{server.subscriptionId}/resourcegroups/{rg}?api-version={RG_API}",
             token=admin_token(server), body={"location": LOCATION})
    assert r.status_code in (200, 201), f"resource group {rg}: {r.status_code} {r.text}"


def put_role_assignment(server, name, principal_id, role_id, scope):
    body = {"properties": {
        "roleDefinitionId": f"/subscriptions/{server.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/{role_id}",
        "principalId": principal_id, "principalType": "ServicePrincipal"}}
    r = http(server, "PUT", "management",
             f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version={AUTHZ_API}",
             token=admin_token(server), body=body)
    assert r.status_code in (200, 201), f"role assignment: {r.status_code} {r.text}"
    return r.json()


class VaultEnv:
    """A vault with the admin holding every key permission, and clients for it."""

    def __init__(self, server, name="cmkvault", **kwargs):
        self.server = server
        self.name = name
        self.vault = create_vault(server, name, **kwargs)
        self.url = vault_url(server, name)
        self.cred = sdk_credential(server)
        self.keys = key_client(server, self.url, self.cred)

    def crypto(self, key_or_kid, credential=None):
        return crypto_client(self.server, key_or_kid, credential or self.cred)


def wrap_local(env, key, plaintext, alg=None):
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    alg = alg or KeyWrapAlgorithm.rsa_oaep_256
    return env.crypto(key).wrap_key(alg, plaintext).encrypted_key


def unwrap_remote(env, key, wrapped, alg=None, credential=None):
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    alg = alg or KeyWrapAlgorithm.rsa_oaep_256
    return env.crypto(key, credential).unwrap_key(alg, wrapped).key


def rsa_jwk_of(private_key):
    from azure.keyvault.keys import JsonWebKey
    nums = private_key.private_numbers()
    pub = nums.public_numbers
    return JsonWebKey(kty="RSA", n=int_bytes(pub.n), e=int_bytes(pub.e), d=int_bytes(nums.d),
                      p=int_bytes(nums.p), q=int_bytes(nums.q), dp=int_bytes(nums.dmp1),
                      dq=int_bytes(nums.dmq1), qi=int_bytes(nums.iqmp),
                      key_ops=["encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify"])


def files_to_scan(server):
    out = []
    for root, _dirs, files in os.walk(server.data_dir):
        for f in files:
            out.append(os.path.join(root, f))
    for p in (server.stderr_path, server.stdout_path):  # "nothing secret is logged"
        if p and os.path.exists(p):
            out.append(p)
    assert out, "nothing to scan"
    return out


def assert_no_needles(server, needles):
    """needles: {description: bytes}. Reads every file under the data dir (WAL and SHM files
    included) and the server's logs; fails naming the file and needle found."""
    found = []
    for path in files_to_scan(server):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, IsADirectoryError):
            continue  # a -wal/-journal file that went away meanwhile
        for what, needle in needles.items():
            if needle and needle in data:
                found.append(f"{what} in {path}")
    assert not found, "private key material in clear:\n  " + "\n  ".join(found)


def private_key_needles(private_key):
    from cryptography.hazmat.primitives import serialization
    nums = private_key.private_numbers()
    needles = {}
    for label, value in (("d", nums.d), ("p", nums.p), ("q", nums.q), ("dp", nums.dmp1),
                         ("dq", nums.dmq1), ("qi", nums.iqmp)):
        be = int_bytes(value)
        needles[f"{label} (big-endian)"] = be
        needles[f"{label} (little-endian)"] = be[::-1]
        needles[f"{label} (base64url)"] = b64url(be).encode()
        needles[f"{label} (base64)"] = base64.b64encode(be).rstrip(b"=")
        needles[f"{label} (hex)"] = be.hex().encode()
        needles[f"{label} (HEX)"] = be.hex().upper().encode()
    for fmt_name, fmt in (("PKCS#1", serialization.PrivateFormat.TraditionalOpenSSL),
                          ("PKCS#8", serialization.PrivateFormat.PKCS8)):
        der = private_key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        pem = private_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        needles[f"{fmt_name} DER"] = der
        for enc_name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = enc(der).rstrip(b"=")
            needles[f"{fmt_name} DER as {enc_name}"] = text
            needles[f"{fmt_name} DER as {enc_name} (middle 64 chars)"] = text[len(text) // 2:len(text) // 2 + 64]
        lines = pem.splitlines()
        needles[f"{fmt_name} PEM line"] = lines[len(lines) // 2]  # a full 64-char base64 line
        needles[f"{fmt_name} PEM"] = pem
    return needles


def der_int(value_bytes):
    """DER INTEGER of an unsigned big-endian value."""
    v = value_bytes.lstrip(b"\0") or b"\0"
    if v[0] & 0x80:
        v = b"\0" + v
    n = len(v)
    if n < 0x80:
        length = bytes([n])
    else:
        lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(lb)]) + lb
    return b"\x02" + length + v


def wait_arm_succeeded(server, path, timeout=40):
    """GETs an ARM resource until its provisioningState is terminal; returns the last body."""
    tok = admin_token(server)
    deadline = time.monotonic() + timeout
    while True:
        r = http(server, "GET", "management", path, token=tok)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
        body = r.json()
        state = (body.get("properties") or {}).get("provisioningState", "Succeeded")
        if state.lower() in ("succeeded", "failed", "canceled"):
            assert state.lower() == "succeeded", body
            return body
        assert time.monotonic() < deadline, f"still {state} after {timeout} s: {body}"
        time.sleep(0.5)


def create_managed_hsm(server, name):
    body = {"location": LOCATION, "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {"tenantId": server.tenantId,
                           "initialAdminObjectIds": [admin_object_id(server)]}}
    path = vault_arm_path(server, name, kind="managedHSMs", api=HSM_API)
    r = http(server, "PUT", "management", path, token=admin_token(server), body=body)
    assert r.status_code in (200, 201, 202), f"PUT managedHSM: {r.status_code} {r.text}"
    body = wait_arm_succeeded(server, path)
    # A new HSM is usable once activated, and keys need a local role (issue 20).
    from test_managed_hsm import activate_for_admin
    activate_for_admin(server, name)
    return body


# ----------------------------------------------------------------------------------------------
# 1. Vault resources (ARM)


def test_vault_create_with_purge_protection_and_access_policy(server):
    oid = admin_object_id(server)
    client = mgmt_client(server)
    v = create_vault(server, "cmkvault1", client=client)
    assert v.name == "cmkvault1"
    assert v.id.lower() == vault_resource_id(server, "cmkvault1").lower(), v.id
    assert v.type.lower() == "microsoft.keyvault/vaults", v.type
    assert v.location == LOCATION
    p = v.properties
    assert p.vault_uri == f"https://cmkvault1{server.vaultSuffix}:{server.port}/", p.vault_uri
    assert p.tenant_id == server.tenantId
    assert p.sku.family == "A" and p.sku.name == "standard", p.sku
    assert p.enable_soft_delete is True
    assert p.enable_purge_protection is True
    assert p.soft_delete_retention_in_days == 90, "default retention is 90 days"
    assert not p.enable_rbac_authorization
    assert [a.object_id for a in p.access_policies] == [oid], p.access_policies
    assert {k.lower() for k in p.access_policies[0].permissions.keys} == \
        {k.lower() for k in ALL_KEY_PERMISSIONS}

    got = client.vaults.get(server.resourceGroup, "cmkvault1")
    assert got.properties.vault_uri == p.vault_uri
    assert got.properties.enable_purge_protection is True
    listed = [x.name for x in client.vaults.list_by_resource_group(server.resourceGroup)]
    assert listed == ["cmkvault1"], listed

    # Raw ARM GET: JSON property names exactly as Azure spells them.
    r = http(server, "GET", "management", vault_arm_path(server, "cmkvault1"), token=admin_token(server))
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    props = r.json()["properties"]
    assert props["vaultUri"] == p.vault_uri
    assert props["enableSoftDelete"] is True and props["enablePurgeProtection"] is True
    assert props["softDeleteRetentionInDays"] == 90


def test_vault_name_is_globally_unique_across_resource_groups(server):
    create_vault(server, "uniqvault")
    put_resource_group(server, "rg-other")
    r = http(server, "PUT", "management", vault_arm_path(server, "uniqvault", rg="rg-other"),
             token=admin_token(server),
             body={"location": LOCATION, "properties": {
                 "tenantId": server.tenantId, "sku": {"family": "A", "name": "standard"}, "accessPolicies": []}})
    assert r.status_code == 409, f"same name, other resource group: {r.status_code} {r.text}"
    assert arm_error(r)["code"] == "VaultAlreadyExists"
    # Also through the SDK (ResourceExistsError is an HttpResponseError).
    err = expect_status(409, create_vault, server, "UNIQVAULT", rg="rg-other")
    assert err["code"] == "VaultAlreadyExists", "vault names compare case-insensitively"
    # Re-PUT in its own resource group is an update, not a conflict.
    v = create_vault(server, "uniqvault")
    assert v.properties.vault_uri.startswith("https://uniqvault.")


@pytest.mark.parametrize("name", ["ab", "a" * 25, "bad_name", "bad.name", "vault%20x"])
def test_vault_name_pattern_is_enforced(server, name):
    # The SDK validates ^[a-zA-Z0-9-]{3,24}$ client-side, so these go out raw.
    r = http(server, "PUT", "management", vault_arm_path(server, name), token=admin_token(server),
             body={"location": LOCATION, "properties": {
                 "tenantId": server.tenantId, "sku": {"family": "A", "name": "standard"}, "accessPolicies": []}})
    assert r.status_code == 400, f"vault name {name!r}: {r.status_code} {r.text}"
    arm_error(r)


def test_vault_name_azure_rules_beyond_the_pattern(server):
    """Azure: begins with a letter, ends with a letter or digit, no consecutive hyphens."""
    tok = admin_token(server)
    body = {"location": LOCATION, "properties": {
        "tenantId": server.tenantId, "sku": {"family": "A", "name": "standard"}, "accessPolicies": []}}
    for name in ("1vault", "-vault", "vault-", "va--ult"):
        r = http(server, "PUT", "management", vault_arm_path(server, name), token=tok, body=body)
        assert r.status_code == 400, f"vault name {name!r}: {r.status_code} {r.text}"
        arm_error(r)
    for name in ("abc", "a" * 24, "v-1-2"):
        r = http(server, "PUT", "management", vault_arm_path(server, name), token=tok, body=body)
        assert r.status_code in (200, 201), f"vault name {name!r}: {r.status_code} {r.text}"


def test_purge_protection_cannot_be_turned_off(server):
    from azure.mgmt.keyvault.models import VaultPatchParameters, VaultPatchProperties
    client = mgmt_client(server)
    create_vault(server, "ppvault", client=client)
    err = expect_status(400, client.vaults.update, server.resourceGroup, "ppvault",
                        VaultPatchParameters(properties=VaultPatchProperties(enable_purge_protection=False)))
    assert "purge" in err["message"].lower(), err
    # A full PUT with enablePurgeProtection false is refused too.
    r = http(server, "PUT", "management", vault_arm_path(server, "ppvault"), token=admin_token(server),
             body={"location": LOCATION, "properties": {
                 "tenantId": server.tenantId, "sku": {"family": "A", "name": "standard"},
                 "accessPolicies": [], "enablePurgeProtection": False}})
    assert r.status_code == 400, f"PUT enablePurgeProtection=false: {r.status_code} {r.text}"
    arm_error(r)
    assert client.vaults.get(server.resourceGroup, "ppvault").properties.enable_purge_protection is True
    # Setting it true again (a no-op) is fine.
    v = client.vaults.update(server.resourceGroup, "ppvault",
                             VaultPatchParameters(properties=VaultPatchProperties(enable_purge_protection=True)))
    assert v.properties.enable_purge_protection is True


def test_soft_delete_retention_must_be_7_to_90_days(server):
    for days in (6, 91, 0, -1):
        err = expect_status(400, create_vault, server, f"ret{days + 10}vault", retention=days)
        assert err["code"], err
    assert create_vault(server, "ret7vault", retention=7).properties.soft_delete_retention_in_days == 7
    assert create_vault(server, "ret90vault", retention=90).properties.soft_delete_retention_in_days == 90


def test_deleted_vault_is_soft_deleted_and_purge_refused_under_purge_protection(server):
    client = mgmt_client(server)
    create_vault(server, "delvault", client=client)           # purge protection
    create_vault(server, "delvault2", purge_protection=False, client=client)
    client.vaults.delete(server.resourceGroup, "delvault")
    client.vaults.delete(server.resourceGroup, "delvault2")
    with pytest.raises(ResourceNotFoundError):
        client.vaults.get(server.resourceGroup, "delvault")
    names = {d.name for d in client.vaults.list_deleted()}
    assert {"delvault", "delvault2"} <= names, names
    d = client.vaults.get_deleted("delvault", LOCATION)
    assert d.properties.purge_protection_enabled is True, d.properties
    span = d.properties.scheduled_purge_date - d.properties.deletion_date
    assert abs(span.total_seconds() - 90 * DAY) < 120, span

    # The name stays taken while soft-deleted.
    expect_status(409, create_vault, server, "delvault", client=client)

    # Purge refused under purge protection; allowed without.
    with pytest.raises(HttpResponseError) as ei:
        client.vaults.begin_purge_deleted("delvault", LOCATION).result(timeout=30)
    assert 400 <= ei.value.status_code < 500, ei.value
    assert "delvault" in {x.name for x in client.vaults.list_deleted()}
    client.vaults.begin_purge_deleted("delvault2", LOCATION).result(timeout=30)
    assert "delvault2" not in {x.name for x in client.vaults.list_deleted()}
    assert create_vault(server, "delvault2", purge_protection=False, client=client).name == "delvault2"


# ----------------------------------------------------------------------------------------------
# 2. Keys through KeyClient / CryptographyClient


def test_rsa3072_key_wrap_locally_unwrap_remotely(server):
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    env = VaultEnv(server)
    key = env.keys.create_rsa_key("cmk1", size=3072)
    assert key.key_type == "RSA", key.key_type
    assert len(key.key.n) == 384, "3072-bit modulus"
    assert key.id.startswith(f"{env.url}/keys/cmk1/"), key.id
    for alg in (KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa1_5):
        aek = os.urandom(32)
        wrapped = wrap_local(env, key, aek, alg)
        assert len(wrapped) == 384
        assert unwrap_remote(env, key, wrapped, alg) == aek, f"unwrap with {alg}"
    # Remote wrap (the versioned kid with the key version) interoperates too.
    aek = os.urandom(32)
    r = http(server, "POST", f"{key.id}/wrapkey?api-version={DATA_API}", token=vault_token(server),
             body={"alg": "RSA-OAEP-256", "value": b64url(aek)})
    assert r.status_code == 200, f"wrapkey: {r.status_code} {r.text}"
    assert r.json()["kid"] == key.id
    assert unwrap_remote(env, key, b64url_decode(r.json()["value"])) == aek
    # A kid-only CryptographyClient (GET /keys/{n}/{v} first) works as well.
    wrapped = wrap_local(env, key, aek)
    assert env.crypto(key.id).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == aek


def test_rotate_new_version_and_old_version_both_unwrap(server):
    env = VaultEnv(server)
    old = env.keys.create_rsa_key("cmk1", size=3072)
    aek_old = os.urandom(32)
    w_old = wrap_local(env, old, aek_old)

    new = env.keys.rotate_key("cmk1")
    assert new.name == "cmk1"
    assert new.properties.version != old.properties.version
    assert HEX32.match(new.properties.version), new.properties.version
    assert new.key.n != old.key.n, "rotation makes new key material"
    assert len(new.key.n) == 384, "rotation keeps the key size"
    assert env.keys.get_key("cmk1").properties.version == new.properties.version, "latest is the new version"
    versions = {p.version for p in env.keys.list_properties_of_key_versions("cmk1")}
    assert versions == {old.properties.version, new.properties.version}, versions

    aek_new = os.urandom(32)
    w_new = wrap_local(env, new, aek_new)
    assert unwrap_remote(env, new, w_new) == aek_new
    assert unwrap_remote(env, old, w_old) == aek_old
    # The old version, addressed by its kid only, still unwraps.
    assert unwrap_remote(env, old.id, w_old) == aek_old
    # Versions are distinct keys: the new one cannot unwrap the old one's wraps.
    expect_status(400, unwrap_remote, env, new, w_old)


def test_disabled_version_unwrap_is_403_key_disabled_then_reenabled(server):
    env = VaultEnv(server)
    old = env.keys.create_rsa_key("cmk1", size=3072)
    w_old = wrap_local(env, old, b"\x01" * 32)
    new = env.keys.rotate_key("cmk1")
    w_new = wrap_local(env, new, b"\x02" * 32)

    props = env.keys.update_key_properties("cmk1", version=old.properties.version, enabled=False)
    assert props.properties.enabled is False
    assert props.properties.version == old.properties.version
    assert env.keys.get_key("cmk1", version=old.properties.version).properties.enabled is False

    err = expect_status(403, unwrap_remote, env, old, w_old)
    assert err["code"] == "Forbidden", err
    assert inner_code(err) == "KeyDisabled", err
    # Only that version is disabled.
    assert unwrap_remote(env, new, w_new) == b"\x02" * 32
    # decrypt (another private-key operation) is refused the same way.
    from azure.keyvault.keys.crypto import EncryptionAlgorithm
    ct = env.crypto(old).encrypt(EncryptionAlgorithm.rsa_oaep_256, b"x" * 16).ciphertext
    err = expect_status(403, env.crypto(old).decrypt, EncryptionAlgorithm.rsa_oaep_256, ct)
    assert inner_code(err) == "KeyDisabled", err

    props = env.keys.update_key_properties("cmk1", version=old.properties.version, enabled=True)
    assert props.properties.enabled is True
    assert unwrap_remote(env, old, w_old) == b"\x01" * 32


def test_delete_recover_and_purge_refused_under_purge_protection(server):
    env = VaultEnv(server)
    key = env.keys.create_rsa_key("cmk1", size=3072)
    aek = os.urandom(32)
    wrapped = wrap_local(env, key, aek)

    poller = env.keys.begin_delete_key("cmk1")
    deleted = poller.result()
    assert deleted.recovery_id == f"{env.url}/deletedkeys/cmk1", deleted.recovery_id
    wait_poller(poller)
    with pytest.raises(ResourceNotFoundError):
        env.keys.get_key("cmk1")
    dk = env.keys.get_deleted_key("cmk1")
    assert dk.recovery_id == f"{env.url}/deletedkeys/cmk1"
    assert dk.deleted_date is not None and dk.scheduled_purge_date is not None
    span = (dk.scheduled_purge_date - dk.deleted_date).total_seconds()
    assert abs(span - 90 * DAY) < 120, f"scheduledPurgeDate - deletedDate = {span} s, want 90 days"
    assert "cmk1" in {k.name for k in env.keys.list_deleted_keys()}
    assert "cmk1" not in {k.name for k in env.keys.list_properties_of_keys()}
    # A soft-deleted key cannot unwrap.
    expect_status(404, unwrap_remote, env, key, wrapped)

    rec = env.keys.begin_recover_deleted_key("cmk1")
    wait_poller(rec)
    assert rec.result().properties.version == key.properties.version
    assert env.keys.get_key("cmk1").properties.version == key.properties.version
    assert unwrap_remote(env, key, wrapped) == aek
    with pytest.raises(ResourceNotFoundError):
        env.keys.get_deleted_key("cmk1")

    wait_poller(env.keys.begin_delete_key("cmk1"))
    err = expect_status(403, env.keys.purge_deleted_key, "cmk1")
    assert "purge protection" in err["message"].lower(), err
    # Still recoverable.
    assert env.keys.get_deleted_key("cmk1").name == "cmk1"


def test_purge_allowed_without_purge_protection(server):
    env = VaultEnv(server, "nopp", purge_protection=False)
    env.keys.create_rsa_key("k1", size=2048)
    wait_poller(env.keys.begin_delete_key("k1"))
    env.keys.purge_deleted_key("k1")
    with pytest.raises(ResourceNotFoundError):
        env.keys.get_deleted_key("k1")
    # The name is free again.
    assert env.keys.create_rsa_key("k1", size=2048).name == "k1"


# ----------------------------------------------------------------------------------------------
# 3. Authorization: access policies and RBAC


def test_access_policy_removed_then_restored(server):
    from azure.mgmt.keyvault.models import VaultAccessPolicyParameters, VaultAccessPolicyProperties
    client = mgmt_client(server)
    env = VaultEnv(server)
    key = env.keys.create_rsa_key("cmk1", size=2048)
    aek = os.urandom(32)
    wrapped = wrap_local(env, key, aek)

    sp = new_principal(server, "storage-app")
    sp_cred = sdk_credential(server, sp["clientId"], sp["clientSecret"])
    # No policy yet: 403 Forbidden / AccessDenied.
    err = expect_status(403, unwrap_remote, env, key, wrapped, credential=sp_cred)
    assert err["code"] == "Forbidden" and inner_code(err) == "AccessDenied", err

    sp_policy = policy(server, sp["objectId"], ["get", "wrapKey", "unwrapKey"])
    res = client.vaults.update_access_policy(
        server.resourceGroup, "cmkvault", "add",
        VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[sp_policy])))
    assert sp["objectId"] in [a.object_id for a in res.properties.access_policies], res.properties
    oids = [a.object_id for a in client.vaults.get(server.resourceGroup, "cmkvault").properties.access_policies]
    assert sorted(oids) == sorted([admin_object_id(server), sp["objectId"]]), oids
    assert unwrap_remote(env, key, wrapped, credential=sp_cred) == aek
    # The policy grants get/wrapKey/unwrapKey only.
    sp_keys = key_client(server, env.url, sp_cred)
    assert sp_keys.get_key("cmk1").id == key.id
    expect_status(403, sp_keys.create_rsa_key, "other", size=2048)

    client.vaults.update_access_policy(
        server.resourceGroup, "cmkvault", "remove",
        VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[sp_policy])))
    oids = [a.object_id for a in client.vaults.get(server.resourceGroup, "cmkvault").properties.access_policies]
    assert oids == [admin_object_id(server)], oids
    err = expect_status(403, unwrap_remote, env, key, wrapped, credential=sp_cred)
    assert err["code"] == "Forbidden", err

    client.vaults.update_access_policy(
        server.resourceGroup, "cmkvault", "add",
        VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[sp_policy])))
    assert unwrap_remote(env, key, wrapped, credential=sp_cred) == aek

    # 'replace' with a policy lacking unwrapKey takes the permission away again.
    client.vaults.update_access_policy(
        server.resourceGroup, "cmkvault", "replace",
        VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(
            access_policies=[policy(server, sp["objectId"], ["get", "wrapKey"])])))
    expect_status(403, unwrap_remote, env, key, wrapped, credential=sp_cred)


def test_rbac_vault_role_assignment_grants_and_revokes_unwrap(server):
    env_vault = create_vault(server, "rbacvault", rbac=True)
    assert env_vault.properties.enable_rbac_authorization is True
    scope = vault_resource_id(server, "rbacvault")
    # The admin needs a data-plane role too (Owner has no dataActions).
    put_role_assignment(server, "7b0c7a10-0000-4000-8000-000000000001", admin_object_id(server),
                        KV_ADMINISTRATOR_ROLE_ID, scope)
    url = vault_url(server, "rbacvault")
    cred = sdk_credential(server)
    keys = key_client(server, url, cred)
    key = keys.create_rsa_key("cmk1", size=2048)
    aek = os.urandom(32)
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    wrapped = crypto_client(server, key, cred).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, aek).encrypted_key

    sp = new_principal(server, "rbac-app")
    sp_cred = sdk_credential(server, sp["clientId"], sp["clientSecret"])

    def sp_unwrap():
        return crypto_client(server, key, sp_cred).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key

    err = expect_status(403, sp_unwrap)
    assert err["code"] == "Forbidden" and inner_code(err) == "ForbiddenByRbac", err

    out = cli(server, "role", "assign", "--principal", sp["objectId"], "--role", CRYPTO_SERVICE_ENCRYPTION_USER,
              "--scope", scope).stdout
    ra = json.loads(out)
    assert ra["id"].lower().startswith(scope.lower() + "/providers/microsoft.authorization/roleassignments/"), ra
    assert sp_unwrap() == aek
    # That role reads and wraps/unwraps, but does not create.
    expect_status(403, key_client(server, url, sp_cred).create_rsa_key, "other", size=2048)

    r = http(server, "DELETE", "management", f"{ra['id']}?api-version={AUTHZ_API}", token=admin_token(server))
    assert r.status_code in (200, 204), f"DELETE role assignment: {r.status_code} {r.text}"
    err = expect_status(403, sp_unwrap)
    assert inner_code(err) == "ForbiddenByRbac", err


def test_access_policies_are_ignored_on_rbac_vault(server):
    sp = new_principal(server, "policy-only")
    create_vault(server, "rbacpol", rbac=True,
                 policies=[policy(server, sp["objectId"], ALL_KEY_PERMISSIONS)])
    sp_keys = key_client(server, vault_url(server, "rbacpol"),
                         sdk_credential(server, sp["clientId"], sp["clientSecret"]))
    err = expect_status(403, sp_keys.create_rsa_key, "k1", size=2048)
    assert inner_code(err) == "ForbiddenByRbac", err


# ----------------------------------------------------------------------------------------------
# 4. Rotation policy on the simulated clock


def test_rotation_policy_rotates_after_30_days_of_simulated_time(sim_server):
    from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction
    server = sim_server
    env = VaultEnv(server)
    key = env.keys.create_rsa_key("cmk1", size=2048)
    pol = env.keys.update_key_rotation_policy(
        "cmk1", KeyRotationPolicy(lifetime_actions=[
            KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")]))
    assert len(pol.lifetime_actions) == 1, pol.lifetime_actions
    got = env.keys.get_key_rotation_policy("cmk1")
    assert got.id == f"{env.url}/keys/cmk1/rotationpolicy", got.id
    assert [(enum_value(a.action).lower(), a.time_after_create) for a in got.lifetime_actions] == \
        [("rotate", "P30D")], [vars(a) for a in got.lifetime_actions]

    def versions(credential):
        kc = key_client(server, env.url, credential)
        return sorted(kc.list_properties_of_key_versions("cmk1"), key=lambda p: p.created_on)

    cli(server, "clock", "advance", "29d")
    cred = sdk_credential(server)  # tokens issued before the jump have expired on the server's clock
    time.sleep(0.5)
    assert len(versions(cred)) == 1, "rotated before 30 days"

    cli(server, "clock", "advance", "2d")
    cred = sdk_credential(server)
    deadline = time.monotonic() + 15
    while True:
        vs = versions(cred)
        if len(vs) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(vs) == 2, f"after 31 simulated days: {[v.version for v in vs]}"
    assert vs[0].version == key.properties.version
    age = (vs[1].created_on - vs[0].created_on).total_seconds()
    assert 30 * DAY <= age <= 31 * DAY + 120, f"new version created {age / DAY:.2f} days after the first"
    latest = key_client(server, env.url, cred).get_key("cmk1")
    assert latest.properties.version == vs[1].version

    # The policy applies to the new version as well: another 31 days make a third version.
    cli(server, "clock", "advance", "31d")
    cred = sdk_credential(server)
    deadline = time.monotonic() + 15
    while True:
        vs = versions(cred)
        if len(vs) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(vs) == 3, f"after 62 simulated days: {[v.version for v in vs]}"


# ----------------------------------------------------------------------------------------------
# 5. Challenge authentication and api-versions


def parse_challenge(header):
    assert header.startswith("Bearer "), header
    pairs = dict(re.findall(r'(\w+)="([^"]*)"', header))
    return pairs


def test_challenge_401_names_login_and_vault_resource(server):
    create_vault(server, "chvault")
    for method, path in (("GET", "/keys?api-version=7.4"), ("GET", "/keys/cmk1/?api-version=7.4-preview.1")):
        r = http(server, method, vault_url(server, "chvault"), path)
        assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text}"
        ch = parse_challenge(r.headers.get("WWW-Authenticate", ""))
        assert ch.get("authorization") == f"{server.authorityHost}/{server.tenantId}", ch
        assert ch.get("resource") == vault_resource(server), ch
        assert kv_error(r)["code"] == "Unauthorized"
    # Python compares netlocs: the vault netloc must end with "." + the resource netloc.
    assert f"chvault{server.vaultSuffix}:{server.port}".endswith("." + vault_resource(server).split("://")[1])


def test_challenge_on_empty_body_post_is_401_not_400(server):
    create_vault(server, "chvault")
    key = key_client(server, vault_url(server, "chvault")).create_rsa_key("cmk1", size=2048)
    for path in (f"/keys/cmk2/create?api-version={DATA_API}",
                 f"/keys/cmk1/{key.properties.version}/unwrapkey?api-version={DATA_API}"):
        r = http(server, "POST", vault_url(server, "chvault"), path, body=b"",
                 headers={"Content-Type": "application/json"})
        assert r.status_code == 401, f"POST {path} without token: {r.status_code} {r.text}"
        assert "WWW-Authenticate" in r.headers
    # An invalid token is 401 as well, not 403.
    r = http(server, "GET", vault_url(server, "chvault"), f"/keys?api-version={DATA_API}", token="not-a-token")
    assert r.status_code == 401, f"bad token: {r.status_code} {r.text}"
    # An ARM-audience token is not a vault token.
    r = http(server, "GET", vault_url(server, "chvault"), f"/keys?api-version={DATA_API}", token=admin_token(server))
    assert r.status_code == 401, f"ARM token on the vault: {r.status_code} {r.text}"


def test_sdk_update_with_a_token_from_before_a_clock_jump_succeeds(sim_server):
    """Six simulated days do not outlive the KeyClient's token: tokens live on real time (issue 12),
    as the client's clock does. (Before, the server judged them on its simulated clock and the
    PATCH got a 401, whose body-less retry by azure-keyvault-keys 4.8.0b3 must be answered from
    its header: test_401_for_a_declared_body_comes_before_the_body_and_closes_the_connection.)"""
    server = sim_server
    create_vault(server, "jumpvault")
    kc = key_client(server, vault_url(server, "jumpvault"))
    key = kc.create_rsa_key("cmk1", size=2048)
    cli(server, "clock", "advance", "6d")
    assert kc.update_key_properties("cmk1", key.properties.version, enabled=False).properties.enabled is False
    assert kc.get_key("cmk1").properties.enabled is False


def _read_to_close(sock, timeout=10):
    """Whatever the server still sends before it closes the connection; fails if it stays open."""
    sock.settimeout(timeout)
    rest = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return rest
            rest += chunk
    except TimeoutError:
        raise AssertionError(f"connection still open after {timeout} s (received {rest[:200]!r})")
    except (ConnectionError, ssl.SSLError, OSError):
        return rest


def test_401_for_a_declared_body_comes_before_the_body_and_closes_the_connection(server):
    """A request that declares a body and carries a bad token is answered from its header (401 with
    Connection: close) before any body byte is sent. The body sent afterwards (here a complete HTTP
    request) is drained, never served as a request of its own. Bodiless requests, like the Key Vault
    challenge, keep the connection alive."""
    create_vault(server, "earlyvault")
    embedded = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    for host, path in ((f"earlyvault{server.vaultSuffix}", f"/keys/cmk1/abc?api-version={DATA_API}"),
                       (f"management.{server.domain}",
                        f"/subscriptions/{server.subscriptionId}/resourcegroups/rg1?api-version={RG_API}")):
        with tls_socket(server, host) as sock:
            sock.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {host}:{server.port}\r\n"
                          f"Authorization: Bearer not-a-token\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(embedded)}\r\n\r\n").encode())
            t0 = time.monotonic()
            try:
                status, headers, body = read_http_response(sock, timeout=10)
            except (TimeoutError, ConnectionError) as e:
                pytest.fail(f"{host}: no answer before the body was sent ({e!r})")
            assert status == 401, f"{host}: {status} {body[:300]!r}"
            assert time.monotonic() - t0 < 5
            assert headers.get("connection", "").lower() == "close", (host, headers)
            assert "www-authenticate" in headers, (host, headers)
            sock.sendall(embedded)
            assert _read_to_close(sock) == b"", f"{host}: the body was served as a request"
    # The challenge request (Content-Length: 0, no token) is answered on a connection that stays up.
    host = f"earlyvault{server.vaultSuffix}"
    with tls_socket(server, host) as sock:
        for _ in range(2):
            sock.sendall((f"POST /keys/cmk2/create?api-version={DATA_API} HTTP/1.1\r\n"
                          f"Host: {host}:{server.port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: 0\r\n\r\n").encode())
            status, headers, _ = read_http_response(sock, timeout=10)
            assert status == 401 and "www-authenticate" in headers
            assert headers.get("connection", "").lower() != "close", headers


def test_percent_encoded_api_version_name(server):
    create_vault(server, "pctvault")
    key = key_client(server, vault_url(server, "pctvault")).create_rsa_key("cmk1", size=2048)
    tok = vault_token(server)
    r = http(server, "GET", vault_url(server, "pctvault"), "/keys/cmk1/?api%2Dversion=2025-07-01", token=tok)
    assert r.status_code == 200, f"api%2Dversion: {r.status_code} {r.text}"
    assert r.json()["key"]["kid"] == key.id
    r = http(server, "GET", vault_url(server, "pctvault"), "/keys?api%2dversion=7.4", token=tok)
    assert r.status_code == 200, f"api%2dversion: {r.status_code} {r.text}"


def test_key_api_versions_accepted(server):
    create_vault(server, "apivault")
    key = key_client(server, vault_url(server, "apivault")).create_rsa_key("cmk1", size=2048)
    tok = vault_token(server)
    for ver in ("7.0", "7.1", "7.2", "7.3", "7.4", "7.4-preview.1", "7.5", "7.6", "2025-07-01"):
        for path in (f"/keys/cmk1/{key.properties.version}", "/keys/cmk1/", "/keys/cmk1"):
            r = http(server, "GET", vault_url(server, "apivault"), f"{path}?api-version={ver}", token=tok)
            assert r.status_code == 200, f"GET {path}?api-version={ver}: {r.status_code} {r.text}"
            assert r.json()["key"]["kid"] == key.id
    # The SDK with an older api_version works end to end.
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    kc = key_client(server, vault_url(server, "apivault"), api_version="7.0")
    k0 = kc.get_key("cmk1")
    assert k0.id == key.id
    from azure.keyvault.keys.crypto import CryptographyClient
    cc = CryptographyClient(k0, sdk_credential(server), connection_verify=server.caCertPath, api_version="7.0")
    wrapped = cc.wrap_key(KeyWrapAlgorithm.rsa_oaep, b"k" * 32).encrypted_key
    assert cc.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped).key == b"k" * 32


def test_unknown_api_version_is_handled_leniently(server):
    create_vault(server, "apivault")
    key = key_client(server, vault_url(server, "apivault")).create_rsa_key("cmk1", size=2048)
    r = http(server, "GET", vault_url(server, "apivault"), "/keys/cmk1/?api-version=7.9", token=vault_token(server))
    assert r.status_code == 200, f"unknown api-version: {r.status_code} {r.text}"
    assert r.json()["key"]["kid"] == key.id


# ----------------------------------------------------------------------------------------------
# 6. Errors


def test_missing_key_is_404_key_not_found(server):
    env = VaultEnv(server)
    with pytest.raises(ResourceNotFoundError) as ei:
        env.keys.get_key("nosuchkey")
    assert sdk_error(ei.value)["code"] == "KeyNotFound"
    env.keys.create_rsa_key("cmk1", size=2048)
    with pytest.raises(ResourceNotFoundError) as ei:
        env.keys.get_key("cmk1", version="0" * 32)
    assert sdk_error(ei.value)["code"] == "KeyNotFound"
    r = http(server, "POST", env.url, f"/keys/nosuchkey/{'1' * 32}/unwrapkey?api-version={DATA_API}",
             token=vault_token(server), body={"alg": "RSA-OAEP-256", "value": b64url(b"x" * 256)})
    assert r.status_code == 404, f"unwrap with a missing key: {r.status_code} {r.text}"
    assert kv_error(r)["code"] == "KeyNotFound"
    with pytest.raises(ResourceNotFoundError):
        env.keys.get_deleted_key("nosuchkey")


def test_create_key_with_name_of_soft_deleted_key_is_409(server):
    env = VaultEnv(server)
    env.keys.create_rsa_key("cmk1", size=2048)
    wait_poller(env.keys.begin_delete_key("cmk1"))
    err = expect_status(409, env.keys.create_rsa_key, "cmk1", size=2048)
    assert err["code"] == "Conflict", err
    # Import under that name hits the same rule.
    from cryptography.hazmat.primitives.asymmetric import rsa
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    err = expect_status(409, env.keys.import_key, "cmk1", rsa_jwk_of(priv))
    assert err["code"] == "Conflict", err
    # The deleted key is untouched.
    assert env.keys.get_deleted_key("cmk1").name == "cmk1"


def test_unknown_vault_host_is_404(server):
    create_vault(server, "realvault")
    tok = vault_token(server)
    r = http(server, "GET", vault_url(server, "nonexistent"), f"/keys?api-version={DATA_API}", token=tok)
    assert r.status_code == 404, f"unknown vault: {r.status_code} {r.text}"
    kv_error(r)
    with pytest.raises(ResourceNotFoundError):
        key_client(server, vault_url(server, "nonexistent")).get_key("cmk1")


def test_bad_request_bodies_are_400(server):
    env = VaultEnv(server)
    key = env.keys.create_rsa_key("cmk1", size=2048)
    tok = vault_token(server)
    base = f"/keys/cmk1/{key.properties.version}"
    cases = [
        (f"{base}/unwrapkey", {"alg": "NOPE", "value": b64url(b"x" * 256)}),
        (f"{base}/unwrapkey", {"alg": "RSA-OAEP-256"}),
        (f"{base}/unwrapkey", {"alg": "RSA-OAEP-256", "value": b64url(os.urandom(256))}),
        (f"{base}/unwrapkey", "{not json"),
        ("/keys/cmk2/create", {"kty": "RSA", "key_size": 1000}),
        ("/keys/cmk2/create", {"kty": "NOPE"}),
        ("/keys/bad_name/create", {"kty": "RSA", "key_size": 2048}),
    ]
    for path, body in cases:
        r = http(server, "POST", env.url, f"{path}?api-version={DATA_API}", token=tok, body=body)
        assert r.status_code == 400, f"POST {path} {body!r}: {r.status_code} {r.text}"
        kv_error(r)


# ----------------------------------------------------------------------------------------------
# 7. Key bundle shape


def assert_key_bundle(server, vault, name, bundle, *, retention, purge_protection, key_bytes=None):
    key = bundle["key"]
    m = re.fullmatch(rf"https://{re.escape(vault)}{re.escape(server.vaultSuffix)}:{server.port}/keys/{name}/([0-9a-f]{{32}})",
                     key["kid"])
    assert m, f"kid {key['kid']!r}"
    assert key["kty"] == "RSA", key
    assert B64URL.match(key["n"]) and B64URL.match(key["e"]), "n/e must be base64url without padding"
    assert key["e"] == "AQAB", key["e"]
    n = b64url_decode(key["n"])
    if key_bytes:
        assert len(n) == key_bytes and n[0] != 0, f"modulus of {len(n)} bytes"
    for secret in ("d", "p", "q", "dp", "dq", "qi", "k"):
        assert secret not in key, f"private part {secret!r} returned"
    assert isinstance(key["key_ops"], list) and "unwrapKey" in key["key_ops"], key["key_ops"]
    attrs = bundle["attributes"]
    assert attrs["enabled"] is True
    for f in ("created", "updated"):
        assert type(attrs[f]) is int, f"attributes.{f} = {attrs[f]!r} (want integer Unix seconds)"
        assert abs(attrs[f] - time.time()) < 600, attrs
    assert attrs["recoverableDays"] == retention, attrs
    customized = "CustomizedRecoverable" if retention < 90 else "Recoverable"
    want = customized if purge_protection else customized + "+Purgeable"
    assert attrs["recoveryLevel"] == want, attrs
    return m.group(1)


def test_key_bundle_shape_and_recovery_levels(server):
    tok = vault_token(server)
    for vault, retention, pp, size in (("rec90pp", 90, True, 3072), ("rec30pp", 30, True, 2048),
                                        ("rec90", 90, False, 4096), ("rec7", 7, False, 2048)):
        create_vault(server, vault, retention=retention, purge_protection=pp)
        url = vault_url(server, vault)
        r = http(server, "POST", url, f"/keys/cmk1/create?api-version={DATA_API}", token=tok,
                 body={"kty": "RSA", "key_size": size})
        assert r.status_code == 200, f"create in {vault}: {r.status_code} {r.text}"
        version = assert_key_bundle(server, vault, "cmk1", r.json(), retention=retention,
                                    purge_protection=pp, key_bytes=size // 8)
        # GET latest (with and without trailing slash) and by version give the same bundle.
        for path in ("/keys/cmk1/", "/keys/cmk1", f"/keys/cmk1/{version}", f"/keys/CMK1/{version.upper()}"):
            g = http(server, "GET", url, f"{path}?api-version={DATA_API}", token=tok)
            assert g.status_code == 200, f"GET {path}: {g.status_code} {g.text}"
            assert g.json()["key"]["kid"] == r.json()["key"]["kid"], path
            assert_key_bundle(server, vault, "cmk1", g.json(), retention=retention, purge_protection=pp)
        # List items.
        lst = http(server, "GET", url, f"/keys?api-version={DATA_API}", token=tok)
        assert lst.status_code == 200, f"list: {lst.status_code} {lst.text}"
        items = lst.json()["value"]
        assert [i["kid"] for i in items] == [f"{url}/keys/cmk1"], items
        assert "key" not in items[0] and items[0]["attributes"]["recoverableDays"] == retention
        vl = http(server, "GET", url, f"/keys/cmk1/versions?api-version={DATA_API}", token=tok)
        assert vl.status_code == 200, f"versions: {vl.status_code} {vl.text}"
        assert [i["kid"] for i in vl.json()["value"]] == [f"{url}/keys/cmk1/{version}"]

    # SDK view of the same.
    k = key_client(server, vault_url(server, "rec30pp")).get_key("cmk1")
    assert k.properties.recovery_level == "CustomizedRecoverable"
    assert k.properties.recoverable_days == 30
    assert isinstance(k.properties.created_on, datetime.datetime)

    # Deleted bundle: recoveryId, deletedDate, scheduledPurgeDate = deletedDate + retention.
    d = http(server, "DELETE", vault_url(server, "rec30pp"), f"/keys/cmk1?api-version={DATA_API}", token=tok)
    assert d.status_code == 200, f"DELETE: {d.status_code} {d.text}"
    body = d.json()
    assert body["recoveryId"] == f"{vault_url(server, 'rec30pp')}/deletedkeys/cmk1", body
    assert type(body["deletedDate"]) is int and type(body["scheduledPurgeDate"]) is int, body
    assert body["scheduledPurgeDate"] - body["deletedDate"] == 30 * DAY, body
    g = http(server, "GET", vault_url(server, "rec30pp"), f"/keys/cmk1/?api-version={DATA_API}", token=tok)
    assert g.status_code == 404 and kv_error(g)["code"] == "KeyNotFound", f"{g.status_code} {g.text}"
    g = http(server, "GET", vault_url(server, "rec30pp"), f"/deletedkeys/cmk1?api-version={DATA_API}", token=tok)
    assert g.status_code == 200, f"{g.status_code} {g.text}"


def test_key_attributes_and_key_ops_update(server):
    env = VaultEnv(server)
    key = env.keys.create_rsa_key("cmk1", size=2048, key_operations=["wrapKey", "unwrapKey"], tags={"a": "1"})
    assert sorted(key.key_operations) == ["unwrapKey", "wrapKey"]
    assert key.properties.tags == {"a": "1"}
    aek = os.urandom(32)
    wrapped = wrap_local(env, key, aek)
    assert unwrap_remote(env, key, wrapped) == aek
    # decrypt is not in key_ops: 403.
    r = http(server, "POST", f"{key.id}/decrypt?api-version={DATA_API}", token=vault_token(server),
             body={"alg": "RSA-OAEP-256", "value": b64url(wrapped)})
    assert r.status_code == 403, f"decrypt outside key_ops: {r.status_code} {r.text}"
    # Remove unwrapKey from key_ops: unwrap is refused.
    upd = env.keys.update_key_properties("cmk1", key_operations=["wrapKey"], tags={"b": "2"})
    assert upd.key_operations == ["wrapKey"] and upd.properties.tags == {"b": "2"}
    expect_status(403, unwrap_remote, env, key, wrapped)
    env.keys.update_key_properties("cmk1", key_operations=["wrapKey", "unwrapKey"])
    assert unwrap_remote(env, key, wrapped) == aek
    # Expired key: 403.
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    env.keys.update_key_properties("cmk1", expires_on=past)
    r = http(server, "POST", f"{key.id}/unwrapkey?api-version={DATA_API}", token=vault_token(server),
             body={"alg": "RSA-OAEP-256", "value": b64url(wrapped)})
    assert r.status_code == 403, f"expired key: {r.status_code} {r.text}"
    assert "expir" in kv_error(r)["message"].lower()


# ----------------------------------------------------------------------------------------------
# 8. Private key material never in clear under the data dir


def test_imported_key_private_material_not_in_data_dir(server):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    env = VaultEnv(server)
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    imported = env.keys.import_key("byok1", rsa_jwk_of(priv))
    assert imported.key_type == "RSA"
    assert imported.key.n == int_bytes(priv.public_key().public_numbers().n), "imported modulus"
    assert getattr(imported.key, "d", None) is None, "import response carries the private exponent"

    aek = os.urandom(32)
    # Wrapped in the test with the original key's public half: the server's unwrap proves it holds it.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    wrapped = priv.public_key().encrypt(aek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                          algorithm=hashes.SHA256(), label=None))
    assert env.crypto(imported).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == aek
    # Also a key created in the vault (its private half is unknown here, so only the DER pattern
    # "INTEGER n, INTEGER e, INTEGER ..." of a clear PKCS#1/PKCS#8 body is searched for).
    made = env.keys.create_rsa_key("made1", size=2048)

    needles = private_key_needles(priv)
    needles["created key PKCS#1 body"] = der_int(made.key.n) + der_int(made.key.e) + b"\x02"
    assert_no_needles(server, needles)

    # After a clean shutdown (WAL checkpointed) nothing changes, and the sealed key still works.
    server.stop_and_check()
    assert_no_needles(server, needles)
    server.start()
    env2_cred = sdk_credential(server)
    k = key_client(server, vault_url(server, "cmkvault"), env2_cred).get_key("byok1")
    assert k.key.n == imported.key.n
    assert crypto_client(server, k, env2_cred).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == aek
    assert_no_needles(server, needles)


def test_backup_blob_is_sealed_and_restores(server):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    env = VaultEnv(server, purge_protection=False)
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    imported = env.keys.import_key("byok1", rsa_jwk_of(priv))
    aek = os.urandom(32)
    wrapped = wrap_local(env, imported, aek)
    blob = env.keys.backup_key("byok1")
    assert isinstance(blob, bytes) and len(blob) > 0
    for what, needle in private_key_needles(priv).items():
        assert needle not in blob, f"backup blob contains {what} in clear"
    wait_poller(env.keys.begin_delete_key("byok1"))
    env.keys.purge_deleted_key("byok1")
    restored = env.keys.restore_key_backup(blob)
    assert restored.name == "byok1" and restored.id == imported.id
    assert unwrap_remote(env, restored, wrapped) == aek
    assert env.crypto(restored).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == aek
    # Restoring over an existing key is a conflict.
    expect_status(409, env.keys.restore_key_backup, blob)


# ----------------------------------------------------------------------------------------------
# 9. Managed HSM


def test_managed_hsm_rsa_hsm_key_wraps_and_unwraps(server):
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    hsm = create_managed_hsm(server, "cmkhsm")
    url = hsm_url(server, "cmkhsm")
    assert hsm["properties"]["hsmUri"] == url + "/", hsm["properties"]
    assert hsm["type"].lower() == "microsoft.keyvault/managedhsms", hsm

    # The challenge on the HSM host satisfies the Python client's domain check.
    r = http(server, "GET", url, f"/keys?api-version={DATA_API}")
    assert r.status_code == 401, f"{r.status_code} {r.text}"
    ch = parse_challenge(r.headers.get("WWW-Authenticate", ""))
    assert ch.get("authorization") == f"{server.authorityHost}/{server.tenantId}", ch
    res_netloc = (ch.get("resource") or ch.get("scope", "")).split("://")[-1].split("/")[0]
    assert f"cmkhsm{hsm_suffix(server)}:{server.port}".endswith("." + res_netloc), ch

    cred = sdk_credential(server)
    keys = key_client(server, url, cred)
    key = keys.create_rsa_key("hsmrsa", size=2048, hardware_protected=True)
    assert key.key_type == "RSA-HSM", key.key_type
    assert key.id.startswith(f"{url}/keys/hsmrsa/"), key.id
    assert len(key.key.n) == 256
    for alg in (KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa_oaep):
        aek = os.urandom(32)
        wrapped = crypto_client(server, key, cred).wrap_key(alg, aek).encrypted_key
        assert crypto_client(server, key, cred).unwrap_key(alg, wrapped).key == aek, alg
    # Rotation in the HSM keeps the key type.
    new = keys.rotate_key("hsmrsa")
    assert new.key_type == "RSA-HSM" and new.properties.version != key.properties.version


def test_managed_hsm_oct_hsm_a256kw_round_trip(server):
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    create_managed_hsm(server, "cmkhsm")
    url = hsm_url(server, "cmkhsm")
    cred = sdk_credential(server)
    key = key_client(server, url, cred).create_oct_key("hsmaes", size=256, hardware_protected=True)
    assert key.key_type == "oct-HSM", key.key_type
    assert key.key.k is None, "symmetric key material returned"
    aek = os.urandom(32)
    wrapped = remote_only(crypto_client(server, key, cred)).wrap_key(KeyWrapAlgorithm.aes_256, aek).encrypted_key
    assert len(wrapped) == 40 and wrapped[:32] != aek, "RFC 3394 output"
    assert remote_only(crypto_client(server, key, cred)).unwrap_key(KeyWrapAlgorithm.aes_256, wrapped).key == aek
    # A kid-only client forced remote works as well.
    assert remote_only(crypto_client(server, key.id, cred)).unwrap_key(KeyWrapAlgorithm.aes_256, wrapped).key == aek
    # Tampered input fails the RFC 3394 integrity check.
    bad = bytes([wrapped[0] ^ 1]) + wrapped[1:]
    r = http(server, "POST", f"{key.id}/unwrapkey?api-version={DATA_API}", token=data_token(server, url),
             body={"alg": "A256KW", "value": b64url(bad)})
    assert r.status_code == 400, f"tampered A256KW: {r.status_code} {r.text}"


def test_managed_hsm_key_material_not_exportable(server):
    create_managed_hsm(server, "cmkhsm")
    create_vault(server, "softvault", purge_protection=False)
    url = hsm_url(server, "cmkhsm")
    cred = sdk_credential(server)
    keys = key_client(server, url, cred)
    rsa_key = keys.create_rsa_key("hsmrsa", size=2048, hardware_protected=True)
    aes_key = keys.create_oct_key("hsmaes", size=256, hardware_protected=True)
    tok = data_token(server, url)
    soft_tok = vault_token(server)
    for k in (rsa_key, aes_key):
        r = http(server, "GET", url, f"/keys/{k.name}/{k.properties.version}?api-version={DATA_API}", token=tok)
        assert r.status_code == 200, f"{r.status_code} {r.text}"
        jwk = r.json()["key"]
        for secret in ("d", "p", "q", "dp", "dq", "qi", "k"):
            assert secret not in jwk, f"{k.name}: {secret} returned"
        assert r.json()["attributes"].get("exportable") in (None, False), r.json()["attributes"]
        # release (export) is refused.
        rel = http(server, "POST", url, f"/keys/{k.name}/{k.properties.version}/release?api-version={DATA_API}",
                   token=tok, body={"target": "attestation-token"})
        assert 400 <= rel.status_code < 500, f"release of {k.name}: {rel.status_code} {rel.text}"
        # A backup may be refused; if given, it must not restore into a software vault.
        b = http(server, "POST", url, f"/keys/{k.name}/backup?api-version={DATA_API}", token=tok)
        assert b.status_code == 200 or 400 <= b.status_code < 500, f"backup: {b.status_code} {b.text}"
        if b.status_code == 200:
            blob = b.json()["value"]
            rr = http(server, "POST", vault_url(server, "softvault"), f"/keys/restore?api-version={DATA_API}",
                      token=soft_tok, body={"value": blob})
            assert 400 <= rr.status_code < 500, f"HSM backup restored into a software vault: {rr.status_code} {rr.text}"
            raw = b64url_decode(blob)
            assert der_int(rsa_key.key.n) + der_int(rsa_key.key.e) + b"\x02" not in raw
    # Nothing under the data dir (SoftHSM2 token files included, if kept there) holds a clear
    # PKCS#1/PKCS#8 body for the RSA-HSM key.
    assert_no_needles(server, {"RSA-HSM PKCS#1 body": der_int(rsa_key.key.n) + der_int(rsa_key.key.e) + b"\x02"})
