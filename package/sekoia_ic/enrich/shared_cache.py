"""The shared context cache, KV store collection sekoia_ic_context_cache: the IC's context summary of each
observable asked about, found or not, until its expiry. Only the app's endpoint writes it (system token); the
roles that run sekoialookup may read it (default.meta: sekoia_ic_analyst, admin, sc_admin), so `sekoialookup`
reads it with the user's own session first.

A row holds the answers of one endpoint request, at most GROUP of them: `answers`, a JSON object from each
observable's key to its summary (null: the IC does not know it); `keys`, the same keys as an array, which the KV
store indexes (collections.conf accelerated_fields), so that one query finds the rows holding a search's values;
`v`, the summaries' shape; `expires`. A search of 10,000 cached values reads the few rows their requests wrote,
not 10,000 rows (docs/design.md, "Matching").

An observable's key is a SHA-256 of (type, normalised value): what analysts looked up (an insider
investigation's URLs and mailboxes) is not listable from the collection. A hash of a value with few
possibilities (an IPv4 address) can be found by trying them all, which is why reading stays limited to those
roles (docs/design.md, "Security model")."""
import json

from ..constants import CONTEXT_CACHE_COLLECTION
from ..stix.summaries import NOT_MATCHED, VERSION
from ..splunk.kvstore import KVCollection

GROUP = 1000  # answers a row: a row of unknown values is about 80 bytes an answer
ROW_BYTES = 4 * 1024 * 1024
KEYS_PER_QUERY = 50_000  # one query for a whole chunk's values: a row found once, not once per part of them


def observable_key(obs_type, value):
    """The cache key of an observable: a hash, never the value (SHA-256 cut to 128 bits, 32 hex digits: no two
    observables share one, and a search's query of 10,000 keys is half the bytes)."""
    import hashlib  # at first use: a search whose values need no IC context does not load it (about 5 ms)
    return hashlib.sha256(f"sekoia_ic_context\x00{obs_type}\x00{value}".encode("utf-8")).hexdigest()[:32]


def collection(service):
    return KVCollection(service, CONTEXT_CACHE_COLLECTION)


def read_answers(cache, observables, now):
    """{observable: summary} of the unexpired answers for these (type, value) observables, from rows of the
    summary shape this version writes (an older one is asked again). The read ends once every observable has
    an answer."""
    keys = {observable_key(*o): o for o in observables}
    unanswered = set(keys)
    answers = {}
    rows = cache.find_in("keys", keys, fields=["answers", "v"], where={"expires": {"$gt": now}},
                         per_query=KEYS_PER_QUERY)
    for row in rows:
        if row.get("v") != VERSION:
            continue
        try:
            group = json.loads(row["answers"])
        except (KeyError, TypeError, ValueError):
            continue
        if not isinstance(group, dict):
            continue
        for key in unanswered.intersection(group):
            summary = group[key]
            if summary is None:  # most answers: "the IC does not know it"
                answers[keys[key]] = NOT_MATCHED
            elif isinstance(summary, dict):
                answers[keys[key]] = summary
        unanswered.difference_update(group)
        if not unanswered:
            rows.close()
            break
    return answers


def save_answers(cache, answers, expires):
    """Write {(type, value): summary}, valid until `expires` (epoch), GROUP answers a row at most, and rows of at
    most ROW_BYTES of answers (a KV store document holds 16 MB)."""
    items = [(observable_key(t, v), None if s == NOT_MATCHED else s) for (t, v), s in answers.items()]
    rows = []
    for start in range(0, len(items), GROUP):
        rows.extend(_rows(items[start:start + GROUP], expires))
    cache.save(rows)


def _rows(items, expires):
    text = json.dumps(dict(items), separators=(",", ":"))
    if len(text) > ROW_BYTES and len(items) > 1:  # summaries of many indicators: halves, until they fit
        half = len(items) // 2
        return _rows(items[:half], expires) + _rows(items[half:], expires)
    return [{"keys": [key for key, _ in items], "answers": text, "v": VERSION, "expires": expires}]


def purge_expired(cache, now):
    """Drop the rows whose expiry has passed, so that the collection does not grow forever."""
    cache.delete_where({"expires": {"$lt": now}})
