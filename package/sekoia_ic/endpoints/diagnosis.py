"""Checks the saved settings and API key against the IC, in words an admin can act on.

`GET v1/me` proves the key (401 bad or expired key, 429 rate limit); one feed page of one object proves the
permission to read the Intelligence Center (403)."""
from ..ic import errors
from ..ic.client import DEFAULT_FEED_ID
from ..regions import REGIONS
from ..splunk.settings import make_client, read_settings

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
    errors.NotFoundError: ("not_found", "The API answered 404 at {base_url}: check the region or the custom base URL."),
    errors.ConfigurationError: ("not_configured", "{error}"),
}


def check_connection(service, feed_id=DEFAULT_FEED_ID):
    """One result row: status ok/error, a code, a message for the admin, and where it checked."""
    row = {"status": "error", "code": "", "message": "", "user": "", "region": "", "base_url": ""}
    try:
        settings = read_settings(service)
        row["region"] = settings.region
        row["base_url"] = settings.base_url or REGIONS[settings.region]
        with make_client(service, settings, retries=1, backoff_factor=1.0, max_retry_after=10) as client:
            me = client.me()
            client.feed_page(feed_id, limit=1)
    except errors.SekoiaError as exc:
        code, template = next(((c, t) for kind, (c, t) in ADVICE.items() if isinstance(exc, kind)),
                              ("api_error", "{error}"))
        row.update(code=code, message=template.format(error=exc, base_url=row["base_url"] or "the API"))
        return row
    user = _user_of(me)
    row.update(status="ok", code="ok", user=user,
               message=f"Connected to {row['base_url']}" + (f" as {user}" if user else "") +
                       "; the key can read the Intelligence Center.")
    return row


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
