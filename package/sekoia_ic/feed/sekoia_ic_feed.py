"""The `sekoia_ic_feed` modular input (splunklib.modularinput): scheme, argument validation, and runs.

Splunk starts bin/sekoia_ic_feed.py with `--scheme`, `--validate-arguments` (XML on stdin) or with no argument
and the <input> XML (server_uri, session_key, stanza params) on stdin. A run syncs each stanza's feed into the
KV store; it writes no events.
"""
import sys
import time

from splunklib.modularinput import Argument, Scheme, Script

from ..constants import CHECKPOINTS_COLLECTION, INDICATORS_COLLECTION, LEASE_COLLECTION, is_true
from ..regions import base_url_for
from ..ic.client import DEFAULT_FEED_ID, MAX_PAGE_SIZE, check_api_key
from ..ic.errors import ConfigurationError, SekoiaError
from ..splunk import allowlist, logs
from ..splunk.feeds import check_feed, read_feeds, write_feed
from ..splunk.kvstore import KVCollection
from ..splunk.settings import app_service, make_client, proxy_url, read_api_key, read_settings, read_stanza
from . import es_export
from .lease import FencedCollection, Lease, LeaseLost, LeaseTiming
from .sync import FeedInput, FeedSync, SyncFailed
from .taxii import TaxiiCollection, TaxiiSync, default_api_root

ENTRY = logs.EntryPoint("sekoia_ic_feed")
log = ENTRY.log


class FeedScript(Script):
    """Keeps the sekoia_ic_indicators KV store lookup in sync with a Sekoia.io Intelligence Center feed.

    ##Syntax

    .. code-block::
        [sekoia_ic_feed://<name>]
        feed_id = <IC feed id>            (1.x only: moved to sekoia_ic.conf [feed:<name>] by the first run)
        types = <STIX types, comma list>  (default: indicator)
        page_size = <1 to 2000>           (default: 2000)
        source = rest | taxii             (default: rest)
        taxii_api_root = <URL>            (source = taxii; default: <region base URL>/v2/inthreat/taxii-server/)
        interval = <seconds>

    ##Description

    The feeds themselves are sekoia_ic.conf [feed:<name>] stanzas (the setup page writes them; a search head
    cluster replicates them). The input runs on every member; the member holding the sync lease (KV store
    collection sekoia_ic_lease) syncs every enabled feed that is due, the others leave. Each feed resumes from
    its stored cursor, writes one lookup row per (feed, live indicator, observable) and removes the rows of
    revoked, expired or re-patterned indicators, then stores the cursor: a run killed at any point replays at
    most one page. The run's counts and last
    error go to the sekoia_ic_checkpoints collection (the feed health dashboard). Why it is built this way:
    docs/design.md, "The lookup".
    """

    def get_scheme(self):
        scheme = Scheme("Sekoia.io Intelligence Center feed")
        scheme.description = (f"Keeps the {INDICATORS_COLLECTION} KV store lookup in sync with a Sekoia.io "
                              "Intelligence Center feed.")
        scheme.use_external_validation = True
        scheme.use_single_instance = False
        scheme.add_argument(Argument("feed_id", title="Feed ID", data_type=Argument.data_type_string,
                                     description=f"The IC feed's UUID (default {DEFAULT_FEED_ID}).",
                                     required_on_create=False))
        scheme.add_argument(Argument("types", title="Object types", data_type=Argument.data_type_string,
                                     description="Comma list of STIX object types to ask for (default indicator).",
                                     required_on_create=False))
        scheme.add_argument(Argument("source", title="Source", data_type=Argument.data_type_string,
                                     description="rest (the IC feed API, default) or taxii (the IC's TAXII 2.1 "
                                                 "server).", required_on_create=False))
        scheme.add_argument(Argument("taxii_api_root", title="TAXII API root", data_type=Argument.data_type_string,
                                     description="With source=taxii: the TAXII 2.1 API root URL (default "
                                                 "<region base URL>/v2/inthreat/taxii-server/).",
                                     required_on_create=False))
        scheme.add_argument(Argument("page_size", title="Page size", data_type=Argument.data_type_number,
                                     description=f"Objects per request, 1 to {MAX_PAGE_SIZE} "
                                                 f"(default {MAX_PAGE_SIZE}).",
                                     required_on_create=False))
        return scheme

    def validate_input(self, definition):
        # ValueError's message is shown to the admin in Splunk Web.
        FeedInput.from_params(definition.metadata.get("name", ""), definition.parameters)

    def stream_events(self, inputs, ew):
        service = app_service(inputs.metadata["server_uri"], inputs.metadata["session_key"])
        ENTRY.start()
        failures = 0
        try:
            settings = read_settings(service)
            logs.set_level(settings.log_level)
            for name, params in inputs.inputs.items():
                failures += not run_member(service, settings, name, params)
        except ConfigurationError as exc:
            log.error("not configured: %s", exc)
            failures += 1
        except Exception as exc:  # noqa: BLE001 - splunkd unreachable etc.: one clear line, no traceback
            log.error("cannot start the feed sync: %s: %s", type(exc).__name__, exc)
            failures += 1
        if failures:
            sys.exit(1)


