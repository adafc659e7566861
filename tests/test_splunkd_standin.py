"""The splunkd stand-in answers splunklib, unchanged, the way splunkd's REST API does."""
import json

import pytest
from splunklib import binding, client

from tests.conftest import SESSION_KEY


def service_for(splunkd, token=SESSION_KEY):
    return client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=token, owner="nobody",
                          app="sekoia_ic")


def test_requires_a_session_key(splunkd):
    with pytest.raises(binding.HTTPError) as caught:
        service_for(splunkd, token="wrong").confs["sekoia_ic"]
    assert caught.value.status == 401


def test_login_gives_a_usable_session_key(splunkd):
    service = client.connect(scheme="http", host="127.0.0.1", port=splunkd.port, username="admin",
                             password="changeme", app="sekoia_ic", owner="nobody")
    assert service.confs["sekoia_ic"]["settings"].content["region"] == "FRA1"


def test_storage_passwords(splunkd):
    service = service_for(splunkd)
    created = service.storage_passwords.create("s3cret", "api_key", "sekoia_ic")
    assert created.name == "sekoia_ic:api_key:"
    with pytest.raises(binding.HTTPError) as caught:
        service.storage_passwords.create("again", "api_key", "sekoia_ic")
    assert caught.value.status == 409
    entity = service.storage_passwords["sekoia_ic:api_key:"]
    assert entity.clear_password == "s3cret"
    entity.update(password="n3w")
    assert service.storage_passwords["sekoia_ic:api_key:"].clear_password == "n3w"
    assert [p.name for p in service.storage_passwords.list()] == ["sekoia_ic:api_key:"]
    service.storage_passwords.delete("api_key", "sekoia_ic")
    assert "sekoia_ic:api_key:" not in service.storage_passwords


def test_configs_from_the_app_and_writes(splunkd):
    service = service_for(splunkd)
    settings = service.confs["sekoia_ic"]["settings"]
    assert settings.content["verify_ssl"] == "true"
    settings.update(region="USA1")
    assert service.confs["sekoia_ic"]["settings"].content["region"] == "USA1"
    assert splunkd.confs["sekoia_ic"]["settings"]["region"] == "USA1"
    assert service.confs["limits"]["kvstore"]["max_documents_per_batch_save"] == "1000"
    with pytest.raises(KeyError):
        service.confs["no_such_conf"]


