"""The work of `sekoialookup`, one chunk of events at a time.

Per chunk: collect the distinct values of the chosen fields; reuse the answers of the values an earlier chunk
already had; match the new ones against the local lookup (local_match.py), then ask for IC context
(resolver.py) only for what needs it; build each distinct answer's fields once (output_fields.py).
"""
import ipaddress
import time
from dataclasses import dataclass
from typing import NamedTuple, Optional

from ..constants import INDICATORS_COLLECTION
from ..stix.observables import (TYPES, InvalidObservable, detect_type, is_public_canonical_ipv4, may_leave,
                                normalise, pack_canonical_ipv4, unpad_ipv4)
from ..stix.summaries import NOT_MATCHED, VERSION, combine, live, summarise_rows
from ..splunk.allowlist import Allowlist
from ..splunk.logs import Once
from .output_fields import fields_for, indicator_rows

MODES = ("local", "api", "both")
DEFAULT_TTL = 3600
DEFAULT_API_BUDGET = 30
CACHE_SIZE = 100_000
LOCAL_TTL = 300  # seconds a local lookup answer is reused within one search (the feed syncs every 15 minutes)


@dataclass
class Stats:
    """The job inspector's summary line. Values are counted when looked up, not each time a later chunk reuses
    the answer: local_matches and cache_hits (API answers found in a cache) count distinct values."""
    events: int = 0
    distinct_values: int = 0
    invalid_values: int = 0
    local_matches: int = 0
    cache_hits: int = 0
    api_calls: int = 0
    errors: int = 0

    def line(self):
        return (f"sekoialookup: events={self.events} distinct_values={self.distinct_values} "
                f"local_matches={self.local_matches} cache_hits={self.cache_hits} api_calls={self.api_calls} "
                f"errors={self.errors} invalid_values={self.invalid_values}")


class Observable(tuple):
    """(type, normalised value)."""
    __slots__ = ()

    @property
    def type(self):
        return self[0]

    @property
    def value(self):
        return self[1]


def to_observable(raw, wanted_type):
    """The observable of an event value, or None when it cannot be one (empty, too long, not of the type)."""
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if wanted_type in ("auto", "ipv4-addr") and text[-1:].isdigit() and "." in text:
        # Fastest path for the most common values: a canonical dotted quad is its own normal form.
        try:
            pack_canonical_ipv4(text)
        except (OSError, ValueError):
            pass
        else:
            return Observable(("ipv4-addr", text))
    if wanted_type in ("auto", "ipv4-addr", "ipv6-addr") and "/" not in text:
        # Fast path for IP addresses: one parse gives the type and the canonical form.
        try:
            address = ipaddress.ip_address(unpad_ipv4(text))
        except ValueError:
            address = None
        if address is not None:
            obs_type = "ipv4-addr" if address.version == 4 else "ipv6-addr"
            if wanted_type not in ("auto", obs_type):
                return None
            return Observable((obs_type, str(address)))
        if wanted_type != "auto":
            return None
    obs_type = wanted_type if wanted_type != "auto" else detect_type(text)
    if obs_type is None:
        return None
    try:
        value, _, _ = normalise(obs_type, text)
    except InvalidObservable:
        return None
    return Observable((obs_type, value))


class Answer(NamedTuple):
    """What one raw value of an event gives: its observable (None when it is not one), the summary of what is
    known about it, and the fields a record carrying only this value gets."""
    observable: Optional[Observable]
    summary: dict
    fields: Optional[dict]


