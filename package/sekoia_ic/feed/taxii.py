"""The same lookup sync over TAXII 2.1 instead of the IC REST feed (docs/design.md, "The IC API", TAXII 2.1).

The IC serves each feed as a TAXII 2.1 collection (API root `<base>/v2/inthreat/taxii-server/`, collection id =
feed id, Basic auth with the API key as password). Pages come from taxii2-client's Get Objects with `limit`,
`added_after` and `next`; the objects go through the same row conversion, stale-row removal and KV writes as the
REST feed (FeedSync.apply_page). After each stored page the checkpoint keeps taxii_added_after, the page's
X-TAXII-Date-Added-Last (pages come oldest first), and, for the health dashboard, the session's `next` and
added_after. A run always starts a new paging session one second before taxii_added_after: a `next` token is
never reused across runs, because the server's session moves on with every page it serves, including a page a
killed run never stored. Objects sharing the boundary second are read again (harmless: writes are idempotent)
rather than skipped.
"""
import logging
from datetime import datetime, timedelta, timezone

import requests
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection

from ..ic import errors
from ..ic.client import configure_session, raise_for_status, transport_error
from ..ic.ratelimit import limiter_for_host
from ..splunk.library_internals import taxii_session
from .sync import FeedSync

TAXII_USER = "apikey"  # the IC checks the password (the API key); the user name is free
ADDED_AFTER_OVERLAP = timedelta(seconds=1)
log = logging.getLogger(__name__)


def default_api_root(base_url):
    return f"{base_url.rstrip('/')}/v2/inthreat/taxii-server/"


def step_back(timestamp):
    """The added_after of a new session: the stored boundary minus the overlap, in TAXII's timestamp format."""
    text = timestamp.strip().rstrip("Z")
    whole, _, fraction = text.partition(".")
    try:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        moment += timedelta(microseconds=int((fraction + "000000")[:6]) if fraction else 0)
    except ValueError:
        raise errors.InvalidResponseError(f"the TAXII server sent an unreadable date {timestamp!r}") from None
    return (moment - ADDED_AFTER_OVERLAP).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TaxiiCollection:
    """A TAXII 2.1 collection read with taxii2-client, over a session with the app's transport (rate limit,
    retries honouring Retry-After, proxy, TLS) and typed errors."""

    def __init__(self, api_root, collection_id, api_key, timeout=30.0, proxy_url=None, verify_ssl=True,
                 ca_bundle=None, limiter=None, retries=3, backoff_factor=5.0, max_retry_after=60.0):
        self.url = f"{api_root.rstrip('/')}/collections/{collection_id}/"
        self.api_root = api_root
        self.timeout = timeout
        self._collection = Collection(self.url, user=TAXII_USER, password=api_key, verify=verify_ssl)
        session = taxii_session(self._collection)
        configure_session(session, limiter or limiter_for_host(), proxy_url=proxy_url, verify_ssl=verify_ssl,
                          ca_bundle=ca_bundle, retries=retries, backoff_factor=backoff_factor,
                          max_retry_after=max_retry_after, default_timeout=timeout)
        session.hooks["response"].append(self._remember)
        self.last_response = None

    def _remember(self, response, *args, **kwargs):
        self.last_response = response
        raise_for_status(response, response.url)  # typed errors for 401/403/404/429/5xx, before taxii2-client
        return response

    def __repr__(self):
        return f"TaxiiCollection(url={self.url!r})"

    def close(self):
        self._collection.close()

    def get_objects(self, limit, types=None, added_after=None, next_token=None):
        """(objects, more, next, date_added_last) of one page."""
        filters = {"limit": limit}
        if types:
            filters["type"] = ",".join(types)
        if added_after:
            filters["added_after"] = added_after
        if next_token:
            filters["next"] = next_token
        self.last_response = None
        try:
            envelope = self._collection.get_objects(**filters)
        except errors.SekoiaError:
            raise
        except requests.exceptions.HTTPError as exc:  # a status raise_for_status let through (e.g. 400)
            raise errors.APIError(f"The TAXII server refused the request: {exc.response.status_code}",
                                  status=exc.response.status_code, url=self.url) from None
        except (TAXIIServiceException, ValueError) as exc:
            raise errors.InvalidResponseError(f"The TAXII server sent something else than a TAXII 2.1 envelope "
                                              f"({type(exc).__name__})", url=self.url) from None
        except requests.exceptions.RequestException as exc:
            raise transport_error(exc, self.api_root) from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects", []), list):
            raise errors.InvalidResponseError("The TAXII envelope has no 'objects' list", url=self.url)
        headers = self.last_response.headers if self.last_response is not None else {}
        # A one-object page may carry only X-TAXII-Date-Added-First (its first is its last).
        added_last = headers.get("X-TAXII-Date-Added-Last") or headers.get("X-TAXII-Date-Added-First")
        return envelope.get("objects", []), bool(envelope.get("more")), envelope.get("next"), added_last


class TaxiiSync(FeedSync):
    """FeedSync whose pages come from a TAXII 2.1 collection (self.client is a TaxiiCollection)."""

    def _pull(self, checkpoint, cursor):
        limit = self.input.page_size
        stored = checkpoint.get("taxii_added_after")
        session_added_after = step_back(stored) if stored else None
        next_token = None
        while True:
            objects, more, next_value, added_last = self.client.get_objects(
                limit, self.input.types, added_after=session_added_after, next_token=next_token)
            self.apply_page(objects)
            self.stats.pages += 1
            changes = {"taxii_next": next_value if more else "",
                       "taxii_session_added_after": (session_added_after or "") if more else ""}
            if added_last:
                changes["taxii_added_after"] = added_last
            self.save_checkpoint(checkpoint, **changes)
            if not (more and next_value):
                return checkpoint.get("cursor")
            self.renew_lease()
            next_token = next_value
