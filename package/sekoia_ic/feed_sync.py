"""Keeps the `sekoia_ic_indicators` lookup in sync with an IC feed (DESIGN.md, "IC API facts" and "KV store").

A run reads the feed page by page from the stored cursor. For each page it first removes the rows the page
makes stale (revoked or expired indicators, observables dropped from a changed pattern), then upserts the
page's rows, and only then stores the cursor that ends the page. A crash at any point therefore replays at
most one page, and replaying a page is idempotent: rows have deterministic keys and no run-specific fields.
"""
import logging
import re
import time
from dataclasses import asdict, dataclass, field

from .client import DEFAULT_FEED_ID, MAX_PAGE_SIZE
from .errors import InvalidResponseError, SekoiaError
from .indicators import InvalidIndicator, UnsupportedPattern, check_indicator, is_live, rows_for
from .regions import check_http_url

INDICATORS_COLLECTION = "sekoia_ic_indicators"
CHECKPOINTS_COLLECTION = "sekoia_ic_checkpoints"
# STIX 2.1 object types the feed can be asked for (match[type]); only indicators become rows.
STIX_TYPES = ("indicator", "malware", "intrusion-set", "threat-actor", "campaign", "tool", "attack-pattern",
              "vulnerability", "report", "identity", "infrastructure", "course-of-action", "location",
              "observed-data", "note", "opinion", "grouping", "incident", "malware-analysis", "relationship",
              "sighting")
FEED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

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

    @classmethod
    def from_params(cls, name, params):
        """Raise ValueError with a message for the admin on any bad parameter."""
        feed_id = str(params.get("feed_id") or DEFAULT_FEED_ID).strip()
        if not FEED_ID.match(feed_id):
            raise ValueError(f"feed_id {feed_id!r} is not a feed identifier: copy the feed's UUID from the "
                             "Sekoia.io Intelligence Center (e.g. d6092c37-d8d7-45c3-8aff-c4dc26030608)")
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
        return cls(name=name, feed_id=feed_id, types=types, page_size=page_size, source=source,
                   taxii_api_root=taxii_api_root)

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

    @property
    def errors(self):
        return self.invalid_objects + self.unsupported_patterns


@dataclass
class PagePlan:
    """What one page does to the lookup."""
    rows: dict = field(default_factory=dict)  # _key -> row
    live_ids: set = field(default_factory=set)
    dead_ids: set = field(default_factory=set)


def is_fetching_member(service):
    """Only one member of a search head cluster fetches: the captain. A standalone instance always fetches.
    splunkd lists shc_member (and shc_captain on the captain) in server/info's server_roles."""
    roles = service.info.get("server_roles") or []
    roles = [roles] if isinstance(roles, str) else list(roles)
    return "shc_member" not in roles or "shc_captain" in roles


