"""The setup endpoint sekoia_ic/setup through splunkd, as the page calls it: one set of rules (Python's), a state
that never carries a secret, credentials that end admin-only, and one save per request id."""
import json

import pytest

from sekoia_ic.ic.errors import ConfigurationError
from sekoia_ic.splunk.settings import Settings
from tests.conftest import SESSION_KEY
from tests.rest_calls import call_endpoint

KEY = "sekoia_ic:api_key:"
FORM = {"api_key": "k", "region": "FRA1", "base_url": "", "proxy_url": "", "proxy_username": "",
        "proxy_password": "", "verify_ssl": True, "ca_bundle": "", "timeout": "30", "log_level": "INFO",
        "feed_id": "d6092c37-d8d7-45c3-8aff-c4dc26030608", "enable_feed": True}


def call(splunkd, method="GET", body=None):
    return call_endpoint(splunkd, "sekoia_ic/setup", SESSION_KEY, body if method == "POST" else None)


def save(splunkd, request_id=None, **form):
    return call(splunkd, "POST", {"action": "save", "request_id": request_id, "form": dict(FORM, **form)})


CASES = [
    {}, {"region": "EU9"}, {"region": "usa1"}, {"region": "sgp1"}, {"timeout": "0"}, {"timeout": "600"},
    {"timeout": "600.5"}, {"timeout": "1e3"}, {"timeout": " 12 "}, {"timeout": ""}, {"log_level": "TRACE"},
    {"log_level": "WARNING"}, {"base_url": "ftp://x.example"}, {"base_url": "https://intel.example.org/api"},
    {"base_url": "http:// x"}, {"base_url": "http://[::1"}, {"proxy_url": "http://proxy:3128"},
    {"proxy_username": "bob"}, {"proxy_username": "b@b"}, {"proxy_username": "a b"}, {"ca_bundle": "a\nb"},
    # --- IOC collections: the default collection of the alert action sekoia_ic_add_to_collection ---
    {"default_collection_id": "6b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4"},
    {"default_collection_id": "ioc-collection--6b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4"},
    {"default_collection_id": "6b1f0c2e"}, {"default_collection_id": "../v1/me"},
]


@pytest.mark.parametrize("case", CASES, ids=[json.dumps(c) for c in CASES])
def test_the_endpoint_validates_as_the_python_settings_do(splunkd, case):
    """One set of rules: a setting the endpoint saves is one the scripts then read, and the other way round."""
    status, answer = save(splunkd, **case)
    try:
        Settings.from_conf({k: v for k, v in dict(FORM, **case).items() if k in Settings.__dataclass_fields__})
        python_ok = True
    except ConfigurationError:
        python_ok = False
    assert (status == 200 and answer["result"] == "saved") == python_ok, answer
    if not python_ok:
        assert answer["result"] == "invalid" and set(answer["errors"]) <= set(case)
    else:
        Settings.from_conf(splunkd.confs["sekoia_ic"]["settings"])  # what was written reads back


@pytest.mark.parametrize("form, field", [({"api_key": ""}, "api_key"), ({"api_key": "a b"}, "api_key"),
                                         ({"feed_id": "../x"}, "feed_id"), ({"enable_feed": "yes"}, "enable_feed"),
                                         ({"timeout": 30}, "timeout"), ({"proxy_password": "p"}, "proxy_password"),
                                         ({"verify_ssl": "maybe"}, "verify_ssl")])
def test_a_bad_form_writes_nothing(splunkd, form, field):
    before = repr(splunkd.confs) + repr(splunkd.passwords)
    status, answer = save(splunkd, **form)
    assert status == 400 and field in answer["errors"] and "Nothing was saved" in answer["message"]
    assert repr(splunkd.confs) + repr(splunkd.passwords) == before


def test_the_state_never_carries_a_secret(splunkd):
    splunkd.set_password("sekoia_ic", "api_key", "the-key-4711")
    splunkd.set_conf("sekoia_ic", "settings", proxy_url="http://alice:pw-0815@proxy.example:3128")
    status, state = call(splunkd)
    assert status == 200 and "the-key-4711" not in json.dumps(state) and "pw-0815" not in json.dumps(state)
    assert state["secrets"] == {"api_key": True, "proxy_password": False} and state["unprotected"] == ["api_key"]
    assert state["settings"]["proxy_url"] == "http://proxy.example:3128" and state["legacy_proxy_password"]
    assert state["input"] == {"name": "default", "feed_id": "", "disabled": True} and state["feeds"] == []
    assert "SGP1" in state["rules"]["regions"]


def test_a_saved_credential_ends_admin_only_in_the_apps_namespace(splunkd):
    status, answer = save(splunkd, api_key="fresh-key")
    assert status == 200, answer
    record = splunkd.passwords[KEY]
    assert (record["app"], record["sharing"], record["owner"]) == ("sekoia_ic", "app", "nobody")
    assert record["acl"]["perms"] == {"read": ["admin", "sc_admin"], "write": ["admin", "sc_admin"]}
    assert answer["state"]["unprotected"] == [] and "fresh-key" not in json.dumps(answer)


def test_an_acl_that_splunkd_does_not_apply_is_reported_and_finished_by_the_next_save(splunkd):
    """splunkd refuses the ACL write after the key is stored: the save says exactly that, and the next one
    restricts the key without a new value."""
    splunkd.inject_failure(r"storage/passwords/.*/acl$", status=500, message="ACL store busy", method="POST")
    status, answer = save(splunkd, api_key="fresh-key")
    assert status == 200 and answer["result"] == "partly_saved"
    assert "the new API key" in answer["message"] and "restricting the saved api_key to admins" in answer["message"]
    assert answer["state"]["unprotected"] == ["api_key"]
    status, answer = save(splunkd, api_key="")
    assert status == 200 and answer["state"]["unprotected"] == []
    assert splunkd.passwords[KEY]["clear_password"] == "fresh-key"


def test_one_request_id_is_one_save(splunkd):
    first = save(splunkd, request_id="r-1", api_key="fresh-key")
    again = save(splunkd, request_id="r-1", api_key="fresh-key")
    assert first == again and first[0] == 200
    assert len([p for m, p, _ in splunkd.requests if m == "POST" and "conf-sekoia_ic/settings" in p]) == 1


def test_removing_the_key(splunkd):
    splunkd.set_password("sekoia_ic", "api_key", "the-key-4711")
    status, answer = call(splunkd, "POST", {"action": "remove_api_key"})
    assert status == 200 and answer["state"]["secrets"]["api_key"] is False and KEY not in splunkd.passwords


def test_malformed_requests(splunkd):
    assert call(splunkd, "POST", {"action": "nothing"})[0] == 400
    assert call(splunkd, "POST", {"action": "save", "form": "not an object"})[0] == 400
