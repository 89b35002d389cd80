"""Customers' own storage accounts (issue 15, docs/storage-accounts.md): Microsoft.Storage
storageAccounts through the Debian azure-mgmt-storage SDK, their Blob endpoint through
azure-storage-blob (Shared Key and Entra tokens), all under the account's customer-managed key:
revoking the key makes the data plane answer 403 KeyVaultEncryptionKeyNotFound within one check
interval, restoring it brings it back. One server for the module (simulated clock,
--key-check-interval 10); the tests run in order and build on each other."""
import json
import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from conftest import Server, cli, http, sdk_credential
from test_control_plane import LOCATION, UAI_API, arm, grant_policy, ok_json, uai_id, vault_with_key
from test_keyvault import _fresh_challenge_cache, admin_object_id, put_role_assignment, vault_url  # noqa: F401

ACCOUNT = "byosacct1"
MARKER = b"cmklogs-byos-marker-5d1c"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # The alert test's webhook receiver runs on this host: the operator's flag lets webhooks call it.
    s = Server(tmp_path_factory.mktemp("byos") / "data",
               ["--simulated-clock", "--key-check-interval", "10", "--webhook-allow-loopback"])
    s.start()
    yield s
    s.stop_and_check()


def storage_client(s):
    from azure.mgmt.storage import StorageManagementClient
    return StorageManagementClient(sdk_credential(s), s.subscriptionId, base_url=s.armEndpoint,
                                   credential_scopes=[s.armScope], connection_verify=s.caCertPath,
                                   polling_interval=1)


def account_id(s, name=ACCOUNT, rg=None):
    return (f"/subscriptions/{s.subscriptionId}/resourceGroups/{rg or s.resourceGroup}"
            f"/providers/Microsoft.Storage/storageAccounts/{name}")


def blob_url(s, name=ACCOUNT):
    return f"https://{name}{s.cfg['blobSuffix']}:{s.port}/"


def blob_client(s, credential, **kw):
    from azure.storage.blob import BlobServiceClient
    return BlobServiceClient(blob_url(s), credential=credential, connection_verify=s.caCertPath, **kw)


def account_key(s):
    """The Shared Key credential: a dict, because the SDK reads the account name from the host
    only under *.core.windows.net."""
    keys = storage_client(s).storage_accounts.list_keys(s.resourceGroup, ACCOUNT)
    return {"account_name": ACCOUNT, "account_key": keys.keys[0].value}


def cmk_params(s, uai):
    from azure.mgmt.storage.models import (Encryption, EncryptionIdentity, EncryptionService, EncryptionServices,
                                           Identity, KeyVaultProperties, Sku, StorageAccountCreateParameters,
                                           UserAssignedIdentity)
    return StorageAccountCreateParameters(
        sku=Sku(name="Standard_LRS"), kind="StorageV2", location=LOCATION,
        identity=Identity(type="UserAssigned", user_assigned_identities={uai: UserAssignedIdentity()}),
        encryption=Encryption(
            key_source="Microsoft.Keyvault",
            key_vault_properties=KeyVaultProperties(key_name="cmk1", key_version="",
                                                    key_vault_uri=vault_url(s, "byosvault")),
            encryption_identity=EncryptionIdentity(encryption_user_assigned_identity=uai),
            services=EncryptionServices(table=EncryptionService(enabled=True, key_type="Account"))))


