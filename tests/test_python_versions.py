"""The app runs on every Python its declared platforms use (README "Supported platforms"): Splunk Enterprise 9.3 and 9.4 run the app's scripts with Python 3.9, 10.0 and 10.1 with 3.9
or 3.13, 10.2 and later, and Splunk Cloud, with 3.13 (python.required = 3.13 is honoured from 10.2). Under each,
the staged scripts start as splunkd starts them (--scheme, getinfo), the REST handlers import, and the library
converts indicators and event values. 3.10 to 3.12 are checked too where this machine has them."""
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, STAGE_DIR
from tests.standins.chunked_protocol import encode_chunk, read_chunks, searchinfo

DECLARED = ("3.9", "3.13")  # what the declared platforms run: never skipped
SMOKE = """
import sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import sekoia_ic.feed.sekoia_ic_feed, sekoia_ic.feed.taxii
import sekoia_ic.enrich.sekoialookup, sekoia_ic.endpoints.sekoiacheck
import sekoia_ic.feed.es_export, sekoia_ic.actions.sekoia_ic_enrich
import os
# cim_actions imports Splunk's runtime modules at import time: its syntax is checked under this Python here, its
# behaviour by tests/test_alert_action.py.
compile(open(os.path.join(sys.argv[1], "splunktaucclib", "cim_actions.py")).read(), "cim_actions.py", "exec")
import sekoia_ic_context, sekoia_ic_setup, sekoia_ic_push
from sekoia_ic.actions.sekoia_ic_add_to_collection import decode_mv, observables
assert decode_mv("$a$;$b$$c$") == ["a", "b$c"]
assert observables(["Evil.ORG", "evil.org", "010.000.000.001", "8.8.8.8"], "auto")[0] == [
    ("domain-name", "evil.org"), ("ipv4-addr", "8.8.8.8")]
from sekoia_ic.stix.indicators import rows_for
from sekoia_ic.enrich.enricher import to_observable
rows = rows_for({"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                 "pattern": "[file:hashes.'SHA-256' = 'AB' OR ipv4-addr:value = '1.2.3.4/32']", "pattern_type": "stix",
                 "valid_from": "2026-01-01T00:00:00.123Z", "valid_until": "2027-01-01T00:00:00Z"}, "f")
assert [r["value"] for r in rows] == ["1.2.3.4"], rows
assert to_observable("2001:DB8::1", "auto") == ("ipv6-addr", "2001:db8::1")
assert to_observable("bücher.de", "auto") == ("domain-name", "xn--bcher-kva.de")
print("ok", sys.version_info[:2])
"""


def interpreter(version):
    pyenv = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"))
    return str(pyenv[-1]) if pyenv else shutil.which(f"python{version}")


def interpreters():
    for version in ("3.9", "3.10", "3.11", "3.12", "3.13"):
        python = interpreter(version)
        skip = python is None and version not in DECLARED
        yield pytest.param(version, id=version, marks=pytest.mark.skipif(skip, reason=f"no python{version} here"))


def run(python, args, stdin=b"", tmp_path=None):
    env = {"PATH": "/usr/bin:/bin", "SPLUNK_HOME": str(tmp_path or "/tmp")}
    return subprocess.run([python, "-s", "-E", *args], input=stdin, capture_output=True, env=env, timeout=120)


@pytest.mark.parametrize("version", list(interpreters()))
def test_the_staged_app_starts_under_each_python(version, tmp_path):
    python = interpreter(version)
    assert python, f"python{version} is what a declared platform runs the app with: install it to test"
    result = run(python, ["-c", SMOKE, str(STAGE_DIR / "lib"), str(STAGE_DIR / "bin")])
    assert result.returncode == 0, result.stderr.decode()
    scheme = run(python, [str(STAGE_DIR / "bin" / "sekoia_ic_feed.py"), "--scheme"])
    assert scheme.returncode == 0 and b"<scheme>" in scheme.stdout, scheme.stderr.decode()
    for command in ("sekoialookup", "sekoiacheck"):
        getinfo = encode_chunk({"action": "getinfo", "preview": False, "searchinfo": searchinfo(
            "http://127.0.0.1:1", command, ["field=x"] if command == "sekoialookup" else [], tmp_path, "k")})
        answer = run(python, [str(STAGE_DIR / "bin" / f"{command}.py")], getinfo, tmp_path)
        chunks = read_chunks(io.BytesIO(answer.stdout))
        assert chunks and chunks[0][0]["type"] in ("stateful", "streaming", "reporting", "events"), answer.stderr


def test_the_declared_platforms_are_stated_in_the_readme_and_the_design_notes():
    # slim 1.2.8 (the Packaging Toolkit) knows Splunk releases up to 8.0.0 only and refuses any app.manifest
    # platformRequirements that excludes them (">=9.3.0": "includes no supported version"), as Splunkbase's
    # packaging check does: the manifest says nothing, README and docs/design.md say it.
    manifest = json.loads((ROOT / "app.manifest").read_text())
    assert manifest["platformRequirements"] is None
    assert "Splunk Enterprise 9.3 and later" in (ROOT / "docs" / "design.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "Splunk Enterprise 9.3 and later" in readme and "Splunk Cloud Platform" in readme
    for version in DECLARED:
        assert f"Python {version}" in readme