# ---------------------------------------------------------------------------------------------- one member's run
def run_member(service, settings, stanza, params):
    """One run of the input on this member: take the sync lease (or leave the sync to the member holding it),
    migrate a 1.x input's feed, remove the feeds no longer configured, sync each enabled feed that is due, release.
    False when something failed (logged)."""
    member = service.info.get("serverName", "?")
    configured = read_feeds(service)
    checkpoints = KVCollection(service, CHECKPOINTS_COLLECTION)
    rows = list(checkpoints.find(fields=["input", "feed_name", "feed_id", "source"]))  # one row per feed
    legacy = plan_migration(service, stanza, params, configured, rows)
    if not any(_is_enabled(values) for values in configured.values()) and not legacy \
            and not any(row.get("feed_name") for row in rows):
        log.info("member %s: no feed is enabled (sekoia_ic.conf [feed:<name>], the setup page): nothing to sync",
                 member)
        return True
    try:
        timing = LeaseTiming.from_conf(read_stanza(service, "sync_lease"))
    except ValueError as exc:
        log.error("%s", exc)
        return False
    lease = Lease(KVCollection(service, LEASE_COLLECTION), member, timing)
    try:
        held = lease.take()
    except Exception as exc:  # noqa: BLE001 - KV store down or unreadable: no member can know who syncs
        log.error("member %s: the sync lease could not be read or written (%s: %s): no sync this run", member,
                  type(exc).__name__, exc)
        return False
    if not held:
        holder = lease.seen
        log.info("member %s: %s", member, f"member {holder.holder} holds the sync lease (fence {holder.fence}): it "
                 "syncs the feeds" if holder and holder.holder else "the sync lease is taken or being reset: "
                 "another member syncs the feeds")
        return True
    log.info("member %s took the sync lease (fence %d)", member, lease.fence)
    fenced = FencedCollection(checkpoints, lease)
    try:
        if legacy:
            configured = migrate(service, lease, legacy, configured)
        remove_unconfigured(service, fenced, rows, configured, lease)
        synced = []
        ok = sync_feeds(service, settings, configured, fenced, lease, synced)
        if synced:
            # Enterprise Security's lookups follow the lookup as this run left it (a failed sync leaves it
            # consistent), once per run that synced a feed; expired allowlist entries go at the same time. The lease
            # is renewed first: the export (about 45 s for 1M rows) starts with a whole lease term ahead of it.
            lease.renew()
            es_export.after_run(service, [_checkpoint_key(name) for name in synced])
            purge_allowlist(service)
        return ok
    except LeaseLost as exc:
        log.warning("member %s stopped syncing: %s", member, exc)
        return True
    finally:
        lease.release()


