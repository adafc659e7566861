"""The app's setup endpoint `sekoia_ic/setup`, the setup page's only way to splunkd.

restmap.conf [script:sekoia_ic_setup] (capability admin_all_objects, the admin's own session, no system
authority); web.conf [expose:sekoia_ic_setup] lets Splunk Web forward GET and POST to it.

    GET                                  the page's whole state, never a secret:
                                         {"settings": {...}, "secrets": {"api_key": bool, "proxy_password": bool},
                                          "unprotected": [...], "input": {"name", "feed_id", "disabled"},
                                          "feeds": [{"name", "feed_id", "enabled", "interval", "max_tlp"}],
                                          "configured": bool, "legacy_proxy_password": bool, "rules": {...}}
    POST {"action": "save", "request_id": "...", "form": {...}}
                                         validates every field (400 {"result": "invalid", "errors": {field: text}}),
                                         then writes the settings, the feed input, the secrets and their admin-only
                                         ACL, the configured flag, and reloads the app: {"result": "saved" |
                                         "not_saved" | "partly_saved", "message": ..., "state": ...}
    POST {"action": "remove_api_key"}    deletes the saved key: {"result": "removed", "state": ...}
    POST {"action": "add_feed", "feed": {"name", "feed_id", "interval", "max_tlp"}}
    POST {"action": "remove_feed", "name": ...}
                                         one feed more or less in sekoia_ic.conf (see "Feeds" below)

The feeds are sekoia_ic.conf [feed:<name>] stanzas, never inputs.conf: a search head cluster replicates
sekoia_ic.conf (server.conf conf_replication_include.sekoia_ic) and not inputs.conf, so a feed added on any member
is synced by whichever member holds the sync lease. The form's feed ID and "sync the feed" are [feed:default].

A save is all or nothing where it can be: settings and input are written first and put back exactly if a later
step fails before a secret is written. A secret cannot be put back (its old value is never read), so after one is
written a failure is reported as "Partly saved: <what is saved>; <step> failed (...)", and the next save finishes
from whatever splunkd has then. Saves run one at a time, and a request_id already answered gets the same answer:
a double submission is one save. docs/design.md, "Setup", has the reasons.
"""
import json
import re
import threading
from collections import OrderedDict
from urllib.parse import unquote, urlsplit

from splunklib.binding import HTTPError

from .. import APP_NAME, redaction
from ..constants import (API_KEY_USER, DEFAULT_FEED_ID, FEED_ID_PATTERN, FEED_INPUT, LOG_LEVELS, PROXY_PASSWORD_USER,
                         TIMEOUT_DEFAULT, is_true)
from ..regions import DEFAULT_REGION, REGIONS
from ..splunk import credentials, feeds, logs
from ..splunk.rest_handler import SessionHandler
from ..splunk.settings import CHECKS, check_settings
from ..splunk.es_settings import ES_CHECKS, ES_TYPES, MAX_ROWS_LIMIT, check_es
from ..regions import WEB_APPS

ENTRY = logs.EntryPoint("sekoia_ic_setup")
SECRETS = (API_KEY_USER, PROXY_PASSWORD_USER)
SETTINGS_PATH = f"configs/conf-{APP_NAME}/settings"
FORM_FEED = FEED_INPUT.split("://", 1)[1]  # the feed the form's feed ID and "sync the feed" are: [feed:default]
_SAVES = threading.Lock()
_ANSWERS = OrderedDict()  # request_id -> answer of the saves already run, newest last
_KEEP_ANSWERS = 32
log = ENTRY.log


def _content(service, path, **namespace):
    body = json.loads(service.get(path, output_mode="json", **namespace).body.read())
    return dict((body.get("entry") or [{}])[0].get("content") or {})


def split_proxy(url):
    """(url without credentials, user, password) of a proxy URL; 1.0.0 kept user:password@ in it."""
    parts = urlsplit(url or "")
    if "@" not in parts.netloc:
        return url or "", "", ""
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return parts._replace(netloc=host).geturl(), unquote(user), unquote(password)


