"""KV store access through splunklib, within splunkd's limits (docs/design.md, "The lookup")."""
import json
import logging
import weakref

from splunklib.binding import HTTPError

from .library_internals import kvstore_data

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SAVE = 1000
DEFAULT_MAX_BATCH_SAVE_MB = 50
DEFAULT_MAX_ROWS_PER_QUERY = 50000
# $in lists travel in the URL of a DELETE: keep them well under URL length limits. Reads go through batch_find,
# whose queries travel in the request body.
IN_CHUNK = 200
FIND_IN_CHUNK = 2000
# Queries per batch_find request: well under limits.conf [kvstore] max_queries_per_batch (default 1,000).
BATCH_QUERIES = 100
PAGE_ROWS = 10000  # rows a sorted page asks for, at most (max_rows_per_query may be lower)


_LIMITS = weakref.WeakKeyDictionary()  # service -> its limits, read once per service (one search, one run)


def kvstore_limits(service):
    """limits.conf [kvstore] as splunkd has it, in one request per service ({} when it cannot be read: Splunk's
    defaults apply)."""
    if service in _LIMITS:
        return _LIMITS[service]
    try:
        body = json.loads(service.get("configs/conf-limits/kvstore", output_mode="json").body.read())
        limits = dict(body["entry"][0]["content"])
    except Exception as exc:  # noqa: BLE001 - any failure means "unknown": use Splunk's defaults
        log.debug("limits.conf [kvstore] unreadable (%s); using Splunk's defaults", type(exc).__name__)
        limits = {}
    _LIMITS[service] = limits
    return limits


def _limit(limits, key, default):
    try:
        return max(1, int(limits.get(key) or default))
    except (TypeError, ValueError):
        return default


def _paged(fetch, query, page_size):
    """Every document matching query, read in pages sorted by _key, each page starting after the last key of the
    one before (fetch(query, limit) -> one page). max_rows_per_query never truncates the answer, and rows that
    the caller deletes or adds behind the last key read shift nothing (as skip/limit paging would).

    Only an empty page ends the read: splunkd cuts a page at max_rows_per_query rows and also at
    limits.conf [kvstore] max_size_per_result_mb of data, so a short page says nothing about what follows."""
    after = None
    while True:
        page = fetch(_page_query(query, after), page_size)
        if not page:
            return
        yield from page
        after = page[-1]["_key"]


def _page_query(query, after):
    """The query of the page after the _key `after` (keyset paging), or of the first page when after is None."""
    return query if after is None else {"$and": [query, {"_key": {"$gt": after}}]}


def _projection(fields):
    """The `fields` of a batch_find query as the REST reference's example gives it, a projection object
    ({"myKey": 1}): the fields asked, and _key. {} when every field is wanted."""
    return {"fields": dict.fromkeys(sorted(set(fields) | {"_key"}), 1)} if fields else {}


