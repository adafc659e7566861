"""The real bin/sekoia_ic_feed.py, run as splunkd runs it, against the IC and splunkd stand-ins."""
import random
import time
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

import pytest

from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR
from tests.modinput import (checkpoint, comparable_rows, expected, declare_feed, input_xml, kill_repeatedly, log_text, lookup,
                            run_input, run_script, validation_xml)
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID, ICStandIn
from tests.standins.splunkd import SplunkdStandIn

def assert_clean_exit(result):
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_scheme(tmp_path):
    result = run_script(["--scheme"], "", tmp_path)
    assert result.returncode == 0
    scheme = ElementTree.fromstring(result.stdout)
    assert scheme.findtext("title") == "Sekoia.io Intelligence Center feed"
    assert scheme.findtext("use_external_validation") == "true"
    assert {a.get("name") for a in scheme.iter("arg")} == {"feed_id", "types", "page_size", "source", "taxii_api_root"}


@pytest.mark.parametrize("params, message", [
    ({"feed_id": "../../v1/me"}, "is not a feed identifier"),
    ({"feed_id": "has space"}, "is not a feed identifier"),
    ({"page_size": "0"}, "from 1 to 2000"),
    ({"page_size": "2001"}, "from 1 to 2000"),
    ({"page_size": "lots"}, "from 1 to 2000"),
    ({"types": "indicator,bogus"}, "bogus unknown"),
])
def test_validate_arguments_rejects_bad_input(splunkd, tmp_path, params, message):
    result = run_script(["--validate-arguments"], validation_xml(splunkd.uri, "x", params), tmp_path)
    assert result.returncode == 1
    assert message in ElementTree.fromstring(result.stdout).findtext("message")


def test_validate_arguments_accepts_defaults(splunkd, tmp_path):
    params = {"feed_id": DEFAULT_FEED_ID, "types": "indicator", "page_size": "500", "interval": "900"}
    result = run_script(["--validate-arguments"], validation_xml(splunkd.uri, "x", params), tmp_path)
    assert result.returncode == 0, result.stdout


