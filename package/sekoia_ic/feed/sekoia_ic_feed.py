"""The `sekoia_ic_feed` modular input (splunklib.modularinput): scheme, argument validation, and runs.

Splunk starts bin/sekoia_ic_feed.py with `--scheme`, `--validate-arguments` (XML on stdin) or with no argument
and the <input> XML (server_uri, session_key, stanza params) on stdin. A run syncs each stanza's feed into the
KV store; it writes no events.
"""
import sys
import time

from splunklib.modularinput import Argument, Scheme, Script

from ..constants import CHECKPOINTS_COLLECTION, INDICATORS_COLLECTION
from ..regions import base_url_for
from ..ic.client import DEFAULT_FEED_ID, MAX_PAGE_SIZE, check_api_key
from ..ic.errors import ConfigurationError, SekoiaError
from ..splunk import allowlist, logs
from ..splunk.kvstore import KVCollection
from ..splunk.settings import app_service, make_client, proxy_url, read_api_key, read_settings
from . import es_export
from .sync import FeedInput, FeedSync, SyncFailed, is_fetching_member, server_roles
from .taxii import TaxiiCollection, TaxiiSync, default_api_root

ENTRY = logs.EntryPoint("sekoia_ic_feed")
log = ENTRY.log


class FeedScript(Script):
    """Keeps the sekoia_ic_indicators KV store lookup in sync with a Sekoia.io Intelligence Center feed.

    ##Syntax

    .. code-block::
        [sekoia_ic_feed://<name>]
        feed_id = <IC feed id>            (default: constants.DEFAULT_FEED_ID)
        types = <STIX types, comma list>  (default: indicator)
        page_size = <1 to 2000>           (default: 2000)
        source = rest | taxii             (default: rest)
        taxii_api_root = <URL>            (source = taxii; default: <region base URL>/v2/inthreat/taxii-server/)
        interval = <seconds>

    ##Description

    Each run resumes the feed from the stored cursor, writes one lookup row per (live indicator, observable) and
    removes the rows of revoked, expired or re-patterned indicators, then stores the cursor: a run killed at any
    point replays at most one page. On a search head cluster only the captain fetches. The run's counts and last
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
            member = service.info.get("serverName", "?")
            fetching = is_fetching_member(service)
            log.info("member %s (roles %s): %s", member, ",".join(server_roles(service)),
                     "fetches the feed" if fetching else "not the search head cluster's captain: the captain syncs "
                     "the feed")
            if not fetching:
                return
            for name, params in inputs.inputs.items():
                failures += not self.sync_one(service, settings, name, params)
            purge_allowlist(service)
        except ConfigurationError as exc:
            log.error("not configured: %s", exc)
            failures += 1
        except Exception as exc:  # noqa: BLE001 - splunkd unreachable etc.: one clear line, no traceback
            log.error("cannot start the feed sync: %s: %s", type(exc).__name__, exc)
            failures += 1
        if failures:
            sys.exit(1)

    def sync_one(self, service, settings, name, params):
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
            record_error(service, feed_input, str(exc))
            return False
        synced = True
        try:
            sync = sync_class(client, KVCollection(service, INDICATORS_COLLECTION),
                              KVCollection(service, CHECKPOINTS_COLLECTION), feed_input,
                              still_fetching=lambda: is_fetching_member(service))
            sync.run()
        except SyncFailed:
            synced = False
        finally:
            client.close()
        # Enterprise Security's lookups follow the lookup as the run left it (a failed sync leaves it consistent).
        es_export.after_run(service, [feed_input.checkpoint_key])
        return synced


def purge_allowlist(service):
    """Allowlist entries whose expiry has passed have no effect: remove them (once per run)."""
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


def record_error(service, feed_input, message):
    """Put a configuration error where the health dashboard shows it, keeping the stored cursor."""
    try:
        checkpoints = KVCollection(service, CHECKPOINTS_COLLECTION)
        checkpoint = checkpoints.get(feed_input.checkpoint_key) or {"_key": feed_input.checkpoint_key}
        checkpoint.update(input=feed_input.name, feed_id=feed_input.feed_id, status="error", last_error=message,
                          last_error_time=time.time())
        checkpoints.save([checkpoint])
    except Exception as exc:  # noqa: BLE001
        log.error("could not record the error in %s: %s", CHECKPOINTS_COLLECTION, type(exc).__name__)


def main(argv):
    return FeedScript().run(argv)
