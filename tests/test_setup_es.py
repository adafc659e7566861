"""The setup endpoint's "Send indicators to Enterprise Security" block (sekoia_ic.conf [es]) and the region's
link of the workflow action sekoia_ic_open, through splunkd as the page calls them."""
import json

import pytest

from sekoia_ic.ic.errors import ConfigurationError
from sekoia_ic.splunk.es_settings import EsSettings
from tests.test_setup_endpoint import call, save

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
    splunkd.inject_failure(r"configs/conf-sekoia_ic(/feed:default)?$", status=500, message="boom", method="POST")
    status, answer = save(splunkd, api_key="", region="USA1", feed_id="another-feed", **ES_FORM)
    assert answer["result"] == "not_saved", answer
    assert splunkd.confs["sekoia_ic"]["es"]["enabled"] == "false"
    assert link(splunkd) == "https://app.sekoia.io/intelligence/objects/$@field_value$"


def test_the_page_shows_and_saves_the_es_block(tmp_path, web, splunkd):
    """In headless Chromium: the block shows what [es] holds, a bad value is refused beside its field, a good
    save writes [es] and the region's link."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.test_setup_page import fill, headless_chromium, open_setup, status_after
    splunkd.set_password("sekoia_ic", "api_key", "old")
    splunkd.set_conf("sekoia_ic", "es", enabled="true", types="ip,file", min_confidence="40")
    browser = headless_chromium(tmp_path)
    try:
        open_setup(browser, web)
        assert browser.find_element(By.ID, "sekoia-es-enabled").is_selected()
        assert browser.find_element(By.ID, "sekoia-es-min-confidence").get_attribute("value") == "40"
        boxes = {b.get_attribute("value"): b.is_selected()
                 for b in browser.find_elements(By.CSS_SELECTOR, "#sekoia-es-types input")}
        assert boxes == {"ip": True, "domain": False, "http": False, "file": True, "email": False}
        fill(browser, "sekoia-es-min-confidence", "200")
        kind, _ = status_after(browser, "sekoia-save")
        assert kind == "error" and "0 to 100" in browser.find_element(By.ID, "sekoia-es-min-confidence-error").text
        assert splunkd.confs["sekoia_ic"]["es"]["min_confidence"] == "40"
        fill(browser, "sekoia-es-min-confidence", "70")
        browser.find_element(By.CSS_SELECTOR, "#sekoia-es-types input[value='email']").click()
        browser.find_element(By.ID, "sekoia-es-ipv6").click()
        Select(browser.find_element(By.ID, "sekoia-region")).select_by_value("UAE1")
        kind, text = status_after(browser, "sekoia-save")
        assert kind == "ok", text
    finally:
        browser.quit()
    es = splunkd.confs["sekoia_ic"]["es"]
    assert (es["enabled"], es["min_confidence"], es["types"], es["ipv6"]) == ("true", "70", "ip,file,email", "true")
    assert link(splunkd) == "https://app.uae1.sekoia.io/intelligence/objects/$@field_value$"
