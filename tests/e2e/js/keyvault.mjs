import fs from "fs";
import assert from "assert/strict";
import { ClientSecretCredential } from "@azure/identity";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";
// Key Vault through @azure/keyvault-keys: challenge, create, local and remote wraps, rotate,
// disable, delete/recover.
const cfg = JSON.parse(fs.readFileSync(process.argv[2]));
const cred = new ClientSecretCredential(cfg.tenantId, cfg.clientId, cfg.clientSecret, { authorityHost: cfg.authorityHost, disableInstanceDiscovery: true });
// vault via raw ARM
const tok = (await cred.getToken(cfg.armScope)).token;
const oid = await (await fetch(`${cfg.armEndpoint}/cmklogs/admin/principals/${cfg.clientId}`, { headers: { authorization: "Bearer " + tok } })).json();
const body = { location: "eastus", properties: { tenantId: cfg.tenantId, sku: { family: "A", name: "standard" }, enablePurgeProtection: true,
  accessPolicies: [{ tenantId: cfg.tenantId, objectId: oid.objectId, permissions: { keys: ["all"] } }] } };
const r = await fetch(`${cfg.armEndpoint}/subscriptions/${cfg.subscriptionId}/resourceGroups/${cfg.resourceGroup}/providers/Microsoft.KeyVault/vaults/jsvault?api-version=2023-07-01`,
  { method: "PUT", headers: { authorization: "Bearer " + tok, "content-type": "application/json" }, body: JSON.stringify(body) });
assert.equal(r.status, 201);
const url = `https://jsvault${cfg.vaultSuffix}:${cfg.port}`;
const kc = new KeyClient(url, cred);
const key = await kc.createRsaKey("jskey", { keySize: 2048 });
assert.ok(key.id.startsWith(`${url}/keys/jskey/`));
const cc = new CryptographyClient(key, cred);
const aek = Buffer.alloc(32, 7);
const w = await cc.wrapKey("RSA-OAEP-256", aek);
const u = await cc.unwrapKey("RSA-OAEP-256", w.result);
assert.ok(Buffer.from(u.result).equals(aek));
const w1 = await cc.wrapKey("RSA-OAEP", aek);
assert.ok(Buffer.from((await cc.unwrapKey("RSA-OAEP", w1.result)).result).equals(aek));
const rotated = await kc.rotateKey("jskey");
assert.notEqual(rotated.properties.version, key.properties.version);
await kc.updateKeyProperties("jskey", key.properties.version, { enabled: false });
await assert.rejects(cc.unwrapKey("RSA-OAEP-256", w.result), (e) => e.statusCode === 403 && e.code === "Forbidden");
const poller = await kc.beginDeleteKey("jskey", { intervalInMs: 200 }); await poller.pollUntilDone();
const rec = await kc.beginRecoverDeletedKey("jskey", { intervalInMs: 200 }); await rec.pollUntilDone();
assert.equal((await kc.getKey("jskey")).name, "jskey");
console.log("keyvault ok");
