"""The app's code runs on every Python Splunk may use (3.9 to 3.13): the staged lib imports and converts
indicators and event values under each interpreter found on this machine."""
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import STAGE_DIR

SMOKE = """
import sys
sys.path.insert(0, sys.argv[1])
import sekoia_ic.feed_input, sekoia_ic.lookup_command, sekoia_ic.check_command, sekoia_ic.taxii_sync
from sekoia_ic.indicators import rows_for
from sekoia_ic.enrichment import to_observable
rows = rows_for({"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                 "pattern": "[file:hashes.'SHA-256' = 'AB' OR ipv4-addr:value = '1.2.3.4/32']", "pattern_type": "stix",
                 "valid_from": "2026-01-01T00:00:00.123Z", "valid_until": "2027-01-01T00:00:00Z"}, "f")
assert [r["value"] for r in rows] == ["1.2.3.4"], rows
assert to_observable("2001:DB8::1", "auto") == ("ipv6-addr", "2001:db8::1")
print("ok", sys.version_info[:2])
"""


def interpreters():
    found = []
    for version in ("3.9", "3.10", "3.11", "3.12", "3.13"):
        path = shutil.which(f"python{version}")
        pyenv = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"))
        candidate = str(pyenv[-1]) if pyenv else path
        found.append(pytest.param(candidate, id=version,
                                  marks=pytest.mark.skipif(candidate is None, reason=f"no python{version} here")))
    return found


@pytest.mark.parametrize("python", interpreters())
def test_staged_code_runs(python):
    result = subprocess.run([python, "-s", "-E", "-c", SMOKE, str(STAGE_DIR / "lib")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
