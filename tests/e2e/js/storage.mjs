import fs from "fs";
import assert from "assert/strict";
import { ClientSecretCredential } from "@azure/identity";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { AzureNamedKeyCredential, TableClient, odata } from "@azure/data-tables";
// @azure/storage-blob 12.32.0 (Shared Key, then an Entra token) and @azure/data-tables 13.3.2
// (SharedKeyLite) against a customer storage account of cmklogs.
// argv: client-config.json, account name, account key.
const [cfgPath, account, key] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(cfgPath));
const blobUrl = `https://${account}${cfg.blobSuffix}:${cfg.port}/`;
const tableUrl = `https://${account}${cfg.tableSuffix}:${cfg.port}/`;

const shared = new BlobServiceClient(blobUrl, new StorageSharedKeyCredential(account, key));
const container = shared.getContainerClient("jscontainer");
await container.create();
const data = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
const blob = container.getBlockBlobClient("js/big.bin");
await blob.uploadData(data, { blockSize: 1024 * 1024, maxSingleShotSize: 1024 * 1024, metadata: { owner: "js" } });
assert.ok(Buffer.compare(await blob.downloadToBuffer(), data) === 0);
const props = await blob.getProperties();
assert.equal(props.contentLength, data.length);
assert.equal(props.metadata.owner, "js");
const names = [];
for await (const b of container.listBlobsFlat({ prefix: "js/" })) names.push(b.name);
assert.deepEqual(names, ["js/big.bin"]);

const cred = new ClientSecretCredential(cfg.tenantId, cfg.clientId, cfg.clientSecret,
  { authorityHost: cfg.authorityHost, disableInstanceDiscovery: true });
const byToken = new BlobServiceClient(blobUrl, cred).getContainerClient("jscontainer").getBlockBlobClient("js/big.bin");
assert.ok(Buffer.compare(await byToken.downloadToBuffer(), data) === 0);

const table = new TableClient(tableUrl, "jstable", new AzureNamedKeyCredential(account, key));
await table.createTable();
for (let i = 0; i < 10; i++) {
  await table.createEntity({ partitionKey: `p${i % 2}`, rowKey: `r${i}`, n: i, note: "from js" });
}
const rows = [];
for await (const e of table.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${"p1"} and n ge ${5}` } })) {
  rows.push(e.rowKey);
}
assert.deepEqual(rows, ["r5", "r7", "r9"]);
await table.updateEntity({ partitionKey: "p1", rowKey: "r5", extra: "merged" }, "Merge");
const e = await table.getEntity("p1", "r5");
assert.equal(e.n, 5);
assert.equal(e.extra, "merged");
await table.deleteEntity("p1", "r5");
await assert.rejects(table.getEntity("p1", "r5"), (err) => err.statusCode === 404);
console.log("storage js ok");
