"""The setup page you can trust, in headless Chromium: the key never travels back, a save is all or nothing (or
says exactly what it did), Save cannot run twice, the form never submits natively, and a visitor without the
rights gets a read-only page."""
import copy
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR
from tests.standins.splunkd import SplunkdStandIn
from tests.standins.splunkweb import SplunkWebStandIn
from tests.test_setup_page import fill, headless_chromium, open_setup, status_after

KEY = "sekoia_ic:api_key:"
PROXY_SECRET = "sekoia_ic:proxy_password:"
FEED = "feed:default"  # the form's feed: sekoia_ic.conf [feed:default], replicated (not inputs.conf)
OLD_KEY = "old-secret-key-4711"
NEW_KEY = "new-secret-key-0815"


@pytest.fixture
def browser(tmp_path):
    # A test decides what to wait for (e.g. typing before the script has loaded).
    driver = headless_chromium(tmp_path, page_load_strategy="none")
    yield driver
    driver.quit()


def configured(splunkd, ic):
    """An app set up before, with its feed enabled: what an update must not break."""
    splunkd.set_password("sekoia_ic", "api_key", OLD_KEY)
    splunkd.set_conf("sekoia_ic", "settings", region="FRA2", base_url=ic.url, timeout="20")
    splunkd.set_conf("sekoia_ic", FEED, feed_id="d6092c37-d8d7-45c3-8aff-c4dc26030608", enabled="true")
    splunkd.app_state["configured"] = "1"


def state_of(splunkd):
    """What a save changes, comparable between two splunkd stand-ins."""
    feed_input = dict(splunkd.confs["sekoia_ic"].get(FEED) or {"enabled": "false"})
    feed_input["disabled"] = str(feed_input.pop("enabled", "true")).lower() in ("0", "false")
    return {"settings": dict(splunkd.confs["sekoia_ic"]["settings"]), "input": feed_input,
            "passwords": copy.deepcopy(splunkd.passwords), "configured": splunkd.app_state["configured"]}


def edit_form(browser, key=NEW_KEY):
    Select(browser.find_element(By.ID, "sekoia-region")).select_by_value("MCO1")
    fill(browser, "sekoia-timeout", "45")
    fill(browser, "sekoia-feed-id", "another-feed")
    if key:
        fill(browser, "sekoia-api-key", key)


def secret_seen(web, browser, secret):
    """Where a secret reached the browser: a URL, a response body, or the page."""
    places = [f"url {m} {p}" for m, p in web.requests if secret in p]
    places += [f"response to {m} {p}" for m, p, _, _, body in web.exchanges if secret in body]
    places += ["a GET body" for m, _, _, body, _ in web.exchanges if m == "GET" and secret in body]
    if secret in browser.page_source or secret in browser.current_url:
        places.append("the page")
    values = browser.execute_script("return Array.from(document.querySelectorAll('input')).map(e => e.value)")
    places += ["an input's value" for v in values if secret in v]
    return places


# ---------------------------------------------------------------------------------------------- the key
def test_the_saved_key_never_travels_back(browser, web, splunkd, ic):
    configured(splunkd, ic)
    open_setup(browser, web)
    assert "A key is saved" in browser.find_element(By.ID, "sekoia-api-key-state").text
    assert secret_seen(web, browser, OLD_KEY) == []
    # The page asks the app's endpoint whether a key exists; it never talks to storage/passwords itself (splunkd
    # answers even a write there with clear_password).
    assert [p for _, p, *_ in web.exchanges if "storage/passwords" in p] == []
    assert any("sekoia_ic/setup" in p for _, p, *_ in web.exchanges)
    edit_form(browser)
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "ok", text
    assert splunkd.passwords[KEY]["clear_password"] == NEW_KEY
    assert splunkd.passwords[KEY]["acl"]["perms"] == {"read": ["admin", "sc_admin"], "write": ["admin", "sc_admin"]}
    assert secret_seen(web, browser, NEW_KEY) == [] and secret_seen(web, browser, OLD_KEY) == []
    assert splunkd.confs["sekoia_ic"]["settings"]["timeout"] == "45"
    assert splunkd.confs["sekoia_ic"][FEED]["feed_id"] == "another-feed"


# ---------------------------------------------------------------------------------------------- faults
WRITES = {  # step -> (splunkd path regex, method)
    "settings": (r"configs/conf-sekoia_ic/settings", "POST"),
    "feed_id": (r"configs/conf-sekoia_ic(/feed:default)?$", "POST"),
    "key": (r"storage/passwords", "POST"),
    "acl": (r"storage/passwords/.*/acl", "POST"),
    "configured": (r"apps/local/sekoia_ic$", "POST"),
    "reload": (r"apps/local/sekoia_ic/_reload", "POST"),
}


