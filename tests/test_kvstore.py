"""KVCollection against the splunkd stand-in: limits.conf [kvstore] read in one request and honoured (batch saves
and paged reads), Splunk's defaults when the limits cannot be read."""
import json

import pytest
from splunklib.binding import HTTPError

from sekoia_ic.constants import CONTEXT_CACHE_COLLECTION
from sekoia_ic.splunk.kvstore import DEFAULT_MAX_BATCH_SAVE, DEFAULT_MAX_ROWS_PER_QUERY, KVCollection
from sekoia_ic.splunk.settings import app_service
from tests.conftest import SESSION_KEY


def test_the_limits_splunkd_has_are_read_once_and_honoured(splunkd):
    splunkd.set_conf("limits", "kvstore", max_documents_per_batch_save=7, max_rows_per_query=5)
    before = splunkd.count(path_pattern="limits")
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    assert splunkd.count(path_pattern="limits") - before == 1
    assert (cache.max_batch, cache.max_rows) == (7, 5)
    documents = [{"_key": f"{n:02d}", "expires": n} for n in range(23)]
    assert cache.save(documents) == 23  # 4 batches: the stand-in refuses more than 7 documents in one
    assert [d["_key"] for d in cache.find()] == [d["_key"] for d in documents]  # 5 pages of at most 5 rows
    assert sorted(d["_key"] for d in cache.find_in("_key", ["03", "17", "nope"])) == ["03", "17"]


def test_unreadable_limits_mean_splunks_defaults(splunkd):
    splunkd.inject_failure(r"conf-limits", status=403, message="no permission")
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    assert (cache.max_batch, cache.max_rows) == (DEFAULT_MAX_BATCH_SAVE, DEFAULT_MAX_ROWS_PER_QUERY)


def test_a_page_cut_by_size_is_not_the_end(splunkd):
    """splunkd stops filling an answer at [kvstore] max_size_per_result_mb: a short page, with more behind it."""
    splunkd.set_conf("limits", "kvstore", max_rows_per_query=50, max_size_per_result_mb=0.0005)  # ~524 bytes
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    documents = [{"_key": f"{n:03d}", "context": "x" * 60, "expires": n} for n in range(120)]
    cache.save(documents)
    cuts = splunkd.size_cuts
    assert [d["_key"] for d in cache.find()] == [d["_key"] for d in documents]
    assert splunkd.size_cuts - cuts >= 10  # every page was cut short, and the read went on
    wanted = [d["_key"] for d in documents[::3]]
    assert sorted(d["_key"] for d in cache.find_in("_key", wanted)) == wanted
    requests = splunkd.count(path_pattern="sekoia_ic_context_cache")
    assert list(cache.find({"expires": {"$gt": 1000}})) == []
    assert splunkd.count(path_pattern="sekoia_ic_context_cache") - requests == 1  # an empty first page ends it


def test_big_documents_are_saved_in_batches_under_the_size_limit_and_read_unsorted(splunkd):
    splunkd.set_conf("limits", "kvstore", max_size_per_batch_save_mb=1)
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    documents = [{"_key": f"{n:03d}", "keys": [f"a{n}", f"b{n}"], "answers": "x" * 400_000, "expires": n}
                 for n in range(5)]
    before = splunkd.count(path_pattern="batch_save")
    with pytest.raises(HTTPError):  # one batch of 2 MB: refused
        cache.save(documents)
    assert cache.save(documents, by_size=True) == 5
    assert splunkd.count(path_pattern="batch_save") - before == 1 + 3  # 2 documents a batch, then 1
    page = cache.find_page({"keys": {"$in": ["b3", "a4", "zz"]}, "_key": {"$nin": ["004"]}}, fields=["expires"])
    assert [(d["_key"], d["expires"]) for d in page] == [("003", 3)]


def test_a_batch_is_measured_as_the_request_body_splunklib_sends():
    """batch_save's body is json.dumps of the list: each document plus its ", " or a bracket. Four documents of a
    quarter of the limit each are one byte... eight bytes over it together."""
    from sekoia_ic.splunk.kvstore import batches_by_size
    quarter = 256 * 1024
    documents = []
    for n in range(4):
        document = {"_key": f"{n}", "answers": ""}
        document["answers"] = "x" * (quarter - len(json.dumps(document)))
        assert len(json.dumps(document)) == quarter
        documents.append(document)
    batches = list(batches_by_size(documents, max_documents=1000, max_bytes=4 * quarter))
    assert all(len(json.dumps(batch)) <= 4 * quarter for batch in batches)
    assert [len(batch) for batch in batches] == [3, 1]


def test_find_in_sends_every_part_of_its_values_in_one_request(splunkd):
    """10,000 values are five $in queries of FIND_IN_CHUNK: one batch_find carries them all, and when nothing
    matches (most values of a search) that one request is the whole read."""
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    cache.save([{"_key": f"k{n:05d}", "expires": n} for n in range(0, 10_000, 1000)])
    before = splunkd.count(path_pattern="batch_find")
    assert list(cache.find_in("_key", [f"miss{n}" for n in range(10_000)])) == []
    assert splunkd.count(path_pattern="batch_find") - before == 1
    found = cache.find_in("_key", [f"k{n:05d}" for n in range(10_000)])
    assert sorted(d["_key"] for d in found) == [f"k{n:05d}" for n in range(0, 10_000, 1000)]
    assert splunkd.count(path_pattern="batch_find") - before == 1 + 2  # a page each, then the empty pages