def _is_enabled(values):
    feed, errors = check_feed("x", dict(values, feed_id=values.get("feed_id") or "x"))
    return feed["enabled"] and "enabled" not in errors


def sync_feeds(service, settings, configured, checkpoints, lease, synced):
    """Sync every enabled, valid and due feed, one after the other, under the lease; the names of the feeds it
    tried go into `synced`."""
    ok = True
    feeds = {}
    for name, values in sorted(configured.items()):
        feed, errors = check_feed(name, values)
        if errors:
            log.error("feed %s is misconfigured (sekoia_ic.conf [feed:%s]): %s", name, name,
                      "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
            ok = False
        elif feed["enabled"]:
            feeds[name] = (feed, values)
    by_id = {}
    for name, (feed, _) in feeds.items():
        by_id.setdefault(feed["feed_id"], []).append(name)
    for feed_id, names in by_id.items():
        if len(names) > 1:
            log.error("feeds %s all read IC feed %s: only %s is synced (one configured feed per IC feed)",
                      ", ".join(names), feed_id, names[0])
            for name in names[1:]:
                feeds.pop(name)
            ok = False
    now = time.time()
    for name, (feed, values) in feeds.items():
        state = checkpoints.get(_checkpoint_key(name)) or {}
        last = state.get("last_run_start")
        if isinstance(last, (int, float)) and state.get("status") == "success" and now < last + feed["interval"]:
            log.debug("feed %s: next sync in %.0f s", name, last + feed["interval"] - now)
            continue
        shared = {f["feed_id"] for other, (f, _) in feeds.items() if other != name}
        synced.append(name)
        ok &= sync_one(service, settings, f"sekoia_ic_feed://{name}", values, lease, checkpoints, shared)
    return ok


def _checkpoint_key(name):
    return FeedInput(name=f"sekoia_ic_feed://{name}").checkpoint_key


def sync_one(service, settings, name, params, lease, checkpoints, shared_feed_ids):
    """Sync one feed; LeaseLost propagates (the run stops)."""
    try:
        feed_input = FeedInput.from_params(name, params)
    except ValueError as exc:
        log.error("input %s is misconfigured: %s", name, exc)
        return False
    try:
        api_key = check_api_key(read_api_key(service))  # registered for masking as it is read
        if feed_input.source == "rest":
            client, sync_class = make_client(service, settings, api_key=api_key), FeedSync
        else:
            client, sync_class = make_taxii_collection(service, settings, feed_input, api_key), TaxiiSync
    except SekoiaError as exc:
        log.error("input %s: %s", name, exc)
        record_error(checkpoints, feed_input, str(exc))
        return False
    try:
        sync = sync_class(client, FencedCollection(KVCollection(service, INDICATORS_COLLECTION), lease),
                          checkpoints, feed_input, lease=lease, shared_feed_ids=shared_feed_ids)
        sync.run()
    except SyncFailed:
        return False
    finally:
        client.close()
    return True


# ---------------------------------------------------------------------------------------------- feeds and 1.x
def plan_migration(service, stanza, params, configured, checkpoint_rows):
    """{feed name: stanza values} that a 1.x (or 2.0 beta) input declared and sekoia_ic.conf does not have yet:
    the feed_id of the input's own stanza (local inputs.conf: the shipped stanza has none), and the feeds of
    checkpoint rows written before feeds moved to sekoia_ic.conf (they have no feed_name). Done once: sekoia_ic.conf
    [feed_migration] done = true afterwards, so a feed removed later is not brought back."""
    if is_true(read_stanza(service, "feed_migration").get("done")):
        return {}
    found = {}
    name = stanza.split("://", 1)[-1]
    if params.get("feed_id") and name not in configured:
        found[name] = {k: str(params[k]) for k in ("feed_id", "types", "page_size", "source", "taxii_api_root")
                       if params.get(k)}
        if params.get("interval"):
            found[name]["interval"] = str(params["interval"])
    for row in checkpoint_rows:
        if row.get("feed_name"):
            continue
        old = str(row.get("input") or "").split("://", 1)[-1]
        if old and old not in configured and old not in found and row.get("feed_id"):
            found[old] = {"feed_id": row["feed_id"], "source": row.get("source") or "rest"}
    return found


def migrate(service, lease, legacy, configured):
    """Write the 1.x feeds into sekoia_ic.conf (replicated), under the lease; the feeds as configured now."""
    configured = dict(configured)
    for name, values in sorted(legacy.items()):
        feed, errors = check_feed(name, values)
        if errors:
            log.error("the 1.x input %s cannot become a feed (%s): add it on the setup page", name, errors)
            continue
        lease.check()
        write_feed(service, name, dict(values, enabled="true"), create=True)
        configured[name] = dict(values, enabled="true")
        log.warning("feed %s (IC feed %s) moved from inputs.conf to sekoia_ic.conf [feed:%s]: manage it on the "
                    "setup page", name, feed["feed_id"], name)
    lease.check()
    service.post("configs/conf-sekoia_ic", name="feed_migration", done="true")
    return configured


def remove_unconfigured(service, checkpoints, checkpoint_rows, configured, lease):
    """The feeds removed from sekoia_ic.conf: their rows (unless another configured feed reads the same IC feed)
    and their checkpoint go."""
    live_ids = set()
    for name, values in configured.items():
        feed, errors = check_feed(name, values)
        if not errors:
            live_ids.add(feed["feed_id"])
    indicators = None
    for row in checkpoint_rows:
        if not row.get("feed_name") or row["feed_name"] in configured:
            continue
        if row.get("feed_id") and row["feed_id"] not in live_ids:
            indicators = indicators or FencedCollection(KVCollection(service, INDICATORS_COLLECTION), lease)
            keys = [r["_key"] for r in indicators.find({"feed_id": row["feed_id"]}, fields=["_key"])]
            indicators.delete_in("_key", keys)
            log.warning("feed %s (IC feed %s) is no longer configured: its %d rows removed", row["feed_name"],
                        row["feed_id"], len(keys))
        checkpoints.delete_in("_key", [row["_key"]])


def purge_allowlist(service):
    """Allowlist entries whose expiry has passed have no effect: remove them (once per run that synced)."""
    try:
        removed = allowlist.purge_expired(service)
    except Exception as exc:  # noqa: BLE001 - the feed's work is done; the next run tries again
        log.warning("expired allowlist entries not purged: %s: %s", type(exc).__name__, exc)
        return
    if removed:
        log.info("purged %d expired allowlist entries", removed)


def make_taxii_collection(service, settings, feed_input, api_key):
    api_root = feed_input.taxii_api_root or default_api_root(base_url_for(settings.region, settings.base_url))
    return TaxiiCollection(api_root, feed_input.feed_id, api_key, timeout=settings.timeout,
                           proxy_url=proxy_url(service, settings), verify_ssl=settings.verify_ssl,
                           ca_bundle=settings.ca_bundle or None)


def record_error(checkpoints, feed_input, message):
    """Put a configuration error where the health dashboard shows it, keeping the stored cursor."""
    try:
        checkpoint = checkpoints.get(feed_input.checkpoint_key) or {"_key": feed_input.checkpoint_key}
        checkpoint.update(input=feed_input.name, feed_id=feed_input.feed_id, feed_name=feed_input.feed_name,
                          status="error", last_error=message, last_error_time=time.time())
        checkpoints.save([checkpoint])
    except Exception as exc:  # noqa: BLE001
        log.error("could not record the error in %s: %s", CHECKPOINTS_COLLECTION, type(exc).__name__)


def main(argv):
    return FeedScript().run(argv)
