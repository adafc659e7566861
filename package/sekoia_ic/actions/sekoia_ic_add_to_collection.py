"""The custom alert action `sekoia_ic_add_to_collection` (alert_actions.conf): sends the observables a search found
to a Sekoia.io IOC collection (docs/design.md, "Pushing to an IOC collection"; README, "Send what Splunk found to
an IOC collection").

Splunk runs `bin/sekoia_ic_add_to_collection.py --execute` with a JSON payload on stdin (alert_actions.conf
`payload_format = json`): server_uri, session_key (the search owner's), sid, search_name, results_file (the
results as gzip CSV) and configuration (the action's param.* values). The script:
1. reads every value of `field` in every result (a multivalue field's values from its `__mv_<field>` column);
2. keeps the observables an IOC collection holds (domains, URLs, hashes, emails, public IP addresses; never a
   private, loopback, link-local, multicast or reserved address, zero-padded forms included), each once in the
   app's normal form (stix/observables.normalise: lowercase, canonical IPv6...);
3. sends them to the app's endpoint sekoia_ic/push with the session it was given, at most
   sekoia_ic_push.MAX_OBSERVABLES a request, each part once (never again after splunkd took it). The endpoint,
   which alone reads the API key, drops allowlisted values and adds the rest to the collection.
It never reads the API key. Its exit status says how the run went (EXIT below, README); its messages go to
stderr (splunkd.log) and to sekoia_ic_add_to_collection.log.
"""
import csv
import gzip
import json
import re
import sys

from splunklib.binding import HTTPError

from ..constants import IOC_COLLECTION_MAX, IOC_TYPES, PUSH_CAPABILITY, PUSH_ROLE, is_true
from ..enrich.enricher import to_observable
from ..redaction import redact
from ..stix.observables import may_leave
from ..splunk import logs
from ..splunk.settings import app_service, collection_id as check_collection_id

ENTRY = logs.EntryPoint("sekoia_ic_add_to_collection")
log = ENTRY.log
ENDPOINT = "sekoia_ic/push"
PART = 1000  # observables per endpoint request (the endpoint's MAX_OBSERVABLES)
MAX_VALID_DAYS = 3650
DEFAULT_BUDGET = 120.0  # seconds each endpoint request may wait for the IC, pauses included (param.max_wait)
MAX_BUDGET = 600.0

# Exit statuses (README, "Send what Splunk found to an IOC collection").
OK = 0  # sent (or nothing to send, or a dry run)
BAD_INPUT = 2  # not run as an alert action, bad parameters, unreadable results, the field in no result
REFUSED_BY_SPLUNK = 3  # the user lacks sekoia_ic_push, or splunkd refused the session
SPLUNKD_DOWN = 4  # splunkd or the app's endpoint did not answer
TOO_MANY = 5  # more distinct values than an IOC collection holds: nothing sent
IC_REFUSED = 6  # the IC or the app refused: no key, bad key, missing permission, unknown collection, bad request
IC_UNAVAILABLE = 7  # the IC kept answering 429/5xx, or did not answer: part of the values may be sent
FAILED = 1  # anything else (a message says what)
IC_CODES = {"ic_unavailable": IC_UNAVAILABLE, "ic_unreachable": IC_UNAVAILABLE, "ic_error": IC_UNAVAILABLE}

_MV_VALUE = re.compile(r"\$((?:[^$]|\$\$)*)\$")


