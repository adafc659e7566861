"""STIX 2.1 test data in the shapes the Sekoia.io IC serves (docs/design.md, "The IC API"), built and validated
with the stix2 package (which checks every pattern with stix2-patterns).

Each indicator comes with the rows the app must derive from it, written out by hand here: an oracle that does
not share code with the app's pattern parser.
"""
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import stix2

TLP = {"white": stix2.TLP_WHITE, "green": stix2.TLP_GREEN, "amber": stix2.TLP_AMBER, "red": stix2.TLP_RED}
SEKOIA_IDENTITY = stix2.Identity(id="identity--357447d7-9229-4ce1-b7fa-f1b83587048e", name="SEKOIA.IO",
                                 identity_class="organization",
                                 created="2008-01-01T00:00:00.000Z", modified="2008-01-01T00:00:00.000Z")
_counter = itertools.count(1)


def utc(dt):
    return dt.astimezone(timezone.utc)


def stamp(dt, micro=True):
    """IC dates come with or without microseconds, always UTC."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Observable:
    """One row the app must produce: type, normalised value, and hash_type for files."""
    type: str
    value: str
    hash_type: str = ""
    is_range: bool = False


@dataclass
class Generated:
    indicator: dict
    observables: list
    related: list = field(default_factory=list)  # threats, relationships, identities for the context bundle


def _hexid(n, size):
    return uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex.ljust(size, "a")[:size]


def hashes_for(n):
    base = (uuid.uuid5(uuid.NAMESPACE_DNS, f"file{n}").hex * 4)
    return {"MD5": base[:32], "SHA-1": base[:40], "SHA-256": base[:64], "SHA-512": base[:128]}


# Pattern shapes seen in the IC (docs/design.md, "The IC API"), each a function of a sequence number -> (pattern, observable types,
# expected rows).
def shape_ipv4(n):
    ip = f"77.91.{(n // 250) % 250}.{n % 250 + 1}"
    return f"[ipv4-addr:value = '{ip}']", ["ipv4-addr"], [Observable("ipv4-addr", ip)]


def shape_ipv4_cidr32_or(n):
    a, b = f"198.51.{(n // 250) % 250}.{n % 250 + 1}", f"203.0.{(n // 250) % 250}.{n % 250 + 1}"
    return (f"[ipv4-addr:value = '{a}/32' OR ipv4-addr:value = '{b}/32']", ["ipv4-addr"],
            [Observable("ipv4-addr", a), Observable("ipv4-addr", b)])


def shape_ipv4_range(n):
    net = f"45.{n % 250}.{(n // 250) % 250}.0/24"
    return f"[ipv4-addr:value = '{net}']", ["ipv4-addr"], [Observable("ipv4-addr", net, is_range=True)]


def shape_ipv6(n):
    ip = f"2001:db8::{n % 65535:x}"
    return f"[ipv6-addr:value = '{ip}/128']", ["ipv6-addr"], [Observable("ipv6-addr", ip)]


def shape_file_hashes(n):
    h = hashes_for(n)
    pattern = (f"[file:hashes.'SHA-256' = '{h['SHA-256'].upper()}' OR file:hashes.MD5 = '{h['MD5']}' "
               f"OR file:hashes.'SHA-1' = '{h['SHA-1']}']")
    return pattern, ["file"], [Observable("file", h["SHA-256"], "sha256"), Observable("file", h["MD5"], "md5"),
                               Observable("file", h["SHA-1"], "sha1")]


def shape_sha512(n):
    h = hashes_for(n)["SHA-512"]
    return f"[file:hashes.'SHA-512' = '{h}']", ["file"], [Observable("file", h, "sha512")]


def shape_duckdns(n):
    domain = f"Buike{n}.DuckDNS.org"
    return (f"[network-traffic:dst_ref.value = '{domain}']", ["domain-name"],
            [Observable("domain-name", domain.lower())])


def shape_domain_port(n):
    domain = f"x{n}.org"
    return (f"[network-traffic:dst_ref.value = '{domain}' AND network-traffic:dst_port = 30303]", ["domain-name"],
            [Observable("domain-name", domain)])


def shape_domain(n):
    domain = f"evil-{n}.example.com"
    return f"[domain-name:value = '{domain}']", ["domain-name"], [Observable("domain-name", domain)]


def shape_url(n):
    url = f"http://evil-{n}.example.com/Path/Login.php?id={n}&x='y'"
    escaped = url.replace("\\", "\\\\").replace("'", "\\'")
    return f"[url:value = '{escaped}']", ["url"], [Observable("url", url.lower())]  # the match key: lowercase


def shape_email(n):
    email = f"phish{n}@example.net"
    return f"[email-addr:value = '{email}']", ["email-addr"], [Observable("email-addr", email)]


def shape_filename(n):
    name = f"Invoice_{n}.pdf.exe"
    return f"[filename:value = '{name}']", ["filename"], [Observable("filename", name.lower())]


SHAPES = [shape_ipv4, shape_ipv4_cidr32_or, shape_file_hashes, shape_duckdns, shape_domain_port, shape_url,
          shape_email, shape_filename, shape_ipv6, shape_sha512, shape_domain, shape_ipv4_range]


def make_threat(n, kind="malware"):
    if kind == "intrusion-set":
        return stix2.IntrusionSet(name=f"APT-Test-{n}", created_by_ref=SEKOIA_IDENTITY.id)
    return stix2.Malware(name=f"TestRAT-{n}", is_family=True, malware_types=["remote-access-trojan"],
                         created_by_ref=SEKOIA_IDENTITY.id)


def make_source(n):
    return stix2.Identity(name=f"Source {n}", identity_class="organization")


def make_indicator(shape, n, now=None, valid_days=90, revoked=False, tlp="green", micro=True, threats=None,
                   sources=None, confidence=80, created=None, valid_until=None, name=None, variant="",
                   kill_chain=("command-and-control",), modified=None):
    """An IC indicator of the given shape with its expected rows and related objects. Another `variant` of the
    same shape and n is another indicator naming the same observables (feeds overlap: one IP in several lists)."""
    now = now or datetime.now(timezone.utc)
    pattern, observable_types, observables = shape(n)
    created = created or now - timedelta(days=1)
    valid_from = created
    if valid_until is None:
        valid_until = now + timedelta(days=valid_days)
    threats = threats if threats is not None else [make_threat(n)]
    sources = sources if sources is not None else [SEKOIA_IDENTITY]
    indicator = stix2.Indicator(
        id=f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, f'ind{n}-{shape.__name__}{variant}')}",
        name=name or observables[0].value[:80], pattern=pattern, pattern_type="stix",
        valid_from=stamp(valid_from, micro), valid_until=stamp(valid_until, micro),
        created=stamp(created, micro), modified=stamp(modified or now - timedelta(seconds=1), micro),
        revoked=revoked, confidence=confidence, indicator_types=["malicious-activity"],
        kill_chain_phases=[{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": phase}
                           for phase in kill_chain],
        object_marking_refs=[TLP[tlp].id], created_by_ref=SEKOIA_IDENTITY.id,
        allow_custom=True,
        x_ic_observable_types=observable_types, x_inthreat_sources_refs=[s.id for s in sources],
        x_ic_deprecated=False, x_ic_is_in_flint=False, x_ic_impacted_sectors=[], x_ic_impacted_locations=[],
        x_ic_external_refs=[])
    related = list(threats) + list(sources) + [TLP[tlp]]
    for threat in threats:
        related.append(stix2.Relationship(source_ref=indicator.id, target_ref=threat.id, relationship_type="indicates",
                                          created_by_ref=SEKOIA_IDENTITY.id))
    return Generated(as_dict(indicator), observables, [as_dict(o) for o in related])


def as_dict(stix_object):
    import json
    return json.loads(stix_object.serialize())


def revise(generated, now=None, **changes):
    """A new version of an indicator (same id, later `modified`), e.g. revoked=True or a new pattern."""
    now = now or datetime.now(timezone.utc)
    indicator = dict(generated.indicator)
    indicator.update(changes)
    indicator["modified"] = stamp(now)
    # Round-trip through stix2 so that a revision is still valid STIX 2.1.
    checked = stix2.parse(indicator, allow_custom=True)
    return Generated(as_dict(checked), generated.observables, generated.related)


def make_feed(count, now=None, shapes=SHAPES, **kwargs):
    """`count` indicators cycling through the shapes, with unique values."""
    return [make_indicator(shapes[i % len(shapes)], i, now=now, micro=bool(i % 2), **kwargs) for i in range(count)]


# ---------------------------------------------------------------------------------------------- synthetic feeds
_TEMPLATE = {}


def synthetic_indicator(n, now=None):
    """A large feed's n-th indicator, cheap to make: a stix2-built template with the pattern, id and name of
    shape n (tests check that these stay valid STIX 2.1). Returns (indicator dict, expected observables)."""
    now = now or datetime.now(timezone.utc)
    key = (now.date(), n % len(SHAPES))
    if key not in _TEMPLATE:
        _TEMPLATE[key] = make_indicator(SHAPES[n % len(SHAPES)], n % len(SHAPES), now=now).indicator
    pattern, _, observables = SHAPES[n % len(SHAPES)](n)
    indicator = dict(_TEMPLATE[key], id=f"indicator--{uuid.UUID(int=n + 1, version=4)}", pattern=pattern,
                     name=observables[0].value[:80])
    return indicator, observables
