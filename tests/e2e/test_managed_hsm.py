"""Managed HSM as Azure runs it (issue 20): local RBAC on the HSM's data plane, activation by
security domain download, restore by security domain upload, and the Log Analytics cluster flow
the Managed HSM documentation describes.

Clients: azure-keyvault-administration (KeyVaultAccessControlClient, Debian's 4.3.0b2),
azure-keyvault-keys, azure-mgmt-loganalytics, and az's own security-domain code
(azure.cli.command_modules.keyvault: the restore blob is built by its
_security_domain_restore_blob from the file we download, so our Shamir shares, JWEs and KDF are
checked by Azure's client code). The security-domain requests are sent as az sends them (az 2.45's
keyvault data-plane commands are broken in Debian; README), with the SDK's credential.

One server per module (simulated clock, --key-check-interval 10); the tests run in order and
share the activated HSM.
"""
import datetime
import json
import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from conftest import Server, admin_token, cli, http
from test_cluster_storage import states
from test_control_plane import create_cluster, kv_props, set_key
from test_keyvault import (HSM_API, LOCATION, _fresh_challenge_cache, admin_object_id,  # noqa: F401
                           crypto_client, data_token, hsm_url, key_client, put_role_assignment,
                           sdk_credential, sdk_error, vault_arm_path, vault_resource_id)

SD_API = "7.4"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
SERVICE_ENCRYPTION_USER = "33413926-3206-4cdd-b39a-83574fe37a17"
ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"
ARM_KV_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"


@pytest.fixture(scope="module")
def hsm_server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("mhsm") / "data", ["--simulated-clock", "--key-check-interval", "10"])
    s.start()
    yield s
    s.stop_and_check()


@pytest.fixture(scope="module")
def wrapping_keys(tmp_path_factory):
    return make_wrapping_keys(tmp_path_factory.mktemp("sdkeys"))


