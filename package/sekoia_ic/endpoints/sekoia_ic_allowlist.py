"""The app's allowlist endpoint `sekoia_ic/allowlist`, behind the Allowlist page.

restmap.conf [script:sekoia_ic_allowlist]: GET for every logged-in user (the collection is readable by every
role), POST for holders of the capability sekoia_ic_allowlist_edit (role sekoia_ic_allowlist_editor, admin);
web.conf [expose:sekoia_ic_allowlist] lets Splunk Web forward both. It acts with the user's own session (the
collection's default.meta lets admins and sekoia_ic_allowlist_editor write), never with system authority.

    GET                                                   {"entries": [{_key, type, value, reason, added_by, added,
                                                           expires, live}], "types": [...]}
    POST {"action": "add", "value": "...", "type": "auto"|<type>, "reason": "...", "days": <0 = never>}
                                                          the value normalised to the lookup's match key (the
                                                          same observable, whatever its case, trailing dot or
                                                          IPv6 spelling, is one entry): {"entry": {...}}
    POST {"action": "remove", "key": "..."}               {"removed": key}
"""
import time

from splunklib.binding import HTTPError

from ..constants import ALLOWLIST_COLLECTION
from ..stix.observables import TYPES, observable_key
from ..splunk import logs
from ..splunk.allowlist import FIELDS, is_live
from ..splunk.kvstore import KVCollection
from ..splunk.rest_handler import SessionHandler
from ..enrich.enricher import to_observable

ENTRY = logs.EntryPoint("sekoia_ic_allowlist")
log = ENTRY.log
MAX_REASON = 500
MAX_DAYS = 3650


def list_entries(collection, now):
    entries = [{k: e.get(k) for k in ("_key",) + FIELDS} for e in collection.find()]
    for entry in entries:
        entry["live"] = is_live(entry, now)
    return sorted(entries, key=lambda e: (e.get("type") or "", e.get("value") or ""))


def add(collection, body, user, now):
    """(status, answer) of an add request."""
    value, wanted = body.get("value"), body.get("type") or "auto"
    reason, days = body.get("reason", ""), body.get("days", 0)
    if not isinstance(value, str) or not value.strip():
        return 400, {"errors": {"value": "Enter the value to allowlist."}}
    if wanted != "auto" and wanted not in TYPES:
        return 400, {"errors": {"type": f"The type is auto or one of {', '.join(TYPES)}."}}
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON or "\n" in reason:
        return 400, {"errors": {"reason": f"Say why, on one line of at most {MAX_REASON} characters."}}
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days <= MAX_DAYS:
        return 400, {"errors": {"days": f"The expiry is a number of days from 0 (never) to {MAX_DAYS}."}}
    observable = to_observable(value, wanted)
    if observable is None:
        return 400, {"errors": {"value": f"This is no {'observable' if wanted == 'auto' else wanted} the app "
                                         "can match (IP, domain, URL, e-mail, hash or file name)."}}
    entry = {"_key": observable_key(observable.type, observable.value), "type": observable.type,
             "value": observable.value, "reason": reason.strip(), "added_by": user, "added": int(now),
             "expires": int(now + days * 86400) if days else 0}
    try:
        collection.save([entry])
    except HTTPError as exc:
        if exc.status != 403:
            raise
        # The capability let the request in; the collection's permissions (default.meta) name roles.
        return 403, {"error": "Your role may call this endpoint but may not write the collection sekoia_ic_allowlist: "
                              "an admin must give you the role sekoia_ic_allowlist_editor (holding the capability "
                              "sekoia_ic_allowlist_edit alone is not enough)."}
    log.info("user=%s allowlisted %s %s until %s: %s", user, entry["type"], entry["value"], entry["expires"] or "never",
             entry["reason"])
    return 200, {"entry": dict(entry, live=True)}


class AllowlistHandler(SessionHandler):
    LOG_NAME = ENTRY.name

    def get(self, service, user):
        collection = KVCollection(service, ALLOWLIST_COLLECTION)
        return 200, {"entries": list_entries(collection, time.time()), "types": list(TYPES)}

    def post(self, service, body, user):
        collection = KVCollection(service, ALLOWLIST_COLLECTION)
        if body["action"] == "add":
            return add(collection, body, user, time.time())
        if body["action"] == "remove" and isinstance(body.get("key"), str) and body["key"]:
            collection.delete_where({"_key": body["key"]})
            log.info("user=%s removed allowlist entry %s", user, body["key"])
            return 200, {"removed": body["key"]}
        return 400, {"error": "action must be add (value, type, reason, days) or remove (key)"}
