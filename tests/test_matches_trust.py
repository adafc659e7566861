"""Matches an analyst can trust, through the real bin/sekoialookup.py against the splunkd and IC stand-ins: each
indicator with its own values, no expired or revoked match in any mode, type-aware matching, the allowlist."""
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from sekoia_ic.stix.indicators import rows_for
from tests.chunked import messages, run_command
from tests.standins import stix_data
from tests.standins.ic_api import DEFAULT_FEED_ID

IP = "77.91.0.8"  # stix_data.shape_ipv4(7)
NOW = datetime.now(timezone.utc)


def in_lookup(splunkd, *generated):
    for g in generated:
        for row in rows_for(g.indicator, DEFAULT_FEED_ID):
            splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")


def records_of(answers):
    return [r for _, chunk in answers for r in chunk]


def lookup(splunkd, tmp_path, args, values, field="v"):
    process, _, answers = run_command(splunkd.uri, [f"field={field}", *args], [[{field: v} for v in values]],
                                      tmp_path)
    assert process.returncode == 0 and b"Traceback" not in process.stderr
    return records_of(answers), messages(answers)


def objects(record):
    value = record.get("sekoia_indicators", [])
    return [json.loads(v) for v in (value if isinstance(value, list) else [value])]


@pytest.fixture
def three(configured_splunkd, ic):
    """Three indicators naming one IP: two share a name; confidence, TLP, kill chain and threats all differ."""
    sinkhole = stix_data.make_indicator(stix_data.shape_ipv4, 7, variant="a", name="Sinkhole", confidence=20,
                                        tlp="white", kill_chain=("reconnaissance",), threats=[],
                                        modified=NOW - timedelta(days=3))
    ransom = stix_data.make_indicator(stix_data.shape_ipv4, 7, variant="b", name="C2 server", confidence=90,
                                      tlp="red", kill_chain=("command-and-control", "actions-on-objectives"),
                                      threats=[stix_data.make_threat(71)], modified=NOW - timedelta(days=1))
    botnet = stix_data.make_indicator(stix_data.shape_ipv4, 7, variant="c", name="C2 server", confidence=60,
                                      tlp="amber", kill_chain=("delivery",),
                                      threats=[stix_data.make_threat(72, "intrusion-set")],
                                      modified=NOW - timedelta(days=2))
    ic.publish_all([sinkhole, ransom, botnet])
    in_lookup(configured_splunkd, sinkhole, ransom, botnet)
    return {"sinkhole": sinkhole, "ransom": ransom, "botnet": botnet}


def expected(three, name, source, with_threats):
    g = three[name]
    threats = {"sinkhole": [], "ransom": ["TestRAT-71"], "botnet": ["APT-Test-72"]}[name]
    return {"id": g.indicator["id"], "name": g.indicator["name"], "type": "ipv4-addr", "value": IP,
            "confidence": g.indicator["confidence"], "tlp": {"sinkhole": "white", "ransom": "red",
                                                             "botnet": "amber"}[name],
            "kill_chain_phases": sorted(p["phase_name"] for p in g.indicator["kill_chain_phases"]),
            "threats": threats if with_threats else [], "sources": ["SEKOIA.IO"] if with_threats else [],
            "source": source}


@pytest.mark.parametrize("mode, source", [("local", "local"), ("both", "both"), ("api", "api")])
def test_each_indicator_carries_its_own_values(configured_splunkd, three, tmp_path, mode, source):
    [record], _ = lookup(configured_splunkd, tmp_path, [f"mode={mode}"], [IP])
    got = [{k: sorted(v) if k == "kill_chain_phases" else v for k, v in o.items() if k != "valid_until"}
           for o in objects(record)]
    assert got == [expected(three, n, source, mode != "local") for n in ("ransom", "botnet", "sinkhole")]
    assert all(o["valid_until"] > time.time() for o in objects(record))
    # The flat fields stay a summary over all three.
    assert record["sekoia_matched"] == "true" and record["sekoia_confidence"] == "90"
    assert set(record["sekoia_tlp"]) == {"red", "amber", "white"}
    assert record["sekoia_indicator_name"] == ["C2 server", "Sinkhole"]


