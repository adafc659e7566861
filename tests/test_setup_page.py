"""The setup page in headless Chromium, served as Splunk Web would serve it, saving into the splunkd stand-in."""
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def headless_chromium(tmp_path, page_load_strategy="normal"):
    """Debian's chromium through its chromedriver, with a profile of its own under tmp_path."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.page_load_strategy = page_load_strategy
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1000,1600",
                f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path)
    yield driver
    driver.quit()


def open_setup(browser, web):
    browser.get(web.view_url("sekoia_ic_setup"))
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.ID, "sekoia-setup").get_attribute("data-state") in ("ready", "error"))
    assert browser.find_element(By.ID, "sekoia-setup").get_attribute("data-state") == "ready"


def fill(browser, element_id, text):
    element = browser.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(text)


def status_after(browser, button_id):
    browser.find_element(By.ID, button_id).click()
    WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.ID, "sekoia-status").get_attribute("class") in
        ("sekoia-status sekoia-ok", "sekoia-status sekoia-error"))
    element = browser.find_element(By.ID, "sekoia-status")
    return element.get_attribute("class").rsplit("-", 1)[-1], element.text


def splunkd_writes(splunkd):
    """The writes splunkd got, the setup endpoint's own request aside."""
    return [(m, p) for m, p, _ in splunkd.requests if m in ("POST", "DELETE") and not p.endswith("sekoia_ic/setup")]


def test_first_setup_saves_everything_and_tests_the_connection(browser, web, splunkd, ic):
    open_setup(browser, web)
    assert "No API key is saved yet" in browser.find_element(By.ID, "sekoia-api-key-state").text
    assert browser.find_element(By.ID, "sekoia-feed-id").get_attribute("value") == \
        "d6092c37-d8d7-45c3-8aff-c4dc26030608"
    regions = [o.text for o in Select(browser.find_element(By.ID, "sekoia-region")).options]
    assert regions[3] == "UAE1 — https://app.uae1.sekoia.io/api" and len(regions) == 6
    assert regions[5] == "SGP1 — https://api.sgp1.sekoia.io"
    fill(browser, "sekoia-api-key", "good-key")
    Select(browser.find_element(By.ID, "sekoia-region")).select_by_value("USA1")
    fill(browser, "sekoia-base-url", ic.url)
    Select(browser.find_element(By.ID, "sekoia-log-level")).select_by_value("DEBUG")
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "ok", text
    assert splunkd.passwords["sekoia_ic:api_key:"]["clear_password"] == "good-key"
    settings = splunkd.confs["sekoia_ic"]["settings"]
    assert (settings["region"], settings["base_url"], settings["log_level"], settings["verify_ssl"]) == \
        ("USA1", ic.url, "DEBUG", "true")
    assert "api_key" not in settings and "good-key" not in str(splunkd.confs)
    # The feed goes to sekoia_ic.conf, which a search head cluster replicates; inputs.conf is not touched.
    feed = splunkd.confs["sekoia_ic"]["feed:default"]
    assert feed["enabled"] == "true" and feed["feed_id"] == "d6092c37-d8d7-45c3-8aff-c4dc26030608"
    assert not [p for m, p in splunkd_writes(splunkd) if "data/inputs" in p]
    assert splunkd.app_state == {"configured": "1", "reloads": 1}
    assert ("POST", "/servicesNS/nobody/system/apps/local/sekoia_ic/_reload") in splunkd_writes(splunkd)
    # Through Splunk Web, the page called only the app's endpoint and what Splunk exposes by default.
    assert web.refused == []
    assert {p.split("?")[0] for _, p, _ in web.proxied} == {
        "/services/authentication/current-context", "/servicesNS/nobody/sekoia_ic/sekoia_ic/setup"}
    assert "A key is saved" in browser.find_element(By.ID, "sekoia-api-key-state").text
    assert browser.find_element(By.ID, "sekoia-api-key").get_attribute("value") == ""

    kind, text = status_after(browser, "sekoia-test")
    assert kind == "ok" and "analyst@example.com" in text and ic.url in text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "setup_page.png"))


@pytest.mark.parametrize("field, value, words", [
    ("sekoia-api-key", "", "Enter the Sekoia.io API key"),
    ("sekoia-api-key", "abc def", "must not contain spaces"),
    ("sekoia-base-url", "htp//nowhere", "must be an http:// or https:// URL"),
    ("sekoia-base-url", "ftp://files.example.org", "must be an http:// or https:// URL"),
    ("sekoia-proxy-url", "proxy:3128 x", "must be an http:// or https:// URL"),
    ("sekoia-proxy-url", "http://bob:pw@proxy:3128", "in their own fields"),
    ("sekoia-proxy-password", "pw", "needs a proxy user"),
    ("sekoia-feed-id", "../../etc", "feed's UUID"),
])
def test_bad_input_is_refused_beside_the_field(browser, web, splunkd, field, value, words):
    before = repr(splunkd.confs) + repr(splunkd.passwords)
    open_setup(browser, web)
    if field != "sekoia-api-key":
        fill(browser, "sekoia-api-key", "good-key")
    fill(browser, field, value)
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "error" and "Nothing was saved" in text
    assert words in browser.find_element(By.ID, f"{field}-error").text
    assert splunkd_writes(splunkd) == []
    assert repr(splunkd.confs) + repr(splunkd.passwords) == before


