"""The app's REST endpoint `POST /services/sekoia_ic/push`: adds observables to a Sekoia.io IOC collection on
behalf of the alert action sekoia_ic_add_to_collection, whose user may not read the API key (docs/design.md,
"Security model" and "Pushing to an IOC collection").

restmap.conf runs it as a persistent handler with `passSystemAuth = true` and `capability = sekoia_ic_push`:
splunkd lets only users holding that capability in, and hands the handler a system token. With that token the
handler does exactly three things:
1. read the app's settings (the default collection id among them) and the API key;
2. read the allowlist (KV collection sekoia_ic_allowlist, readable by every role anyway);
3. `POST v2/inthreat/ioc-collections/{id}/indicators` with the values it was sent, at most 100 a request, under the
   server-wide request budget (ratelimit.HostLimiter).
It re-checks what it is sent (the caller is a script any holder of the capability can imitate): known types, the
app's normal form, public addresses only, nothing allowlisted. Every push, and every dry run, is logged with its
values, collection, user and search to sekoia_ic_push.log (sourcetype sekoia_ic:log).

Request body (JSON): {"collection_id": "<uuid>" or "" (the setup page's default), "observables": [[type, value],
...] (at most MAX_OBSERVABLES), "valid_days": 1..3650, "description": text, "dry_run": bool, "search_name": text,
"sid": text, "budget": seconds}.
Answer (JSON, HTTP 200 whatever the IC said; 400 for a bad request): {"status": "ok" | "dry_run" | "failed",
"code": ..., "message": ..., "collection_id": ..., "sent": n, "batches": n, "not_sent": n, "refused": [[type,
value, why]], "would_send": [[type, value]] (dry run)}. A batch the IC accepted is never sent again; a batch it
answered 429 or 5xx is sent again after a pause until the budget is spent; a batch whose answer never came (timeout,
connection lost) is not sent again (the IC may have it) and ends the push.
"""
import time
from datetime import datetime, timedelta, timezone

from ..constants import IOC_BATCH_MAX, IOC_COLLECTION_MAX, IOC_PERMISSIONS, IOC_TYPES, PUSH_CAPABILITY
from ..ic import errors
from ..redaction import redact
from ..stix.observables import InvalidObservable, may_leave, normalise
from ..splunk import logs
from ..splunk.rest_handler import BadRequest, PersistentHandler, json_object, system_request
from ..splunk.rest_handler import reply as _reply
from ..splunk.settings import collection_id as check_collection_id

ENTRY = logs.EntryPoint("sekoia_ic_push")
log = ENTRY.log
MAX_OBSERVABLES = 1000  # per request to this endpoint (the action sends its values in such parts)
MAX_VALID_DAYS = 3650
MAX_DESCRIPTION = 1000
DEFAULT_BUDGET = 120.0  # seconds one request may spend on the IC, pauses included
MAX_BUDGET = 600.0
FIRST_PAUSE = 5.0  # after a 429 without Retry-After or a 5xx; doubles, at most MAX_PAUSE
MAX_PAUSE = 60.0


def parse_request(body):
    """The push a request body asks for, or BadRequest."""
    request = json_object(body, "observables")
    observables = request["observables"]
    if not 1 <= len(observables) <= MAX_OBSERVABLES:
        raise BadRequest(f"between 1 and {MAX_OBSERVABLES} observables per request")
    for item in observables:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise BadRequest(f"not a [type, value] pair: {str(item)[:100]}")
    collection_id = request.get("collection_id") or ""
    if collection_id:
        try:
            collection_id = check_collection_id(collection_id)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    try:
        valid_days = int(request.get("valid_days", 30))
        budget = min(max(float(request.get("budget", DEFAULT_BUDGET)), 0.0), MAX_BUDGET)
    except (TypeError, ValueError):
        raise BadRequest("valid_days and budget must be numbers") from None
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise BadRequest(f"valid_days must be between 1 and {MAX_VALID_DAYS}")
    texts = {k: str(request.get(k) or "")[:MAX_DESCRIPTION] for k in ("description", "search_name", "sid")}
    return {"collection_id": collection_id, "observables": [tuple(o) for o in observables],
            "valid_days": valid_days, "budget": budget, "dry_run": request.get("dry_run") is True, **texts}