def test_per_indicator_rows_attribute_nothing_across_indicators(configured_splunkd, three, tmp_path):
    """What the correlation macro's `stats ... by sekoia_indicator_id` reads: one row per indicator, each with
    only its own name, confidence, TLP, kill chain and threats."""
    records, _ = lookup(configured_splunkd, tmp_path, ["mode=both", "per_indicator=true"],
                        [IP, "8.8.8.8"], field="dest_ip")
    rows = {r["sekoia_indicator_id"]: r for r in records if r["sekoia_matched"] == "true"}
    assert len(records) == 4 and len(rows) == 3
    ransom = rows[three["ransom"].indicator["id"]]
    assert (ransom["sekoia_indicator_name"], ransom["sekoia_confidence"], ransom["sekoia_tlp"]) == \
        ("C2 server", "90", "red")
    assert sorted(ransom["sekoia_kill_chain_phases"]) == ["actions-on-objectives", "command-and-control"]
    assert ransom["sekoia_threats"] == "TestRAT-71" and ransom["sekoia_source"] == "both"
    assert ransom["sekoia_value"] == IP and ransom["sekoia_type"] == "ipv4-addr" and ransom["dest_ip"] == IP
    sinkhole = rows[three["sinkhole"].indicator["id"]]
    assert (sinkhole["sekoia_confidence"], sinkhole["sekoia_tlp"], sinkhole["sekoia_kill_chain_phases"]) == \
        ("20", "white", "reconnaissance")
    assert sinkhole.get("sekoia_threats", "") == ""  # never the co-matching indicators' threats
    botnet = rows[three["botnet"].indicator["id"]]
    assert botnet["sekoia_threats"] == "APT-Test-72" and botnet["sekoia_confidence"] == "60"
    unmatched = [r for r in records if r["sekoia_matched"] == "false"]
    assert [r["dest_ip"] for r in unmatched] == ["8.8.8.8"] and unmatched[0]["sekoia_value"] == "8.8.8.8"


# ---------------------------------------------------------------------------------------------- live only
@pytest.mark.parametrize("mode", ["both", "api"])
def test_an_indicator_the_ic_says_is_revoked_is_no_match_though_the_lookup_holds_it(configured_splunkd, ic, three,
                                                                                    tmp_path, mode):
    revoked = stix_data.make_indicator(stix_data.shape_ipv4, 7, variant="b", name="C2 server", revoked=True)
    ic.publish(revoked)  # the IC knows; the next feed run has not happened yet
    [record], _ = lookup(configured_splunkd, tmp_path, [f"mode={mode}"], [IP])
    ids = [o["id"] for o in objects(record)]
    assert three["ransom"].indicator["id"] not in ids and len(ids) == 2
    assert record["sekoia_inactive_indicator_id"] == three["ransom"].indicator["id"]
    assert record["sekoia_inactive_reason"] == "revoked"


@pytest.mark.parametrize("mode", ["both", "api"])
def test_an_indicator_the_ic_says_is_expired_is_no_match(configured_splunkd, ic, tmp_path, mode):
    expired = stix_data.make_indicator(stix_data.shape_ipv4, 7, valid_until=NOW - timedelta(hours=1))
    live = stix_data.make_indicator(stix_data.shape_ipv4, 7, valid_until=NOW + timedelta(hours=1))
    in_lookup(configured_splunkd, live)  # the lookup still has the version from before it expired
    ic.publish(expired)
    [record], _ = lookup(configured_splunkd, tmp_path, [f"mode={mode}"], [IP])
    assert record["sekoia_matched"] == "false" and "sekoia_indicators" not in record
    assert record["sekoia_inactive_reason"] == "expired"


@pytest.mark.parametrize("mode", ["local", "both"])
def test_a_lookup_row_past_its_valid_until_is_no_match(configured_splunkd, ic, tmp_path, mode):
    """The lookup keeps a row until the next feed run purges it: the command says it is over first."""
    gone = stix_data.make_indicator(stix_data.shape_ipv4, 7, valid_until=NOW - timedelta(minutes=5))
    ic.publish(gone)
    in_lookup(configured_splunkd, gone)
    [record], _ = lookup(configured_splunkd, tmp_path, [f"mode={mode}"], [IP])
    assert record["sekoia_matched"] == "false" and record["sekoia_inactive_reason"] == "expired"
    assert not ic.calls("/indicators/context")  # nothing live to ask about


# ---------------------------------------------------------------------------------------------- types
def test_a_filename_indicator_never_matches_a_domain(configured_splunkd, ic, tmp_path):
    indicator = {"type": "indicator", "id": "indicator--6a1b9c3e-0d1f-4c55-9a0e-3b1f2f3f4a5b",
                 "pattern": "[file:name = 'invoice.zip']", "pattern_type": "stix", "name": "Invoice dropper",
                 "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
                 "modified": "2026-01-02T00:00:00Z", "confidence": 70}
    for row in rows_for(indicator, DEFAULT_FEED_ID):
        configured_splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")
    dns, _ = lookup(configured_splunkd, tmp_path, ["mode=local", "type=domain-name"], ["invoice.zip"], "query")
    auto, _ = lookup(configured_splunkd, tmp_path, ["mode=local"], ["invoice.zip"], "query")
    files, _ = lookup(configured_splunkd, tmp_path, ["mode=local", "type=filename"], ["Invoice.ZIP"], "file_name")
    assert dns[0]["sekoia_matched"] == "false" and auto[0]["sekoia_matched"] == "false"
    assert files[0]["sekoia_matched"] == "true" and objects(files[0])[0]["type"] == "filename"


