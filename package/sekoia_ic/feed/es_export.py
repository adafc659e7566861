"""Enterprise Security threat intelligence: at the end of each feed run, the live, non-allowlisted rows of the
lookup sekoia_ic_indicators become five CSV lookups with the headers ES documents, which ES reads through the
app's disabled `[threatlist://sekoia_ic_<type>]` sources (docs/design.md, "Enterprise Security").

    es_export.after_run(service, [checkpoint key, ...])   # the feed run's one call; never raises

How a file reaches the app: it is written under $SPLUNK_HOME/var/run/splunk/lookup_tmp/ (the lookup staging
area) and handed to splunkd's `data/lookup-table-files` endpoint (`eai:data` = the staged path): POST
data/lookup-table-files/<name> replaces an existing lookup file, POST data/lookup-table-files with `name` creates
one. splunkd moves the file into the app, and a search head cluster replicates it. The CSV is written as the KV
store is read (pages of rows, one pass for all five files): memory does not grow with the lookup.

A failed export leaves every lookup file it did not replace as it was (a file is replaced whole or not at all),
changes nothing of the sync's cursor, and says why in the checkpoint rows (es_export_status = error,
es_export_error); the next run exports again.
"""
import csv
import logging
import os
import time
import uuid

from ..constants import CHECKPOINTS_COLLECTION, INDICATORS_COLLECTION
from ..redaction import redact
from ..splunk.allowlist import Allowlist
from ..splunk.es_settings import ES_TYPES, read_es_settings
from ..splunk.kvstore import KVCollection

log = logging.getLogger("sekoia_ic_feed.es_export")

# ES's documented header of each threat intelligence type ("Supported types of threat intelligence in Splunk
# Enterprise Security"), exactly: ES matches the columns by these names.
HEADERS = {
    "ip": ("description", "ip", "weight"),
    "domain": ("description", "domain", "weight"),
    "http": ("description", "http_referrer", "http_user_agent", "url", "weight"),
    "file": ("description", "file_hash", "file_name", "weight"),
    "email": ("description", "src_user", "subject", "weight"),
}
# Lookup row type -> (ES type, the column its value goes to, the row field holding the value).
COLUMNS = {
    "ipv4-addr": ("ip", "ip", "value"),
    "ipv6-addr": ("ip", "ip", "value"),
    "domain-name": ("domain", "domain", "value"),  # lowercase, internationalised names in punycode
    "url": ("http", "url", "ic_value"),  # as the IC has it: a URL's path is case-sensitive
    "file": ("file", "file_hash", "value"),
    "filename": ("file", "file_name", "ic_value"),
    "email-addr": ("email", "src_user", "value"),
}
ROW_FIELDS = ["value", "ic_value", "type", "is_range", "indicator_id", "indicator_name", "valid_until", "confidence",
              "kill_chain_phases", "tlp"]
DEFAULT_WEIGHT = 60  # an indicator without a confidence
MAX_CELL = 2048  # characters of a value ES is given; a longer one (a URL, mostly) is left out and counted
MAX_DESCRIPTION = 1024
STAGING = ("var", "run", "splunk", "lookup_tmp")
SKIP_REASONS = ("expired", "below_confidence", "ipv6_off", "allowlisted", "unusable_value", "over_cap")


class ExportFailed(Exception):
    pass


def lookup_name(es_type):
    """The lookup definition (transforms.conf) of an ES type; its file is <name>.csv."""
    return f"sekoia_ic_es_{es_type}"


def weight(confidence):
    """ES's weight, 1..100: the indicator's confidence clamped, DEFAULT_WEIGHT without one."""
    if confidence is None or confidence == "" or isinstance(confidence, bool):
        return DEFAULT_WEIGHT
    try:
        value = int(float(confidence))
    except (TypeError, ValueError):
        return DEFAULT_WEIGHT
    return min(max(value, 1), 100)


