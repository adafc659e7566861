"""`| sekoiacheck`, the real script over the chunked protocol: each outcome in words an admin can act on."""
import socket

import pytest

from tests.chunked import run_command
from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR

SCRIPT = STAGE_DIR / "bin" / "sekoiacheck.py"


def check(splunkd, tmp_path):
    process, getinfo, answers = run_command(splunkd.uri, [], [[]], tmp_path, script=SCRIPT, command="sekoiacheck")
    assert getinfo[0]["generating"] is True
    rows = [r for _, chunk in answers for r in chunk]
    assert len(rows) == 1
    return rows[0]


def test_ok_names_the_user(configured_splunkd, ic, tmp_path):
    row = check(configured_splunkd, tmp_path)
    assert row["status"] == "ok" and row["code"] == "ok" and row["user"] == "analyst@example.com"
    assert row["base_url"] == ic.url and ic.url in row["message"]
    assert [r["path"] for r in ic.requests] == ["/v1/me", f"/v2/inthreat/collections/{'d6092c37-d8d7-45c3-8aff-c4dc26030608'}/objects"]


@pytest.mark.parametrize("key, code, words", [
    ("expired-key", "bad_key", "wrong, expired or revoked"),
    ("no-intel-key", "missing_permission", "Intelligence Center read permissions"),
])
def test_key_problems(configured_splunkd, ic, tmp_path, key, code, words):
    configured_splunkd.set_password("sekoia_ic", "api_key", key)
    row = check(configured_splunkd, tmp_path)
    assert (row["status"], row["code"]) == ("error", code) and words in row["message"]
    assert key not in str(row)


def test_rate_limited(configured_splunkd, ic, tmp_path):
    ic.fail(429, times=5, retry_after=600)
    row = check(configured_splunkd, tmp_path)
    assert row["code"] == "rate_limited" and "wait a few minutes" in row["message"]


