"""The `sekoialookup` search command (bin/sekoialookup.py): a streaming command over the chunked protocol v2.
Its protocol choices (no required_fields, the chunk layout, bounded time): docs/design.md, "Search command
protocol"."""
import logging
import os
import re
import sys
import threading

from splunklib.searchcommands import Configuration, Option, StreamingCommand, validators

from ..redaction import redact
from ..stix.observables import TYPES
from ..splunk import logs
from ..splunk.allowlist import Allowlist
from ..splunk.library_internals import FastRecordReader, RepeatableFieldOption, is_last_chunk, use_fast_record_writer
from ..splunk.settings import app_service, read_settings
from .enricher import DEFAULT_API_BUDGET, DEFAULT_TTL, MODES, Enricher, Stats, check_type
from .local_match import LocalLookup
from .resolver import ContextResolver

ENTRY = logs.EntryPoint("sekoialookup")
FIELD_NAME = re.compile(r"^[A-Za-z_][\w.:-]*$")
TYPE_CHOICES = f"{', '.join(TYPES[:-1])} or {TYPES[-1]}"
ENDPOINT_MARGIN = 30.0  # seconds the endpoint call may take beyond the API budget (its own splunkd calls)
# Seconds a thread holds the GIL while another waits for it (Python's default: 0.005). The setup thread's
# splunkd replies arrive while the main thread reads the first chunk; at 5 ms a turn, its handful of requests
# waited for the GIL longer than splunkd took to answer them.
SWITCH_INTERVAL = 0.0005
log = ENTRY.log


