"""The lookup's promise, through the real bin/ scripts: an observable is in `sekoia_ic_indicators` exactly while
at least one live indicator of the feed names it, once per such indicator; and no credential an error body
quotes is stored or shown anywhere."""
import json
import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from sekoia_ic.stix.indicators import rows_for
from sekoia_ic.stix.observables import observable_key
from tests.chunked import messages, run_command
from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR
from tests.modinput import (checkpoint, comparable_rows, expected, declare_feed, input_xml, kill_repeatedly, log_text, lookup,
                            run_input, start_script)
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID, ICStandIn, encode_cursor
from tests.standins.splunkd import SplunkdStandIn

SHARED_DOMAIN = "shared.bad-domain.org"
SHARED_IP = "198.51.100.77"
CHECKPOINT_KEY = "sekoia_ic_feed___default"


def shape_shared(n):
    """Two public lists naming the same domain and IP (the IC merges sources, but feeds still overlap)."""
    return (f"[domain-name:value = '{SHARED_DOMAIN}'] OR [ipv4-addr:value = '{SHARED_IP}']",
            ["domain-name", "ipv4-addr"],
            [stix_data.Observable("domain-name", SHARED_DOMAIN), stix_data.Observable("ipv4-addr", SHARED_IP)])


def indicators_of(splunkd, value):
    return sorted(r["indicator_id"] for r in splunkd.rows("sekoia_ic_indicators") if r["value"] == value)


def observables_in(splunkd):
    return {(r["type"], r["value"]) for r in splunkd.rows("sekoia_ic_indicators")}


def two_sharing(now, b_valid_until=None):
    a = stix_data.make_indicator(shape_shared, 1, now=now, variant="a")
    b = stix_data.make_indicator(shape_shared, 1, now=now, variant="b", valid_until=b_valid_until)
    return a, b


def sync(splunkd, tmp_path, **params):
    result = run_input(splunkd, tmp_path, {"page_size": "3", **params})
    assert result.returncode == 0, result.stderr
    return result


# ---------------------------------------------------------------------------------------------- shared observables
@pytest.mark.parametrize("change", ["revoke", "repattern", "expire_by_modification"])
def test_one_of_two_indicators_leaving_keeps_the_shared_observable(configured_splunkd, ic, tmp_path, change):
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    a, b = two_sharing(now)
    filler = stix_data.make_feed(4, now=now)
    ic.publish_all([a, b] + filler)
    sync(splunkd, tmp_path)
    assert indicators_of(splunkd, SHARED_DOMAIN) == sorted([a.indicator["id"], b.indicator["id"]])

    if change == "revoke":
        ic.publish(stix_data.revise(b, revoked=True))
    elif change == "repattern":
        ic.publish(stix_data.revise(b, pattern="[domain-name:value = 'only-b.example.org']"))
    else:  # a new version whose valid_until is already past: skip_expired would hide it
        ic.publish(stix_data.revise(b, valid_until=stix_data.stamp(now - timedelta(minutes=1))))
    sync(splunkd, tmp_path)
    assert indicators_of(splunkd, SHARED_DOMAIN) == [a.indicator["id"]]
    assert indicators_of(splunkd, SHARED_IP) == [a.indicator["id"]]
    if change == "repattern":
        assert indicators_of(splunkd, "only-b.example.org") == [b.indicator["id"]]
    assert lookup(splunkd) == expected([a] + filler) | (
        {("domain-name", "only-b.example.org", "", False, b.indicator["id"])} if change == "repattern" else set())


