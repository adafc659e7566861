"""Matching observables against the local lookup `sekoia_ic_indicators`, with the searching user's own session
(the lookup is readable by every role): exact values, then the IP ranges that hold an address."""
import ipaddress

from .facts import INDICATORS_COLLECTION
from .kvstore import KVCollection


class LocalLookup:
    def __init__(self, service):
        self.service = service
        self._collection = None
        self._ranges = None

    def matches(self, observables):
        """{observable: [rows]}: every live indicator naming each observable, read in pages that
        max_rows_per_query cannot cut. Raises whatever splunkd raises; the caller decides."""
        if self._collection is None:
            self._collection = KVCollection(self.service, INDICATORS_COLLECTION)
        by_value = {o.value: o for o in observables}
        found = {}
        for row in self._collection.find_in("value", by_value):
            observable = by_value.get(row.get("value"))
            if observable is not None:
                found.setdefault(observable, []).append(row)
        self._match_ranges(observables, found)
        return found

    def _match_ranges(self, observables, found):
        ips = [o for o in observables if o.type in ("ipv4-addr", "ipv6-addr")]
        if not ips:
            return
        if self._ranges is None:  # CIDR range rows are few: read them once per search, in pages
            self._ranges = []
            for row in self._collection.find({"is_range": True}):
                try:
                    self._ranges.append((ipaddress.ip_network(row["value"]), row))
                except (KeyError, ValueError):
                    continue
        for observable in ips:
            if not self._ranges:
                return
            address = ipaddress.ip_address(observable.value)
            for network, row in self._ranges:
                if address.version == network.version and address in network:
                    found.setdefault(observable, []).append(row)
