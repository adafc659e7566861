"""The shared context cache, KV store collection sekoia_ic_context_cache: the IC's context summary of each
observable asked about, found or not, until its expiry. Only the app's endpoint writes it (system token); the
roles that run sekoialookup may read it (default.meta: sekoia_ic_analyst, admin, sc_admin), so `sekoialookup`
reads it with the user's own session first.

A row holds answers of one endpoint request, at most GROUP of them: `answers`, a JSON object from each
observable's key to its summary (null: the IC does not know it); `keys`, the same keys as an array, which the KV
store indexes (collections.conf accelerated_fields), so that one query finds the rows holding a search's values;
`v`, the summaries' shape; `expires`. A search of 10,000 values that one earlier search asked reads that
search's 10 rows, not 10,000 (docs/design.md, "Matching").

An observable's key is a SHA-256 of (type, normalised value): what analysts looked up (an insider
investigation's URLs and mailboxes) is not listable from the collection. A hash of a value with few
possibilities (an IPv4 address) can be found by trying them all, which is why reading stays limited to those
roles (docs/design.md, "Security model")."""
import json

from ..constants import CONTEXT_CACHE_COLLECTION
from ..stix.summaries import NOT_MATCHED, VERSION
from ..splunk.kvstore import KVCollection

GROUP = 1000  # answers a row: a row of unknown values is about 80 bytes an answer
ROW_BYTES = 1024 * 1024  # of `answers`: a row of many known values (long summaries) is split
PROBE = 100  # keys of a big search's first query (read_answers)


def observable_key(obs_type, value):
    """The cache key of an observable: a hash, never the value (SHA-256 cut to 128 bits, 32 hex digits: a
    collision between two observables is negligible, and a search's query of 10,000 keys is half the bytes)."""
    import hashlib  # at first use: a search whose values need no IC context does not load it (about 5 ms)
    return hashlib.sha256(f"sekoia_ic_context\x00{obs_type}\x00{value}".encode("utf-8")).hexdigest()[:32]


def collection(service):
    return KVCollection(service, CONTEXT_CACHE_COLLECTION)


def read_answers(cache, observables, now):
    """{observable: summary} of the unexpired answers for these (type, value) observables, from rows of the
    summary shape this version writes (an older one is asked again). Where two rows read answer one key, the one
    that expires last; a row holding only keys already answered is not read, so an answer is live, not always the
    longest-lived.

    Queries ask for the rows holding any unanswered key, with no sort (the `keys` index finds them; a sort by _key
    would make the KV store sort whole rows in memory). Many values of a search were asked together by an earlier
    one, so the first query of a big search asks only for the rows of PROBE of its keys, spread over them: those
    rows usually answer most of the others, and the KV store looks up PROBE keys instead of thousands. Each next
    query asks for the keys still unanswered, leaving out the rows read (a page splunkd cut short goes on the same
    way). The read ends when every key has an answer, or when a query for every unanswered key brings no row not
    read yet."""
    keys = {observable_key(*o): o for o in observables}
    unanswered = set(keys)
    answers, until, read = {}, {}, set()
    probe = _probe(list(keys))
    while unanswered:
        asked = probe or list(unanswered)
        query = {"keys": {"$in": asked}, "v": VERSION, "expires": {"$gt": now}}
        if read:
            query["_key"] = {"$nin": sorted(read)}
        rows = [row for row in cache.find_page(query, fields=["answers", "v", "expires"]) if row["_key"] not in read]
        if not rows and not probe:
            break
        probe = None
        for row in rows:
            read.add(row["_key"])
            expires = row.get("expires") if isinstance(row.get("expires"), (int, float)) else 0
            group = _answers_of(row)
            for key in group.keys() & keys.keys():
                summary = group[key]
                if until.get(key, -1) >= expires:
                    continue
                if summary is None:  # most answers: "the IC does not know it"
                    answers[keys[key]], until[key] = NOT_MATCHED, expires
                elif isinstance(summary, dict):
                    answers[keys[key]], until[key] = summary, expires
        unanswered.difference_update(until)
    return answers


def _probe(keys):
    """PROBE keys spread evenly over a search's keys, or None when there are too few for a probe to pay."""
    if len(keys) <= 4 * PROBE:
        return None
    step = len(keys) / PROBE
    return [keys[int(n * step)] for n in range(PROBE)]


def _answers_of(row):
    """{key: summary or None} of a row of this version's shape; {} for any other."""
    if row.get("v") != VERSION:
        return {}
    try:
        group = json.loads(row["answers"])
    except (KeyError, TypeError, ValueError):
        return {}
    return group if isinstance(group, dict) else {}


def save_answers(cache, answers, expires):
    """Write {(type, value): summary}, valid until `expires` (epoch), GROUP answers a row at most, and rows of at
    most ROW_BYTES of answers unless one answer alone is bigger, in batch saves under limits.conf's
    max_size_per_batch_save_mb."""
    items = [(observable_key(t, v), None if s == NOT_MATCHED else s) for (t, v), s in answers.items()]
    rows = []
    for start in range(0, len(items), GROUP):
        rows.extend(_rows(items[start:start + GROUP], expires))
    cache.save(rows, by_size=True)


def _rows(items, expires):
    text = json.dumps(dict(items), separators=(",", ":"))
    if len(text) > ROW_BYTES and len(items) > 1:  # summaries of many indicators: halves, until they fit
        half = len(items) // 2
        return _rows(items[:half], expires) + _rows(items[half:], expires)
    return [{"keys": [key for key, _ in items], "answers": text, "v": VERSION, "expires": expires}]


def purge_expired(cache, now):
    """Drop the rows whose expiry has passed, so that the collection does not grow forever."""
    cache.delete_where({"expires": {"$lt": now}})