def test_account_under_a_customer_key_through_a_user_assigned_identity(srv):
    s = srv
    kc, key = vault_with_key(s, "byosvault")
    s.kc, s.key = kc, key
    uai = ok_json(arm(s, "PUT", f"{uai_id(s, 'byosuai')}?api-version={UAI_API}", {"location": LOCATION}), 200, 201)
    client = storage_client(s)
    # Without access to the key the account is refused, and nothing is created.
    with pytest.raises(HttpResponseError) as e:
        client.storage_accounts.begin_create(s.resourceGroup, ACCOUNT, cmk_params(s, uai["id"])).result()
    assert e.value.status_code == 400 and "KeyVaultAuthenticationFailure" in str(e.value), e.value
    assert client.storage_accounts.check_name_availability({"name": ACCOUNT}).name_available
    grant_policy(s, "byosvault", uai["properties"]["principalId"])
    acct = client.storage_accounts.begin_create(s.resourceGroup, ACCOUNT, cmk_params(s, uai["id"])).result()
    assert acct.provisioning_state == "Succeeded"
    assert acct.primary_endpoints.blob == blob_url(s)
    assert acct.primary_endpoints.table == f"https://{ACCOUNT}{s.cfg['tableSuffix']}:{s.port}/"
    kvp = acct.encryption.key_vault_properties
    assert acct.encryption.key_source == "Microsoft.Keyvault"
    assert kvp.current_versioned_key_identifier.endswith("/keys/cmk1/" + key.properties.version), kvp
    assert acct.encryption.services.table.key_type == "Account"
    got = client.storage_accounts.get_properties(s.resourceGroup, ACCOUNT)
    assert got.encryption.encryption_identity.encryption_user_assigned_identity.lower() == uai["id"].lower()
    assert [a.name for a in client.storage_accounts.list_by_resource_group(s.resourceGroup)] == [ACCOUNT]
    assert ACCOUNT in [a.name for a in client.storage_accounts.list()]
    # listKeys (the SDK adds $expand=kerb) and regenerateKey.
    keys = client.storage_accounts.list_keys(s.resourceGroup, ACCOUNT).keys
    assert [k.key_name for k in keys] == ["key1", "key2"] and len(keys[0].value) == 88
    after = client.storage_accounts.regenerate_key(s.resourceGroup, ACCOUNT, {"key_name": "key2"}).keys
    assert after[0].value == keys[0].value and after[1].value != keys[1].value