@pytest.mark.parametrize("first_setup", [True, False], ids=["first-setup", "update"])
@pytest.mark.parametrize("step", list(WRITES))
def test_a_fault_on_any_write_then_a_retry_ends_as_a_clean_save(browser, web, splunkd, ic, tmp_path, step,
                                                                 first_setup):
    if not first_setup:
        configured(splunkd, ic)
    else:
        splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url)
    before = state_of(splunkd)
    open_setup(browser, web)
    edit_form(browser)
    path, method = WRITES[step]
    splunkd.inject_failure(path, status=500, message="Internal failure {x}", method=method)
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "error"
    after = state_of(splunkd)
    if step in ("settings", "feed_id") or (step == "key"):
        # Nothing irreversible was written: everything is as it was, the input's state included.
        assert "Not saved, the previous settings are kept" in text and "Internal failure {x}" in text
        assert after == before
    else:
        # The new key is written and cannot be put back: the page says exactly that.
        assert "Partly saved" in text and "the new API key" in text and "Save again" in text
        assert after["passwords"][KEY]["clear_password"] == NEW_KEY
        assert after["input"]["disabled"] == before["input"]["disabled"] or first_setup
    # A retry works from whatever state the failure left.
    browser.find_element(By.ID, "sekoia-api-key").clear()
    if step in ("settings", "feed_id", "key"):
        fill(browser, "sekoia-api-key", NEW_KEY)
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "ok", text
    with SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,), splunk_home=tmp_path) as clean, \
            SplunkWebStandIn(clean, STAGE_DIR, SESSION_KEY) as clean_web:
        if not first_setup:
            configured(clean, ic)
        else:
            clean.set_conf("sekoia_ic", "settings", base_url=ic.url)
        open_setup(browser, clean_web)
        edit_form(browser)
        assert status_after(browser, "sekoia-save")[0] == "ok"
        assert state_of(splunkd) == state_of(clean)


def test_a_failed_update_never_disables_the_feed(browser, web, splunkd, ic):
    """splunkd's JSON says "disabled": false; a rollback must write that back, not "1"."""
    configured(splunkd, ic)
    open_setup(browser, web)
    edit_form(browser, key=None)
    browser.find_element(By.ID, "sekoia-enable-feed").click()  # disable...
    splunkd.inject_failure(r"apps/local/sekoia_ic$", status=500, message="boom", method="POST")
    kind, text = status_after(browser, "sekoia-save")  # ...then a later write fails: all is put back
    assert kind == "error" and "previous settings are kept" in text
    assert splunkd.confs["sekoia_ic"][FEED]["enabled"] == "true"
    assert splunkd.confs["sekoia_ic"][FEED]["feed_id"] == "d6092c37-d8d7-45c3-8aff-c4dc26030608"


@pytest.mark.parametrize("step, path", [("adding the feed", r"configs/conf-sekoia_ic$"),
                                        ("the proxy password", r"storage/passwords$")])
def test_a_first_setup_whose_input_or_proxy_write_fails_keeps_nothing_and_a_retry_finishes(browser, web, splunkd,
                                                                                         ic, step, path):
    splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url)
    if step == "the proxy password":  # the key is updated (its entity's path), the proxy password created
        splunkd.set_password("sekoia_ic", "api_key", OLD_KEY)
        splunkd.set_conf("sekoia_ic", FEED, feed_id="d6092c37-d8d7-45c3-8aff-c4dc26030608", enabled="true")
    before = state_of(splunkd)
    open_setup(browser, web)
    fill(browser, "sekoia-proxy-url", "http://proxy.example.org:3128")
    fill(browser, "sekoia-proxy-username", "alice")
    fill(browser, "sekoia-proxy-password", "pw-0815")
    splunkd.inject_failure(path, status=500, message="Internal failure", method="POST")
    fill(browser, "sekoia-api-key", NEW_KEY)
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "error" and f"{step} failed" in text and "Internal failure" in text
    if step == "adding the feed":
        assert "Not saved, the previous settings are kept" in text and state_of(splunkd) == before
    else:
        assert text.startswith("Partly saved: the settings") and "the new API key" in text
        assert PROXY_SECRET not in splunkd.passwords and splunkd.passwords[KEY]["clear_password"] == NEW_KEY
    fill(browser, "sekoia-proxy-password", "pw-0815")
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "ok", text
    assert splunkd.confs["sekoia_ic"][FEED]["enabled"] == "true"
    assert splunkd.passwords[PROXY_SECRET]["clear_password"] == "pw-0815"
    assert splunkd.passwords[PROXY_SECRET]["acl"]["perms"]["read"] == ["admin", "sc_admin"]