def test_kvstore_crud_and_queries(splunkd):
    service = service_for(splunkd)
    service.kvstore.create("scratch", fields={"n": "number"})
    data = service.kvstore["scratch"].data
    keys = data.batch_save(*[{"_key": f"k{i}", "n": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(10)])
    assert keys == [f"k{i}" for i in range(10)]
    data.batch_save({"_key": "k0", "n": 100, "tag": "even"})  # upsert by _key
    assert data.query_by_id("k0")["n"] == 100
    assert len(data.query()) == 10
    assert sorted(d["_key"] for d in data.query(query={"_key": {"$in": ["k1", "k2", "zz"]}})) == ["k1", "k2"]
    assert [d["n"] for d in data.query(query={"n": {"$gt": 3, "$lt": 6}}, sort="n")] == [4, 5]
    # $in/$nin as Mongo compares: 3.0 is 3, true is not 1.
    assert [d["n"] for d in data.query(query={"n": {"$in": [3.0, True, "5"]}})] == [3]
    assert sorted(d["n"] for d in data.query(query={"n": {"$nin": [1, 2.0, False]}})) == [3, 4, 5, 6, 7, 8, 9, 100]
    assert [d["n"] for d in data.query(query={"$or": [{"n": 1}, {"n": 2}]}, sort="n:-1")] == [2, 1]
    # On an array field (MongoDB): $in holds when an element is listed, $nin when none is; the index is multikey.
    data.batch_save({"_key": "a1", "n": 50, "keys": ["x", "y"]}, {"_key": "a2", "n": 51, "keys": []})
    assert [d["_key"] for d in data.query(query={"keys": {"$in": ["y", "z"]}})] == ["a1"]
    assert [d["_key"] for d in data.query(query={"keys": "x"})] == ["a1"]
    assert "a1" not in {d["_key"] for d in data.query(query={"keys": {"$nin": ["y"]}})}
    assert "a2" in {d["_key"] for d in data.query(query={"keys": {"$nin": ["y"]}})}
    data.delete(query=json.dumps({"n": {"$in": [50, 51]}}))
    assert [d["n"] for d in data.query(sort="n", limit=2, skip=1)] == [2, 3]
    assert set(data.query(query={"_key": "k1"}, fields="n")[0]) == {"_key", "n"}
    inserted = data.insert({"n": 7})
    assert inserted["_key"] in {d["_key"] for d in data.query(query={"n": 7})}
    data.update("k1", json.dumps({"n": 11}))
    assert data.query_by_id("k1")["n"] == 11
    data.delete(query=json.dumps({"tag": "odd"}))
    assert {d["_key"] for d in data.query()} == {"k0", "k1", "k2", "k4", "k6", "k8", inserted["_key"]}  # k1 lost its tag
    data.delete_by_id("k0")
    assert len(data.query()) == 6
    data.delete()
    assert data.query() == []



def test_an_accelerated_field_answers_as_a_scan_of_every_document(splunkd):
    """The stand-in reads an accelerated field's index for equality and $in (as the KV store does with its
    B-tree): the documents it finds are those a scan finds, for strings, numbers (3 is 3.0), booleans (true is not
    1), arrays (an element matches) and lists of any of them."""
    service = service_for(splunkd)
    service.kvstore.create("indexed", accelerated_fields={"by_v": json.dumps({"v": 1})})
    service.kvstore.create("scanned")
    values = ["a", "b", "", 3, 3.0, 4.5, True, False, 1, 0, None, ["a", 3], [], ["c"], {"x": 1}]
    documents = [{"_key": f"k{n:02d}", "v": value} for n, value in enumerate(values)] + [{"_key": "none"}]
    for name in ("indexed", "scanned"):
        service.kvstore[name].data.batch_save(*documents)
    queries = [{"v": "a"}, {"v": 3}, {"v": 1}, {"v": True}, {"v": {"$in": ["a", "c", "zz"]}},
               {"v": {"$in": [3.0, 1.0, False]}}, {"v": {"$in": ["b", 4.5, True, "3"]}}, {"v": {"$in": []}},
               {"_key": {"$in": ["k01", "k13", "nope"]}},
               {"$and": [{"v": {"$in": ["a", 3]}}, {"_key": {"$gt": "k00"}}]}]
    for query in queries:
        found = [sorted(d["_key"] for d in service.kvstore[name].data.query(query=json.dumps(query)))
                 for name in ("indexed", "scanned")]
        assert found[0] == found[1], query
    assert [d["_key"] for d in service.kvstore["indexed"].data.query(query=json.dumps({"v": {"$in": ["c"]}}))] == \
        ["k13"]


def test_kvstore_limits(splunkd):
    service = service_for(splunkd)
    service.kvstore.create("scratch")
    data = service.kvstore["scratch"].data
    with pytest.raises(binding.HTTPError) as caught:
        data.batch_save(*[{"_key": str(i)} for i in range(1001)])
    assert caught.value.status == 400 and "limit is 1000" in str(caught.value)
    splunkd.set_conf("limits", "kvstore", max_rows_per_query=5)
    data.batch_save(*[{"_key": str(i)} for i in range(8)])
    assert len(data.query()) == 5


def test_a_batch_find_is_cut_at_max_size_per_batch_result_mb(splunkd):
    """limits.conf.spec [kvstore] max_size_per_batch_result_mb: "the maximum size, in MB, of the result set from a
    set of batch find queries". Past it the stand-in adds no document (the answers after the cut are empty), but
    a batch keeps its first document; unset, nothing is cut."""
    service = service_for(splunkd)
    service.kvstore.create("scratch")
    data = service.kvstore["scratch"].data
    data.batch_save(*[{"_key": f"{i:02d}", "part": i % 2, "pad": "x" * 100} for i in range(20)])
    queries = [{"query": {"part": 0}}, {"query": {"part": 1}}]
    whole, _ = data.batch_find(*queries)
    assert [len(a) for a in data.batch_find(*queries)] == [10, 10]
    splunkd.set_conf("limits", "kvstore", max_size_per_batch_result_mb=0.001)  # 1,048 bytes
    first, second = data.batch_find(*queries)
    assert first == whole[:len(first)]
    assert sum(len(json.dumps(d)) for d in first) <= 1048 < sum(len(json.dumps(d)) for d in whole[:len(first) + 1])
    assert (len(first), second) == (6, [])  # 6 documents of 155 bytes fit
    splunkd.set_conf("limits", "kvstore", max_size_per_batch_result_mb=0.00001)  # under one document
    assert [len(a) for a in data.batch_find(*queries)] == [1, 0]
    splunkd.batch_cap = "drop"  # other readings of the spec: the answers after the cut left out, or a 400
    assert [len(a) for a in data.batch_find(*queries)] == [1]
    splunkd.batch_cap = "refuse"
    with pytest.raises(binding.HTTPError) as refused:
        data.batch_find(*queries)
    assert refused.value.status == 400 and "exceeds API limits" in str(refused.value)


def test_fields_is_a_projection_string_or_object(splunkd):
    """REST reference, storage/collections/data: GET `fields=address:0` "include all fields except the address
    field", `fields=firstname,surname,_key:0` "include only the firstname and surname fields"; batch_find's example
    `"fields": {"myKey": 1}`. A projection cannot include and exclude, except for excluding _key (splunklib's
    integration test asks `data,_id:0` and gets no _key). A list is no documented form: the stand-in refuses it,
    as a tripwire (what splunkd does with one is not known)."""
    service = service_for(splunkd)
    service.kvstore.create("scratch")
    data = service.kvstore["scratch"].data
    data.batch_save({"_key": "k", "firstname": "a", "surname": "b", "address": "c"})
    assert data.query(fields="address:0") == [{"_key": "k", "firstname": "a", "surname": "b", "_user": "nobody"}]
    assert data.query(fields="firstname,surname,_key:0") == [{"firstname": "a", "surname": "b"}]
    assert data.query(fields="firstname,_id:0") == [{"firstname": "a"}]
    assert data.query(fields="firstname,surname:1") == [{"_key": "k", "firstname": "a", "surname": "b"}]
    assert data.query(fields="_key:0") == [{"firstname": "a", "surname": "b", "address": "c", "_user": "nobody"}]
    assert data.batch_find({"query": {}, "fields": {"address": 1}}) == [[{"_key": "k", "address": "c"}]]
    assert data.batch_find({"query": {}, "fields": {"firstname": 0, "surname": 0}}) == \
        [[{"_key": "k", "address": "c", "_user": "nobody"}]]
    for bad in ({"firstname": 1, "surname": 0}, ["firstname"]):
        with pytest.raises(binding.HTTPError) as refused:
            data.batch_find({"query": {}, "fields": bad})
        assert refused.value.status == 400


def test_unknown_collection_is_404(splunkd):
    service = service_for(splunkd)
    with pytest.raises(KeyError):
        service.kvstore["nope"]
    with pytest.raises(binding.HTTPError) as caught:
        service.get("storage/collections/data/nope", owner="nobody", app="sekoia_ic")
    assert caught.value.status == 404


def test_server_info_and_injected_failures(splunkd):
    service = service_for(splunkd)
    assert "kv_store" in service.info["server_roles"]
    splunkd.inject_failure(r"/server/info", status=503, message="splunkd is restarting")
    with pytest.raises(binding.HTTPError) as caught:
        service.get("/services/server/info")
    assert caught.value.status == 503
    assert service.info["version"] == "9.3.0"


# ---------------------------------------------------------------------------------------------- roles (authz.py)
# authorize.conf.spec and the REST API Reference, not the app: the default user and power roles lack
# list_storage_passwords and admin_all_objects; default.meta write permissions gate KV store writes.
@pytest.mark.parametrize("roles, may_read_secrets", [(["user"], False), (["power"], False), (["admin"], True)])
def test_storage_passwords_needs_list_storage_passwords(splunkd, roles, may_read_secrets):
    splunkd.set_password("sekoia_ic", "api_key", "s3cret")
    splunkd.add_session("k", "someone", roles)
    service = service_for(splunkd, token="k")
    if may_read_secrets:
        assert service.storage_passwords["sekoia_ic:api_key:"].clear_password == "s3cret"
    else:
        with pytest.raises(binding.HTTPError) as caught:
            service.storage_passwords.list()
        assert caught.value.status == 403 and "list_storage_passwords" in str(caught.value)


def test_kv_store_writes_follow_default_meta(splunkd):
    splunkd.add_session("k", "ana", ["user", "sekoia_ic_analyst"])
    data = service_for(splunkd, token="k").kvstore["sekoia_ic_context_cache"].data
    assert data.query() == []  # read : [ admin, sc_admin, sekoia_ic_analyst ]
    with pytest.raises(binding.HTTPError) as caught:
        data.batch_save({"_key": "x", "expires": 1})  # write : [ admin, sc_admin ]
    assert caught.value.status == 403
    assert service_for(splunkd).kvstore["sekoia_ic_context_cache"].data.batch_save({"_key": "x"}) == ["x"]


def test_roles_import_capabilities_and_admin_holds_the_apps_own(splunkd):
    authz = splunkd.authz
    analyst = {"name": "ana", "roles": ["sekoia_ic_analyst"]}
    assert authz.has(analyst, "sekoia_ic_enrich") and authz.has(analyst, "search")  # importRoles = user
    assert not authz.has(analyst, "list_storage_passwords")
    assert authz.has({"name": "root", "roles": ["admin"]}, "sekoia_ic_enrich and list_storage_passwords")
    assert not authz.has({"name": "bob", "roles": ["power"]}, "(sekoia_ic_enrich or admin_all_objects)")


def test_a_restmap_capability_is_checked_before_the_handler_runs(splunkd):
    splunkd.add_session("k", "bob", ["power"])
    with pytest.raises(binding.HTTPError) as caught:
        service_for(splunkd, token="k").post("sekoia_ic/context", body="{}")
    assert caught.value.status == 403
    assert all(handler.calls == 0 for _, handler in splunkd.rest_handlers.values())


def test_settings_splunk_does_not_document_are_refused(tmp_path):
    """savedsearches.conf.spec documents enableSched; is_scheduled is only the REST name: splunkd ignores it."""
    import shutil
    from tests.conftest import STAGE_DIR
    from tests.standins.splunkd import SplunkdStandIn
    app = tmp_path / "app"
    shutil.copytree(STAGE_DIR / "default", app / "default")
    (app / "default" / "savedsearches.conf").write_text("[x]\nsearch = index=main\nis_scheduled = 1\n")
    with pytest.raises(ValueError, match="is_scheduled"):
        SplunkdStandIn(app_dir=app)
    (app / "default" / "savedsearches.conf").write_text("[x]\nsearch = index=main\nenableSched = 1\n")
    (app / "default" / "transforms.conf").write_text("[t]\ncollection = c\nmatch_type = CIDR(value)\nbogus = 1\n")
    with pytest.raises(ValueError, match="bogus"):
        SplunkdStandIn(app_dir=app)


# ---------------------------------------------------------------------------------------------- credentials' namespace
def test_a_credential_belongs_to_the_namespace_it_was_created_in(splunkd):
    """REST API "Basic concepts > Namespace": an app-shared object is seen from its app (or the "-" wildcard),
    not from another app's namespace, until it is shared global."""
    service_for(splunkd).storage_passwords.create("s3cret", "api_key", "sekoia_ic")
    assert splunkd.passwords["sekoia_ic:api_key:"]["app"] == "sekoia_ic"
    elsewhere = client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=SESSION_KEY,
                               owner="nobody", app="search")
    assert "sekoia_ic:api_key:" not in elsewhere.storage_passwords
    with pytest.raises(binding.HTTPError) as caught:
        elsewhere.get("storage/passwords/sekoia_ic:api_key:")
    assert caught.value.status == 404
    anywhere = client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=SESSION_KEY,
                              owner="-", app="-")
    assert anywhere.get("storage/passwords/sekoia_ic:api_key:").status == 200
    service_for(splunkd).post("storage/passwords/sekoia_ic:api_key:/acl", body={"sharing": "global", "owner": "nobody"})
    assert elsewhere.storage_passwords["sekoia_ic:api_key:"].clear_password == "s3cret"


