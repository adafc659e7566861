"""The real bin/sekoialookup.py over the chunked protocol v2, against the splunkd and IC stand-ins."""
import json
import subprocess
import time

import pytest

from sekoia_ic.stix.indicators import rows_for
from tests.chunked import SCRIPT, messages, run_command
from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR
from tests.modinput import PYTHON, env_for
from tests.standins.chunked_protocol import encode_chunk, iter_chunks, parse_csv, run_script, searchinfo, to_csv
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID

KNOWN_IP = "77.91.0.2"  # shape_ipv4(1)


@pytest.fixture
def intel(configured_splunkd, ic):
    """Indicators in the IC and synced into the local lookup; returns them by shape name."""
    generated = {
        "ip": stix_data.make_indicator(stix_data.shape_ipv4, 1, threats=[stix_data.make_threat(1),
                                                                         stix_data.make_threat(2, "intrusion-set")]),
        "domain": stix_data.make_indicator(stix_data.shape_duckdns, 2, tlp="amber"),
        "hashes": stix_data.make_indicator(stix_data.shape_file_hashes, 3),
        "url": stix_data.make_indicator(stix_data.shape_url, 4),
        "range": stix_data.make_indicator(stix_data.shape_ipv4_range, 5),
    }
    api_only = stix_data.make_indicator(stix_data.shape_email, 6)  # in the IC, not in the local lookup
    ic.publish_all(list(generated.values()) + [api_only])
    for g in generated.values():
        for row in rows_for(g.indicator, DEFAULT_FEED_ID):
            configured_splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")
    generated["api_only"] = api_only
    return generated


def context_calls(ic):
    return [(r["params"]["type"], r["params"]["value"]) for r in ic.calls("/indicators/context")]


def test_getinfo_declares_a_streaming_command_on_the_search_head(configured_splunkd, tmp_path):
    process, getinfo, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], [[{"dest_ip": "10.0.0.1"}]],
                                            tmp_path)
    assert getinfo[0]["type"] == "stateful"  # splunklib's word for streaming with distributed=false
    assert answers[-1][0]["finished"] is True


def test_both_mode_enriches_matches_and_asks_the_api_only_for_them(configured_splunkd, ic, intel, tmp_path):
    chunks = [
        [{"_raw": "a", "dest_ip": KNOWN_IP}, {"_raw": "b", "dest_ip": "8.8.8.8"}, {"_raw": "c", "dest_ip": "10.1.2.3"}],
        [{"_raw": "d", "dest_ip": KNOWN_IP}, {"_raw": "e", "other": "x"}],
        [{"_raw": "f", "dest_ip": "45.5.0.77"}],  # inside the /24 range indicator
    ]
    process, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], chunks, tmp_path)
    records = [r for _, chunk in answers for r in chunk]
    assert [r["_raw"] for r in records] == ["a", "b", "c", "d", "e", "f"]
    a = records[0]
    assert a["sekoia_matched"] == "true"
    assert a["sekoia_indicator_id"] == intel["ip"].indicator["id"]
    assert a["sekoia_indicator_name"] == intel["ip"].indicator["name"]
    assert sorted(a["sekoia_threats"]) == ["APT-Test-2", "TestRAT-1"]
    assert a["sekoia_kill_chain_phases"] == "command-and-control"
    assert a["sekoia_confidence"] == "80" and a["sekoia_tlp"] == "green" and a["sekoia_sources"] == "SEKOIA.IO"
    assert a["sekoia_type"] == "ipv4-addr" and a.get("sekoia_error", "") == "" and int(a["sekoia_valid_until"]) > 0
    assert [r["sekoia_matched"] for r in records] == ["true", "false", "false", "true", "false", "true"]
    assert records[4]["other"] == "x"
    assert records[5]["sekoia_indicator_id"] == intel["range"].indicator["id"]
    # Only the local matches that are public go to the API, each once (the range match too: the API knows the
    # range, not this address, so the local row is what shows).
    assert sorted(context_calls(ic)) == sorted([("ipv4-addr", KNOWN_IP), ("ipv4-addr", "45.5.0.77")])
    info = [text for level, text in messages(answers) if level == "INFO"]
    # KNOWN_IP again in the second chunk reuses the first chunk's answer: no second lookup, no cache hit.
    assert info == ["sekoialookup: events=6 distinct_values=4 local_matches=2 cache_hits=0 api_calls=2 errors=0 "
                    "invalid_values=0"]


