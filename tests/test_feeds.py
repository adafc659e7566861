"""Several feeds, declared in sekoia_ic.conf [feed:<name>] (replicated on a search head cluster): rows keyed per
feed, a feed changed or removed takes only its own rows, a TLP cap, the 1.x input's feed migrated, and the setup
endpoint's list, add and remove. The real input script against the splunkd and IC stand-ins."""
from tests.modinput import FAST_LEASE, checkpoint, expected, input_xml, log_text, lookup, run_script
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID
from tests.test_setup_endpoint import call

RUNNER = "sekoia_ic_feed://default"


def declare(splunkd, **feeds):
    """Replace the declared feeds by these: name -> stanza values (synced at every run)."""
    with splunkd.lock:
        confs = splunkd.confs["sekoia_ic"]
        for name in [n for n in confs if n.startswith("feed:")]:
            del confs[name]
        for name, values in feeds.items():
            confs[f"feed:{name}"] = dict({"enabled": "true", "interval": "0"}, **values)
        confs["sync_lease"] = dict(FAST_LEASE)


def run(splunkd, home, params=None):
    return run_script([], input_xml(splunkd.uri, {RUNNER: params or {"interval": "60"}}), home)


def rows_by_feed(splunkd):
    out = {}
    for r in splunkd.rows("sekoia_ic_indicators"):
        out.setdefault(r["feed_id"], set()).add((r["type"], r["value"], r["hash_type"], r["is_range"],
                                                 r["indicator_id"]))
    return out