# ---------------------------------------------------------------------------------------------- the form
def test_a_double_click_saves_once(browser, web, splunkd, ic):
    open_setup(browser, web)
    fill(browser, "sekoia-api-key", NEW_KEY)
    fill(browser, "sekoia-base-url", ic.url)
    ActionChains(browser).double_click(browser.find_element(By.ID, "sekoia-save")).perform()
    WebDriverWait(browser, 30).until(
        lambda d: "sekoia-ok" in d.find_element(By.ID, "sekoia-status").get_attribute("class"))
    time.sleep(0.5)
    saves = [p for m, p, _ in web.proxied if m == "POST" and "sekoia_ic/setup" in p]
    settings_writes = [p for m, p, _ in splunkd.requests if m == "POST" and "conf-sekoia_ic/settings" in p]
    key_writes = [p for m, p, _ in splunkd.requests if m == "POST" and p.endswith("storage/passwords")]
    assert len(saves) == 1 and len(settings_writes) == 1 and len(key_writes) == 1
    assert splunkd.passwords[KEY]["clear_password"] == NEW_KEY


def test_enter_before_the_script_has_loaded_sends_nothing(browser, web, splunkd):
    web.script_delay = 4.0
    browser.get(web.view_url("sekoia_ic_setup"))
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "sekoia-api-key"))
    page = browser.current_url
    field = browser.find_element(By.ID, "sekoia-api-key")
    field.send_keys(NEW_KEY)
    field.send_keys(Keys.ENTER)
    time.sleep(1.0)
    assert browser.current_url == page
    assert [r for r in web.requests if NEW_KEY in r[1]] == []
    assert [r for r in web.requests if r[0] == "POST"] == []
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.ID, "sekoia-setup").get_attribute("data-state") == "ready")
    assert splunkd.passwords == {}


@pytest.mark.parametrize("value, ok", [("45", True), ("0.5", True), ("600", True), ("0", False), ("601", False),
                                       ("abc", False), ("-3", False)])
def test_the_timeout_is_on_the_page_and_validated(browser, web, splunkd, value, ok):
    open_setup(browser, web)
    assert browser.find_element(By.ID, "sekoia-timeout").get_attribute("value") == "30"
    fill(browser, "sekoia-api-key", NEW_KEY)
    fill(browser, "sekoia-timeout", value)
    kind, _ = status_after(browser, "sekoia-save")
    assert (kind == "ok") == ok
    if ok:
        assert splunkd.confs["sekoia_ic"]["settings"]["timeout"] == value
    else:
        assert "at most 600" in browser.find_element(By.ID, "sekoia-timeout-error").text


def test_the_csrf_token_of_this_splunk_web_is_used(browser, web, splunkd):
    browser.get(web.url + "/nothing-here")
    browser.add_cookie({"name": "splunkweb_csrf_token_1", "value": "another-instance", "path": "/"})
    open_setup(browser, web)
    assert browser.execute_script("return document.cookie").index("splunkweb_csrf_token_1=") == 0
    fill(browser, "sekoia-api-key", NEW_KEY)
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "ok", text


@pytest.mark.parametrize("roles", [["user"], ["power"], ["user", "sekoia_ic_analyst"]])
def test_a_visitor_without_the_rights_gets_a_truthful_read_only_page(browser, splunkd, ic, tmp_path, roles):
    """The settings are for admins: a visitor is told so, and shown no value the page cannot know (no "no key
    saved" while one is, no default feed while another is configured)."""
    configured(splunkd, ic)
    splunkd.confs["sekoia_ic"][FEED]["feed_id"] = "another-feed"
    splunkd.add_session("user-key", "ana", roles)
    splunkd.scratch_dir = tmp_path
    with SplunkWebStandIn(splunkd, STAGE_DIR, "user-key") as web:
        browser.get(web.view_url("sekoia_ic_setup"))
        WebDriverWait(browser, 15).until(
            lambda d: d.find_element(By.ID, "sekoia-setup").get_attribute("data-state") == "readonly")
        notice = browser.find_element(By.ID, "sekoia-notice").text
        assert "Only a Splunk admin" in notice and "admin_all_objects" in notice
        assert not browser.find_element(By.ID, "sekoia-setup-form").is_displayed()
        visible = browser.find_element(By.TAG_NAME, "body").text
        for untrue in ("No API key is saved yet", "d6092c37", "FRA1"):
            assert untrue not in visible
        assert [p for m, p, _ in web.proxied if m != "GET"] == []
        assert [p for m, p, s in web.proxied if s >= 400] == []  # it did not even try what it may not do


