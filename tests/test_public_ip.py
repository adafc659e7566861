"""is_public_ip's fast path (a canonical dotted quad outside the first octets of the IANA special-purpose blocks),
and is_public_canonical_ipv4 (the same for a value known to be a canonical dotted quad), against their reference,
Python's ipaddress (is_public_ip_by_library), under the running interpreter: the same verdict on the boundaries of
every /16, on every special-purpose block's edges and on generated values."""
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from sekoia_ic.stix.observables import (canonical_ipv4_number, is_public_canonical_ipv4, is_public_ip,
                                        is_public_ip_by_library)

# The IANA IPv4 and IPv6 Special-Purpose Address Registries, and multicast.
SPECIAL_BLOCKS = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                  "192.0.0.0/24", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/31",
                  "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
                  "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",
                  "240.0.0.0/4", "255.255.255.255/32"]


def same(value):
    assert is_public_ip(value) == is_public_ip_by_library(value), value
    if canonical_ipv4_number(value) is not None:  # what it is given: an ipv4-addr observable's value
        assert is_public_canonical_ipv4(value) == is_public_ip_by_library(value), value


def test_the_edges_of_every_sixteen_bit_block():
    for first in range(256):
        for second in range(256):
            same(f"{first}.{second}.0.0")
            same(f"{first}.{second}.255.255")


def test_the_edges_of_every_special_purpose_block_and_their_neighbours():
    for block in map(ipaddress.ip_network, SPECIAL_BLOCKS):
        for edge in (int(block.network_address), int(block.broadcast_address)):
            for value in range(max(edge - 2, 0), min(edge + 3, 2 ** 32)):
                same(str(ipaddress.IPv4Address(value)))


@settings(max_examples=3000, deadline=None)
@given(st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_any_ipv4_address(value):
    same(str(ipaddress.IPv4Address(value)))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.integers(min_value=0, max_value=2 ** 128 - 1).map(lambda v: str(ipaddress.IPv6Address(v))),
                 st.text(alphabet="0123456789.:abcdef/ x", max_size=20)))
def test_ipv6_and_text_that_is_not_an_address(value):
    same(value)


def test_padded_and_odd_forms_take_the_library_path():
    for value in ("010.1.2.3", "8.8.8.008", " 8.8.8.8", "8.8.8.8 ", "8.8.8", "8.8.8.8/32", "", "\x008.8.8.8"):
        same(value)
    assert is_public_ip("8.8.8.8") and not is_public_ip("010.001.002.003") and not is_public_ip("224.0.0.1")
