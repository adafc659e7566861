"""The real bin/sekoia_ic_enrich.py run as Splunk runs a custom alert action ("Create custom alert actions":
`--execute`, the JSON payload on stdin, the results as a gzip CSV), against the splunkd stand-in (with the app's
endpoint sekoia_ic/context and its roles) and the IC stand-in. Splunk's runtime modules that cim_actions imports
come from tests/standins/splunk_runtime."""
import csv
import gzip
import json
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import SESSION_KEY, STAGE_DIR
from tests.standins import stix_data

SCRIPT = STAGE_DIR / "bin" / "sekoia_ic_enrich.py"
PYTHON = getattr(sys, "_base_executable", sys.executable)
RUNTIME = STAGE_DIR.parents[1] / "tests" / "standins" / "splunk_runtime"
# Splunk's Python has its runtime's `splunk` package on the path: here the stand-in's, then the script as is.
BOOT = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); script = sys.argv[2]; sys.argv = sys.argv[2:]; "
        "runpy.run_path(script, run_name='__main__')")


def write_results(path, rows):
    names = sorted({k for row in rows for k in row})
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)


def run_action(splunkd, home, rows, configuration, session_key=SESSION_KEY, args=("--execute",), timeout=120,
               payload=None):
    for folder in ("var/log/splunk", "var/spool/splunk"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    results = home / "dispatch" / "scheduler__admin_search__RMD5_at_1_1" / "results.csv.gz"
    results.parent.mkdir(parents=True, exist_ok=True)
    write_results(results, rows)
    if payload is None:
        payload = json.dumps({
            "app": "search", "owner": "admin", "results_file": str(results), "results_link": "",
            "search_uri": "/servicesNS/admin/search/saved/searches/Test", "server_host": "sh1",
            "server_uri": splunkd.uri, "session_key": session_key, "sid": "scheduler__admin_search__RMD5_at_1_1",
            "search_name": "Test", "configuration": configuration, "result": rows[0] if rows else {}})
    started = time.monotonic()
    process = subprocess.run([PYTHON, "-s", "-E", "-c", BOOT, str(RUNTIME), str(SCRIPT), *args], input=payload,
                             capture_output=True, text=True, timeout=timeout,
                             env={"SPLUNK_HOME": str(home), "PATH": "/usr/bin:/bin"})
    process.elapsed = time.monotonic() - started
    return process


def messages(home):
    """The CAM status lines (sendmodaction - ...) as dicts of their key="value" pairs."""
    path = home / "var" / "log" / "splunk" / "sekoia_ic_enrich_modalert.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line)) | {"_line": line} for line in lines
            if "sendmodaction" in line]


def events(home):
    """The events written to the spool: (header line, [(CAM id line, raw)])."""
    files = list((home / "var" / "spool" / "splunk").glob("*.stash_common_action_model"))
    out = []
    for path in files:
        text = path.read_text()
        header, *chunks = text.split("\n==##~~##~~  1E8N3D4E6V5E7N2T9 ~~##~~##==\n")
        out.append((header, [tuple(chunk.split("\n", 1)) for chunk in chunks]))
    return out


@pytest.fixture
def known(ic):
    generated = stix_data.make_indicator(stix_data.shape_ipv4, 7, tlp="amber", name="Known C2")
    ic.publish(generated)
    return generated.observables[0].value


