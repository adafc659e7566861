"""STIX indicators -> lookup rows, against the hand-written expectations of the test data."""
from datetime import datetime, timedelta, timezone

import pytest

from sekoia_ic.stix.indicators import Indicator, InvalidIndicator, UnsupportedPattern, parse_time, rows_for
from sekoia_ic.stix.observables import TYPES, InvalidObservable, detect_type, is_public_ip, normalise, row_key
from tests.standins import stix_data

FEED = "feed-1"


@pytest.mark.parametrize("shape", stix_data.SHAPES, ids=lambda s: s.__name__)
def test_every_ic_pattern_shape(shape):
    generated = stix_data.make_indicator(shape, 7)
    rows = rows_for(generated.indicator, FEED)
    got = sorted((r["type"], r["value"], r["hash_type"], r["is_range"]) for r in rows)
    want = sorted((o.type, o.value, o.hash_type, o.is_range) for o in generated.observables)
    assert got == want
    for row in rows:
        assert row["_key"] == row_key(FEED, generated.indicator["id"], row["type"], row["value"])
        assert row["indicator_id"] == generated.indicator["id"]
        assert row["feed_id"] == FEED
        assert row["tlp"] == "green"
        assert row["kill_chain_phases"] == ["command-and-control"]
        assert row["confidence"] == 80
        assert isinstance(row["valid_until"], int) and row["valid_until"] > row["valid_from"]


def test_dates_with_and_without_microseconds():
    assert parse_time("2026-01-02T03:04:05Z") == parse_time("2026-01-02T03:04:05.000000Z") == 1767323045
    assert parse_time("2026-01-02T03:04:05.123Z") == 1767323045
    assert parse_time("2026-01-02T03:04:05.1234567Z") == 1767323045
    assert parse_time(None) is None
    with pytest.raises(InvalidIndicator):
        parse_time("yesterday")


def indicator(pattern, **extra):
    base = stix_data.make_indicator(stix_data.shape_ipv4, 1).indicator
    base = dict(base, pattern=pattern)
    base.update(extra)
    return base


def test_network_traffic_ref_uses_declared_observable_type():
    rows = rows_for(indicator("[network-traffic:dst_ref.value = '77.91.78.118']",
                              x_ic_observable_types=["ipv4-addr"]), FEED)
    assert [(r["type"], r["value"]) for r in rows] == [("ipv4-addr", "77.91.78.118")]


def test_or_of_several_observable_types():
    rows = rows_for(indicator("[ipv4-addr:value = '1.2.3.4' OR domain-name:value = 'A.example.com'] "
                              "OR [url:value = 'http://a.example.com/x']"), FEED)
    assert sorted((r["type"], r["value"]) for r in rows) == [
        ("domain-name", "a.example.com"), ("ipv4-addr", "1.2.3.4"), ("url", "http://a.example.com/x")]


def test_unsupported_and_invalid_patterns():
    with pytest.raises(UnsupportedPattern) as caught:
        rows_for(indicator("[windows-registry-key:key = 'HKLM\\\\Software\\\\x']"), FEED)
    assert "windows-registry-key:key" in caught.value.kind
    with pytest.raises(UnsupportedPattern):
        rows_for(indicator("[file:hashes.SSDEEP = '3:abc:def']"), FEED)
    with pytest.raises(UnsupportedPattern):
        rows_for(indicator("alert tcp any any", pattern_type="snort"), FEED)
    with pytest.raises(InvalidIndicator, match="does not parse"):
        rows_for(indicator("[ipv4-addr:value = '1.2.3.4'"), FEED)
    with pytest.raises(InvalidIndicator):
        rows_for(indicator("[ipv4-addr:value = '1.2.3.4']", id="malware--x"), FEED)
    with pytest.raises(InvalidIndicator):
        rows_for({"type": "indicator"}, FEED)
    with pytest.raises(InvalidIndicator):
        rows_for(indicator("[ipv4-addr:value = '1.2.3.4']", confidence="high"), FEED)
    with pytest.raises(UnsupportedPattern):  # a valid pattern whose only value is not an IP
        rows_for(indicator("[ipv4-addr:value = 'not-an-ip']"), FEED)


def test_is_live():
    now = datetime.now(timezone.utc)
    live = stix_data.make_indicator(stix_data.shape_ipv4, 1, now=now).indicator
    assert Indicator(live).is_live(now.timestamp())
    assert not Indicator(dict(live, revoked=True)).is_live(now.timestamp())
    expired = stix_data.make_indicator(stix_data.shape_ipv4, 1, now=now, created=now - timedelta(days=2),
                                       valid_until=now - timedelta(hours=1))
    assert not Indicator(expired.indicator).is_live(now.timestamp())