def read_state(service):
    """What splunkd has now, secrets included where a save needs them (the legacy proxy password): private."""
    settings = {k: str(v) for k, v in _content(service, SETTINGS_PATH).items() if k in CHECKS}
    declared = feeds.read_feeds(service)
    form_feed = declared.get(FORM_FEED)
    secrets = {name: credentials.exists(service, name) for name in SECRETS}
    app = _content(service, f"apps/local/{APP_NAME}", owner="nobody", app="system")
    return {"settings": settings, "secrets": secrets,
            "unprotected": [n for n in SECRETS if secrets[n] and credentials.readers_beyond_admins(service, n)],
            "input": {"name": FORM_FEED, "feed_id": str((form_feed or {}).get("feed_id") or ""),
                      "disabled": form_feed is None or not feeds.check_feed(FORM_FEED, form_feed)[0]["enabled"],
                      "declared": form_feed is not None},
            "feeds": _feed_list(declared),
            "configured": is_true(app.get("configured")), **read_es_state(service)}


def public_view(state):
    """The state as the page may see it: the proxy URL without credentials, whether each secret exists."""
    settings = dict(state["settings"])
    url, user, password = split_proxy(settings.get("proxy_url", ""))
    settings["proxy_url"] = url
    settings["proxy_username"] = settings.get("proxy_username") or user
    return {"settings": settings, "secrets": dict(state["secrets"]), "unprotected": list(state["unprotected"]),
            "input": {k: v for k, v in state["input"].items() if k != "declared"},
            "feeds": [dict(f) for f in state["feeds"]], "configured": state["configured"],
            "legacy_proxy_password": bool(password),
            "rules": {"regions": REGIONS, "default_region": DEFAULT_REGION, "log_levels": list(LOG_LEVELS),
                      "timeout_default": TIMEOUT_DEFAULT, "default_feed_id": DEFAULT_FEED_ID,
                      "es_types": list(ES_TYPES), "es_max_rows_limit": MAX_ROWS_LIMIT},
            "es": dict(state.get("es") or {})}


def validate(form, state):
    """({setting: value to write}, {field: message}) of a submitted form, by the rules Settings.from_conf applies."""
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    _, errors = check_settings(text)
    written = {k: text.get(k, "").strip() for k in CHECKS}
    written["region"] = (written["region"] or DEFAULT_REGION).upper()
    written["log_level"] = (written["log_level"] or "INFO").upper()
    written["verify_ssl"] = "true" if is_true(form.get("verify_ssl", True)) else "false"
    key = text.get("api_key", "")
    if not key.strip():
        if not state["secrets"][API_KEY_USER]:
            errors["api_key"] = "Enter the Sekoia.io API key."
    elif any(c.isspace() for c in key.strip()):
        errors["api_key"] = "The API key must not contain spaces or line breaks: paste it again."
    if "proxy_url" not in errors and "@" in urlsplit(written["proxy_url"]).netloc:
        errors["proxy_url"] = "Put the proxy's user and password in their own fields, not in the URL."
    password = text.get("proxy_password", "")
    if password and not written["proxy_username"]:
        errors["proxy_password"] = "A proxy password needs a proxy user."
    elif "\n" in password or "\r" in password:
        errors["proxy_password"] = "The proxy password must be on one line."
    if not re.match(FEED_ID_PATTERN, text.get("feed_id", "").strip()):
        errors["feed_id"] = "The feed ID is the feed's UUID (letters, digits, - and _ only)."
    if not isinstance(form.get("enable_feed"), bool):
        errors["enable_feed"] = "Sync the feed is on or off."
    for name, value in form.items():
        if name not in errors and value is not None and not isinstance(value, (str, bool)):
            errors[name] = "This field must be text."
    return written, errors


