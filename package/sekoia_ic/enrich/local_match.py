"""Matching observables against the local lookup `sekoia_ic_indicators`, with the searching user's own session
(the lookup is readable by every role): exact values, then the IP ranges that hold an address."""
import ipaddress

from ..constants import INDICATORS_COLLECTION
from ..stix.observables import canonical_ipv4_number
from ..splunk.kvstore import KVCollection


class LocalLookup:
    def __init__(self, service):
        self.service = service
        self._collection = None
        self._ranges = None

    def matches(self, observables):
        """{observable: [rows]}: every row naming each observable with the observable's own type (a filename row
        never matches a domain of the same text), read in pages that max_rows_per_query cannot cut. Raises
        whatever splunkd raises; the caller decides."""
        found, by_key = {}, None
        for row in self._lookup().find_in("value", {value for _, value in observables}):
            if by_key is None:  # most searches' values find no row: no map made for them
                by_key = {o: o for o in observables}  # an Observable is its (type, value) tuple
            observable = by_key.get((row.get("type"), row.get("value")))
            if observable is not None:
                found.setdefault(observable, []).append(row)
        self._match_ranges(observables, found)
        return found

    def _range_index(self):
        """The lookup's CIDR range rows, read once per search (they are few), in pages. Raises what splunkd raises."""
        if self._ranges is None:
            self._ranges = RangeIndex(self._lookup().find({"is_range": True}))
        return self._ranges

    def _lookup(self):
        if self._collection is None:
            self._collection = KVCollection(self.service, INDICATORS_COLLECTION)
        return self._collection

    def _match_ranges(self, observables, found):
        ips = [o for o in observables if o[0] in ("ipv4-addr", "ipv6-addr")]
        if not ips or not self._range_index():
            return
        for observable in ips:
            rows = [r for r in self._ranges.containing(observable.value) if r.get("type") == observable.type]
            if rows:
                found.setdefault(observable, []).extend(rows)


class RangeIndex:
    """The CIDR rows of the lookup, grouped by IP version and prefix length: the ranges holding an address are
    found with one dict lookup per prefix length present, not one test per range (a feed may hold thousands)."""

    def __init__(self, rows):
        self._networks = {}  # (version, netmask as int) -> {network address as int: [(position, row)]}
        for position, row in enumerate(rows):
            try:
                network = ipaddress.ip_network(row["value"])
            except (KeyError, TypeError, ValueError):
                continue
            by_address = self._networks.setdefault((network.version, int(network.netmask)), {})
            by_address.setdefault(int(network.network_address), []).append((position, row))
        self._masks = {version: [mask for v, mask in self._networks if v == version] for version in (4, 6)}

    def __bool__(self):
        return bool(self._networks)

    def containing(self, value):
        """The rows of every range holding the address `value`, in the order the lookup listed them."""
        version, number = 4, canonical_ipv4_number(value)
        if number is None:  # any other form of address through ipaddress
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                return []
            version, number = address.version, int(address)
        hits = []
        for mask in self._masks[version]:
            hits.extend(self._networks[(version, mask)].get(number & mask, ()))
        return [row for _, row in sorted(hits, key=lambda hit: hit[0])]
