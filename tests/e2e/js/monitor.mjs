import fs from "fs";
import assert from "assert/strict";
import { ClientSecretCredential } from "@azure/identity";
import { LogsIngestionClient } from "@azure/monitor-ingestion";
import { LogsQueryClient } from "@azure/monitor-query-logs";
// Logs Ingestion (@azure/monitor-ingestion) and query (@azure/monitor-query-logs) clients:
// upload records in chunks (up to 5 in parallel), then query them, singly and in a batch.
// argv: client-config.json, DCR immutable id, stream, workspace customer id, record count.
const [cfgPath, ruleId, stream, workspaceId, countArg] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(cfgPath));
const cred = new ClientSecretCredential(cfg.tenantId, cfg.clientId, cfg.clientSecret,
  { authorityHost: cfg.authorityHost, disableInstanceDiscovery: true });
const n = Number(countArg);
// Stamped with the client's own clock, one second apart, the newest a second ago: a server whose
// clock lags the client's (a frozen rehearsal clock did) would count the newest rows as future.
const base = Date.now() - n * 1000;
const logs = [];
for (let i = 0; i < n; i++) {
  logs.push({ TimeGenerated: new Date(base + i * 1000).toISOString(), Computer: `js${i % 7}`, Level: "Info",
              EventId: i, DurationMs: i / 4, Message: `js record ${i} ` + "x".repeat(300) });
}
const audience = cfg.ingestionScope.replace(/\/\.default$/, "");
const ingest = new LogsIngestionClient(`https://jsdce${cfg.ingestionSuffix}:${cfg.port}`, cred, { audience });
await ingest.upload(ruleId, stream, logs, { maxConcurrency: 5 });
const query = new LogsQueryClient(cred, { endpoint: `${cfg.queryEndpoint}/v1`, credentials: { scopes: [cfg.queryScope] } });
const r = await query.queryWorkspace(workspaceId, "AppEvents_CL | summarize c = count(), s = sum(EventId)", { duration: "P30D" });
assert.equal(r.status, "Success");
assert.equal(r.tables[0].rows[0][0], n);
assert.equal(r.tables[0].rows[0][1], (n * (n - 1)) / 2);
const t = await query.queryWorkspace(workspaceId, "AppEvents_CL | top 1 by EventId desc | project TimeGenerated, EventId", { duration: "P30D" });
assert.ok(t.tables[0].rows[0][0] instanceof Date);
const batch = await query.queryBatch([
  { workspaceId, query: "AppEvents_CL | count", timespan: { duration: "P30D" } },
  { workspaceId, query: "AppEvents_CL | where", timespan: { duration: "P30D" } },
  { workspaceId, query: "print x = 1", timespan: { duration: "P30D" } },
]);
assert.equal(batch[0].tables[0].rows[0][0], n);
// monitor-query-logs 1.0.0 reports a failed batch item as PartialFailure with the error.
assert.notEqual(batch[1].status, "Success");
assert.equal((batch[1].partialError ?? batch[1].error).code, "BadArgumentError");
assert.equal(batch[2].tables[0].rows[0][0], 1);
let failed = null;
try {
  await ingest.upload("dcr-00000000000000000000000000000000", stream, logs.slice(0, 2));
} catch (e) {
  failed = e;
}
assert.ok(failed, "an upload to an unknown rule must fail");
console.log("monitor ok");