def test_the_setup_endpoint_is_for_admins_only(splunkd, ic):
    """restmap.conf capability admin_all_objects: splunkd itself refuses other roles, whatever the page does."""
    from splunklib import binding, client
    configured(splunkd, ic)
    for roles in (["user"], ["power"], ["user", "sekoia_ic_analyst"]):
        splunkd.add_session("k-" + roles[-1], "ana", roles)
        service = client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token="k-" + roles[-1],
                                 owner="nobody", app="sekoia_ic")
        for call in (lambda: service.get("sekoia_ic/setup"),
                     lambda: service.post("sekoia_ic/setup", body='{"action": "remove_api_key"}')):
            with pytest.raises(binding.HTTPError) as caught:
                call()
            assert caught.value.status == 403 and "admin_all_objects" in str(caught.value)
    assert KEY in splunkd.passwords


def test_a_load_error_is_shown_not_taken_for_no_input(browser, web, splunkd):
    splunkd.inject_failure(r"configs/conf-sekoia_ic$", status=503, message="splunkd is busy", method="GET")
    browser.get(web.view_url("sekoia_ic_setup"))
    WebDriverWait(browser, 15).until(
        lambda d: d.find_element(By.ID, "sekoia-setup").get_attribute("data-state") == "error")
    assert "splunkd is busy" in browser.find_element(By.ID, "sekoia-status").text
    assert not browser.find_element(By.ID, "sekoia-save").is_displayed()


def test_the_key_can_be_removed(browser, web, splunkd, ic):
    configured(splunkd, ic)
    open_setup(browser, web)
    remove = browser.find_element(By.ID, "sekoia-remove-key")
    remove.click()
    assert KEY in splunkd.passwords  # one click only arms it
    remove.click()
    WebDriverWait(browser, 15).until(
        lambda d: "sekoia-ok" in d.find_element(By.ID, "sekoia-status").get_attribute("class"))
    assert KEY not in splunkd.passwords
    assert "No API key is saved yet" in browser.find_element(By.ID, "sekoia-api-key-state").text


def test_proxy_credentials_move_out_of_the_conf(browser, web, splunkd, ic):
    """1.0.0 kept user:password in proxy_url, readable by every role: a save moves them to storage/passwords."""
    configured(splunkd, ic)
    splunkd.set_conf("sekoia_ic", "settings", proxy_url="http://alice:s3cr%40t@proxy.example.org:3128")
    open_setup(browser, web)
    assert browser.find_element(By.ID, "sekoia-proxy-url").get_attribute("value") == "http://proxy.example.org:3128"
    assert browser.find_element(By.ID, "sekoia-proxy-username").get_attribute("value") == "alice"
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "ok", text
    settings = splunkd.confs["sekoia_ic"]["settings"]
    assert settings["proxy_url"] == "http://proxy.example.org:3128" and settings["proxy_username"] == "alice"
    assert splunkd.passwords[PROXY_SECRET]["clear_password"] == "s3cr@t"
    assert splunkd.passwords[PROXY_SECRET]["acl"]["perms"]["read"] == ["admin", "sc_admin"]
    assert "s3cr" not in str(splunkd.confs)
    fill(browser, "sekoia-proxy-username", "")
    assert status_after(browser, "sekoia-save")[0] == "ok"
    assert PROXY_SECRET not in splunkd.passwords


# ---------------------------------------------------------------------------------------------- the page's words
def test_what_splunkd_or_a_field_says_is_shown_as_text(browser, web, splunkd, ic):
    configured(splunkd, ic)
    markup = '"><img src=x onerror="window.pwned=1">'
    splunkd.set_conf("sekoia_ic", "settings", ca_bundle=markup)
    open_setup(browser, web)
    assert browser.find_element(By.ID, "sekoia-ca-bundle").get_attribute("value") == markup
    splunkd.inject_failure(r"configs/conf-sekoia_ic/settings", status=500, method="POST",
                           message='<img src=x onerror="window.pwned=2">')
    kind, text = status_after(browser, "sekoia-save")
    assert kind == "error" and '<img src=x onerror="window.pwned=2">' in text
    assert browser.execute_script("return window.pwned === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "#sekoia-setup img")


def test_test_connection_checks_the_configured_feed(browser, web, splunkd, ic):
    configured(splunkd, ic)
    splunkd.set_password("sekoia_ic", "api_key", API_KEY)  # one the IC stand-in knows
    splunkd.confs["sekoia_ic"][FEED]["feed_id"] = "another-feed"
    open_setup(browser, web)
    kind, text = status_after(browser, "sekoia-test")
    assert kind == "error" and "another-feed" in text and "404" in text
    assert ic.requests[-1]["path"] == "/v2/inthreat/collections/another-feed/objects"
    ic.feeds["another-feed"] = {}
    kind, text = status_after(browser, "sekoia-test")
    assert kind == "ok" and "another-feed" in text
