"""Microsoft.Insights data collection endpoints (DCE) and rules (DCR), driven by the stock Debian
Python SDK (azure-mgmt-monitor, the v2022_02_01_preview operation groups, which send
api-version 2021-09-01-preview: the first with streamDeclarations and dataFlows[].transformKql),
with a workspace and a custom table made through azure-mgmt-loganalytics, and raw REST where the
SDK model lacks a field (`properties.endpoints` of a Direct rule) or a newer api-version matters.
"""

import json
import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from conftest import admin_token, arm_error, http, sdk_credential

LOCATION = "eastus"
DCR_API = "2023-03-11"


def monitor_client(server):
    from azure.mgmt.monitor.v2022_02_01_preview import MonitorManagementClient
    return MonitorManagementClient(
        sdk_credential(server), server.subscriptionId, base_url=server.armEndpoint,
        credential_scopes=[server.armScope], connection_verify=server.caCertPath)


def la_client(server):
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient
    return LogAnalyticsManagementClient(
        sdk_credential(server), server.subscriptionId, base_url=server.armEndpoint,
        credential_scopes=[server.armScope], connection_verify=server.caCertPath, polling_interval=1)


def make_workspace(server, name):
    from azure.mgmt.loganalytics.models import Column, Schema, Table, Workspace, WorkspaceSku
    la = la_client(server)
    ws = la.workspaces.begin_create_or_update(
        server.resourceGroup, name,
        Workspace(location=LOCATION, sku=WorkspaceSku(name="PerGB2018"), retention_in_days=30)).result(timeout=60)
    la.tables.begin_create_or_update(
        server.resourceGroup, name, "MyTable_CL",
        Table(schema=Schema(name="MyTable_CL", columns=[
            Column(name="TimeGenerated", type="dateTime"), Column(name="Message", type="string"),
            Column(name="Level", type="int")]))).result(timeout=60)
    return ws


def rule_model(ws_id, *, kind="Direct", dce_id=None, column_type="int",
               transform="source | extend Level = toint(Level)", output="Custom-MyTable_CL"):
    from azure.mgmt.monitor.v2022_02_01_preview.models import (
        ColumnDefinition, DataCollectionRuleDestinations, DataCollectionRuleResource, DataFlow,
        LogAnalyticsDestination, StreamDeclaration)
    return DataCollectionRuleResource(
        location=LOCATION, kind=kind, data_collection_endpoint_id=dce_id, description="e2e rule",
        stream_declarations={"Custom-MyStream": StreamDeclaration(columns=[
            ColumnDefinition(name="TimeGenerated", type="datetime"),
            ColumnDefinition(name="Message", type="string"),
            ColumnDefinition(name="Level", type=column_type)])},
        destinations=DataCollectionRuleDestinations(log_analytics=[
            LogAnalyticsDestination(workspace_resource_id=ws_id, name="la")]),
        data_flows=[DataFlow(streams=["Custom-MyStream"], destinations=["la"], transform_kql=transform,
                             output_stream=output)])


def sdk_error(excinfo):
    """(status, code, detail code, message) of an SDK HttpResponseError from our server."""
    e = excinfo.value
    body = json.loads(e.response.text())
    details = body["error"].get("details") or [{}]
    return e.status_code, body["error"]["code"], details[0].get("code"), body["error"]["message"]


