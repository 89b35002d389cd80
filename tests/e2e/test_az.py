"""az from the first command to a linked CMK workspace (issue 17).

The README's `az` block (cloud registration with the Microsoft Graph endpoint, login) and every
```sh block of docs/az.md are extracted from the files and run, as written, by bash with the
unmodified Debian az (through scripts/az) against a real server on port 0, from a directory laid
out as the repository root (scripts/, cmklogs-data/) with HOME, TMPDIR and so AZURE_CONFIG_DIR
in the test's temp dir. Then the Graph subset is called raw (azure-identity token + requests).
"""
import base64
import json
import os
import re
import subprocess

import requests

from conftest import admin_token, http, new_principal, sdk_credential

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AZ_TIMEOUT_S = 900
OI = "Microsoft.OperationalInsights"


def readme_az_block():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("### Azure CLI (`az`)"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def doc_blocks():
    text = open(os.path.join(ROOT, "docs", "az.md")).read()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    assert len(blocks) >= 6, "docs/az.md lost its walkthrough"
    return blocks


def run_bash(workdir, script, env_out):
    """Runs `script` with bash -e in `workdir`; every failing command is named on stderr. The
    variables a later az call needs (the config dir, the CA bundle) are written to env_out."""
    home = os.path.join(workdir, "home")
    tmp = os.path.join(workdir, "tmp")
    os.makedirs(home, exist_ok=True)
    os.makedirs(tmp, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "REQUESTS_", "CMKLOGS_", "PYTHON"))}
    env.update(HOME=home, TMPDIR=tmp)
    prologue = ("set -eEuo pipefail\n"
                "trap 'echo \"FAILED (exit $?): $BASH_COMMAND\" >&2' ERR\n"
                "set -x\n")
    epilogue = ("\nset +x\nfor v in CFG HOME AZURE_CONFIG_DIR REQUESTS_CA_BUNDLE "
                "AZURE_CORE_COLLECT_TELEMETRY; do echo \"$v=${!v-}\"; done > " + env_out + "\n")
    p = subprocess.run(["bash", "-c", prologue + script + epilogue], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=AZ_TIMEOUT_S)
    assert p.returncode == 0, (f"walkthrough failed (exit {p.returncode})\n"
                               f"--- stdout ---\n{p.stdout[-6000:]}\n--- stderr ---\n{p.stderr[-12000:]}")
    out = {}
    for line in open(env_out):
        k, _, v = line.rstrip("\n").partition("=")
        out[k] = v
    return p, out


def layout(tmp_path):
    """tmp_path as the repository root: scripts/ (the real one) and cmklogs-data/ (the server)."""
    os.symlink(os.path.join(ROOT, "scripts"), tmp_path / "scripts")
    return str(tmp_path)


