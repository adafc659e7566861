"""Keeps the `sekoia_ic_indicators` lookup in sync with an IC feed (docs/design.md, "The IC API" and "The lookup").

The lookup holds one row per (indicator, observable) of the feed's live indicators: each indicator adds and
removes only its own rows, so an observable stays while any live indicator names it.

A run reads the feed page by page from the stored cursor. For each page it upserts the page's rows, then removes
the rows the page makes stale (the rows of its revoked or expired indicators, and observables dropped from a
changed pattern), and only then stores the cursor that ends the page. A crash at any point therefore replays at
most one page, and replaying a page is idempotent: rows have deterministic keys and no run-specific fields.
Saving before deleting means no row that stays is ever missing, not even for a moment.
"""
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from ..constants import CHECKPOINTS_COLLECTION, DEFAULT_FEED_ID, FEED_ID_PATTERN
from ..redaction import redact
from ..regions import check_http_url
from ..ic.client import MAX_PAGE_SIZE
from ..ic.errors import InvalidResponseError, SekoiaError
from ..stix.indicators import Indicator, InvalidIndicator, UnsupportedPattern
from ..stix.observables import row_key
from ..splunk.feeds import levels_above, tlp_rank
from ..splunk.kvstore import chunks
from ..splunk.logs import Once
from .lease import LeaseLost

# STIX 2.1 object types the feed can be asked for (match[type]); only indicators become rows.
STIX_TYPES = ("indicator", "malware", "intrusion-set", "threat-actor", "campaign", "tool", "attack-pattern",
              "vulnerability", "report", "identity", "infrastructure", "course-of-action", "location",
              "observed-data", "note", "opinion", "grouping", "incident", "malware-analysis", "relationship",
              "sighting")
FEED_ID = re.compile(FEED_ID_PATTERN)
# The row model of the lookup: 3 = one row per (feed, indicator, observable). 1.0.0 wrote model 1, one row per
# observable (keyed by the observable alone), which lost an observable when one of the indicators naming it went
# away; 2.0 betas wrote model 2, keyed by (indicator, observable), where two feeds carrying one indicator shared
# (and removed) each other's rows.
LOOKUP_MODEL = 3
# Indicator ids per $in when looking for a page's stale rows (MongoDB advises $in lists of tens of values), and
# rounds of find-then-delete at most per page (each round deletes at least one row; the bound only stops a KV
# store that would answer rows it does not delete).
STALE_IDS_PER_QUERY = 50
STALE_ROUNDS = 1000
# What a run resumes from: dropped to read the feed again from its start.
RESUME_FIELDS = ("cursor", "taxii_added_after", "taxii_next", "taxii_session_added_after")

log = logging.getLogger(__name__)


class SyncFailed(Exception):
    """The run stopped; the message is what was logged and stored as last_error. Nothing is lost."""