def test_unreachable(configured_splunkd, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configured_splunkd.set_conf("sekoia_ic", "settings", base_url=f"http://127.0.0.1:{port}")
    row = check(configured_splunkd, tmp_path)
    assert row["code"] == "unreachable" and "proxy" in row["message"]
    configured_splunkd.set_conf("sekoia_ic", "settings", base_url="", proxy_url=f"http://127.0.0.1:{port}")
    row = check(configured_splunkd, tmp_path)
    assert row["code"] == "unreachable" and "through the configured proxy" in row["message"]
    assert row["region"] == "FRA1" and row["base_url"] == "https://api.sekoia.io"


def test_not_configured(splunkd, tmp_path):
    row = check(splunkd, tmp_path)
    assert row["code"] == "not_configured" and "setup page" in row["message"]
    assert API_KEY not in str(row)


def test_a_role_that_may_not_read_the_key_is_told_so(configured_splunkd, tmp_path):
    configured_splunkd.add_session("user-key", "ana", ["power"])
    process, _, answers = run_command(configured_splunkd.uri, [], [[]], tmp_path, script=SCRIPT,
                                      command="sekoiacheck", session_key="user-key")
    row = answers[0][1][0]
    assert row["code"] == "not_configured" and "admin" in row["message"] and b"Traceback" not in process.stdout


# ---------------------------------------------------------------------------------------------- IOC collections
COLLECTION = "6b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4"


def test_the_default_ioc_collection_is_checked_when_set(configured_splunkd, ic, tmp_path):
    configured_splunkd.set_conf("sekoia_ic", "settings", default_collection_id=COLLECTION)
    row = check(configured_splunkd, tmp_path)
    assert row["code"] == "unknown_collection" and COLLECTION in row["message"]
    ic.add_ioc_collection(COLLECTION)
    row = check(configured_splunkd, tmp_path)
    assert row["code"] == "ok" and f"default IOC collection {COLLECTION}" in row["message"]
    assert ic.requests[-1]["path"] == f"/v2/inthreat/ioc-collections/{COLLECTION}"
    configured_splunkd.set_password("sekoia_ic", "api_key", "no-intel-key")
    configured_splunkd.set_conf("sekoia_ic", "settings", default_collection_id="")
    assert check(configured_splunkd, tmp_path)["code"] == "missing_permission"  # the feed, as before


def test_a_key_that_may_not_view_the_collection(configured_splunkd, ic, tmp_path):
    ic.api_keys["view-less"] = {"intel"}
    ic.add_ioc_collection(COLLECTION)
    configured_splunkd.set_password("sekoia_ic", "api_key", "view-less")
    configured_splunkd.set_conf("sekoia_ic", "settings", default_collection_id=COLLECTION)
    row = check(configured_splunkd, tmp_path)
    assert row["code"] == "missing_permission" and '"View IOC collections"' in row["message"]


# ---------------------------------------------------------------------------------------------- data models
# `| sekoiacheck rows=<macro>` / `datamodel=<name>`: is the data model a correlation search reads visible from the
# app and accelerated, asked of splunkd (datamodel/model/{name}) with the searching user's session. The stand-in
# answers as the REST reference says (tests/standins/splunkd.py; tests/test_splunkd_standin.py checks it).
ANALYST_KEY = "analyst-key"
NETWORK = "sekoia_ic_network_rows"
MATCH_FIELDS = {"indicator_id", "indicator_name", "src_ip", "dest_ip", "src", "dest", "query", "url", "file_hash",
                "src_user", "recipient", "confidence", "risk_score"}


def check_models(splunkd, tmp_path, *args, session_key=ANALYST_KEY):
    if session_key == ANALYST_KEY:
        splunkd.add_session(ANALYST_KEY, "ana", ["sekoia_ic_analyst"])
    process, getinfo, answers = run_command(splunkd.uri, list(args), [[]], tmp_path, script=SCRIPT,
                                            command="sekoiacheck", session_key=session_key)
    assert getinfo[0]["generating"] is True and b"Traceback" not in process.stdout + process.stderr
    rows = [r for _, chunk in answers for r in chunk]
    for row in rows:
        assert not set(row) & MATCH_FIELDS, row  # never a row that looks like a match
        assert row["sekoia_ic_problem"] == ("" if row["status"] == "ok" else row["message"]), row
    return rows


def test_an_accelerated_data_model_is_ok_and_no_problem(splunkd, tmp_path):
    splunkd.add_datamodel("Network_Traffic", accelerated=True)
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert (row["datamodel"], row["rows"], row["status"]) == ("Network_Traffic", NETWORK, "ok")
    # Asked in the app's namespace, where the correlation search's tstats looks for it, with the user's session.
    assert ("ana", "GET", "/servicesNS/nobody/sekoia_ic/datamodel/model/Network_Traffic", 200) in splunkd.access_log
    assert ("ana", "GET", f"/servicesNS/nobody/sekoia_ic/configs/conf-macros/{NETWORK}", 200) in splunkd.access_log


def test_a_data_model_that_is_not_accelerated_is_one_clear_problem(splunkd, tmp_path):
    splunkd.add_datamodel("Network_Traffic", accelerated=False)
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert row["status"] == "not_accelerated" and row["sekoia_ic_problem"] == row["message"]
    for words in ("Network_Traffic is not accelerated", "Edit Acceleration", f"`{NETWORK}_raw`", "finds nothing"):
        assert words in row["message"]


@pytest.mark.parametrize("how", ["not installed", "shared only in its own app", "not readable by the role"])
def test_a_data_model_the_app_cannot_see_is_missing(splunkd, tmp_path, how):
    if how == "shared only in its own app":
        splunkd.add_datamodel("Network_Traffic", sharing="app")
    elif how == "not readable by the role":
        splunkd.add_datamodel("Network_Traffic", read=("admin",))
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert row["status"] == "missing" and "Splunk_SA_CIM" in row["message"] and "read permission" in row["message"]
    if how == "not readable by the role":  # an admin sees it: the check asks with the searching user's session
        [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}", session_key=SESSION_KEY)
        assert row["status"] == "ok"


def test_a_refusal_or_a_failing_splunkd_is_one_clear_message(splunkd, tmp_path):
    splunkd.add_datamodel("Network_Traffic")
    splunkd.inject_failure(r"/datamodel/model/", status=403, message="You do not have permission")
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert row["status"] == "unreadable" and "HTTP 403" in row["message"] and "read permission" in row["message"]
    splunkd.inject_failure(r"/datamodel/model/", status=503, message="splunkd is restarting")
    [row] = check_models(splunkd, tmp_path, "datamodel=Network_Traffic")
    assert row["status"] == "unreadable" and "HTTP 503" in row["message"]
    assert "Settings > Data models" in row["message"]


def test_splunkd_down_is_one_clear_message(splunkd, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process, _, answers = run_command(f"http://127.0.0.1:{port}", ["datamodel=Web"], [[]], tmp_path,
                                      script=SCRIPT, command="sekoiacheck")
    [row] = [r for _, chunk in answers for r in chunk]
    assert row["status"] == "unreadable" and "Settings > Data models" in row["message"] and row["sekoia_ic_problem"]
    assert b"Traceback" not in process.stdout


def test_the_macro_decides_which_data_model_and_whether_acceleration_is_needed(splunkd, tmp_path):
    splunkd.add_datamodel("Network_Traffic", accelerated=False)
    splunkd.set_conf("macros", NETWORK, definition=f"`{NETWORK}_raw`")  # the admin switched to raw events
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert (row["status"], row["datamodel"]) == ("ok", "") and "raw events" in row["message"]
    splunkd.set_conf("macros", NETWORK, definition=splunkd.confs["macros"]["sekoia_ic_dns_rows"]["definition"])
    splunkd.set_conf("macros", "sekoia_ic_summariesonly", definition="summariesonly=false")
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert (row["status"], row["datamodel"]) == ("missing", "Network_Resolution")
    splunkd.add_datamodel("Network_Resolution", accelerated=False)
    [row] = check_models(splunkd, tmp_path, f"rows={NETWORK}")
    assert row["status"] == "ok" and "without summaries" in row["message"]


def test_several_data_models_one_row_each(splunkd, tmp_path):
    splunkd.add_datamodel("Web")
    splunkd.add_datamodel("Email", accelerated=False)
    rows = check_models(splunkd, tmp_path, "datamodel=Web,Email,Endpoint")
    assert [(r["datamodel"], r["status"]) for r in rows] == [("Web", "ok"), ("Email", "not_accelerated"),
                                                            ("Endpoint", "missing")]
    assert all(r["rows"] == "" and "_raw" not in r["message"] for r in rows)


def test_a_hung_splunkd_still_gives_the_row_within_the_subsearch_time(splunkd, tmp_path):
    # A subsearch is finalized after limits.conf [subsearch] maxtime (60 s by default): each call of the check
    # gives up after 8 s, so the row saying so comes first (with the 60 s of other calls, it would not).
    splunkd.add_datamodel("Network_Traffic")
    splunkd.inject_failure(r"/datamodel/model/", status=500, message="late", delay=12)
    [row] = check_models(splunkd, tmp_path, "datamodel=Network_Traffic")
    assert row["status"] == "unreadable" and "timed out" in row["message"] and "HTTP 500" not in row["message"]


def test_an_unexpected_error_of_the_check_is_a_row_not_a_failed_subsearch(monkeypatch):
    from splunklib.searchcommands.internals import ObjectView

    from sekoia_ic.endpoints import sekoiacheck

    def broken(service, macro):
        raise RuntimeError("a bug")
    monkeypatch.setattr(sekoiacheck, "check_rows", broken)
    command = sekoiacheck.SekoiaCheckCommand()
    command._metadata = ObjectView({"searchinfo": ObjectView({"splunkd_uri": "http://127.0.0.1:1",
                                                              "session_key": "k"})})
    warnings = []
    monkeypatch.setattr(command, "write_warning", lambda template, *args: warnings.append(template.format(*args)))
    command.rows, command.datamodel, command.feed_id = NETWORK, None, None
    [row] = list(command.generate())
    assert (row["rows"], row["status"]) == (NETWORK, "unreadable") and "RuntimeError" in row["sekoia_ic_problem"]
    assert warnings == [f"sekoiacheck: {row['message']}"]


def test_names_are_whole_lines_only():
    import re

    from sekoia_ic.endpoints.datamodels import NAMES_PATTERN
    assert re.match(NAMES_PATTERN, "Web,Email") and not re.match(NAMES_PATTERN, "Web\n")
    assert not re.match(NAMES_PATTERN, "Web,") and not re.match(NAMES_PATTERN, "Web Email")
