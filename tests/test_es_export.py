"""The export to Enterprise Security: the real bin/sekoia_ic_feed.py runs against the IC and splunkd stand-ins,
and each of the five CSV lookups that splunkd then holds is compared byte for byte with the file expected from
the indicators published (new, revoked, allowlisted, CIDR, IDN, quoting, values ES cannot hold)."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import stix2
from splunklib import client

from sekoia_ic.feed import es_export
from sekoia_ic.splunk.es_settings import EsSettings
from sekoia_ic.stix.observables import row_key
from tests.conftest import SESSION_KEY
from tests.modinput import checkpoint, run_input
from tests.standins.ic_api import DEFAULT_FEED_ID
from tests.standins.stix_data import SEKOIA_IDENTITY, TLP, Generated, stamp

NOW = datetime.now(timezone.utc)
HEADERS = {"ip": "description,ip,weight", "domain": "description,domain,weight",
           "http": "description,http_referrer,http_user_agent,url,weight",
           "file": "description,file_hash,file_name,weight", "email": "description,src_user,subject,weight"}
LONG_URL = "http://long.example/" + "a" * 3000
SHA256 = "ab" * 32


def indicator(n, pattern, types, name, confidence=80, tlp="amber", revoked=False, valid_until=None):
    ident = f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, f'es-export-{n}')}"
    fields = dict(id=ident, name=name, pattern=pattern, pattern_type="stix", valid_from=stamp(NOW - timedelta(days=1)),
                  valid_until=stamp(valid_until or NOW + timedelta(days=30)), created=stamp(NOW - timedelta(days=1)),
                  modified=stamp(NOW - timedelta(seconds=n)), revoked=revoked, indicator_types=["malicious-activity"],
                  kill_chain_phases=[{"kill_chain_name": "lockheed-martin-cyber-kill-chain",
                                      "phase_name": "command-and-control"},
                                     {"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "delivery"}],
                  object_marking_refs=[TLP[tlp].id], created_by_ref=SEKOIA_IDENTITY.id, allow_custom=True,
                  x_ic_observable_types=types)
    if confidence is not None:
        fields["confidence"] = confidence
    return Generated(json.loads(stix2.Indicator(**fields).serialize()), [], [])


def q(text):
    """A CSV cell per RFC 4180: quoted when it holds a comma, a quote or a line break, quotes doubled."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


FEED = {
    "quoted": indicator(1, "[ipv4-addr:value = '198.51.100.7']", ["ipv4-addr"], 'C2 "alpha", stage 1'),
    "cidr": indicator(2, "[ipv4-addr:value = '203.0.113.0/24']", ["ipv4-addr"], "Scanner range", confidence=None,
                      tlp="green"),
    "idn": indicator(3, "[domain-name:value = 'Bücher.example']", ["domain-name"], "IDN phishing", confidence=100),
    "url": indicator(4, "[url:value = 'http://Evil.example/Path?a=1,b=2']", ["url"], "Payload URL", confidence=0),
    "long": indicator(5, f"[url:value = '{LONG_URL}']", ["url"], "Too long for ES"),
    "file": indicator(6, f"[file:hashes.'SHA-256' = '{SHA256.upper()}' OR file:name = 'Invoice.exe']", ["file"],
                      "Dropper"),
    "email": indicator(7, "[email-addr:value = 'Bad@Example.org']", ["email-addr"], "Phisher", tlp="red"),
    "ipv6": indicator(8, "[ipv6-addr:value = '2001:db8::5']", ["ipv6-addr"], "IPv6 C2"),
    "allowlisted": indicator(9, "[domain-name:value = 'good.example']", ["domain-name"], "Sinkhole"),
    "revoked": indicator(10, "[domain-name:value = 'revoked.example']", ["domain-name"], "Gone", revoked=True),
}


def desc(key, confidence=80, tlp="amber"):
    generated = FEED[key]
    text = (f"Sekoia.io: {generated.indicator['name']} ({generated.indicator['id']}); kill chain: "
            f"command-and-control, delivery; TLP: {tlp}")
    return text + (f"; confidence: {confidence}" if confidence is not None else "")


