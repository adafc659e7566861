"""Checks the saved settings and API key against the IC, in words an admin can act on.

`GET v1/me` proves the key (401 bad or expired key, 429 rate limit); one page of one object of the configured
feed (the sekoia_ic_feed://default input's feed_id) proves the permission to read it (403) and that it exists."""
import dataclasses
import time

from splunklib.binding import HTTPError

from ..constants import DEFAULT_FEED_ID, FEED_INPUT, IOC_PERMISSIONS
from ..ic import errors
from ..regions import REGIONS
from ..splunk.settings import make_client, read_settings
from ..splunk import feeds

REQUEST_SECONDS = 9.0  # at most, per API request of the check
CHECK_SECONDS = 20.0  # no request starts after this

ADVICE = {
    errors.AuthenticationError: ("bad_key", "The Sekoia.io API refused the API key (HTTP 401): it is wrong, expired "
                                 "or revoked. Create a new API key in Sekoia.io (Settings > API keys), check that it "
                                 "belongs to the selected region, and save it here."),
    errors.PermissionDeniedError: ("missing_permission", "The API key is valid but may not read the Intelligence "
                                   "Center (HTTP 403): give the key a role with the Intelligence Center read "
                                   "permissions (feeds and indicators) in Sekoia.io."),
    errors.RateLimitedError: ("rate_limited", "The Sekoia.io API is rate limiting this Splunk server (HTTP 429): wait "
                              "a few minutes and test again; the app stays under 5 requests per second."),
    errors.APITimeoutError: ("unreachable", "The Sekoia.io API did not answer in time: check the proxy and firewall "
                             "between Splunk and {base_url}, or raise the timeout."),
    errors.APIConnectionError: ("unreachable", "{error}"),
    errors.NotFoundError: ("not_found", "The API answered 404 at {base_url}: check the region, the custom base URL "
                           "and the feed ID ({feed_id})."),
    errors.ConfigurationError: ("not_configured", "{error}"),
}


def configured_feed_id(service):
    """The feed to check: sekoia_ic.conf [feed:default] (the setup page's feed), else the first enabled feed,
    else (nothing set up yet) the default feed the setup page offers (ConfigurationError when the conf cannot be
    read)."""
    try:
        declared = feeds.read_feeds(service)
    except (HTTPError, KeyError, ValueError) as exc:
        raise errors.ConfigurationError(f"The feeds in sekoia_ic.conf could not be read ({exc}): give the feed: | "
                                        "sekoiacheck feed_id=<id>.") from None
    name = FEED_INPUT.split("://", 1)[1]
    candidates = ([declared[name]] if name in declared else []) + [v for n, v in sorted(declared.items())
                                                                   if n != name]
    for values in candidates:
        feed, problems = feeds.check_feed("x", values)
        if "feed_id" not in problems and (feed["enabled"] or values is candidates[0]):
            return feed["feed_id"]
    return DEFAULT_FEED_ID


def check_connection(service, feed_id=None):
    """One result row: status ok/error, a code, a message for the admin, and where it checked (the configured
    feed unless feed_id is given)."""
    row = {"status": "error", "code": "", "message": "", "user": "", "region": "", "base_url": "", "feed_id": ""}
    try:
        row["feed_id"] = feed_id = feed_id or configured_feed_id(service)
        settings = read_settings(service)
        row["region"] = settings.region
        row["base_url"] = settings.base_url or REGIONS[settings.region]
        # Splunk Web gives a splunkd call 30 s (web.conf splunkdConnectionTimeout): the whole check fits in 20 s.
        quick = dataclasses.replace(settings, timeout=min(settings.timeout, REQUEST_SECONDS))
        with make_client(service, quick, retries=0) as client:
            client.deadline = time.time() + CHECK_SECONDS
            me = client.me()
            client.feed_page(feed_id, limit=1)
            # --- IOC collections: the setup page's default collection, when one is set ---
            collection = check_default_collection(client, settings.default_collection_id)
    except CollectionProblem as exc:
        row.update(code=exc.code, message=str(exc))
        return row
    except errors.SekoiaError as exc:
        code, template = next(((c, t) for kind, (c, t) in ADVICE.items() if isinstance(exc, kind)),
                              ("api_error", "{error}"))
        row.update(code=code, message=template.format(error=exc, base_url=row["base_url"] or "the API",
                                                      feed_id=row["feed_id"]))
        return row
    user = _user_of(me)
    row.update(status="ok", code="ok", user=user,
               message=f"Connected to {row['base_url']}" + (f" as {user}" if user else "") +
                       f"; the key can read the Intelligence Center feed {feed_id}." + collection)
    return row


class CollectionProblem(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def check_default_collection(client, collection_id):
    """A sentence on the default IOC collection ("" when none is set), or CollectionProblem. Asks
    `GET v2/inthreat/ioc-collections/{id}` (docs/design.md, "Pushing to an IOC collection": only its 404 and 403
    are taken as verdicts; any other answer leaves the collection unconfirmed)."""
    if not collection_id:
        return ""
    try:
        client.get_json(f"v2/inthreat/ioc-collections/{collection_id}")
    except errors.NotFoundError:
        raise CollectionProblem("unknown_collection", f"The default IOC collection {collection_id} does not exist "
                                "for this key (HTTP 404): check its ID on the setup page.") from None
    except errors.PermissionDeniedError:
        raise CollectionProblem("missing_permission", IOC_PERMISSIONS) from None
    except errors.APIError as exc:
        return f" The default IOC collection {collection_id} could not be confirmed (HTTP {exc.status})."
    return f" The key can see the default IOC collection {collection_id}."


def _user_of(me):
    if not isinstance(me, dict):
        return ""
    for source in (me, me.get("user") or {}):
        if isinstance(source, dict):
            for key in ("email", "username", "name"):
                if source.get(key):
                    return str(source[key])
            names = " ".join(str(source[k]) for k in ("firstname", "lastname") if source.get(k))
            if names:
                return names
    return ""
