"""Sekoia.io regions and their API base URLs (docs/design.md, "The IC API")."""
from urllib.parse import urlsplit

DEFAULT_REGION = "FRA1"

REGIONS = {
    "FRA1": "https://api.sekoia.io",
    "FRA2": "https://app.fra2.sekoia.io/api",
    "MCO1": "https://app.mco1.sekoia.io/api",
    "UAE1": "https://app.uae1.sekoia.io/api",
    "USA1": "https://app.usa1.sekoia.io/api",
    "SGP1": "https://api.sgp1.sekoia.io",
}

# Where a person looks at an IC object in the Sekoia.io web app, per region (for dashboards' drilldowns).
WEB_APPS = {
    "FRA1": "https://app.sekoia.io",
    "FRA2": "https://app.fra2.sekoia.io",
    "MCO1": "https://app.mco1.sekoia.io",
    "UAE1": "https://app.uae1.sekoia.io",
    "USA1": "https://app.usa1.sekoia.io",
    "SGP1": "https://app.sgp1.sekoia.io",
}


def check_http_url(url, what):
    """Return url without a trailing slash, or raise ValueError saying why it is not a usable http(s) URL."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6] host: urlsplit's own words would not name the setting
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        raise ValueError(f"{what} must be an http:// or https:// URL with a host name, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{what} has an invalid port: {url!r}") from None
    return url.rstrip("/")


def base_url_for(region=DEFAULT_REGION, base_url=None):
    """The API base URL: base_url when given (private deployments, tests), else the region's."""
    if base_url and base_url.strip():
        return check_http_url(base_url, "base_url")
    key = (region or DEFAULT_REGION).strip().upper()
    if key not in REGIONS:
        raise ValueError(f"unknown region {region!r}: expected one of {', '.join(REGIONS)}")
    return REGIONS[key]
