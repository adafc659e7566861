"""The shared context cache (enrich/shared_cache.py) in the splunkd stand-in's KV store, through splunklib: a
row per endpoint request, found by its indexed `keys`, read in as few requests as the values need."""
import json

from sekoia_ic.enrich import shared_cache
from sekoia_ic.splunk.settings import app_service
from sekoia_ic.stix.summaries import NOT_MATCHED, VERSION
from tests.conftest import SESSION_KEY

NOW = 1_800_000_000
FOUND = {"v": VERSION, "matched": True, "indicators": [{"id": "indicator--1", "name": "C2", "confidence": 80}]}


def cache_of(splunkd):
    return shared_cache.collection(app_service(splunkd.uri, SESSION_KEY))


def ips(count, start=0):
    return [("ipv4-addr", f"11.0.{n >> 8}.{n & 255}") for n in range(start, start + count)]


def test_answers_are_written_a_group_a_row_and_read_back_in_one_request(splunkd):
    cache = cache_of(splunkd)
    answers = dict.fromkeys(ips(2500), NOT_MATCHED)
    answers[("domain-name", "c2.example.org")] = FOUND
    shared_cache.save_answers(cache, answers, NOW + 3600)
    rows = list(splunkd.kv["sekoia_ic_context_cache"].values())
    assert sorted(len(row["keys"]) for row in rows) == [501, 1000, 1000]
    assert "11.0.0.1" not in json.dumps(rows) and "c2.example.org" not in json.dumps(rows)  # hashes, no value
    before = splunkd.count(path_pattern="batch_find")
    read = shared_cache.read_answers(cache, list(answers), NOW)
    assert read == answers
    assert read[("ipv4-addr", "11.0.0.1")] is NOT_MATCHED  # the one shared summary, not a copy per value
    assert splunkd.count(path_pattern="batch_find") - before == 1  # every value answered: no empty page asked


def test_only_live_rows_of_this_shape_answer_and_a_bad_row_is_skipped(splunkd):
    cache = cache_of(splunkd)
    shared_cache.save_answers(cache, dict.fromkeys(ips(3), NOT_MATCHED), NOW - 1)  # expired
    shared_cache.save_answers(cache, dict.fromkeys(ips(3, start=3), NOT_MATCHED), NOW + 60)
    key = shared_cache.observable_key(*ips(1, start=6)[0])
    bad = shared_cache.observable_key(*ips(1, start=7)[0])
    docs = splunkd.kv["sekoia_ic_context_cache"]
    docs["older"] = {"_key": "older", "keys": [key], "answers": json.dumps({key: None}), "v": VERSION - 1,
                     "expires": NOW + 60}
    docs["bad"] = {"_key": "bad", "keys": [bad], "answers": "{not json", "v": VERSION, "expires": NOW + 60}
    # 2.0.0's rows, one per value with no `keys`, are found by no query: asked again, purged once expired.
    docs["v200"] = {"_key": key, "found": False, "context": json.dumps(NOT_MATCHED), "expires": NOW + 60}
    read = shared_cache.read_answers(cache, ips(8), NOW)
    assert read == dict.fromkeys(ips(3, start=3), NOT_MATCHED)
    shared_cache.purge_expired(cache, NOW)
    assert len(docs) == 4  # the expired row is gone


def test_a_read_of_values_the_cache_lacks_ends_on_an_empty_page(splunkd):
    cache = cache_of(splunkd)
    shared_cache.save_answers(cache, dict.fromkeys(ips(10), NOT_MATCHED), NOW + 60)
    before = splunkd.count(path_pattern="batch_find")
    assert shared_cache.read_answers(cache, ips(20), NOW) == dict.fromkeys(ips(10), NOT_MATCHED)
    assert splunkd.count(path_pattern="batch_find") - before == 2  # the page, then the empty page


def test_rows_too_big_for_a_document_are_split(splunkd, monkeypatch):
    monkeypatch.setattr(shared_cache, "ROW_BYTES", 2000)
    cache = cache_of(splunkd)
    big = dict(FOUND, indicators=[dict(FOUND["indicators"][0], id=f"indicator--{n}") for n in range(12)])
    answers = dict.fromkeys(ips(30), big)
    shared_cache.save_answers(cache, answers, NOW + 60)
    rows = list(splunkd.kv["sekoia_ic_context_cache"].values())
    assert len(rows) > 1 and all(len(row["answers"]) <= 2000 for row in rows)
    assert sum(len(row["keys"]) for row in rows) == 30
    assert shared_cache.read_answers(cache, ips(30), NOW) == answers


def test_a_page_cut_by_size_is_followed_by_the_keys_still_unanswered(splunkd):
    cache = cache_of(splunkd)
    for start in range(0, 30, 3):  # 10 rows of 3 answers
        shared_cache.save_answers(cache, dict.fromkeys(ips(3, start=start), NOT_MATCHED), NOW + 60)
    splunkd.set_conf("limits", "kvstore", max_size_per_result_mb=0.0005)  # about 524 bytes: 2 rows a page
    cut = cache_of(splunkd)  # a new service reads the limits again
    cuts, before = splunkd.size_cuts, splunkd.count(path_pattern="batch_find")
    assert shared_cache.read_answers(cut, ips(30), NOW) == dict.fromkeys(ips(30), NOT_MATCHED)
    assert splunkd.size_cuts > cuts
    assert 3 <= splunkd.count(path_pattern="batch_find") - before <= 10  # no empty page: every key was answered