@dataclass(frozen=True)
class FeedInput:
    """One `sekoia_ic_feed://<name>` stanza, validated."""
    name: str
    feed_id: str = DEFAULT_FEED_ID
    types: tuple = ("indicator",)
    page_size: int = MAX_PAGE_SIZE
    source: str = "rest"  # rest (the IC feed API) or taxii (the IC's TAXII 2.1 server)
    taxii_api_root: str = ""
    max_tlp: str = ""  # indicators marked above it are left out ("" : no cap; splunk/feeds.py, TLP_ORDER)

    @classmethod
    def from_params(cls, name, params):
        """Raise ValueError with a message for the admin on any bad parameter."""
        feed_id = str(params.get("feed_id") or DEFAULT_FEED_ID).strip()
        if not FEED_ID.match(feed_id):
            raise ValueError(f"feed_id {feed_id!r} is not a feed identifier: copy the feed's UUID from the "
                             f"Sekoia.io Intelligence Center (e.g. {DEFAULT_FEED_ID})")
        types = tuple(t.strip().lower() for t in str(params.get("types") or "indicator").split(",") if t.strip())
        unknown = [t for t in types if t not in STIX_TYPES]
        if unknown or not types:
            raise ValueError(f"types {', '.join(unknown) or '(empty)'} unknown: use a comma list of STIX 2.1 "
                             f"object types such as indicator")
        raw_size = str(params.get("page_size") or MAX_PAGE_SIZE).strip()
        try:
            page_size = int(raw_size)
        except ValueError:
            page_size = 0
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size {raw_size!r} must be a whole number from 1 to {MAX_PAGE_SIZE}")
        source = str(params.get("source") or "rest").strip().lower()
        if source not in ("rest", "taxii"):
            raise ValueError(f"source {source!r} unknown: use rest (the IC feed API) or taxii (TAXII 2.1)")
        taxii_api_root = str(params.get("taxii_api_root") or "").strip()
        if taxii_api_root:
            try:
                taxii_api_root = check_http_url(taxii_api_root, "taxii_api_root") + "/"
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        max_tlp = str(params.get("max_tlp") or "").strip().lower()
        if max_tlp:
            from ..splunk.feeds import check_feed
            checked, errors = check_feed("x", {"feed_id": feed_id, "max_tlp": max_tlp})
            if "max_tlp" in errors:
                raise ValueError(errors["max_tlp"])
            max_tlp = checked["max_tlp"]
        return cls(name=name, feed_id=feed_id, types=types, page_size=page_size, source=source,
                   taxii_api_root=taxii_api_root, max_tlp=max_tlp)

    @property
    def feed_name(self):
        return self.name.split("://", 1)[-1]

    @property
    def checkpoint_key(self):
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)


@dataclass
class RunStats:
    pages: int = 0
    objects_seen: int = 0
    rows_written: int = 0
    rows_removed: int = 0
    expired_purged: int = 0
    invalid_objects: int = 0
    unsupported_patterns: int = 0
    skipped_other_types: int = 0
    tlp_excluded: int = 0

    @property
    def errors(self):
        return self.invalid_objects + self.unsupported_patterns


@dataclass
class PagePlan:
    """What one page does to the lookup: the rows each indicator it names must have from now on (none for a
    revoked or expired one). A later version of an indicator in the same page replaces an earlier one."""
    rows_of: dict = field(default_factory=dict)  # indicator id -> [row]

    def rows(self):
        return {row["_key"]: row for rows in self.rows_of.values() for row in rows}