def test_api_mode_asks_every_public_value_once(configured_splunkd, ic, intel, tmp_path):
    email = intel["api_only"].observables[0].value
    chunks = [[{"sender": email}, {"sender": "Nobody@Example.org"}, {"sender": "192.168.1.1"}],
              [{"sender": email}, {"sender": "nobody@example.org"}]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=sender", "mode=api"], chunks, tmp_path)
    records = [r for _, chunk in answers for r in chunk]
    assert [r["sekoia_matched"] for r in records] == ["true", "false", "false", "true", "false"]
    assert records[0]["sekoia_indicator_id"] == intel["api_only"].indicator["id"]
    assert sorted(context_calls(ic)) == sorted([("email-addr", email), ("email-addr", "nobody@example.org")])


def test_a_second_search_uses_the_shared_cache(configured_splunkd, ic, intel, tmp_path):
    chunk = [[{"dest_ip": KNOWN_IP}, {"dest_ip": "1.1.1.1"}]]
    run_command(configured_splunkd.uri, ["field=dest_ip", "mode=api"], chunk, tmp_path)
    assert len(context_calls(ic)) == 2
    _, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip", "mode=api"], chunk, tmp_path)
    assert len(context_calls(ic)) == 2  # positive and negative answers both reused
    records = answers[0][1]
    assert records[0]["sekoia_threats"] and records[1]["sekoia_matched"] == "false"
    assert "cache_hits=2 api_calls=0" in messages(answers)[-1][1]


def test_several_fields_auto_types_and_custom_prefix(configured_splunkd, ic, intel, tmp_path):
    sha256 = next(o.value for o in intel["hashes"].observables if o.hash_type == "sha256")
    url = intel["url"].observables[0].value
    chunks = [[{"url": url, "domain": "BUIKE2.duckdns.org"},
               {"url": "https://fine.example.org/", "domain": "", "hash": sha256.upper()}]]
    _, _, answers = run_command(configured_splunkd.uri,
                                ["field=url,domain", "field=hash", "prefix=ic_", "mode=local"], chunks, tmp_path)
    first, second = answers[0][1]
    assert first["ic_matched"] == "true"
    assert sorted(first["ic_indicator_id"]) == sorted([intel["url"].indicator["id"], intel["domain"].indicator["id"]])
    assert sorted(first["ic_type"]) == ["domain-name", "url"] and sorted(first["ic_tlp"]) == ["amber", "green"]
    assert second["ic_matched"] == "true" and second["ic_type"] == "file"
    assert second["ic_indicator_id"] == intel["hashes"].indicator["id"]
    assert context_calls(ic) == []  # mode=local never asks the API


def test_explicit_type(configured_splunkd, ic, intel, tmp_path):
    _, _, answers = run_command(configured_splunkd.uri, ["field=v", "type=domain-name", "mode=local"],
                                [[{"v": "buike2.duckdns.org"}, {"v": KNOWN_IP}]], tmp_path)
    assert [r["sekoia_matched"] for r in answers[0][1]] == ["true", "false"]


@pytest.mark.parametrize("args, words", [
    ([], "name the field(s) to look up"),
    (["field=dest_ip", "type=bogus"], "unknown type=bogus"),
    (["field=dest_ip", "mode=sometimes"], "unknown mode=sometimes"),
])
def test_bad_options_let_events_pass_with_one_message(configured_splunkd, ic, intel, tmp_path, args, words):
    chunks = [[{"_raw": "x", "dest_ip": KNOWN_IP}], [{"_raw": "y", "dest_ip": KNOWN_IP}]]
    process, _, answers = run_command(configured_splunkd.uri, args, chunks, tmp_path)
    records = [r for _, chunk in answers for r in chunk]
    assert records == [{"_raw": "x", "dest_ip": KNOWN_IP}, {"_raw": "y", "dest_ip": KNOWN_IP}]
    errors = [text for level, text in messages(answers) if level == "ERROR"]
    assert len(errors) == 1 and words in errors[0]
    assert b"Traceback" not in process.stdout


def test_odd_values_pass(configured_splunkd, ic, intel, tmp_path):
    chunks = [[{"dest": ""}, {"dest": "x" * 100_000}, {"dest": "日本語.example"}, {"dest": "😀"},
               {"dest": "a,b;c\"d"}, {"nothing": "here"}]]
    process, _, answers = run_command(configured_splunkd.uri, ["field=dest", "mode=api"], chunks, tmp_path)
    records = answers[0][1]
    assert len(records) == 6 and all(r["sekoia_matched"] == "false" for r in records)
    assert records[2]["dest"] == "日本語.example" and records[4]["dest"] == "a,b;c\"d"
    assert len(records[1]["dest"]) == 100_000
    assert context_calls(ic) == [("domain-name", "xn--wgv71a119e.example")]  # an IDN, asked in its ASCII form
    assert b"Traceback" not in process.stdout


def test_no_api_key_gives_one_error_pointing_to_setup(configured_splunkd, ic, intel, tmp_path):
    configured_splunkd.passwords.clear()
    chunks = [[{"dest_ip": KNOWN_IP}], [{"dest_ip": KNOWN_IP}, {"dest_ip": "8.8.4.4"}]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip"], chunks, tmp_path)
    errors = [text for level, text in messages(answers) if level == "ERROR"]
    assert len(errors) == 1 and "setup page" in errors[0]
    records = [r for _, chunk in answers for r in chunk]
    assert records[0]["sekoia_matched"] == "true"  # the local match still shows
    assert "No Sekoia.io API key" in records[0]["sekoia_error"]
    assert ic.requests == []


@pytest.mark.parametrize("key, words", [("revoked-key", "HTTP 401"), ("no-intel-key", "HTTP 403")])
def test_401_403_give_one_error_not_one_per_event(configured_splunkd, ic, intel, tmp_path, key, words):
    configured_splunkd.set_password("sekoia_ic", "api_key", key)
    chunks = [[{"ip": f"77.92.0.{i}"} for i in range(1, 40)], [{"ip": f"77.93.0.{i}"} for i in range(1, 40)]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api"], chunks, tmp_path)
    errors = [text for level, text in messages(answers) if level == "ERROR"]
    assert len(errors) == 1 and words in errors[0]
    assert len(ic.requests) <= 4  # one wave of concurrent requests at most, then none
    records = [r for _, chunk in answers for r in chunk]
    assert all(words in r["sekoia_error"] for r in records)
    assert key not in str(answers) and API_KEY not in str(answers)


def test_429_waits_within_bounds_then_marks_the_rest(configured_splunkd, ic, intel, tmp_path):
    ic.fail(429, times=1, retry_after=1, path="/indicators/context")  # short: waited for, then answered
    ic.fail(429, times=50, retry_after=600, path="/indicators/context")  # too long to wait inside a search
    chunks = [[{"ip": f"77.94.0.{i}"} for i in range(1, 11)]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=api"], chunks, tmp_path, timeout=60)
    records = answers[0][1]
    marked = [r for r in records if r["sekoia_error"] == "rate limited by the Sekoia.io API"]
    assert len(marked) == 10
    assert len(ic.calls("/indicators/context")) <= 6
    errors = [text for level, text in messages(answers) if level == "ERROR"]
    assert len(errors) == 1 and "rate limiting" in errors[0]


def test_expired_shared_cache_entries_are_purged(configured_splunkd, ic, intel, tmp_path):
    cache = configured_splunkd.kv["sekoia_ic_context_cache"]
    cache["old"] = {"_key": "old", "keys": ["k"], "answers": '{"k": null}', "v": 2, "expires": 1000}
    run_command(configured_splunkd.uri, ["field=ip", "mode=api"], [[{"ip": "9.9.9.9"}]], tmp_path)
    # Keyed by a hash, and the value looked up is not stored (docs/design.md, "Security model").
    from sekoia_ic.enrich.shared_cache import observable_key
    assert "old" not in cache and [row["keys"] for row in cache.values()] == [[observable_key("ipv4-addr", "9.9.9.9")]]
    assert "9.9.9.9" not in json.dumps(list(cache.values()))


def test_one_kv_request_per_chunk_and_none_for_values_already_seen(configured_splunkd, ic, intel, tmp_path):
    chunks = [[{"ip": f"11.0.0.{i}"} for i in range(50)] + [{"ip": KNOWN_IP}],
              [{"ip": f"11.0.0.{i}"} for i in range(50)],  # all seen: no request
              [{"ip": "11.0.1.1"}, {"ip": KNOWN_IP}]]  # one new value: one request for it alone
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=local"], chunks, tmp_path)
    finds = [p for m, p, params in configured_splunkd.requests if "data/sekoia_ic_indicators" in p]
    # chunk 1: the values, then the CIDR range rows (once per search); chunk 3: the new value. Each read ends on
    # an empty page (splunkd may cut a page by size: a short page is no end), one more request for each but the
    # value reads that found nothing.
    assert len(finds) == 5
    assert [r["sekoia_matched"] for r in answers[2][1]] == ["false", "true"]


def test_a_chunk_whose_lookup_failed_is_looked_up_again_in_the_next(configured_splunkd, ic, intel, tmp_path):
    configured_splunkd.inject_failure(r"sekoia_ic_indicators/batch_find", status=503, message="KV Store is starting")
    chunks = [[{"ip": KNOWN_IP}], [{"ip": KNOWN_IP}]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=local"], chunks, tmp_path)
    assert [answers[0][1][0]["sekoia_matched"], answers[1][1][0]["sekoia_matched"]] == ["false", "true"]
    warnings = [text for level, text in messages(answers) if level == "WARN"]
    assert len(warnings) == 1 and "could not be read" in warnings[0]


def test_multivalue_fields(configured_splunkd, ic, intel, tmp_path):
    domain = intel["domain"].observables[0].value
    chunks = [[{"_raw": "a", "dest": ["8.8.8.8", KNOWN_IP]}, {"_raw": "b", "dest": ["not a value", domain]},
               {"_raw": "c", "dest": "10.9.9.9"}],
              [{"_raw": "d", "dest": ["8.8.8.8", KNOWN_IP]}]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=dest", "mode=local"], chunks, tmp_path)
    a, b, c, d = [r for _, chunk in answers for r in chunk]
    assert a["dest"] == ["8.8.8.8", KNOWN_IP]  # the event's own values pass unchanged
    assert a["sekoia_matched"] == "true" and a["sekoia_indicator_id"] == intel["ip"].indicator["id"]
    assert a["sekoia_type"] == "ipv4-addr"
    assert b["sekoia_matched"] == "true" and b["sekoia_type"] == "domain-name"
    assert c["sekoia_matched"] == "false" and c.get("sekoia_indicator_id", "") == ""
    assert d == a | {"_raw": "d"}
    info = [text for level, text in messages(answers) if level == "INFO"]
    assert "invalid_values=1" in info[0] and "distinct_values=4" in info[0]


def test_ttl_0_reuses_no_answer_across_chunks(configured_splunkd, ic, intel, tmp_path):
    chunks = [[{"ip": KNOWN_IP}], [{"ip": KNOWN_IP}]]
    _, _, answers = run_command(configured_splunkd.uri, ["field=ip", "mode=both", "ttl=0"], chunks, tmp_path)
    assert [answers[0][1][0]["sekoia_matched"], answers[1][1][0]["sekoia_matched"]] == ["true", "true"]
    finds = [p for m, p, params in configured_splunkd.requests if p.endswith("sekoia_ic_indicators/batch_find")]
    # the value, in each chunk (an exact match needs no CIDR range rows), and the empty page that ends each read
    assert len(finds) == 4
    assert context_calls(ic) == [("ipv4-addr", KNOWN_IP)] * 2


def test_the_searchs_one_time_reads_are_made_while_its_first_chunk_comes(configured_splunkd, intel, tmp_path):
    """splunkd sends the first chunk once it has the answer to getinfo: the settings, limits.conf [kvstore] and the
    allowlist are read meanwhile, not once the chunk is there."""
    reads = ("conf-sekoia_ic", "conf-limits", "storage/collections/data/sekoia_ic_allowlist")
    before = {path: configured_splunkd.count(path_pattern=path) for path in reads}
    process = subprocess.Popen([PYTHON, "-s", "-E", str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env_for(tmp_path))
    try:
        process.stdin.write(encode_chunk({"action": "getinfo", "preview": False,
                                          "streaming_command_will_restart": False,
                                          "searchinfo": searchinfo(configured_splunkd.uri, "sekoialookup",
                                                                   ["field=dest_ip"], tmp_path, SESSION_KEY)}))
        process.stdin.flush()
        chunks = iter_chunks(process.stdout)
        next(chunks)  # the getinfo answer
        read = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            read = {path: configured_splunkd.count(path_pattern=path) - before[path] for path in reads}
            if all(read.values()):
                break
            time.sleep(0.05)
        process.stdin.write(encode_chunk({"action": "execute", "finished": True}, to_csv([{"dest_ip": KNOWN_IP}])))
        process.stdin.close()
        answers = [(metadata, parse_csv(body)) for metadata, body in chunks]
        process.wait(timeout=60)
    finally:
        process.kill()
    assert all(read.values()), f"read before the first chunk: {read}"
    assert answers[-1][1][0]["sekoia_matched"] == "true"


def test_a_setup_that_fails_passes_the_chunk_and_the_next_chunk_sets_up_again(configured_splunkd, intel, tmp_path):
    script = STAGE_DIR.parent.parent / "tests" / "commands" / "failing_setup_command.py"
    env = dict(env_for(tmp_path), SEKOIA_IC_LIB=str(STAGE_DIR / "lib"))
    _, _, answers = run_script(PYTHON, script, configured_splunkd.uri, "sekoialookup", ["field=dest_ip"],
                               [[{"dest_ip": KNOWN_IP}], [{"dest_ip": KNOWN_IP}]], tmp_path, SESSION_KEY, env)
    first, second = answers[0][1][0], answers[1][1][0]
    assert "sekoia_matched" not in first and first["dest_ip"] == KNOWN_IP
    assert second["sekoia_matched"] == "true"
    assert [text for level, text in messages(answers) if level == "ERROR"] == [
        "sekoialookup: internal error (RuntimeError); events passed unchanged, details in sekoialookup.log"]


def test_the_process_ends_with_every_record_out_and_its_stats_line_logged(configured_splunkd, intel, tmp_path):
    """main() ends the process without Python's teardown (end_process): the output and the log are whole."""
    chunks = [[{"dest_ip": f"77.95.{n}.{i}"} for i in range(200)] for n in range(3)]
    process, _, answers = run_command(configured_splunkd.uri, ["field=dest_ip", "mode=local"], chunks, tmp_path)
    assert process.returncode == 0
    assert [len(chunk) for _, chunk in answers] == [200, 200, 200]
    assert all(r["sekoia_matched"] == "false" for _, chunk in answers for r in chunk)
    log = (tmp_path / "var" / "log" / "splunk" / "sekoialookup.log").read_text()
    assert "sekoialookup: events=600 distinct_values=600 " in log


ATEXIT_PROBE = """
import atexit, sys
hooks = []
register = atexit.register
atexit.register = lambda function, *a, **k: hooks.append(function.__module__) or register(function, *a, **k)
sys.path.insert(0, sys.argv[1])
import sekoia_ic.enrich.sekoialookup, sekoia_ic.enrich.shared_cache, sekoia_ic.splunk.allowlist
from sekoia_ic.enrich.shared_cache import observable_key
observable_key("ipv4-addr", "1.2.3.4")  # its lazy import
print(",".join(hooks))
"""


def test_logging_is_the_only_atexit_hook_of_what_the_command_loads():
    """end_process() calls logging.shutdown() and skips every other atexit hook: there must be none."""
    result = subprocess.run([PYTHON, "-s", "-E", "-c", ATEXIT_PROBE, str(STAGE_DIR / "lib")], capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.split() == ["logging"]
