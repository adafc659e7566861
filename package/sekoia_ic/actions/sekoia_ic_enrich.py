"""The alert action and Enterprise Security Adaptive Response action `sekoia_ic_enrich` (bin/sekoia_ic_enrich.py).

Splunk runs the script with `--execute` and the JSON payload on stdin (alert_actions.conf `payload_format =
json`; "Create custom alert actions": app, owner, results_file (gzip CSV), server_uri, session_key, sid,
search_name, configuration (the action's param.* values), ...). For each result, the values of the fields named
by `field` get the Sekoia.io Intelligence Center's context through the app's endpoint sekoia_ic/context, asked
with the payload's session (the user needs the sekoia_ic_enrich capability; the action never reads the API key),
once per distinct value (the endpoint's shared cache spares the API values other searches asked about).

The Common Action Model, through splunktaucclib's `cim_actions.ModularAction`: a status message per result in
$SPLUNK_HOME/var/log/splunk/sekoia_ic_enrich_modalert.log (what Incident Review shows), and one event per
enriched value (sourcetype sekoia_ic:enrichment, index `index`, default summary) written to the spool as CAM
events. It works the same as a plain alert action without Enterprise Security.

Exit status (Splunk shows the action as failed when it is not 0): 0 every result got its status and the events
were written; 1 the action could not run (not --execute, payload unreadable, no field named, bad parameter,
results unreadable); 2 the IC could not be asked for some value (no capability, API or endpoint error, time
budget spent): those results say why; 3 the events could not be written.
"""
import csv
import gzip
import json
import logging
import re
import sys
import time

from ..stix.observables import TYPES, may_leave
from ..splunk.settings import app_service
from ..enrich.enricher import Enricher, Stats, check_type, to_observable
from ..enrich.output_fields import fields_for
from ..enrich.resolver import ContextResolver

ACTION = "sekoia_ic_enrich"
SOURCETYPE = "sekoia_ic:enrichment"
DEFAULT_INDEX = "summary"
DEFAULT_BUDGET = 60
MAX_BUDGET = 600
ENDPOINT_MARGIN = 30.0
TTL = 3600
PREFIX = "sekoia_"
EXIT_OK, EXIT_CANNOT_RUN, EXIT_NOT_ASKED, EXIT_NOT_WRITTEN = 0, 1, 2, 3
INDEX_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,79}$")
FIELD_NAME = re.compile(r"^[A-Za-z_][\w.:-]*$")
csv.field_size_limit(10 * 1024 * 1024)


class CannotRun(Exception):
    pass


def parameters(configuration):
    """(fields, type, index, budget) of the action's configuration, or CannotRun saying what is wrong."""
    fields = [f.strip() for f in str(configuration.get("field") or "").split(",") if f.strip()]
    if not fields:
        raise CannotRun("no field to enrich: set the action's field parameter (e.g. dest_ip, or src,dest)")
    bad = [f for f in fields if not FIELD_NAME.match(f)]
    if bad:
        raise CannotRun(f"not a field name: {', '.join(bad)}")
    wanted = check_type(str(configuration.get("type") or "auto"))
    if wanted is None:
        raise CannotRun(f"unknown type {configuration.get('type')!r}: use auto or one of {', '.join(TYPES)}")
    index = str(configuration.get("index") or DEFAULT_INDEX).strip()
    if not INDEX_NAME.match(index):
        raise CannotRun(f"not an index name: {index!r}")
    try:
        budget = int(configuration.get("api_budget") or DEFAULT_BUDGET)
    except (TypeError, ValueError):
        budget = 0
    if not 1 <= budget <= MAX_BUDGET:
        raise CannotRun(f"api_budget is a number of seconds from 1 to {MAX_BUDGET}")
    return fields, wanted, index, budget


def read_results(path):
    """The results of the search, from the gzip CSV Splunk hands to the action."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def values_of(result, field):
    """The values of a field in a result: a multivalue field's from its __mv_ column ($a$;$b$)."""
    from splunktaucclib.cim_actions import parse_mv
    encoded = result.get(f"__mv_{field}") or ""
    if encoded.startswith("$") and encoded.endswith("$"):
        return [v for v in parse_mv(encoded) if v]
    value = result.get(field)
    return [value] if value else []


def status_of(observable, summary):
    """(action_status, signature) of one value's answer."""
    if observable is None:
        return "failure", "not an observable of the type asked for: not looked up"
    if not may_leave(*observable):
        return "success", "not sent to Sekoia.io: not a public address"
    if summary.get("error"):
        return "failure", f"not asked: {summary['error']}"
    if summary.get("allowlisted"):
        return "success", "on the app's allowlist: not looked up"
    if summary.get("matched"):
        names = ", ".join(dict.fromkeys(e["name"] for e in summary["indicators"] if e.get("name"))) or "an indicator"
        return "success", f"known to Sekoia.io: {names}"
    return "success", "unknown to Sekoia.io"


