"""`sekoialookup` for every analyst: least privilege, never a lost event, bounded time. The real
bin/sekoialookup.py over the chunked protocol, the app's endpoint run as splunkd runs it, against stand-ins that
refuse, fail and hang as the real ones do."""
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from sekoia_ic.stix.indicators import rows_for
from tests.chunked import messages, run_command
from tests.conftest import API_KEY
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID

KNOWN_IP = "77.91.0.2"  # shape_ipv4(1)


@pytest.fixture
def intel(configured_splunkd, ic):
    generated = stix_data.make_indicator(stix_data.shape_ipv4, 1)
    ic.publish(generated)
    for row in rows_for(generated.indicator, DEFAULT_FEED_ID):
        configured_splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")
    return generated


def records_of(answers):
    return [r for _, chunk in answers for r in chunk]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------- least privilege
@pytest.mark.parametrize("roles, gets_context", [
    (["user"], False), (["power"], False), (["user", "sekoia_ic_analyst"], True), (["sekoia_ic_analyst"], True),
    (["admin"], True), (["sc_admin"], True)])
def test_the_roles_that_use_the_intelligence_get_matches_and_context(configured_splunkd, ic, intel, tmp_path, roles,
                                                                     gets_context):
    """Least exposure (metadata/default.meta): the indicators and the context cache are read by the app's
    analyst role, admin and sc_admin only; user and power get neither, and are told why."""
    splunkd = configured_splunkd
    splunkd.add_session("analyst-key", "ana", roles)
    chunks = [[{"dest_ip": KNOWN_IP}, {"dest_ip": "8.8.8.8"}], [{"dest_ip": KNOWN_IP}]]
    process, _, answers = run_command(splunkd.uri, ["field=dest_ip"], chunks, tmp_path, session_key="analyst-key")
    assert process.returncode == 0 and b"Traceback" not in process.stdout
    records = records_of(answers)
    said = messages(answers)
    if gets_context:
        assert [r["sekoia_matched"] for r in records] == ["true", "false", "true"]
        assert records[0]["sekoia_indicator_id"] == intel.indicator["id"]
        assert records[0]["sekoia_threats"] == "TestRAT-1" and not records[0].get("sekoia_error")
        assert [(r["params"]["type"], r["params"]["value"]) for r in ic.calls("/indicators/context")] == [
            ("ipv4-addr", KNOWN_IP)]
        assert len(splunkd.kv["sekoia_ic_context_cache"]) == 1  # written by the endpoint, not by the user
    else:
        assert [r["sekoia_matched"] for r in records] == ["false", "false", "false"]
        assert any("sekoia_ic_indicators could not be read (HTTP 403" in text for _, text in said)
        assert ic.requests == [] and not records[0].get("sekoia_threats") and not records[0].get("sekoia_error")
        # splunkd tells the command the user's capabilities once: it neither asks the endpoint nor reads the
        # shared cache (another user's answers are API context too).
        assert [e for e in splunkd.access_log if "sekoia_ic/context" in e[2] or "context_cache" in e[2]] == []
        warnings = [text for level, text in said if level == "WARN"]
        assert len(warnings) == 1 and "your role may not read it" in warnings[0]
        assert not any(level == "ERROR" for level, _ in said)
    # The key is read by the endpoint's system session only; the user's session never asks for it.
    assert not [e for e in splunkd.access_log if e[0] == "ana" and "storage/passwords" in e[2]]
    assert not [e for e in splunkd.access_log if e[0] == "ana" and e[3] == 403 and "sekoia_ic/context" not in e[2]
                and not (not gets_context and "sekoia_ic_indicators" in e[2])]
    assert API_KEY not in process.stdout.decode("utf-8", "replace")