def test_unknown_region_is_refused(browser, web, splunkd):
    open_setup(browser, web)
    fill(browser, "sekoia-api-key", "good-key")
    browser.execute_script("var o = document.createElement('option'); o.value = 'EU9'; o.text = 'EU9';"
                           "document.getElementById('sekoia-region').add(o);")
    Select(browser.find_element(By.ID, "sekoia-region")).select_by_value("EU9")
    kind, _ = status_after(browser, "sekoia-save")
    assert kind == "error" and "must be one of FRA1" in browser.find_element(By.ID, "sekoia-region-error").text
    assert splunkd_writes(splunkd) == []


def test_saved_key_is_never_shown_and_is_replaced_or_kept(browser, web, splunkd):
    splunkd.set_password("sekoia_ic", "api_key", "old-secret-key")
    open_setup(browser, web)
    assert "A key is saved" in browser.find_element(By.ID, "sekoia-api-key-state").text
    assert "old-secret-key" not in browser.page_source
    kind, _ = status_after(browser, "sekoia-save")  # empty key field: keep the saved key
    assert kind == "ok" and splunkd.passwords["sekoia_ic:api_key:"]["clear_password"] == "old-secret-key"
    fill(browser, "sekoia-api-key", "new-secret-key")
    kind, _ = status_after(browser, "sekoia-save")
    assert kind == "ok" and splunkd.passwords["sekoia_ic:api_key:"]["clear_password"] == "new-secret-key"
    assert len(splunkd.passwords) == 1


def test_a_failed_save_keeps_the_old_settings(browser, web, splunkd):
    splunkd.set_conf("sekoia_ic", "settings", region="FRA2", proxy_url="http://old-proxy.example:3128")
    splunkd.set_password("sekoia_ic", "api_key", "old-secret-key")
    before_settings = dict(splunkd.confs["sekoia_ic"]["settings"])
    open_setup(browser, web)
    Select(browser.find_element(By.ID, "sekoia-region")).select_by_value("MCO1")
    fill(browser, "sekoia-proxy-url", "")
    fill(browser, "sekoia-feed-id", "another-feed")
    fill(browser, "sekoia-api-key", "new-secret-key")
    splunkd.inject_failure(r"storage/passwords", status=500, message="Encryption failure", method="POST")
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "error" and "previous settings are kept" in text and "Encryption failure" in text
    assert splunkd.confs["sekoia_ic"]["settings"] == before_settings
    assert "feed:default" not in splunkd.confs["sekoia_ic"]  # created by the save, then put back
    assert splunkd.passwords["sekoia_ic:api_key:"]["clear_password"] == "old-secret-key"
    assert splunkd.app_state["configured"] == "0"


def test_test_connection_explains_a_bad_key(browser, web, splunkd, ic):
    splunkd.set_password("sekoia_ic", "api_key", "expired-key")
    splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url)
    open_setup(browser, web)
    kind, text = status_after(browser, "sekoia-test")
    assert kind == "error" and "wrong, expired or revoked" in text


def test_requests_without_the_csrf_header_are_refused(web, splunkd):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(f"{web.url}/en-US/splunkd/__raw/servicesNS/nobody/sekoia_ic/storage/passwords",
                                     data=b"name=api_key&realm=sekoia_ic&password=x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401 and splunkd.passwords == {}
    request = urllib.request.Request(f"{web.url}/en-US/splunkd/__raw/servicesNS/nobody/sekoia_ic/sekoia_ic/setup",
                                     data=b'{"action": "remove_api_key"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401 and not [p for _, p, _ in splunkd.requests if p.endswith("sekoia_ic/setup")]


def test_the_page_lists_adds_and_removes_feeds(browser, web, splunkd):
    """The feeds block writes sekoia_ic.conf [feed:<name>] through the endpoint, never inputs.conf."""
    splunkd.set_conf("sekoia_ic", "feed:default", feed_id="d6092c37-d8d7-45c3-8aff-c4dc26030608", enabled="true")
    open_setup(browser, web)
    def rows():  # read in one go: the table is rebuilt after each change
        return browser.execute_script("return Array.from(document.querySelectorAll('#sekoia-feed-list tbody tr'))"
                                      ".map(function (r) { return r.textContent; });")
    assert len(rows()) == 1 and "d6092c37" in rows()[0]
    fill(browser, "sekoia-new-feed-name", "partner")
    fill(browser, "sekoia-new-feed-id", "feed-b")
    fill(browser, "sekoia-new-feed-interval", "3600")
    fill(browser, "sekoia-new-feed-tlp", "green")
    browser.find_element(By.ID, "sekoia-add-feed").click()
    WebDriverWait(browser, 15).until(lambda d: len(rows()) == 2)
    assert splunkd.confs["sekoia_ic"]["feed:partner"] == {"feed_id": "feed-b", "enabled": "true", "interval": "3600",
                                                          "max_tlp": "green"}
    browser.find_element(By.ID, "sekoia-add-feed").click()  # the same name again: refused, said beside the block
    WebDriverWait(browser, 15).until(lambda d: d.find_element(By.ID, "sekoia-feeds-error").text)
    assert "exists" in browser.find_element(By.ID, "sekoia-feeds-error").text
    remove = browser.find_elements(By.CSS_SELECTOR, "#sekoia-feed-list tbody tr")[1].find_element(By.TAG_NAME,
                                                                                                   "button")
    remove.click()
    WebDriverWait(browser, 15).until(lambda d: len(rows()) == 1)
    assert "feed:partner" not in splunkd.confs["sekoia_ic"]
    assert not [p for m, p, _ in splunkd.requests if m != "GET" and "data/inputs" in p]
