"""Observable types and values: how the app normalises them (one function for the feed, the events and the
correlation searches' rows: the lookup's `value` is this normal form, entirely lowercase; docs/design.md, "The
lookup") and how it recognises the type of a bare value in an event. The feed and the search command use the
same rules, so that a value from an event finds the row written from the feed."""
import functools
import ipaddress
import re
import socket
from urllib.parse import urlsplit

TYPES = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "filename")
HASH_TYPES_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
# STIX hash names (file:hashes.<name>) -> the hash_type column.
STIX_HASH_NAMES = {"MD5": "md5", "SHA-1": "sha1", "SHA1": "sha1", "SHA-256": "sha256", "SHA256": "sha256",
                   "SHA-512": "sha512", "SHA512": "sha512"}
MAX_VALUE_LENGTH = 4096

_HEX = re.compile(r"^[0-9a-fA-F]+$")
# A top-level label has a letter: an all-numeric name (999.1.1.1, 010.001.002.003) is never a domain.
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+(?=[a-z0-9-]*[a-z])[a-z0-9-]{2,63}$")
# Dotted quads with zero-padded parts, as firewalls print them (192.168.001.010): decimal, not octal.
_PADDED_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(/\d{1,2})?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class InvalidObservable(ValueError):
    """The value cannot be an observable of that type."""


def normalise(obs_type, value, hash_type=""):
    """(value, hash_type, is_range) in the form stored in the lookup, or raise InvalidObservable."""
    text = (value or "").strip()
    if not text:
        raise InvalidObservable("empty value")
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidObservable(f"value longer than {MAX_VALUE_LENGTH} characters")
    if obs_type in ("ipv4-addr", "ipv6-addr"):
        return _normalise_ip(obs_type, text)
    if obs_type == "domain-name":
        return normalise_domain(text), "", False
    if obs_type == "file":
        digest = text.lower()
        expected = HASH_TYPES_BY_LENGTH.get(len(digest))
        if not _HEX.match(digest) or expected is None or (hash_type and hash_type != expected):
            raise InvalidObservable(f"not a {hash_type or 'MD5/SHA-1/SHA-256/SHA-512'} hash: {text!r}")
        return digest, expected, False
    if obs_type == "email-addr":
        email = text.lower()
        if not email.isascii():  # an internationalised domain part: its ASCII (punycode) form
            local, _, domain = email.rpartition("@")
            email = f"{local}@{_ascii_domain(domain) if local else domain}"
        if not _EMAIL.match(email):
            raise InvalidObservable(f"not an email address: {text!r}")
        return email, "", False
    if obs_type in ("url", "filename"):
        # Lowercase like every other type: the lookup's match key is entirely lowercase, the one form in which
        # Splunk's case-insensitive KV store lookups work (transforms.conf.spec, case_sensitive_match).
        return text.lower(), "", False
    raise InvalidObservable(f"unknown observable type {obs_type!r}")


def normalise_domain(text):
    """A domain name in the one form the lookup holds: lowercase ASCII without the root dot. Internationalised
    names become their punycode (`xn--`) form by IDNA's UTS 46 mapping, so `bücher.de` and `xn--bcher-kva.de` from
    an event both find the row of either form in the feed."""
    domain = text.rstrip(".")
    domain = domain.lower() if domain.isascii() else _ascii_domain(domain)
    if not _DOMAIN.match(domain):
        raise InvalidObservable(f"not a domain name: {text!r}")
    return domain


def _ascii_domain(domain):
    import idna  # loaded only for the rare non-ASCII value

    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidObservable(f"not an internationalised domain name: {domain!r} ({exc})") from None


def unpad_ipv4(text):
    """192.168.001.010 -> 192.168.1.10 (and the same with a /prefix); other text unchanged."""
    match = _PADDED_IPV4.match(text)
    if not match or not any(len(p) > 1 and p[0] == "0" for p in match.groups()[:4]):
        return text
    parts = [int(p) for p in match.groups()[:4]]
    if max(parts) > 255:
        return text
    return ".".join(map(str, parts)) + (match.group(5) or "")


def _normalise_ip(obs_type, text):
    text = unpad_ipv4(text)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidObservable(f"not an IP address or CIDR: {text!r}") from None
    actual = "ipv4-addr" if network.version == 4 else "ipv6-addr"
    if actual != obs_type:
        raise InvalidObservable(f"{text!r} is an {actual}, not an {obs_type}")
    if network.num_addresses == 1:  # a /32 or /128 is one address
        return str(network.network_address), "", False
    return str(network), "", True


