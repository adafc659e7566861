"""The app's REST endpoint `POST /services/sekoia_ic/context`: IC context for observables, on behalf of users
who may not read the API key (docs/design.md, "Security model").

restmap.conf runs it as a persistent handler with `passSystemAuth = true` and `capability = sekoia_ic_enrich`:
splunkd lets only users holding that capability in, and hands the handler a system token. With that token the
handler does exactly three things, and nothing else:
1. read the app's settings and the API key (storage/passwords);
2. read and write the shared context cache (KV store collection sekoia_ic_context_cache);
3. ask the IC context API (`GET v2/inthreat/indicators/context`) about the observables it was given, under the
   server-wide request budget (ratelimit.HostLimiter) and within the caller's time budget.
It never returns the key, and its answers carry only the context summaries, per-value errors and messages.

Request body (JSON): {"observables": [[type, value], ...], "ttl": seconds, "budget": seconds}.
Answer (JSON): {"answers": [[type, value, summary]], "failures": [[type, value, error]], "messages": [[level,
text]], "api_calls": n, "cache_hits": n, "stop": reason or null}: `stop` tells the caller not to ask again in
this search (bad key, no permission, rate limited, budget spent, API not answering).
"""
import time
from concurrent.futures import ThreadPoolExecutor

from ..constants import API_BUDGET_SPENT, CONTEXT_CACHE_COLLECTION
from ..redaction import redact
from ..ic import errors
from ..stix.observables import MAX_VALUE_LENGTH, TYPES, may_leave
from ..stix.summaries import summarise_context
from ..splunk import logs
from ..splunk.rest_handler import BadRequest, PersistentHandler, json_object, system_request
from ..splunk.rest_handler import reply as _reply
from ..enrich import shared_cache

ENTRY = logs.EntryPoint("sekoia_ic_context")
MAX_OBSERVABLES = 10_000  # per request
MAX_BUDGET = 600.0
MAX_TTL = 7 * 86400
MAX_WORKERS = 4
MAX_CONSECUTIVE_UNREACHABLE = 2  # timeouts or connection failures in a row: the API is down, stop asking
PURGE_EVERY = 600.0  # seconds between purges of the expired cache entries
log = ENTRY.log


def parse_request(body):
    """(observables, ttl, budget) of a request body, or BadRequest."""
    request = json_object(body, "observables")
    observables = []
    for item in request["observables"][:MAX_OBSERVABLES + 1]:
        if not (isinstance(item, list) and len(item) == 2 and item[0] in TYPES and isinstance(item[1], str)
                and 0 < len(item[1]) <= MAX_VALUE_LENGTH):
            raise BadRequest(f"not an observable: {str(item)[:100]}")
        observables.append((item[0], item[1]))
    if len(observables) > MAX_OBSERVABLES:
        raise BadRequest(f"at most {MAX_OBSERVABLES} observables per request")
    try:
        ttl = min(max(int(request.get("ttl", 3600)), 0), MAX_TTL)
        budget = min(max(float(request.get("budget", 30)), 0.0), MAX_BUDGET)
    except (TypeError, ValueError):
        raise BadRequest("ttl and budget must be numbers") from None
    return observables, ttl, budget


