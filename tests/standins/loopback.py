"""The lifecycle every HTTP stand-in shares: a threaded server on 127.0.0.1 and an ephemeral port, started and
stopped by the test (or as a context manager)."""
import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Subclasses set handler_class (a BaseHTTPRequestHandler) and handler_attribute, the name under which
    the handler finds the stand-in."""

    handler_class = None
    handler_attribute = "standin"
    _server = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        handler = type("Handler", (self.handler_class,), {self.handler_attribute: self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
