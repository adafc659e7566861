"""Shared fixtures. The app is tested as it ships: `python3 build.py test` stages it into build/sekoia_ic
(SEKOIA_IC_STAGE_DIR), whose lib/ holds the vendored third-party packages; the library is imported from
package/ so that a traceback points at the source."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGE_DIR = Path(os.environ.get("SEKOIA_IC_STAGE_DIR", ROOT / "build" / "sekoia_ic"))
if not (STAGE_DIR / "lib").is_dir():
    raise pytest.UsageError(f"{STAGE_DIR} is not staged: run the tests with `python3 build.py test`")
sys.path.insert(0, str(STAGE_DIR / "lib"))
sys.path.insert(0, str(ROOT / "package"))

from tests.standins.ic_api import IOC_MANAGE, IOC_VIEW, ICStandIn  # noqa: E402
from tests.standins.splunkd import SplunkdStandIn  # noqa: E402

SESSION_KEY = "test-session-key"
API_KEY = "good-key"


@pytest.fixture
def stage_dir():
    return STAGE_DIR


@pytest.fixture
def ic():
    with ICStandIn(api_keys={API_KEY: {"intel", IOC_VIEW, IOC_MANAGE}, "no-intel-key": set(),
                             "no-ioc-key": {"intel", IOC_VIEW}}) as standin:
        yield standin


@pytest.fixture
def splunkd(tmp_path):
    """splunkd with the staged app; its REST handlers run with SPLUNK_HOME = tmp_path, like the scripts the tests
    run (one server: one log folder, one request budget for the IC)."""
    with SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,), splunk_home=tmp_path) as standin:
        yield standin


@pytest.fixture
def configured_splunkd(splunkd, ic):
    """splunkd with the app set up: an API key and base_url pointing at the IC stand-in."""
    splunkd.set_password("sekoia_ic", "api_key", API_KEY)
    splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url, log_level="DEBUG")
    return splunkd


@pytest.fixture
def web(splunkd, tmp_path):
    """Splunk Web in front of the splunkd stand-in, logged in as admin (the setup page's tests)."""
    from tests.standins.splunkweb import SplunkWebStandIn
    splunkd.scratch_dir = tmp_path
    with SplunkWebStandIn(splunkd, STAGE_DIR, SESSION_KEY) as standin:
        yield standin
