"""What each correlation search hands to sekoialookup (the rows of its tstats ... by stage), run through the real
command with the search's own sekoialookup arguments, against a lookup the real feed input wrote: every value
that names a live indicator matches, whatever its case or form; nothing else does."""
import pytest

from tests.chunked import run_command
from tests.modinput import run_input
from tests.standins import stix_data
from tests.test_splunk_config import SAVED, sekoialookup_args

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
MD5 = "098f6bcd4621d373cade4e832627b4f6"
PATTERNS = [
    "[domain-name:value = 'Evil-Case.Example.org']",
    "[url:value = 'http://bad.example.com/Login.php?id=1']",
    f"[file:hashes.'SHA-256' = '{SHA256}' OR file:hashes.MD5 = '{MD5.upper()}']",
    "[ipv6-addr:value = '2001:db8::beef']",
    "[ipv4-addr:value = '45.7.0.0/24']",
    "[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/25']",
    "[email-addr:value = 'Phish@Example.net']",
]
# search name -> [(value in the event, matches?)]: the forms real logs carry.
CASES = {
    "Sekoia IC - Network traffic to known indicators": [
        ("2001:0db8:0000:0000:0000:0000:0000:beef", True),  # IPv6 written out in full
        ("2001:DB8::BEEF", True), ("45.7.0.99", True), ("198.51.100.126", True),  # inside range indicators
        ("045.007.000.099", True),  # zero-padded, as firewalls print it
        ("198.51.100.200", False), ("10.0.0.5", False), ("8.8.4.4", False), ("2001:db8::beee", False)],
    "Sekoia IC - DNS queries for known indicators": [
        ("EVIL-CASE.Example.ORG.", True),  # mixed case, trailing dot of a fully qualified name
        ("evil-case.example.org", True), ("benign.example.org", False), ("case.example.org", False)],
    "Sekoia IC - Web requests to known indicators": [
        ("HTTP://BAD.example.com/login.php?id=1", True), ("http://bad.example.com/Login.php?id=1", True),
        ("http://bad.example.com/other", False)],
    "Sekoia IC - Known malicious file hashes": [
        (SHA256.upper(), True), (MD5, True), (MD5.upper(), True), ("0" * 64, False)],  # Sysmon logs uppercase
    "Sekoia IC - Email from known indicators": [
        ("PHISH@example.NET", True), ("phish@example.net", True), ("someone@example.net", False)],
}


@pytest.fixture
def synced(configured_splunkd, ic, tmp_path):
    base = stix_data.make_indicator(stix_data.shape_domain, 1).indicator
    for n, pattern in enumerate(PATTERNS):
        ic.publish(stix_data.Generated(dict(base, id=f"indicator--{n:08d}-0000-4000-8000-000000000000",
                                            pattern=pattern), [], []))
    result = run_input(configured_splunkd, tmp_path)
    assert result.returncode == 0, result.stderr
    return configured_splunkd


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_correlation_search_finds_every_match_and_only_those(synced, tmp_path, name):
    assert set(CASES) == set(SAVED)
    args = sekoialookup_args(SAVED[name]["search"])
    field = dict(a.split("=", 1) for a in args if "=" in a)["field"]
    rows = [{field: value, "src": "host-1", "count": "3", "first_seen": "1764000000", "last_seen": "1764000300"}
            for value, _ in CASES[name]]
    process, _, answers = run_command(synced.uri, args, [rows], tmp_path)
    assert process.returncode == 0
    got = [(r[field], r["sekoia_matched"] == "true") for r in answers[0][1]]
    assert got == CASES[name]