# ---------------------------------------------------------------------------------------------- allowlist
ENTRIES = [
    {"_key": "1", "type": "domain-name", "value": "allowed.example", "expires": 0, "reason": "ours"},
    {"_key": "2", "type": "ipv6-addr", "value": "2001:db8::7", "expires": 0},
    {"_key": "3", "type": "domain-name", "value": "was-allowed.example", "expires": 1},  # long expired
    {"_key": "4", "type": "ipv4-addr", "value": IP, "expires": 4102444800},
]


@pytest.fixture
def listed(configured_splunkd, ic):
    """Lookup rows for the values the allowlist names (and one it does not), and the allowlist itself."""
    for value, obs_type in (("allowed.example", "domain-name"), ("was-allowed.example", "domain-name"),
                            ("2001:db8::7", "ipv6-addr")):
        indicator = {"type": "indicator", "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, value)}",
                     "pattern": f"[{obs_type}:value = '{value}']", "pattern_type": "stix", "name": value,
                     "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
                     "modified": "2026-01-02T00:00:00Z"}
        for row in rows_for(indicator, DEFAULT_FEED_ID):
            configured_splunkd.kv["sekoia_ic_indicators"][row["_key"]] = dict(row, _user="nobody")
    sinkhole = stix_data.make_indicator(stix_data.shape_ipv4, 7)
    ic.publish(sinkhole)
    in_lookup(configured_splunkd, sinkhole)
    for entry in ENTRIES:
        configured_splunkd.kv["sekoia_ic_allowlist"][entry["_key"]] = dict(entry, _user="nobody")


@pytest.mark.parametrize("value, allowlisted", [
    ("allowed.example", True), ("ALLOWED.Example.", True),  # mixed case, trailing dot: the same match key
    ("2001:0db8:0000:0000:0000:0000:0000:0007", True),  # IPv6 written out
    ("was-allowed.example", False),  # its entry expired: a match again
    (IP, True),
])
@pytest.mark.parametrize("mode", ["local", "both", "api"])
def test_allowlisted_values_are_no_match_and_ask_nothing(configured_splunkd, ic, listed, tmp_path, value,
                                                         allowlisted, mode):
    [record], said = lookup(configured_splunkd, tmp_path, [f"mode={mode}"], [value])
    if allowlisted:
        assert record["sekoia_matched"] == "false" and record["sekoia_allowlisted"] == "true"
        assert "sekoia_indicators" not in record and not ic.calls("/indicators/context")
    else:
        assert "sekoia_allowlisted" not in record
        assert record["sekoia_matched"] == ("true" if mode != "api" else "false")  # the IC does not know it
    assert [t for level, t in said if level != "INFO"] == []


def test_an_unreadable_allowlist_is_said_once_and_the_events_pass(configured_splunkd, listed, tmp_path):
    configured_splunkd.inject_failure(r"data/sekoia_ic_allowlist", status=503, message="KV busy", times=5)
    records, said = lookup(configured_splunkd, tmp_path, ["mode=local"], ["allowed.example", IP, "8.8.8.8"])
    assert [r["v"] for r in records] == ["allowed.example", IP, "8.8.8.8"]
    warnings = [t for level, t in said if level != "INFO"]
    assert len(warnings) == 1 and "sekoia_ic_allowlist could not be read" in warnings[0] and "503" in warnings[0]


def test_bad_allowlist_entries_have_no_effect_and_are_said(configured_splunkd, listed, tmp_path):
    configured_splunkd.kv["sekoia_ic_allowlist"]["9"] = {"_key": "9", "type": "ipv4-addr", "value": "8.8.8.8",
                                                         "expires": "tomorrow", "_user": "nobody"}
    [record], said = lookup(configured_splunkd, tmp_path, ["mode=local"], ["8.8.8.8"])
    assert "sekoia_allowlisted" not in record
    assert any("1 allowlist entries" in t for level, t in said if level != "INFO")


def test_a_malformed_ic_answer_matches_nothing_wrongly(configured_splunkd, ic, three, tmp_path):
    ic.malformed(times=5, path="/indicators/context", body='{"items": [{"type": "bundle", "objects": 7}]}')
    [record], said = lookup(configured_splunkd, tmp_path, ["mode=api"], [IP])
    assert record["sekoia_matched"] == "false" and "unexpected shape" in record["sekoia_error"]