class _Save:
    """One save's writes, what it can put back, and what it said is saved."""

    def __init__(self, service, state):
        self.service, self.state = service, state
        self.es_values = None  # [es] to write (validate_es), None when the form has no ES block
        self.undo = []  # (what, function) of the reversible writes done
        self.saved = []  # what is written, in words
        self.irreversible = False  # a secret was written (or removed): nothing can be put back since
        self.step = ""

    def run(self, form, values):
        service, state = self.service, self.state
        previous = dict(state["settings"])
        self._do("the settings", lambda: service.post(SETTINGS_PATH, **values),
                 lambda: service.post(SETTINGS_PATH, **{k: previous.get(k, "") for k in values}), "the settings")
        save_es_and_link(self, values["region"])
        self._form_feed(form, state)
        key = form.get("api_key", "").strip()
        if key:
            self._secret("the new API key", lambda: credentials.write(service, API_KEY_USER, key))
            self._do(f"restricting the saved {API_KEY_USER} to admins",
                     lambda: credentials.protect(service, API_KEY_USER))
        legacy = split_proxy(previous.get("proxy_url", ""))[2]
        proxy_password = form.get("proxy_password") or (legacy if values["proxy_username"] else "")
        if proxy_password and values["proxy_username"]:
            self._secret("the proxy password",
                         lambda: credentials.write(service, PROXY_PASSWORD_USER, proxy_password))
            self._do(f"restricting the saved {PROXY_PASSWORD_USER} to admins",
                     lambda: credentials.protect(service, PROXY_PASSWORD_USER))
        elif not values["proxy_username"] and state["secrets"][PROXY_PASSWORD_USER]:
            self._secret("the proxy password's removal", lambda: credentials.delete(service, PROXY_PASSWORD_USER))
        for name in state["unprotected"]:  # saved by an earlier save whose ACL write failed
            if not (name == API_KEY_USER and key) and not (name == PROXY_PASSWORD_USER and proxy_password):
                self._do(f"restricting the saved {name} to admins", lambda n=name: credentials.protect(service, n))
        configured = state["configured"]
        self._do("marking the app configured",
                 lambda: service.post(f"apps/local/{APP_NAME}", owner="nobody", app="system", configured="1"),
                 None if configured else lambda: service.post(f"apps/local/{APP_NAME}", owner="nobody",
                                                              app="system", configured="0"))
        self._do("reloading the app", lambda: service.post(f"apps/local/{APP_NAME}/_reload", owner="nobody",
                                                           app="system"))

    def _form_feed(self, form, state):
        """The form's feed ID and "sync the feed": sekoia_ic.conf [feed:default] (replicated), created if need be."""
        service, before = self.service, state["input"]
        feed_id, enable = form["feed_id"].strip(), form["enable_feed"]
        was_enabled = not before["disabled"]
        if not before["declared"]:
            self._do("adding the feed", lambda: feeds.write_feed(service, FORM_FEED, {
                "feed_id": feed_id, "enabled": "true" if enable else "false"}, create=True),
                lambda: feeds.delete_feed(service, FORM_FEED), "the feed " + ("enabled" if enable else "(disabled)"))
            return
        if feed_id != before["feed_id"]:
            self._do("the feed ID", lambda: feeds.write_feed(service, FORM_FEED, {"feed_id": feed_id}, create=False),
                     lambda: feeds.write_feed(service, FORM_FEED, {"feed_id": before["feed_id"]}, create=False),
                     "the feed ID")
        if enable != was_enabled:
            self._do("enabling the feed" if enable else "disabling the feed",
                     lambda: feeds.write_feed(service, FORM_FEED, {"enabled": str(enable).lower()}, create=False),
                     lambda: feeds.write_feed(service, FORM_FEED, {"enabled": str(was_enabled).lower()},
                                              create=False),
                     "the feed " + ("enabled" if enable else "disabled"))

    def _do(self, what, write, undo=None, saved_as=None):
        self.step = what
        write()
        if undo is not None:
            self.undo.append((what, undo))
        if saved_as:
            self.saved.append(saved_as)

    def _secret(self, what, write):
        """A write that cannot be put back. splunkd's refusal (HTTPError) leaves the secret as it was; a write
        that got no answer may have happened: from then on, a failure is only ever reported as partly saved."""
        self.step = what
        try:
            write()
        except OSError:
            self.irreversible = True
            self.saved.append(f"perhaps {what} (splunkd did not answer its write)")
            raise
        self.irreversible = True
        self.saved.append(what)

    def put_back(self):
        """Undo the reversible writes, newest first; the names of what could not be put back."""
        failed = []
        for what, undo in reversed(self.undo):
            try:
                undo()
            except Exception:  # noqa: BLE001 - each undo is tried; what failed is named to the admin
                failed.append(what)
        return failed


# ---------------------------------------------------------------------------------------------- ES and pivots
# "Send indicators to Enterprise Security" (sekoia_ic.conf [es], the rules of splunk/es_settings.py) and the
# link of the workflow action sekoia_ic_open, which follows the region (README.md, "Pivots"). The form's ES fields
# are es_enabled, es_min_confidence, es_types, es_ipv6, es_max_rows; a form without them leaves [es] alone.
ES_PATH = f"configs/conf-{APP_NAME}/es"
OPEN_ACTION_PATH = "configs/conf-workflow_actions/sekoia_ic_open"
ES_FIELDS = {f"es_{key}": key for key in ES_CHECKS}
OPEN_LINK = "{}/intelligence/objects/$@field_value$"


