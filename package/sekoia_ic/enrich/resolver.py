"""IC context for `sekoialookup`, through the app's endpoint `sekoia_ic/context` (endpoints/sekoia_ic_context.py),
which alone may read the API key. Each answer of the endpoint is kept for the search in a TTLCache; the search's
time budget for the API (api_budget) travels with each request, and once the endpoint says stop (no capability,
bad key, rate limited, budget spent, API down) the API is not asked again in this search.

A user holding sekoia_ic_enrich reads the shared context cache with their own session first (the collection is
readable by every role; only the endpoint writes it): a value another search asked about costs no endpoint
request. Whether the user holds the capability is asked of splunkd once (authentication/current-context), so
that a user without it gets no context from the cache either.
"""
import json
import time

from cachetools import TTLCache
from splunklib.binding import HTTPError

from ..constants import API_BUDGET_SPENT
from . import shared_cache

CACHE_SIZE = 100_000
ENDPOINT = "sekoia_ic/context"
CAPABILITY = "sekoia_ic_enrich"
BATCH = 1000  # observables per endpoint request
NO_CAPABILITY = (f"sekoialookup: your Splunk role cannot ask the Sekoia.io API (it lacks the {CAPABILITY} "
                 "capability): local lookup matches only. An admin can give you the sekoia_ic_analyst role, "
                 f"or add {CAPABILITY} to one of your roles.")


class ContextResolver:
    def __init__(self, endpoint_service, ttl, budget, say, stats, clock=time.monotonic, reader=None):
        self.endpoint_service = endpoint_service  # splunklib Service whose timeout covers the budget
        self.reader = reader  # the user's own splunklib Service, for the shared cache (None: endpoint only)
        self._may_read_cache = None
        self._cache = None  # the shared cache's KVCollection, made at first use
        self.ttl = ttl
        self.say = say
        self.stats = stats
        self.clock = clock
        self.cache = TTLCache(maxsize=CACHE_SIZE, ttl=ttl, timer=clock)
        self._deadline = clock() + budget
        self.stopped = None  # the reason the API is not asked again in this search
        self.no_access = False  # the user may not ask (403): local answers are final, with no per-value error

    def resolve(self, observables):
        """({observable: summary}, {observable: error}) for observables that need the IC's context."""
        answers, failures, ask = {}, {}, []
        if not self.cache:  # nothing asked yet in this search: no per-value look into an empty cache
            ask = list(observables)
        else:
            for observable in observables:
                hit = self.cache.get(observable)
                if hit is not None:
                    answers[observable] = hit
                    self.stats.cache_hits += 1
                else:
                    ask.append(observable)
        if ask and self.may_ask():
            # Not copied into the TTLCache: the search's answer map holds them already, and the shared cache keeps
            # its own expiry (the copy's per-entry upkeep cost more than the rest of a cached value's handling).
            shared = self._shared_cache(ask)
            answers.update(shared)
            self.stats.cache_hits += len(shared)
            ask = [o for o in ask if o not in shared]
        for start in range(0, len(ask), BATCH):
            batch = ask[start:start + BATCH]
            if self.no_access:
                continue
            if self.stopped:
                failures.update(dict.fromkeys(batch, self.stopped))
                continue
            self._ask(batch, answers, failures)
        self.stats.errors += len(failures)
        return answers, failures

    def _ask(self, batch, answers, failures):
        budget = self._deadline - self.clock()
        if budget <= 0:
            self._stop(API_BUDGET_SPENT)
            failures.update(dict.fromkeys(batch, self.stopped))
            return
        body = json.dumps({"observables": [[o.type, o.value] for o in batch], "ttl": self.ttl, "budget": budget})
        try:
            response = self.endpoint_service.post(ENDPOINT, body=body, headers=[("Content-Type", "application/json")])
            result = json.loads(response.body.read())
        except HTTPError as exc:
            if exc.status == 403:  # no sekoia_ic_enrich: local matches are the whole answer, said once
                self.no_access = True
                self._stop(NO_CAPABILITY, level="warning")
                return
            reason = _endpoint_error(exc)
            self._stop(reason)
            failures.update(dict.fromkeys(batch, reason))
            return
        except Exception as exc:  # noqa: BLE001 - splunkd unreachable or slow: the events must still pass
            self._stop(f"sekoialookup: splunkd did not answer the app's context endpoint ({type(exc).__name__}); "
                       "local matches only")
            failures.update(dict.fromkeys(batch, "splunkd did not answer"))
            return
        by_key = {(o.type, o.value): o for o in batch}
        for obs_type, value, summary in result.get("answers", []):
            observable = by_key.get((obs_type, value))
            if observable is not None:
                answers[observable] = self.cache[observable] = summary
        for obs_type, value, error in result.get("failures", []):
            if (obs_type, value) in by_key:
                failures[by_key[(obs_type, value)]] = error
        for level, text in result.get("messages", []):
            self.say(level, text)
        self.stats.api_calls += result.get("api_calls", 0)
        self.stats.cache_hits += result.get("cache_hits", 0)
        if result.get("stop"):
            self.stopped = self.stopped or result["stop"]

    def may_ask(self):
        """Whether the user holds CAPABILITY (asked of splunkd once); False also sets no_access, with its message."""
        if self._may_read_cache is None:
            self._may_read_cache = False
            if self.reader is not None:
                try:
                    body = json.loads(self.reader.get("authentication/current-context", output_mode="json")
                                      .body.read())
                    capabilities = body["entry"][0]["content"].get("capabilities") or []
                except Exception:  # noqa: BLE001 - unknown: let the endpoint decide, as without a reader
                    return False
                self._may_read_cache = CAPABILITY in capabilities
                if not self._may_read_cache:
                    self.no_access = True
                    self._stop(NO_CAPABILITY, level="warning")
        return self._may_read_cache

    def _shared_cache(self, observables):
        """{observable: summary} of the unexpired answers other searches left in the shared cache."""
        try:
            if self._cache is None:
                self._cache = shared_cache.collection(self.reader)
            return shared_cache.read_answers(self._cache, observables, time.time())
        except Exception:  # noqa: BLE001 - an optimisation only: the endpoint reads the cache too
            return {}

    def _stop(self, reason, level="error"):
        if not self.stopped:
            self.stopped = reason
            self.say(level, reason)


def _endpoint_error(exc):
    if exc.status == 404:
        return ("sekoialookup: the app's endpoint sekoia_ic/context is missing (HTTP 404): restart Splunk after "
                "installing or upgrading the app; local matches only")
    if exc.status == 401:
        return "sekoialookup: splunkd refused this search's session (HTTP 401, expired?): run the search again"
    return f"sekoialookup: the app's endpoint sekoia_ic/context failed (HTTP {exc.status}); local matches only"