def test_a_bad_answer_hides_no_good_one_and_the_latest_expiry_wins(splunkd):
    cache = cache_of(splunkd)
    junk, found, older = (shared_cache.observable_key(*o) for o in ips(3))
    docs = splunkd.kv["sekoia_ic_context_cache"]
    docs["a"] = {"_key": "a", "keys": [junk, found], "answers": json.dumps({junk: "junk", found: None}),
                 "v": VERSION, "expires": NOW + 60}
    docs["b"] = {"_key": "b", "keys": [junk, found], "answers": json.dumps({junk: FOUND, found: FOUND}),
                 "v": VERSION, "expires": NOW + 600}
    docs["c"] = {"_key": "c", "keys": [older], "answers": json.dumps({older: FOUND}), "v": VERSION,
                 "expires": NOW + 10}
    docs["d"] = {"_key": "d", "keys": [older], "answers": json.dumps({older: None}), "v": VERSION,
                 "expires": NOW + 20}
    assert shared_cache.read_answers(cache, ips(3), NOW) == {ips(3)[0]: FOUND, ips(3)[1]: FOUND,
                                                             ips(3)[2]: NOT_MATCHED}


class Pages:
    """A KV store whose pages are given, in order: it answers each find_page with the next one (and then with the
    last again, whatever the query's `_key $nin` says). The order of an unsorted answer is the KV store's own."""

    def __init__(self, *pages):
        self.pages, self.asked = list(pages), 0

    def find_page(self, query, fields=None):
        self.asked += 1
        assert self.asked <= 10, "the read does not end"
        return [dict(row) for row in self.pages[min(self.asked, len(self.pages)) - 1]]


def row(key, answers, expires):
    return {"_key": key, "answers": json.dumps(answers), "v": VERSION, "expires": expires}


def test_whatever_the_order_of_the_rows_a_bad_answer_hides_no_good_one_and_the_latest_expiry_wins():
    junk, other = (shared_cache.observable_key(*o) for o in ips(2))
    cache = Pages([row("a", {junk: "junk", other: FOUND}, NOW + 60), row("b", {junk: FOUND, other: None}, NOW + 600)])
    assert shared_cache.read_answers(cache, ips(2), NOW) == {ips(2)[0]: FOUND, ips(2)[1]: NOT_MATCHED}


def test_the_read_ends_when_a_page_brings_no_new_row():
    key = shared_cache.observable_key(*ips(1)[0])
    cache = Pages([row("a", {key: "junk"}, NOW + 60)])  # the same page again: a KV store ignoring `$nin`
    assert shared_cache.read_answers(cache, ips(2), NOW) == {}
    assert cache.asked == 2


class Recorded:
    """The real cache collection, keeping the `keys $in` list of each query read_answers makes."""

    def __init__(self, cache):
        self.cache, self.asked = cache, []

    def find_page(self, query, fields=None):
        self.asked.append(list(query["keys"]["$in"]))
        return self.cache.find_page(query, fields)


def test_a_big_search_that_an_earlier_one_asked_reads_its_rows_with_a_probe_of_its_keys(splunkd):
    values = ips(2000)
    shared_cache.save_answers(cache_of(splunkd), dict.fromkeys(values, NOT_MATCHED), NOW + 60)
    cache = Recorded(cache_of(splunkd))
    assert shared_cache.read_answers(cache, values, NOW) == dict.fromkeys(values, NOT_MATCHED)
    assert [len(keys) for keys in cache.asked] == [shared_cache.PROBE]  # one query of 100 keys, not 2,000


def test_a_probe_that_finds_nothing_is_followed_by_a_query_for_every_key(splunkd):
    values = ips(500)
    probed = set(shared_cache._probe([shared_cache.observable_key(*o) for o in values]))
    cached = {o: NOT_MATCHED for o in values if shared_cache.observable_key(*o) not in probed}
    shared_cache.save_answers(cache_of(splunkd), cached, NOW + 60)
    cache = Recorded(cache_of(splunkd))
    assert shared_cache.read_answers(cache, values, NOW) == cached
    # the probe (nothing), every key (the rows), the probe's keys still unanswered (nothing: the end)
    assert [len(keys) for keys in cache.asked] == [shared_cache.PROBE, 500, shared_cache.PROBE]


def test_a_small_search_asks_for_every_key_at_once():
    assert shared_cache._probe([f"k{n}" for n in range(4 * shared_cache.PROBE)]) is None


def test_with_a_probe_the_read_still_ends_when_the_kv_store_ignores_nin():
    values = ips(500)
    key = shared_cache.observable_key(*values[7])
    cache = Pages([row("a", {key: None}, NOW + 60)])  # every query answered with this row
    assert shared_cache.read_answers(cache, values, NOW) == {values[7]: NOT_MATCHED}
    assert cache.asked == 2  # the probe, then every key: no row not read yet
    empty = Pages([])  # one page, empty
    assert shared_cache.read_answers(empty, values, NOW) == {}
    assert empty.asked == 2  # the probe's empty page ends nothing; the query for every key's does
