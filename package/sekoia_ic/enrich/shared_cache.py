"""The shared context cache, KV store collection sekoia_ic_context_cache: the IC's context summary of each
observable asked about, found or not, until its expiry. Only the app's endpoint writes it (system token); every
role may read it (default.meta), so `sekoialookup` reads it with the user's own session first."""
import json

from ..constants import CONTEXT_CACHE_COLLECTION
from ..stix.observables import observable_key
from ..stix.summaries import VERSION
from ..splunk.kvstore import KVCollection


def collection(service):
    return KVCollection(service, CONTEXT_CACHE_COLLECTION)


def read_answers(cache, observables, now):
    """{observable: summary} of the unexpired answers for these (type, value) observables (of the summary shape
    this version writes: an older one is asked again)."""
    keys = {observable_key(*o): o for o in observables}
    answers = {}
    for row in cache.find_in("_key", keys, fields=["context", "expires"]):
        if row.get("_key") in keys and isinstance(row.get("expires"), (int, float)) and row["expires"] > now:
            try:
                summary = json.loads(row["context"])
            except (TypeError, ValueError):
                continue
            if isinstance(summary, dict) and summary.get("v") == VERSION:
                answers[keys[row["_key"]]] = summary
    return answers


def save_answers(cache, answers, expires):
    """Write {(type, value): summary}, valid until `expires` (epoch), in batches the server accepts."""
    cache.save([{"_key": observable_key(t, v), "type": t, "value": v[:1024], "found": bool(s.get("matched")),
                 "context": json.dumps(s), "expires": expires} for (t, v), s in answers.items()])


def purge_expired(cache, now):
    """Drop the answers whose expiry has passed, so that the collection does not grow forever."""
    cache.delete_where({"expires": {"$lt": now}})
