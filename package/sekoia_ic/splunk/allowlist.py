"""The local allowlist, KV collection `sekoia_ic_allowlist`: values an analyst judged benign.

An entry is (`type`, `value`): the observable type and the same normalised match key as the lookup's `value`
(the caller normalises: stix/observables.py), with `reason`, `added_by`, `added` and `expires` (epoch seconds, 0
for never). An entry whose `expires` has passed has no effect; the feed run purges it. A bad entry (no type or
value, an `expires` that is no number) has no effect either, and is counted.

    allowlist = Allowlist.load(service)          # one read per search or run, in pages
    allowlist.holds("domain-name", "example.org")
"""
import time

from ..constants import ALLOWLIST_COLLECTION
from .kvstore import KVCollection

FIELDS = ("type", "value", "reason", "added_by", "added", "expires")


def _expires(entry):
    """The entry's expiry as a number (0: never), or None when it is not one."""
    value = entry.get("expires", 0)
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def is_live(entry, now):
    expires = _expires(entry)
    return expires is not None and (expires == 0 or expires > now)


class Allowlist:
    def __init__(self, entries=(), now=None):
        now = time.time() if now is None else now
        self._keys = set()
        self.bad_entries = 0
        for entry in entries:
            obs_type, value = entry.get("type"), entry.get("value")
            if not isinstance(obs_type, str) or not isinstance(value, str) or not obs_type or not value \
                    or _expires(entry) is None:
                self.bad_entries += 1
            elif is_live(entry, now):
                self._keys.add((obs_type, value))

    @classmethod
    def load(cls, service, now=None):
        """The live entries, read with the caller's session. Raises whatever splunkd raises: the caller decides
        what a search or a run does without them."""
        return cls(KVCollection(service, ALLOWLIST_COLLECTION).find(fields=list(FIELDS)), now)

    def holds(self, obs_type, value):
        return (obs_type, value) in self._keys

    def __len__(self):
        return len(self._keys)

    def __bool__(self):
        return bool(self._keys)


def purge_expired(service, now=None):
    """Remove the entries whose expiry has passed; the number removed."""
    now = time.time() if now is None else now
    collection = KVCollection(service, ALLOWLIST_COLLECTION)
    expired = {"expires": {"$gt": 0, "$lte": now}}
    count = sum(1 for _ in collection.find(expired, fields=["_key"]))
    if count:
        collection.delete_where(expired)
    return count
