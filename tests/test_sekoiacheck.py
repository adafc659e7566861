"""`| sekoiacheck`, the real script over the chunked protocol: each outcome in words an admin can act on."""
import socket

import pytest

from tests.chunked import run_command
from tests.conftest import API_KEY, STAGE_DIR

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
