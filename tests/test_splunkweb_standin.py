"""The Splunk Web stand-in forwards to splunkd exactly what web.conf's [expose:*] rules register, as
web.conf.spec describes them, and answers anything else with Splunk Web's HTML 404 without asking splunkd."""
import shutil
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT, SESSION_KEY, STAGE_DIR
from tests.standins.conffile import read_conf
from tests.standins.splunkd import SplunkdStandIn
from tests.standins.splunkweb import SplunkWebStandIn, pattern_matches


# web.conf.spec, [expose:<unique_name>] pattern: its own examples.
@pytest.mark.parametrize("pattern, path, matches", [
    ("a/b/c", "a/b/c", True), ("a/b/c", "a/b", False), ("a/b/c", "a/b/c/d", False),
    ("a/*/c", "a/b/c", True), ("a/*/c", "a/1/2/c", False),
    ("a/**/c", "a/1/c", True), ("a/**/c", "a/1/2/3/c", True),
    ("a/elem-*/c", "a/elem-123/c", True), ("a/elem-*/c", "a/other/c", False),
])
def test_patterns_match_as_web_conf_spec_says(pattern, path, matches):
    assert pattern_matches(pattern, path.split("/")) is matches


def call(web, method, path, body=None, csrf=True):
    headers = {"X-Splunk-Form-Key": web.csrf} if csrf else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"{web.url}/en-US/splunkd/__raw{path}", data=body, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read().decode()


def test_what_no_rule_exposes_is_splunk_webs_html_404_and_never_reaches_splunkd(web, splunkd):
    for path in ("/servicesNS/nobody/sekoia_ic/data/inputs/sekoia_ic_feed/default?output_mode=json",
                 "/servicesNS/nobody/sekoia_ic/storage/collections/data/sekoia_ic_indicators",
                 "/services/sekoia_ic/context"):
        status, ctype, body = call(web, "GET", path)
        assert status == 404 and ctype.startswith("text/html") and "Page not found" in body, path
        assert not [p for _, p, _ in splunkd.requests if p in path], path
    # Splunk's own endpoints that its default web.conf exposes go through.
    status, _, body = call(web, "GET", "/services/authentication/current-context?output_mode=json")
    assert status == 200 and '"username"' in body


def test_the_apps_endpoint_is_reachable_only_through_the_apps_web_conf(tmp_path):
    app_dir = tmp_path / "sekoia_ic"
    shutil.copytree(STAGE_DIR, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    path = "/servicesNS/nobody/sekoia_ic/sekoia_ic/setup?output_mode=json"
    with SplunkdStandIn(app_dir=app_dir, session_keys=(SESSION_KEY,), splunk_home=tmp_path) as splunkd:
        with SplunkWebStandIn(splunkd, app_dir, SESSION_KEY) as web:
            assert call(web, "GET", path)[0] == 200
        (app_dir / "default" / "web.conf").unlink()
        with SplunkWebStandIn(splunkd, app_dir, SESSION_KEY) as web:
            status, ctype, _ = call(web, "GET", path)
            assert status == 404 and ctype.startswith("text/html")


def test_methods_default_to_get(tmp_path, splunkd):
    app_dir = tmp_path / "app"
    (app_dir / "default").mkdir(parents=True)
    (app_dir / "default" / "web.conf").write_text("[expose:only_get]\npattern = sekoia_ic/setup\n")
    with SplunkWebStandIn(splunkd, app_dir, SESSION_KEY) as web:
        assert web.exposed("GET", "/services/sekoia_ic/setup")
        assert not web.exposed("POST", "/services/sekoia_ic/setup")
        assert not web.exposed("GET", "/services/sekoia_ic/setup/more")


def test_the_apps_web_conf_exposes_only_the_apps_own_endpoints_with_the_methods_they_serve():
    """AppInspect allows only pattern and methods in [expose:*]; every exposed pattern is a restmap.conf match of
    the app, with the methods its handler answers."""
    web = read_conf(ROOT / "default" / "web.conf")
    restmap = read_conf(ROOT / "default" / "restmap.conf")
    matches = {conf["match"].strip("/") for name, conf in restmap.items() if name.startswith("script:")}
    assert web, "the app exposes its setup endpoint"
    for name, values in web.items():
        assert name.startswith("expose:") and set(values) == {"pattern", "methods"}, name
        assert values["pattern"] in matches and values["pattern"].startswith("sekoia_ic/"), name
    assert {v["pattern"]: v["methods"] for v in web.values()} == {"sekoia_ic/setup": "GET, POST",
                                                                  "sekoia_ic/allowlist": "GET, POST"}
