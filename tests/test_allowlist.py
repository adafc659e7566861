"""The allowlist collection through splunkd: live entries hold, expired and bad ones do not, the purge removes
only the expired ones."""
import pytest
from splunklib import client

from sekoia_ic.splunk.allowlist import Allowlist, purge_expired
from tests.conftest import SESSION_KEY

NOW = 1_800_000_000


def service_for(splunkd, token=SESSION_KEY):
    return client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=token, owner="nobody",
                          app="sekoia_ic")


ENTRIES = [
    {"_key": "a", "type": "domain-name", "value": "example.org", "expires": 0, "reason": "ours"},
    {"_key": "b", "type": "ipv4-addr", "value": "8.8.8.8", "expires": NOW + 60},
    {"_key": "c", "type": "url", "value": "http://old.example/", "expires": NOW - 1},
    {"_key": "d", "type": "filename", "value": "invoice.zip", "expires": "soon"},
    {"_key": "e", "type": "", "value": "x", "expires": 0},
    {"_key": "f", "type": "ipv6-addr", "value": "2001:db8::1"},
]


def test_live_entries_hold_and_expired_or_bad_ones_do_not(splunkd):
    service_for(splunkd).kvstore["sekoia_ic_allowlist"].data.batch_save(*ENTRIES)
    allowlist = Allowlist.load(service_for(splunkd), now=NOW)
    assert allowlist.holds("domain-name", "example.org") and allowlist.holds("ipv4-addr", "8.8.8.8")
    assert allowlist.holds("ipv6-addr", "2001:db8::1")
    assert not allowlist.holds("url", "http://old.example/")  # expired
    assert not allowlist.holds("filename", "invoice.zip")  # expires is no number
    assert not allowlist.holds("domain-name", "8.8.8.8") and not allowlist.holds("filename", "example.org")
    assert len(allowlist) == 3 and allowlist.bad_entries == 2


def test_the_purge_removes_only_expired_entries(splunkd):
    service_for(splunkd).kvstore["sekoia_ic_allowlist"].data.batch_save(*ENTRIES)
    assert purge_expired(service_for(splunkd), now=NOW) == 1
    assert sorted(r["_key"] for r in splunkd.rows("sekoia_ic_allowlist")) == ["a", "b", "d", "e", "f"]


@pytest.mark.parametrize("roles, may_write", [(["user"], False), (["power"], False),
                                              (["user", "sekoia_ic_analyst"], False),
                                              (["sekoia_ic_allowlist_editor"], True), (["admin"], True)])
def test_everyone_reads_the_allowlist_and_only_its_editors_write_it(splunkd, roles, may_write):
    from splunklib import binding
    splunkd.add_session("k", "ana", roles)
    service = service_for(splunkd, "k")
    assert len(Allowlist.load(service)) == 0
    try:
        service.kvstore["sekoia_ic_allowlist"].data.batch_save({"type": "domain-name", "value": "a.example"})
        wrote = True
    except binding.HTTPError as exc:
        assert exc.status == 403
        wrote = False
    assert wrote is may_write


def test_the_feed_run_purges_expired_entries(configured_splunkd, ic, tmp_path):
    from tests.modinput import run_input
    import time
    entries = [dict(e, expires=time.time() - 60) if e["_key"] == "c" else e for e in ENTRIES]
    service_for(configured_splunkd).kvstore["sekoia_ic_allowlist"].data.batch_save(*entries)
    process = run_input(configured_splunkd, tmp_path)
    assert process.returncode == 0
    assert sorted(r["_key"] for r in configured_splunkd.rows("sekoia_ic_allowlist")) == ["a", "b", "d", "e", "f"]