def test_one_row_key_per_indicator_and_observable():
    """Two indicators naming one observable get two rows: each can leave without taking the other's."""
    a = rows_for(indicator("[domain-name:value = 'shared.bad-domain.org']", id="indicator--" + "a" * 8 +
                           "-aaaa-4aaa-8aaa-" + "a" * 12), FEED)
    b = rows_for(indicator("[domain-name:value = 'Shared.Bad-Domain.ORG.']", id="indicator--" + "b" * 8 +
                           "-bbbb-4bbb-8bbb-" + "b" * 12), FEED)
    assert a[0]["value"] == b[0]["value"] == "shared.bad-domain.org"
    assert a[0]["_key"] != b[0]["_key"]


@pytest.mark.parametrize("pattern, rows", [
    ("[email-message:sender_ref.value = 'Boss@Example.com']", [("email-addr", "boss@example.com", False)]),
    ("[email-message:from_ref.value = 'a@example.com' OR email-message:sender_ref.value = 'b@example.com']",
     [("email-addr", "a@example.com", False), ("email-addr", "b@example.com", False)]),
    ("[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24']", [("ipv4-addr", "198.51.100.0/24", True)]),
    ("[network-traffic:src_ref.value ISSUBSET '2001:db8::/32']", [("ipv6-addr", "2001:db8::/32", True)]),
    ("[ipv4-addr:value ISSUBSET '203.0.113.0/25']", [("ipv4-addr", "203.0.113.0/25", True)]),
])
def test_more_comparisons_the_lookup_holds(pattern, rows):
    got = sorted((r["type"], r["value"], r["is_range"]) for r in rows_for(indicator(pattern), FEED))
    assert got == sorted(rows)


def test_issubset_of_a_name_is_not_an_address_range():
    with pytest.raises(UnsupportedPattern):
        rows_for(indicator("[network-traffic:dst_ref.value ISSUBSET 'example.com']"), FEED)


@pytest.mark.parametrize("unicode_form, ascii_form", [
    ("bücher-malware.de", "xn--bcher-malware-wob.de"),
    ("пример-вредонос.рф", "xn----dtbgbco2anibbmdcu.xn--p1ai"),
    ("BÜCHER-Malware.DE.", "xn--bcher-malware-wob.de"),
])
def test_internationalised_domains_in_both_forms(unicode_form, ascii_form):
    """UTS 46 (idna package): the feed's form and the event's form, Unicode or punycode, meet on one value."""
    rows = rows_for(indicator(f"[domain-name:value = '{unicode_form}']"), FEED)
    assert [(r["type"], r["value"]) for r in rows] == [("domain-name", ascii_form)]
    assert rows_for(indicator(f"[domain-name:value = '{ascii_form}']"), FEED)[0]["value"] == ascii_form
    from sekoia_ic.enrich.enricher import to_observable
    assert to_observable(unicode_form, "auto") == ("domain-name", ascii_form)
    assert to_observable(ascii_form.upper(), "auto") == ("domain-name", ascii_form)
    assert normalise("email-addr", f"Ops@{unicode_form.rstrip('.')}")[0] == f"ops@{ascii_form}"


@pytest.mark.parametrize("changes", [
    {"name": {"en": "x"}}, {"name": 7}, {"revoked": "false"}, {"valid_until": 1767323045},
    {"valid_from": ["2026-01-01T00:00:00Z"]}, {"confidence": True}, {"kill_chain_phases": "delivery"},
    {"id": "indicator--" + "x" * 200}, {"pattern": ["[ipv4-addr:value = '1.2.3.4']"]},
])
def test_fields_of_the_wrong_type_make_no_row(changes):
    with pytest.raises(InvalidIndicator):
        rows_for(dict(indicator("[ipv4-addr:value = '1.2.3.4']"), **changes), FEED)


def test_values_over_4096_characters_make_no_row():
    long_url = "http://example.com/" + "a" * 5000
    with pytest.raises(UnsupportedPattern):
        rows_for(indicator(f"[url:value = '{long_url}']"), FEED)
    rows = rows_for(indicator(f"[url:value = '{long_url}' OR ipv4-addr:value = '1.2.3.4']"), FEED)
    assert [(r["type"], r["value"]) for r in rows] == [("ipv4-addr", "1.2.3.4")]


