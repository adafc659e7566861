"""The shared context cache, KV store collection sekoia_ic_context_cache: the IC's context summary of each
observable asked about, found or not, until its expiry. Only the app's endpoint writes it (system token); the
roles that run sekoialookup may read it (default.meta: sekoia_ic_analyst, admin, sc_admin), so `sekoialookup`
reads it with the user's own session first.

A row is keyed by a SHA-256 of (type, normalised value) and holds no value: what analysts looked up (an
insider investigation's URLs and mailboxes) is not listable from the collection. A hash of a value with few
possibilities (an IPv4 address) can be found by trying them all, which is why reading stays limited to those
roles (docs/design.md, "Security model")."""
import json

from ..constants import CONTEXT_CACHE_COLLECTION
from ..stix.summaries import NOT_MATCHED, VERSION
from ..splunk.kvstore import KVCollection


_NOT_MATCHED_TEXT = json.dumps(NOT_MATCHED)  # what save_answers writes for an observable the IC does not know


def observable_key(obs_type, value):
    """The cache key of an observable: a hash, never the value."""
    import hashlib  # at first use: a search whose values need no IC context does not load it (about 5 ms)
    return hashlib.sha256(f"sekoia_ic_context\x00{obs_type}\x00{value}".encode("utf-8")).hexdigest()


def collection(service):
    return KVCollection(service, CONTEXT_CACHE_COLLECTION)


def read_answers(cache, observables, now):
    """{observable: summary} of the unexpired answers for these (type, value) observables (of the summary shape
    this version writes: an older one is asked again)."""
    keys = {observable_key(*o): o for o in observables}
    answers = {}
    for row in cache.find_in("_key", keys, fields=["context", "expires"]):
        if row.get("_key") in keys and isinstance(row.get("expires"), (int, float)) and row["expires"] > now:
            if row["context"] == _NOT_MATCHED_TEXT:  # most answers: "the IC does not know it", read as is
                answers[keys[row["_key"]]] = NOT_MATCHED
                continue
            try:
                summary = json.loads(row["context"])
            except (TypeError, ValueError):
                continue
            if isinstance(summary, dict) and summary.get("v") == VERSION:
                answers[keys[row["_key"]]] = summary
    return answers


def save_answers(cache, answers, expires):
    """Write {(type, value): summary}, valid until `expires` (epoch), in batches the server accepts."""
    cache.save([{"_key": observable_key(t, v), "found": bool(s.get("matched")),
                 "context": json.dumps(s), "expires": expires} for (t, v), s in answers.items()])


def purge_expired(cache, now):
    """Drop the answers whose expiry has passed, so that the collection does not grow forever."""
    cache.delete_where({"expires": {"$lt": now}})
