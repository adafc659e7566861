"""HTTP client of the Sekoia.io Intelligence Center API (docs/design.md, "The IC API" and "Rate").

One requests.Session per client: Bearer auth, timeouts, proxy, TLS verification, a User-Agent with the app
version, urllib3 retries with backoff on 429/5xx that honour Retry-After, and a client-wide rate limit that
every attempt (retries included) goes through. Failures become the typed errors of sekoia_ic.ic.errors, whose
messages never contain the API key.
"""
import logging
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from .. import redaction
from ..constants import DEFAULT_FEED_ID, IOC_BATCH_MAX, NO_API_KEY
from ..regions import DEFAULT_REGION, base_url_for
from ..version import __version__
from . import errors
from .ratelimit import BudgetExceeded, RateLimiter

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 2000
USER_AGENT = f"sekoia-ic-splunk/{__version__} python-requests/{requests.__version__}"
RETRY_STATUSES = (429, 500, 502, 503, 504)


class _CappedRetry(Retry):
    """urllib3 Retry that gives up at once when the server asks for a wait longer than max_retry_after
    (the caller gets a RateLimitedError and decides), and takes a rate-limiter slot before every retry.
    Backoff doubles from backoff_factor: with the default 5 s, at most 2 error answers fall in any 10 s,
    which keeps the client clear of the API firewall's block."""

    max_retry_after = 60.0
    limiter = None
    deadline = staticmethod(lambda: None)

    def get_backoff_time(self):
        # urllib3 retries the first error at once; here the first retry already waits backoff_factor.
        failed_attempts = len(self.history)
        if failed_attempts == 0:
            return 0
        return min(self.backoff_max, self.backoff_factor * (2 ** (failed_attempts - 1)))

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None:
            retry_after = self.get_retry_after(response)
            if response.status == 429 and retry_after is not None and self.limiter is not None:
                self.limiter.hold(retry_after)  # every process of this server waits, not only this request
            if retry_after is not None and retry_after > self.max_retry_after:
                # Waiting that long inside one request would stall the caller: with raise_on_status=False,
                # urllib3 hands this answer back and the caller gets a RateLimitedError with retry_after.
                if self.limiter is not None:
                    self.limiter.note_error()
                raise MaxRetryError(_pool, url, ResponseError("Retry-After above the client's limit"))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response=None):
        # Each attempt is a request of its own for the limiter: this one's answer is in, the next waits its turn.
        if self.limiter is not None:
            self.limiter.release(error=response is not None)
        super().sleep(response)
        if self.limiter is not None:
            self.limiter.acquire(self.deadline())


class _RateLimitedAdapter(HTTPAdapter):
    """Takes a limiter slot for the first attempt of every request (retries take theirs in _CappedRetry) and
    gives it back with the answer, telling the limiter whether it was an error."""

    def __init__(self, limiter, deadline, default_timeout=None, **kwargs):
        self._limiter = limiter
        self._deadline = deadline
        self._default_timeout = default_timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:  # callers that pass none (taxii2-client) still get one
            kwargs["timeout"] = self._default_timeout
        self._limiter.acquire(self._deadline())
        response = None
        try:
            response = super().send(request, **kwargs)
            return response
        finally:
            self._limiter.release(error=response is not None and response.status_code >= 400)


