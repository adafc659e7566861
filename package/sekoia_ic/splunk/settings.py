"""The app's settings (sekoia_ic.conf [settings]) and API key (storage/passwords), read through splunklib
with the session key Splunk hands to the script (docs/design.md, "Secrets")."""
import json
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from splunklib import binding, client

from .. import APP_NAME, redaction
from ..ic.errors import ConfigurationError
from ..constants import (API_KEY_USER, COLLECTION_ID_PATTERN, FALSE, LOG_LEVELS, NO_API_KEY, PASSWORD_REALM,
                         PROXY_PASSWORD_USER, TIMEOUT_DEFAULT, TIMEOUT_MAX, TRUE)
from ..regions import DEFAULT_REGION, REGIONS, check_http_url


def parse_bool(value, name, default):
    if value in (None, ""):
        return default
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ConfigurationError(f"sekoia_ic.conf [settings] {name} = {value!r} is not a boolean (true or false)")


# The one set of rules for [settings]: each check takes the stripped text and returns the value, or raises
# ValueError with a sentence that the setup page shows beside the field and from_conf after the key it names.
def _region(text):
    region = (text or DEFAULT_REGION).upper()
    if region not in REGIONS:
        raise ValueError(f"The region must be one of {', '.join(REGIONS)}.")
    return region


def _url(what):
    def check(text):
        return check_http_url(text, what) if text else ""
    return check


def _timeout(text):
    try:
        timeout = float(text or TIMEOUT_DEFAULT)
    except ValueError:
        timeout = -1
    if not 0 < timeout <= TIMEOUT_MAX:
        raise ValueError(f"The timeout is a number of seconds, more than 0 and at most {TIMEOUT_MAX}.")
    return timeout


def _proxy_username(text):
    if any(c in text for c in "@:/ \t\r\n"):
        raise ValueError("The proxy user must not contain @ : / or spaces.")
    return text


def _log_level(text):
    level = (text or "INFO").upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"The log level must be one of {', '.join(LOG_LEVELS)}.")
    return level


def _verify_ssl(text):
    try:
        return parse_bool(text, "verify_ssl", True)
    except ConfigurationError:
        raise ValueError("Verify TLS must be true or false.") from None


def _one_line(text):
    if "\n" in text or "\r" in text:
        raise ValueError("The CA bundle path must be on one line.")
    return text


def collection_id(text):
    """An IOC collection id as the IC takes it in a path ("" when none is given)."""
    value = (text or "").strip()
    if value and not re.match(COLLECTION_ID_PATTERN, value):
        raise ValueError("The IOC collection ID is the collection's UUID as Sekoia.io shows it (8-4-4-4-12 "
                         "hexadecimal digits, optionally prefixed by ioc-collection--).")
    return value


CHECKS = {"region": _region, "base_url": _url("The custom base URL"), "proxy_url": _url("The proxy URL"),
          "proxy_username": _proxy_username, "verify_ssl": _verify_ssl, "ca_bundle": _one_line,
          "timeout": _timeout, "log_level": _log_level,
          # --- IOC collections (the alert action sekoia_ic_add_to_collection): the default collection ---
          "default_collection_id": collection_id}


def check_all(checks, values):
    """({key: value}, {key: message}) of a stanza's key/values, every key of checks checked on its stripped text."""
    checked, errors = {}, {}
    for key, check in checks.items():
        try:
            checked[key] = check(str(values.get(key) or "").strip())
        except ValueError as exc:
            errors[key] = str(exc)
    return checked, errors


def check_settings(values):
    """({key: value}, {key: message}) of a [settings] stanza's key/values, every key checked."""
    return check_all(CHECKS, values)