def chunks(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def batches_by_size(documents, max_documents, max_bytes):
    """Batches of at most max_documents whose batch_save body stays within max_bytes: splunklib sends
    json.dumps(list), so each document counts its own JSON and its ", " separator (the first one's two bytes are
    the brackets)."""
    batch, total = [], 0
    for document in documents:
        size = len(json.dumps(document)) + 2
        if batch and (len(batch) >= max_documents or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(document)
        total += size
    if batch:
        yield batch


class KVCollection:
    """One KV store collection of the app (namespace nobody/<app>), through the service's connection."""

    def __init__(self, service, name):
        self.name = name
        self.data = kvstore_data(service, name)
        limits = kvstore_limits(service)
        self.max_batch = _limit(limits, "max_documents_per_batch_save", DEFAULT_MAX_BATCH_SAVE)
        self.max_batch_bytes = _limit(limits, "max_size_per_batch_save_mb", DEFAULT_MAX_BATCH_SAVE_MB) * 1024 * 1024
        self.max_rows = _limit(limits, "max_rows_per_query", DEFAULT_MAX_ROWS_PER_QUERY)

    def save(self, documents, by_size=False):
        """Upsert by _key, in batches the server accepts: at most max_documents_per_batch_save documents, and with
        by_size (collections of big documents) at most max_size_per_batch_save_mb of request body. Returns how
        many were written."""
        batches = batches_by_size(documents, self.max_batch, self.max_batch_bytes) if by_size else \
            chunks(documents, self.max_batch)
        written = 0
        for batch in batches:
            self.data.batch_save(*batch)
            written += len(batch)
        return written

    def put(self, document):
        """Upsert one document by its _key."""
        self.data.batch_save(document)

    def find(self, query=None, fields=None):
        """Every document matching the query."""
        def fetch(page_query, limit):
            options = {"sort": "_key", "limit": limit}
            if page_query:
                options["query"] = json.dumps(page_query)
            if fields:
                options["fields"] = ",".join(sorted(set(fields) | {"_key"}))
            return self.data.query(**options)

        return _paged(fetch, query or {}, min(self.max_rows, PAGE_ROWS))

    def exists(self, query):
        """Whether any document matches the query (one row read)."""
        return bool(self.data.query(query=json.dumps(query), limit=1, fields="_key"))

    def find_in(self, field, values, fields=None):
        """Documents whose field is one of values (an array field: holds one of them). The values go FIND_IN_CHUNK
        to a query, and the queries together in one batch_find; each query is read in pages sorted by _key (as
        _paged does), the next pages of the queries that found something travelling together, until each
        query's page comes back empty. Values that match nothing (most of a search's) cost that one request."""
        base = dict({"sort": [{"_key": 1}], "limit": min(self.max_rows, PAGE_ROWS)}, **_projection(fields))
        pending = [({field: {"$in": part}}, None) for part in chunks(set(values), FIND_IN_CHUNK)]
        while pending:
            requests = [dict(base, query=_page_query(query, after)) for query, after in pending]
            unknown, going_on = [], []
            for (query, after), page in zip(pending, self._batch_find(requests)):
                if page is None:  # maybe cut away: the same page again, first in the next batch
                    unknown.append((query, after))
                elif page:
                    yield from page
                    going_on.append((query, page[-1]["_key"]))
            pending = unknown + going_on

    def find_page(self, query, fields=None):
        """One page of the documents matching query, in no order: no sort for the KV store to make in memory
        (a query an index answers but whose order the index does not give). splunkd may cut the page (rows or
        size): who needs more asks again, leaving out the _keys read (`$nin`)."""
        return self._batch_find([dict({"query": query, "limit": self.max_rows}, **_projection(fields))])[0]

    def find_each(self, queries, fields=None):
        """[documents] of each query, one batch_find request per BATCH_QUERIES queries. Each list is only the first
        page of its query's answer (splunkd may cut it by rows or size): callers that need every row repeat the
        queries that returned something (sync.FeedSync removes what it finds, then asks again)."""
        requests = [dict({"query": q, "limit": self.max_rows}, **_projection(fields)) for q in queries]
        answers = self._batch_find(requests)
        while None in answers:  # each round settles one at least: a batch with an unknown answer found something
            lost = [n for n, answer in enumerate(answers) if answer is None]
            for n, answer in zip(lost, self._batch_find([requests[n] for n in lost])):
                answers[n] = answer
        return answers

    def _batch_find(self, requests):
        """The answer of each request, at most BATCH_QUERIES to a batch_find: a list of documents, or None for an
        answer that splunkd may have cut away. limits.conf [kvstore] max_size_per_batch_result_mb caps a batch's
        answers together, and what splunkd does past it is not documented (docs/design.md, "KV reads end on an
        empty page"):
        - if it stops adding documents there, the answers after the cut come back empty, and one cut to nothing
          looks like one that found nothing: the empty answers after a batch's last one that found something are
          None (whatever splunkd counts, rows or bytes);
        - if it leaves those answers out of the list, the missing ones are None;
        - if it refuses the batch (a 400, as batch_save does past its limits), the batch is asked again in halves,
          then one query with half its page size, down to one row.
        A batch that found nothing at all was not cut: its answers are final."""
        answers = []
        for part in chunks(requests, BATCH_QUERIES):
            answers.extend(self._batch_find_part(part))
        return answers

    def _batch_find_part(self, part):
        try:
            got = self.data.batch_find(*part)
        except HTTPError as exc:
            if exc.status != 400 or (len(part) == 1 and part[0]["limit"] <= 1):
                raise
            if len(part) == 1:
                return self._batch_find_part([dict(part[0], limit=part[0]["limit"] // 2)])
            half = len(part) // 2
            return self._batch_find_part(part[:half]) + self._batch_find_part(part[half:])
        found = [n for n, answer in enumerate(got) if answer]
        if len(got) > len(part) or (len(got) < len(part) and not found):
            raise ValueError(f"splunkd answered a batch_find of {len(part)} queries with {len(got)} answers")
        if not found:
            return got
        settled = found[-1] + 1
        return list(got[:settled]) + [None] * (len(part) - settled)

    def delete_where(self, query):
        if not query:
            raise ValueError("refusing to delete with an empty query: that would delete every row")
        self.data.delete(query=json.dumps(query))

    def delete_in(self, field, values):
        for part in chunks(sorted(set(values)), IN_CHUNK):
            self.delete_where({field: {"$in": part}})

    def get(self, key):
        rows = self.data.query(query=json.dumps({"_key": key}))
        return rows[0] if rows else None