def configure_session(session, limiter, proxy_url=None, verify_ssl=True, ca_bundle=None, retries=3,
                      backoff_factor=5.0, max_retry_after=60.0, default_timeout=None, deadline=lambda: None):
    """Give a requests.Session (ours, or the TAXII client's) the app's transport: User-Agent, proxy, TLS
    verification, retries with backoff honouring Retry-After, the client-wide rate limit, and a timeout for
    callers that pass none (taxii2-client does not)."""
    retry_class = type("ClientRetry", (_CappedRetry,), {"limiter": limiter, "max_retry_after": float(max_retry_after),
                                                        "deadline": staticmethod(deadline)})
    retry = retry_class(
        total=retries, connect=retries, read=retries, status=retries, other=0,
        backoff_factor=backoff_factor, backoff_max=120, status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}), respect_retry_after_header=True, raise_on_status=False)
    # Only what the app is configured with: no proxy, CA or .netrc credentials from the environment.
    session.trust_env = False
    session.headers["User-Agent"] = USER_AGENT
    if proxy_url:
        session.proxies = {"http": proxy_url, "https": proxy_url}
    session.verify = ca_bundle if (verify_ssl and ca_bundle) else bool(verify_ssl)
    adapter = _RateLimitedAdapter(limiter, deadline, default_timeout, max_retries=retry, pool_connections=4,
                                  pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def check_api_key(api_key):
    """Return the key stripped, or raise ConfigurationError (without echoing the key) if it cannot be one."""
    key = (api_key or "").strip()
    if not key:
        raise errors.ConfigurationError(NO_API_KEY)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise errors.ConfigurationError(
            "The Sekoia.io API key contains spaces or control characters: paste the key again on the setup page.")
    return key


class ICClient:
    """The Sekoia.io IC API. `api_key` is kept only in the session's Authorization header."""

    def __init__(self, api_key, region=DEFAULT_REGION, base_url=None, timeout=30.0, proxy_url=None,
                 verify_ssl=True, ca_bundle=None, rate_limit=5.0, retries=3, backoff_factor=5.0,
                 max_retry_after=60.0, limiter=None):
        self.base_url = base_url_for(region, base_url)
        self.timeout = float(timeout)
        if self.timeout <= 0:
            raise errors.ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.limiter = limiter or RateLimiter(rate_limit)
        self.deadline = None  # a time.time() after which no request is sent (BudgetExhaustedError)
        self._session = requests.Session()
        self._session.headers.update({
            "Authorization": f"Bearer {check_api_key(api_key)}",
            "Accept": "application/json",
        })
        configure_session(self._session, self.limiter, proxy_url=proxy_url, verify_ssl=verify_ssl,
                          ca_bundle=ca_bundle, retries=retries, backoff_factor=backoff_factor,
                          max_retry_after=max_retry_after, deadline=lambda: self.deadline)

    def __repr__(self):
        return f"ICClient(base_url={self.base_url!r})"

    def close(self):
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------------------------------ endpoints
    def me(self):
        """`GET v1/me`: who the key belongs to; the cheapest way to check a key."""
        return self.get_json("v1/me")

    def feed_page(self, feed_id=DEFAULT_FEED_ID, cursor=None, limit=MAX_PAGE_SIZE, types=("indicator",),
                  skip_expired=True, include_revoked=False):
        """One page of `GET v2/inthreat/collections/{feed_id}/objects`: {"items": [...], "next_cursor": ...}."""
        if not 1 <= int(limit) <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit!r}")
        params = {"limit": int(limit), "skip_expired": _flag(skip_expired),
                  "include_revoked": _flag(include_revoked)}
        if types:
            params["match[type]"] = ",".join(types)
        if cursor:
            params["cursor"] = cursor
        page = self.get_json(f"v2/inthreat/collections/{_segment(feed_id)}/objects", params=params)
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise errors.InvalidResponseError(
                "The feed page has no 'items' list: the API answered something else than a feed page.",
                url=self._url(f"v2/inthreat/collections/{_segment(feed_id)}/objects"))
        return page

    def indicator_context(self, observable_type, value):
        """`GET v2/inthreat/indicators/context`: {"has_more": ..., "items": [STIX bundle, ...]}."""
        return self.get_json("v2/inthreat/indicators/context", params={"type": observable_type, "value": value})

    def object_context(self, object_id):
        """`GET v2/inthreat/objects/{id}/context`: a STIX bundle around one object."""
        return self.get_json(f"v2/inthreat/objects/{_segment(object_id)}/context")

    def get_object(self, object_id):
        return self.get_json(f"v2/inthreat/objects/{_segment(object_id)}")

    def get_relationship(self, relationship_id):
        return self.get_json(f"v2/inthreat/relationships/{_segment(relationship_id)}")

    def add_to_ioc_collection(self, collection_id, values, default_fields):
        """One attempt of `POST v2/inthreat/ioc-collections/{id}/indicators` with 1..100 `indicators` ({"value"})
        and `default_fields` (description, valid_until...). Never retried here: a POST is not repeated behind the
        caller's back (it decides what to retry, and never resends what was accepted)."""
        if not 1 <= len(values) <= IOC_BATCH_MAX:
            raise ValueError(f"between 1 and {IOC_BATCH_MAX} indicators per request, got {len(values)}")
        body = {"indicators": [{"value": value} for value in values], "default_fields": dict(default_fields)}
        return self.post_json(f"v2/inthreat/ioc-collections/{_segment(collection_id)}/indicators", body)

    # ------------------------------------------------------------------------------------------ transport
    def _url(self, path):
        return f"{self.base_url}/{path.lstrip('/')}"

    def get_json(self, path, params=None):
        return self._request("GET", path, params=params)

    def post_json(self, path, body):
        return self._request("POST", path, json=body)

    def _request(self, method, path, **options):
        url = self._url(path)
        timeout = self.timeout
        if self.deadline is not None:  # never wait for an answer past the deadline
            timeout = max(0.1, min(timeout, self.deadline - time.time()))
        try:
            response = self._session.request(method, url, timeout=timeout, **options)
        except BudgetExceeded as exc:
            if exc.rate_limited:
                raise errors.RateLimitedError("The Sekoia.io API asked this server to wait (HTTP 429) longer than "
                                              "this search may.", url=url.split("?", 1)[0]) from None
            raise errors.BudgetExhaustedError(
                "The time this search may wait for the Sekoia.io API ran out (raise api_budget=<seconds> to "
                "wait longer).") from None
        except requests.exceptions.RequestException as exc:
            raise transport_error(exc, self.base_url) from None
        return _decode(response, url)