@dataclass(frozen=True)
class Settings:
    region: str = DEFAULT_REGION
    base_url: str = ""
    proxy_url: str = ""
    proxy_username: str = ""
    verify_ssl: bool = True
    ca_bundle: str = ""
    timeout: float = 30.0
    log_level: str = "INFO"
    default_collection_id: str = ""

    @classmethod
    def from_conf(cls, values):
        """Validated settings from the stanza's key/values; ConfigurationError names the first bad key."""
        checked, errors = check_settings(values)
        for key, message in errors.items():
            raise ConfigurationError(f"sekoia_ic.conf [settings] {key} = {str(values.get(key) or '')!r}: {message}")
        redaction.register(urlsplit(checked["proxy_url"]).password)
        return cls(**checked)


SPLUNKD_TIMEOUT = 60.0  # seconds a splunkd call may take before it counts as failed (splunklib has no default)


def app_service(splunkd_uri, session_key, timeout=SPLUNKD_TIMEOUT):
    """A splunklib Service in the app's namespace (nobody/sekoia_ic), where its conf, key and KV store live.
    Every call gives up after `timeout` seconds without an answer."""
    parts = urlsplit(splunkd_uri)
    return client.Service(scheme=parts.scheme or "https", host=parts.hostname, port=parts.port or 8089,
                          token=session_key, owner="nobody", app=APP_NAME, autologin=False,
                          handler=binding.handler(timeout=timeout))


def read_stanza(service, stanza):
    """The values of one sekoia_ic.conf stanza as splunkd has them now, in one request; {} when it does not
    exist."""
    try:
        body = json.loads(service.get(f"configs/conf-{APP_NAME}/{stanza}", output_mode="json").body.read())
    except binding.HTTPError as exc:
        if exc.status == 404:
            return {}
        raise
    return dict((body.get("entry") or [{}])[0].get("content") or {})


def read_settings(service):
    """The settings as splunkd has them now (a missing stanza: the defaults)."""
    return Settings.from_conf(read_stanza(service, "settings"))


def read_api_key(service):
    """The API key from storage/passwords, or ConfigurationError pointing to the setup page."""
    try:
        entity = service.storage_passwords[f"{PASSWORD_REALM}:{API_KEY_USER}:"]
        key = entity.clear_password
    except KeyError:
        key = None
    except binding.HTTPError as exc:
        if exc.status != 403:
            raise
        raise ConfigurationError("Your Splunk role may not read the app's API key (it needs list_storage_passwords, "
                                 "which admin has): run this as an admin.") from None
    if not key or not str(key).strip():
        raise ConfigurationError(NO_API_KEY)
    redaction.register(key)  # masked in whatever this process lets out, should a message ever carry it
    return key


def make_client(service, settings=None, api_key=None, **options):
    from ..ic.client import ICClient  # requests is loaded only by the scripts that call the API
    from ..ic.ratelimit import limiter_for_host

    settings = settings or read_settings(service)
    options.setdefault("limiter", limiter_for_host())  # one request budget for every process of this server
    return ICClient(api_key or read_api_key(service), region=settings.region, base_url=settings.base_url or None,
                    timeout=settings.timeout, proxy_url=proxy_url(service, settings), verify_ssl=settings.verify_ssl,
                    ca_bundle=settings.ca_bundle or None, **options)


def proxy_url(service, settings):
    """The proxy URL with the proxy's credentials: the user from the conf, the password from storage/passwords
    (`sekoia_ic:proxy_password:`), so that no role but admin can read it. None without a proxy."""
    if not settings.proxy_url:
        return None
    if not settings.proxy_username:
        return settings.proxy_url
    try:
        password = service.storage_passwords[f"{PASSWORD_REALM}:{PROXY_PASSWORD_USER}:"].clear_password or ""
    except KeyError:
        password = ""
    redaction.register(password)
    parts = urlsplit(settings.proxy_url)
    userinfo = quote(settings.proxy_username, safe="") + (":" + quote(password, safe="") if password else "")
    return parts._replace(netloc=f"{userinfo}@{parts.netloc.rpartition('@')[2]}").geturl()