class ContextService:
    """The privileged work, given a splunklib Service holding the system token."""

    def __init__(self, make_client, clock=time.time):
        self.make_client = make_client  # service -> ICClient (reads the settings and the key)
        self.clock = clock
        self._last_purge = 0.0

    def resolve(self, service, observables, ttl, budget):
        result = {"answers": [], "failures": [], "messages": [], "api_calls": 0, "cache_hits": 0, "stop": None}
        deadline = self.clock() + budget
        pending = []
        for obs_type, value in dict.fromkeys(observables):
            if not may_leave(obs_type, value):
                result["failures"].append([obs_type, value, "not sent: an address that is not public"])
            else:
                pending.append((obs_type, value))
        cache = shared_cache.collection(service)  # no request that can fail: a missing collection fails at the read
        cached, failure = self._cache_get(cache, pending, result)
        for (obs_type, value), summary in cached.items():
            result["answers"].append([obs_type, value, summary])
        result["cache_hits"] = len(cached)
        pending = [o for o in pending if o not in cached]
        if pending:
            answers = self._ask(service, pending, deadline, result)
            # written after a failed read unless the failure lasts (404: no collection, 403: no permission): a KV
            # store starting up (503) is likely up again once the API has answered; its failure was said once
            if ttl and getattr(failure, "status", None) not in (403, 404):
                self._cache_put(cache, answers, ttl, result, say_failure=failure is None)
            result["answers"].extend([t, v, s] for (t, v), s in answers.items())
        return result

    # ------------------------------------------------------------------------------------------ shared cache
    def _cache_get(self, cache, observables, result):
        """({observable: summary} from the shared cache, None), or ({}, the failure) said as a warning."""
        try:
            return shared_cache.read_answers(cache, observables, self.clock()), None
        except Exception as exc:  # noqa: BLE001 - the shared cache is an optimisation only
            _cache_unavailable(result, exc)
            return {}, exc

    def _cache_put(self, cache, answers, ttl, result, say_failure=True):
        if not answers:
            return
        try:
            if self.clock() - self._last_purge > PURGE_EVERY:
                self._last_purge = self.clock()
                shared_cache.purge_expired(cache, self.clock())
            shared_cache.save_answers(cache, answers, self.clock() + ttl)
        except Exception as exc:  # noqa: BLE001
            if say_failure:
                _say(result, "warning", f"sekoialookup: could not write the shared cache ({type(exc).__name__})")

    # ------------------------------------------------------------------------------------------ API
    def _ask(self, service, observables, deadline, result):
        """{observable: summary} for what the API answered; failures and the stop reason go into result."""
        answers = {}
        try:
            client = self.make_client(service)
        except errors.SekoiaError as exc:
            self._stop(result, observables, str(exc))
            return answers
        client.deadline = deadline
        unreachable = 0
        with client, ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
            for start in range(0, len(observables), MAX_WORKERS):
                wave = observables[start:start + MAX_WORKERS]
                if result["stop"]:
                    self._fail(result, wave, result["stop"])
                    continue
                if self.clock() >= deadline:
                    self._stop(result, observables[start:], API_BUDGET_SPENT)
                    break
                futures = [(o, pool.submit(client.indicator_context, *o)) for o in wave]
                for observable, future in futures:
                    outcome = self._collect(observable, future, answers, result)
                    unreachable = unreachable + 1 if outcome == "unreachable" else 0
                    if unreachable >= MAX_CONSECUTIVE_UNREACHABLE and not result["stop"]:
                        result["stop"] = ("the Sekoia.io API did not answer (timeouts or connection failures): "
                                          "not asked again in this search")
                        _say(result, "error", f"sekoialookup: {result['stop']}")
        return answers

    def _collect(self, observable, future, answers, result):
        try:
            answer = future.result()
        except (errors.AuthenticationError, errors.PermissionDeniedError) as exc:
            result["api_calls"] += 1
            self._stop(result, [observable], str(exc))
            return "stop"
        except errors.RateLimitedError:
            result["api_calls"] += 1
            self._stop(result, [observable], "rate limited by the Sekoia.io API",
                       message="the Sekoia.io API is rate limiting this Splunk server (HTTP 429): the values not "
                               "looked up are marked in sekoia_error")
            return "stop"
        except errors.BudgetExhaustedError:
            self._stop(result, [observable], API_BUDGET_SPENT)
            return "stop"
        except (errors.APITimeoutError, errors.APIConnectionError) as exc:
            result["api_calls"] += 1
            self._fail(result, [observable], str(exc))
            return "unreachable"
        except errors.SekoiaError as exc:
            result["api_calls"] += 1
            self._fail(result, [observable], str(exc))
            return "failed"
        result["api_calls"] += 1
        try:
            answers[observable] = summarise_context(answer, self.clock())
        except ValueError as exc:  # an answer of an unexpected shape: not cached, asked again next time
            self._fail(result, [observable], f"The Sekoia.io API answered in an unexpected shape ({exc})")
            return "failed"
        return "answered"

    def _stop(self, result, observables, reason, message=None):
        if not result["stop"]:
            result["stop"] = reason
            _say(result, "error", f"sekoialookup: {message or reason}")
        self._fail(result, observables, reason)

    @staticmethod
    def _fail(result, observables, error):
        error = redact(error)
        if error != result["stop"]:
            _say(result, "error", f"sekoialookup: {error}")
        result["failures"].extend([t, v, error] for t, v in observables)


def _cache_unavailable(result, exc):
    _say(result, "warning", f"sekoialookup: the shared cache {CONTEXT_CACHE_COLLECTION} is unavailable "
                            f"({type(exc).__name__}); asking the API directly")


def _say(result, level, text):
    text = redact(text)
    if [level, text] not in result["messages"]:
        result["messages"].append([level, text])


# ---------------------------------------------------------------------------------------------- REST glue
class ContextHandler(PersistentHandler):
    """restmap.conf [script:sekoia_ic_context] handler: one instance for the life of the handler process."""

    LOG_NAME = ENTRY.name

    _shared = None  # the ContextService of this process (its purge clock, its clients): built once

    def __init__(self, _command_line=None, _command_arg=None):
        super().__init__()
        if ContextHandler._shared is None:
            from ..splunk.settings import make_client, read_settings
            ContextHandler._shared = ContextService(lambda service: make_client(
                service, read_settings(service), retries=1, backoff_factor=2.0, max_retry_after=20.0))
        self.service = ContextHandler._shared

    def handle(self, in_string):
        parsed, service, user = system_request(in_string, parse_request, log)
        if parsed is None:
            return service  # the refusal
        observables, ttl, budget = parsed
        log.debug("user=%s observables=%d budget=%.0fs", user, len(observables), budget)
        result = self.service.resolve(service, observables, ttl, budget)
        log.info("user=%s observables=%d api_calls=%d cache_hits=%d failures=%d stop=%s", user, len(observables),
                 result["api_calls"], result["cache_hits"], len(result["failures"]), result["stop"])
        return _reply(200, result)