class Stop(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def say(level, text):
    """A message to the app's log sekoia_ic_add_to_collection.log; errors also to stderr, which splunkd writes to
    splunkd.log with the action's name (logs.setup)."""
    getattr(log, level)("%s", redact(text))


# ---------------------------------------------------------------------------------------------- parameters
def parameters(payload):
    """The action's parameters (param.* of alert_actions.conf, possibly overridden per search) checked."""
    config = payload.get("configuration") or {}
    if not isinstance(config, dict):
        raise Stop(BAD_INPUT, "the payload's configuration is not an object")
    try:
        collection_id = check_collection_id(str(config.get("collection_id") or ""))
    except ValueError as exc:
        raise Stop(BAD_INPUT, f"collection_id: {exc}") from None
    field = str(config.get("field") or "").strip()
    if not field:
        raise Stop(BAD_INPUT, "field: give the result field holding the values to send")
    wanted = str(config.get("type") or "auto").strip() or "auto"
    if wanted not in ("auto",) + IOC_TYPES:
        raise Stop(BAD_INPUT, f"type: auto or one of {', '.join(IOC_TYPES)}, not {wanted!r}")
    try:
        valid_days = int(str(config.get("valid_days") or "30").strip())
    except ValueError:
        valid_days = 0
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise Stop(BAD_INPUT, f"valid_days: a whole number of days from 1 to {MAX_VALID_DAYS}")
    search_name = str(payload.get("search_name") or "ad hoc search")
    sid = str(payload.get("sid") or "")
    description = str(config.get("description") or "").strip() or \
        f"Seen in Splunk by the search \"{search_name}\" (sid {sid})"
    dry_run = is_true(config.get("dry_run"))
    try:
        budget = float(str(config.get("max_wait") or DEFAULT_BUDGET).strip())
    except ValueError:
        budget = 0
    if not 1 <= budget <= MAX_BUDGET:
        raise Stop(BAD_INPUT, f"max_wait: seconds from 1 to {MAX_BUDGET:g}")
    return {"collection_id": collection_id, "field": field, "type": wanted, "valid_days": valid_days,
            "description": description, "dry_run": dry_run, "search_name": search_name, "sid": sid,
            "budget": budget}


# ---------------------------------------------------------------------------------------------- results
def decode_mv(text):
    """`$a$;$b$` (splunkd's multivalue encoding, `$` doubled inside) -> ["a", "b"]."""
    return [m.replace("$$", "$") for m in _MV_VALUE.findall(text)]


def field_values(row, field):
    """Every value of field in one result row (None when the row lacks the field)."""
    encoded = row.get(f"__mv_{field}")
    if encoded:
        return decode_mv(encoded)
    value = row.get(field)
    if value is None or value == "":
        return None
    return value.split("\n")  # a multivalue field without its __mv_ column: one value a line


def read_results(path, field):
    """(rows, rows lacking the field, raw values) of a gzip CSV results file."""
    rows, missing, values = 0, 0, []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
            for row in csv.DictReader(stream):
                rows += 1
                found = field_values(row, field)
                if found is None:
                    missing += 1
                else:
                    values.extend(found)
    except (OSError, EOFError, csv.Error, UnicodeDecodeError) as exc:
        raise Stop(BAD_INPUT, f"the results file could not be read ({type(exc).__name__}: {exc})") from None
    return rows, missing, values


def observables(values, wanted):
    """(distinct observables in their first order, {reason: count} of the values left out)."""
    kept, skipped = {}, {}
    for raw in values:
        observable = to_observable(raw, wanted) if raw.strip() else None
        if observable is None or observable.type not in IOC_TYPES:
            why = "not an observable of the type asked" if wanted != "auto" else "not an observable"
        elif not may_leave(*observable):
            why = "not a public address"
        else:
            if (observable.type, observable.value) in kept:
                skipped["repeated"] = skipped.get("repeated", 0) + 1
            kept.setdefault((observable.type, observable.value), True)
            continue
        skipped[why] = skipped.get(why, 0) + 1
    return list(kept), skipped


# ---------------------------------------------------------------------------------------------- the endpoint
def push(service, params, found):
    """Send the observables in parts; the summed answer. Each part goes once: a part splunkd answered is never
    sent again, and after a failure no later part is sent."""
    total = {"sent": 0, "refused": [], "would_send": [], "batches": 0}
    parts = [found[i:i + PART] for i in range(0, len(found), PART)]
    for number, part in enumerate(parts, 1):
        body = {key: params[key] for key in ("collection_id", "valid_days", "description", "dry_run",
                                             "search_name", "sid", "budget")}
        body["observables"] = [list(o) for o in part]
        try:
            response = service.post(ENDPOINT, body=json.dumps(body), headers=[("Content-Type", "application/json")])
            answer = json.loads(response.body.read())
        except HTTPError as exc:
            raise Stop(*_endpoint_error(exc, total)) from None
        except (OSError, ValueError) as exc:
            raise Stop(SPLUNKD_DOWN, f"splunkd did not answer the app's endpoint {ENDPOINT} ({type(exc).__name__})"
                                     f"{_so_far(total)}") from None
        total["sent"] += answer.get("sent", 0)
        total["batches"] += answer.get("batches", 0)
        total["refused"].extend(answer.get("refused") or [])
        total["would_send"].extend(answer.get("would_send") or [])
        total["collection_id"] = answer.get("collection_id")
        if answer.get("status") == "failed":
            status = IC_CODES.get(answer.get("code"), IC_REFUSED)
            raise Stop(status, f"{answer.get('message')}{_so_far(total)}")
        log.info("part %d/%d: %s", number, len(parts), answer.get("message"))
    return total


def _so_far(total):
    return f" ({total['sent']} values were sent before)" if total["sent"] else " (nothing sent)"


def _endpoint_error(exc, total):
    if exc.status == 403:
        return REFUSED_BY_SPLUNK, (f"your Splunk role may not send values to Sekoia.io: it lacks the capability "
                                   f"{PUSH_CAPABILITY}. An admin can give you the role {PUSH_ROLE}, or add "
                                   f"{PUSH_CAPABILITY} to one of your roles{_so_far(total)}.")
    if exc.status == 401:
        return REFUSED_BY_SPLUNK, f"splunkd refused the alert's session (HTTP 401, expired?){_so_far(total)}"
    if exc.status == 404:
        return SPLUNKD_DOWN, (f"the app's endpoint {ENDPOINT} is missing (HTTP 404): restart Splunk after installing "
                              f"or upgrading the app{_so_far(total)}")
    if exc.status == 400:
        return BAD_INPUT, f"the app's endpoint refused the request: {_body_error(exc)}{_so_far(total)}"
    return SPLUNKD_DOWN, f"the app's endpoint {ENDPOINT} failed (HTTP {exc.status}){_so_far(total)}"


def _body_error(exc):
    try:
        return json.loads(exc.body)["error"]
    except Exception:  # noqa: BLE001 - the status says enough
        return f"HTTP {exc.status}"


# ---------------------------------------------------------------------------------------------- the run
def run(payload):
    params = parameters(payload)
    server_uri, session_key = payload.get("server_uri"), payload.get("session_key")
    if not server_uri or not session_key or not payload.get("results_file"):
        raise Stop(BAD_INPUT, "the payload lacks server_uri, session_key or results_file: run this as an alert action")
    rows, missing, values = read_results(payload["results_file"], params["field"])
    if rows and missing == rows:
        raise Stop(BAD_INPUT, f"none of the {rows} results has the field {params['field']!r}: nothing sent")
    found, skipped = observables(values, params["type"])
    summary = (f"search={params['search_name']!r} sid={params['sid']}: {rows} results, {missing} without "
               f"{params['field']}, {len(values)} values, {len(found)} distinct observables" +
               "".join(f", {count} {why}" for why, count in sorted(skipped.items())))
    say("info", summary)
    if len(found) > IOC_COLLECTION_MAX:
        raise Stop(TOO_MANY, f"{len(found)} distinct observables: more than an IOC collection holds "
                             f"({IOC_COLLECTION_MAX:,}); nothing sent. Narrow the search.")
    if not found:
        say("info", "nothing to send")
        return OK
    # splunkd's answer may take the whole budget the endpoint spends on the IC, and a minute more.
    service = app_service(server_uri, session_key, timeout=params["budget"] + 60)
    total = push(service, params, found)
    if total["refused"]:
        say("info", f"{len(total['refused'])} values not sent: " +
            ", ".join(f"{v} ({why})" for _, v, why in total["refused"][:20]))
    if params["dry_run"]:
        say("info", f"dry run: {len(total['would_send'])} values would be sent to the IOC collection "
                    f"{total.get('collection_id')}: " + ",".join(v for _, v in total["would_send"]))
    else:
        say("info", f"{total['sent']} values sent to the IOC collection {total.get('collection_id')} in "
                    f"{total['batches']} requests")
    return OK


def main(argv, stdin=None):
    ENTRY.start()
    if len(argv) < 2 or argv[1] != "--execute":
        say("error", "sekoia_ic_add_to_collection: Splunk runs this alert action with --execute and a JSON payload")
        return BAD_INPUT
    try:
        payload = json.loads((stdin or sys.stdin).read())
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        say("error", f"sekoia_ic_add_to_collection: the payload on stdin is not JSON ({exc})")
        return BAD_INPUT
    try:
        return run(payload)
    except Stop as stop:
        say("error", f"sekoia_ic_add_to_collection: {stop}")
        return stop.status
    except Exception as exc:  # noqa: BLE001 - a message, never a bare traceback; the traceback goes to the log
        log.exception("unexpected failure")
        say("error", f"sekoia_ic_add_to_collection failed: {type(exc).__name__}: {exc}")
        return FAILED