def test_one_status_per_result_and_events_for_each_value(configured_splunkd, ic, tmp_path, known):
    rows = [{"dest": known, "rid": "0"}, {"dest": "unknown-domain.example", "rid": "1"},
            {"dest": "10.1.2.3", "rid": "2"}, {"other": "x", "rid": "3"}, {"dest": "not a value !", "rid": "4"}]
    result = run_action(configured_splunkd, tmp_path, rows, {"field": "dest", "index": "main"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    by_rid = {}
    for message in messages(tmp_path):
        if message.get("rid") and message.get("signature") != "Invoking modular action":
            by_rid.setdefault(message["rid"], []).append(message)
    assert by_rid["0"][0]["signature"] == "known to Sekoia.io: Known C2" and by_rid["0"][0]["action_status"] == "success"
    assert by_rid["1"][0]["signature"] == "unknown to Sekoia.io"
    assert by_rid["2"][0]["signature"] == "not sent to Sekoia.io: not a public address"
    assert by_rid["3"][0]["signature"] == "no value in dest: nothing to enrich"
    assert by_rid["3"][0]["action_status"] == "failure"
    assert by_rid["4"][0]["signature"].startswith("not an observable") and by_rid["4"][0]["action_status"] == "failure"
    assert all(m["action_name"] == "sekoia_ic_enrich" and m["search_name"] == "Test" for ms in by_rid.values()
               for m in ms)
    assert len(ic.calls(r"indicators/context")) == 2  # the private address is never sent
    [(header, written)] = events(tmp_path)
    assert header.split() == ["***SPLUNK***", 'index="main"', 'source="sekoia_ic_enrich"']
    assert len(written) == 3
    idlines = [w[0] for w in written]
    assert all('orig_action_name="sekoia_ic_enrich"' in line and 'sourcetype="sekoia_ic:enrichment"' in line
               for line in idlines)
    raw = next(r for _, r in written if known in r)
    assert 'sekoia_matched="true"' in raw and 'sekoia_indicator_name="Known C2"' in raw and 'sekoia_tlp="amber"' in raw


def test_a_user_without_the_capability_gets_a_status_per_result_and_exit_2(configured_splunkd, ic, tmp_path, known):
    configured_splunkd.add_session("user-key", "bob", ["user"])
    rows = [{"dest": known}, {"dest": "10.0.0.1"}]
    result = run_action(configured_splunkd, tmp_path, rows, {"field": "dest"}, session_key="user-key")
    assert result.returncode == 2, result.stderr
    assert ic.calls(r"indicators/context") == []
    said = [m for m in messages(tmp_path) if m.get("rid") == "0" and m["signature"] != "Invoking modular action"]
    assert said[0]["action_status"] == "failure" and "sekoia_ic_enrich capability" in said[0]["signature"]
    private = [m for m in messages(tmp_path) if m.get("rid") == "1" and m["signature"] != "Invoking modular action"]
    assert private[0]["signature"] == "not sent to Sekoia.io: not a public address"


def test_an_api_error_is_a_failure_status_and_exit_2(configured_splunkd, ic, tmp_path, known):
    ic.fail(500, times=20, path=r"indicators/context")
    result = run_action(configured_splunkd, tmp_path, [{"dest": known}], {"field": "dest", "api_budget": "20"},
                        timeout=120)
    assert result.returncode == 2, result.stderr
    said = [m for m in messages(tmp_path) if m.get("rid") == "0" and m["signature"] != "Invoking modular action"]
    assert said[0]["action_status"] == "failure" and said[0]["signature"].startswith("not asked:")
    assert result.elapsed < 60


@pytest.mark.parametrize("configuration, args, payload, said", [
    ({}, ("--execute",), None, "no field to enrich"),
    ({"field": "dest", "type": "bogus"}, ("--execute",), None, "unknown type"),
    ({"field": "dest", "index": "Bad Index"}, ("--execute",), None, "not an index name"),
    ({"field": "dest"}, (), None, None),
    ({"field": "dest"}, ("--execute",), "not json", None),
])
def test_an_action_that_cannot_run_says_why_and_exits_1(configured_splunkd, tmp_path, configuration, args, payload,
                                                        said):
    result = run_action(configured_splunkd, tmp_path, [{"dest": "8.8.8.8"}], configuration, args=args,
                        payload=payload)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    log = (tmp_path / "var" / "log" / "splunk" / "sekoia_ic_enrich_modalert.log")
    if said:
        assert any(said in m["signature"] and m["action_status"] == "failure" for m in messages(tmp_path))
    elif args:
        assert "not JSON" in log.read_text()
    else:
        assert "--execute" in result.stderr


def test_10000_results_ask_once_per_distinct_value(configured_splunkd, ic, tmp_path):
    published = [stix_data.make_indicator(stix_data.shape_ipv4, n) for n in range(40)]
    ic.publish_all(published)
    values = [g.observables[0].value for g in published] + [f"198.51.100.{n}" for n in range(1, 11)]
    rows = [{"src": values[n % len(values)], "dest": values[(n * 7) % len(values)]} for n in range(10_000)]
    result = run_action(configured_splunkd, tmp_path, rows, {"field": "src,dest"}, timeout=300)
    assert result.returncode == 0, result.stderr
    asked = [c["params"]["value"] for c in ic.calls(r"indicators/context")]
    assert sorted(asked) == sorted(set(values) - {f"198.51.100.{n}" for n in range(1, 11)})  # TEST-NET: not public
    assert len([m for m in messages(tmp_path) if m["signature"] == "Invoking modular action"]) == 10_000
    assert sum(len(w) for _, w in events(tmp_path)) == 20_000  # one event per value of each result
    # a second run: the shared cache answers, the API is not asked again
    before = len(ic.calls(r"indicators/context"))
    assert run_action(configured_splunkd, tmp_path, rows[:100], {"field": "src"}).returncode == 0
    assert len(ic.calls(r"indicators/context")) == before
