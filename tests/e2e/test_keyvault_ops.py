"""Key Vault operations a vault's operator relies on: the audit log (CLI) and vault recovery."""
import json
import os

from conftest import admin_token, cli, http, sdk_credential  # noqa: F401
from test_keyvault import (_fresh_challenge_cache, admin_object_id, create_vault, crypto_client,  # noqa: F401
                           key_client, vault_arm_path, vault_url)


def test_audit_cli_lists_unwraps_with_caller_and_no_values(server):
    create_vault(server, "auditvault")
    kc = key_client(server, vault_url(server, "auditvault"))
    key = kc.create_rsa_key("kek", size=2048)
    cc = crypto_client(server, key)
    from azure.keyvault.keys.crypto import KeyWrapAlgorithm
    secret = os.urandom(32)
    wrapped = cc.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret)
    assert cc.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret
    out = cli(server, "vault", "audit", "--vault", "auditvault")
    entries = json.loads(out.stdout)["value"]
    ops = [e["operation"] for e in entries]
    assert "createKey" in ops and "unwrapKey" in ops, ops
    unwrap = [e for e in entries if e["operation"] == "unwrapKey"][-1]
    assert unwrap["callerObjectId"] == admin_object_id(server)
    assert unwrap["key"] == "kek" and unwrap["status"] == 200
    assert unwrap["version"] == key.properties.version
    assert unwrap["latencyUs"] >= 0
    import base64
    for text in (secret.hex(), base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
                 base64.b64encode(secret).decode()):
        assert text not in out.stdout
    # Entries of other vaults are not listed; an unknown vault lists nothing.
    assert json.loads(cli(server, "vault", "audit", "--vault", "othervault").stdout)["value"] == []


def test_soft_deleted_vault_recovers_with_its_keys(server):
    create_vault(server, "recovault")
    kc = key_client(server, vault_url(server, "recovault"))
    kc.create_rsa_key("kek", size=2048)
    tok = admin_token(server)
    r = http(server, "DELETE", "management", vault_arm_path(server, "recovault"), token=tok)
    assert r.status_code in (200, 204), r.text
    assert http(server, "GET", "management", vault_arm_path(server, "recovault"), token=tok).status_code == 404
    # createMode=recover brings the vault back, keys included.
    body = {"location": "eastus", "properties": {"tenantId": server.tenantId, "sku": {"family": "A", "name": "standard"},
                                                  "createMode": "recover"}}
    r = http(server, "PUT", "management", vault_arm_path(server, "recovault"), token=tok, body=body)
    assert r.status_code in (200, 201), r.text
    assert r.json()["properties"]["vaultUri"].startswith("https://recovault.vault.")
    from azure.keyvault.keys._shared import http_challenge_cache
    http_challenge_cache.clear()
    assert key_client(server, vault_url(server, "recovault")).get_key("kek").name == "kek"
    # Recovering a vault that is not deleted is refused.
    r = http(server, "PUT", "management", vault_arm_path(server, "nosuchvault"), token=tok, body=body)
    assert r.status_code == 404, r.text


def test_sign_remotely_verify_locally_and_remotely(server):
    import hashlib
    from azure.keyvault.keys.crypto import SignatureAlgorithm
    create_vault(server, "signvault")
    kc = key_client(server, vault_url(server, "signvault"))
    key = kc.create_rsa_key("signer", size=2048)
    cc = crypto_client(server, key)
    digest = hashlib.sha256(b"the message").digest()
    for alg, name in ((SignatureAlgorithm.rs256, "RS256"), (SignatureAlgorithm.ps256, "PS256")):
        signed = cc.sign(alg, digest)
        assert len(signed.signature) == 256
        assert cc.verify(alg, digest, signed.signature).is_valid  # local verification (SDK)
        tok = admin_token(server, scope=f"https://vault.{server.domain}:{server.port}/.default")
        import base64
        b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        r = http(server, "POST", vault_url(server, "signvault"), f"/keys/signer/{key.properties.version}/verify?api-version=7.4",
                 token=tok, body={"alg": name, "digest": b64(digest), "value": b64(signed.signature)})
        assert r.status_code == 200 and r.json()["value"] is True, r.text
        bad = hashlib.sha256(b"another message").digest()
        r = http(server, "POST", vault_url(server, "signvault"), f"/keys/signer/{key.properties.version}/verify?api-version=7.4",
                 token=tok, body={"alg": name, "digest": b64(bad), "value": b64(signed.signature)})
        assert r.status_code == 200 and r.json()["value"] is False, r.text
    # A digest of the wrong length is refused.
    r = http(server, "POST", vault_url(server, "signvault"), f"/keys/signer/{key.properties.version}/sign?api-version=7.4",
             token=tok, body={"alg": "RS256", "value": "AAAA"})
    assert r.status_code == 400, r.text
