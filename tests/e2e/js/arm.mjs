// Control plane through @azure/arm-operationalinsights: MAJOR=11 (modular client) or 9 (core-client).
import fs from "fs";
import assert from "assert/strict";
import { ClientSecretCredential } from "@azure/identity";

const [cfgPath, major, prefix] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(cfgPath));
const cred = new ClientSecretCredential(cfg.tenantId, cfg.clientId, cfg.clientSecret,
  { authorityHost: cfg.authorityHost, disableInstanceDiscovery: true });
const mod = major === "9" ? await import("arm-operationalinsights-v9") : await import("@azure/arm-operationalinsights");
const c = major === "9"
  ? new mod.OperationalInsightsManagementClient(cred, cfg.subscriptionId, { endpoint: cfg.armEndpoint, credentialScopes: [cfg.armScope] })
  : new mod.OperationalInsightsManagementClient(cred, cfg.subscriptionId, { endpoint: cfg.armEndpoint, credentials: { scopes: [cfg.armScope] } });
const rg = cfg.resourceGroup, poll = { updateIntervalInMs: 300 };
const cl = await c.clusters.beginCreateOrUpdateAndWait(rg, `${prefix}cluster`,
  { location: "eastus", identity: { type: "SystemAssigned" }, sku: { name: "CapacityReservation", capacity: 500 } }, poll);
assert.equal(cl.provisioningState, "Succeeded");
assert.ok(cl.identity.principalId);
const ws = await c.workspaces.beginCreateOrUpdateAndWait(rg, `${prefix}ws01`, { location: "eastus" }, poll);
assert.equal(ws.provisioningState, "Succeeded");
const ls = await c.linkedServices.beginCreateOrUpdateAndWait(rg, `${prefix}ws01`, "cluster", { writeAccessResourceId: cl.id }, poll);
assert.equal(ls.provisioningState, "Succeeded");
const linked = await c.workspaces.get(rg, `${prefix}ws01`);
assert.equal(linked.features.clusterResourceId.toLowerCase(), cl.id.toLowerCase());
const up = await c.clusters.beginUpdateAndWait(rg, `${prefix}cluster`, { tags: { a: "b" } }, poll);
assert.equal(up.provisioningState, "Succeeded");
assert.deepEqual(up.tags, { a: "b" });
const unlinked = await c.linkedServices.beginDeleteAndWait(rg, `${prefix}ws01`, "cluster", poll);
assert.ok(unlinked === undefined || unlinked.writeAccessResourceId !== undefined || unlinked.provisioningState !== undefined);
const sa = await c.linkedStorageAccounts.createOrUpdate(rg, `${prefix}ws01`, "Query",
  { storageAccountIds: [`/subscriptions/${cfg.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/sa1`] });
assert.equal(sa.dataSourceType, "Query");
await new Promise((r) => setTimeout(r, 2500));  // let the unlink finish before deleting the cluster
await c.clusters.beginDeleteAndWait(rg, `${prefix}cluster`, poll);
await assert.rejects(c.clusters.get(rg, `${prefix}cluster`), (e) => e.statusCode === 404);
console.log(`arm v${major} ok`);
