"""What the app's persistent REST handlers (restmap.conf `scripttype = persist`: sekoia_ic/context and
sekoia_ic/setup) share. splunkd builds the handler class once per handler process and calls handle(in_string)
for each request, in_string being JSON (method, payload, session, system_authtoken, server.rest_uri...)."""
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


def reply(status, payload):
    """A JSON answer, as a persistent handler returns it to splunkd."""
    return {"payload": payload, "status": status, "headers": {"Content-Type": "application/json"}}
