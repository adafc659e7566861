"""A real TAXII 2.1 server for the tests: medallion (the OASIS TAXII 2.1 reference server, PyPI) with its memory
backend, started on 127.0.0.1 in a subprocess, serving one API root ("inthreat") with one collection whose id is
the feed id, as the IC's TAXII server does (docs/design.md, "The IC API", TAXII 2.1). The API key is the Basic
auth password. Objects are published through the TAXII API itself (POST to the collection's objects).
FaultProxy puts the IC API's faults (429 with Retry-After, 5xx, a body cut short) in front of it."""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from taxii2client.v21 import Collection

API_ROOT = "inthreat"
WRITER = ("writer", "writer-password")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TaxiiServer:
    def __init__(self, workdir, feed_id, api_key, max_page_size=100):
        self.workdir = Path(workdir)
        self.feed_id = feed_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_root = f"{self.url}/{API_ROOT}/"
        data = {
            "/discovery": {"title": "IC TAXII stand-in", "description": "medallion", "contact": "tests",
                           "default": self.api_root, "api_roots": [self.api_root]},
            API_ROOT: {
                "information": {"title": "Intelligence Center", "description": "IC feeds",
                                "versions": ["application/taxii+json;version=2.1"], "max_content_length": 100000000},
                "status": [],
                "collections": [{"id": feed_id, "title": "IC feed", "description": "", "can_read": True,
                                 "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                                 "objects": [], "manifest": []}],
            },
        }
        (self.workdir / "taxii_data.json").write_text(json.dumps(data))
        config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                              "filename": str(self.workdir / "taxii_data.json")},
                  "users": {"apikey": api_key, WRITER[0]: WRITER[1]},
                  "taxii": {"max_page_size": max_page_size}}
        (self.workdir / "taxii_config.json").write_text(json.dumps(config))
        self.process = None

    def start(self):
        self.log = open(self.workdir / "medallion.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port", str(self.port),
             str(self.workdir / "taxii_config.json")], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/taxii2/", timeout=1)
            except urllib.error.HTTPError:
                return self  # answering (401 without credentials): up
            except OSError:
                time.sleep(0.1)
                continue
            return self
        raise RuntimeError(f"medallion did not start: {(self.workdir / 'medallion.log').read_text()[-2000:]}")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def publish(self, objects):
        """POST objects (dicts) to the collection, as an IC publisher would; waits until they are stored."""
        collection = Collection(f"{self.api_root}collections/{self.feed_id}/", user=WRITER[0], password=WRITER[1])
        bundle = {"type": "bundle", "id": "bundle--6a0cfdd4-3e6b-4bd0-b4cf-0c2f2d2a5e11", "objects": objects}
        status = collection.add_objects(json.dumps(bundle))
        assert status.failure_count == 0, status
        collection.close()
        time.sleep(0.002)  # distinct date_added for the next publication


class FaultProxy:
    """A reverse proxy in front of the TAXII server that can answer the next matching requests itself: a status
    (429 with Retry-After, 5xx) or the real answer cut in half. Everything else passes through unchanged."""

    def __init__(self, upstream):
        from .loopback import LoopbackServer

        self.upstream = upstream.rstrip("/")
        self.faults = []
        self.requests = []  # (method, path, status, time)
        proxy = self

        class Server(LoopbackServer):
            handler_class = _proxy_handler(proxy)

        self.server = Server()

    @property
    def url(self):
        return self.server.url

    def fail(self, status, times=1, retry_after=None, path=r"/objects/"):
        import re
        self.faults += [{"kind": "status", "status": status, "retry_after": retry_after,
                         "pattern": re.compile(path)}] * times

    def truncate(self, times=1, path=r"/objects/", after=0):
        """Cut the body of the matching request number after+1 (after=1: the second page)."""
        import re
        self.faults += [{"kind": "pass", "pattern": re.compile(path)}] * after
        self.faults += [{"kind": "truncate", "pattern": re.compile(path)}] * times

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()


def _proxy_handler(proxy):
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self._forward("GET")

        def do_POST(self):
            self._forward("POST")

        def _forward(self, method):
            fault = next((f for f in proxy.faults if f["pattern"].search(self.path)), None)
            if fault:
                proxy.faults.remove(fault)
            if fault and fault["kind"] == "status":
                body = b'{"title": "fault injected by the test proxy"}'
                headers = {"Content-Type": "application/taxii+json;version=2.1"}
                if fault["retry_after"] is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                return self._answer(method, fault["status"], headers, body)
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else None
            forwarded = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept",
                                                                                 "content-type")}
            request = urllib.request.Request(proxy.upstream + self.path, data=data, method=method, headers=forwarded)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, headers, body = response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as exc:
                status, headers, body = exc.code, dict(exc.headers), exc.read()
            if fault and fault["kind"] == "truncate":
                body = body[: len(body) // 2]
            keep = {k: v for k, v in headers.items() if k.lower().startswith("x-taxii") or k.lower() == "content-type"}
            self._answer(method, status, keep, body)

        def _answer(self, method, status, headers, body):
            proxy.requests.append((method, self.path, status, time.monotonic()))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
