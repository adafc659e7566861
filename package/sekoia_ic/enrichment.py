"""The work of `sekoialookup`, one chunk of events at a time.

Per chunk: collect the distinct values of the chosen fields; reuse the answers of the values an earlier chunk
already had; match the new ones against the local lookup in one KV store request (batch_find with $in), then ask
the IC context API only for what is neither in the in-process TTL cache nor in the shared KV store cache, a few
requests at a time under the client's rate limit.
"""
import ipaddress
import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Optional

from cachetools import Cache, TTLCache

from . import errors
from .context import merge, summarise_context, summarise_rows
from .kvstore import KVCollection
from .redaction import redact
from .observables import TYPES, InvalidObservable, detect_type, is_public_ip, normalise, observable_key

log = logging.getLogger(__name__)

INDICATORS_COLLECTION = "sekoia_ic_indicators"
CACHE_COLLECTION = "sekoia_ic_context_cache"
MODES = ("local", "api", "both")
DEFAULT_TTL = 3600
MAX_WORKERS = 4
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
        # Fastest path for the most common values: the C parser accepts only canonical dotted quads.
        try:
            socket.inet_pton(socket.AF_INET, text)
            return Observable(("ipv4-addr", text))
        except OSError:
            pass
    if wanted_type in ("auto", "ipv4-addr", "ipv6-addr") and "/" not in text:
        # Fast path for IP addresses: one parse gives the type and the canonical form.
        try:
            address = ipaddress.ip_address(text)
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


def cache_key(observable):
    return observable_key(observable.type, observable.value)