def _one_line(text):
    return " ".join(str(text).split())


def description(row):
    """Names the indicator: 'Sekoia.io: <name> (<id>); kill chain: a, b; TLP: amber; confidence: 80'."""
    phases = row.get("kill_chain_phases") or []
    if isinstance(phases, str):
        phases = [phases]
    parts = [f"Sekoia.io: {row.get('indicator_name') or 'indicator'} ({row.get('indicator_id') or '?'})"]
    if phases:
        parts.append("kill chain: " + ", ".join(str(p) for p in phases))
    if row.get("tlp"):
        parts.append(f"TLP: {row['tlp']}")
    if row.get("confidence") not in (None, ""):
        parts.append(f"confidence: {row['confidence']}")
    return _one_line("; ".join(parts))[:MAX_DESCRIPTION]


def usable(value):
    """Whether ES can hold the value in a CSV cell: a non-empty string of at most MAX_CELL characters with no
    control character (a line break would split the row for any reader not following RFC 4180)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_CELL and value.isprintable()


class Export:
    """One export: the KV rows read once, each routed to its type's CSV writer, with counts."""

    def __init__(self, settings, allowlist, now):
        self.settings, self.allowlist, self.now = settings, allowlist, now
        self.rows = dict.fromkeys(settings.types, 0)
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)

    def source_types(self):
        return sorted(t for t, (es_type, _, _) in COLUMNS.items() if es_type in self.settings.types)

    def cells(self, row):
        """(ES type, the row's cells) of a lookup row, or None (and the reason counted) when it is left out."""
        mapping = COLUMNS.get(row.get("type"))
        if mapping is None or mapping[0] not in self.rows:
            return None
        es_type, column, field = mapping
        valid_until = row.get("valid_until")
        if isinstance(valid_until, (int, float)) and not isinstance(valid_until, bool) and valid_until <= self.now:
            return self._skip("expired")  # the sync purges them at its next run; ES never reads valid_until
        row_weight = weight(row.get("confidence"))
        if row_weight < self.settings.min_confidence:
            return self._skip("below_confidence")
        if row["type"] == "ipv6-addr" and not self.settings.ipv6:
            return self._skip("ipv6_off")
        if self.allowlist.holds(row["type"], row.get("value")):
            return self._skip("allowlisted")
        value = row.get(field) or row.get("value")
        if not usable(value):
            return self._skip("unusable_value")
        if self.rows[es_type] >= self.settings.max_rows:
            return self._skip("over_cap")
        cells = dict.fromkeys(HEADERS[es_type], "")
        cells.update({"description": description(row), column: value, "weight": str(row_weight)})
        self.rows[es_type] += 1
        return es_type, [cells[name] for name in HEADERS[es_type]]

    def _skip(self, reason):
        self.skipped[reason] += 1
        return None

    def write(self, rows, files):
        """Write every row to the open CSV files ({ES type: text file}), headers first."""
        writers = {}
        for es_type, handle in files.items():
            # RFC 4180: fields quoted when they hold a comma, a quote or a line break, quotes doubled.
            writers[es_type] = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writers[es_type].writerow(HEADERS[es_type])
        for row in rows:
            routed = self.cells(row)
            if routed is not None:
                writers[routed[0]].writerow(routed[1])


def staging_dir():
    home = os.environ.get("SPLUNK_HOME")
    if not home:
        raise ExportFailed("SPLUNK_HOME is not set: no lookup staging area")
    path = os.path.join(home, *STAGING)
    os.makedirs(path, exist_ok=True)
    return path


def stage_files(export, rows, directory, types):
    """Write the CSV of each type into the staging area; {ES type: staged path}. Removes them on failure."""
    paths = {t: os.path.join(directory, f"{lookup_name(t)}_{os.getpid()}_{uuid.uuid4().hex}.csv") for t in types}
    handles = {}
    try:
        for es_type, path in paths.items():
            handles[es_type] = open(path, "w", encoding="utf-8", newline="")
        export.write(rows, handles)
    except BaseException:
        for handle in handles.values():
            handle.close()
        remove(paths.values())
        raise
    for handle in handles.values():
        handle.close()
    return paths