def csv_text(es_type, rows):
    """The expected file: ES's header, then the rows in the lookup's _key order (docs/design.md, "The lookup"),
    each given as (indicator key, row type, normalised value, its line)."""
    ordered = sorted(rows, key=lambda r: row_key(DEFAULT_FEED_ID, FEED[r[0]].indicator["id"], r[1], r[2]))
    return "".join([HEADERS[es_type] + "\n"] + [r[3] + "\n" for r in ordered])


def expected(ipv6=False, without=()):
    ip_rows = [("quoted", "ipv4-addr", "198.51.100.7", f"{q(desc('quoted'))},198.51.100.7,80"),
               ("cidr", "ipv4-addr", "203.0.113.0/24", f"{q(desc('cidr', None, 'green'))},203.0.113.0/24,60")]
    if ipv6:
        ip_rows.append(("ipv6", "ipv6-addr", "2001:db8::5", f"{q(desc('ipv6'))},2001:db8::5,80"))
    files = {
        "ip": ip_rows,
        "domain": [("idn", "domain-name", "xn--bcher-kva.example",
                    f"{q(desc('idn', 100))},xn--bcher-kva.example,100")],
        "http": [("url", "url", "http://evil.example/path?a=1,b=2",
                  f'{q(desc("url", 0))},,,"http://Evil.example/Path?a=1,b=2",1')],
        "file": [("file", "file", SHA256, f"{q(desc('file'))},{SHA256},,80"),
                 ("file", "filename", "invoice.exe", f"{q(desc('file'))},,Invoice.exe,80")],
        "email": [("email", "email-addr", "bad@example.org", f"{q(desc('email', 80, 'red'))},bad@example.org,,80")],
    }
    return {t: csv_text(t, [r for r in rows if r[0] not in without]) for t, rows in files.items()}


def lookups(splunkd):
    return {t: splunkd.lookup_file(f"sekoia_ic_es_{t}.csv") for t in HEADERS}


def service_for(splunkd):
    return client.Service(scheme="http", host="127.0.0.1", port=splunkd.port, token=SESSION_KEY, owner="nobody",
                          app="sekoia_ic")


def allow(splunkd, obs_type, value):
    service_for(splunkd).kvstore["sekoia_ic_allowlist"].data.batch_save(
        {"_key": value, "type": obs_type, "value": value, "expires": 0, "reason": "test"})


def test_off_by_default_the_lookups_stay_header_only(configured_splunkd, ic, tmp_path):
    ic.publish_all(FEED.values())
    result = run_input(configured_splunkd, tmp_path)
    assert result.returncode == 0, result.stderr
    assert lookups(configured_splunkd) == {t: h + "\n" for t, h in HEADERS.items()}
    assert configured_splunkd.count(path_pattern="lookup-table-files") == 0
    assert checkpoint(configured_splunkd).get("es_export_status") is None