@pytest.mark.parametrize("past_the_cap", ("cut", "drop", "refuse"))
def test_answers_cut_away_by_the_batch_size_cap_are_asked_again(splunkd, past_the_cap):
    """[kvstore] max_size_per_batch_result_mb caps a batch_find's answers together, and what splunkd does past it
    is undocumented. Cut: the queries after the cut come back empty, which find_in and find_each must not take for
    "nothing there" (a stale row left behind, a match missed); dropped: their answers are missing from the list;
    refused (400): the batch is asked again in halves."""
    splunkd.batch_cap = past_the_cap
    # ~2 KB for all the answers, ~1 KB for one (splunkd's defaults keep the same order: 100 MB and 50 MB)
    splunkd.set_conf("limits", "kvstore", max_size_per_batch_result_mb=0.002, max_size_per_result_mb=0.001)
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    documents = [{"_key": f"{n:03d}", "part": n % 4, "context": "x" * 100} for n in range(80)]
    cache.save(documents)
    cuts = splunkd.batch_cuts
    answers = cache.find_each([{"part": p} for p in (0, 9, 1, 2, 3, 9)])  # part 9: no such document
    assert splunkd.batch_cuts > cuts
    assert [bool(a) for a in answers] == [True, False, True, True, True, False]  # none lost to the cut
    assert all(d["part"] == p for p, answer in zip((0, 9, 1, 2, 3, 9), answers) for d in answer)
    values = [d["_key"] for d in documents] + [f"miss{n}" for n in range(5000)]  # three parts of FIND_IN_CHUNK
    assert sorted(d["_key"] for d in cache.find_in("_key", values)) == [d["_key"] for d in documents]


def test_one_query_refused_at_the_batch_cap_is_asked_for_smaller_pages(splunkd):
    """If splunkd refuses a batch past max_size_per_batch_result_mb (undocumented), one query whose page alone is
    over it (an admin set the cap under max_size_per_result_mb) is asked again with half the page size, down to
    one row: find_page's callers and find_in read on from a short page."""
    splunkd.batch_cap = "refuse"
    splunkd.set_conf("limits", "kvstore", max_size_per_batch_result_mb=0.002)  # ~2 KB; no cap per answer
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    documents = [{"_key": f"{n:03d}", "part": n % 2, "context": "x" * 100} for n in range(40)]
    cache.save(documents)
    page = cache.find_page({"part": 0})
    assert 0 < len(page) < 20 and all(d["part"] == 0 for d in page)
    assert sorted(d["_key"] for d in cache.find_in("part", [0, 1])) == [d["_key"] for d in documents]
    splunkd.set_conf("limits", "kvstore", max_size_per_batch_result_mb=0.00001)  # under one document
    assert len(cache.find_page({"part": 0})) == 1  # a batch carries one document at least
    splunkd.set_conf("limits", "kvstore", max_rows_per_query=8)
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    before = splunkd.count(path_pattern="batch_find")
    with pytest.raises(HTTPError) as refused:  # a 400 for another reason still comes out, after pages of 8 to 1
        cache.find_page({"$where": "sleep(1)"})
    assert refused.value.status == 400 and splunkd.count(path_pattern="batch_find") - before == 4


def test_a_batch_answer_that_cannot_be_read_is_an_error_not_no_match():
    """splunkd answering fewer queries than it was sent, none with a document: nothing says which ones were
    lost, so it is an error (the search says the lookup could not be read), never "nothing found"."""
    class ShortAnswers:
        def batch_find(self, *queries):
            return [[] for _ in queries[1:]]

    cache = KVCollection.__new__(KVCollection)
    cache.data, cache.max_rows = ShortAnswers(), 10
    with pytest.raises(ValueError, match="batch_find of 2 queries with 1 answers"):
        cache.find_each([{"a": 1}, {"a": 2}])


def test_batch_find_queries_carry_fields_as_the_references_projection_object(splunkd):
    """The REST reference's batch_find example gives `fields` as a projection object ({"myKey": 1}). The stand-in
    refuses a list, as a tripwire: no Splunk document gives one, and what splunkd does with one is not known."""
    cache = KVCollection(app_service(splunkd.uri, SESSION_KEY), CONTEXT_CACHE_COLLECTION)
    cache.save([{"_key": "a", "v": 1, "expires": 5, "answers": "x"}])
    assert cache.find_page({"v": 1}, fields=["expires"]) == [{"_key": "a", "expires": 5}]
    assert list(cache.find_in("_key", ["a"], fields=["v"])) == [{"_key": "a", "v": 1}]
    assert cache.find_each([{"v": 1}], fields=["v"]) == [[{"_key": "a", "v": 1}]]
    with pytest.raises(HTTPError) as refused:
        cache.data.batch_find({"query": {"v": 1}, "fields": ["v"]})
    assert refused.value.status == 400