def test_first_run_then_incremental_run(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    feed = stix_data.make_feed(60, now=now)
    revoked_before = stix_data.make_indicator(stix_data.shape_domain, 900, now=now, revoked=True)
    expired_before = stix_data.make_indicator(stix_data.shape_domain, 901, now=now, created=now - timedelta(days=9),
                                              valid_until=now - timedelta(days=1))
    soon = stix_data.make_indicator(stix_data.shape_email, 902, now=now, valid_until=now + timedelta(seconds=3))
    ic.publish_all(feed + [revoked_before, expired_before, soon])

    result = run_input(splunkd, tmp_path, {"page_size": "25"})
    assert result.returncode == 0, result.stderr
    assert lookup(splunkd) == expected(feed + [soon])
    row = next(r for r in splunkd.rows("sekoia_ic_indicators") if r["indicator_id"] == feed[0].indicator["id"])
    assert row["indicator_name"] == feed[0].indicator["name"] and row["feed_id"] == DEFAULT_FEED_ID
    pulls = ic.calls("/objects")
    assert len(pulls) == 3  # 25 + 25 + 12 (<25: stop)
    assert pulls[0]["params"] == {"limit": "25", "match[type]": "indicator", "skip_expired": "true",
                                  "include_revoked": "false"}
    # Resuming from a cursor, rows may exist that a revocation or an expiry must remove: both must arrive.
    assert pulls[1]["params"]["include_revoked"] == "true" and pulls[1]["params"]["skip_expired"] == "false"
    first = checkpoint(splunkd)
    assert first["status"] == "success" and first["cursor"] and first["initial_sync_done"] is True
    # 60 + soon, and revoked_before and expired_before: pages after the first ask for them (an indicator revoked or
    # expired while a long first pull runs must not be missed), so they are seen on page 3, and give no row.
    assert first["objects_seen"] == 63 and first["pages"] == 3 and first["errors"] == 0
    assert first["rows_written"] == len(expected(feed + [soon]))
    assert first["last_success"] >= first["last_run_start"]

    # Between runs: one revoked, one with a new pattern, one new, and `soon` expires.
    time.sleep(3.2)
    ic.publish(stix_data.revise(feed[0], revoked=True))
    changed = stix_data.make_indicator(stix_data.shape_domain, 777, now=now)
    changed_same_id = stix_data.Generated(dict(changed.indicator, id=feed[1].indicator["id"]),
                                          changed.observables, changed.related)
    ic.publish(stix_data.revise(changed_same_id))
    newcomer = stix_data.make_indicator(stix_data.shape_url, 555, now=now)
    ic.publish(newcomer)
    ic.requests.clear()

    result = run_input(splunkd, tmp_path, {"page_size": "25"})
    assert result.returncode == 0, result.stderr
    pulls = ic.calls("/objects")
    assert len(pulls) == 1 and pulls[0]["params"]["cursor"] == first["cursor"]
    assert pulls[0]["params"]["include_revoked"] == "true" and pulls[0]["params"]["skip_expired"] == "false"
    assert lookup(splunkd) == expected(feed[2:] + [changed_same_id, newcomer])
    second = checkpoint(splunkd)
    assert second["objects_seen"] == 3 and second["expired_purged"] == 1
    # feed[0] and feed[1] had 2 (cidr OR) and 3 (hashes) rows, plus the expired email row.
    assert second["rows_removed"] == len(feed[0].observables) + len(feed[1].observables) + 1


def test_invalid_objects_are_skipped_and_counted(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    good = stix_data.make_feed(3)
    broken_pattern = stix_data.Generated(dict(good[0].indicator, id="indicator--" + "1" * 8 + "-1111-4111-8111-"
                                              + "1" * 12, pattern="[ipv4-addr:value = "), [])
    registry = stix_data.Generated(dict(good[0].indicator, id="indicator--" + "2" * 8 + "-2222-4222-8222-" + "2" * 12,
                                        pattern="[windows-registry-key:key = 'HKLM']"), [])
    not_stix = stix_data.Generated({"type": "indicator", "id": "indicator--x/../y", "pattern": 3}, [])
    ic.publish_all([broken_pattern, registry, not_stix] + good)
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 0, result.stderr
    assert lookup(splunkd) == expected(good)
    state = checkpoint(splunkd)
    assert state["invalid_objects"] == 2 and state["unsupported_patterns"] == 1 and state["errors"] == 3
    assert "windows-registry-key:key" in log_text(tmp_path)


@pytest.mark.parametrize("key, words", [("revoked-key", "HTTP 401"), ("no-intel-key", "HTTP 403")])
def test_auth_errors_keep_the_cursor(configured_splunkd, ic, tmp_path, key, words):
    splunkd = configured_splunkd
    ic.publish_all(stix_data.make_feed(5))
    assert run_input(splunkd, tmp_path).returncode == 0
    cursor = checkpoint(splunkd)["cursor"]
    splunkd.set_password("sekoia_ic", "api_key", key)
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 1
    assert_clean_exit(result)
    state = checkpoint(splunkd)
    assert state["cursor"] == cursor and state["status"] == "error" and words in state["last_error"]
    assert words in log_text(tmp_path) and words in result.stderr
    assert key not in log_text(tmp_path) and key not in result.stderr


def test_no_api_key_is_reported(splunkd, ic, tmp_path):
    splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url)
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 1
    assert_clean_exit(result)
    assert "No Sekoia.io API key is configured" in log_text(tmp_path)
    assert "setup page" in checkpoint(splunkd)["last_error"]
    assert ic.requests == []


def test_429_waits_as_told_and_goes_on(configured_splunkd, ic, tmp_path):
    feed = stix_data.make_feed(30)
    ic.publish_all(feed)
    ic.fail(429, times=1, retry_after=1, path="/objects")
    result = run_input(configured_splunkd, tmp_path, {"page_size": "10"})
    assert result.returncode == 0, result.stderr
    assert lookup(configured_splunkd) == expected(feed)
    pulls = ic.calls("/objects")
    assert pulls[0]["status"] == 429 and pulls[1]["time"] - pulls[0]["time"] >= 0.95


def test_truncated_page_writes_nothing_and_keeps_the_cursor(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    feed = stix_data.make_feed(30)
    ic.publish_all(feed)
    # The first page is fine, the second is cut in half.
    ic.allow(times=1, path="/objects")
    ic.truncate(times=1, path="/objects")
    result = run_input(splunkd, tmp_path, {"page_size": "10"})
    assert result.returncode == 1
    assert_clean_exit(result)
    assert lookup(splunkd) == expected(feed[:10])
    state = checkpoint(splunkd)
    assert state["pages"] == 1 and "not valid JSON" in state["last_error"]
    cursor = state["cursor"]
    ic.requests.clear()
    assert run_input(splunkd, tmp_path, {"page_size": "10"}).returncode == 0
    assert ic.calls("/objects")[0]["params"]["cursor"] == cursor
    assert lookup(splunkd) == expected(feed)


def test_malformed_page_writes_nothing(configured_splunkd, ic, tmp_path):
    ic.publish_all(stix_data.make_feed(5))
    ic.malformed(times=1, path="/objects")
    result = run_input(configured_splunkd, tmp_path)
    assert result.returncode == 1
    assert lookup(configured_splunkd) == set()
    state = checkpoint(configured_splunkd)
    assert "no 'items' list" in state["last_error"] and not state.get("cursor")


def test_kvstore_error_keeps_the_cursor(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    feed = stix_data.make_feed(30)
    ic.publish_all(feed)
    assert run_input(splunkd, tmp_path, {"page_size": "10"}).returncode == 0
    cursor = checkpoint(splunkd)["cursor"]
    more = stix_data.make_feed(45)[30:]
    ic.publish_all(more)
    splunkd.inject_failure(r"sekoia_ic_indicators/batch_save", status=503, message="KV Store is shutting down")
    result = run_input(splunkd, tmp_path, {"page_size": "10"})
    assert result.returncode == 1
    assert_clean_exit(result)
    state = checkpoint(splunkd)
    assert state["cursor"] == cursor and "KV Store is shutting down" in state["last_error"]
    assert run_input(splunkd, tmp_path, {"page_size": "10"}).returncode == 0
    assert lookup(splunkd) == expected(feed + more)


def test_changing_the_feed_resyncs(configured_splunkd, ic, tmp_path):
    ic.feeds["other-feed"] = {}
    ic.publish_all(stix_data.make_feed(4))
    assert run_input(configured_splunkd, tmp_path).returncode == 0
    other = stix_data.make_feed(7)[4:]
    ic.publish_all(other, feed_id="other-feed")
    assert run_input(configured_splunkd, tmp_path, {"feed_id": "other-feed"}).returncode == 0
    assert lookup(configured_splunkd) == expected(other)
    assert {r["feed_id"] for r in configured_splunkd.rows("sekoia_ic_indicators")} == {"other-feed"}


def test_key_never_logged(configured_splunkd, ic, tmp_path):
    ic.publish_all(stix_data.make_feed(3))
    result = run_input(configured_splunkd, tmp_path)
    assert result.returncode == 0
    text = log_text(tmp_path)
    assert "feed d6092c37-d8d7-45c3-8aff-c4dc26030608 synced" in text and "DEBUG" in text
    assert API_KEY not in text and API_KEY not in result.stderr + result.stdout
    assert SESSION_KEY not in text


def test_kill_9_at_any_moment_loses_nothing(tmp_path):
    """Kill the real process at random moments while the feed changes; the final lookup must equal a clean
    full sync of the final feed, row for row."""
    rng = random.Random(1234)
    now = datetime.now(timezone.utc)
    feed = stix_data.make_feed(400, now=now)
    with ICStandIn(api_keys={API_KEY: {"intel"}}) as ic, \
            SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as splunkd:
        splunkd.set_password("sekoia_ic", "api_key", API_KEY)
        splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url)
        ic.publish_all(feed)
        ic.latency = 0.01
        stdin = declare_feed(splunkd, {"page_size": "20"})

        def feed_moves_on(round_number):  # revocations and newcomers between runs
            victim = feed[rng.randrange(len(feed))]
            ic.publish(stix_data.revise(victim, revoked=True))
            feed.remove(victim)
            newcomer = stix_data.make_indicator(stix_data.SHAPES[round_number % 12], 5000 + round_number, now=now)
            ic.publish(newcomer)
            feed.append(newcomer)

        kills = kill_repeatedly(stdin, tmp_path, 8, rng, 0.3, 1.2, feed_moves_on, splunkd)
        assert kills >= 3
        ic.latency = 0
        final = run_input(splunkd, tmp_path, {"page_size": "20"}, timeout=300)
        assert final.returncode == 0, final.stderr
        resumed_rows = comparable_rows(splunkd)
        assert lookup(splunkd) == expected(feed)

        with SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as clean:
            clean.set_password("sekoia_ic", "api_key", API_KEY)
            clean.set_conf("sekoia_ic", "settings", base_url=ic.url)
            assert run_input(clean, tmp_path, {"page_size": "20"}, timeout=300).returncode == 0
            clean_rows = comparable_rows(clean)
        assert resumed_rows == clean_rows
        assert len(splunkd.rows("sekoia_ic_indicators")) == len(clean_rows)