def test_each_run_writes_exactly_the_live_non_allowlisted_indicators(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    splunkd.set_conf("sekoia_ic", "es", enabled="true")
    allow(splunkd, "domain-name", "good.example")
    ic.publish_all(FEED.values())
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 0, result.stderr
    assert lookups(splunkd) == expected()
    row = checkpoint(splunkd)
    assert row["es_export_status"] == "ok" and row["es_export_error"] == ""
    assert row["es_export_rows"] == 7
    assert row["es_export_skipped"] == 3  # the over-long URL, the IPv6 address (ipv6 off), the allowlisted domain
    assert not list(splunkd.staging_area().iterdir())  # splunkd took every staged file

    # Next run: one indicator revoked, IPv6 turned on.
    revoked = indicator(1, "[ipv4-addr:value = '198.51.100.7']", ["ipv4-addr"], 'C2 "alpha", stage 1', revoked=True)
    revoked.indicator["modified"] = stamp(NOW)
    ic.publish(revoked)
    splunkd.set_conf("sekoia_ic", "es", ipv6="true")
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 0, result.stderr
    assert lookups(splunkd) == expected(ipv6=True, without=("quoted",))


def test_a_failed_export_leaves_the_lookups_and_the_cursor_and_is_retried(configured_splunkd, ic, tmp_path):
    splunkd = configured_splunkd
    splunkd.set_conf("sekoia_ic", "es", enabled="true")
    allow(splunkd, "domain-name", "good.example")
    ic.publish_all(FEED.values())
    splunkd.inject_failure(r"lookup-table-files/sekoia_ic_es_domain\.csv", status=500, message="disk full")
    result = run_input(splunkd, tmp_path)
    assert result.returncode == 0, result.stderr  # the sync itself went well
    files = lookups(splunkd)
    assert files["ip"] == expected()["ip"]  # replaced before the failure: whole
    assert all(files[t] == HEADERS[t] + "\n" for t in ("domain", "http", "file", "email"))  # untouched
    row = checkpoint(splunkd)
    assert row["es_export_status"] == "error" and "disk full" in row["es_export_error"]
    cursor = row["cursor"]
    assert row["last_success"] and cursor
    assert not list(splunkd.staging_area().iterdir())  # nothing left behind

    result = run_input(splunkd, tmp_path)  # retried
    assert result.returncode == 0, result.stderr
    assert lookups(splunkd) == expected()
    assert checkpoint(splunkd)["es_export_status"] == "ok" and checkpoint(splunkd)["cursor"] == cursor

    # Turned off: the next run empties the lookups once, then leaves them alone.
    splunkd.set_conf("sekoia_ic", "es", enabled="false")
    run_input(splunkd, tmp_path)
    assert lookups(splunkd) == {t: h + "\n" for t, h in HEADERS.items()}
    assert checkpoint(splunkd)["es_export_status"] == "off"
    before = splunkd.count(path_pattern="lookup-table-files")
    run_input(splunkd, tmp_path)
    assert splunkd.count(path_pattern="lookup-table-files") == before


def test_rows_expired_since_the_sync_confidence_types_and_the_cap(configured_splunkd, ic, tmp_path, monkeypatch):
    """export() itself: rows whose valid_until passed after the sync are left out (ES never reads valid_until);
    min_confidence, types and max_rows as the [es] stanza says."""
    splunkd = configured_splunkd
    ic.publish_all(FEED.values())
    assert run_input(splunkd, tmp_path).returncode == 0
    monkeypatch.setenv("SPLUNK_HOME", str(tmp_path))
    service = service_for(splunkd)
    later = (NOW + timedelta(days=31)).timestamp()
    job = es_export.export(service, EsSettings(enabled=True), now=later)
    assert sum(job.rows.values()) == 0 and job.skipped["expired"] == 10
    assert lookups(splunkd) == {t: h + "\n" for t, h in HEADERS.items()}

    job = es_export.export(service, EsSettings(enabled=True, types=("ip", "domain"), max_rows=1))
    assert job.rows == {"ip": 1, "domain": 1} and job.skipped["over_cap"] == 2  # good.example: not allowlisted here
    assert job.skipped["ipv6_off"] == 1
    assert lookups(splunkd)["http"] == HEADERS["http"] + "\n"  # a type not chosen is emptied
    assert lookups(splunkd)["ip"].count("\n") == 2

    job = es_export.export(service, EsSettings(enabled=True, min_confidence=81))
    assert sum(job.rows.values()) == 1 and job.skipped["below_confidence"] == 9  # only the IDN domain has 100


def test_weight_description_and_usable_values():
    assert [es_export.weight(c) for c in (None, "", 0, 1, 55, 100, 150, -3, "70", "x", True)] == \
        [60, 60, 1, 1, 55, 100, 100, 1, 70, 60, 60]
    row = {"indicator_name": "line\nbreak,\r\ttabs", "indicator_id": "indicator--1", "kill_chain_phases": "delivery",
           "tlp": "", "confidence": None}
    assert es_export.description(row) == "Sekoia.io: line break, tabs (indicator--1); kill chain: delivery"
    assert not es_export.usable("a\nb") and not es_export.usable("") and not es_export.usable(None)
    assert not es_export.usable("x" * 2049) and es_export.usable("x" * 2048) and es_export.usable("bücher.de")