def test_normalise_and_detect():
    assert normalise("ipv4-addr", "1.2.3.4/32") == ("1.2.3.4", "", False)
    assert normalise("ipv4-addr", "10.0.0.0/8") == ("10.0.0.0/8", "", True)
    assert normalise("ipv6-addr", "2001:DB8:0::1/128") == ("2001:db8::1", "", False)
    assert normalise("domain-name", "Evil.Example.COM.") == ("evil.example.com", "", False)
    assert normalise("file", "A" * 64) == ("a" * 64, "sha256", False)
    with pytest.raises(ValueError):
        normalise("file", "a" * 63)
    with pytest.raises(ValueError):
        normalise("file", "a" * 32, "sha1")
    assert detect_type("8.8.8.8") == "ipv4-addr"
    assert detect_type("2001:db8::1") == "ipv6-addr"
    assert detect_type("d41d8cd98f00b204e9800998ecf8427e") == "file"
    assert detect_type("https://x.example/a?b") == "url"
    assert detect_type("bob@example.com") == "email-addr"
    assert detect_type("buike.duckdns.org") == "domain-name"
    assert detect_type("not a value") is None
    assert detect_type("") is None and detect_type("x" * 5000) is None
    assert not is_public_ip("10.1.2.3") and not is_public_ip("127.0.0.1") and not is_public_ip("fe80::1")
    assert is_public_ip("77.91.78.118")


def test_synthetic_feed_items_are_valid_stix_with_their_rows():
    """The benchmarks' generated feed must look like the real one."""
    import stix2
    for n in range(0, 48, 5):
        indicator, observables = stix_data.synthetic_indicator(n)
        stix2.parse(indicator, allow_custom=True)  # raises on invalid STIX 2.1
        rows = rows_for(indicator, FEED)
        assert sorted((r["type"], r["value"]) for r in rows) == sorted((o.type, o.value) for o in observables)



ODD_EVENT_VALUES = [
    "8.8.8.8", " 8.8.8.8\t", "8.8.8.8.", "08.8.8.8", "8.8.8.08", "010.001.002.003", "0.0.0.0", "255.255.255.255",
    "256.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.4/32", "1.2.3.4/24", "1.2.3.4/33", "1.2.3.04/24", "1.2.3.4 5",
    "\uff11.2.3.4", "1.2.3.\u0664", "8.8.8.\x008", "0x7f.0.0.1", "127.1", "1e3", "12345", "-1.2.3.4",
    "::1", "::ffff:1.2.3.4", "2001:DB8::0:1", "2001:db8::/32", "2001:db8::1/128", "fe80::1%eth0", "[::1]",
    "Evil.Example.COM", "evil.example.com.", "b\u00fccher.de", "xn--bcher-kva.de", "a..b", "-a.com", "localhost",
    "D41D8CD98F00B204E9800998ECF8427E", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "e3b0" * 16, "abc123",
    "http://Evil.com/A?b=1", "hxxp://evil.com", "http://[::1", "user@Example.COM", "a@b", "invoice.zip",
    "C:\\Temp\\a.exe", "", " ", "x" * 4097, "1.2.3.4" + " " * 5000,
]


@pytest.mark.parametrize("wanted", ("auto",) + TYPES)
def test_event_values_become_the_observables_the_library_path_gives(wanted):
    """to_observable's fast paths (a canonical dotted quad as it is, one ipaddress parse for any address) give
    what detect_type() and normalise() give, for odd values of every kind."""
    from sekoia_ic.enrich.enricher import to_observable

    def reference(raw):
        text = raw.strip()
        obs_type = wanted if wanted != "auto" else detect_type(text)
        if obs_type is None:
            return None
        try:
            return obs_type, normalise(obs_type, text)[0]
        except InvalidObservable:
            return None

    for raw in ODD_EVENT_VALUES:
        assert to_observable(raw, wanted) == reference(raw), raw


def test_event_values_to_observables():
    from sekoia_ic.enrich.enricher import to_observable
    assert to_observable(" 8.8.8.8 ", "auto") == ("ipv4-addr", "8.8.8.8")
    assert to_observable("8.8.8.8", "ipv4-addr") == ("ipv4-addr", "8.8.8.8")
    assert to_observable("8.8.8.8", "ipv6-addr") is None
    assert to_observable("8.8.8.8", "domain-name") is None
    assert to_observable("2001:DB8::0:1", "auto") == ("ipv6-addr", "2001:db8::1")
    assert to_observable("01.2.3.4", "auto") == ("ipv4-addr", "1.2.3.4")  # zero-padded: decimal, as logs pad
    assert to_observable("999.1.1.1", "auto") is None  # all-numeric: neither an address nor a domain
    assert to_observable("Evil.Example.COM", "auto") == ("domain-name", "evil.example.com")
    assert to_observable("D41D8CD98F00B204E9800998ECF8427E", "auto") == ("file", "d41d8cd98f00b204e9800998ecf8427e")
    assert to_observable("x", "url") == ("url", "x")
    assert to_observable("not a domain", "auto") is None
    assert to_observable("8.8.8.\x008", "auto") is None  # an embedded NUL: no value, not an error for the chunk
    assert to_observable("http://[::1", "auto") is None  # urlsplit refuses it: no value, not an error either
    assert to_observable("http://[::1", "url") == ("url", "http://[::1")
