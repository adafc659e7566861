"""The alert action sekoia_ic_add_to_collection as Splunk runs it (alert_actions.conf.spec, "Create custom alert
actions": `bin/<stanza>.py --execute`, the JSON payload on stdin, the results as a gzip CSV in which a multivalue
field has its values in `__mv_<field>` as `$a$;$b$`), through the splunkd stand-in (roles, the app's endpoint
sekoia_ic/push as a persistent handler) to the IC stand-in's IOC collections."""
import csv
import gzip
import json
import re
import socket
import subprocess
import time

import pytest

from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR
from tests.modinput import PYTHON, env_for
from tests.standins.conffile import read_conf

SCRIPT = STAGE_DIR / "bin" / "sekoia_ic_add_to_collection.py"
COLLECTION = "6b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4"
OTHER_COLLECTION = "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d"
IOC_PATH = f"/v2/inthreat/ioc-collections/{COLLECTION}/indicators"


# ---------------------------------------------------------------------------------------------- running it
def write_results(path, rows):
    """A results file as splunkd writes one: every field's column then its __mv_ column; a list is multivalue."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with gzip.open(path, "wt", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(fields + [f"__mv_{f}" for f in fields])
        for row in rows:
            values, mv = [], []
            for field in fields:
                value = row.get(field, "")
                if isinstance(value, list):
                    values.append("\n".join(value))
                    mv.append(";".join("$" + v.replace("$", "$$") + "$" for v in value))
                else:
                    values.append(value)
                    mv.append("")
            writer.writerow(values + mv)


def run_action(splunkd, tmp_path, rows, session_key=SESSION_KEY, server_uri=None, argv=("--execute",), stdin=None,
               **params):
    results = tmp_path / "results.csv.gz"
    write_results(results, rows)
    config = {"collection_id": COLLECTION, "field": "value", "type": "auto", "valid_days": "30",
              "description": "", "dry_run": "0", "max_wait": "30"}
    config.update({k: str(v) for k, v in params.items()})
    payload = {"app": "search", "owner": "ana", "results_file": str(results),
               "results_link": "http://standin:8000/app/search/search?sid=scheduler_ana_1",
               "search_uri": "/servicesNS/ana/search/saved/searches/Beacons", "server_host": "standin",
               "server_uri": server_uri or splunkd.uri, "session_key": session_key, "sid": "scheduler_ana_1",
               "search_name": "Beacons", "configuration": config, "result": rows[0] if rows else {}}
    process = subprocess.run([PYTHON, "-s", "-E", str(SCRIPT), *argv], capture_output=True, timeout=300,
                             input=(stdin if stdin is not None else json.dumps(payload)).encode(),
                             env=env_for(tmp_path))
    stderr = process.stderr.decode()
    assert "Traceback" not in stderr
    assert API_KEY not in stderr + process.stdout.decode()
    return process.returncode, stderr


def pushed(ic, path=IOC_PATH):
    """The values of each IOC request the IC accepted, in order."""
    return [[i["value"] for i in r["body"]["indicators"]] for r in ic.requests
            if r["path"] == path and r["status"] == 200]


def log_text(tmp_path, name):
    path = tmp_path / "var" / "log" / "splunk" / f"{name}.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture
def ready(configured_splunkd, ic):
    ic.add_ioc_collection(COLLECTION)
    configured_splunkd.add_session("pusher-key", "ana", ["user", "sekoia_ic_pusher"])
    return configured_splunkd


def allowlist(splunkd, *entries):
    for n, (obs_type, value) in enumerate(entries):
        splunkd.kv["sekoia_ic_allowlist"][f"a{n}"] = {"_key": f"a{n}", "type": obs_type, "value": value,
                                                     "expires": 0, "_user": "nobody"}


# ---------------------------------------------------------------------------------------------- 250 results
def case(text, n):
    return (text, text.upper(), text.title())[n % 3]


PRIVATE = ["10.0.0.1", "192.168.001.010", "127.0.0.1", "224.0.0.5", "169.254.1.1", "100.64.0.1", "0.0.0.0",
           "240.0.0.1", "255.255.255.255", "172.016.000.001", "fe80::1", "::1", "FF02::1", "fc00::1",
           "2001:db8::1"]
SHA256 = [f"{n:064x}" for n in range(1, 6)]


def two_hundred_fifty_results():
    rows = []
    rows += [{"value": case(f"host{n % 100}.example.org", n // 100), "n": str(n)} for n in range(150)]
    for n in range(10):  # one IPv6 address, two spellings
        rows.append({"value": f"2a00:1450:4007:80{n}::200e"})
        rows.append({"value": f"2A00:1450:4007:080{n}:0000:0000:0000:200E"})
    for n in range(10):  # one public IPv4 address, zero-padded and canonical
        rows.append({"value": f"8.8.{n}.8"})
        rows.append({"value": f"008.008.00{n}.008"})
    rows += [{"value": v} for v in PRIVATE]
    rows += [{"value": h if n % 2 else h.upper()} for h in SHA256 for n in range(2)]
    rows += [{"value": case(f"http://evil{n % 3}.example.net/Path?q={n % 3}", n)} for n in range(6)]
    rows += [{"value": case(f"Mallory{n % 3}@example.com", n)} for n in range(6)]
    rows += [{"value": [f"mv{n % 4}.example.net", f"9.9.9.{n % 4}"]} for n in range(8)]
    rows += [{"other": "x"} for _ in range(8)]
    rows += [{"value": v} for v in ("hello world", "-", "not_a_value", "12345", "999.1.1.1", "x@", "10.0.0.0/8")]
    assert len(rows) == 250
    return rows


def expected_values():
    values = [f"host{n}.example.org" for n in range(100) if n != 7]
    for n in range(10):
        values.append(f"2a00:1450:4007:80{n}::200e")
    values += [f"8.8.{n}.8" for n in range(10) if n != 3]
    values += SHA256
    values += [f"http://evil{n}.example.net/path?q={n}" for n in range(3)]
    values += [f"mallory{n}@example.com" for n in range(3)]
    for n in range(4):
        values += [f"mv{n}.example.net", f"9.9.9.{n}"]
    return values


def test_250_results_give_exactly_the_expected_requests(ready, ic, tmp_path):
    allowlist(ready, ("domain-name", "host7.example.org"), ("ipv4-addr", "8.8.3.8"))
    status, stderr = run_action(ready, tmp_path, two_hundred_fifty_results(), session_key="pusher-key")
    assert status == 0, stderr
    expected = expected_values()
    assert len(expected) == 137
    assert pushed(ic) == [expected[:100], expected[100:]]  # at most 100 a request, each value once
    assert [r["method"] for r in ic.requests] == ["POST", "POST"]  # nothing else asked, nothing sent twice
    fields = [r["body"]["default_fields"] for r in ic.requests]
    assert fields[0] == fields[1] and set(fields[0]) == {"description", "valid_until"}
    assert fields[0]["description"] == 'Seen in Splunk by the search "Beacons" (sid scheduler_ana_1)'
    valid_until = time.mktime(time.strptime(fields[0]["valid_until"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(valid_until - (time.time() + 30 * 86400)) < 120
    assert set(ic.ioc_collections[COLLECTION]) == set(expected)
    # Logged for the health view: values, collection, user, search.
    log = log_text(tmp_path, "sekoia_ic_push")
    lines = [line for line in log.splitlines() if " pushed " in line]
    assert len(lines) == 2 and all(f"collection={COLLECTION}" in line and "user=ana" in line and
                                   "search='Beacons'" in line for line in lines)
    assert "count=100 values=host0.example.org," in lines[0] and "9.9.9.3" in lines[1]
    summary = log_text(tmp_path, "sekoia_ic_add_to_collection")
    assert "250 results, 8 without value" in summary and "137 values sent" in summary
    assert "host7.example.org (allowlisted)" in summary


def test_types_can_be_given(ready, ic, tmp_path):
    rows = [{"value": "8.8.8.8"}, {"value": "example.org"}, {"value": "2001:4860:4860::8888"}]
    assert run_action(ready, tmp_path, rows, session_key="pusher-key", type="domain-name")[0] == 0
    assert pushed(ic) == [["example.org"]]


def test_more_than_a_thousand_values_go_in_parts_under_the_rate_budget(ready, ic, tmp_path):
    rows = [{"value": f"h{n}.example.com"} for n in range(2345)]
    assert run_action(ready, tmp_path, rows, session_key="pusher-key")[0] == 0
    batches = pushed(ic)
    assert [len(b) for b in batches] == [100] * 23 + [45]
    assert [v for b in batches for v in b] == [f"h{n}.example.com" for n in range(2345)]
    assert ready.count("POST", "sekoia_ic/push") == 3  # 1000 + 1000 + 345
    assert ic.max_requests_in(1.0) <= 5  # counted at arrival, as the firewall counts


def test_dry_run_sends_nothing_and_says_what_it_would_send(ready, ic, tmp_path):
    allowlist(ready, ("domain-name", "host7.example.org"))
    rows = [{"value": "host7.example.org"}, {"value": "Evil.example.org"}, {"value": "10.1.1.1"}]
    assert run_action(ready, tmp_path, rows, session_key="pusher-key", dry_run=1)[0] == 0
    assert ic.requests == []
    assert "dry run: would push user=ana search='Beacons'" in log_text(tmp_path, "sekoia_ic_push")
    assert f"collection={COLLECTION} batch=1/1 count=1 values=evil.example.org" in log_text(tmp_path, "sekoia_ic_push")
    assert "1 values would be sent" in log_text(tmp_path, "sekoia_ic_add_to_collection")


def test_the_default_collection_of_the_setup_page(ready, ic, tmp_path):
    ic.add_ioc_collection(OTHER_COLLECTION)
    ready.set_conf("sekoia_ic", "settings", default_collection_id=OTHER_COLLECTION)
    assert run_action(ready, tmp_path, [{"value": "example.org"}], session_key="pusher-key", collection_id="")[0] == 0
    assert pushed(ic, f"/v2/inthreat/ioc-collections/{OTHER_COLLECTION}/indicators") == [["example.org"]]
    ready.set_conf("sekoia_ic", "settings", default_collection_id="")
    status, stderr = run_action(ready, tmp_path, [{"value": "example.net"}], session_key="pusher-key",
                                collection_id="")
    assert status == 6 and "No IOC collection given" in stderr


# ---------------------------------------------------------------------------------------------- authority
@pytest.mark.parametrize("roles, allowed", [(["user"], False), (["power"], False),
                                            (["user", "sekoia_ic_analyst"], False),
                                            (["user", "sekoia_ic_pusher"], True), (["admin"], True)])
def test_only_holders_of_sekoia_ic_push_may_send(ready, ic, tmp_path, roles, allowed):
    ready.add_session("role-key", "bob", roles)
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="role-key")
    if allowed:
        assert status == 0 and pushed(ic) == [["example.org"]]
    else:
        assert status == 3 and ic.requests == []
        assert "lacks the capability sekoia_ic_push" in stderr and "sekoia_ic_pusher" in stderr
    # The action itself never reads the key: only the endpoint's system session does.
    assert not [e for e in ready.access_log if e[0] == "bob" and "storage/passwords" in e[2]]


def test_the_endpoint_itself_refuses_what_may_not_go(ready, ic, tmp_path):
    """The endpoint re-checks what any holder of the capability could send it by hand."""
    from sekoia_ic.splunk.settings import app_service
    allowlist(ready, ("domain-name", "example.net"))
    service = app_service(ready.uri, "pusher-key")
    answer = json.loads(service.post("sekoia_ic/push", headers=[("Content-Type", "application/json")], body=json.dumps(
        {"collection_id": COLLECTION, "observables": [["ipv4-addr", "10.0.0.1"], ["domain-name", "Example.ORG"],
                                                      ["domain-name", "example.net"], ["filename", "a.exe"],
                                                      ["ipv6-addr", "::ffff:10.0.0.1"], ["url", "http://ok.example/"]]}
    )).body.read())
    assert answer["status"] == "ok" and answer["sent"] == 1 and pushed(ic) == [["http://ok.example/"]]
    assert [r[:2] for r in answer["refused"]] == [["ipv4-addr", "10.0.0.1"], ["domain-name", "Example.ORG"],
                                                  ["domain-name", "example.net"], ["filename", "a.exe"],
                                                  ["ipv6-addr", "::ffff:10.0.0.1"]]


# ---------------------------------------------------------------------------------------------- bad input and faults
def test_results_without_the_field(ready, ic, tmp_path):
    status, stderr = run_action(ready, tmp_path, [{"other": "example.org"}] * 3, session_key="pusher-key")
    assert status == 2 and "none of the 3 results has the field 'value'" in stderr and ic.requests == []
    status, _ = run_action(ready, tmp_path, [{"other": "x"}, {"value": "example.org"}], session_key="pusher-key")
    assert status == 0 and pushed(ic) == [["example.org"]]
    assert "2 results, 1 without value" in log_text(tmp_path, "sekoia_ic_add_to_collection")


def test_values_that_are_no_observable(ready, ic, tmp_path):
    rows = [{"value": v} for v in ("hello", "-", "10.0.0.1", "not an ip", "a/b")]
    status, _ = run_action(ready, tmp_path, rows, session_key="pusher-key")
    assert status == 0 and ic.requests == [] and ready.count("POST", "sekoia_ic/push") == 0
    assert "nothing to send" in log_text(tmp_path, "sekoia_ic_add_to_collection")


def test_more_values_than_a_collection_holds(ready, ic, tmp_path):
    rows = [{"value": f"d{n}.example.com"} for n in range(500_001)]
    status, stderr = run_action(ready, tmp_path, rows, session_key="pusher-key")
    assert status == 5 and "500001 distinct observables" in stderr and "500,000" in stderr
    assert ic.requests == [] and ready.count("POST", "sekoia_ic/push") == 0


def test_a_collection_the_ic_says_is_full(ready, ic, tmp_path):
    ic.ioc_collection_max = 150
    status, stderr = run_action(ready, tmp_path, [{"value": f"d{n}.example.com"} for n in range(250)],
                                session_key="pusher-key")
    assert status == 6 and "may be full" in stderr and "100 values were sent before" in stderr
    assert len(pushed(ic)) == 1 and len(ic.requests) == 2  # the refused batch is not sent again


def test_an_unknown_collection(ready, ic, tmp_path):
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="pusher-key",
                                collection_id=OTHER_COLLECTION)
    assert status == 6 and f"no IOC collection {OTHER_COLLECTION}" in stderr and len(ic.requests) == 1


def test_a_key_without_the_permissions(ready, ic, tmp_path):
    ready.set_password("sekoia_ic", "api_key", "no-ioc-key")
    status, stderr = run_action(ready, tmp_path, [{"value": f"d{n}.example.com"} for n in range(150)],
                                session_key="pusher-key")
    assert status == 6 and len(ic.requests) == 1
    assert '"View IOC collections"' in stderr and '"Manage IOC collections"' in stderr and "no-ioc-key" not in stderr


def test_429_and_5xx_are_sent_again_and_nothing_twice(ready, ic, tmp_path):
    ic.allow(path="ioc-collections")
    ic.fail(429, retry_after=1, path="ioc-collections")
    ic.fail(502, path="ioc-collections")
    rows = [{"value": f"d{n}.example.com"} for n in range(250)]
    status, stderr = run_action(ready, tmp_path, rows, session_key="pusher-key")
    assert status == 0, stderr
    assert [r["status"] for r in ic.requests] == [200, 429, 502, 200, 200]
    batches = pushed(ic)
    assert [v for b in batches for v in b] == [f"d{n}.example.com" for n in range(250)]
    assert ic.max_errors_in(10.0) <= 2


def test_429_and_5xx_that_last_are_reported_in_bounded_time(ready, ic, tmp_path):
    ic.fail(503, times=20, path="ioc-collections")
    started = time.monotonic()
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="pusher-key", max_wait=8)
    assert status == 7 and "HTTP 503" in stderr and "nothing sent" in stderr
    assert time.monotonic() - started < 30 and 1 <= len(ic.requests) <= 3
    ic.faults.clear()
    ic.fail(429, times=20, retry_after=600, path="ioc-collections")
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="pusher-key")
    assert status == 7 and "HTTP 429" in stderr


def test_splunkd_down(ready, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="pusher-key",
                                server_uri=f"http://127.0.0.1:{port}")
    assert status == 4 and "splunkd did not answer" in stderr


def test_splunkd_refusing_the_session(ready, tmp_path):
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="expired")
    assert status == 3 and "HTTP 401" in stderr


@pytest.mark.parametrize("argv, stdin, params, words", [
    ((), None, {}, "--execute"),
    (("--execute",), "not json", {}, "not JSON"),
    (("--execute",), None, {"collection_id": "../../v1/me"}, "collection_id"),
    (("--execute",), None, {"field": ""}, "field"),
    (("--execute",), None, {"valid_days": "forever"}, "valid_days"),
    (("--execute",), None, {"type": "registry"}, "type"),
])
def test_bad_invocations_and_parameters(ready, ic, tmp_path, argv, stdin, params, words):
    status, stderr = run_action(ready, tmp_path, [{"value": "example.org"}], session_key="pusher-key", argv=argv,
                                stdin=stdin, **params)
    assert status == 2 and words in stderr and ic.requests == []


# ---------------------------------------------------------------------------------------------- configuration
def test_alert_action_configuration():
    conf = read_conf(STAGE_DIR / "default" / "alert_actions.conf")["sekoia_ic_add_to_collection"]
    assert (conf["is_custom"], conf["payload_format"]) == ("1", "json")
    assert (STAGE_DIR / "bin" / "sekoia_ic_add_to_collection.py").is_file()
    assert (STAGE_DIR / "default" / "data" / "ui" / "alerts" / "sekoia_ic_add_to_collection.html").is_file()
    assert (STAGE_DIR / "appserver" / "static" / conf["icon_path"]).is_file()
    cam = json.loads(conf["param._cam"])
    assert cam["task"] == ["create"] and cam["subject"] == ["threat.artifact"] and cam["supports_adhoc"] is True
    assert cam["technology"] == [{"vendor": "Sekoia.io", "product": "Intelligence Center"}]
    params = {k[len("param."):] for k in conf if k.startswith("param.") and k != "param._cam"}
    spec = (STAGE_DIR / "README" / "alert_actions.conf.spec").read_text()
    stanza = spec[spec.index("[sekoia_ic_add_to_collection]"):]
    stanza = stanza[:stanza.find("\n[", 1)] if "\n[" in stanza else stanza  # up to the next action's stanza
    assert params == set(re.findall(r"^param\.(\w+) =", stanza, re.M)) - {"_cam"}
    html = (STAGE_DIR / "default" / "data" / "ui" / "alerts" / "sekoia_ic_add_to_collection.html").read_text()
    assert params == set(re.findall(r'name="action\.sekoia_ic_add_to_collection\.param\.(\w+)"', html))
    authorize = read_conf(STAGE_DIR / "default" / "authorize.conf")
    assert "capability::sekoia_ic_push" in authorize and authorize["role_sekoia_ic_pusher"]["sekoia_ic_push"] == "enabled"
    assert "sekoia_ic_push" not in authorize.get("role_user", {}) and "sekoia_ic_push" not in authorize.get("role_power", {})
    restmap = read_conf(STAGE_DIR / "default" / "restmap.conf")["script:sekoia_ic_push"]
    assert restmap["capability"] == "sekoia_ic_push" and restmap["passSystemAuth"] == "true"