class Enricher:
    """Keeps its caches and stats for the life of one search process."""

    def __init__(self, service, client_factory, fields, wanted_type="auto", prefix="sekoia_", mode="both",
                 ttl=DEFAULT_TTL, clock=time.time, messages=None):
        self.service = service
        self.client_factory = client_factory
        self.fields = fields
        self.wanted_type = wanted_type
        self.prefix = prefix
        self.mode = mode
        self.ttl = ttl
        self.clock = clock
        self.cache = TTLCache(maxsize=CACHE_SIZE, ttl=ttl, timer=time.monotonic)
        # raw field value -> its Answer: a value seen in an earlier chunk costs one lookup here, no parsing, no
        # KV store or API request. Never kept longer than the answers it was built from: the whole map is
        # dropped when its time window ends (a TTLCache's per-entry upkeep costs more than the lookups it saves).
        self.answers = Cache(maxsize=CACHE_SIZE)
        self._answers_window = min(ttl, LOCAL_TTL)
        self._answers_until = time.monotonic() + self._answers_window
        self._unmatched = {f"{prefix}matched": "false"}
        self._nothing = Answer(None, {"matched": False}, self._unmatched)  # empty or not an observable
        self.stats = Stats()
        self.messages = messages if messages is not None else []  # (level, text) for the job inspector
        self._said = set()
        self._client = None
        self._api_disabled = None  # a reason once the API must not be asked again (401, 403, no key)
        self._blocked_until = 0.0  # after a 429 that outlasted the client's patience
        self._indicators = None
        self._cache_collection = None
        self._cache_purged = False
        self._ranges = None
        self._seen_values = set()

    # ------------------------------------------------------------------------------------------ messages
    def say(self, level, text):
        if text not in self._said:
            self._said.add(text)
            self.messages.append((level, text))

    # ------------------------------------------------------------------------------------------ KV store
    def _kv(self, name):
        return self.service.kvstore[name].data

    def local_matches(self, observables):
        """{observable: [lookup rows]} for the observables the local lookup holds (exact values, then CIDR
        ranges): every live indicator naming each, read in pages that max_rows_per_query cannot cut."""
        try:
            if self._indicators is None:
                self._indicators = KVCollection(self.service, INDICATORS_COLLECTION)
            by_value = {o.value: o for o in observables}
            found = {}
            for row in self._indicators.find_in("value", by_value):
                observable = by_value.get(row.get("value"))
                if observable is not None:
                    found.setdefault(observable, []).append(row)
            self._match_ranges(observables, found)
            return found
        except Exception as exc:  # noqa: BLE001 - a missing or failing lookup must not break the search
            self.stats.errors += 1
            self.say("warning", f"sekoialookup: the local lookup {INDICATORS_COLLECTION} could not be read "
                                f"({type(exc).__name__}); is the feed input set up?")
            return {}

    def _match_ranges(self, observables, found):
        ips = [o for o in observables if o.type in ("ipv4-addr", "ipv6-addr")]
        if not ips:
            return
        if self._ranges is None:  # CIDR range rows are few: load them once per search
            self._ranges = []
            for row in self._indicators.find({"is_range": True}):
                try:
                    self._ranges.append((ipaddress.ip_network(row["value"]), row))
                except (KeyError, ValueError):
                    continue
        if not self._ranges:
            return
        for observable in ips:
            address = ipaddress.ip_address(observable.value)
            for network, row in self._ranges:
                if address.version == network.version and address in network:
                    found.setdefault(observable, []).append(row)

    def _shared_cache(self):
        if self._cache_collection is None:
            self._cache_collection = self._kv(CACHE_COLLECTION)
        return self._cache_collection

    def shared_cache_get(self, observables):
        if not observables:
            return {}
        try:
            keys = {cache_key(o): o for o in observables}
            rows = self._shared_cache().batch_find(
                {"query": {"_key": {"$in": sorted(keys)}, "expires": {"$gt": self.clock()}}})[0]
            return {keys[r["_key"]]: json.loads(r["context"]) for r in rows if r.get("_key") in keys}
        except Exception as exc:  # noqa: BLE001 - the shared cache is an optimisation only
            self.say("warning", f"sekoialookup: the shared cache {CACHE_COLLECTION} is unavailable "
                                f"({type(exc).__name__}); asking the API directly")
            return {}

    def shared_cache_put(self, answers):
        if not answers:
            return
        expires = self.clock() + self.ttl
        documents = [{"_key": cache_key(o), "type": o.type, "value": o.value[:1024], "found": bool(s.get("matched")),
                      "context": json.dumps(s), "expires": expires} for o, s in answers.items()]
        try:
            collection = self._shared_cache()
            if not self._cache_purged:
                # Once per search: drop the answers whose TTL has passed, so the collection does not grow forever.
                self._cache_purged = True
                collection.delete(query=json.dumps({"expires": {"$lt": self.clock()}}))
            for start in range(0, len(documents), 1000):
                collection.batch_save(*documents[start:start + 1000])
        except Exception as exc:  # noqa: BLE001
            self.say("warning", f"sekoialookup: could not write the shared cache ({type(exc).__name__})")

    # ------------------------------------------------------------------------------------------ API
    def _api(self):
        if self._client is None:
            self._client = self.client_factory()
        return self._client

    def ask_api(self, observables):
        """{observable: summary} for what the API answered; {observable: error text} for what it could not."""
        answers, failures = {}, {}
        if not observables:
            return answers, failures
        if self._api_disabled:
            return answers, dict.fromkeys(observables, self._api_disabled)
        try:
            client = self._api()
        except errors.SekoiaError as exc:
            self._disable(str(exc))
            return answers, dict.fromkeys(observables, self._api_disabled)
        pending = list(observables)
        with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
            # Waves of MAX_WORKERS requests: after a 401/403/429 no further request leaves.
            for start in range(0, len(pending), MAX_WORKERS):
                wave = pending[start:start + MAX_WORKERS]
                if self._api_disabled or time.monotonic() < self._blocked_until:
                    for observable in wave:
                        failures[observable] = self._api_disabled or "rate limited by the Sekoia.io API"
                    continue
                futures = [(o, pool.submit(client.indicator_context, o.type, o.value)) for o in wave]
                for observable, future in futures:
                    self._collect(observable, future, answers, failures)
        self.stats.errors += len(failures)
        return answers, failures

    def _collect(self, observable, future, answers, failures):
        try:
            answers[observable] = summarise_context(future.result())
            self.stats.api_calls += 1
        except (errors.AuthenticationError, errors.PermissionDeniedError) as exc:
            self.stats.api_calls += 1
            self._disable(str(exc))
            failures[observable] = self._api_disabled
        except errors.RateLimitedError as exc:
            self.stats.api_calls += 1
            wait = exc.retry_after or 60
            self._blocked_until = max(self._blocked_until, time.monotonic() + wait)
            self.say("error", "sekoialookup: the Sekoia.io API is rate limiting this search; the values not "
                              "looked up are marked in sekoia_error")
            failures[observable] = "rate limited by the Sekoia.io API"
        except errors.SekoiaError as exc:
            self.stats.api_calls += 1
            self.say("error", f"sekoialookup: {exc}")
            failures[observable] = redact(str(exc))  # goes into the events' sekoia_error
        except ValueError as exc:  # a value the client refuses to send
            failures[observable] = str(exc)

    def _disable(self, reason):
        if not self._api_disabled:
            self._api_disabled = reason
            self.say("error", f"sekoialookup: {reason}")

    # ------------------------------------------------------------------------------------------ chunk
    def resolve(self, observables):
        """{observable: summary} for a chunk's distinct observables; a summary has an "error" text when the API
        could not be asked about it."""
        results = {}
        needs_api = []
        local = self.local_matches(observables) if self.mode in ("local", "both") else {}
        self.stats.local_matches += len(local)
        for observable in observables:
            if observable in local:
                results[observable] = summarise_rows(local[observable])
            else:
                results[observable] = {"matched": False}
            if self.mode == "api" or (self.mode == "both" and observable in local):
                needs_api.append(observable)
        if not needs_api:
            return results
        uncached = []
        for observable in needs_api:
            hit = self.cache.get(observable)
            if hit is not None:
                self.stats.cache_hits += 1
                results[observable] = self._combine(results[observable], hit)
            else:
                uncached.append(observable)
        shared = self.shared_cache_get(uncached)
        self.stats.cache_hits += len(shared)
        for observable, summary in shared.items():
            self.cache[observable] = summary
            results[observable] = self._combine(results[observable], summary)
        # Never sent outside: private, loopback, reserved... addresses. (Checked last: the test costs more than a
        # cache lookup, and the caches only ever hold values that were sent.)
        answers, failures = self.ask_api([o for o in uncached if o not in shared and (
            o.type not in ("ipv4-addr", "ipv6-addr") or is_public_ip(o.value))])
        for observable, summary in answers.items():
            self.cache[observable] = summary  # negative answers too: one question per value per TTL
            results[observable] = self._combine(results[observable], summary)
        self.shared_cache_put(answers)
        for observable, error in failures.items():
            results[observable] = dict(results[observable], error=error)
        return results

    @staticmethod
    def _combine(local, api):
        if not api.get("matched"):
            return local
        return merge([api, local]) if local.get("matched") else api

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

    def _enrich_several(self, records):
        """The general path: several fields, or multivalue fields; the answers of a record's values merged."""
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
        built = {(): self._unmatched}  # the fields of each combination of observables met in the chunk
        for record, items in zip(records, items_per_record):
            distinct = {}
            for item in items:
                answer = answers[item]
                if answer.observable is not None:
                    distinct.setdefault(answer.observable, answer)
            key = tuple(distinct)
            fields = built.get(key)
            if fields is None:
                fields = built[key] = self._fields_of(list(distinct.values()))
            record.update(fields)
        return set().union(*built.values())

    def _answers_of(self, raws):
        """{raw value: Answer} for the distinct raw values of a chunk ("" and None included)."""
        now = time.monotonic()
        if now >= self._answers_until:
            self.answers = Cache(maxsize=CACHE_SIZE)
            self._answers_until = now + self._answers_window
        out, todo = {}, {}
        for raw in raws:
            if not raw:
                out[raw] = self._nothing
                continue
            known = self.answers.get(raw)
            if known is not None:
                out[raw] = known
                continue
            observable = to_observable(raw, self.wanted_type)
            if observable is None:
                self.stats.invalid_values += 1
                out[raw] = self.answers[raw] = self._nothing
            else:
                todo[raw] = observable
        if todo:
            errors_before = self.stats.errors
            distinct = set(todo.values())
            self.stats.distinct_values += len(distinct - self._seen_values)
            self._seen_values |= distinct
            results = self.resolve(sorted(distinct))
            # What failed (the lookup unreadable, the API not answering) is asked again in the next chunk.
            remember = self.stats.errors == errors_before
            built = {o: Answer(o, s, self._fields_of([Answer(o, s, None)])) for o, s in results.items()}
            for raw, observable in todo.items():
                out[raw] = built[observable]
                if remember:
                    self.answers[raw] = built[observable]
        return out

    def _fields_of(self, answers):
        """The fields of a record whose values have these answers (distinct observables)."""
        summaries = [a.summary for a in answers]
        for summary in summaries:
            if summary.get("matched") or summary.get("error"):
                break
        else:
            return self._unmatched  # most values: one shared dict
        error_texts = sorted({s["error"] for s in summaries if s.get("error")})
        types = sorted({a.observable.type for a in answers if a.summary.get("matched")})
        summary = summaries[0] if len(summaries) == 1 else merge(summaries)
        return output_fields(self.prefix, summary, types, error_texts)


def output_fields(prefix, merged, types, error_texts):
    """The fields one record gets: sekoia_matched always, the others only when they have a value."""
    out = {f"{prefix}matched": "true" if merged.get("matched") else "false"}
    for key in ("indicator_id", "indicator_name", "threats", "kill_chain_phases", "sources", "tlp"):
        values = merged.get(key) or []
        if values:
            out[f"{prefix}{key}"] = values if len(values) > 1 else values[0]
    for key in ("confidence", "valid_until"):
        if merged.get(key) is not None:
            out[f"{prefix}{key}"] = merged[key]
    if types:
        out[f"{prefix}type"] = types if len(types) > 1 else types[0]
    if error_texts:
        out[f"{prefix}error"] = "; ".join(error_texts)
    return out


def check_type(value):
    text = (value or "auto").strip().lower()
    if text != "auto" and text not in TYPES:
        return None
    return text