class Enricher:
    """Keeps the answers and stats of one search process. Whatever fails (splunkd, the KV store, the endpoint,
    the API), the events keep what could still be computed, and one message says what failed."""

    def __init__(self, local_lookup, resolver, fields, wanted_type="auto", prefix="sekoia_", mode="both",
                 ttl=DEFAULT_TTL, stats=None, messages=None, allowlist=None, clock=time.time):
        self.local_lookup = local_lookup  # LocalLookup, or None for mode=api
        self.resolver = resolver  # ContextResolver, or None for mode=local
        self._allowlist_loader = allowlist  # () -> splunk.allowlist.Allowlist, read once per search; None: none
        self._allowlist = None
        self._allowlist_problem = None  # said once a value could match without it (not when nothing can match)
        self.clock = clock
        self.fields = fields
        self.wanted_type = wanted_type
        self.prefix = prefix
        self.mode = mode
        # raw field value -> its Answer: a value seen in an earlier chunk costs one lookup here, no parsing, no
        # KV store or API request. At most CACHE_SIZE values (later ones are looked up again in each chunk), never
        # kept longer than the answers it was built from: the whole map is dropped when its time window ends
        # (docs/design.md, "Search command protocol").
        self.answers = {}
        self._answers_window = min(ttl, LOCAL_TTL)
        self._answers_until = time.monotonic() + self._answers_window
        self._unmatched = {f"{prefix}matched": "false"}
        self._nothing = Answer(None, NOT_MATCHED, self._unmatched)  # empty or not an observable
        self.stats = stats if stats is not None else Stats()
        self.messages = messages if messages is not None else []  # (level, text) for the job inspector
        self._say = Once(lambda level, text: self.messages.append((level, text)))
        self._seen_values = set()

    def say(self, level, text):
        self._say(text, level, text)

    def warm_up(self):
        """The reads a search makes once, made before its first chunk is there (sekoialookup runs this while
        splunkd sends the chunk): the allowlist and, with mode=api, whether the user may ask the IC. A failure here
        is said where the chunk needs the answer. (The lookup's CIDR rows are read at the first address met.)"""
        self.allowlist()
        if self.mode == "api" and self.resolver is not None:
            self.resolver.may_ask()

    # ------------------------------------------------------------------------------------------ chunk
    def local_matches(self, observables):
        try:
            return self.local_lookup.matches(observables)
        except Exception as exc:  # noqa: BLE001 - a missing or failing lookup must not break the search
            self.stats.errors += 1
            self.say("warning", f"sekoialookup: the local lookup {INDICATORS_COLLECTION} could not be read "
                                f"({_splunkd_failure(exc)}): events without local matches this time")
            return None

    def allowlist(self):
        """The live allowlist entries, read at the first chunk; an unreadable allowlist is said once and is empty."""
        if self._allowlist is None:
            self._allowlist = Allowlist()
            if self._allowlist_loader is not None:
                try:
                    self._allowlist = self._allowlist_loader()
                except Exception as exc:  # noqa: BLE001 - the events must pass; matching goes on without it
                    self.stats.errors += 1
                    self._allowlist_problem = (f"sekoialookup: the allowlist sekoia_ic_allowlist could not be read "
                                               f"({_splunkd_failure(exc)}): values on it may show as matches")
                if self._allowlist.bad_entries:
                    self.say("warning", f"sekoialookup: {self._allowlist.bad_entries} allowlist entries have no "
                                        "type, no value or an expiry that is no number: they have no effect")
        return self._allowlist

    def resolve(self, observables):
        """{observable: summary} for a chunk's distinct observables, and whether every answer is final (not
        to be asked again in a later chunk): a summary has an "error" text when something could not be asked.
        An allowlisted value is no match and asks nothing; a type-blind row never matches (local_match.py)."""
        allowlist, now = self.allowlist(), self.clock()
        results, final = {}, True
        if allowlist:
            for observable in observables:
                if allowlist.holds(observable.type, observable.value):
                    results[observable] = {"v": VERSION, "matched": False, "indicators": [], "allowlisted": True}
            observables = [o for o in observables if o not in results]
        local = self.local_matches(observables) if self.mode in ("local", "both") and observables else {}
        if local is None:
            local, final = {}, False
        elif self._allowlist_problem:
            self.say("warning", self._allowlist_problem)
            self._allowlist_problem = None
        self.stats.local_matches += len(local)
        results.update(dict.fromkeys(observables, NOT_MATCHED))  # most values: nothing known locally
        for observable, rows in local.items():
            if rows:
                results[observable] = summarise_rows(rows, now)
        if self.mode == "api":
            needs_api = observables
        elif self.mode == "both":
            needs_api = [o for o in local if results[o]["matched"]]
        else:
            needs_api = []
        needs_api = [o for o in needs_api if _may_leave(o)]
        if needs_api:
            answers, failures = self.resolver.resolve(needs_api)
            for observable, summary in answers.items():
                if summary is not NOT_MATCHED or results[observable] is not NOT_MATCHED:  # else: nothing, still
                    results[observable] = combine(results[observable], summary)
            for observable, error in failures.items():
                results[observable] = dict(results[observable], error=error)
            final = final and not failures
        return results, final

    def enrich_chunk(self, records):
        """Add the prefix* fields to the records of one chunk, in place, and return the names of the fields they
        got. Work is per distinct value: each raw value is parsed once, each observable resolved once, and its
        output fields built once and shared by the records that carry it. Unknown fields are left out of a record
        (not set to ""), which keeps the CSV cheap."""
        self.stats.events += len(records)
        if len(self.fields) == 1:  # the common case: one field; kept to two tight passes over the records
            name = self.fields[0]
            column = [record.get(name) for record in records]
            try:
                raws = set(column)
            except TypeError:  # some records hold several values (lists): the general path below
                pass
            else:
                answers = self._answers_of(raws)
                unmatched, matched_field = self._unmatched, f"{self.prefix}matched"
                for record, raw in zip(records, column):
                    fields = answers[raw].fields
                    if fields is unmatched:  # most records: one item set is cheaper than an update
                        record[matched_field] = "false"
                    else:
                        record.update(fields)
                return set(self._unmatched).union(*(a.fields for a in answers.values()))
        return self._enrich_several(records)

    def _distinct_answers(self, records):
        """For each record, {observable: Answer} of the values of its fields (several, or multivalue)."""
        items_per_record, raws = [], set()
        for record in records:
            items = []
            for name in self.fields:
                raw = record.get(name)
                if raw:
                    items.extend(raw if raw.__class__ is list else (raw,))
            items_per_record.append(items)
            raws.update(items)
        answers = self._answers_of(raws)
        for items in items_per_record:
            distinct = {}
            for item in items:
                answer = answers[item]
                if answer.observable is not None:
                    distinct.setdefault(answer.observable, answer)
            yield distinct

    def _enrich_several(self, records):
        """The general path: several fields, or multivalue fields; the answers of a record's values merged."""
        built = {(): self._unmatched}  # the fields of each combination of observables met in the chunk
        for record, distinct in zip(records, self._distinct_answers(records)):
            key = tuple(distinct)
            fields = built.get(key)
            if fields is None:
                fields = built[key] = fields_for(self.prefix, [(a.observable, a.summary) for a in distinct.values()],
                                                 self._unmatched)
            record.update(fields)
        return set().union(*built.values())

    def expand_chunk(self, records):
        """per_indicator=true: (the chunk's rows, their field names): one row per (record, live matching indicator)
        with that indicator's own values in the flat fields, a record without one once."""
        self.stats.events += len(records)
        rows, names = [], set(self._unmatched)
        built = {}
        for record, distinct in zip(records, self._distinct_answers(records)):
            key = tuple(distinct)
            field_sets = built.get(key)
            if field_sets is None:
                pairs = [(a.observable, a.summary) for a in distinct.values()]
                field_sets = built[key] = indicator_rows(self.prefix, pairs, fields_for(self.prefix, pairs,
                                                                                        self._unmatched))
                for fields in field_sets:
                    names.update(fields)
            for fields in field_sets:
                rows.append({**record, **fields})
        return rows, names

    def _answers_of(self, raws):
        """{raw value: Answer} for the distinct raw values of a chunk ("" and None included)."""
        now = time.monotonic()
        if now >= self._answers_until:
            self.answers = {}
            self._answers_until = now + self._answers_window
        answers, nothing, wanted = self.answers, self._nothing, self.wanted_type
        out, todo = {}, {}
        for raw in raws:
            answer = answers.get(raw) if raw else nothing
            if answer is None:
                observable = to_observable(raw, wanted)
                if observable is not None:
                    todo[raw] = observable
                    continue
                self.stats.invalid_values += 1
                answer = nothing
                if len(answers) < CACHE_SIZE:
                    answers[raw] = nothing
            out[raw] = answer
        if todo:
            distinct = set(todo.values())
            self.stats.distinct_values += len(distinct - self._seen_values)
            self._seen_values |= distinct
            results, final = self.resolve(list(distinct))
            now = self.clock()
            soon = now + self._answers_window
            built, fleeting, unmatched = {}, set(), self._unmatched
            for o, s in results.items():
                if s is not NOT_MATCHED:  # most values are: nothing to check against the clock, no fields
                    s = live(s, now)
                    built[o] = Answer(o, s, fields_for(self.prefix, [(o, s)], unmatched))
                    if any(e.get("valid_until") is not None and e["valid_until"] <= soon for e in s["indicators"]):
                        fleeting.add(o)  # an indicator of it expires while the answer could be reused
            new, get, make = {}, built.get, tuple.__new__  # make: Answer(...) without NamedTuple's Python __new__
            for raw, observable in todo.items():
                new[raw] = get(observable) or make(Answer, (observable, NOT_MATCHED, unmatched))
            out.update(new)
            if final and not fleeting and len(answers) + len(new) <= CACHE_SIZE:
                answers.update(new)
            elif final:  # what failed is asked again later, as what expires soon
                room = CACHE_SIZE - len(answers)
                for raw, observable in todo.items():
                    if room > 0 and observable not in fleeting:
                        answers[raw] = new[raw]
                        room -= 1
        return out


def _may_leave(observable):
    """may_leave() of an observable from to_observable(), whose ipv4-addr value, when one address, is canonical:
    its first octet decides most (the hot path of mode=api)."""
    obs_type, value = observable
    if obs_type == "ipv4-addr" and "/" not in value:
        return is_public_canonical_ipv4(value)
    return may_leave(obs_type, value)


def _splunkd_failure(exc):
    """Words for a failed splunkd call: HTTP status and what it means, or the kind of failure."""
    status = getattr(exc, "status", None)
    if status == 401:
        return "HTTP 401: splunkd refused this search's session; run the search again"
    if status == 403:
        return "HTTP 403: your role may not read it; an admin can check the lookup's permissions"
    if status is not None:
        return f"HTTP {status}"
    return f"splunkd did not answer: {type(exc).__name__}"


def check_type(value):
    text = (value or "auto").strip().lower()
    if text != "auto" and text not in TYPES:
        return None
    return text
