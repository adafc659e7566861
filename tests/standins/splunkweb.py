"""A Splunk Web stand-in, enough to run the app's setup page in a real browser, over HTTP on 127.0.0.1.

It follows Splunk Web's documented behaviour (Splunk docs "Customize Simple XML" > "Use custom CSS and
JavaScript with Simple XML", and "Splunk Web REST proxy: /splunkd/__raw"):
- GET /<locale>/app/<app>/<view> renders the view's Simple XML: each <html> panel's markup in the page, the
  dashboard's stylesheet= and script= files (a comma list) from appserver/static, and the
  splunkweb_csrf_token_<port> cookie, named after this Splunk Web's own port (several Splunk Web instances on one
  host each set their own);
- GET /<locale>/static/app/<app>/<file> serves appserver/static;
- /<locale>/splunkd/__raw/<path> forwards to splunkd only what an [expose:<name>] stanza registers, and
  answers every other path with Splunk Web's HTML 404 page, without asking splunkd. web.conf.spec, [expose:...]:
  "Registers a splunkd-based endpoint that should be made available to the UI under the /splunkd and
  /splunkd/__raw hierarchies"; `pattern` matches under /services and /servicesNS/*/*, "*" is one path element,
  "**" any number of them, an element ending in "*" a prefix; `methods` is a comma list, "Default: GET". The
  rules are Splunk's own system default web.conf (SYSTEM_EXPOSE below: the built-in endpoints a setup page may
  use, as public copies of 8.2 and 9.x have them, docs/design.md "Setup": they expose no app's endpoint and
  data/inputs only for built-in input types) plus the [expose:*]
  stanzas of the app's default/web.conf. Nothing else is forwarded: the stand-in is never kinder than that.
- A forwarded POST or DELETE without the X-Splunk-Form-Key header equal to this instance's CSRF token is refused
  with 401, as Splunk Web does. Every proxied exchange is recorded (method, path, status, request body, response
  body), so that tests can look for a secret in anything that reached the browser.
It renders no other Simple XML element (searches, charts): the setup view needs none.
"""
import secrets
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.etree import ElementTree

from .conffile import read_conf
from .loopback import LoopbackServer

# Splunk's $SPLUNK_HOME/etc/system/default/web.conf [expose:*] rules for the built-in endpoints (pattern, methods).
SYSTEM_EXPOSE = (
    ("configs/conf-*", "GET,POST"), ("configs/conf-*/*", "GET,POST,DELETE"),
    ("properties", "GET"), ("properties/**", "GET,POST"),
    ("apps/local", "GET"), ("apps/local/*", "GET,POST,DELETE"), ("apps/local/*/_reload", "GET,POST"),
    ("storage/passwords", "GET,POST"), ("storage/passwords/*", "GET,POST,DELETE"),
    ("search/jobs", "GET,POST"), ("search/jobs/**", "GET,POST,DELETE"),
    ("authentication/current-context", "GET"),
    ("data/inputs/monitor", "GET,POST"), ("data/inputs/monitor/**", "GET,POST,DELETE"),
    ("data/inputs/script", "GET,POST"), ("data/inputs/script/**", "GET,POST,DELETE"),
    ("data/inputs/tcp/**", "GET,POST,DELETE"), ("data/inputs/udp", "GET,POST"), ("data/inputs/udp/**", "GET,POST,DELETE"),
)
NOT_FOUND_PAGE = ("<!doctype html><html><head><title>Page not found! - Splunk</title></head><body>"
                  "<h1>Oops.</h1><p>Page not found! Click <a href=\"/\">here</a> to return to Splunk homepage.</p>"
                  "</body></html>")


def expose_rules(app_dir):
    """(pattern, methods) of Splunk's system default web.conf plus the app's default/web.conf [expose:*] stanzas."""
    rules = [(pattern, {m.strip().upper() for m in methods.split(",")}) for pattern, methods in SYSTEM_EXPOSE]
    web_conf = Path(app_dir) / "default" / "web.conf"
    if web_conf.exists():
        for stanza, values in read_conf(web_conf).items():
            if stanza.startswith("expose:") and values.get("pattern"):
                methods = values.get("methods") or "GET"
                rules.append((values["pattern"].strip(), {m.strip().upper() for m in methods.split(",") if m.strip()}))
    return rules


def pattern_matches(pattern, elements):
    """web.conf.spec's matching of a `pattern` against the path elements under /services."""
    return _match(pattern.strip("/").split("/"), list(elements))


def _match(parts, elements):
    if not parts:
        return not elements
    head, rest = parts[0], parts[1:]
    if head == "**":
        return any(_match(rest, elements[i:]) for i in range(len(elements) + 1))
    if not elements:
        return False
    element = elements[0]
    if head == element or head == "*" or (head.endswith("*") and element.startswith(head[:-1])):
        return _match(rest, elements[1:])
    return False


