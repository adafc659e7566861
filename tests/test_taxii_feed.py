"""source=taxii: the real bin/sekoia_ic_feed.py reading a real TAXII 2.1 server (medallion) into the splunkd
stand-in's KV store, with the REST feed's guarantees."""
import random
import time
from xml.etree import ElementTree

import pytest

from tests.conftest import API_KEY, SESSION_KEY, STAGE_DIR
from tests.modinput import (comparable_rows, declare_feed, input_xml, kill_repeatedly, log_text, run_input, run_script,
                            validation_xml)
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID
from tests.standins.splunkd import SplunkdStandIn
from tests.standins.taxii_server import TaxiiServer
from tests.test_feed_input import assert_clean_exit, checkpoint, expected, lookup


@pytest.fixture
def taxii(tmp_path):
    with TaxiiServer(tmp_path, DEFAULT_FEED_ID, API_KEY, max_page_size=100) as server:
        yield server


@pytest.fixture
def taxii_splunkd(splunkd, taxii):
    splunkd.set_password("sekoia_ic", "api_key", API_KEY)
    splunkd.set_conf("sekoia_ic", "settings", log_level="DEBUG")
    return splunkd


def params(taxii, page_size=10):
    return {"source": "taxii", "taxii_api_root": taxii.api_root, "page_size": str(page_size)}


def test_full_then_incremental_sync(taxii_splunkd, taxii, tmp_path):
    feed = stix_data.make_feed(35)
    taxii.publish([g.indicator for g in feed[:30]])
    time.sleep(1.5)  # the later batch is what the next run re-reads (the 1 s overlap before the stored date)
    taxii.publish([g.indicator for g in feed[30:]])
    result = run_input(taxii_splunkd, tmp_path, params(taxii))
    assert result.returncode == 0, result.stderr
    assert lookup(taxii_splunkd) == expected(feed)
    first = checkpoint(taxii_splunkd)
    assert first["status"] == "success" and first["source"] == "taxii" and first["pages"] == 4
    assert first["taxii_added_after"] and first["taxii_next"] == ""

    # A revocation (a new version of the object), a changed pattern and a newcomer arrive later.
    revoked = stix_data.revise(feed[0], revoked=True)
    changed = stix_data.make_indicator(stix_data.shape_domain, 4242)
    changed = stix_data.revise(stix_data.Generated(dict(changed.indicator, id=feed[1].indicator["id"]),
                                                   changed.observables, changed.related))
    newcomer = stix_data.make_indicator(stix_data.shape_url, 4343)
    time.sleep(1.1)
    taxii.publish([revoked.indicator, changed.indicator, newcomer.indicator])
    result = run_input(taxii_splunkd, tmp_path, params(taxii))
    assert result.returncode == 0, result.stderr
    assert lookup(taxii_splunkd) == expected(feed[2:] + [changed, newcomer])
    second = checkpoint(taxii_splunkd)
    # Only what was added after the stored date (and the one-second overlap), not the whole collection.
    assert second["objects_seen"] == 5 + 3 and second["taxii_added_after"] > first["taxii_added_after"]


def test_bad_key_is_reported_and_keeps_the_checkpoint(taxii_splunkd, taxii, tmp_path):
    taxii.publish([g.indicator for g in stix_data.make_feed(5)])
    assert run_input(taxii_splunkd, tmp_path, params(taxii)).returncode == 0
    before = checkpoint(taxii_splunkd)
    taxii_splunkd.set_password("sekoia_ic", "api_key", "wrong-key")
    result = run_input(taxii_splunkd, tmp_path, params(taxii))
    assert result.returncode == 1
    assert_clean_exit(result)
    after = checkpoint(taxii_splunkd)
    assert "HTTP 401" in after["last_error"] and after["taxii_added_after"] == before["taxii_added_after"]
    assert "wrong-key" not in log_text(tmp_path)


def test_unreachable_server_is_reported(taxii_splunkd, tmp_path):
    from tests.standins.taxii_server import free_port
    result = run_input(taxii_splunkd, tmp_path, {"source": "taxii",
                                                 "taxii_api_root": f"http://127.0.0.1:{free_port()}/inthreat/"})
    assert result.returncode == 1
    assert "Cannot connect" in checkpoint(taxii_splunkd)["last_error"]


@pytest.mark.parametrize("bad, message", [
    ({"source": "ftp"}, "source 'ftp' unknown"),
    ({"source": "taxii", "taxii_api_root": "not a url"}, "taxii_api_root must be an http"),
])
def test_validate_arguments(splunkd, tmp_path, bad, message):
    result = run_script(["--validate-arguments"], validation_xml(splunkd.uri, "x", bad), tmp_path)
    assert result.returncode == 1 and message in ElementTree.fromstring(result.stdout).findtext("message")