def test_one_of_two_indicators_expiring_by_time_keeps_the_shared_observable(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    a, b = two_sharing(now, b_valid_until=now + timedelta(seconds=3))
    ic.publish_all([a, b])
    sync(splunkd, tmp_path)
    assert len(indicators_of(splunkd, SHARED_IP)) == 2
    time.sleep(3.2)
    sync(splunkd, tmp_path)
    assert lookup(splunkd) == expected([a])
    assert checkpoint(splunkd)["expired_purged"] == 2


def test_revoking_both_removes_the_observable(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    a, b = two_sharing(datetime.now(timezone.utc))
    ic.publish_all([a, b])
    sync(splunkd, tmp_path)
    ic.publish(stix_data.revise(a, revoked=True))
    sync(splunkd, tmp_path)
    assert indicators_of(splunkd, SHARED_DOMAIN) == [b.indicator["id"]]
    ic.publish(stix_data.revise(b, revoked=True))
    sync(splunkd, tmp_path)
    assert lookup(splunkd) == set()


def test_an_indicator_expired_by_a_modification_leaves(configured_splunkd, ic, tmp_path):
    """The update that moves valid_until into the past is read (skip_expired=false when resuming)."""
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    feed = stix_data.make_feed(6, now=now)
    ic.publish_all(feed)
    sync(splunkd, tmp_path)
    ic.publish(stix_data.revise(feed[2], valid_until=stix_data.stamp(now - timedelta(seconds=1))))
    ic.requests.clear()
    sync(splunkd, tmp_path)
    assert all(r["params"]["skip_expired"] == "false" for r in ic.calls("/objects"))
    assert lookup(splunkd) == expected(feed[:2] + feed[3:])


def test_every_indicator_of_a_value_answers_the_last_modified_first(configured_splunkd, ic, tmp_path):
    """| lookup gets one row per indicator (multivalue output); sekoialookup lists them, the last modified first,
    whatever their order in the feed."""
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    older = stix_data.make_indicator(shape_shared, 1, now=now - timedelta(hours=1), variant="older")
    newer = stix_data.make_indicator(shape_shared, 1, now=now, variant="newer")
    ic.publish_all([newer, older])  # feed order: the older one comes last
    sync(splunkd, tmp_path)
    assert indicators_of(splunkd, SHARED_DOMAIN) == sorted([older.indicator["id"], newer.indicator["id"]])
    _, _, answers = run_command(splunkd.uri, ["field=dest", "mode=local"],
                                [[{"dest": SHARED_DOMAIN.upper()}, {"dest": SHARED_IP}]], tmp_path)
    for record in answers[0][1]:
        assert record["sekoia_matched"] == "true"
        assert record["sekoia_indicator_id"] == [newer.indicator["id"], older.indicator["id"]]


# ---------------------------------------------------------------------------------------------- IDN
@pytest.mark.parametrize("feed_form", ["bücher-malware.de", "xn--bcher-malware-wob.de"])
def test_internationalised_domains_match_in_either_form(configured_splunkd, ic, tmp_path, feed_form):
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    base = stix_data.make_indicator(stix_data.shape_domain, 1, now=now)
    idn = stix_data.Generated(dict(base.indicator, pattern=f"[domain-name:value = '{feed_form}'] OR "
                                                           "[domain-name:value = 'пример-вредонос.рф']"), [], [])
    ic.publish(idn)
    sync(splunkd, tmp_path)
    state = checkpoint(splunkd)
    assert state["unsupported_patterns"] == 0 and state["invalid_objects"] == 0
    assert observables_in(splunkd) == {("domain-name", "xn--bcher-malware-wob.de"),
                                       ("domain-name", "xn----dtbgbco2anibbmdcu.xn--p1ai")}
    events = ["bücher-malware.de", "xn--bcher-malware-wob.de", "BÜCHER-MALWARE.DE.", "Xn--Bcher-Malware-Wob.De",
              "пример-вредонос.рф", "ПРИМЕР-ВРЕДОНОС.РФ", "xn----dtbgbco2anibbmdcu.xn--p1ai", "bucher-malware.de"]
    _, _, answers = run_command(splunkd.uri, ["field=dest", "mode=local"], [[{"dest": e} for e in events]],
                                tmp_path)
    assert [r["sekoia_matched"] for r in answers[0][1]] == ["true"] * 7 + ["false"]


# ---------------------------------------------------------------------------------------------- secrets
ECHOED = "eyJhbGciOiJIUzI1NiJ9.other-client-token"  # a gateway may echo a token this process never had


def echo_body():
    return {"message": "Bad request", "request": {"headers": {"Authorization": f"Bearer {API_KEY}",
                                                              "X-Forwarded": f"authorization: Bearer {ECHOED}"}}}


def assert_no_secret(*texts):
    for text in texts:
        assert API_KEY not in text and ECHOED not in text, text


def test_an_error_body_quoting_the_key_is_stored_masked(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    ic.publish_all(stix_data.make_feed(3))
    ic.fail(400, times=1, path="/objects", body=echo_body())
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 1
    state = checkpoint(splunkd)
    assert "HTTP 400" in state["last_error"] and "********" in state["last_error"]
    assert_no_secret(json.dumps(splunkd.rows("sekoia_ic_checkpoints")), log_text(tmp_path), result.stderr,
                     result.stdout)


def test_sekoialookup_never_shows_a_quoted_key(configured_splunkd, ic, tmp_path):
    ic.fail(400, times=10, path="/indicators/context", body=echo_body())
    process, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api"],
                                      [[{"ip": "77.95.0.1"}, {"ip": "77.95.0.2"}]], tmp_path)
    records = answers[0][1]
    assert all("HTTP 400" in r["sekoia_error"] for r in records)
    errors = [text for level, text in messages(answers) if level == "ERROR"]
    assert errors and all("HTTP 400" in e for e in errors)
    log = (tmp_path / "var" / "log" / "splunk" / "sekoialookup.log").read_text()
    assert_no_secret(process.stdout.decode("utf-8", "replace"), json.dumps(answers), log)


def test_sekoiacheck_never_shows_a_quoted_key(configured_splunkd, ic, tmp_path):
    ic.fail(400, times=1, path="/v1/me", body=echo_body())
    process, _, answers = run_command(configured_splunkd.uri, [], [[]], tmp_path,
                                      script=STAGE_DIR / "bin" / "sekoiacheck.py", command="sekoiacheck")
    row = answers[0][1][0]
    assert row["status"] == "error" and "HTTP 400" in row["message"]
    assert_no_secret(process.stdout.decode("utf-8", "replace"))


# ---------------------------------------------------------------------------------------------- upgrade from 1.0.0
def legacy_v1_rows(generated_list, now):
    """The lookup as 1.0.0 left it after syncing these indicators in feed order: one row per observable, keyed
    by sha1(type, value) alone, holding the indicator that came last (1.0.0's rows had the fields of today's)."""
    rows = {}
    for g in generated_list:
        if g.indicator.get("revoked") or datetime.fromisoformat(
                g.indicator["valid_until"].replace("Z", "+00:00")) <= now:
            continue
        for row in rows_for(g.indicator, DEFAULT_FEED_ID):
            key = observable_key(row["type"], row["value"])
            rows[key] = dict(row, _key=key, _user="nobody")
    return rows


def upgrade_scenario(ic, splunkd, now):
    """A feed synced by 1.0.0, which then moved on: returns the indicators live at the end."""
    a, b = two_sharing(now)
    feed = stix_data.make_feed(40, now=now)
    expiring = stix_data.make_indicator(stix_data.shape_email, 90, now=now, created=now - timedelta(days=2),
                                        valid_until=now + timedelta(seconds=2))
    before = [a, b] + feed + [expiring]
    ic.publish_all(before)
    splunkd.kv["sekoia_ic_indicators"].update(legacy_v1_rows(before, now))
    splunkd.kv["sekoia_ic_checkpoints"][CHECKPOINT_KEY] = {
        "_key": CHECKPOINT_KEY, "input": "sekoia_ic_feed://default", "feed_id": DEFAULT_FEED_ID,
        "cursor": encode_cursor(ic.seq), "status": "success", "initial_sync_done": True, "source": "rest"}
    # After the last 1.0.0 run: b revoked (1.0.0 would have lost the shared rows), one re-patterned, one
    # expired by a modification, one newcomer; `expiring` expires by time.
    ic.publish(stix_data.revise(b, revoked=True))
    ic.publish(stix_data.revise(feed[3], pattern="[domain-name:value = 'moved.example.org']"))
    ic.publish(stix_data.revise(feed[4], valid_until=stix_data.stamp(now - timedelta(seconds=1))))
    newcomer = stix_data.make_indicator(stix_data.shape_url, 77, now=now)
    ic.publish(newcomer)
    time.sleep(2.1)
    moved = stix_data.Generated(dict(feed[3].indicator), [stix_data.Observable("domain-name", "moved.example.org")])
    return [a] + feed[:3] + [moved] + feed[5:] + [newcomer]


def fresh_install_rows(ic, tmp_path):
    with SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as clean:
        clean.set_password("sekoia_ic", "api_key", API_KEY)
        clean.set_conf("sekoia_ic", "settings", base_url=ic.url)
        assert run_input(clean, tmp_path, {"page_size": "5"}).returncode == 0
        return comparable_rows(clean)


def test_upgrade_from_1_0_0_never_misses_a_live_observable(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    live = upgrade_scenario(ic, splunkd, now)
    must_stay = observables_in(splunkd) & {(o.type, o.value) for g in live for o in g.observables}
    assert len(must_stay) > 40
    ic.latency = 0.02
    process = start_script(declare_feed(splunkd, {"page_size": "5"}), tmp_path)
    observed = 0
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        missing = must_stay - observables_in(splunkd)
        assert not missing, f"live observables missing during the upgrade: {sorted(missing)[:5]}"
        observed += 1
        time.sleep(0.005)
    assert process.wait(timeout=30) == 0, process.stderr.read()
    assert observed > 10
    ic.latency = 0
    assert lookup(splunkd) == expected(live)
    state = checkpoint(splunkd)
    assert state["lookup_model"] == 3 and state["upgrade_started"] is False
    assert comparable_rows(splunkd) == fresh_install_rows(ic, tmp_path / "fresh")
    # The next run resumes from the cursor: no second full read.
    ic.requests.clear()
    sync(splunkd, tmp_path)
    assert [r["params"].get("cursor") for r in ic.calls("/objects")] == [state["cursor"]]


def test_upgrade_killed_at_any_moment_ends_as_a_fresh_install(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    now = datetime.now(timezone.utc)
    live = upgrade_scenario(ic, splunkd, now)
    ic.latency = 0.01
    stdin = declare_feed(splunkd, {"page_size": "5"})
    kills = kill_repeatedly(stdin, tmp_path, 5, random.Random(7), 0.2, 0.9, lambda _: None, splunkd)
    assert kills >= 2
    ic.latency = 0
    sync(splunkd, tmp_path, page_size="5")
    assert lookup(splunkd) == expected(live)
    assert comparable_rows(splunkd) == fresh_install_rows(ic, tmp_path / "fresh")
    assert checkpoint(splunkd)["lookup_model"] == 3


# ---------------------------------------------------------------------------------------------- kill -9
def test_kill_9_with_shared_observables_revocations_and_expiries(tmp_path):
    """Kill the real process at random moments while indicators sharing observables are revoked, expired (by
    time and by modification) and added; the final lookup equals a clean full sync of the final feed."""
    rng = random.Random(4321)
    now = datetime.now(timezone.utc)
    feed = stix_data.make_feed(200, now=now)
    # Overlap: a second indicator for 40 of the observables; 10 of the first ones expire during the test.
    feed += [stix_data.make_indicator(stix_data.SHAPES[i % 12], i, now=now, variant="b") for i in range(40)]
    short = [stix_data.make_indicator(stix_data.SHAPES[i % 12], i, now=now, variant="short",
                                      valid_until=now + timedelta(seconds=4)) for i in range(10)]
    with ICStandIn(api_keys={API_KEY: {"intel"}}) as ic, \
            SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as splunkd:
        splunkd.set_password("sekoia_ic", "api_key", API_KEY)
        splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url)
        ic.publish_all(feed + short)
        ic.latency = 0.01
        stdin = declare_feed(splunkd, {"page_size": "20"})

        def feed_moves_on(round_number):
            victim = feed[rng.randrange(len(feed))]
            feed.remove(victim)
            if round_number % 2:
                ic.publish(stix_data.revise(victim, revoked=True))
            else:
                ic.publish(stix_data.revise(victim, valid_until=stix_data.stamp(now - timedelta(seconds=1))))
            sharer = feed[rng.randrange(len(feed))]
            newcomer = stix_data.make_indicator(stix_data.SHAPES[0], 0, now=now, variant=f"new{round_number}")
            newcomer = stix_data.Generated(dict(newcomer.indicator, pattern=sharer.indicator["pattern"],
                                                x_ic_observable_types=sharer.indicator["x_ic_observable_types"]),
                                           sharer.observables)
            ic.publish(newcomer)
            feed.append(newcomer)

        kills = kill_repeatedly(stdin, tmp_path, 8, rng, 0.3, 1.2, feed_moves_on, splunkd)
        assert kills >= 3
        ic.latency = 0
        time.sleep(max(0.0, (now + timedelta(seconds=4.5) - datetime.now(timezone.utc)).total_seconds()))
        final = run_input(splunkd, tmp_path, {"page_size": "20"}, timeout=300)
        assert final.returncode == 0, final.stderr
        assert lookup(splunkd) == expected(feed)
        resumed_rows = comparable_rows(splunkd)
        with SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as clean:
            clean.set_password("sekoia_ic", "api_key", API_KEY)
            clean.set_conf("sekoia_ic", "settings", base_url=ic.url)
            assert run_input(clean, tmp_path, {"page_size": "20"}, timeout=300).returncode == 0
            assert resumed_rows == comparable_rows(clean)
