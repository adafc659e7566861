"""The Allowlist page in headless Chromium and its endpoint sekoia_ic/allowlist through splunkd: editors add and
remove normalised entries with a reason and an expiry, everyone else sees the list read-only."""
import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import STAGE_DIR
from tests.rest_calls import call_endpoint
from tests.standins.splunkweb import SplunkWebStandIn
from tests.test_setup_page import ARTIFACTS, fill, headless_chromium


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path)
    yield driver
    driver.quit()


def open_page(browser, splunkd, key, user, roles, state):
    splunkd.add_session(key, user, roles)
    web = SplunkWebStandIn(splunkd, STAGE_DIR, key)
    web.start()
    browser.get(web.view_url("sekoia_ic_allowlist"))
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.ID, "sekoia-allowlist").get_attribute("data-state") == state)
    return web


def rows(browser):
    """The table's cells as text, read at once (a re-render replaces the rows)."""
    return browser.execute_script("return Array.from(document.querySelectorAll('#sekoia-allow-entries tr'))"
                                  ".map(tr => Array.from(tr.cells).slice(0, 7).map(td => td.textContent))")


def test_an_editor_adds_and_removes_normalised_entries(browser, splunkd, tmp_path):
    web = open_page(browser, splunkd, "editor-key", "eve", ["user", "sekoia_ic_allowlist_editor"], "ready")
    try:
        assert browser.find_element(By.ID, "sekoia-allow-empty").is_displayed()
        fill(browser, "sekoia-allow-value", "ALLOWED.Example.")
        fill(browser, "sekoia-allow-reason", 'our CDN <img src=x onerror="window.pwned=1">')
        fill(browser, "sekoia-allow-days", "30")
        browser.find_element(By.ID, "sekoia-allow-add").click()
        WebDriverWait(browser, 15).until(lambda d: len(rows(d)) == 1)
        [row] = rows(browser)
        assert row[:4] == ["domain-name", "allowed.example", 'our CDN <img src=x onerror="window.pwned=1">', "eve"]
        assert row[6] == "active" and browser.execute_script("return window.pwned === undefined")
        [entry] = splunkd.rows("sekoia_ic_allowlist")
        assert (entry["type"], entry["value"], entry["added_by"]) == ("domain-name", "allowed.example", "eve")
        assert 29 * 86400 < entry["expires"] - entry["added"] <= 30 * 86400
        # Another spelling of the same observable is the same entry.
        fill(browser, "sekoia-allow-value", "allowed.EXAMPLE")
        fill(browser, "sekoia-allow-reason", "renewed")
        fill(browser, "sekoia-allow-days", "0")
        browser.find_element(By.ID, "sekoia-allow-add").click()
        WebDriverWait(browser, 15).until(lambda d: rows(d) and rows(d)[0][2] == "renewed")
        assert len(splunkd.rows("sekoia_ic_allowlist")) == 1 and rows(browser)[0][5] == "never"
        # A value that is no observable is refused beside its field.
        fill(browser, "sekoia-allow-value", "not a value")
        fill(browser, "sekoia-allow-reason", "x")
        browser.find_element(By.ID, "sekoia-allow-add").click()
        WebDriverWait(browser, 15).until(lambda d: d.find_element(By.ID, "sekoia-allow-value-error").text)
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "allowlist_page.png"))
        browser.find_element(By.CSS_SELECTOR, "#sekoia-allow-entries .sekoia-remove").click()
        WebDriverWait(browser, 15).until(lambda d: not rows(d))
        assert splunkd.rows("sekoia_ic_allowlist") == [] and web.refused == []
    finally:
        web.stop()


@pytest.mark.parametrize("roles", [["user"], ["user", "sekoia_ic_analyst"], ["power"]])
def test_others_see_the_list_read_only(browser, splunkd, roles):
    splunkd.kv["sekoia_ic_allowlist"]["k"] = {"_key": "k", "type": "ipv4-addr", "value": "8.8.8.8", "reason": "DNS",
                                              "added_by": "eve", "added": 1, "expires": 0, "_user": "nobody"}
    web = open_page(browser, splunkd, "k-" + roles[-1], "ana", roles, "readonly")
    try:
        assert rows(browser)[0][:3] == ["ipv4-addr", "8.8.8.8", "DNS"]
        assert not browser.find_element(By.ID, "sekoia-allow-form").is_displayed()
        assert "sekoia_ic_allowlist_editor" in browser.find_element(By.ID, "sekoia-notice").text
        assert not browser.find_elements(By.CSS_SELECTOR, ".sekoia-remove")
        assert [m for m, *_ in web.proxied if m != "GET"] == []
    finally:
        web.stop()


def call(splunkd, key, body=None):
    return call_endpoint(splunkd, "sekoia_ic/allowlist", key, body)


def test_the_endpoint_lets_only_editors_write(splunkd):
    splunkd.add_session("ana", "ana", ["user", "sekoia_ic_analyst"])
    splunkd.add_session("eve", "eve", ["user", "sekoia_ic_allowlist_editor"])
    add = {"action": "add", "value": "2001:0DB8:0:0:0:0:0:1", "type": "auto", "reason": "lab", "days": 1}
    status, text = call(splunkd, "ana", add)
    assert status == 403 and "sekoia_ic_allowlist_edit" in json.dumps(text)
    status, answer = call(splunkd, "eve", add)
    assert status == 200 and (answer["entry"]["type"], answer["entry"]["value"]) == ("ipv6-addr", "2001:db8::1")
    assert call(splunkd, "ana")[1]["entries"][0]["value"] == "2001:db8::1"  # everyone reads it


@pytest.mark.parametrize("body, field", [
    ({"value": "", "reason": "r", "days": 0}, "value"), ({"value": "a.example", "reason": "", "days": 0}, "reason"),
    ({"value": "a.example", "reason": "r", "days": -1}, "days"), ({"value": "a.example", "reason": "r", "days": "9"}, "days"),
    ({"value": "a.example", "reason": "r", "days": 0, "type": "registry"}, "type"),
    ({"value": "a.example", "reason": "r", "days": 0, "type": "ipv4-addr"}, "value"),
])
def test_bad_entries_are_refused(splunkd, body, field):
    status, answer = call(splunkd, "test-session-key", dict(body, action="add"))
    assert status == 400 and field in answer["errors"] and splunkd.rows("sekoia_ic_allowlist") == []
