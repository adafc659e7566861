"""The feeds the app syncs: `[feed:<name>]` stanzas of sekoia_ic.conf, which a search head cluster replicates
(server.conf conf_replication_include.sekoia_ic), written by the setup page and read by the sekoia_ic_feed input
on whichever member holds the sync lease (docs/design.md, "Several feeds").

    [feed:<name>]
    feed_id = <IC feed UUID>
    enabled = true | false       (default true)
    interval = <seconds>         (default 900: time between two syncs of this feed)
    max_tlp = <clear|green|amber|amber+strict|red>   (default empty: no cap)
    types, page_size, source, taxii_api_root         (as the input's parameters)

Standard library and splunklib's service only.
"""
import json
import re

from .. import APP_NAME
from ..constants import FALSE, FEED_ID_PATTERN, TRUE

FEED_PREFIX = "feed:"
FEED_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
DEFAULT_INTERVAL = 900
MAX_INTERVAL = 7 * 86400
FEED_KEYS = ("feed_id", "enabled", "interval", "max_tlp", "types", "page_size", "source", "taxii_api_root")
CONF_PATH = f"configs/conf-{APP_NAME}"
# TLP 2.0 levels, least restricted first; TLP 1.0's white is 2.0's clear. An indicator without a TLP marking
# counts as amber (TLP 2.0: unmarked information is not clear): a cap below amber leaves it out.
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
TLP_ALIASES = {"white": "clear", "tlp:clear": "clear", "tlp:white": "clear", "tlp:green": "green",
               "tlp:amber": "amber", "tlp:amber+strict": "amber+strict", "tlp:red": "red"}
UNMARKED_TLP = "amber"


def tlp_rank(level):
    """The rank of a TLP level (a row's `tlp`, empty when unmarked) in TLP_ORDER."""
    name = str(level or UNMARKED_TLP).strip().lower()
    return TLP_ORDER.index(TLP_ALIASES.get(name, name)) if TLP_ALIASES.get(name, name) in TLP_ORDER \
        else TLP_ORDER.index("red")


def levels_above(max_tlp):
    """The `tlp` values a row may have (1.0 and 2.0 names, and "" for unmarked) that rank above max_tlp."""
    cap = tlp_rank(max_tlp)
    names = set(TLP_ORDER) | {"white", ""}
    return sorted(n for n in names if tlp_rank(n) > cap)


def check_feed(name, values):
    """({name, feed_id, enabled, interval, max_tlp}, {field: message}) of one feed's stanza values."""
    errors, feed = {}, {"name": name}
    if not re.match(FEED_NAME_PATTERN, name or ""):
        errors["name"] = "A feed's name is 1 to 32 letters, digits, - or _, starting with a letter or digit."
    feed_id = str(values.get("feed_id") or "").strip()
    if not re.match(FEED_ID_PATTERN, feed_id):
        errors["feed_id"] = "The feed ID is the feed's UUID (letters, digits, - and _ only)."
    feed["feed_id"] = feed_id
    enabled = str(values.get("enabled", "true")).strip().lower()
    if enabled not in TRUE + FALSE + ("",):
        errors["enabled"] = "enabled is true or false."
    feed["enabled"] = enabled not in FALSE
    raw = str(values.get("interval") or DEFAULT_INTERVAL).strip()
    try:
        feed["interval"] = int(raw)
    except ValueError:
        feed["interval"] = -1
    if not 0 <= feed["interval"] <= MAX_INTERVAL:
        errors["interval"] = f"The interval is a whole number of seconds from 0 to {MAX_INTERVAL}."
    max_tlp = str(values.get("max_tlp") or "").strip().lower()
    max_tlp = TLP_ALIASES.get(max_tlp, max_tlp)
    if max_tlp and max_tlp not in TLP_ORDER:
        errors["max_tlp"] = f"The TLP cap is empty (none) or one of {', '.join(TLP_ORDER)}."
    feed["max_tlp"] = max_tlp
    return feed, errors


def read_feeds(service):
    """{name: stanza values} of every [feed:<name>] stanza, as splunkd has them now."""
    body = json.loads(service.get(CONF_PATH, output_mode="json", count=0).body.read())
    return {entry["name"][len(FEED_PREFIX):]: {k: v for k, v in (entry.get("content") or {}).items()
                                                if k in FEED_KEYS}
            for entry in body.get("entry") or [] if entry.get("name", "").startswith(FEED_PREFIX)}


def write_feed(service, name, values, create):
    """Create (or update) [feed:<name>] with these values."""
    values = {k: str(v) for k, v in values.items()}
    if create:
        service.post(CONF_PATH, name=FEED_PREFIX + name, **values)
    else:
        service.post(f"{CONF_PATH}/{FEED_PREFIX}{name}", **values)


def delete_feed(service, name):
    service.delete(f"{CONF_PATH}/{FEED_PREFIX}{name}")