def make_wrapping_keys(d):
    """Three RSA key pairs with self-signed certificates, as `openssl req -x509` would make them:
    <d>/cert_i.key (PEM private key) beside <d>/cert_i.cer (PEM certificate), az's layout."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    paths = []
    now = datetime.datetime.utcnow()
    for i in range(3):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sd-{i}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
        (d / f"cert_{i}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (d / f"cert_{i}.cer").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(str(d / f"cert_{i}.key"))
    return d, paths


def activate_for_admin(server, name):
    """Activates a new HSM (security domain download with three fresh certificates) and gives the
    admin Managed HSM Crypto User at "/", as a user does before creating keys in an HSM."""
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        keys = make_wrapping_keys(pathlib.Path(d))
        download_security_domain(server, name, keys, os.path.join(d, "sd.json"))
    url = hsm_url(server, name)
    body = {"properties": {"roleDefinitionId": f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{CRYPTO_USER}",
                           "principalId": admin_object_id(server)}}
    r = http(server, "PUT", url, f"/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?api-version={SD_API}",
             token=data_token(server, url), body=body)
    assert r.status_code == 201, f"role assignment in {name}: {r.status_code} {r.text}"


def put_hsm(server, name):
    body = {"location": LOCATION, "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {"tenantId": server.tenantId, "initialAdminObjectIds": [admin_object_id(server)],
                           "enablePurgeProtection": True}}
    path = vault_arm_path(server, name, kind="managedHSMs", api=HSM_API)
    r = http(server, "PUT", "management", path, token=admin_token(server), body=body)
    assert r.status_code in (200, 201, 202), f"PUT managedHSM: {r.status_code} {r.text}"
    return arm_hsm(server, name)


def arm_hsm(server, name):
    r = http(server, "GET", "management", vault_arm_path(server, name, kind="managedHSMs", api=HSM_API),
             token=admin_token(server))
    assert r.status_code == 200, r.text
    return r.json()


def sd_call(server, name, method, path, body=None):
    url = hsm_url(server, name)
    return http(server, method, url, f"{path}?api-version={SD_API}", token=data_token(server, url), body=body)


def certificate_set(wrapping_keys, quorum=2):
    """The body az's security_domain_download sends: a SecurityDomainJsonWebKey per certificate."""
    import base64
    import hashlib
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    d, _ = wrapping_keys
    certs = []
    for i in range(3):
        cert = x509.load_pem_x509_certificate((d / f"cert_{i}.cer").read_bytes())
        der = cert.public_bytes(Encoding.DER)
        pub = cert.public_key().public_numbers()
        b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
        certs.append({"kty": "RSA", "alg": "RSA-OAEP-256", "key_ops": ["verify", "encrypt", "wrapKey"],
                      "x5c": [base64.b64encode(der).decode()], "x5t": b64u(hashlib.sha1(der).digest()),
                      "x5t#S256": b64u(hashlib.sha256(der).digest()),
                      "n": b64u(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")), "e": b64u(b"\x01\x00\x01")})
    return {"certificates": certs, "required": quorum}


def download_security_domain(server, name, wrapping_keys, out_path):
    r = sd_call(server, name, "POST", "/securitydomain/download", certificate_set(wrapping_keys))
    assert r.status_code in (200, 202), f"download: {r.status_code} {r.text}"
    pending = sd_call(server, name, "GET", "/securitydomain/download/pending")
    assert pending.status_code == 200 and pending.json()["status"] in ("Success", "Succeeded"), pending.text
    with open(out_path, "w") as f:
        f.write(r.json()["value"])
    return out_path


def access_client(server, name):
    from azure.keyvault.administration import KeyVaultAccessControlClient
    return KeyVaultAccessControlClient(hsm_url(server, name), sdk_credential(server),
                                       connection_verify=server.caCertPath)


def role_id(client, guid):
    from azure.keyvault.administration import KeyVaultRoleScope
    for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL):
        if d.name == guid:
            return d.id
    raise AssertionError(f"role definition {guid} not listed")


def expect_http_error(status, fn, *args, **kwargs):
    with pytest.raises(HttpResponseError) as ei:
        fn(*args, **kwargs)
    assert ei.value.status_code == status, f"expected {status}: {ei.value}"
    return sdk_error(ei.value)


STATE = {}


def test_new_hsm_refuses_keys_until_its_security_domain_is_downloaded(hsm_server, wrapping_keys, tmp_path_factory):
    s = hsm_server
    hsm = put_hsm(s, "cmkhsm1")
    sdp = hsm["properties"]["securityDomainProperties"]
    assert sdp["activationStatus"] == "NotActivated", sdp
    keys = key_client(s, hsm_url(s, "cmkhsm1"))
    err = expect_http_error(403, keys.create_rsa_key, "cmk", size=3072, hardware_protected=True)
    assert err.get("innererror", {}).get("code") == "HsmNotActivated", err
    assert "not activated" in err["message"], err

    # Fewer than three certificates are refused; a quorum larger than the set too.
    two = certificate_set(wrapping_keys)
    two["certificates"] = two["certificates"][:2]
    assert sd_call(s, "cmkhsm1", "POST", "/securitydomain/download", two).status_code == 400
    assert sd_call(s, "cmkhsm1", "POST", "/securitydomain/download", certificate_set(wrapping_keys, 4)).status_code == 400

    sd_file = str(tmp_path_factory.mktemp("sd") / "cmkhsm1-sd.json")
    download_security_domain(s, "cmkhsm1", wrapping_keys, sd_file)
    STATE["sd_file"] = sd_file
    assert arm_hsm(s, "cmkhsm1")["properties"]["securityDomainProperties"]["activationStatus"] == "Active"
    # Once only.
    assert sd_call(s, "cmkhsm1", "POST", "/securitydomain/download", certificate_set(wrapping_keys)).status_code == 409

    # Local RBAC: the built-in roles with Azure's ids; the initial admin is Administrator at "/".
    from azure.keyvault.administration import KeyVaultRoleScope
    ac = access_client(s, "cmkhsm1")
    names = {d.role_name for d in ac.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    assert {"Managed HSM Administrator", "Managed HSM Crypto Officer", "Managed HSM Crypto User",
            "Managed HSM Crypto Service Encryption User", "Managed HSM Crypto Auditor",
            "Managed HSM Policy Administrator", "Managed HSM Backup"} <= names, names
    admin = admin_object_id(s)
    mine = [a for a in ac.list_role_assignments(KeyVaultRoleScope.GLOBAL) if a.properties.principal_id == admin]
    assert [a.properties.role_definition_id.rsplit("/", 1)[-1] for a in mine] == [ADMINISTRATOR], mine
    # An Administrator manages the HSM, not its keys (as in Azure).
    err = expect_http_error(403, keys.create_rsa_key, "cmk", size=3072, hardware_protected=True)
    assert err.get("innererror", {}).get("code") == "ForbiddenByRbac", err
    ac.create_role_assignment(KeyVaultRoleScope.GLOBAL, role_id(ac, CRYPTO_USER), admin)
    key = keys.create_rsa_key("cmk", size=3072, hardware_protected=True)
    assert key.key_type == "RSA-HSM" and len(key.key.n) == 384, key.key_type


def test_cluster_uses_the_hsm_key_through_local_rbac_and_loses_it_when_the_assignment_goes(hsm_server):
    s = hsm_server
    from azure.keyvault.administration import KeyVaultRoleScope
    cluster = create_cluster(s, "hsmcluster")
    pid = cluster["identity"]["principalId"]
    kvp = dict(kv_props(s, "cmkhsm1", key="cmk", size=3072), keyVaultUri=hsm_url(s, "cmkhsm1"))

    # An Azure RBAC role at the HSM's ARM scope does not reach its data plane.
    put_role_assignment(s, str(uuid.uuid4()), pid, ARM_KV_SERVICE_ENCRYPTION_USER,
                        vault_resource_id(s, "cmkhsm1", kind="managedHSMs"))
    path = f"{cluster['id']}?api-version=2021-06-01"
    r = http(s, "PATCH", "management", path, token=admin_token(s), body={"properties": {"keyVaultProperties": kvp}})
    assert r.status_code == 400 and "KeyVaultValidationFailed" in r.text, f"{r.status_code} {r.text}"

    # Managed HSM Crypto Service Encryption User at /keys, in the HSM: the key update succeeds.
    ac = access_client(s, "cmkhsm1")
    ra = ac.create_role_assignment(KeyVaultRoleScope.KEYS, role_id(ac, SERVICE_ENCRYPTION_USER), pid)
    assert ra.properties.scope == "/keys", ra.properties.scope
    assert [a.name for a in ac.list_role_assignments(KeyVaultRoleScope.KEYS)] == [ra.name]
    got = set_key(s, "hsmcluster", kvp)
    assert got["properties"]["keyVaultProperties"]["keyVaultUri"].rstrip("/") == hsm_url(s, "cmkhsm1")
    assert states(s, cluster["id"]) == ["Healthy", "Healthy"]

    # Deleting the local assignment revokes within one key check interval; re-adding restores.
    ac.delete_role_assignment(KeyVaultRoleScope.KEYS, ra.name)
    cli(s, "clock", "advance", "10s")
    assert states(s, cluster["id"]) == ["Revoked", "Revoked"]
    ac.create_role_assignment(KeyVaultRoleScope.KEYS, role_id(ac, SERVICE_ENCRYPTION_USER), pid)
    cli(s, "clock", "advance", "10s")
    assert states(s, cluster["id"]) == ["Healthy", "Healthy"]


def test_security_domain_uploaded_into_a_fresh_hsm_restores_the_old_hsms_keys(hsm_server, wrapping_keys, tmp_path):
    from azure.cli.command_modules.keyvault.custom import _security_domain_restore_blob
    from azure.keyvault.administration import KeyVaultRoleScope
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    s = hsm_server
    old_keys = key_client(s, hsm_url(s, "cmkhsm1"))
    moving = old_keys.create_rsa_key("moving", size=2048, hardware_protected=True)
    aek = os.urandom(32)
    wrapped = crypto_client(s, moving).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, aek).encrypted_key
    backup = old_keys.backup_key("moving")

    # This one through azure-mgmt-keyvault, as a user following the documentation would.
    from azure.mgmt.keyvault.models import ManagedHsm, ManagedHsmProperties, ManagedHsmSku
    from test_keyvault import mgmt_client
    created = mgmt_client(s).managed_hsms.begin_create_or_update(
        s.resourceGroup, "cmkhsm2",
        ManagedHsm(location=LOCATION, sku=ManagedHsmSku(family="B", name="Standard_B1"),
                   properties=ManagedHsmProperties(tenant_id=s.tenantId, initial_admin_object_ids=[admin_object_id(s)],
                                                   enable_purge_protection=True))).result(timeout=60)
    assert created.properties.provisioning_state == "Succeeded", created.properties
    assert arm_hsm(s, "cmkhsm2")["properties"]["securityDomainProperties"]["activationStatus"] == "NotActivated"
    # The transfer key, saved as az's security-domain init-recovery saves it (x5c[0] as PEM).
    r = sd_call(s, "cmkhsm2", "GET", "/securitydomain/upload")
    assert r.status_code == 200, r.text
    exchange = json.loads(r.json()["transfer_key"])
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(
        exchange["x5c"][0][i:i + 64] for i in range(0, len(exchange["x5c"][0]), 64)) + "\n-----END CERTIFICATE-----\n"
    exchange_path = tmp_path / "exchange.cer"
    exchange_path.write_text(pem)
    # az's own code turns the downloaded file into a restore blob with two of the three keys.
    _, key_paths = wrapping_keys
    blob = _security_domain_restore_blob(STATE["sd_file"], str(exchange_path), key_paths[1:])
    r = sd_call(s, "cmkhsm2", "POST", "/securitydomain/upload", {"value": blob})
    assert r.status_code in (200, 202), f"upload: {r.status_code} {r.text}"
    pending = sd_call(s, "cmkhsm2", "GET", "/securitydomain/upload/pending")
    assert pending.json()["status"] in ("Success", "Succeeded"), pending.text
    assert arm_hsm(s, "cmkhsm2")["properties"]["securityDomainProperties"]["activationStatus"] == "Active"

    ac = access_client(s, "cmkhsm2")
    ac.create_role_assignment(KeyVaultRoleScope.GLOBAL, role_id(ac, CRYPTO_USER), admin_object_id(s))
    new_keys = key_client(s, hsm_url(s, "cmkhsm2"))
    restored = new_keys.restore_key_backup(backup)
    assert restored.id.startswith(hsm_url(s, "cmkhsm2") + "/keys/moving/"), restored.id
    # Wrapped with the old HSM's key, unwrapped with the new HSM's.
    assert crypto_client(s, restored).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == aek

    # An HSM activated with another security domain cannot restore the backup.
    put_hsm(s, "cmkhsm3")
    download_security_domain(s, "cmkhsm3", wrapping_keys, str(tmp_path / "sd3.json"))
    ac3 = access_client(s, "cmkhsm3")
    ac3.create_role_assignment(KeyVaultRoleScope.GLOBAL, role_id(ac3, CRYPTO_USER), admin_object_id(s))
    expect_http_error(400, key_client(s, hsm_url(s, "cmkhsm3")).restore_key_backup, backup)