def pushable(obs_type, value):
    """None when (type, value) may go to a collection, else why not. The value must already be in the app's
    normal form (stix/observables.normalise): that is how the caller counted it as one observable."""
    if obs_type not in IOC_TYPES:
        return f"a {obs_type} is not something an IOC collection holds"
    try:
        normal, _, is_range = normalise(obs_type, value)
    except InvalidObservable as exc:
        return str(exc)
    if normal != value:
        return "not in the app's normal form"
    if is_range:
        return "an address range"
    if not may_leave(obs_type, value):
        return "an address that is not public"
    return None


class PushService:
    """The privileged work, given a splunklib Service holding the system token."""

    def __init__(self, make_client, read_default_collection, load_allowlist, clock=time.time, sleep=time.sleep):
        self.make_client = make_client  # service -> ICClient (reads the settings and the key)
        self.read_default_collection = read_default_collection  # service -> collection id or ""
        self.load_allowlist = load_allowlist  # service -> splunk.allowlist.Allowlist
        self.clock, self.sleep = clock, sleep

    def push(self, service, request, user):
        result = {"status": "failed", "code": "", "message": "", "collection_id": request["collection_id"],
                  "sent": 0, "batches": 0, "not_sent": 0, "refused": []}
        where = f"user={user} search={request['search_name']!r} sid={request['sid']}"
        try:
            collection_id = request["collection_id"] or self.read_default_collection(service)
            if not collection_id:
                return self._fail(result, "no_collection", "No IOC collection given: set collection_id in the action, "
                                  "or a default collection on the app's setup page.", where)
            collection_id = check_collection_id(collection_id)
            result["collection_id"] = collection_id
        except ValueError as exc:  # the saved default is not a collection id
            return self._fail(result, "bad_collection", f"The default IOC collection on the setup page: {exc}", where)
        except errors.SekoiaError as exc:
            return self._fail(result, "not_configured", str(exc), where)
        values = self._keep(service, request["observables"], result)
        if result["code"]:
            return self._fail(result, result["code"], result["message"], where)
        result["not_sent"] = len(values)
        if not values:
            result.update(status="ok", code="nothing_to_send", message="No value to send after the checks.")
            log.info("push %s collection=%s count=0 refused=%d", where, collection_id, len(result["refused"]))
            return result
        valid_until = (datetime.fromtimestamp(self.clock(), timezone.utc) + timedelta(days=request["valid_days"]))
        default_fields = {"description": request["description"],
                          "valid_until": valid_until.strftime("%Y-%m-%dT%H:%M:%SZ")}
        batches = [values[i:i + IOC_BATCH_MAX] for i in range(0, len(values), IOC_BATCH_MAX)]
        if request["dry_run"]:
            for number, batch in enumerate(batches, 1):
                log.info("dry run: would push %s collection=%s batch=%d/%d count=%d values=%s", where, collection_id,
                         number, len(batches), len(batch), ",".join(v for _, v in batch))
            result.update(status="dry_run", code="dry_run", would_send=[list(v) for v in values],
                          batches=len(batches), message=f"Dry run: {len(values)} values would be sent to the IOC "
                                                        f"collection {collection_id} in {len(batches)} requests.")
            return result
        try:
            client = self.make_client(service)
        except errors.SekoiaError as exc:
            return self._fail(result, "not_configured", str(exc), where)
        client.deadline = deadline = self.clock() + request["budget"]
        with client:
            for number, batch in enumerate(batches, 1):
                error = self._send(client, collection_id, batch, default_fields, deadline)
                if error is not None:
                    code, message = error
                    return self._fail(result, code, message, where,
                                      f"batch={number}/{len(batches)} values={','.join(v for _, v in batch)}")
                result["sent"] += len(batch)
                result["batches"] += 1
                result["not_sent"] -= len(batch)
                log.info("pushed %s collection=%s batch=%d/%d count=%d values=%s", where, collection_id, number,
                         len(batches), len(batch), ",".join(v for _, v in batch))
        result.update(status="ok", code="ok", message=f"{result['sent']} values sent to the IOC collection "
                                                      f"{collection_id} in {result['batches']} requests.")
        return result

    def _keep(self, service, observables, result):
        """The distinct observables that may go, in their order; the others in result["refused"]."""
        try:
            allowlist = self.load_allowlist(service)
        except Exception as exc:  # noqa: BLE001 - without the allowlist nothing is sent
            result.update(code="allowlist_unavailable", message=f"The allowlist could not be read "
                                                                f"({type(exc).__name__}): nothing sent.")
            return []
        kept = []
        for obs_type, value in dict.fromkeys(observables):
            why = pushable(obs_type, value) or ("allowlisted" if allowlist.holds(obs_type, value) else None)
            if why:
                result["refused"].append([obs_type, value, why])
            else:
                kept.append((obs_type, value))
        return kept

    def _send(self, client, collection_id, batch, default_fields, deadline):
        """None once the IC accepted the batch, else (code, message). 429 and 5xx are sent again after a pause
        (Retry-After, or 5 s doubling) while the deadline allows; nothing else is."""
        pause = FIRST_PAUSE
        while True:
            try:
                client.add_to_ioc_collection(collection_id, [v for _, v in batch], default_fields)
                return None
            except (errors.RateLimitedError, errors.ServerError) as exc:
                wait = pause
                if isinstance(exc, errors.RateLimitedError) and exc.retry_after is not None:
                    wait = exc.retry_after
                    client.limiter.hold(wait)  # every process of this server waits
                pause = min(pause * 2, MAX_PAUSE)
                if self.clock() + wait >= deadline:
                    what = "rate limiting this server (HTTP 429)" if isinstance(exc, errors.RateLimitedError) \
                        else f"failing (HTTP {exc.status})"
                    return ("ic_unavailable", f"The Sekoia.io API kept {what} until the time allowed for this push "
                                              "ran out; try again later.")
                self.sleep(wait)
            except errors.BudgetExhaustedError:
                return "ic_unavailable", "The time allowed for this push ran out waiting for the Sekoia.io API."
            except errors.PermissionDeniedError:
                return "missing_permission", IOC_PERMISSIONS
            except errors.NotFoundError:
                return "unknown_collection", (f"The Sekoia.io API knows no IOC collection {collection_id} (HTTP 404) "
                                              "that this key can see: check the collection id and the key's "
                                              "community.")
            except errors.AuthenticationError as exc:
                return "bad_key", str(exc)
            except errors.APIError as exc:
                status = exc.status
                hint = (f" (the collection may be full: it holds at most {IOC_COLLECTION_MAX:,} indicators)"
                        if status == 400 else "")
                return "ic_refused", f"{exc}{hint}"
            except (errors.APITimeoutError, errors.APIConnectionError) as exc:
                return "ic_unreachable", (f"{exc} This batch was not sent again: the IC may have received it.")
            except errors.SekoiaError as exc:
                return "ic_error", str(exc)

    @staticmethod
    def _fail(result, code, message, where, detail=""):
        message = redact(message)
        result.update(status="failed", code=code, message=message)
        log.error("push failed %s collection=%s code=%s sent=%d not_sent=%d %s: %s", where, result["collection_id"],
                  code, result["sent"], result["not_sent"], detail, message)
        return result


# ---------------------------------------------------------------------------------------------- REST glue
def _default_collection(service):
    from ..splunk.settings import read_settings
    return read_settings(service).default_collection_id


def _allowlist(service):
    from ..splunk.allowlist import Allowlist
    return Allowlist.load(service)


class PushHandler(PersistentHandler):
    """restmap.conf [script:sekoia_ic_push] handler: one instance for the life of the handler process."""

    LOG_NAME = ENTRY.name

    def __init__(self, _command_line=None, _command_arg=None):
        super().__init__()
        from ..splunk.settings import make_client
        # One attempt per request (PushService pauses and resends 429 and 5xx itself, never what was accepted).
        self.service = PushService(lambda service: make_client(service, retries=0), _default_collection, _allowlist)

    def handle(self, in_string):
        push, service, user = system_request(in_string, parse_request, log)
        if push is None:
            return service  # the refusal
        log.debug("user=%s observables=%d dry_run=%s (capability %s)", user, len(push["observables"]),
                  push["dry_run"], PUSH_CAPABILITY)
        return _reply(200, self.service.push(service, push, user))