def test_kill_9_at_any_moment_loses_nothing(tmp_path):
    rng = random.Random(99)
    feed = stix_data.make_feed(240)
    (tmp_path / "srv").mkdir()
    with TaxiiServer(tmp_path / "srv", DEFAULT_FEED_ID, API_KEY, max_page_size=100) as taxii, \
            SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as splunkd:
        splunkd.set_password("sekoia_ic", "api_key", API_KEY)
        for start in range(0, len(feed), 60):
            taxii.publish([g.indicator for g in feed[start:start + 60]])
        stdin = declare_feed(splunkd, params(taxii, page_size=5))

        def feed_moves_on(round_number):
            victim = feed.pop(rng.randrange(len(feed)))
            newcomer = stix_data.make_indicator(stix_data.SHAPES[round_number], 7000 + round_number)
            feed.append(newcomer)
            taxii.publish([stix_data.revise(victim, revoked=True).indicator, newcomer.indicator])

        kills = kill_repeatedly(stdin, tmp_path, 6, rng, 0.4, 1.5, feed_moves_on, splunkd)
        assert kills >= 2
        final = run_input(splunkd, tmp_path, params(taxii, page_size=50), timeout=300)
        assert final.returncode == 0, final.stderr
        assert lookup(splunkd) == expected(feed)
        resumed = comparable_rows(splunkd)
        with SplunkdStandIn(app_dir=STAGE_DIR, session_keys=(SESSION_KEY,)) as clean:
            clean.set_password("sekoia_ic", "api_key", API_KEY)
            assert run_input(clean, tmp_path, params(taxii, page_size=50), timeout=300).returncode == 0
            clean_rows = comparable_rows(clean)
        assert resumed == clean_rows


def test_kvstore_error_keeps_the_checkpoint(taxii_splunkd, taxii, tmp_path):
    feed = stix_data.make_feed(25)
    taxii.publish([g.indicator for g in feed[:10]])
    assert run_input(taxii_splunkd, tmp_path, params(taxii)).returncode == 0
    before = checkpoint(taxii_splunkd)["taxii_added_after"]
    time.sleep(1.5)
    taxii.publish([g.indicator for g in feed[10:]])
    taxii_splunkd.inject_failure(r"sekoia_ic_indicators/batch_save", status=503, message="KV Store is shutting down")
    result = run_input(taxii_splunkd, tmp_path, params(taxii))
    assert result.returncode == 1
    assert_clean_exit(result)
    state = checkpoint(taxii_splunkd)
    assert state["taxii_added_after"] == before and "KV Store is shutting down" in state["last_error"]
    assert run_input(taxii_splunkd, tmp_path, params(taxii)).returncode == 0
    assert lookup(taxii_splunkd) == expected(feed)


def proxied_params(proxy, taxii, page_size=10):
    return dict(params(taxii, page_size), taxii_api_root=proxy.url + "/" + taxii.api_root.split("/", 3)[3])


def test_429_waits_as_told_and_goes_on(taxii_splunkd, taxii, tmp_path):
    from tests.standins.taxii_server import FaultProxy
    feed = stix_data.make_feed(25)
    taxii.publish([g.indicator for g in feed])
    with FaultProxy(taxii.url) as proxy:
        proxy.fail(429, times=1, retry_after=1)
        result = run_input(taxii_splunkd, tmp_path, proxied_params(proxy, taxii))
    assert result.returncode == 0, result.stderr
    assert lookup(taxii_splunkd) == expected(feed)
    pages = [r for r in proxy.requests if "/objects/" in r[1]]
    assert pages[0][2] == 429 and pages[1][3] - pages[0][3] >= 0.95


def test_truncated_page_writes_nothing_of_it_and_keeps_the_checkpoint(taxii_splunkd, taxii, tmp_path):
    from tests.standins.taxii_server import FaultProxy
    feed = stix_data.make_feed(25)
    taxii.publish([g.indicator for g in feed])
    with FaultProxy(taxii.url) as proxy:
        proxy.truncate(times=1, after=1)  # the second page is cut in half
        result = run_input(taxii_splunkd, tmp_path, proxied_params(proxy, taxii))
        assert result.returncode == 1
        assert_clean_exit(result)
        state = checkpoint(taxii_splunkd)
        assert state["pages"] == 1 and "TAXII 2.1 envelope" in state["last_error"]
        assert len({row[4] for row in lookup(taxii_splunkd)}) == 10  # the first page only
        assert run_input(taxii_splunkd, tmp_path, proxied_params(proxy, taxii)).returncode == 0
    assert lookup(taxii_splunkd) == expected(feed)