def test_an_acl_update_needs_sharing_and_owner_in_the_body(splunkd):
    """splunklib's post(owner=, sharing=) makes them the URL's namespace (here nobody/system, where the app's
    credential is not) and sends neither: splunkd refuses; in the body, as solnlib sends them, it is applied."""
    service = service_for(splunkd)
    service.storage_passwords.create("s3cret", "api_key", "sekoia_ic")
    perms = {"perms.read": "admin", "perms.write": "admin"}
    with pytest.raises(binding.HTTPError) as caught:
        service.post("storage/passwords/sekoia_ic:api_key:/acl", owner="nobody", sharing="app", **perms)
    assert caught.value.status == 404
    assert splunkd.requests[-1][1] == "/servicesNS/nobody/system/storage/passwords/sekoia_ic:api_key:/acl"
    with pytest.raises(binding.HTTPError) as caught:
        service.post("storage/passwords/sekoia_ic:api_key:/acl", **perms)
    assert caught.value.status == 400 and "sharing" in str(caught.value)
    service.post("storage/passwords/sekoia_ic:api_key:/acl", body={"sharing": "app", "owner": "nobody", **perms})
    acl = json.loads(service.get("storage/passwords/sekoia_ic:api_key:", output_mode="json").body.read())
    assert acl["entry"][0]["acl"]["perms"] == {"read": ["admin"], "write": ["admin"]}
    assert acl["entry"][0]["acl"]["app"] == "sekoia_ic" and acl["entry"][0]["acl"]["sharing"] == "app"


