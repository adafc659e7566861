"""Runs the real bin/sekoia_ic_feed.py the way splunkd does: XML on stdin, per the Splunk docs "Modular inputs
basic example" / "Create modular inputs" (introspection with --scheme, --validate-arguments with <items>,
runs with <input><configuration><stanza>)."""
import os
import subprocess
import sys
from xml.sax.saxutils import escape

from tests.conftest import SESSION_KEY, STAGE_DIR
from tests.standins.ic_api import DEFAULT_FEED_ID

SCRIPT = STAGE_DIR / "bin" / "sekoia_ic_feed.py"
# The interpreter without the test venv's packages: the script must run on what the app vendors.
PYTHON = getattr(sys, "_base_executable", sys.executable)


def params_xml(params):
    return "".join(f'<param name="{escape(k)}">{escape(str(v))}</param>' for k, v in params.items())


def input_xml(splunkd_uri, stanzas, checkpoint_dir="/tmp", session_key=SESSION_KEY):
    body = "".join(f'<stanza name="{escape(name)}">{params_xml(params)}</stanza>' for name, params in stanzas.items())
    return (f"<input><server_host>sh1</server_host><server_uri>{escape(splunkd_uri)}</server_uri>"
            f"<session_key>{escape(session_key)}</session_key><checkpoint_dir>{escape(str(checkpoint_dir))}"
            f"</checkpoint_dir><configuration>{body}</configuration></input>")


def validation_xml(splunkd_uri, name, params, session_key=SESSION_KEY):
    return (f"<items><server_host>sh1</server_host><server_uri>{escape(splunkd_uri)}</server_uri>"
            f"<session_key>{escape(session_key)}</session_key><checkpoint_dir>/tmp</checkpoint_dir>"
            f'<item name="{escape(name)}">{params_xml(params)}</item></items>')


def env_for(splunk_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["SPLUNK_HOME"] = str(splunk_home)
    return env


def run_script(args, stdin, splunk_home, timeout=120):
    return subprocess.run([PYTHON, "-s", "-E", str(SCRIPT), *args], input=stdin, capture_output=True, text=True,
                          env=env_for(splunk_home), timeout=timeout)


def start_script(stdin, splunk_home):
    process = subprocess.Popen([PYTHON, "-s", "-E", str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env_for(splunk_home))
    process.stdin.write(stdin)
    process.stdin.close()
    return process


# The lease timing of tests that run one member at a time: no wait worth the name (sekoia_ic.conf [sync_lease]).
FAST_LEASE = {"ttl": "120", "settle": "0.05", "max_clock_skew": "1"}


def declare_feed(splunkd, params=None, name="default", lease=FAST_LEASE):
    """The feed as the setup page declares it, sekoia_ic.conf [feed:<name>] (replacing what was there), synced
    at every run (interval 0). Returns the input XML of the shipped runner stanza."""
    values = {"feed_id": DEFAULT_FEED_ID, "enabled": "true", "interval": "0"}
    values.update({k: str(v) for k, v in (params or {}).items()})
    with splunkd.lock:
        splunkd.confs.setdefault("sekoia_ic", {})[f"feed:{name}"] = values
        if lease:
            splunkd.confs["sekoia_ic"]["sync_lease"] = dict(lease)
    return input_xml(splunkd.uri, {"sekoia_ic_feed://default": {"interval": "60"}})


def run_input(splunkd, splunk_home, params=None, name="sekoia_ic_feed://default", timeout=120):
    """One run of the input with one feed declared from params (the feed named like the stanza)."""
    stdin = declare_feed(splunkd, params, name.split("://", 1)[-1])
    return run_script([], stdin, splunk_home, timeout=timeout)


def log_text(splunk_home):
    path = splunk_home / "var" / "log" / "splunk" / "sekoia_ic_feed.log"
    return path.read_text() if path.exists() else ""


def kill_repeatedly(stdin, splunk_home, rounds, rng, earliest, latest, between, splunkd=None):
    """Start the real script `rounds` times, SIGKILL each run at a random moment (if still running), and call
    between(round_number) after each. Returns how many runs were killed.

    A killed run leaves its sync lease to expire (sekoia_ic.conf [sync_lease] ttl): with splunkd given, the lease
    row of a killed run is dropped instead, as its expiry would, so that the next run syncs at once (the lease's
    own kill tests are in test_sync_lease.py)."""
    import signal
    import time
    kills = 0
    for round_number in range(rounds):
        process = start_script(stdin, splunk_home)
        time.sleep(rng.uniform(earliest, latest))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
        if splunkd is not None:
            with splunkd.lock:
                splunkd.kv["sekoia_ic_lease"].clear()
        between(round_number)
    return kills


def comparable_rows(splunkd):
    """The lookup's rows as comparable JSON strings, without the KV store's own _user field."""
    import json
    return {json.dumps({k: v for k, v in r.items() if k != "_user"}, sort_keys=True)
            for r in splunkd.rows("sekoia_ic_indicators")}


def lookup(splunkd):
    """The lookup as a comparable set: (type, value, hash_type, is_range, indicator_id)."""
    return {(r["type"], r["value"], r["hash_type"], r["is_range"], r["indicator_id"])
            for r in splunkd.rows("sekoia_ic_indicators")}


def expected(generated_list):
    """The rows a clean sync of these indicators gives, in lookup()'s form."""
    return {(o.type, o.value, o.hash_type, o.is_range, g.indicator["id"])
            for g in generated_list for o in g.observables}


def checkpoint(splunkd, key="sekoia_ic_feed___default"):
    return {r["_key"]: r for r in splunkd.rows("sekoia_ic_checkpoints")}.get(key)