class EnrichAction:
    def __init__(self, modaction, fields, wanted_type, index, budget):
        self.modaction, self.fields, self.wanted_type, self.index = modaction, fields, wanted_type, index
        self.stats = Stats()
        self.messages = []
        settings = modaction.settings
        server_uri, session_key = settings.get("server_uri"), settings.get("session_key")
        if not server_uri or not session_key:
            raise CannotRun("the payload has no server_uri or session_key")
        service = app_service(server_uri, session_key)
        endpoint = app_service(server_uri, session_key, timeout=budget + ENDPOINT_MARGIN)
        resolver = ContextResolver(endpoint, TTL, budget, say=lambda level, text: None, stats=self.stats,
                                   reader=service)
        self.enricher = Enricher(None, resolver, fields, wanted_type, PREFIX, mode="api", ttl=TTL, stats=self.stats,
                                 messages=self.messages)
        resolver.say = self.enricher.say

    def run(self, results):
        """Status per result, events per value; the exit status."""
        modaction = self.modaction
        observables = {}
        for result in results:
            for field in self.fields:
                for raw in values_of(result, field):
                    if raw not in observables:
                        observables[raw] = to_observable(raw, self.wanted_type)
        distinct = sorted({o for o in observables.values() if o is not None})
        summaries, _ = self.enricher.resolve(distinct) if distinct else ({}, True)
        resolver = self.enricher.resolver
        if resolver.no_access:  # no sekoia_ic_enrich: nothing was asked, and each value says so
            for observable in distinct:
                if may_leave(*observable):
                    summaries[observable] = dict(summaries.get(observable) or {}, error=resolver.stopped)
        for level, text in self.messages:
            modaction.message(text, status="failure" if level == "error" else "",
                              level=logging.ERROR if level == "error" else logging.WARNING)
        not_asked = False
        now = time.time()
        for number, result in enumerate(results):
            result.setdefault("rid", str(number))
            if not result["rid"]:
                result["rid"] = str(number)
            modaction.update(result)
            modaction.invoke()
            seen = False
            for field in self.fields:
                for raw in values_of(result, field):
                    seen = True
                    observable = observables[raw]
                    summary = summaries.get(observable, {"matched": False}) if observable else {}
                    status, signature = status_of(observable, summary)
                    not_asked = not_asked or bool(summary.get("error"))
                    modaction.message(signature, status=status,
                                      level=logging.INFO if status == "success" else logging.WARNING,
                                      field=field, value=raw[:200])
                    if observable is not None:
                        event = {"_time": str(now), "field": field, "value": raw, f"{PREFIX}observable_type":
                                 observable.type, f"{PREFIX}status": signature}
                        event.update(_flat(fields_for(PREFIX, [(observable, summary)], {f"{PREFIX}matched": "false"})))
                        modaction.addevent(modaction.result2stash(event, addinfo=False), SOURCETYPE)
            if not seen:
                modaction.message(f"no value in {', '.join(self.fields)}: nothing to enrich", status="failure",
                                  level=logging.WARNING, field=",".join(self.fields))
        if modaction.events and not modaction.writeevents(index=self.index, source=ACTION):
            return EXIT_NOT_WRITTEN
        modaction.message(self.stats.line().replace("sekoialookup", ACTION), status="success" if not not_asked
                          else "failure")
        return EXIT_NOT_ASKED if not_asked else EXIT_OK


def _flat(fields):
    """The output fields in the result layout result2stash reads: a multivalue field's values in its __mv_
    column ($a$;$b$), from which it writes one key="value" per value."""
    from splunktaucclib.cim_actions import encode_mv
    out = {}
    for key, value in fields.items():
        if isinstance(value, str):
            out[key] = value
        else:
            out[key] = "\n".join(value)
            out[f"__mv_{key}"] = encode_mv([str(v) for v in value])
    return out


def run(payload_text):
    from splunktaucclib.cim_actions import ModularAction
    logger = ModularAction.setup_logger(f"{ACTION}_modalert")
    try:
        payload = json.loads(payload_text)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        logger.error("%s: the payload on stdin is not JSON (%s): Splunk runs this action with "
                     "payload_format = json", ACTION, exc)
        return EXIT_CANNOT_RUN
    modaction = ModularAction(payload_text, logger, action_name=ACTION)
    try:
        fields, wanted, index, budget = parameters(modaction.configuration)
        results = read_results(modaction.results_file) if modaction.results_file else []
        action = EnrichAction(modaction, fields, wanted, index, budget)
    except (CannotRun, OSError, csv.Error, UnicodeDecodeError) as exc:
        modaction.message(f"cannot run: {exc}", status="failure", level=logging.ERROR)
        return EXIT_CANNOT_RUN
    try:
        return action.run(results)
    except Exception as exc:  # noqa: BLE001 - a status message, never a bare traceback
        logger.exception("%s failed", ACTION)
        modaction.message(f"failed: {type(exc).__name__}: {exc}"[:500], status="failure", level=logging.ERROR)
        return EXIT_NOT_WRITTEN


def main(argv):
    if len(argv) < 2 or argv[1] != "--execute":
        sys.stderr.write(f"FATAL {ACTION}: Splunk runs this alert action with --execute and its payload on stdin\n")
        sys.exit(EXIT_CANNOT_RUN)
    status = run(sys.stdin.read())
    if status:
        sys.stderr.write(f"ERROR {ACTION}: exit status {status}: see sekoia_ic_enrich_modalert.log\n")
    sys.exit(status)
