"""Facts more than one part of the app relies on, defined once here. The setup page gets what it needs of them
from the app's endpoint (endpoints/sekoia_ic_setup.py); .conf files and docs that repeat one are checked against
here by tests (tests/test_shared_facts.py). Standard library only."""

DEFAULT_FEED_ID = "d6092c37-d8d7-45c3-8aff-c4dc26030608"
# A feed id is a UUID, or at least a path-safe identifier (the input refuses anything else).
FEED_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
FEED_INPUT = "sekoia_ic_feed://default"
INDICATORS_COLLECTION = "sekoia_ic_indicators"
CHECKPOINTS_COLLECTION = "sekoia_ic_checkpoints"
CONTEXT_CACHE_COLLECTION = "sekoia_ic_context_cache"
ALLOWLIST_COLLECTION = "sekoia_ic_allowlist"
LEASE_COLLECTION = "sekoia_ic_lease"

# storage/passwords entries (realm sekoia_ic): the API key, and the proxy's password (its user is in the conf).
PASSWORD_REALM = "sekoia_ic"
API_KEY_USER = "api_key"
PROXY_PASSWORD_USER = "proxy_password"

# sekoia_ic.conf [settings]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUE = ("1", "true", "yes", "on", "t", "y")
FALSE = ("0", "false", "no", "off", "f", "n")


def is_true(value):
    """Whether a conf or form value says true (True, or one of TRUE in any case and spacing)."""
    return str(value or "").strip().lower() in TRUE


TIMEOUT_DEFAULT = 30
TIMEOUT_MAX = 600  # seconds; more than 0

NO_API_KEY = ("No Sekoia.io API key is configured: an admin must enter one on the app's setup page "
              "(Apps > Sekoia.io Intelligence Center > Set up).")

# The search's api_budget ran out: said by the context endpoint and by sekoialookup itself (the endpoint's stop).
API_BUDGET_SPENT = ("the time this search may wait for the Sekoia.io API is spent (api_budget=<seconds> gives it "
                    "more): the values left are marked in sekoia_error")


# IOC collections (docs/design.md, "The IC API"): where the alert action sekoia_ic_add_to_collection pushes values.
# The collection id is the UUID the IC shows, optionally in its `ioc-collection--<uuid>` form.
COLLECTION_ID_PATTERN = (r"^(?:ioc-collection--)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                         r"[0-9a-fA-F]{12}$")
IOC_BATCH_MAX = 100  # indicators per POST v2/inthreat/ioc-collections/{id}/indicators (1..100)
IOC_COLLECTION_MAX = 500_000  # indicators a collection holds at most
IOC_TYPES = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file")  # what a collection takes
PUSH_CAPABILITY = "sekoia_ic_push"
PUSH_ROLE = "sekoia_ic_pusher"
IOC_PERMISSIONS = ("The Sekoia.io API key lacks the permissions \"View IOC collections\" and \"Manage IOC "
                   "collections\" (HTTP 403): give the key a role holding both in Sekoia.io.")