def test_the_endpoint_refuses_a_user_without_the_capability(configured_splunkd, tmp_path):
    from sekoia_ic.splunk.settings import app_service
    from splunklib.binding import HTTPError
    configured_splunkd.add_session("user-key", "ana", ["user"])
    with pytest.raises(HTTPError) as refused:
        app_service(configured_splunkd.uri, "user-key").post(
            "sekoia_ic/context", body=json.dumps({"observables": [["ipv4-addr", "8.8.8.8"]]}),
            headers=[("Content-Type", "application/json")])
    assert refused.value.status == 403 and "sekoia_ic_enrich" in str(refused.value)


def test_the_endpoint_rejects_bad_requests_and_private_addresses(configured_splunkd, ic, tmp_path):
    from sekoia_ic.splunk.settings import app_service
    from splunklib.binding import HTTPError
    service = app_service(configured_splunkd.uri, "test-session-key")
    for body in ("not json", json.dumps({"observables": "x"}), json.dumps({"observables": [["registry", "x"]]})):
        with pytest.raises(HTTPError) as refused:
            service.post("sekoia_ic/context", body=body, headers=[("Content-Type", "application/json")])
        assert refused.value.status == 400
    answer = json.loads(service.post("sekoia_ic/context", body=json.dumps(
        {"observables": [["ipv4-addr", "10.1.2.3"], ["ipv6-addr", "ff02::1"]]}),
        headers=[("Content-Type", "application/json")]).body.read())
    assert [f[:2] for f in answer["failures"]] == [["ipv4-addr", "10.1.2.3"], ["ipv6-addr", "ff02::1"]]
    assert ic.requests == []


# ---------------------------------------------------------------------------------------------- never a lost event
def big_stream():
    """A 9-chunk stream as splunkd sends one (the last chunk of 50,000 events, splunkd's maximum), with _raw
    and a multivalue field."""
    sizes = [500, 6638, 1, 0, 120, 2000, 77, 3, 50_000]
    chunks = []
    for c, size in enumerate(sizes):
        chunks.append([{"_raw": f"event {c}-{i} {{\"k\": 1}}", "dest_ip": KNOWN_IP if i % 7 == 0 else f"11.0.{c}.{i % 250}",
                        "tags": ["a", "b"] if i % 3 == 0 else "c"} for i in range(size)])
    return chunks


@pytest.mark.parametrize("fault, words", [
    ("unreachable", "splunkd did not answer"),
    ("expired_session", "HTTP 401"),
    ("conf_403", None),
    ("kv_503", "HTTP 503"),
    ("kv_403", "HTTP 403"),
])
def test_whatever_splunkd_does_every_event_comes_back(configured_splunkd, ic, intel, tmp_path, fault, words):
    splunkd = configured_splunkd
    uri, key = splunkd.uri, "test-session-key"
    if fault == "unreachable":
        uri = f"http://127.0.0.1:{closed_port()}"
    elif fault == "expired_session":
        key = "expired-session-key"
    elif fault == "conf_403":
        splunkd.inject_failure(r"configs/conf-sekoia_ic", status=403, message="Forbidden", times=50)
    elif fault == "kv_503":
        splunkd.inject_failure(r"data/sekoia_ic_indicators", status=503, message="KV Store is shutting down",
                               times=50)
    else:
        splunkd.inject_failure(r"data/sekoia_ic_indicators", status=403, message="Forbidden", times=50)
    chunks = big_stream()
    process, _, answers = run_command(uri, ["field=dest_ip", "mode=local"], chunks, tmp_path, session_key=key)
    assert process.returncode == 0 and b"Traceback" not in process.stdout + process.stderr
    assert [m.get("finished") for m, _ in answers] == [False] * 8 + [True]  # splunkd's own flags, echoed
    for sent, (_, got) in zip(chunks, answers):
        assert len(got) == len(sent)
        for original, record in zip(sent, got):
            assert {k: record[k] for k in original} == original
    said = [(level, text) for level, text in messages(answers) if level != "INFO"]
    if words is None:  # the app's conf is only read for the log level: the search goes on untouched
        assert [r["sekoia_matched"] for r in records_of(answers)][:1] == ["true"]
    else:
        assert len(said) == 1 and words in said[0][1] and "sekoia_ic_indicators" in said[0][1]