def test_lookup_table_files_create_update_and_the_staging_area(splunkd):
    """data/lookup-table-files as the REST reference describes it: create with name + eai:data, update through
    /<name> with eai:data; the staged file must be under the lookup staging area and is moved."""
    service = service_for(splunkd)
    staging = splunkd.staging_area()
    shipped = splunkd.lookup_file("sekoia_ic_es_ip.csv")
    assert shipped == "description,ip,weight\n"  # the app's lookups/ are there from the start

    staged = staging / "upload1.csv"
    staged.write_text("a,b\n1,2\n")
    service.post("data/lookup-table-files", name="new.csv", **{"eai:data": str(staged)})
    assert splunkd.lookup_file("new.csv") == "a,b\n1,2\n" and not staged.exists()  # moved, not copied

    staged.write_text("a,b\n3,4\n")
    with pytest.raises(binding.HTTPError) as caught:  # create of an existing name
        service.post("data/lookup-table-files", name="new.csv", **{"eai:data": str(staged)})
    assert caught.value.status == 409
    service.post("data/lookup-table-files/new.csv", **{"eai:data": str(staged)})
    assert splunkd.lookup_file("new.csv") == "a,b\n3,4\n" and not staged.exists()

    outside = staging.parent / "elsewhere.csv"
    outside.write_text("x\n")
    for call, status in [
        (lambda: service.post("data/lookup-table-files/missing.csv", **{"eai:data": str(outside)}), 404),
        (lambda: service.post("data/lookup-table-files/new.csv", **{"eai:data": str(outside)}), 400),
        (lambda: service.post("data/lookup-table-files/new.csv", **{"eai:data": str(staging / "../elsewhere.csv")}),
         400),
        (lambda: service.post("data/lookup-table-files/new.csv", **{"eai:data": str(staging / "gone.csv")}), 400),
        (lambda: service.post("data/lookup-table-files/new.csv"), 400),
        (lambda: service.post("data/lookup-table-files", **{"eai:data": str(outside)}), 400),
    ]:
        with pytest.raises(binding.HTTPError) as caught:
            call()
        assert caught.value.status == status
    assert outside.exists() and splunkd.lookup_file("new.csv") == "a,b\n3,4\n"

    splunkd.add_session("user-key", "bob", ["user"])
    staged.write_text("a,b\n5,6\n")
    with pytest.raises(binding.HTTPError) as caught:  # default.meta: write is admin's
        service_for(splunkd, token="user-key").post("data/lookup-table-files/new.csv", **{"eai:data": str(staged)})
    assert caught.value.status == 403 and staged.exists()