def _sha1_hex(text):
    import hashlib  # at first use: loading it (OpenSSL) costs a search that keys nothing about 5 ms
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def observable_key(obs_type, value):
    """The key of an observable's allowlist entry (one per type and normalised value)."""
    return _sha1_hex(f"{obs_type}\x00{value}")


def row_key(feed_id, indicator_id, obs_type, value):
    """The key of a lookup row: one row per (feed, indicator, observable), so that each indicator adds and removes
    exactly its own share of an observable that several indicators name, and each feed its own rows of an
    indicator that several feeds carry (docs/design.md, "The lookup" and "Several feeds")."""
    return _sha1_hex(f"{feed_id}\x00{indicator_id}\x00{obs_type}\x00{value}")


def detect_type(value):
    """The observable type of a bare value from an event, or None. Order matters: an IP before a domain,
    a URL (has a scheme) before an email or a domain, a hash (hex of a known length) before a filename."""
    text = (value or "").strip()
    if not text or len(text) > MAX_VALUE_LENGTH:
        return None
    try:
        address = ipaddress.ip_address(unpad_ipv4(text))
        return "ipv4-addr" if address.version == 4 else "ipv6-addr"
    except ValueError:
        pass
    if len(text) in HASH_TYPES_BY_LENGTH and _HEX.match(text):
        return "file"
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:  # an unclosed [IPv6] host: not a URL, and never an error for the whole chunk
            return None
        return "url" if parts.scheme and parts.netloc else None
    if _EMAIL.match(text):
        return "email-addr"
    try:
        normalise_domain(text)
        return "domain-name"
    except InvalidObservable:
        return None


# First octets of every IPv4 block the IANA IPv4 Special-Purpose Address Registry lists (0/8, 10/8, 100.64/10,
# 127/8, 169.254/16, 172.16/12, 192.0.0/24 ... 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24), and 224 and
# up (multicast, 240/4, broadcast). Python's is_global only ever excludes addresses within them.
_SPECIAL_IPV4_FIRST_OCTETS = frozenset((0, 10, 100, 127, 169, 172, 192, 198, 203, *range(224, 256)))


# The 4 bytes of an IPv4 address written as a canonical dotted quad (what the C parser inet_pton accepts: four
# decimal parts, no leading zero, nothing around); OSError for any other text (ValueError: an embedded NUL or a
# character that is not ASCII). A C call: the fast path of every IP check, most values in events being such addresses.
pack_canonical_ipv4 = functools.partial(socket.inet_pton, socket.AF_INET)


def canonical_ipv4_number(value):
    """The number of an IPv4 address written as a canonical dotted quad (pack_canonical_ipv4), or None for any
    other text: no ipaddress object."""
    try:
        return int.from_bytes(pack_canonical_ipv4(value), "big")
    except (OSError, TypeError, ValueError):
        return None


def is_public_ip(value):
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses: those are never
    sent to the API (they identify nothing outside the customer's network and would leak its layout)."""
    if canonical_ipv4_number(value) is not None:  # most event addresses
        return is_public_canonical_ipv4(value)
    return is_public_ip_by_library(value)


def may_leave(obs_type, value):
    """Whether an observable may be sent to the IC: never a private, loopback, link-local, multicast, reserved or
    documentation address, nor an address range (is_public_ip is false for them all)."""
    return obs_type not in ("ipv4-addr", "ipv6-addr") or is_public_ip(value)


def is_public_canonical_ipv4(value):
    """is_public_ip for a canonical dotted quad, what normalise() gives an ipv4-addr observable that is one address
    (not a range): its first octet decides most addresses, with no parsing."""
    if int(value[:value.index(".")]) not in _SPECIAL_IPV4_FIRST_OCTETS:
        return True
    return is_public_ip_by_library(value)


def is_public_ip_by_library(value):
    """The reference of is_public_ip: Python's ipaddress, where is_global is also true for multicast
    (224.0.0.0/4 outside 224.0.0.0/24..., ff0e::/16), checked apart."""
    try:
        address = ipaddress.ip_address(unpad_ipv4(value))
    except ValueError:
        return False
    return address.is_global and not address.is_multicast