def remove(paths):
    for path in paths:
        try:
            os.remove(path)
        except OSError:
            pass


def upload(service, name, path):
    """Hand a staged file to splunkd as the app's lookup file <name>: replace it (POST .../<name>), or create it
    (POST data/lookup-table-files with name) when splunkd has none (404)."""
    from splunklib.binding import HTTPError
    try:
        service.post(f"data/lookup-table-files/{name}", **{"eai:data": path})
    except HTTPError as exc:
        if exc.status != 404:
            raise
        service.post("data/lookup-table-files", name=name, **{"eai:data": path})


def export(service, settings, now=None, types=None):
    """Write and upload the lookups of the settings' types (all of ES_TYPES, empty, when the export is off).
    Returns the Export (its counts); raises on any failure, after removing what it staged."""
    now = time.time() if now is None else now
    allowlist = Allowlist.load(service, now) if settings.enabled else Allowlist()
    job = Export(settings, allowlist, now)
    types = tuple(types or ES_TYPES)
    directory = staging_dir()
    if settings.enabled:
        kv = KVCollection(service, INDICATORS_COLLECTION)
        rows = kv.find({"type": {"$in": job.source_types()}}, fields=ROW_FIELDS)
    else:
        rows = ()
    paths = stage_files(job, rows, directory, types)
    try:
        for es_type in types:
            upload(service, f"{lookup_name(es_type)}.csv", paths[es_type])
    finally:
        remove(paths.values())  # splunkd moved the ones it took
    return job


def after_run(service, checkpoint_keys, now=None):
    """The feed run's hook: export when [es] enabled = true, empty the lookups once after it is turned off, and
    record the outcome in the input's checkpoint rows. Returns whether it went well; never raises."""
    started = time.time()
    try:
        settings = read_es_settings(service)
        checkpoints = KVCollection(service, CHECKPOINTS_COLLECTION)
        rows = [checkpoints.get(key) or {"_key": key} for key in checkpoint_keys]
    except Exception as exc:  # noqa: BLE001 - splunkd or a bad [es] stanza: said, and the run goes on
        log.error("export to Enterprise Security not attempted: %s", redact(f"{type(exc).__name__}: {exc}"))
        return False
    if not settings.enabled and all(r.get("es_export_status") in (None, "off") for r in rows):
        return True  # never exported, or emptied already: nothing to do
    try:
        job = export(service, settings, now)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded; the lookups not replaced stay as they were
        message = redact(f"{type(exc).__name__}: {exc}")[:1000]
        log.error("export to Enterprise Security failed, retried at the next run: %s", message)
        _record(checkpoints, rows, es_export_status="error", es_export_error=message, es_export_time=time.time())
        return False
    total, skipped = sum(job.rows.values()), sum(job.skipped.values())
    status = "ok" if settings.enabled else "off"
    log.info("export to Enterprise Security: status=%s rows=%s left_out=%s (%s) in %.1f s", status,
             ",".join(f"{t}={n}" for t, n in job.rows.items()) or "0", skipped,
             ", ".join(f"{k}={v}" for k, v in job.skipped.items() if v) or "none", time.time() - started)
    _record(checkpoints, rows, es_export_status=status, es_export_error="", es_export_time=time.time(),
            es_export_rows=total, es_export_skipped=skipped)
    return True


def _record(checkpoints, rows, **fields):
    try:
        for row in rows:
            row.update(fields)
        checkpoints.save(rows)
    except Exception as exc:  # noqa: BLE001
        log.error("could not record the export's outcome in %s: %s", CHECKPOINTS_COLLECTION, type(exc).__name__)