def test_dce_and_dcr_lifecycle_with_the_sdk(server):
    from azure.mgmt.monitor.v2022_02_01_preview.models import (
        DataCollectionEndpointResource, ResourceForUpdate)
    mc = monitor_client(server)
    rg = server.resourceGroup
    ws = make_workspace(server, "dcr-ws1")

    dce = mc.data_collection_endpoints.create(
        rg, "my-dce", DataCollectionEndpointResource(location=LOCATION, tags={"a": "b"}))
    assert re.fullmatch(r"dce-[0-9a-f]{32}", dce.immutable_id)
    assert dce.provisioning_state == "Succeeded"
    host = re.fullmatch(r"https://(my-dce-[0-9a-f]{4})\.ingest\.([^/]+)", dce.logs_ingestion.endpoint)
    assert host, dce.logs_ingestion.endpoint
    assert host.group(2) == f"{server.domain}:{server.port}"
    assert dce.configuration_access.endpoint.startswith("https://")
    assert dce.network_acls.public_network_access == "Enabled"
    assert mc.data_collection_endpoints.get(rg, "my-dce").immutable_id == dce.immutable_id

    dcr = mc.data_collection_rules.create(rg, "my-dcr", rule_model(ws.id, dce_id=dce.id))
    assert re.fullmatch(r"dcr-[0-9a-f]{32}", dcr.immutable_id)
    assert dcr.provisioning_state == "Succeeded"
    assert dcr.kind == "Direct"
    assert dcr.data_collection_endpoint_id.lower() == dce.id.lower()
    dest = dcr.destinations.log_analytics[0]
    assert dest.workspace_id == ws.customer_id
    assert dcr.data_flows[0].transform_kql == "source | extend Level = toint(Level)"
    assert dcr.data_flows[0].output_stream == "Custom-MyTable_CL"
    assert [c.type for c in dcr.stream_declarations["Custom-MyStream"].columns] == ["datetime", "string", "int"]
    assert dcr.etag and dcr.system_data.created_at is not None

    # The SDK model of this version has no `endpoints`: read it raw, with a newer api-version.
    r = http(server, "GET", "management", f"{dcr.id}?api-version={DCR_API}", token=admin_token(server))
    assert r.status_code == 200, r.text
    endpoint = r.json()["properties"]["endpoints"]["logsIngestion"]
    assert endpoint == f"https://{dcr.immutable_id}.ingest.{server.domain}:{server.port}"

    # An update (PUT again) keeps the immutable id.
    again = mc.data_collection_rules.create(rg, "my-dcr", rule_model(ws.id, dce_id=dce.id, transform="source"))
    assert again.immutable_id == dcr.immutable_id
    assert again.data_flows[0].transform_kql == "source"

    names = [x.name for x in mc.data_collection_rules.list_by_resource_group(rg)]
    assert names == ["my-dcr"]
    assert "my-dcr" in [x.name for x in mc.data_collection_rules.list_by_subscription()]
    assert "my-dce" in [x.name for x in mc.data_collection_endpoints.list_by_subscription()]
    assert [x.name for x in mc.data_collection_endpoints.list_by_resource_group(rg)] == ["my-dce"]

    updated = mc.data_collection_rules.update(rg, "my-dcr", ResourceForUpdate(tags={"team": "obs"}))
    assert updated.tags == {"team": "obs"}
    assert updated.immutable_id == dcr.immutable_id
    dce_tags = mc.data_collection_endpoints.update(rg, "my-dce", ResourceForUpdate(tags={"x": "y"}))
    assert dce_tags.tags == {"x": "y"}

    mc.data_collection_rules.delete(rg, "my-dcr")
    with pytest.raises(ResourceNotFoundError):
        mc.data_collection_rules.get(rg, "my-dcr")
    mc.data_collection_rules.delete(rg, "my-dcr")  # 204: already gone
    mc.data_collection_endpoints.delete(rg, "my-dce")
    assert list(mc.data_collection_endpoints.list_by_resource_group(rg)) == []


def test_dcr_rules_survive_a_restart(server):
    mc = monitor_client(server)
    ws = make_workspace(server, "dcr-ws2")
    dcr = mc.data_collection_rules.create(server.resourceGroup, "kept", rule_model(ws.id))
    server.stop_and_check()
    server.start()
    got = monitor_client(server).data_collection_rules.get(server.resourceGroup, "kept")
    assert got.immutable_id == dcr.immutable_id
    assert got.destinations.log_analytics[0].workspace_id == ws.customer_id


def test_dcr_validation_errors(server):
    mc = monitor_client(server)
    rg = server.resourceGroup
    ws = make_workspace(server, "dcr-ws3")
    missing = ws.id.rsplit("/", 1)[0] + "/no-such-ws"

    with pytest.raises(HttpResponseError) as e:
        mc.data_collection_rules.create(rg, "bad", rule_model(missing))
    status, code, detail, msg = sdk_error(e)
    assert (status, code, detail) == (400, "InvalidPayload", "InvalidWorkspace")
    assert "no-such-ws" in msg

    with pytest.raises(HttpResponseError) as e:
        mc.data_collection_rules.create(rg, "bad", rule_model(ws.id, column_type="decimal"))
    status, code, detail, msg = sdk_error(e)
    assert (status, detail) == (400, "InvalidColumnType")
    assert "Level" in msg and "decimal" in msg

    with pytest.raises(HttpResponseError) as e:
        mc.data_collection_rules.create(rg, "bad", rule_model(ws.id, transform="source | where (Level > 1"))
    status, code, detail, msg = sdk_error(e)
    assert (status, detail) == (400, "InvalidTransformQuery")
    assert re.search(r"\d+:\d+", msg), msg

    with pytest.raises(HttpResponseError) as e:
        mc.data_collection_rules.create(rg, "bad", rule_model(ws.id, output="Custom-Absent_CL"))
    assert sdk_error(e)[2] == "InvalidOutputTable"

    dce_id = ws.id.split("/providers/")[0] + "/providers/Microsoft.Insights/dataCollectionEndpoints/nope"
    with pytest.raises(HttpResponseError) as e:
        mc.data_collection_rules.create(rg, "bad", rule_model(ws.id, dce_id=dce_id))
    assert sdk_error(e)[2] == "InvalidDataCollectionEndpointId"

    with pytest.raises(ResourceNotFoundError):
        mc.data_collection_rules.get(rg, "bad")

    # Raw REST: location is required; PATCH takes only tags and identity.
    base = f"/subscriptions/{server.subscriptionId}/resourceGroups/{rg}/providers/Microsoft.Insights"
    r = http(server, "PUT", "management", f"{base}/dataCollectionRules/noloc?api-version={DCR_API}",
             token=admin_token(server), body={"properties": {}})
    assert r.status_code == 400 and arm_error(r)["code"] == "LocationRequired"
    mc.data_collection_rules.create(rg, "good", rule_model(ws.id))
    r = http(server, "PATCH", "management", f"{base}/dataCollectionRules/good?api-version={DCR_API}",
             token=admin_token(server), body={"properties": {"description": "x"}})
    assert r.status_code == 400, r.text
