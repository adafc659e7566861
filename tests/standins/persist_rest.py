"""splunkd's persistent REST handlers, for the splunkd stand-in.

restmap.conf.spec, [script:<name>] with `scripttype = persist`, and splunk/splunk-app-examples' hello-world app:
splunkd starts one long-lived process for the handler, with the app's bin/ on its path, builds
`handler = <module>.<Class>` once as Class(command_line, command_arg), and for each request calls
handle(in_string), in_string being JSON with: method, rest_path, query and form as [name, value] pairs, payload
(the raw body, with `passPayload = true`), session {user, authtoken} (`passSession`, on by default),
system_authtoken (`passSystemAuth = true`), server {rest_uri, hostname}, ns {app, user}. The handler answers a
dict {"payload": ..., "status": ..., "headers": ...} (a dict payload is sent as JSON) or a string.

The handler contract is what the stand-in keeps; the framing between splunkd and the process (persistconn's
binary protocol) is replaced by one JSON line per request and per answer. Run as a script, this file is that
child process.
"""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path


class PersistentHandler:
    """One handler process, started at its first request, one request at a time."""

    def __init__(self, bin_dir, handler, splunk_home, python=None):
        self.bin_dir, self.handler, self.splunk_home = Path(bin_dir), handler, Path(splunk_home)
        self.python = python or getattr(sys, "_base_executable", sys.executable)
        self._process = None
        self._lock = threading.Lock()
        self.calls = 0

    def _start(self):
        env = {"SPLUNK_HOME": str(self.splunk_home), "PATH": "/usr/bin:/bin"}
        self._process = subprocess.Popen(
            [self.python, "-s", "-E", __file__, str(self.bin_dir), self.handler], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, encoding="utf-8")

    def call(self, request, timeout=300):
        """(status, body text, content type) of one request (a dict, sent as the handler's in_string)."""
        with self._lock:
            self.calls += 1
            if self._process is None or self._process.poll() is not None:
                self._start()
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = _read_line(self._process.stdout, timeout)
        if not line:
            self.stop()
            return 500, "The persistent REST handler exited without answering", "text/plain"
        answer = json.loads(line)
        if "error" in answer:  # splunkd: 500 with the handler's failure
            return 500, f"Unexpected error from python handler: {answer['error']}", "text/plain"
        result = answer["result"]
        if isinstance(result, str):
            return 200, result, "text/plain"
        payload = result.get("payload", "")
        if isinstance(payload, (dict, list)):
            return int(result.get("status", 200)), json.dumps(payload), "application/json"
        return int(result.get("status", 200)), str(payload), "text/plain"

    def stop(self):
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


def _read_line(stream, timeout):
    result = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def _serve(bin_dir, handler):
    import importlib
    import traceback
    sys.path.insert(0, bin_dir)
    module_name, class_name = handler.rsplit(".", 1)
    application = getattr(importlib.import_module(module_name), class_name)("", "")
    for line in sys.stdin:
        try:
            answer = {"result": application.handle(line.rstrip("\n"))}
        except Exception:  # noqa: BLE001 - splunkd reports a handler's failure as a 500
            answer = {"error": traceback.format_exc(limit=3)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    os.chdir(sys.argv[1])
    _serve(sys.argv[1], sys.argv[2])