def test_an_unknown_field_list_and_braces_in_messages_never_crash(configured_splunkd, ic, intel, tmp_path):
    """splunklib formats job inspector messages with str.format: an IC error body with braces is quoted as is."""
    ic.fail(400, times=5, path="/indicators/context", body={"message": "bad value {value} in {0}"})
    chunks = [[{"ip": "77.95.0.1"}], [{"ip": "77.95.0.2"}]]
    process, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api"], chunks, tmp_path)
    assert process.returncode == 0 and [m["finished"] for m, _ in answers] == [False, True]
    assert all("{value} in {0}" in r["sekoia_error"] for r in records_of(answers))
    assert any("{value} in {0}" in text for _, text in messages(answers))


# ---------------------------------------------------------------------------------------------- malformed answers
@pytest.mark.parametrize("body, words", [
    ('{"has_more": false, "items": {"not": "a list"}}', "no 'items' list"),
    ('{"has_more": false, "items": [{"type": "bundle", "id": "bundle--1"}]}', "without an 'objects' list"),
    ('{"has_more": false, "items": [', "not valid JSON"),
])
def test_malformed_context_answers_keep_the_local_match_and_are_not_cached(configured_splunkd, ic, intel, tmp_path,
                                                                           body, words):
    ic.malformed(times=1, path="/indicators/context", body=body)
    process, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], [[{"dest_ip": KNOWN_IP}]], tmp_path)
    record = records_of(answers)[0]
    assert record["sekoia_matched"] == "true" and record["sekoia_indicator_id"] == intel.indicator["id"]
    assert words in record["sekoia_error"]
    assert len(configured_splunkd.kv["sekoia_ic_context_cache"]) == 0
    _, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], [[{"dest_ip": KNOWN_IP}]], tmp_path)
    assert records_of(answers)[0]["sekoia_threats"] == "TestRAT-1"  # asked again, answered
    assert len(ic.calls("/indicators/context")) == 2


def test_expired_and_revoked_indicators_of_the_context_api_are_no_match(configured_splunkd, ic, tmp_path):
    now = datetime.now(timezone.utc)
    expired = stix_data.make_indicator(stix_data.shape_ipv4, 31, now=now, created=now - timedelta(days=900),
                                       valid_until=now - timedelta(days=700))
    revoked = stix_data.make_indicator(stix_data.shape_domain, 32, now=now, revoked=True)
    ic.publish_all([expired, revoked])
    chunks = [[{"v": expired.observables[0].value}, {"v": revoked.observables[0].value}]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=v", "mode=api"], chunks, tmp_path)
    first, second = records_of(answers)
    assert first["sekoia_matched"] == second["sekoia_matched"] == "false"
    assert first["sekoia_inactive_indicator_id"] == expired.indicator["id"]
    assert first["sekoia_inactive_reason"] == "expired" and second["sekoia_inactive_reason"] == "revoked"
    assert "sekoia_indicator_id" not in first


# ---------------------------------------------------------------------------------------------- bounded time
def test_an_api_that_does_not_answer_is_given_up_quickly(configured_splunkd, ic, intel, tmp_path):
    configured_splunkd.set_conf("sekoia_ic", "settings", timeout="1")
    ic.latency = 3.0  # every answer comes after the timeout
    chunks = [[{"ip": f"77.96.0.{i}"} for i in range(1, 41)], [{"ip": f"77.96.1.{i}"} for i in range(1, 41)]]
    started = time.monotonic()
    process, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api"], chunks, tmp_path,
                                      timeout=120)
    assert process.returncode == 0
    records = records_of(answers)
    assert len(records) == 80 and all(r["sekoia_error"] for r in records)
    # 2 consecutive timeouts end the asking: one wave of 4 requests, each tried twice (retries=1) at most.
    assert len(ic.calls("/indicators/context")) <= 8
    errors = [text for level, text in messages(answers) if level == "ERROR"]
    assert any("did not answer" in e for e in errors)
    assert time.monotonic() - started < 60  # a guard against a stall, not a speed target


