"""The setup endpoint's "Send indicators to Enterprise Security" block (sekoia_ic.conf [es]) and the region's
link of the workflow action sekoia_ic_open, through splunkd as the page calls them."""
import json

import pytest

from sekoia_ic.ic.errors import ConfigurationError
from sekoia_ic.splunk.es_settings import EsSettings
from tests.test_setup_endpoint import FORM, call, save

ES_FORM = {"es_enabled": True, "es_min_confidence": "50", "es_types": "ip,domain", "es_ipv6": False,
           "es_max_rows": "1000"}
CASES = [{}, {"es_min_confidence": "101"}, {"es_min_confidence": "-1"}, {"es_min_confidence": "x"},
         {"es_types": "ip,bogus"}, {"es_types": ""}, {"es_types": "EMAIL, file"}, {"es_max_rows": "0"},
         {"es_max_rows": "5000001"}, {"es_max_rows": "5000000"}, {"es_enabled": False}, {"es_ipv6": True},
         {"es_enabled": 3}]


def link(splunkd):
    return splunkd.confs["workflow_actions"]["sekoia_ic_open"]["link.uri"]


@pytest.mark.parametrize("case", CASES, ids=[json.dumps(c) for c in CASES])
def test_the_es_block_is_validated_as_the_feed_run_reads_it(splunkd, case):
    form = dict(ES_FORM, **case)
    status, answer = save(splunkd, **form)
    conf = {k[3:]: ("true" if v else "false") if isinstance(v, bool) else v for k, v in form.items()}
    try:
        expected = EsSettings.from_conf(conf) if all(isinstance(v, str) for v in conf.values()) else None
    except ConfigurationError:
        expected = None
    if expected is None:
        assert status == 400 and answer["result"] == "invalid" and set(answer["errors"]) <= set(ES_FORM)
        assert splunkd.confs["sekoia_ic"]["es"]["enabled"] == "false"  # as shipped: nothing saved
    else:
        assert status == 200 and answer["result"] == "saved", answer
        assert EsSettings.from_conf(splunkd.confs["sekoia_ic"]["es"]) == expected
        assert answer["state"]["es"]["types"] == ",".join(expected.types)


def test_a_form_without_the_es_block_leaves_it_alone(splunkd):
    splunkd.set_conf("sekoia_ic", "es", enabled="true", min_confidence="70")
    status, answer = save(splunkd)
    assert status == 200 and answer["result"] == "saved"
    assert splunkd.confs["sekoia_ic"]["es"]["enabled"] == "true"
    assert splunkd.confs["sekoia_ic"]["es"]["min_confidence"] == "70"
    status, state = call(splunkd)
    assert state["es"]["min_confidence"] == "70" and state["rules"]["es_types"] == ["ip", "domain", "http", "file",
                                                                                     "email"]


def test_the_open_link_follows_the_region_saved(splunkd):
    assert link(splunkd) == "https://app.sekoia.io/intelligence/objects/$@field_value$"
    assert save(splunkd, region="MCO1")[1]["result"] == "saved"
    assert link(splunkd) == "https://app.mco1.sekoia.io/intelligence/objects/$@field_value$"
    before = splunkd.count("POST", r"conf-workflow_actions")
    assert save(splunkd, region="MCO1")[1]["result"] == "saved"
    assert splunkd.count("POST", r"conf-workflow_actions") == before  # unchanged: not rewritten
    assert save(splunkd, region="SGP1")[1]["result"] == "saved"
    assert link(splunkd) == "https://app.sgp1.sekoia.io/intelligence/objects/$@field_value$"


def test_a_later_failure_puts_the_es_block_and_the_link_back(splunkd):
    splunkd.set_password("sekoia_ic", "api_key", "old")
    splunkd.inject_failure(r"data/inputs/sekoia_ic_feed/default$", status=500, message="boom", method="POST")
    status, answer = save(splunkd, api_key="", region="USA1", feed_id="another-feed", **ES_FORM)
    assert answer["result"] == "not_saved", answer
    assert splunkd.confs["sekoia_ic"]["es"]["enabled"] == "false"
    assert link(splunkd) == "https://app.sekoia.io/intelligence/objects/$@field_value$"