def test_account_names_are_global_and_checked_and_table_key_type_is_immutable(srv):
    s = srv
    client = storage_client(s)
    taken = client.storage_accounts.check_name_availability({"name": ACCOUNT})
    assert not taken.name_available and taken.reason == "AlreadyExists"
    bad = client.storage_accounts.check_name_availability({"name": "Bad_Name"})
    assert not bad.name_available and bad.reason == "AccountNameInvalid"
    r = arm(s, "PUT", f"{account_id(s, 'BadName')}?api-version=2023-01-01",
            {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOCATION})
    assert r.status_code == 400 and r.json()["error"]["code"] == "AccountNameInvalid", r.text
    ok_json(arm(s, "PUT", f"/subscriptions/{s.subscriptionId}/resourceGroups/otherrg?api-version=2021-04-01",
                {"location": LOCATION}), 200, 201)
    r = arm(s, "PUT", f"{account_id(s, rg='otherrg')}?api-version=2023-01-01",
            {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOCATION})
    assert r.status_code == 409 and r.json()["error"]["code"] == "StorageAccountInAnotherResourceGroup", r.text
    r = arm(s, "PATCH", f"{account_id(s)}?api-version=2022-09-01",
            {"properties": {"encryption": {"services": {"table": {"keyType": "Service"}}}}})
    assert r.status_code == 400 and "keyType" in r.text, r.text
    # An account whose resource group is deleted frees its name.
    body = {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": LOCATION}
    ok_json(arm(s, "PUT", f"{account_id(s, 'gonewithrg', rg='otherrg')}?api-version=2023-01-01", body), 200)
    assert not storage_client(s).storage_accounts.check_name_availability({"name": "gonewithrg"}).name_available
    r = arm(s, "DELETE", f"/subscriptions/{s.subscriptionId}/resourceGroups/otherrg?api-version=2021-04-01")
    assert r.status_code in (200, 202), r.text
    assert storage_client(s).storage_accounts.check_name_availability({"name": "gonewithrg"}).name_available
    ok_json(arm(s, "PUT", f"{account_id(s, 'gonewithrg')}?api-version=2023-01-01", body), 200)


def test_infrastructure_encryption_account_round_trips(srv):
    from azure.mgmt.storage.models import Encryption, Sku, StorageAccountCreateParameters
    from azure.storage.blob import BlobServiceClient
    s = srv
    client = storage_client(s)
    acct = client.storage_accounts.begin_create(s.resourceGroup, "byosinfra", StorageAccountCreateParameters(
        sku=Sku(name="Standard_LRS"), kind="StorageV2", location=LOCATION,
        encryption=Encryption(key_source="Microsoft.Storage", require_infrastructure_encryption=True))).result()
    assert acct.encryption.require_infrastructure_encryption is True
    key = client.storage_accounts.list_keys(s.resourceGroup, "byosinfra").keys[0].value
    bsc = BlobServiceClient(blob_url(s, "byosinfra"), credential={"account_name": "byosinfra", "account_key": key},
                            connection_verify=s.caCertPath)
    cc = bsc.create_container("twice")
    cc.upload_blob("b", MARKER + b" infra")
    assert cc.download_blob("b").readall() == MARKER + b" infra"


def test_blob_upload_in_blocks_and_read_back_by_shared_key(srv):
    s = srv
    bsc = blob_client(s, account_key(s), max_single_put_size=4 * MIB, max_block_size=4 * MIB)
    cc = bsc.create_container("data")
    with pytest.raises(ResourceExistsError):
        bsc.create_container("data")
    payload = (MARKER + os.urandom(1000)) * (20 * MIB // (len(MARKER) + 1000) + 1)
    payload = payload[:20 * MIB]
    cc.upload_blob("big/blob-0", payload, metadata={"owner": "tests"})
    for i in range(1, 6):
        cc.upload_blob(f"small/blob-{i}", MARKER + b" small %d" % i)
    assert cc.download_blob("big/blob-0").readall() == payload
    assert cc.download_blob("big/blob-0", offset=MIB, length=100).readall() == payload[MIB:MIB + 100]
    props = cc.get_blob_client("big/blob-0").get_blob_properties()
    assert props.size == len(payload) and props.metadata == {"owner": "tests"} and props.server_encrypted
    with pytest.raises(ResourceExistsError):
        cc.upload_blob("small/blob-1", b"again")
    # Listing with a prefix, two per page: continuation markers.
    pages = cc.list_blobs(name_starts_with="small/", results_per_page=2).by_page()
    names = [[b.name for b in page] for page in pages]
    assert names == [["small/blob-1", "small/blob-2"], ["small/blob-3", "small/blob-4"], ["small/blob-5"]], names
    cc.delete_blob("small/blob-5")
    assert [b.name for b in cc.list_blobs(name_starts_with="small/")][-1] == "small/blob-4"
    assert [c.name for c in bsc.list_containers()] == ["data"]


def test_sas_as_the_sdk_builds_it_grants_only_its_permissions(srv):
    import datetime
    from azure.storage.blob import (AccountSasPermissions, BlobClient, BlobSasPermissions, BlobServiceClient,
                                    ResourceTypes, generate_account_sas, generate_blob_sas)
    s = srv
    key = account_key(s)["account_key"]
    expiry = datetime.datetime.utcnow() + datetime.timedelta(hours=1)
    sas = generate_account_sas(ACCOUNT, key, ResourceTypes(container=True, object=True),
                               AccountSasPermissions(read=True, list=True), expiry)
    bsc = BlobServiceClient(blob_url(s) + "?" + sas, connection_verify=s.caCertPath)
    cc = bsc.get_container_client("data")
    assert cc.download_blob("small/blob-1").readall() == MARKER + b" small 1"
    with pytest.raises(HttpResponseError) as e:
        cc.upload_blob("by-sas", b"x")
    assert e.value.status_code == 403 and e.value.error_code == "AuthorizationPermissionMismatch", e.value
    blob_sas = generate_blob_sas(ACCOUNT, "data", "small/blob-2", account_key=key,
                                 permission=BlobSasPermissions(read=True), expiry=expiry)
    bc = BlobClient.from_blob_url(f"{blob_url(s)}data/small/blob-2?{blob_sas}", connection_verify=s.caCertPath)
    assert bc.download_blob().readall() == MARKER + b" small 2"
    tampered = BlobClient.from_blob_url(f"{blob_url(s)}data/small/blob-3?{blob_sas}", connection_verify=s.caCertPath)
    with pytest.raises(HttpResponseError) as e:
        tampered.download_blob().readall()
    assert e.value.status_code == 403 and e.value.error_code == "AuthenticationFailed", e.value


def test_nothing_of_the_blobs_is_in_clear_under_the_data_dir(srv):
    s = srv
    hits = []
    for root, _, files in os.walk(s.data_dir):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                if MARKER in fh.read() or b"small/blob-1" in open(path, "rb").read():
                    hits.append(path)
    assert hits == [], hits


def test_blob_by_entra_token_needs_a_data_role(srv):
    s = srv
    bsc = blob_client(s, sdk_credential(s))
    with pytest.raises(HttpResponseError) as e:
        bsc.get_container_client("data").download_blob("small/blob-1").readall()
    assert e.value.status_code == 403 and e.value.error_code == "AuthorizationPermissionMismatch", e.value
    put_role_assignment(s, str(uuid.uuid4()), admin_object_id(s), BLOB_DATA_CONTRIBUTOR, account_id(s))
    cc = blob_client(s, sdk_credential(s)).get_container_client("data")
    assert cc.download_blob("small/blob-1").readall() == MARKER + b" small 1"
    cc.upload_blob("by-token", b"written with a token")
    assert cc.download_blob("by-token").readall() == b"written with a token"
    # A bad signature is 403 AuthenticationFailed; no credential at all is 401 with the challenge.
    wrong = blob_client(s, {"account_name": ACCOUNT, "account_key": "A" * 86 + "=="}).get_container_client("data")
    with pytest.raises(HttpResponseError) as e:
        wrong.download_blob("by-token").readall()
    assert e.value.status_code == 403 and e.value.error_code == "AuthenticationFailed", e.value
    r = http(s, "GET", blob_url(s) + "data/by-token")
    assert r.status_code == 401 and r.headers["x-ms-error-code"] == "NoAuthenticationInformation", r.text
    assert "authorization_uri=" in r.headers["WWW-Authenticate"] and "resource_id=https://storage.azure.com" in \
        r.headers["WWW-Authenticate"]


def table_url(s, name=ACCOUNT):
    return f"https://{name}{s.cfg['tableSuffix']}:{s.port}/"


def table_service(s, credential=None):
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.data.tables import TableServiceClient
    if credential is None:
        credential = AzureNamedKeyCredential(ACCOUNT, account_key(s)["account_key"])
    return TableServiceClient(table_url(s), credential=credential, connection_verify=s.caCertPath)


def test_thousand_entities_with_a_filtered_paged_query_by_shared_key(srv):
    import concurrent.futures
    import datetime
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
    from azure.data.tables import EdmType, EntityProperty, UpdateMode
    s = srv
    tsc = table_service(s)
    tc = tsc.create_table("entities")
    with pytest.raises(ResourceExistsError):
        tsc.create_table("entities")
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

    def insert(i):
        tc.create_entity({"PartitionKey": f"p{i % 4}", "RowKey": f"r{i:04d}", "n": i, "note": MARKER.decode() + f" {i}",
                          "big": EntityProperty(2 ** 40 + i, EdmType.INT64), "when": when, "ratio": i / 8})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(insert, range(1000)))
    pages = list(tc.query_entities("PartitionKey eq @pk and n ge @low", parameters={"pk": "p1", "low": 500},
                                   results_per_page=50, select=["RowKey", "n"]).by_page())
    rows = [e for page in pages for e in page]
    assert len(pages) == 3 and len(rows) == 125, (len(pages), len(rows))
    assert [e["RowKey"] for e in rows] == sorted(f"r{i:04d}" for i in range(500, 1000) if i % 4 == 1)
    assert set(rows[0].keys()) == {"RowKey", "n"}
    assert len(list(tc.list_entities())) == 1000
    e = tc.get_entity("p2", "r0002")
    assert e["n"] == 2 and e["big"].value == 2 ** 40 + 2 and e["when"] == when and e["ratio"] == 0.25, e
    # Merge and replace upserts, ETag conditions.
    tc.upsert_entity({"PartitionKey": "p2", "RowKey": "r0002", "extra": "x"}, mode=UpdateMode.MERGE)
    e = tc.get_entity("p2", "r0002")
    assert e["n"] == 2 and e["extra"] == "x"
    tc.update_entity({"PartitionKey": "p2", "RowKey": "r0002", "only": 1}, mode=UpdateMode.REPLACE,
                     etag=e.metadata["etag"], match_condition=MatchConditions.IfNotModified)
    with pytest.raises(ResourceModifiedError):
        tc.update_entity({"PartitionKey": "p2", "RowKey": "r0002", "only": 2}, mode=UpdateMode.REPLACE,
                         etag=e.metadata["etag"], match_condition=MatchConditions.IfNotModified)
    assert dict(tc.get_entity("p2", "r0002")) == {"PartitionKey": "p2", "RowKey": "r0002", "only": 1}
    tc.delete_entity("p2", "r0002")
    with pytest.raises(ResourceNotFoundError):
        tc.get_entity("p2", "r0002")
    assert [t.name for t in tsc.list_tables()] == ["entities"]
    assert [t.name for t in tsc.query_tables("TableName eq 'entities'")] == ["entities"]


def test_table_by_entra_token_needs_a_data_role(srv):
    from azure.core.exceptions import HttpResponseError as Err
    s = srv
    tc = table_service(s, sdk_credential(s)).get_table_client("entities")
    with pytest.raises(Err) as e:
        tc.get_entity("p1", "r0001")
    assert e.value.status_code == 403, e.value
    put_role_assignment(s, str(uuid.uuid4()), admin_object_id(s), TABLE_DATA_CONTRIBUTOR, account_id(s))
    tc = table_service(s, sdk_credential(s)).get_table_client("entities")
    assert tc.get_entity("p1", "r0001")["n"] == 1


def test_no_table_marker_in_clear_under_the_data_dir(srv):
    hits = [os.path.join(root, f) for root, _, files in os.walk(srv.data_dir) for f in files
            if MARKER in open(os.path.join(root, f), "rb").read()]
    assert hits == [], hits


def saved_search(query, name):
    from azure.mgmt.loganalytics.models import SavedSearch
    return SavedSearch(category="byos", display_name=name, query=query, version=2)


def searches_in_account(s):
    from test_ingest_query import customer_id
    tc = table_service(s).get_table_client("WorkspaceSavedSearches")
    rows = tc.query_entities("PartitionKey eq @pk", parameters={"pk": customer_id(s, "byosws")})
    return sorted(r["DisplayName"] for r in rows)


def test_linking_query_moves_saved_searches_into_the_account(srv):
    from azure.mgmt.loganalytics.models import LinkedStorageAccountsResource
    from test_control_plane import create_workspace, la_client
    s = srv
    create_workspace(s, "byosws")
    la = la_client(s)
    for i in (1, 2):
        la.saved_searches.create_or_update(s.resourceGroup, "byosws", f"s{i}", saved_search("Heartbeat | take 1", f"Search {i}"))
    link = la.linked_storage_accounts.create_or_update(
        s.resourceGroup, "byosws", "Query", LinkedStorageAccountsResource(storage_account_ids=[account_id(s)]))
    assert link.data_source_type == "Query"
    assert searches_in_account(s) == ["Search 1", "Search 2"]
    la.saved_searches.create_or_update(s.resourceGroup, "byosws", "s3", saved_search("print 3", "Search 3"))
    assert searches_in_account(s) == ["Search 1", "Search 2", "Search 3"]
    assert la.saved_searches.get(s.resourceGroup, "byosws", "s3").query == "print 3"
    names = sorted(x.display_name for x in la.saved_searches.list_by_workspace(s.resourceGroup, "byosws").value)
    assert names == ["Search 1", "Search 2", "Search 3"]
    # One created after the link was never in cmklogs' own files.
    r = arm(s, "GET", f"{account_id(s).rsplit('/providers/', 1)[0]}/providers/Microsoft.OperationalInsights/workspaces/byosws"
                      "/savedSearches?api-version=2020-08-01")
    assert len(r.json()["value"]) == 3
    hits = [os.path.join(root, f) for root, _, files in os.walk(s.data_dir) for f in files
            if b"Search 3" in open(os.path.join(root, f), "rb").read()]
    assert hits == [], hits


def test_disabled_key_fails_blob_and_table_reads_within_one_interval_and_reenabling_restores(srv):
    s = srv
    cc = blob_client(s, account_key(s)).get_container_client("data")
    s.kc.update_key_properties("cmk1", s.key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    for op in (lambda: cc.download_blob("small/blob-1").readall(), lambda: cc.upload_blob("new", b"x")):
        with pytest.raises(HttpResponseError) as e:
            op()
        assert e.value.status_code == 403 and e.value.error_code == "KeyVaultEncryptionKeyNotFound", e.value
        assert "The key vault key is not found to unwrap the encryption key." in str(e.value)
    tc = table_service(s).get_table_client("entities")
    with pytest.raises(HttpResponseError) as e:
        tc.get_entity("p1", "r0001")
    assert e.value.status_code == 403 and "KeyVaultEncryptionKeyNotFound" in str(e.value), e.value
    # Saved searches in the account fail with a clear error; log queries of the workspace don't.
    from test_control_plane import la_client
    from test_ingest_query import customer_id, query_client
    with pytest.raises(HttpResponseError) as e:
        la_client(s).saved_searches.list_by_workspace(s.resourceGroup, "byosws")
    assert e.value.status_code == 403 and "linked storage account" in str(e.value), e.value
    result = query_client(s).query_workspace(customer_id(s, "byosws"), "print x = 1", timespan=None)
    assert result.tables[0].rows[0][0] == 1
    s.kc.update_key_properties("cmk1", s.key.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    assert cc.download_blob("small/blob-1").readall() == MARKER + b" small 1"
    assert tc.get_entity("p1", "r0001")["n"] == 1


def test_unlinking_query_moves_saved_searches_back(srv):
    from test_control_plane import la_client
    s = srv
    la = la_client(s)
    la.linked_storage_accounts.delete(s.resourceGroup, "byosws", "Query")
    assert searches_in_account(s) == []
    names = sorted(x.display_name for x in la.saved_searches.list_by_workspace(s.resourceGroup, "byosws").value)
    assert names == ["Search 1", "Search 2", "Search 3"]


def test_rotation_rewraps_the_account_key_under_the_new_version(srv):
    s = srv
    new = s.kc.rotate_key("cmk1")
    cli(s, "clock", "advance", "10s")
    acct = storage_client(s).storage_accounts.get_properties(s.resourceGroup, ACCOUNT)
    assert acct.encryption.key_vault_properties.current_versioned_key_identifier.endswith("/" + new.properties.version)
    cc = blob_client(s, account_key(s)).get_container_client("data")
    assert cc.download_blob("small/blob-1").readall() == MARKER + b" small 1"


def test_workbook_with_storage_uri_keeps_its_content_in_the_container(srv):
    import json
    from azure.mgmt.applicationinsights import ApplicationInsightsManagementClient
    from azure.mgmt.applicationinsights.v2022_04_01.models import UserAssignedIdentity, Workbook, WorkbookResourceIdentity
    s = srv
    uai = ok_json(arm(s, "PUT", f"{uai_id(s, 'wbuai')}?api-version={UAI_API}", {"location": LOCATION}), 200, 201)
    blob_client(s, account_key(s)).create_container("workbooks")
    container_id = account_id(s) + "/blobServices/default/containers/workbooks"
    client = ApplicationInsightsManagementClient(sdk_credential(s), s.subscriptionId, base_url=s.armEndpoint,
                                                 credential_scopes=[s.armScope], connection_verify=s.caCertPath)
    name = str(uuid.uuid4())
    content = json.dumps({"version": "Notebook/1.0", "items": [{"type": 1, "content": {"json": "wb-marker-7f3e"}}]})
    wb = Workbook(location=LOCATION, kind="shared", display_name="BYOS workbook", serialized_data=content,
                  category="workbook", storage_uri=container_id,
                  identity=WorkbookResourceIdentity(type="UserAssigned",
                                                    user_assigned_identities={uai["id"]: UserAssignedIdentity()}))
    # The identity needs Storage Blob Data Contributor on the account first.
    with pytest.raises(HttpResponseError) as e:
        client.workbooks.create_or_update(s.resourceGroup, name, wb)
    assert e.value.status_code == 403 and "Storage Blob Data Contributor" in str(e.value), e.value
    put_role_assignment(s, str(uuid.uuid4()), uai["properties"]["principalId"], BLOB_DATA_CONTRIBUTOR, account_id(s))
    created = client.workbooks.create_or_update(s.resourceGroup, name, wb)
    assert created.serialized_data == content and created.storage_uri == container_id
    cc = blob_client(s, account_key(s)).get_container_client("workbooks")
    assert cc.download_blob(f"{name}.json").readall().decode() == content
    assert client.workbooks.get(s.resourceGroup, name, can_fetch_content=True).serialized_data == content
    listed = list(client.workbooks.list_by_resource_group(s.resourceGroup, category="workbook"))
    assert [w.display_name for w in listed] == ["BYOS workbook"] and listed[0].serialized_data is None
    hits = [os.path.join(root, f) for root, _, files in os.walk(s.data_dir) for f in files
            if b"wb-marker-7f3e" in open(os.path.join(root, f), "rb").read()]
    assert hits == [], hits
    client.workbooks.delete(s.resourceGroup, name)
    assert [b.name for b in cc.list_blobs()] == []


def test_alert_rule_query_is_a_blob_in_the_linked_alerts_account_and_a_revoked_key_fails_evaluation(srv):
    """Issue 19 item 4: with an `Alerts` link the rule's query is the blob alertqueries/{rule id}.kql
    in the account (not in cmklogs' files), the payload carries no query; a revoked key makes
    the next evaluation fail with a recorded error and a /metrics count."""
    from azure.mgmt.loganalytics.models import LinkedStorageAccountsResource
    from conftest import admin_token
    from test_alerts import (LATENCY, Receiver, action_group, advance_to, condition, delete_rule, next_tick, now, rg_path,
                             rule_2023, wait_rows)
    from test_control_plane import la_client, workspace_id
    s = srv
    la_client(s).linked_storage_accounts.create_or_update(
        s.resourceGroup, "byosws", "Alerts", LinkedStorageAccountsResource(storage_account_ids=[account_id(s)]))
    env = {"server": s, "ws": workspace_id(s, "byosws")}
    rx = Receiver()
    try:
        ag = action_group(env, "agbyos", rx.url)
        query = "print marker = 'alert-query-marker-9b2c'"
        rule = rule_2023(env, "byosrule", query, [ag], threshold=0, dims=())
        assert rule["properties"]["criteria"]["allOf"][0]["query"] == query
        assert rule["properties"]["isWorkspaceAlertsStorageConfigured"] is True
        path = f"{rg_path(s)}/providers/Microsoft.Insights/scheduledQueryRules/byosrule?api-version=2023-12-01"
        assert ok_json(arm(s, "GET", path))["properties"]["criteria"]["allOf"][0]["query"] == query
        cc = blob_client(s, account_key(s)).get_container_client("alertqueries")
        blob = rule["id"].lower()[1:] + ".kql"
        assert cc.download_blob(blob).readall().decode() == query
        hits = [os.path.join(root, f) for root, _, files in os.walk(s.data_dir) for f in files
                if b"alert-query-marker-9b2c" in open(os.path.join(root, f), "rb").read()]
        assert hits == [], hits
        tick = next_tick(now(s))
        advance_to(s, tick + LATENCY)
        fired = rx.wait_for(1)[0]
        assert fired["data"]["essentials"]["monitorCondition"] == "Fired"
        assert "searchQuery" not in condition(fired) and "linkToSearchResultsAPI" not in condition(fired), fired
        assert "alert-query-marker" not in json.dumps(fired)
        # Revoke the account's key: the next evaluation fails, visibly.
        version = s.kc.get_key("cmk1").properties.version
        s.kc.update_key_properties("cmk1", version, enabled=False)
        cli(s, "clock", "advance", "10s")
        advance_to(s, next_tick(now(s)) + LATENCY)
        rows = wait_rows(s, "AlertEvaluations | where RuleName == 'byosrule' and Result == 'Failed' | project Error",
                         lambda r: len(r) >= 1, "a recorded failure")
        assert "AlertQueryUnavailable" in rows[0][0] and "KeyVaultEncryptionKeyNotFound" in rows[0][0], rows
        metrics = http(s, "GET", "management", "/metrics", token=admin_token(s)).text
        count = [ln for ln in metrics.splitlines() if ln.startswith("cmklogs_alert_query_load_failures_total ")]
        assert count and int(count[0].split()[1]) >= 1, count
        # The rule is still listed (without its query) and can be deleted.
        assert ok_json(arm(s, "GET", path))["properties"]["criteria"]["allOf"][0]["query"] == ""
        s.kc.update_key_properties("cmk1", version, enabled=True)
        cli(s, "clock", "advance", "10s")
        delete_rule(env, "byosrule")
        assert [b.name for b in cc.list_blobs()] == []
    finally:
        rx.close()
        la_client(s).linked_storage_accounts.delete(s.resourceGroup, "byosws", "Alerts")


def test_az_storage_account_create_show_and_blob_commands(srv, tmp_path):
    """az 2.45 (through scripts/az, logged in as the README says): storage account create/show and
    its Blob data plane with the account key."""
    from test_az import layout, readme_az_block, run_bash
    work = layout(tmp_path)
    os.symlink(srv.data_dir, os.path.join(work, "cmklogs-data"))
    script = readme_az_block() + """
RG=$(jq -r .resourceGroup $CFG) LOC=$(jq -r .location $CFG)
az storage account create -n azbyos1 -g $RG -l $LOC --sku Standard_LRS --kind StorageV2 -o none
EP=$(az storage account show -n azbyos1 -g $RG --query primaryEndpoints.blob -o tsv)
KEY=$(az storage account keys list -n azbyos1 -g $RG --query "[0].value" -o tsv)
A="--account-name azbyos1 --account-key $KEY --blob-endpoint $EP"
az storage container create -n cont1 $A -o none
echo hello-from-az > f.txt
az storage blob upload -c cont1 -n hello.txt -f f.txt $A -o none --only-show-errors
az storage blob download -c cont1 -n hello.txt -f out.txt $A -o none --only-show-errors
echo "ENDPOINT=$EP"
cat out.txt
"""
    p, _ = run_bash(work, script, os.path.join(work, "env.out"))
    assert f"ENDPOINT=https://azbyos1{srv.cfg['blobSuffix']}:{srv.port}/" in p.stdout, p.stdout[-2000:]
    assert "hello-from-az" in p.stdout, p.stdout[-2000:]


def test_js_storage_blob_and_data_tables(srv):
    """@azure/storage-blob 12.32.0 and @azure/data-tables 13.3.2 (tests/e2e/js, pinned); skipped
    without node."""
    import subprocess
    from conftest import js_modules
    js = js_modules()
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=srv.caCertPath)
    out = subprocess.run(["node", os.path.join(js, "storage.mjs"), srv.config_path, ACCOUNT,
                          account_key(srv)["account_key"]], cwd=js, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0 and "storage js ok" in out.stdout, f"{out.stdout}\n{out.stderr}"