def service_elements(path):
    """The path elements under /services or /servicesNS/<owner>/<app> (query dropped), None for anything else."""
    elements = [e for e in path.split("?", 1)[0].split("/") if e]
    if elements[:1] == ["services"]:
        return elements[1:]
    if elements[:1] == ["servicesNS"] and len(elements) >= 3:
        return elements[3:]
    return None


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{label} | Splunk</title>
<link rel="stylesheet" href="/en-US/static/app/{app}/{stylesheet}"></head>
<body style="font-family: Splunk Platform Sans, Helvetica, Arial, sans-serif; margin: 0; background: #f2f4f5">
<header style="background:#1a1c20;color:#fff;padding:10px 20px;font-weight:600">splunk&gt; {app_label}</header>
<div class="dashboard-body" style="padding: 20px">
<h2 class="dashboard-title" style="margin-top:0">{label}</h2><p class="dashboard-description">{description}</p>
{panels}
</div>{scripts}</body></html>"""


class SplunkWebStandIn(LoopbackServer):
    handler_attribute = "web"

    def __init__(self, splunkd, app_dir, session_key, app="sekoia_ic"):
        self.splunkd = splunkd
        self.app_dir = Path(app_dir)
        self.session_key = session_key
        self.app = app
        self.csrf = secrets.token_hex(16)
        self.proxied = []  # (method, path, status) through /splunkd/__raw
        self.exchanges = []  # (method, path, status, request body, response body) through /splunkd/__raw
        self.requests = []  # (method, path) of every request, pages and static files included
        self.script_delay = 0.0  # seconds before a script is served (a slow network: the page is usable before)
        self.expose = expose_rules(self.app_dir)
        self.refused = []  # (method, path) that no expose rule lets through: Splunk Web's 404, splunkd never asked

    def exposed(self, method, path):
        elements = service_elements(path)
        return elements is not None and any(method in methods and pattern_matches(pattern, elements)
                                            for pattern, methods in self.expose)

    def view_url(self, view):
        return f"{self.url}/en-US/app/{self.app}/{view}"

    def render(self, view):
        path = self.app_dir / "default" / "data" / "ui" / "views" / f"{view}.xml"
        root = ElementTree.parse(path).getroot()
        panels = []
        for html in root.iter("html"):
            inner = (html.text or "") + "".join(ElementTree.tostring(child, encoding="unicode", method="html")
                                                for child in html)
            panels.append(f'<div class="dashboard-panel">{inner}</div>')
        # Simple XML does not promise the order in which a dashboard's scripts run: async, whichever loads first.
        scripts = "".join(f'<script async src="/en-US/static/app/{self.app}/{name.strip()}"></script>'
                          for name in root.get("script", "").split(",") if name.strip())
        return PAGE.format(label=root.findtext("label") or view, description=root.findtext("description") or "",
                           panels="".join(panels), app=self.app, app_label="Sekoia.io Intelligence Center",
                           stylesheet=root.get("stylesheet", ""), scripts=scripts)


class _Handler(BaseHTTPRequestHandler):
    web = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _send(self, status, body, ctype="text/html; charset=utf-8", headers=()):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        web = self.web
        path = self.path
        web.requests.append((method, path))
        app_prefix = f"/en-US/app/{web.app}/"
        static_prefix = f"/en-US/static/app/{web.app}/"
        proxy_prefix = "/en-US/splunkd/__raw/"
        if method == "GET" and path.startswith(app_prefix):
            view = path[len(app_prefix):].split("?")[0].strip("/")
            cookie = f"splunkweb_csrf_token_{self.server.server_address[1]}={web.csrf}; Path=/"
            return self._send(200, web.render(view), headers=[("Set-Cookie", cookie)])
        if method == "GET" and path.startswith(static_prefix):
            name = path[len(static_prefix):].split("?")[0]
            file = (web.app_dir / "appserver" / "static" / name).resolve()
            if not str(file).startswith(str((web.app_dir / "appserver" / "static").resolve())) or not file.is_file():
                return self._send(404, "not found", "text/plain")
            ctype = {"js": "application/javascript", "css": "text/css"}.get(file.suffix[1:], "application/octet-stream")
            if file.suffix == ".js" and web.script_delay:
                time.sleep(web.script_delay)
            return self._send(200, file.read_bytes(), ctype)
        if path.startswith(proxy_prefix):
            return self._proxy(method, "/" + path[len(proxy_prefix):])
        return self._send(404, "not found", "text/plain")

    def _proxy(self, method, path):
        web = self.web
        if not web.exposed(method, path):
            web.refused.append((method, path))
            web.proxied.append((method, path, 404))
            return self._send(404, NOT_FOUND_PAGE)
        if method in ("POST", "DELETE") and self.headers.get("X-Splunk-Form-Key") != web.csrf:
            web.proxied.append((method, path, 401))
            return self._send(401, '{"messages":[{"type":"ERROR","text":"Splunk Web CSRF check failed"}]}',
                              "application/json")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(web.splunkd.uri + path, data=body, method=method, headers={
            "Authorization": f"Splunk {web.session_key}",
            "Content-Type": self.headers.get("Content-Type", "application/x-www-form-urlencoded")})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, data, ctype = response.status, response.read(), response.headers.get("Content-Type")
        except urllib.error.HTTPError as exc:
            status, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
        web.proxied.append((method, path, status))
        web.exchanges.append((method, path, status, (body or b"").decode("utf-8", "replace"),
                              data.decode("utf-8", "replace")))
        return self._send(status, data, ctype or "application/json")


SplunkWebStandIn.handler_class = _Handler