def test_datamodel_model_as_the_rest_reference_says(splunkd):
    """datamodel/model/{name} ("Knowledge endpoint descriptions"): content.acceleration is the settings as a JSON
    string; a model is seen from another app's namespace only when shared global, by roles its perms let read;
    otherwise 404, as from splunkd (never a kinder answer)."""
    splunkd.add_datamodel("Web", accelerated=True)
    splunkd.add_datamodel("Email", accelerated=False, sharing="app")
    splunkd.add_datamodel("Endpoint", read=("admin",))
    service = service_for(splunkd)
    entry = json.loads(service.get("datamodel/model/Web", output_mode="json").body.read())["entry"][0]
    assert entry["name"] == "Web" and entry["acl"]["app"] == "Splunk_SA_CIM" and entry["acl"]["sharing"] == "global"
    assert isinstance(entry["content"]["acceleration"], str)
    assert json.loads(entry["content"]["acceleration"])["enabled"] is True
    assert json.loads(entry["content"]["description"])["modelName"] == "Web"
    with pytest.raises(binding.HTTPError) as caught:
        service.get("datamodel/model/Email", output_mode="json")  # shared only in Splunk_SA_CIM
    assert caught.value.status == 404
    cim = client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=SESSION_KEY, owner="nobody",
                         app="Splunk_SA_CIM")
    entry = json.loads(cim.get("datamodel/model/Email", output_mode="json").body.read())["entry"][0]
    assert json.loads(entry["content"]["acceleration"])["enabled"] is False
    with pytest.raises(binding.HTTPError) as caught:
        service.get("datamodel/model/Nope", output_mode="json")
    assert caught.value.status == 404
    splunkd.add_session("power-key", "pat", ["power"])
    with pytest.raises(binding.HTTPError) as caught:
        service_for(splunkd, token="power-key").get("datamodel/model/Endpoint", output_mode="json")
    assert caught.value.status == 404  # hidden from a role its perms do not name
    listed = json.loads(service.get("datamodel/model", output_mode="json").body.read())["entry"]
    assert [e["name"] for e in listed] == ["Endpoint", "Web"]