def read_es_state(service):
    """{"es": the [es] stanza as splunkd has it, "open_link": the workflow action's link.uri}."""
    try:
        es = {k: str(v) for k, v in _content(service, ES_PATH).items() if k in ES_CHECKS}
    except HTTPError as exc:
        if exc.status != 404:
            raise
        es = {}
    try:
        link = str(_content(service, OPEN_ACTION_PATH).get("link.uri") or "")
    except HTTPError as exc:
        if exc.status != 404:
            raise
        link = None  # no such workflow action here: nothing to keep in step
    return {"es": es, "open_link": link}


def validate_es(form):
    """({key: text to write in [es]} or None when the form has no ES field, {form field: message})."""
    if not any(name in form for name in ES_FIELDS):
        return None, {}
    text = {}
    for name, key in ES_FIELDS.items():
        value = form.get(name, "")
        text[key] = ("true" if value else "false") if isinstance(value, bool) else value
    if not all(isinstance(v, str) for v in text.values()):
        return None, {name: "This field must be text." for name, key in ES_FIELDS.items()
                      if not isinstance(text[key], str)}
    checked, errors = check_es(text)
    if errors:
        return None, {f"es_{key}": message for key, message in errors.items()}
    return {"enabled": "true" if checked["enabled"] else "false", "min_confidence": str(checked["min_confidence"]),
            "types": ",".join(checked["types"]), "ipv6": "true" if checked["ipv6"] else "false",
            "max_rows": str(checked["max_rows"])}, {}


def save_es_and_link(run, region):
    """The [es] stanza, and sekoia_ic_open's link for the region saved; both put back if a later step fails.
    The link is written through configs/conf-workflow_actions (the app's local/workflow_actions.conf); whether a
    search head cluster replicates it depends on its conf_replication_include settings (README.md, "Pivots")."""
    service, state = run.service, run.state
    if run.es_values is not None:
        before = dict(state.get("es") or {})
        run._do("the Enterprise Security settings", lambda: service.post(ES_PATH, **run.es_values),
                lambda: service.post(ES_PATH, **{k: before.get(k, "") for k in run.es_values}),
                "the Enterprise Security settings")
    link, was = OPEN_LINK.format(WEB_APPS[region]), state.get("open_link")
    if was is not None and link != was:
        run._do("the link of the workflow action sekoia_ic_open",
                lambda: service.post(OPEN_ACTION_PATH, **{"link.uri": link}),
                lambda: service.post(OPEN_ACTION_PATH, **{"link.uri": was}))


