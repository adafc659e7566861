"""What the app's persistent REST handlers (restmap.conf `scripttype = persist`: sekoia_ic/context,
sekoia_ic/push, sekoia_ic/setup and sekoia_ic/allowlist) share. splunkd builds the handler class once per handler
process and calls handle(in_string) for each request, in_string being JSON (method, payload, session,
system_authtoken, server.rest_uri...)."""
import json
import logging

from splunklib.binding import HTTPError

from . import logs

try:
    from splunk.persistconn.application import PersistentServerConnectionApplication
except ImportError:  # outside splunkd (tests drive the handlers through the same handle() contract)
    PersistentServerConnectionApplication = object


_STARTED = set()  # the entry points whose logging this process has set up


class PersistentHandler(PersistentServerConnectionApplication):
    """Each handler logs through its own named, non-propagating logger (logs.EntryPoint.start(own=True)), set up
    once per process; subclasses keep what is costly to build at class level (built once per process, not per
    instance)."""
    LOG_NAME = "sekoia_ic_rest"

    def __init__(self, _command_line=None, _command_arg=None):
        super().__init__()
        if self.LOG_NAME not in _STARTED:
            logs.EntryPoint(self.LOG_NAME).start(own=True)
            _STARTED.add(self.LOG_NAME)

    def handleStream(self, handle, in_string):  # noqa: N802 - splunk's name
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    def done(self):
        pass


class SessionHandler(PersistentHandler):
    """A handler that acts with the user's own session (restmap.conf without passSystemAuth): GET answers
    self.get(service, user), POST answers self.post(service, body, user) for a JSON object with an "action"; both
    return (status, payload). A malformed request is a 400, a splunkd refusal its own status, no answer a 502."""

    def handle(self, in_string):
        user = "?"
        try:
            request, service, user = session_request(in_string)
            if request.get("method") == "GET":
                return reply(*self.get(service, user))
            if request.get("method") != "POST":
                return reply(405, {"error": "GET or POST"})
            return reply(*self.post(service, posted_action(request), user))
        except BadRequest as exc:
            return reply(400, {"error": str(exc)})
        except (HTTPError, OSError) as exc:
            return splunkd_failure(exc, user, logging.getLogger(self.LOG_NAME))

    def get(self, service, user):
        raise NotImplementedError

    def post(self, service, body, user):
        raise NotImplementedError


def reply(status, payload):
    """A JSON answer, as a persistent handler returns it to splunkd."""
    return {"payload": payload, "status": status, "headers": {"Content-Type": "application/json"}}


class BadRequest(ValueError):
    """A request body the handler refuses (HTTP 400 with this message)."""


def json_object(body, list_key):
    """A request body that must be a JSON object holding a list under list_key, or BadRequest."""
    try:
        request = json.loads(body or "")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get(list_key), list):
        raise BadRequest(f"the body must be an object with an '{list_key}' list")
    return request


def system_request(in_string, parse, log):
    """What a POST to a `passSystemAuth` handler brings: (parsed payload, the app's service with the system token,
    the session's user), or (None, the reply to send, None) for anything else."""
    from .settings import app_service
    try:
        request = json.loads(in_string)
        if request.get("method") != "POST":
            return None, reply(405, {"error": "POST a JSON body"}), None
        parsed = parse(request.get("payload"))
        service = app_service(request["server"]["rest_uri"], request["system_authtoken"])
    except BadRequest as exc:
        return None, reply(400, {"error": str(exc)}), None
    except (ValueError, KeyError, TypeError) as exc:
        log.error("malformed request from splunkd: %s", type(exc).__name__)
        return None, reply(400, {"error": "malformed request"}), None
    return parsed, service, (request.get("session") or {}).get("user", "?")


def session_request(in_string):
    """What a request to a handler that acts with the user's own session brings: (the request, the app's service
    with the session's token, the session's user), or BadRequest."""
    from .settings import app_service
    try:
        request = json.loads(in_string)
        service = app_service(request["server"]["rest_uri"], request["session"]["authtoken"])
        return request, service, request["session"].get("user", "?")
    except (ValueError, KeyError, TypeError):
        raise BadRequest("malformed request") from None


def posted_action(request):
    """The JSON object a POST carries, with an "action", or BadRequest."""
    try:
        body = json.loads(request.get("payload") or "")
        body["action"]  # noqa: B018 - an object with an action, or BadRequest
    except (ValueError, KeyError, TypeError):
        raise BadRequest("POST a JSON object with an action") from None
    return body


def splunkd_failure(exc, user, log):
    """The reply when splunkd refused a call (HTTPError: its status and words) or did not answer (OSError)."""
    from .. import redaction
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        message = redaction.redact(str(exc))
        log.error("user=%s: splunkd refused: %s", user, message)
        return reply(status if 400 <= status < 600 else 502, {"error": message})
    message = f"splunkd did not answer: {redaction.redact(str(exc))}"
    log.error("user=%s: %s", user, message)
    return reply(502, {"error": message})