def az(workdir, vars_, *args):
    """One more az command in the walkthrough's logged-in config dir; returns parsed JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "REQUESTS_"))}
    for k in ("AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE", "AZURE_CORE_COLLECT_TELEMETRY", "HOME"):
        env[k] = vars_[k]
    p = subprocess.run([os.path.join(ROOT, "scripts", "az"), *args, "-o", "json"], cwd=workdir,
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"az {' '.join(args)} exited {p.returncode}: {p.stderr[-4000:]}"
    return json.loads(p.stdout)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def arm_get(server, path, api):
    r = http(server, "GET", "management", f"{path}?api-version={api}", token=admin_token(server))
    assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text}"
    return r.json()


def test_walkthrough_commands_run_as_written_and_link_the_workspace(server_factory, tmp_path):
    server = server_factory(name="cmklogs-data")
    workdir = layout(tmp_path)
    script = readme_az_block() + "\n" + "\n".join(doc_blocks())
    p, v = run_bash(workdir, script, os.path.join(workdir, "walkthrough.env"))
    assert "cmklogs-data" in v["CFG"]
    assert v["AZURE_CONFIG_DIR"].startswith(os.path.join(workdir, "tmp"))

    # The workspace ends up linked to a cluster whose key is set: read back over ARM, not az.
    rg = f"/subscriptions/{server.subscriptionId}/resourceGroups/{server.resourceGroup}"
    workspaces = arm_get(server, f"{rg}/providers/{OI}/workspaces", "2022-10-01")["value"]
    linked = []
    for ws in workspaces:
        r = http(server, "GET", "management",
                 f"{ws['id']}/linkedServices/cluster?api-version=2020-08-01",
                 token=admin_token(server))
        if r.status_code == 200:
            linked.append((ws, r.json()["properties"]["writeAccessResourceId"]))
    assert len(linked) == 1, f"expected one linked workspace, got {linked}"
    ws, cluster_id = linked[0]
    cluster = arm_get(server, cluster_id, "2021-06-01")
    kv = cluster["properties"]["keyVaultProperties"]
    assert kv["keyName"] == "cmk" and kv["keyVaultUri"].startswith("https://"), cluster
    assert cluster["properties"]["provisioningState"] == "Succeeded", cluster
    searches = arm_get(server, f"{ws['id']}/savedSearches", "2020-08-01")["value"]
    assert any(s["properties"]["displayName"] == "Errors by hour" for s in searches), searches

    # az ad sp show by appId and by the cluster identity's object id.
    me = az(workdir, v, "ad", "sp", "show", "--id", server.clientId)
    assert me["appId"] == server.clientId and me["servicePrincipalType"] == "Application", me
    assert me["id"] == jwt_claims(admin_token(server))["oid"]
    principal = cluster["identity"]["principalId"]
    mi = az(workdir, v, "ad", "sp", "show", "--id", principal)
    assert mi["id"] == principal and mi["servicePrincipalType"] == "ManagedIdentity", mi
    assert mi["displayName"] and mi["appId"], mi
    # The walkthrough printed the same identity from inside (step 2).
    assert '"type": "ManagedIdentity"' in p.stdout


def test_keyvault_create_adds_the_signed_in_principals_access_policy(server_factory, tmp_path):
    server = server_factory(name="cmklogs-data")
    workdir = layout(tmp_path)
    script = readme_az_block() + (
        "\naz keyvault create -g $(jq -r .resourceGroup $CFG) -n apvault01"
        " -l $(jq -r .location $CFG) --enable-purge-protection true\n")
    _, v = run_bash(workdir, script, os.path.join(workdir, "kv.env"))
    vault = az(workdir, v, "keyvault", "show", "-g", server.resourceGroup, "-n", "apvault01")
    policies = vault["properties"]["accessPolicies"]
    oid = jwt_claims(admin_token(server))["oid"]
    assert len(policies) == 1, policies
    assert policies[0]["objectId"] == oid and policies[0]["tenantId"] == server.tenantId
    perms = policies[0]["permissions"]
    assert [p.lower() for p in perms["keys"]] == ["all"], perms
    assert [p.lower() for p in perms["secrets"]] == ["all"], perms
    assert vault["properties"]["enablePurgeProtection"] is True


# -- raw Graph calls: an azure-identity token for graphScope, then requests ----------------------


def graph(server, method, path, token, **kw):
    kw.setdefault("timeout", 30)
    return requests.request(method, server.graphEndpoint + path, verify=server.caCertPath,
                            headers={"Authorization": f"Bearer {token}"} if token else {}, **kw)


def graph_error(r, status, code):
    assert r.status_code == status, f"{r.status_code} {r.text}"
    body = r.json()
    err = body["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"], body
    inner = err["innerError"]
    assert inner["request-id"] and inner["client-request-id"] and inner["date"], body
    return err


def test_graph_subset_answers_in_graphs_shapes(server):
    assert server.graphEndpoint.startswith("https://graph.")
    token = sdk_credential(server).get_token(server.graphScope).token
    admin_oid = jwt_claims(token)["oid"]
    base = server.graphEndpoint + "/v1.0/$metadata#"

    r = graph(server, "GET", f"/v1.0/servicePrincipals/{admin_oid}", token)
    assert r.status_code == 200, r.text
    sp = r.json()
    assert sp["@odata.context"] == base + "servicePrincipals/$entity"
    assert sp["id"] == admin_oid and sp["appId"] == server.clientId
    assert sp["servicePrincipalType"] == "Application" and sp["displayName"] == "cmklogs-admin"
    assert sp["servicePrincipalNames"] == [server.clientId]

    for f in (f"appId eq '{server.clientId}'",
              f"servicePrincipalNames/any(c:c eq '{server.clientId}')"):
        r = graph(server, "GET", "/v1.0/servicePrincipals", token, params={"$filter": f})
        assert r.status_code == 200, r.text
        assert r.json()["@odata.context"] == base + "servicePrincipals"
        assert [x["id"] for x in r.json()["value"]] == [admin_oid]

    r = graph(server, "GET", "/v1.0/users", token,
              params={"$filter": "userPrincipalName eq 'nobody@example.com'"})
    assert r.status_code == 200 and r.json() == {"@odata.context": base + "users", "value": []}

    r = graph(server, "GET", "/v1.0/applications", token,
              params={"$filter": f"appId eq '{server.clientId}'"})
    assert r.status_code == 200, r.text
    apps = r.json()["value"]
    assert len(apps) == 1 and apps[0]["appId"] == server.clientId and apps[0]["id"] != admin_oid

    r = graph(server, "POST", "/v1.0/directoryObjects/getByIds", token,
              json={"ids": [admin_oid, "00000000-0000-4000-8000-000000000000"],
                    "types": ["user", "group", "servicePrincipal"]})
    assert r.status_code == 200, r.text
    assert r.json()["@odata.context"] == base + "directoryObjects"
    assert [(x["@odata.type"], x["id"]) for x in r.json()["value"]] == \
        [("#microsoft.graph.servicePrincipal", admin_oid)]

    r = graph(server, "GET", f"/v1.0/directoryObjects/{admin_oid}", token)
    assert r.status_code == 200 and r.json()["@odata.type"] == "#microsoft.graph.servicePrincipal"

    # /me: Graph's answer to an app-only token.
    graph_error(graph(server, "GET", "/v1.0/me", token), 400, "BadRequest")
    # A managed identity is a service principal of type ManagedIdentity.
    arm = admin_token(server)
    cid = (f"/subscriptions/{server.subscriptionId}/resourceGroups/{server.resourceGroup}"
           f"/providers/{OI}/clusters/graphcluster")
    r = http(server, "PUT", "management", f"{cid}?api-version=2021-06-01", token=arm,
             body={"location": server.location, "identity": {"type": "SystemAssigned"},
                   "sku": {"name": "CapacityReservation", "capacity": 500}})
    assert r.status_code in (200, 201), r.text
    mi_oid = r.json()["identity"]["principalId"]
    r = graph(server, "GET", f"/v1.0/servicePrincipals/{mi_oid}", token)
    assert r.status_code == 200 and r.json()["servicePrincipalType"] == "ManagedIdentity", r.text


def test_graph_refuses_unauthorized_callers_and_hostile_filters_in_graphs_shape(server):
    r = graph(server, "GET", "/v1.0/servicePrincipals", None)
    assert graph_error(r, 401, "InvalidAuthenticationToken")["message"] == "Access token is empty."
    assert "Bearer" in r.headers.get("WWW-Authenticate", "")
    arm_token = admin_token(server)  # a token for ARM, not Graph
    err = graph_error(graph(server, "GET", "/v1.0/servicePrincipals", arm_token), 401,
                      "InvalidAuthenticationToken")
    assert "audience" in err["message"].lower()
    graph_error(graph(server, "GET", "/v1.0/servicePrincipals", "x.y.z"), 401,
                "InvalidAuthenticationToken")

    # Any principal of the tenant reads service principals; nobody writes them.
    sp = new_principal(server, "reader-of-nothing")
    token = sdk_credential(server, sp["clientId"], sp["clientSecret"]).get_token(
        server.graphScope).token
    r = graph(server, "GET", f"/v1.0/servicePrincipals/{sp['objectId']}", token)
    assert r.status_code == 200 and r.json()["appId"] == sp["clientId"]
    graph_error(graph(server, "POST", "/v1.0/servicePrincipals", token,
                      json={"appId": sp["clientId"]}), 403, "Authorization_RequestDenied")
    graph_error(graph(server, "DELETE", f"/v1.0/servicePrincipals/{sp['objectId']}", token), 403,
                "Authorization_RequestDenied")
    graph_error(graph(server, "GET", "/v1.0/servicePrincipals/00000000-0000-4000-8000-000000000000",
                      token), 404, "Request_ResourceNotFound")

    for f in ("appId eq 'x' or 1 eq 1", "(" * 300 + "appId eq 'x'", "a" * 5000,
              "appId eq 'unterminated", "\x00\x01"):
        graph_error(graph(server, "GET", "/v1.0/servicePrincipals", token, params={"$filter": f}),
                    400, "BadRequest")
    graph_error(graph(server, "GET", "/v1.0/servicePrincipals", token,
                      params={"$filter": "passwordCredentials/any(c:c eq 'x')"}),
                400, "Request_UnsupportedQuery")
    graph_error(graph(server, "GET", "/v1.0/nothingHere", token), 400, "BadRequest")
    assert server.alive()