class FeedSync:
    def __init__(self, client, indicators, checkpoints, feed_input, clock=time.time):
        self.client = client
        self.indicators = indicators
        self.checkpoints = checkpoints
        self.input = feed_input
        self.clock = clock
        self.stats = RunStats()
        self._logged_kinds = set()

    # ------------------------------------------------------------------------------------------ checkpoint
    def load_checkpoint(self):
        return self.checkpoints.get(self.input.checkpoint_key) or {}

    def save_checkpoint(self, checkpoint, **changes):
        checkpoint.update(changes)
        checkpoint.update({"_key": self.input.checkpoint_key, "input": self.input.name,
                           "feed_id": self.input.feed_id, "source": self.input.source, **asdict(self.stats), "errors": self.stats.errors})
        self.checkpoints.save([checkpoint])

    # ------------------------------------------------------------------------------------------ run
    def run(self):
        started, started_clock = self.clock(), time.monotonic()
        checkpoint = self.load_checkpoint()
        if checkpoint.get("feed_id") not in (None, self.input.feed_id):
            log.warning("input %s now reads feed %s instead of %s: full resync, rows of the old feed removed",
                        self.input.name, self.input.feed_id, checkpoint["feed_id"])
            self._remove_where({"feed_id": checkpoint["feed_id"]})
            checkpoint = {}
        elif checkpoint and checkpoint.get("source", "rest") != self.input.source:
            # A REST cursor means nothing to TAXII and back: read the feed again (rows are upserted, not lost).
            log.warning("input %s switched to %s: full resync", self.input.name, self.input.source)
            checkpoint = {}
        cursor = checkpoint.get("cursor") or None
        checkpoint.update(status="running", last_run_start=started)
        try:
            self.purge_expired(started)
            cursor = self._pull(checkpoint, cursor)
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
        limit = self.input.page_size
        while True:
            # include_revoked only when resuming: a first full pull has nothing to revoke yet.
            page = self.client.feed_page(self.input.feed_id, cursor=cursor, limit=limit, types=self.input.types,
                                         skip_expired=True, include_revoked=cursor is not None)
            items = page["items"]
            next_cursor = page.get("next_cursor") or cursor
            if len(items) >= limit and next_cursor == cursor:
                raise InvalidResponseError("the feed returned a full page without moving its cursor; stopping "
                                           "to avoid reading the same page forever")
            self.apply_page(items)
            self.stats.pages += 1
            cursor = next_cursor
            self.save_checkpoint(checkpoint, cursor=cursor)
            log.debug("page %d stored: %d objects, cursor saved", self.stats.pages, len(items))
            if len(items) < limit:
                return cursor

    # ------------------------------------------------------------------------------------------ pages
    def plan_page(self, items, now):
        plan = PagePlan()
        for obj in items:
            self.stats.objects_seen += 1
            if isinstance(obj, dict) and obj.get("type") in STIX_TYPES and obj.get("type") != "indicator":
                self.stats.skipped_other_types += 1
                continue
            try:
                indicator_id = check_indicator(obj)
                if not is_live(obj, now):
                    plan.dead_ids.add(indicator_id)
                    plan.live_ids.discard(indicator_id)
                    continue
                rows = rows_for(obj, self.input.feed_id)
            except InvalidIndicator as exc:
                self.stats.invalid_objects += 1
                self._log_once("invalid", "skipped an object that is not a valid STIX 2.1 indicator (%s): %s",
                               _object_id(obj), exc)
                continue
            except UnsupportedPattern as exc:
                self.stats.unsupported_patterns += 1
                # Its older rows, if any, no longer describe it.
                plan.dead_ids.add(indicator_id)
                self._log_once(f"unsupported:{exc.kind}", "indicator %s has no observable the lookup holds "
                               "(%s); further ones of this kind are counted, not logged", indicator_id, exc.kind)
                continue
            plan.dead_ids.discard(indicator_id)
            plan.live_ids.add(indicator_id)
            for row in rows:
                plan.rows[row["_key"]] = row
        return plan

    def apply_page(self, items):
        plan = self.plan_page(items, self.clock())
        touched = plan.live_ids | plan.dead_ids
        if touched:
            existing = self.indicators.find_in("indicator_id", touched, fields=["_key", "indicator_id"])
            stale = {row["_key"] for row in existing if row["_key"] not in plan.rows}
            if stale:
                self.indicators.delete_in("_key", stale)
                self.stats.rows_removed += len(stale)
        if plan.rows:
            self.stats.rows_written += self.indicators.save(list(plan.rows.values()))

    def purge_expired(self, now):
        """Rows whose valid_until passed since the last run: the feed will not send them again."""
        removed = self._remove_where({"feed_id": self.input.feed_id, "valid_until": {"$lt": now}})
        self.stats.expired_purged += removed
        self.stats.rows_removed += removed

    def _remove_where(self, query):
        keys = [row["_key"] for row in self.indicators.find(query, fields=["_key"])]
        if keys:
            self.indicators.delete_in("_key", keys)
        return len(keys)

    def _log_once(self, kind, message, *args):
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            log.warning(message, *args)


def _object_id(obj):
    return obj.get("id", "<no id>") if isinstance(obj, dict) else f"<{type(obj).__name__}>"
