"""One syncing member by a lease in the KV store (docs/design.md, "One syncing member"): real bin/sekoia_ic_feed.py
processes as search head cluster members (each its own session, serverName and SPLUNK_HOME) against one splunkd
stand-in (their shared KV store and replicated sekoia_ic.conf), started together, killed, starved of time, with
the KV store failing at take or renewal, and the lease itself with skewed clocks."""
import json
import signal
import threading
import time

import pytest

from tests.conftest import SESSION_KEY
from tests.modinput import checkpoint, declare_feed, expected, input_xml, log_text, lookup, start_script
from tests.standins import stix_data

from sekoia_ic.feed.lease import LEASE_KEY, Lease, LeaseLost, LeaseTiming
from sekoia_ic.splunk.kvstore import KVCollection
from sekoia_ic.splunk.settings import app_service

# Long enough for a settle of 1 s to outlast a loaded machine's gap between a member's read and its write.
SHC_LEASE = {"ttl": "8", "settle": "1", "max_clock_skew": "0.5"}


def members(splunkd, count):
    names = [f"sh{n}" for n in range(1, count + 1)]
    for name in names:
        splunkd.add_member(f"key-{name}", name)
    return names


def member_stdin(splunkd, name):
    return input_xml(splunkd.uri, {"sekoia_ic_feed://default": {"interval": "60"}}, session_key=f"key-{name}")


def start_member_on_feed(splunkd, ic, home, count, latency, lease, pages):
    """sh1 alone syncing a feed of `count` indicators in pages of 10, once it has asked for `pages` pages."""
    members(splunkd, 2)
    feed = stix_data.make_feed(count)
    ic.publish_all(feed)
    ic.latency = latency
    declare_feed(splunkd, {"page_size": "10"}, lease=lease)
    process = start_script(member_stdin(splunkd, "sh1"), home)
    deadline = time.monotonic() + 30
    while len(ic.calls("/objects")) < pages and time.monotonic() < deadline:
        time.sleep(0.005)
    return feed, process


def data_writes_by_holder(splunkd):
    """Every write to the lookup or the checkpoints, each with the member that made it and the member that held
    the lease at that moment (the last take or renewal written before it): they must be the same."""
    holder, out = None, []
    for member, collection, method, rest, body in splunkd.kv_writes:
        if collection == "sekoia_ic_lease":
            row = json.loads(body)[0] if body else {}
            holder = row.get("holder") or None
        else:
            out.append((member, holder, collection))
    return out


def assert_one_writer(splunkd):
    writes = data_writes_by_holder(splunkd)
    assert writes, "nothing was written"
    wrong = [w for w in writes if w[0] != w[1]]
    assert wrong == [], f"writes made without the lease: {wrong[:5]}"


@pytest.mark.parametrize("count", [2, 3])
def test_members_started_together_sync_once(configured_splunkd, ic, tmp_path, count):
    splunkd = configured_splunkd
    names = members(splunkd, count)
    feed = stix_data.make_feed(60)
    ic.publish_all(feed)
    ic.latency = 0.02
    # interval 3600: a member that starts late, after the sync, takes the free lease and finds nothing due.
    declare_feed(splunkd, {"page_size": "10", "interval": "3600"}, lease=SHC_LEASE)
    processes = {name: start_script(member_stdin(splunkd, name), tmp_path / name) for name in names}
    for name, process in processes.items():
        assert process.wait(timeout=120) == 0, process.stderr.read()
    assert lookup(splunkd) == expected(feed)
    assert_one_writer(splunkd)
    state = checkpoint(splunkd)
    writers = {w[0] for w in splunkd.kv_writes if w[1] == "sekoia_ic_indicators"}
    assert writers == {state["synced_by"]} and state["fence"] >= 1
    assert ic.calls("/objects")[0]["params"].get("cursor") is None and len(ic.calls("/objects")) == 7
    assert sum("took the sync lease" in log_text(tmp_path / n) for n in names) >= 1
    lease = splunkd.rows("sekoia_ic_lease")[0]
    assert lease["holder"] == "" and lease["expires"] == 0 and lease["last_holder"] in names