@Configuration(distributed=False)
class SekoiaLookupCommand(RepeatableFieldOption, FastRecordReader, StreamingCommand):
    """Enriches events with Sekoia.io Intelligence Center context.

    ##Syntax

    .. code-block::
        sekoialookup field=<field>[,<field>...] [type=auto|<observable type>] [mode=local|api|both] [ttl=<seconds>]
            [prefix=<prefix>] [api_budget=<seconds>] [per_indicator=<bool>]

    ##Description

    Looks up the values of the named fields (multivalue fields value by value) in the local lookup
    sekoia_ic_indicators, matching IP ranges too, and, with mode=api or both, asks the IC for context through the
    app's endpoint sekoia_ic/context (the user needs the sekoia_ic_enrich capability, never the API key). A row
    matches a value only when their observable types are the same (type= or detected by type=auto); an indicator
    revoked or past its valid_until is no match, whichever of the lookup or the IC says so; a value on the app's
    allowlist (sekoia_ic_allowlist) is no match and is never sent to the IC.
    Adds <prefix>matched and <prefix>indicators (one JSON object per live matching indicator, most recently
    modified first, with that indicator's own id, name, type, value, confidence, valid_until, tlp,
    kill_chain_phases, threats, sources and source), the summary fields indicator_id, indicator_name, threats,
    kill_chain_phases, confidence (highest), valid_until (latest), sources, tlp and type, and when they apply
    inactive_indicator_id and inactive_reason, allowlisted, and error for the values that could not be asked.
    per_indicator=true gives one row per (event, matching indicator) instead, with that indicator's own values in
    the flat fields and <prefix>source, <prefix>type and <prefix>value (the match key); an event without a match
    passes once. Bad input, splunkd, the KV store, the endpoint or the API failing never breaks the search: every
    event passes with what could be computed, and one message per cause goes to the job inspector.

    ##Example

    .. code-block::
        | tstats count from datamodel=Network_Traffic by All_Traffic.dest_ip | rename All_Traffic.dest_ip AS dest_ip
        | sekoialookup field=dest_ip mode=both
    """

    field = Option(doc="Field(s) holding the values to look up: field=dest_ip, repeatable or a comma list.",
                   require=False)
    observable_type = Option(name="type", doc=f"Observable type: auto (default), {TYPE_CHOICES}.", require=False,
                             default="auto")
    mode = Option(doc="local, api or both (default): local lookup only, API for every value, or API context "
                      "for local matches.", require=False, default="both")
    ttl = Option(doc="Seconds an API answer is reused (default 3600).", require=False, default=DEFAULT_TTL,
                 validate=validators.Integer(minimum=0, maximum=7 * 86400))
    prefix = Option(doc="Prefix of the added fields (default sekoia_).", require=False, default="sekoia_")
    api_budget = Option(doc="Seconds this search may wait for the Sekoia.io API in all (default 30); then the "
                            "values left get sekoia_error.", require=False, default=DEFAULT_API_BUDGET,
                        validate=validators.Integer(minimum=1, maximum=600))
    per_indicator = Option(doc="One row per (event, matching indicator), with that indicator's own values in the "
                               "flat fields (default false).", require=False, default=False,
                           validate=validators.Boolean())

    def __init__(self):
        super().__init__()
        self._enricher = None
        self._fields = []
        self._type = "auto"
        self._problem = None
        self._splunkd = None  # (splunkd_uri, session_key) of the search, from getinfo
        self._setting_up = None  # the thread that makes the enricher while the first chunk comes
        self._setup_failure = None
        self._once = logs.Once(self._say)  # each message once per search, whoever raises it

    def prepare(self):
        # Here, not in stream(): splunklib takes the writer's write_records before it calls stream().
        use_fast_record_writer(self)
        fields = [f.strip() for f in (self.field or "").split(",") if f.strip()]
        fields += [f for f in (self.fieldnames or []) if f not in fields]
        self._fields = [f for f in fields if FIELD_NAME.match(f)]
        self._type = check_type(self.observable_type)
        if not self._fields:
            self._problem = ("sekoialookup: name the field(s) to look up, e.g. | sekoialookup field=dest_ip "
                             "(events passed unchanged)")
        elif self._type is None:
            self._problem = (f"sekoialookup: unknown type={self.observable_type}: use auto, {TYPE_CHOICES} "
                             "(events passed unchanged)")
        elif (self.mode or "both").lower() not in MODES:
            self._problem = f"sekoialookup: unknown mode={self.mode}: use local, api or both (events passed unchanged)"
        elif not FIELD_NAME.match(self.prefix or "x"):
            self._problem = f"sekoialookup: prefix={self.prefix} is not a usable field name prefix"
        elif getattr(self.metadata, "searchinfo", None) is not None:
            # splunkd sends the first chunk once it has the answer to getinfo, which follows prepare(): the
            # search's one-time reads (settings, allowlist) are made meanwhile, with what getinfo said (the
            # metadata object itself is updated by each chunk).
            info = self.metadata.searchinfo
            self._splunkd = (info.splunkd_uri, info.session_key)
            self._setting_up = threading.Thread(target=self._set_up, name="sekoialookup-setup", daemon=True)
            self._setting_up.start()

    def _set_up(self):
        try:
            enricher = self._make_enricher()
            enricher.warm_up()
            self._enricher = enricher
        except Exception as exc:  # noqa: BLE001 - raised again in stream(), where the chunk's handler says it
            self._setup_failure = exc

    def _make_enricher(self):
        if self._splunkd is None:  # no setup thread: the chunk's own metadata
            self._splunkd = (self.metadata.searchinfo.splunkd_uri, self.metadata.searchinfo.session_key)
        splunkd_uri, session_key = self._splunkd
        ENTRY.start()
        service = app_service(splunkd_uri, session_key)
        try:
            logs.set_level(read_settings(service).log_level)
        except Exception as exc:  # noqa: BLE001 - only the log level is read here; the search goes on
            log.warning("settings unreadable (%s): default log level", type(exc).__name__)
        mode = self.mode.lower()
        stats, messages = Stats(), []
        resolver = None
        if mode != "local":
            budget = float(self.api_budget)
            endpoint_service = app_service(splunkd_uri, session_key, timeout=budget + ENDPOINT_MARGIN)
            resolver = ContextResolver(endpoint_service, int(self.ttl), budget, say=lambda level, text: None,
                                       stats=stats, reader=service)
        enricher = Enricher(LocalLookup(service) if mode != "api" else None, resolver, self._fields, self._type,
                            self.prefix, mode=mode, ttl=int(self.ttl), stats=stats, messages=messages,
                            allowlist=lambda: Allowlist.load(service))
        if resolver is not None:
            resolver.say = enricher.say
        return enricher

    def stream(self, records):
        # A plain function, not a generator: splunklib only iterates what it returns.
        if self._problem:
            self._say_once("error", self._problem)
            return records
        chunk = list(records)  # one whole chunk: batch the lookups over it
        produced = ()
        try:
            if self._setting_up is not None:
                self._setting_up.join()
                self._setting_up, failure, self._setup_failure = None, self._setup_failure, None
                if failure is not None:
                    raise failure
            if self._enricher is None:  # a later chunk after a failed setup tries again
                self._enricher = self._make_enricher()
            if self.per_indicator:
                chunk, produced = self._enricher.expand_chunk(chunk)
            else:
                produced = self._enricher.enrich_chunk(chunk)
        except Exception as exc:  # noqa: BLE001 - never a traceback, never a lost event
            log.exception("sekoialookup failed on a chunk")
            self._say_once("error", f"sekoialookup: internal error ({type(exc).__name__}); events passed "
                                    "unchanged, details in sekoialookup.log")
        if chunk:
            # The chunk's CSV header comes from its first record: declare there every field some record of the
            # chunk got (splunklib keeps the names declared in earlier chunks too: empty columns, harmless).
            first = chunk[0]
            for name in sorted(produced):
                self.add_field(first, name, first.get(name))
        if self._enricher is not None:
            self._flush_messages()
            if is_last_chunk(self):
                self.write_info("{}", self._enricher.stats.line())
                log.info(self._enricher.stats.line())
        return chunk

    def _flush_messages(self):
        for level, text in self._enricher.messages:
            self._say_once(level, text)
        self._enricher.messages.clear()

    def _say_once(self, level, text):
        text = redact(text)  # an API's error body may quote a credential
        self._once(text, level, text)

    def _say(self, level, text):
        log.log(logging.ERROR if level == "error" else logging.WARNING, text)
        # splunklib formats its first argument with str.format: the text goes in as an argument, so that the
        # braces of a quoted JSON body stay text.
        (self.write_error if level == "error" else self.write_warning)("{}", text)


def main(argv):
    """bin/sekoialookup.py: one search's command process (what splunklib's dispatch() does, keeping the command)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    command = SekoiaLookupCommand()
    command.process(argv, sys.stdin, sys.stdout)  # an error ends the process with splunklib's own exit(1)
    # record=true: splunklib's gzip recordings are whole only once Python closes them (commands.conf `chunked =
    # true`: protocol v2, where splunklib keeps the option set; in 3.0.1 its recorder fails there anyway, writing
    # bytes to the text stdout)
    if not command.record:
        end_process()


def end_process():
    """End the process once splunkd has every byte of its output and the logs are written, without Python's
    teardown: freeing the search's answers object by object (tens of thousands for 10,000 values) is work
    nobody needs, and splunkd waits for the process to end. Of the modules the command loads, only logging
    registers an atexit hook, and it is called here (tests/test_sekoialookup.py checks both; concurrent.futures,
    whose threads register through threading's own hook, is not loaded by the command)."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)
