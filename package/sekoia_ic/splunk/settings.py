"""The app's settings (sekoia_ic.conf [settings]) and API key (storage/passwords), read through splunklib
with the session key Splunk hands to the script (docs/design.md, "Secrets")."""
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from splunklib import binding, client

from .. import APP_NAME, redaction
from ..ic.errors import ConfigurationError
from ..constants import (API_KEY_USER, FALSE, LOG_LEVELS, NO_API_KEY, PASSWORD_REALM, PROXY_PASSWORD_USER,
                    TIMEOUT_DEFAULT, TIMEOUT_MAX, TRUE)
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

    @classmethod
    def from_conf(cls, values):
        """Validated settings from the stanza's key/values; ConfigurationError names the bad key."""
        def text(key):
            return str(values.get(key) or "").strip()

        region = (text("region") or DEFAULT_REGION).upper()
        if region not in REGIONS:
            raise ConfigurationError(f"sekoia_ic.conf [settings] region = {text('region')!r} is unknown: "
                                     f"use one of {', '.join(REGIONS)}")
        try:
            base_url = check_http_url(text("base_url"), "base_url") if text("base_url") else ""
            proxy_url = check_http_url(text("proxy_url"), "proxy_url") if text("proxy_url") else ""
        except ValueError as exc:
            raise ConfigurationError(f"sekoia_ic.conf [settings] {exc}") from None
        redaction.register(urlsplit(proxy_url).password)
        try:
            timeout = float(text("timeout") or TIMEOUT_DEFAULT)
        except ValueError:
            timeout = -1
        if not 0 < timeout <= TIMEOUT_MAX:
            raise ConfigurationError(f"sekoia_ic.conf [settings] timeout = {text('timeout')!r} must be a number "
                                     f"of seconds more than 0 and at most {TIMEOUT_MAX}")
        proxy_username = text("proxy_username")
        if any(c in proxy_username for c in "@:/ \t\r\n"):
            raise ConfigurationError("sekoia_ic.conf [settings] proxy_username must not contain @ : / or spaces")
        log_level = (text("log_level") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigurationError(f"sekoia_ic.conf [settings] log_level = {text('log_level')!r}: "
                                     f"use one of {', '.join(LOG_LEVELS)}")
        return cls(region=region, base_url=base_url, proxy_url=proxy_url, proxy_username=proxy_username,
                   verify_ssl=parse_bool(values.get("verify_ssl"), "verify_ssl", True),
                   ca_bundle=text("ca_bundle"), timeout=timeout, log_level=log_level)


SPLUNKD_TIMEOUT = 60.0  # seconds a splunkd call may take before it counts as failed (splunklib has no default)


def app_service(splunkd_uri, session_key, timeout=SPLUNKD_TIMEOUT):
    """A splunklib Service in the app's namespace (nobody/sekoia_ic), where its conf, key and KV store live.
    Every call gives up after `timeout` seconds without an answer."""
    parts = urlsplit(splunkd_uri)
    return client.Service(scheme=parts.scheme or "https", host=parts.hostname, port=parts.port or 8089,
                          token=session_key, owner="nobody", app=APP_NAME, autologin=False,
                          handler=binding.handler(timeout=timeout))


def read_settings(service):
    try:
        content = service.confs[APP_NAME]["settings"].content
    except KeyError:
        content = {}
    return Settings.from_conf(dict(content))


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