def test_a_killed_holder_blocks_until_expiry_then_another_member_resumes(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    feed, first = start_member_on_feed(splunkd, ic, tmp_path / "sh1", 60, 0.2,
                                       {"ttl": "4", "settle": "0.2", "max_clock_skew": "0.5"}, 3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    stored = checkpoint(splunkd)
    assert stored and stored["cursor"] and stored["synced_by"] == "sh1"
    held = splunkd.rows("sekoia_ic_lease")[0]
    assert held["holder"] == "sh1" and held["expires"] > time.time()
    ic.latency = 0
    ic.requests.clear()
    second = start_script(member_stdin(splunkd, "sh2"), tmp_path / "sh2")
    assert second.wait(timeout=60) == 0
    assert ic.requests == [] and "member sh1 holds the sync lease" in log_text(tmp_path / "sh2")
    time.sleep(max(0.0, held["expires"] + 0.5 - time.time()) + 0.1)
    second = start_script(member_stdin(splunkd, "sh2"), tmp_path / "sh2")
    assert second.wait(timeout=60) == 0, second.stderr.read()
    assert ic.calls("/objects")[0]["params"]["cursor"] == stored["cursor"]
    assert lookup(splunkd) == expected(feed)
    state = checkpoint(splunkd)
    assert state["synced_by"] == "sh2" and state["fence"] == stored["fence"] + 1
    assert_one_writer(splunkd)


def test_a_holder_whose_lease_lapses_stops_before_its_next_write(configured_splunkd, ic, tmp_path):
    """sh1's pages come slower than its lease lasts: it stops with its cursor stored and writes nothing after;
    sh2 takes over once the row expired and finishes."""
    splunkd = configured_splunkd
    feed, slow = start_member_on_feed(splunkd, ic, tmp_path / "sh1", 40, 0.05,
                                      {"ttl": "2", "settle": "0.1", "max_clock_skew": "0.2"}, 2)
    ic.latency = 2.5  # the next pages take longer than the lease's 1.5 s of writing
    assert slow.wait(timeout=60) == 0, slow.stderr.read()
    text = log_text(tmp_path / "sh1")
    assert "may no longer write" in text and "was not renewed within" in text
    stopped = checkpoint(splunkd)
    assert stopped["status"] in ("running", "success") and stopped["cursor"]
    writes_before = len(splunkd.kv_writes)
    ic.latency = 0
    ic.requests.clear()
    taker = start_script(member_stdin(splunkd, "sh2"), tmp_path / "sh2")
    assert taker.wait(timeout=60) == 0, taker.stderr.read()
    assert ic.calls("/objects")[0]["params"]["cursor"] == stopped["cursor"]
    assert lookup(splunkd) == expected(feed)
    assert {w[0] for w in splunkd.kv_writes[writes_before:]} == {"sh2"}
    assert_one_writer(splunkd)


def test_a_corrupt_lease_row_keeps_everyone_off_for_one_lease_time(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    members(splunkd, 1)
    ic.publish_all(stix_data.make_feed(5))
    declare_feed(splunkd, lease={"ttl": "2", "settle": "0.05", "max_clock_skew": "0.2"})
    splunkd.kv["sekoia_ic_lease"][LEASE_KEY] = {"_key": LEASE_KEY, "holder": 7, "expires": "tomorrow"}
    run = start_script(member_stdin(splunkd, "sh1"), tmp_path)
    assert run.wait(timeout=60) == 0
    assert ic.requests == [] and lookup(splunkd) == set()
    assert "lease row in sekoia_ic_lease is unreadable" in log_text(tmp_path)
    reset = splunkd.rows("sekoia_ic_lease")[0]
    assert reset["holder"] == "" and reset["expires"] > time.time() and reset["fence"] > 1e9
    time.sleep(max(0.0, reset["expires"] + 0.3 - time.time()))
    run = start_script(member_stdin(splunkd, "sh1"), tmp_path)
    assert run.wait(timeout=60) == 0
    assert len(lookup(splunkd)) > 0 and checkpoint(splunkd)["fence"] == reset["fence"] + 1


def test_kv_store_down_at_take_syncs_nothing(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    members(splunkd, 1)
    feed = stix_data.make_feed(5)
    ic.publish_all(feed)
    declare_feed(splunkd)
    splunkd.inject_failure(r"data/sekoia_ic_lease", status=503, message="KV Store is initializing")
    run = start_script(member_stdin(splunkd, "sh1"), tmp_path)
    assert run.wait(timeout=60) == 1
    assert ic.requests == [] and lookup(splunkd) == set()
    assert "the sync lease could not be read or written" in log_text(tmp_path)
    run = start_script(member_stdin(splunkd, "sh1"), tmp_path)
    assert run.wait(timeout=60) == 0
    assert lookup(splunkd) == expected(feed)


def test_kv_store_down_at_renewal_stops_with_the_cursor_intact(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    feed, run = start_member_on_feed(splunkd, ic, tmp_path, 50, 0.1,
                                     {"ttl": "3", "settle": "0.05", "max_clock_skew": "0.2"}, 2)
    splunkd.inject_failure(r"data/sekoia_ic_lease", status=503, message="KV Store is shutting down", method="GET")
    assert run.wait(timeout=60) == 0, run.stderr.read()
    assert "the sync lease could not be renewed" in log_text(tmp_path)
    stopped = checkpoint(splunkd)
    assert stopped["cursor"] and stopped["pages"] < 5
    writes = [w for w in splunkd.kv_writes if w[1] != "sekoia_ic_lease"]
    assert writes[-1][1] == "sekoia_ic_checkpoints"  # the last write stored a cursor; nothing came after it
    held = splunkd.rows("sekoia_ic_lease")[0]  # not released: the KV store was down; it expires
    assert held["holder"] == "sh1"
    time.sleep(max(0.0, held["expires"] + 0.3 - time.time()))
    ic.latency = 0
    ic.requests.clear()
    run = start_script(member_stdin(splunkd, "sh1"), tmp_path)
    assert run.wait(timeout=60) == 0
    assert ic.calls("/objects")[0]["params"]["cursor"] == stopped["cursor"]
    assert lookup(splunkd) == expected(feed)


class SkewedClocks:
    """True time advanced by sleeps only; each member reads it through its own offset."""

    def __init__(self):
        self.now = 1_800_000_000.0

    def clock(self, offset):
        return lambda: self.now + offset

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.mark.parametrize("offset", [-0.9, 0.0, 0.9])
def test_clock_skew_within_the_bound_never_gives_two_holders(splunkd, offset):
    """sh1's clock is right, sh2's is `offset` off (max_clock_skew 1 s): whenever sh2 manages a take, sh1's own
    deadline has passed in true time, so sh1 writes nothing more."""
    timing = LeaseTiming(ttl=8, settle=0.5, max_clock_skew=1)
    clocks = SkewedClocks()
    rows = KVCollection(app_service(splunkd.uri, SESSION_KEY), "sekoia_ic_lease")
    holder = Lease(rows, "sh1", timing, clock=clocks.clock(0), monotonic=clocks.monotonic, sleep=clocks.sleep)
    other = Lease(rows, "sh2", timing, clock=clocks.clock(offset), monotonic=clocks.monotonic, sleep=clocks.sleep)
    assert holder.take()
    while True:
        clocks.sleep(0.25)
        if other.take():
            break
    assert clocks.now >= holder.deadline  # sh1 may not write any more
    with pytest.raises(LeaseLost):
        holder.check()
    with pytest.raises(LeaseLost):
        holder.renew()
    assert other.fence == holder.fence + 1


def test_a_skew_beyond_the_bound_is_what_the_bound_is_for(splunkd):
    """The bound matters: with sh2's clock 5 s ahead (bound 1 s, and 2 s of margin), sh2 takes while sh1 may still
    write."""
    timing = LeaseTiming(ttl=8, settle=0.5, max_clock_skew=1)
    clocks = SkewedClocks()
    rows = KVCollection(app_service(splunkd.uri, SESSION_KEY), "sekoia_ic_lease")
    holder = Lease(rows, "sh1", timing, clock=clocks.clock(0), monotonic=clocks.monotonic, sleep=clocks.sleep)
    other = Lease(rows, "sh2", timing, clock=clocks.clock(5), monotonic=clocks.monotonic, sleep=clocks.sleep)
    assert holder.take()
    while not other.take():
        clocks.sleep(0.25)
    assert clocks.now < holder.deadline


def test_two_takes_in_the_same_moment_leave_one_holder(splunkd):
    """Both read the row free before either writes: the settle and read-back leave exactly one holder."""
    timing = LeaseTiming(ttl=8, settle=0.3, max_clock_skew=0.5)
    results, barrier = {}, threading.Barrier(2)

    def take(name):
        lease = Lease(KVCollection(app_service(splunkd.uri, SESSION_KEY), "sekoia_ic_lease"), name, timing)
        real_get = lease.rows.get

        def get_then_wait(key):  # the first read of both is done before either writes
            row = real_get(key)
            if name not in results:
                results[name] = None
                barrier.wait(timeout=10)
            return row
        lease.rows.get = get_then_wait
        results[name] = lease.take()

    threads = [threading.Thread(target=take, args=(n,)) for n in ("sh1", "sh2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == [False, True]
    assert splunkd.rows("sekoia_ic_lease")[0]["holder"] == next(n for n, held in results.items() if held)


def test_the_lease_timing_is_checked():
    assert LeaseTiming.from_conf({}) == LeaseTiming(120, 2, 10)
    for bad in ({"ttl": "x"}, {"ttl": "4", "settle": "2"}, {"settle": "0"}, {"max_clock_skew": "30"}):
        with pytest.raises(ValueError):
            LeaseTiming.from_conf(bad)