def test_the_api_budget_bounds_the_whole_search(configured_splunkd, ic, intel, tmp_path):
    ic.latency = 0.3
    chunks = [[{"ip": f"77.97.{c}.{i}"} for i in range(1, 30)] for c in range(3)]
    process, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api", "api_budget=2"], chunks,
                                      tmp_path)
    assert process.returncode == 0 and len(records_of(answers)) == 87
    spent = [r for r in records_of(answers) if "api_budget" in r.get("sekoia_error", "")]
    assert spent and len(ic.calls("/indicators/context")) < 20  # 2 s at 5 requests/s, plus the waves in flight
    assert any("api_budget" in text for _, text in messages(answers))


def test_a_splunkd_that_stops_answering_is_given_up(configured_splunkd, tmp_path):
    from sekoia_ic.splunk.settings import app_service
    configured_splunkd.inject_failure(r"data/sekoia_ic_indicators", delay=5, times=1)
    service = app_service(configured_splunkd.uri, "test-session-key", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(OSError):  # socket.timeout
        service.kvstore["sekoia_ic_indicators"].data.query(limit=1)
    assert time.monotonic() - started < 4


# ---------------------------------------------------------------------------------------------- one rate limit
def test_concurrent_searches_and_the_feed_share_one_request_budget(configured_splunkd, ic, tmp_path):
    """Three searches and the feed input at once, the IC failing now and then: together under 5 requests/s and
    at most 2 error answers in any 10 s (the IC firewall's limits)."""
    from tests.modinput import run_input
    ic.publish_all(stix_data.make_feed(30))
    ic.fail(500, times=3, path="/indicators/context")
    searches = [[[{"ip": f"77.98.{n}.{i}"} for i in range(1, 9)]] for n in range(3)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(run_command, configured_splunkd.uri, ["field=ip", "mode=api"], chunks, tmp_path,
                               timeout=200) for chunks in searches]
        feed = pool.submit(run_input, configured_splunkd, tmp_path, {"page_size": "5"}, timeout=200)
        results = [f.result() for f in futures]
        assert feed.result().returncode == 0
    for process, _, answers in results:
        assert process.returncode == 0 and len(records_of(answers)) == 8
    assert len(ic.requests) >= 24 + 7
    assert ic.max_requests_in(1.0) <= 5  # counted at arrival, as the firewall counts
    assert ic.max_errors_in(10.0) <= 2


# ---------------------------------------------------------------------------------------------- lookup reads
def test_local_matches_past_max_rows_per_query(configured_splunkd, tmp_path):
    splunkd = configured_splunkd
    splunkd.confs["limits"]["kvstore"]["max_rows_per_query"] = "10"
    feed = stix_data.make_feed(30, shapes=[stix_data.shape_ipv4])
    for g in feed:
        for row in rows_for(g.indicator, DEFAULT_FEED_ID):
            splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")
    ranges = stix_data.make_feed(12, shapes=[stix_data.shape_ipv4_range])
    for g in ranges:
        for row in rows_for(g.indicator, DEFAULT_FEED_ID):
            splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")
    values = [g.observables[0].value for g in feed] + ["45.11.0.9"]  # inside the 12th range
    _, _, answers = run_command(splunkd.uri, ["field=ip", "mode=local"], [[{"ip": v} for v in values]], tmp_path)
    assert [r["sekoia_matched"] for r in records_of(answers)] == ["true"] * 31


def test_a_string_kill_chain_phase_stays_whole(configured_splunkd, tmp_path):
    """collections.conf declares kill_chain_phases a string: | outputlookup writes it so."""
    row = rows_for(stix_data.make_indicator(stix_data.shape_ipv4, 1).indicator, DEFAULT_FEED_ID)[0]
    configured_splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, kill_chain_phases="delivery")
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=local"], [[{"ip": row["value"]}]],
                                tmp_path)
    assert records_of(answers)[0]["sekoia_kill_chain_phases"] == "delivery"