def test_two_feeds_sharing_indicators_one_changed_one_removed(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    ic.feeds["feed-b"] = {}
    ic.feeds["feed-c"] = {}
    shared = stix_data.make_feed(6)
    only_a = stix_data.make_feed(10)[6:]
    only_b = stix_data.make_feed(14)[10:]
    ic.publish_all(shared + only_a)
    ic.publish_all(shared + only_b, feed_id="feed-b")
    ic.publish_all(stix_data.make_feed(17)[14:], feed_id="feed-c")
    declare(splunkd, default={"feed_id": DEFAULT_FEED_ID}, second={"feed_id": "feed-b"})
    assert run(splunkd, tmp_path).returncode == 0
    assert rows_by_feed(splunkd) == {DEFAULT_FEED_ID: expected(shared + only_a), "feed-b": expected(shared + only_b)}
    # The lookup answers every live indicator of every feed: a shared value has a row per feed.
    assert lookup(splunkd) == expected(shared + only_a + only_b)

    # One indicator revoked in feed b only: feed a keeps its rows of it.
    ic.publish(stix_data.revise(shared[0], revoked=True), feed_id="feed-b")
    assert run(splunkd, tmp_path).returncode == 0
    assert rows_by_feed(splunkd)["feed-b"] == expected(shared[1:] + only_b)
    assert rows_by_feed(splunkd)[DEFAULT_FEED_ID] == expected(shared + only_a)

    # "second" now reads feed c: feed b's rows go, feed a's stay.
    declare(splunkd, default={"feed_id": DEFAULT_FEED_ID}, second={"feed_id": "feed-c"})
    assert run(splunkd, tmp_path).returncode == 0
    assert set(rows_by_feed(splunkd)) == {DEFAULT_FEED_ID, "feed-c"}
    assert rows_by_feed(splunkd)[DEFAULT_FEED_ID] == expected(shared + only_a)

    # "default" removed: its rows and checkpoint go; "second" (feed c) is untouched.
    before_c = rows_by_feed(splunkd)["feed-c"]
    declare(splunkd, second={"feed_id": "feed-c"})
    assert run(splunkd, tmp_path).returncode == 0
    assert rows_by_feed(splunkd) == {"feed-c": before_c}
    assert checkpoint(splunkd) is None and checkpoint(splunkd, "sekoia_ic_feed___second")["feed_id"] == "feed-c"
    assert "feed default (IC feed d6092c37-d8d7-45c3-8aff-c4dc26030608) is no longer configured" in log_text(tmp_path)


def test_stale_rows_are_found_without_reading_back_the_saved_ones(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    feed = stix_data.make_feed(120)
    ic.publish_all(feed)
    declare(splunkd, default={"feed_id": DEFAULT_FEED_ID, "page_size": "120"})
    assert run(splunkd, tmp_path).returncode == 0
    changed = [stix_data.revise(g, revoked=True) for g in feed[:3]]
    ic.publish_all(changed)
    finds = [r for r in splunkd.requests if r[1].endswith("sekoia_ic_indicators/batch_find")]
    assert run(splunkd, tmp_path).returncode == 0
    finds = [r for r in splunkd.requests if r[1].endswith("sekoia_ic_indicators/batch_find")][len(finds):]
    assert len(finds) == 2  # one batch_find of the page's queries, then the same queries finding nothing
    assert lookup(splunkd) == expected(feed[3:])


def test_a_tlp_cap_leaves_out_what_is_above_it(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    feed = stix_data.make_feed(12)
    markings = {"green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"}
    for n, g in enumerate(feed):
        g.indicator["object_marking_refs"] = [markings["red" if n % 3 == 0 else "green"]] if n % 4 else []
    ic.publish_all(feed)
    declare(splunkd, default={"feed_id": DEFAULT_FEED_ID})
    assert run(splunkd, tmp_path).returncode == 0
    assert lookup(splunkd) == expected(feed)
    declare(splunkd, default={"feed_id": DEFAULT_FEED_ID, "max_tlp": "green"})
    assert run(splunkd, tmp_path).returncode == 0
    kept = [g for n, g in enumerate(feed) if n % 4 and n % 3]  # green only: red and unmarked (amber) left out
    assert lookup(splunkd) == expected(kept)
    state = checkpoint(splunkd)
    assert state["max_tlp"] == "green" and state["tlp_excluded"] == len(feed) - len(kept)
    declare(splunkd, default={"feed_id": DEFAULT_FEED_ID, "max_tlp": "red"})
    assert run(splunkd, tmp_path).returncode == 0
    assert lookup(splunkd) == expected(feed)


def test_the_feed_of_a_1x_input_moves_to_sekoia_ic_conf_once(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    ic.feeds["old-feed"] = {}
    feed = stix_data.make_feed(5)
    ic.publish_all(feed, feed_id="old-feed")
    declare(splunkd)
    # 1.x: local inputs.conf [sekoia_ic_feed://default] feed_id = old-feed, enabled; a checkpoint without feed_name.
    splunkd.kv["sekoia_ic_checkpoints"]["sekoia_ic_feed___default"] = {
        "_key": "sekoia_ic_feed___default", "input": RUNNER, "feed_id": "old-feed", "status": "success"}
    assert run(splunkd, tmp_path, {"feed_id": "old-feed", "interval": "300"}).returncode == 0
    assert splunkd.confs["sekoia_ic"]["feed:default"]["feed_id"] == "old-feed"
    assert splunkd.confs["sekoia_ic"]["feed:default"]["interval"] == "300"
    assert splunkd.confs["sekoia_ic"]["feed_migration"]["done"] == "true"
    assert "moved from inputs.conf to sekoia_ic.conf" in log_text(tmp_path)
    assert lookup(splunkd) == expected(feed) and checkpoint(splunkd)["feed_name"] == "default"
    # Removed afterwards on the setup page: not brought back by the input's old parameter.
    declare(splunkd)
    assert run(splunkd, tmp_path, {"feed_id": "old-feed", "interval": "300"}).returncode == 0
    assert "feed:default" not in splunkd.confs["sekoia_ic"] and lookup(splunkd) == set()


def test_no_feed_no_lease_no_request(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    declare(splunkd)
    assert run(splunkd, tmp_path).returncode == 0
    assert ic.requests == [] and splunkd.kv_writes == []
    assert "no feed is enabled" in log_text(tmp_path)


def endpoint(splunkd, body=None):
    return call(splunkd) if body is None else call(splunkd, "POST", body)


def test_the_setup_endpoint_lists_adds_and_removes_feeds(splunkd):
    status, answer = endpoint(splunkd, {"action": "add_feed", "feed": {"name": "partner", "feed_id": "feed-b",
                                                                       "interval": "3600", "max_tlp": "amber"}})
    assert status == 200 and answer["result"] == "added"
    assert answer["state"]["feeds"] == [{"name": "partner", "feed_id": "feed-b", "enabled": True, "interval": 3600,
                                         "max_tlp": "amber"}]
    assert splunkd.confs["sekoia_ic"]["feed:partner"] == {"feed_id": "feed-b", "enabled": "true",
                                                          "interval": "3600", "max_tlp": "amber"}
    for feed, field in (({"name": "partner", "feed_id": "feed-c"}, "name"),
                        ({"name": "other", "feed_id": "feed-b"}, "feed_id"),
                        ({"name": "../x", "feed_id": "feed-c"}, "name"),
                        ({"name": "x", "feed_id": "feed-c", "interval": "soon"}, "interval"),
                        ({"name": "x", "feed_id": "feed-c", "max_tlp": "purple"}, "max_tlp")):
        status, answer = endpoint(splunkd, {"action": "add_feed", "feed": feed})
        assert status == 400 and field in answer["errors"], (feed, answer)
    status, answer = endpoint(splunkd, {"action": "remove_feed", "name": "partner"})
    assert status == 200 and answer["state"]["feeds"] == [] and "feed:partner" not in splunkd.confs["sekoia_ic"]
    assert endpoint(splunkd, {"action": "remove_feed", "name": "partner"})[0] == 404
    # Nothing of it touched inputs.conf, which a search head cluster does not replicate.
    assert not [p for m, p, _ in splunkd.requests if m != "GET" and "data/inputs" in p]