class FeedSync:
    def __init__(self, client, indicators, checkpoints, feed_input, clock=time.time, lease=None,
                 shared_feed_ids=()):
        """lease: the sync lease this member holds (lease.Lease), renewed before each page; the collections are
        then FencedCollections, whose writes stop once it lapses. shared_feed_ids: the feed ids other configured
        feeds read (their rows are never removed on this feed's behalf)."""
        self.client = client
        self.lease = lease
        self.shared_feed_ids = frozenset(shared_feed_ids)
        self.indicators = indicators
        self.checkpoints = checkpoints
        self.input = feed_input
        self.clock = clock
        self.stats = RunStats()
        self._log_once = Once(log.warning)  # _log_once(kind, message, *args)

    # ------------------------------------------------------------------------------------------ checkpoint
    def load_checkpoint(self):
        return self.checkpoints.get(self.input.checkpoint_key) or {}

    def save_checkpoint(self, checkpoint, **changes):
        checkpoint.update(changes)
        if checkpoint.get("last_error"):  # the IC's own words may be in it: never store a credential
            checkpoint["last_error"] = redact(checkpoint["last_error"])
        checkpoint.update({"_key": self.input.checkpoint_key, "input": self.input.name, "feed_id": self.input.feed_id,
                           "feed_name": self.input.feed_name, "source": self.input.source,
                           "max_tlp": self.input.max_tlp, **asdict(self.stats), "errors": self.stats.errors})
        if self.lease is not None:
            checkpoint.update(synced_by=self.lease.member, fence=self.lease.fence)
        self.checkpoints.save([checkpoint])

    # ------------------------------------------------------------------------------------------ run
    def run(self):
        started, started_clock = self.clock(), time.monotonic()
        checkpoint = self.load_checkpoint()
        try:
            self.renew_lease()
            checkpoint = self._follow_changes(checkpoint)
            checkpoint.update(status="running", last_run_start=started)
            self._start_upgrade(checkpoint)
            self.purge_expired(started)
            cursor = self._pull(checkpoint, checkpoint.get("cursor") or None)
            if checkpoint.get("upgrade_started"):
                self._finish_upgrade(checkpoint)
        except LeaseLost as exc:
            # Nothing more is written, the checkpoint included: the member that holds the lease now may have
            # stored a newer cursor. The stored one is where the next run resumes.
            log.warning("feed %s: stopped after page %d, this member may no longer write (%s); the stored cursor "
                        "is where the member holding the sync lease resumes", self.input.feed_id, self.stats.pages,
                        exc)
            raise
        except SekoiaError as exc:
            return self._fail(checkpoint, str(exc), started_clock)
        except Exception as exc:  # noqa: BLE001 - splunkd/KV store errors: record and stop, cursor unchanged
            return self._fail(checkpoint, f"KV store or splunkd error: {type(exc).__name__}: {exc}", started_clock)
        duration = round(time.monotonic() - started_clock, 3)
        self.save_checkpoint(checkpoint, status="success", cursor=cursor, initial_sync_done=True,
                             last_run_end=self.clock(), last_success=self.clock(), duration=duration)
        log.info("feed %s synced: pages=%d objects=%d rows_written=%d rows_removed=%d expired_purged=%d "
                 "invalid=%d unsupported=%d duration=%.1fs", self.input.feed_id, self.stats.pages,
                 self.stats.objects_seen, self.stats.rows_written, self.stats.rows_removed,
                 self.stats.expired_purged, self.stats.invalid_objects, self.stats.unsupported_patterns, duration)
        return self.stats

    def _follow_changes(self, checkpoint):
        """A feed whose feed id, source or TLP cap changed since its last run: the checkpoint to go on from."""
        if checkpoint.get("feed_id") not in (None, self.input.feed_id):
            old = checkpoint["feed_id"]
            if old in self.shared_feed_ids:
                log.warning("input %s now reads feed %s instead of %s: full resync (the rows of %s stay: another "
                            "configured feed reads it)", self.input.name, self.input.feed_id, old, old)
            else:
                log.warning("input %s now reads feed %s instead of %s: full resync, rows of the old feed removed",
                            self.input.name, self.input.feed_id, old)
                self._remove_where({"feed_id": old})
            return {"lookup_model": checkpoint.get("lookup_model")} if checkpoint.get("lookup_model") else {}
        if checkpoint and checkpoint.get("source", "rest") != self.input.source:
            # A REST cursor means nothing to TAXII and back: read the feed again (rows are upserted, not lost).
            log.warning("input %s switched to %s: full resync", self.input.name, self.input.source)
            _restart(checkpoint)
        if checkpoint and checkpoint.get("max_tlp", "") != self.input.max_tlp:
            # Rows now above the cap go at once; a raised cap needs the feed read again for what it now admits.
            removed = 0
            if self.input.max_tlp:
                removed = self._remove_where({"feed_id": self.input.feed_id,
                                              "tlp": {"$in": levels_above(self.input.max_tlp)}})
            log.warning("input %s: TLP cap %s -> %s: %d rows above it removed, full resync", self.input.name,
                        checkpoint.get("max_tlp") or "(none)", self.input.max_tlp or "(none)", removed)
            self.stats.rows_removed += removed
            _restart(checkpoint)
        return checkpoint

    # ------------------------------------------------------------------------------------------ upgrade
    def _start_upgrade(self, checkpoint):
        """A lookup not yet known to be in LOOKUP_MODEL is read again from the feed's start: the new rows are saved
        beside the old ones, which keep serving until the pull ends and _finish_upgrade removes them. An empty
        lookup (a new install) needs none of it."""
        if checkpoint.get("lookup_model") == LOOKUP_MODEL or checkpoint.get("upgrade_started"):
            return
        if self._holds_rows():
            log.warning("input %s: the lookup has rows of an earlier version of the app: reading the feed again "
                        "to rebuild them; the old rows serve until then", self.input.name)
            _restart(checkpoint)
            checkpoint["upgrade_started"] = True
        else:
            checkpoint["lookup_model"] = LOOKUP_MODEL

    def _finish_upgrade(self, checkpoint):
        """After a whole pull in the new model: remove every row of the feed that is not of it."""
        stale = []
        for row in self.indicators.find({"feed_id": self.input.feed_id},
                                        fields=["feed_id", "indicator_id", "type", "value"]):
            if row["_key"] != _model_key(row):
                stale.append(row["_key"])
                if len(stale) >= 1000:  # keyset paging is not disturbed by deletes behind it
                    self._delete(stale)
                    stale = []
        self._delete(stale)
        self.save_checkpoint(checkpoint, lookup_model=LOOKUP_MODEL, upgrade_started=False)
        log.info("input %s: the lookup is rebuilt in its new model", self.input.name)

    def _holds_rows(self):
        return self.indicators.exists({"feed_id": self.input.feed_id})

    def _fail(self, checkpoint, message, started_clock):
        log.error("feed %s sync stopped, will resume from the last stored page at the next run: %s",
                  self.input.feed_id, message)
        try:
            # The checkpoint's cursor is still the one of the last page stored: only the error is added.
            self.save_checkpoint(checkpoint, status="error", last_error=message, last_error_time=self.clock(),
                                 last_run_end=self.clock(), duration=round(time.monotonic() - started_clock, 3))
        except Exception as exc:  # noqa: BLE001 - the KV store may be the thing that is down
            log.error("could not record the error in %s: %s", CHECKPOINTS_COLLECTION, type(exc).__name__)
        raise SyncFailed(message)

    def _pull(self, checkpoint, cursor):
        """Pages from the cursor on. The next page is fetched while the current one is applied (the IC's rate
        limit, not this process, bounds the sync); what makes a crash harmless is unchanged: a page's rows are
        saved and its stale rows deleted, then its cursor is stored, and only then is the next page applied."""
        limit = self.input.page_size
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            pending = prefetch.submit(self._fetch, cursor, limit)
            while True:
                page = pending.result()
                items = page["items"]
                next_cursor = page.get("next_cursor") or cursor
                if len(items) >= limit and next_cursor == cursor:
                    raise InvalidResponseError("the feed returned a full page without moving its cursor; stopping "
                                               "to avoid reading the same page forever")
                if len(items) >= limit:
                    pending = prefetch.submit(self._fetch, next_cursor, limit)
                self.apply_page(items)
                self.stats.pages += 1
                cursor = next_cursor
                self.save_checkpoint(checkpoint, cursor=cursor)
                log.debug("page %d stored: %d objects, cursor saved", self.stats.pages, len(items))
                if len(items) < limit:
                    return cursor
                self.renew_lease()

    def _fetch(self, cursor, limit):
        # Only the first page of a pull into an empty lookup may leave out revoked and expired objects: they
        # have no rows to remove. Every other page must see them, including the versions that expire an
        # indicator (skip_expired hides those too: docs/design.md, "The IC API").
        fresh = cursor is None and not self._holds_rows()
        return self.client.feed_page(self.input.feed_id, cursor=cursor, limit=limit, types=self.input.types,
                                     skip_expired=fresh, include_revoked=not fresh)

    # ------------------------------------------------------------------------------------------ pages
    def plan_page(self, items, now):
        plan = PagePlan()
        for obj in items:
            self.stats.objects_seen += 1
            if isinstance(obj, dict) and obj.get("type") in STIX_TYPES and obj.get("type") != "indicator":
                self.stats.skipped_other_types += 1
                continue
            try:
                indicator = Indicator(obj)
                rows = indicator.rows(self.input.feed_id) if indicator.is_live(now) else []
                if rows and self.input.max_tlp and tlp_rank(rows[0]["tlp"]) > tlp_rank(self.input.max_tlp):
                    self.stats.tlp_excluded += 1
                    rows = []  # left out like a revoked indicator: its rows, if any, go
                plan.rows_of[indicator.id] = rows
            except InvalidIndicator as exc:
                self.stats.invalid_objects += 1
                self._log_once("invalid", "skipped an object that is not a valid STIX 2.1 indicator (%s): %s",
                               _object_id(obj), exc)
            except UnsupportedPattern as exc:
                self.stats.unsupported_patterns += 1
                plan.rows_of[indicator.id] = []  # its older rows, if any, no longer describe it
                self._log_once(f"unsupported:{exc.kind}", "indicator %s has no observable the lookup holds "
                               "(%s); further ones of this kind are counted, not logged", indicator.id, exc.kind)
        return plan

    def apply_page(self, items):
        plan = self.plan_page(items, self.clock())
        rows = plan.rows()
        if rows:
            self.stats.rows_written += self.indicators.save(list(rows.values()))
        if plan.rows_of:
            self.stats.rows_removed += self._remove_stale(plan)

    def _remove_stale(self, plan):
        """Delete the rows of this feed that the page's indicators no longer have (all rows of a revoked, expired
        or capped one; the dropped observables of a changed one), without reading back the rows just saved: one
        query per STALE_IDS_PER_QUERY indicator ids (indicator_id is accelerated) that leaves out, by _key, the
        rows those indicators keep; all of a page's queries in one batch_find. A query's answer may be cut (by
        rows or size): what it found is deleted and it is asked again, until every query finds nothing."""
        queries = []
        for ids in chunks(sorted(plan.rows_of), STALE_IDS_PER_QUERY):
            query = {"feed_id": self.input.feed_id, "indicator_id": {"$in": ids}}
            keep = [row["_key"] for indicator_id in ids for row in plan.rows_of[indicator_id]]
            if keep:
                query["_key"] = {"$nin": keep}
            queries.append(query)
        removed = 0
        for _ in range(STALE_ROUNDS):
            answers = self.indicators.find_each(queries, fields=["_key"])
            found = [(query, rows) for query, rows in zip(queries, answers) if rows]
            if not found:
                return removed
            removed += self._delete([row["_key"] for _, rows in found for row in rows])
            queries = [query for query, _ in found]
        raise RuntimeError(f"stale rows still found after {STALE_ROUNDS} rounds of deletes")

    def purge_expired(self, now):
        """Rows whose valid_until passed since the last run: the feed will not send them again. (Rows of an
        earlier model are left to _finish_upgrade: another indicator's old row may be all that holds an
        observable until its new rows are written.)"""
        expired = self.indicators.find({"feed_id": self.input.feed_id, "valid_until": {"$lt": now}},
                                       fields=["feed_id", "indicator_id", "type", "value"])
        removed = self._delete([row["_key"] for row in expired if row["_key"] == _model_key(row)])
        self.stats.expired_purged += removed
        self.stats.rows_removed += removed

    def _remove_where(self, query):
        return self._delete([row["_key"] for row in self.indicators.find(query, fields=["_key"])])

    def _delete(self, keys):
        if keys:
            self.indicators.delete_in("_key", keys)
        return len(keys)

    def renew_lease(self):
        """Before a run and between pages (the last one stored, its cursor saved): renew the sync lease, or stop
        with LeaseLost before anything more is written."""
        if self.lease is not None:
            self.lease.renew()


def _restart(checkpoint):
    """Make the next pull start from the feed's beginning."""
    for name in RESUME_FIELDS:
        checkpoint.pop(name, None)


def _model_key(row):
    """The key a row has in the current LOOKUP_MODEL (differs from its _key for rows of an earlier model)."""
    return row_key(row.get("feed_id"), row.get("indicator_id"), row.get("type"), row.get("value"))


def _object_id(obj):
    return obj.get("id", "<no id>") if isinstance(obj, dict) else f"<{type(obj).__name__}>"