@pytest.mark.parametrize("value", ["224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2", "010.001.002.003",
                                   "192.168.001.010", "127.000.000.001", "10.0.0.1", "fe80::1", "::1"])
def test_addresses_that_must_never_leave_stay_home(configured_splunkd, ic, tmp_path, value):
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api"], [[{"ip": value}]], tmp_path)
    record = records_of(answers)[0]
    assert record["sekoia_matched"] == "false" and not record.get("sekoia_error")
    assert ic.requests == []
    assert [e for e in configured_splunkd.access_log if "sekoia_ic/context" in e[2]] == []  # not even asked


@pytest.mark.parametrize("value, obs_type", [("8.8.8.0/24", "ipv4-addr"), ("2001:4860::/32", "ipv6-addr")])
def test_a_range_is_not_an_address_to_ask_about(configured_splunkd, ic, tmp_path, value, obs_type):
    """With type=ipv4-addr or ipv6-addr, a CIDR range is an observable of the lookup, not a value the IC context
    API is asked about (it would answer for no address)."""
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api", f"type={obs_type}"],
                                [[{"ip": value}]], tmp_path)
    assert records_of(answers)[0]["sekoia_matched"] == "false" and not records_of(answers)[0].get("sekoia_error")
    assert [e for e in configured_splunkd.access_log if "sekoia_ic/context" in e[2]] == [] and ic.requests == []


def test_an_analyst_reads_cached_context_without_the_endpoint(configured_splunkd, ic, intel, tmp_path):
    """The shared cache is readable by every role: a value another search asked about costs no endpoint request,
    for a user who holds sekoia_ic_enrich."""
    splunkd = configured_splunkd
    splunkd.add_session("analyst-key", "ana", ["sekoia_ic_analyst"])
    chunks = [[{"dest_ip": KNOWN_IP}]]
    run_command(splunkd.uri, ["field=dest_ip"], chunks, tmp_path, session_key="analyst-key")
    endpoint_calls = [e for e in splunkd.access_log if "sekoia_ic/context" in e[2]]
    assert len(endpoint_calls) == 1 and len(ic.calls("/indicators/context")) == 1
    _, _, answers = run_command(splunkd.uri, ["field=dest_ip"], chunks, tmp_path / "second", session_key="analyst-key")
    assert records_of(answers)[0]["sekoia_threats"] == "TestRAT-1"
    assert [e for e in splunkd.access_log if "sekoia_ic/context" in e[2]] == endpoint_calls
    assert len(ic.calls("/indicators/context")) == 1


def test_a_shared_cache_that_fails_only_costs_api_requests(configured_splunkd, ic, intel, tmp_path):
    configured_splunkd.inject_failure(r"data/sekoia_ic_context_cache", status=503, message="KV Store is initializing",
                                      times=50)
    process, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], [[{"dest_ip": KNOWN_IP}]], tmp_path)
    assert process.returncode == 0
    record = records_of(answers)[0]
    assert record["sekoia_threats"] == "TestRAT-1" and not record.get("sekoia_error")
    # one warning; the answer is still written (the KV store may be up again by then: here it is not)
    assert len([text for level, text in messages(answers) if "shared cache" in text]) == 1
    assert cache_writes(configured_splunkd)


def cache_writes(splunkd):
    """The requests that write the shared cache (its purge, its batch saves): every one but its reads."""
    return [(m, p) for m, p, _ in splunkd.requests if "sekoia_ic_context_cache" in p and not p.endswith("batch_find")]


def test_a_shared_cache_that_is_missing_is_not_written(configured_splunkd, ic, intel, tmp_path):
    configured_splunkd.inject_failure(r"data/sekoia_ic_context_cache", status=404, message="Not found", times=50)
    _, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], [[{"dest_ip": KNOWN_IP}]], tmp_path)
    assert records_of(answers)[0]["sekoia_threats"] == "TestRAT-1"
    assert len([text for level, text in messages(answers) if "shared cache" in text]) == 1
    assert cache_writes(configured_splunkd) == []
