"""The IC stand-in's IOC collections follow what docs/design.md, "The IC API", documents of
`POST v2/inthreat/ioc-collections/{id}/indicators`: 1..100 `indicators` ({"value"}) with `default_fields`; the
key needs "View IOC collections" and "Manage IOC collections" (403 otherwise); an unknown collection is a 404; a
collection holds at most 500,000 indicators; 429 and 5xx come from the stand-in's fail()."""
import requests

from tests.conftest import API_KEY

COLLECTION = "0f6c4b4e-7a3e-4d55-9a67-2f1f1a0c9e21"


def post(ic, body, key=API_KEY, collection=COLLECTION):
    return requests.post(f"{ic.url}/v2/inthreat/ioc-collections/{collection}/indicators", json=body,
                         headers={"Authorization": f"Bearer {key}"}, timeout=10)


def indicators(*values):
    return {"indicators": [{"value": v} for v in values],
            "default_fields": {"description": "d", "valid_until": "2027-01-01T00:00:00Z"}}


def test_values_are_added_with_their_default_fields(ic):
    ic.add_ioc_collection(COLLECTION)
    assert post(ic, indicators("example.org", "8.8.8.8")).status_code == 200
    assert ic.ioc_collections[COLLECTION] == {
        "example.org": {"description": "d", "valid_until": "2027-01-01T00:00:00Z"},
        "8.8.8.8": {"description": "d", "valid_until": "2027-01-01T00:00:00Z"}}
    assert ic.requests[-1]["method"] == "POST" and ic.requests[-1]["body"] == indicators("example.org", "8.8.8.8")


def test_one_to_a_hundred_indicators_a_request(ic):
    ic.add_ioc_collection(COLLECTION)
    assert post(ic, indicators()).status_code == 400
    assert post(ic, indicators(*(f"h{n}.example.org" for n in range(101)))).status_code == 400
    assert post(ic, indicators(*(f"h{n}.example.org" for n in range(100)))).status_code == 200
    assert len(ic.ioc_collections[COLLECTION]) == 100


def test_unknown_collection_missing_permission_and_bad_key(ic):
    assert post(ic, indicators("example.org")).status_code == 404
    ic.add_ioc_collection(COLLECTION)
    assert post(ic, indicators("example.org"), key="no-ioc-key").status_code == 403  # View only, not Manage
    assert post(ic, indicators("example.org"), key="no-intel-key").status_code == 403
    assert post(ic, indicators("example.org"), key="unknown").status_code == 401
    assert ic.ioc_collections[COLLECTION] == {}


def test_the_collection_cap(ic):
    ic.add_ioc_collection(COLLECTION, [f"v{n}.example.org" for n in range(3)])
    ic.ioc_collection_max = 4  # the documented 500,000, made small
    assert post(ic, indicators("v0.example.org", "a.example.org", "b.example.org")).status_code == 400
    assert post(ic, indicators("v0.example.org", "a.example.org")).status_code == 200  # a value held is no new one
    assert len(ic.ioc_collections[COLLECTION]) == 4


def test_faults_apply_to_posts(ic):
    ic.add_ioc_collection(COLLECTION)
    ic.fail(429, retry_after=3, path="ioc-collections")
    ic.fail(503, path="ioc-collections")
    first, second, third = (post(ic, indicators("example.org")) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert (second.status_code, third.status_code) == (503, 200)
    assert list(ic.ioc_collections[COLLECTION]) == ["example.org"]
