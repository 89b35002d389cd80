"""The official Azure SDK for JavaScript (node) against the server: arm-operationalinsights 11.x
and 9.x, keyvault-keys, monitor-ingestion and monitor-query-logs, configured only from
client-config.json."""
import os
import subprocess

import pytest

from conftest import js_modules

JS_DIR = os.path.join(os.path.dirname(__file__), "js")


@pytest.fixture(scope="module")
def node_modules():
    return js_modules()


def run_node(server, script, *args):
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=server.caCertPath)
    cfg = os.path.join(server.data_dir, "client-config.json")
    out = subprocess.run(["node", os.path.join(JS_DIR, script), cfg, *args], cwd=JS_DIR, env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"{script} {args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("major", ["11", "9"])
def test_arm_operationalinsights_js(server, node_modules, major):
    from test_control_plane import LOCATION, arm, ok_json
    # arm.mjs links storage account sa1 as `Query`, which moves saved searches into it: it must
    # exist (issue 15).
    sa = (f"/subscriptions/{server.subscriptionId}/resourceGroups/{server.resourceGroup}"
          f"/providers/Microsoft.Storage/storageAccounts/sa1")
    ok_json(arm(server, "PUT", f"{sa}?api-version=2023-01-01",
                {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOCATION}), 200)
    assert f"arm v{major} ok" in run_node(server, "arm.mjs", major, f"js{major}")


def test_keyvault_keys_js(server, node_modules):
    assert "keyvault ok" in run_node(server, "keyvault.mjs")


def test_monitor_ingestion_and_query_js(server, node_modules):
    from test_control_plane import create_workspace
    from test_ingest_query import create_dcr, create_table, customer_id
    create_workspace(server, "wsjs")
    create_table(server, "wsjs")
    rule = create_dcr(server, "dcrjs", "wsjs")["properties"]["immutableId"]
    assert "monitor ok" in run_node(server, "monitor.mjs", rule, "Custom-AppEvents", customer_id(server, "wsjs"), "3000")