def _words(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def save(service, form, user):
    """Validate and apply a form; (HTTP status, answer)."""
    state = read_state(service)
    values, errors = validate(form, state)
    es_values, es_errors = validate_es(form)
    errors.update(es_errors)
    if errors:
        return 400, {"result": "invalid", "errors": errors,
                     "message": "Nothing was saved: correct the fields marked in red."}
    run = _Save(service, state)
    run.es_values = es_values
    try:
        run.run(form, values)
    except (HTTPError, credentials.NotProtected, OSError) as exc:
        error = redaction.redact(str(exc))
        if run.irreversible:
            saved = run.saved
            message = (f"Partly saved: {_words(saved)} {'is' if len(saved) == 1 else 'are'} saved; {run.step} failed "
                       f"({error}). Save again to finish.")
            result = "partly_saved"
        else:
            failed = run.put_back()
            result = "not_saved"
            message = (f"Not saved: {run.step} failed ({error}), and {_words(failed)} could not be put back: check "
                       "them and save again." if failed else
                       f"Not saved, the previous settings are kept: {run.step} failed ({error}).")
        log.error("user=%s: %s", user, message)
        # 200: the request was handled and the answer says how it went (a proxy in front of Splunk Web may put
        # its own page in place of a 5xx body).
        return 200, {"result": result, "message": message, "state": _state_or_none(service)}
    log.info("user=%s saved the settings (%s)", user, _words(run.saved))
    enabled = form["enable_feed"]
    return 200, {"result": "saved", "state": public_view(read_state(service)),
                 "message": "Saved. " + ("The feed sync is enabled. " if enabled else "") +
                            "Use Test connection to check the key and region."}


# ---------------------------------------------------------------------------------------------- feeds
# The setup page's list of feeds: add one (name, feed ID, interval, TLP cap) or remove one. Both write only
# sekoia_ic.conf; the member holding the sync lease syncs a new feed at its next run and deletes a removed
# feed's rows (unless another feed reads the same IC feed).
def _feed_list(declared):
    out = []
    for name, values in sorted(declared.items()):
        feed, _ = feeds.check_feed(name, values)
        out.append({"name": name, "feed_id": feed["feed_id"], "enabled": feed["enabled"],
                    "interval": feed["interval"], "max_tlp": feed["max_tlp"]})
    return out


def add_feed(service, request, user):
    """(HTTP status, answer) of {"name", "feed_id", "interval", "max_tlp"}."""
    if not isinstance(request, dict) or not all(isinstance(v, str) for v in request.values()):
        return 400, {"result": "invalid", "errors": {"feed": "Send the feed's fields as text."}}
    name = request.get("name", "").strip()
    values = {"feed_id": request.get("feed_id", "").strip(), "enabled": "true",
              "interval": request.get("interval", "").strip() or str(feeds.DEFAULT_INTERVAL),
              "max_tlp": request.get("max_tlp", "").strip()}
    feed, errors = feeds.check_feed(name, values)
    declared = feeds.read_feeds(service)
    if "name" not in errors and name in declared:
        errors["name"] = f"A feed named {name} exists: remove it first, or choose another name."
    if "feed_id" not in errors and any(feeds.check_feed(n, v)[0]["feed_id"] == feed["feed_id"]
                                       for n, v in declared.items()):
        errors["feed_id"] = "Another feed already reads this IC feed."
    if errors:
        return 400, {"result": "invalid", "errors": errors, "message": "The feed was not added."}
    values["interval"], values["max_tlp"] = str(feed["interval"]), feed["max_tlp"]
    feeds.write_feed(service, name, values, create=True)
    log.info("user=%s added feed %s (IC feed %s, every %d s, TLP cap %s)", user, name, feed["feed_id"],
             feed["interval"], feed["max_tlp"] or "none")
    return 200, {"result": "added", "state": public_view(read_state(service)),
                 "message": f"Feed {name} added: the member holding the sync lease syncs it within a minute."}


def remove_feed(service, name, user):
    if not isinstance(name, str) or name not in feeds.read_feeds(service):
        return 404, {"result": "invalid", "errors": {"name": "No such feed."}}
    feeds.delete_feed(service, name)
    log.info("user=%s removed feed %s", user, name)
    return 200, {"result": "removed", "state": public_view(read_state(service)),
                 "message": f"Feed {name} removed: its indicators leave the lookup at the next sync run."}


def _state_or_none(service):
    try:
        return public_view(read_state(service))
    except HTTPError:
        return None


class SetupHandler(SessionHandler):
    LOG_NAME = ENTRY.name

    def get(self, service, user):
        return 200, public_view(read_state(service))

    def post(self, service, body, user):
        action = body["action"]
        if action == "remove_api_key":
            with _SAVES:
                credentials.delete(service, API_KEY_USER)
            log.info("user=%s removed the API key", user)
            return 200, {"result": "removed", "state": public_view(read_state(service))}
        if action == "add_feed":
            with _SAVES:
                return add_feed(service, body.get("feed"), user)
        if action == "remove_feed":
            with _SAVES:
                return remove_feed(service, body.get("name"), user)
        if action != "save" or not isinstance(body.get("form"), dict):
            return 400, {"error": "action must be save (with a form), remove_api_key, add_feed or remove_feed"}
        return self._save_once(service, body, user)

    @staticmethod
    def _save_once(service, body, user):
        request_id = str(body.get("request_id") or "")
        with _SAVES:
            if request_id and request_id in _ANSWERS:
                return _ANSWERS[request_id]
            answer = save(service, body["form"], user)
            if request_id:
                _ANSWERS[request_id] = answer
                while len(_ANSWERS) > _KEEP_ANSWERS:
                    _ANSWERS.popitem(last=False)
            return answer