def _flag(value):
    return "true" if value else "false"


def _segment(value):
    """A path segment from an id: ids are UUIDs or STIX ids, never paths."""
    text = str(value or "")
    if not text or "/" in text or "?" in text or "#" in text or text in (".", ".."):
        raise ValueError(f"invalid identifier {value!r}")
    return text


def _retry_after(response):
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _decode(response, url):
    raise_for_status(response, url)
    status = response.status_code
    path = url.split("?", 1)[0]
    try:
        return response.json()
    except (ValueError, requests.exceptions.RequestException):
        raise errors.InvalidResponseError(
            f"The Sekoia.io API answered HTTP {status} on {path} with a body that is not valid JSON "
            f"(truncated, or a proxy's page?): {_excerpt(response)}", status=status, url=path) from None


def raise_for_status(response, url):
    """The typed error of an error answer (401, 403, 404, 429, 5xx, other 4xx); nothing for a success."""
    status = response.status_code
    path = url.split("?", 1)[0]
    if status == 401:
        raise errors.AuthenticationError(
            "The Sekoia.io API rejected the API key (HTTP 401): it is wrong, expired or revoked. "
            "Create a new key in Sekoia.io and save it on the app's setup page.", status=status, url=path)
    if status == 403:
        raise errors.PermissionDeniedError(
            f"The Sekoia.io API key lacks a permission needed for {path} (HTTP 403): give the key a role "
            "that can read the Intelligence Center (feeds and indicators).", status=status, url=path)
    if status == 404:
        raise errors.NotFoundError(f"Not found on the Sekoia.io API (HTTP 404): {path}", status=status, url=path)
    if status == 429:
        retry_after = _retry_after(response)
        wait = f" it asks to wait {retry_after:g} s." if retry_after is not None else ""
        raise errors.RateLimitedError(
            f"The Sekoia.io API is rate limiting this client (HTTP 429) after retries;{wait}",
            url=path, retry_after=retry_after)
    if status >= 500:
        raise errors.ServerError(f"The Sekoia.io API failed (HTTP {status}) on {path} after retries; "
                                 "try again later.", status=status, url=path)
    if status >= 400:
        raise errors.APIError(f"The Sekoia.io API refused the request (HTTP {status}) on {path}: "
                              f"{_excerpt(response)}", status=status, url=path)


def _excerpt(response, size=200):
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - a broken body is what we are reporting
        return "<unreadable body>"
    text = redaction.redact(" ".join(text.split()))
    return (text[:size] + "...") if len(text) > size else (text or "<empty body>")


def transport_error(exc, base_url):
    if isinstance(exc, requests.exceptions.ProxyError):
        return errors.APIConnectionError(
            f"Cannot reach the Sekoia.io API at {base_url} through the configured proxy: check proxy_url "
            f"on the setup page ({type(exc).__name__}).")
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.APIConnectionError(
            f"TLS verification failed for {base_url}: if a proxy inspects TLS, set its CA bundle on the setup page.")
    # After urllib3's retries a read timeout arrives as ConnectionError(MaxRetryError(reason=ReadTimeoutError)).
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.exceptions.Timeout) or (
            isinstance(reason, urllib3_exceptions.TimeoutError)
            # NewConnectionError subclasses ConnectTimeoutError in urllib3 2.x, but it is a refusal, not a wait.
            and not isinstance(reason, urllib3_exceptions.NewConnectionError)):
        return errors.APITimeoutError(
            f"The Sekoia.io API at {base_url} did not answer in time; raise the timeout or try again later.")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return errors.InvalidResponseError(f"The Sekoia.io API at {base_url} broke off its answer mid-way.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return errors.APIConnectionError(
            f"Cannot connect to the Sekoia.io API at {base_url} (DNS, firewall or network): check the region, "
            "base URL and proxy on the setup page.")
    return errors.APIConnectionError(f"Request to the Sekoia.io API at {base_url} failed: {type(exc).__name__}")
