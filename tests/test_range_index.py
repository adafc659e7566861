"""local_match.RangeIndex against its reference, ipaddress's `address in network` tried on every range in the
lookup's order: the same rows, in the same order, for nested, overlapping, IPv4 and IPv6 ranges."""
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from sekoia_ic.enrich.local_match import RangeIndex


def by_scan(rows, value):
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return []
    found = []
    for row in rows:
        try:
            network = ipaddress.ip_network(row["value"])
        except (KeyError, TypeError, ValueError):
            continue
        if network.version == address.version and address in network:
            found.append(row)
    return found


def network_rows(draw_networks):
    return [{"_key": str(n), "value": str(net), "indicator_id": f"indicator--{n}"}
            for n, net in enumerate(draw_networks)]


ipv4_networks = st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False),
                          st.integers(0, 2 ** 32 - 1), st.integers(0, 32))
ipv6_networks = st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False),
                          st.integers(0, 2 ** 128 - 1), st.integers(0, 128))


def addresses_near(networks):
    """Addresses at the edges of each network and just outside them."""
    out = []
    for net in networks:
        top = 2 ** net.max_prefixlen - 1
        for n in (int(net.network_address) - 1, int(net.network_address), int(net.broadcast_address),
                  int(net.broadcast_address) + 1):
            if 0 <= n <= top:
                out.append(str(ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n)))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ipv4_networks, ipv6_networks), max_size=25),
       st.lists(st.integers(0, 2 ** 32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))), max_size=10))
def test_the_same_rows_in_the_same_order_as_a_scan(networks, addresses):
    rows = network_rows(networks)
    index = RangeIndex(rows)
    for value in addresses + addresses_near(networks):
        assert index.containing(value) == by_scan(rows, value), value


def test_nested_ranges_duplicates_and_rows_that_are_not_ranges():
    rows = network_rows(map(ipaddress.ip_network, ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.0/24",
                                                   "0.0.0.0/0", "2001:db8::/32", "10.1.2.3/32"]))
    rows.insert(2, {"_key": "bad", "value": "not a range"})
    rows.insert(3, {"_key": "none"})
    index = RangeIndex(rows)
    for value in ("10.1.2.3", "10.1.3.1", "10.2.0.1", "11.0.0.1", "2001:db8::1", "2001:db9::1", "::ffff:10.1.2.3",
                  "010.001.002.003", "not an address", "10.1.2.\x003"):
        assert index.containing(value) == by_scan(rows, value), value
    assert [r["value"] for r in index.containing("10.1.2.3")] == [
        "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.0/24", "0.0.0.0/0", "10.1.2.3/32"]
    assert not RangeIndex([]) and RangeIndex(rows)
