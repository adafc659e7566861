"""What each Dashboard Studio data source returns in the render tests (ds.test data), per view and case: the rows
its search would give, with the fields its last command produces (tests/test_dashboards.py checks the fields
against the query). A case is one person opening the view: a first-time admin, an admin with a failing input,
an analyst without access to _internal..."""

NOW = 1796000000  # a fixed "now" for the times shown


def rows(fields, *records):
    """ds.test data: fields and their columns, from records given as tuples in the order of fields."""
    columns = [[record[i] for record in records] for i in range(len(fields))]
    return {"fields": [{"name": f} for f in fields], "columns": columns}


# ------------------------------------------------------------------------------------------------ overview
SETUP_FIELDS = ["The app is not set up yet: what to do"]
SETUP_STEPS = (
    ("1. Create an API key in Sekoia.io (Settings > API keys) whose role can read the Intelligence Center.",),
    ("2. Open Set up in this app's menu (admin role): paste the key, choose your region, leave Sync the feed on, "
     "Save.",),
    ("3. Click Test connection on the same page. The feed sync runs every 15 minutes: this page fills up after its "
     "first run.",),
    ("Not an admin? Ask your Splunk admin to do the steps above.",),
)
CHECKPOINT_FIELDS = ["_key", "input", "feed_id", "cursor", "initial_sync_done", "status", "last_run_start",
                     "last_run_end", "last_success", "last_error", "last_error_time", "duration", "pages",
                     "objects_seen", "rows_written", "rows_removed", "expired_purged", "invalid_objects",
                     "unsupported_patterns", "skipped_other_types", "errors", "source", "lookup_model",
                     "upgrade_started", "es_export_status", "es_export_time", "es_export_rows", "es_export_skipped",
                     "es_export_error", "upgrading", "lookup_state", "lag_minutes"]
INPUT_FIELDS = ["input", "status", "synced_by", "fence", "lag_minutes", "last_success", "last_error_time", "last_error", "lookup_state",
                "objects_seen", "rows_written", "rows_removed", "expired_purged", "invalid_objects",
                "unsupported_patterns", "duration", "pages", "source", "last_run_end", "feed_id", "es_export_status",
                "es_export_time", "es_export_rows", "es_export_error"]
FEED = "d6092c37-d8d7-45c3-8aff-c4dc26030608"
INTERNAL_NOTE = (
    ("You cannot search index=_internal, where the app's scripts log: the app's warnings and errors and the member "
     "that syncs are not listed for you.",),
    ("The Feed inputs table above shows each input's last error. Ask a Splunk admin for the details.",),
)
ERROR_FIELDS = ["last_seen", "log_level", "logger", "host", "occurrences", "latest_message"]
MEMBER_FIELDS = ["member", "last_run", "runs", "last_message"]
BY_FIELDS = ["type", "rows", "expiring_within_7_days"]
LEASE_FIELDS = ["holder", "fence", "expires", "last_holder", "released"]
PUSH_FIELDS = ["time", "host", "log_level", "logger", "message"]
EMPTY_OVERVIEW = {
    "ds_setup": rows(SETUP_FIELDS),
    "ds_checkpoints": rows(CHECKPOINT_FIELDS),
    "ds_state": rows(["state"], ("no sync yet",)),
    "ds_last_success": rows(["last_sync"], ("never",)),
    "ds_lookup_rows": rows(["rows"], (None,)),
    "ds_last_run": rows(["objects"], (None,)),
    "ds_skipped": rows(["skipped"], (0,)),
    "ds_inputs": rows(INPUT_FIELDS),
    "ds_by": rows(BY_FIELDS),
    "ds_internal_access": rows(["Why the log panels are empty for you"]),
    "ds_errors": rows(ERROR_FIELDS),
    "ds_member": rows(MEMBER_FIELDS),
    "ds_lease": rows(LEASE_FIELDS),
    "ds_pushes": rows(PUSH_FIELDS),
}

OVERVIEW_FIRST_TIME_ADMIN = {
    **EMPTY_OVERVIEW,
    "ds_setup": rows(SETUP_FIELDS, *SETUP_STEPS),
    "ds_errors": rows(ERROR_FIELDS, (
        "2026-12-03 07:30:02", "ERROR", "sekoia_ic_feed", "sh1", 4,
        "not configured: no API key saved: open the app's setup page")),
}

OVERVIEW_ADMIN_FAILING_INPUT = {
    **EMPTY_OVERVIEW,
    "ds_state": rows(["state"], ("failing",)),
    "ds_last_success": rows(["last_sync"], ("12 min ago",)),
    "ds_lookup_rows": rows(["rows"], (812345,)),
    "ds_last_run": rows(["objects"], (2417,)),
    "ds_skipped": rows(["skipped"], (3,)),
    "ds_inputs": rows(
        INPUT_FIELDS,
        ("partner_feed", "error", "sh2", 41, 627, "2026-12-02 21:00:11", "2026-12-03 07:16:02", "HTTP 403 missing_permission: "
         "the key's role cannot read this feed", "rebuilding (upgrade from 1.0.0): the old rows serve until it ends",
         0, 0, 0, 0, 0, 0, 1.3, 0, "taxii", "2026-12-03 07:16:02", "0a1b2c3d-0000-4000-8000-000000000001",
         "error", "2026-12-03 07:16:03", None, "HTTPError: HTTP 500 Internal Server Error -- disk full"),
        ("default", "success", "sh2", 41, 12, "2026-12-03 07:15:40", None, None, "current (model 2)", 2417, 2390, 27, 14, 1, 2,
         41.2, 2, "rest", "2026-12-03 07:15:40", FEED, "ok", "2026-12-03 07:15:44", 811870, None)),
    "ds_errors": rows(
        ERROR_FIELDS,
        ("2026-12-03 07:16:02", "ERROR", "sekoia_ic.feed_sync", "sh2", 41,
         "feed 0a1b2c3d-0000-4000-8000-000000000001 sync stopped, will resume from the last stored page at the next "
         "run: HTTP 403 missing_permission"),
        ("2026-12-03 06:58:13", "WARNING", "sekoialookup", "sh1", 2,
         "api_budget spent: 14 values left without IC context")),
    "ds_member": rows(MEMBER_FIELDS, ("sh2", "2026-12-03 07:16:02", 96, "feed d6092c37 synced: pages=2 objects=2417")),
    "ds_lease": rows(LEASE_FIELDS, ("(free)", 41, "2026-12-03 07:18:02", "sh2", "2026-12-03 07:16:03")),
    "ds_pushes": rows(PUSH_FIELDS, ("2026-12-03 06:40:12", "sh1", "INFO", "sekoia_ic_push",
                                    "user=ana search=\"Sekoia IC - DNS\" collection=7f3c... sent 37 values: evil.example, ...")),
    "ds_by": rows(BY_FIELDS, ("ipv4-addr", 402113, 5120), ("domain-name", 288004, 3301), ("url", 80211, 2210),
                  ("file (sha256)", 30102, 120), ("email-addr", 11915, 54)),
}

OVERVIEW_ANALYST = {
    **OVERVIEW_ADMIN_FAILING_INPUT,
    "ds_lookup_rows": rows(["rows"], (None,)),  # no right to read the KV store statistics
    "ds_internal_access": rows(["Why the log panels are empty for you"], *INTERNAL_NOTE),
    "ds_errors": rows(ERROR_FIELDS),
    "ds_member": rows(MEMBER_FIELDS),
    "ds_pushes": rows(PUSH_FIELDS),
    "ds_by": rows(BY_FIELDS),
}

# ------------------------------------------------------------------------------------------------ matches
KINDS = {"network": ("dest_ip", "src_ip"), "dns": ("query", "src"), "web": ("url", "src"),
         "file": ("file_hash", "dest"), "email": ("src_user", "recipient")}


def match_fields(field, entity):
    return ["value", "seen_as", "indicator", "confidence", "tlp", "kill_chain_phases", "threats", "valid_until",
            "events", f"distinct {entity}", "first_seen", "last_seen", "indicator_id", "context_from"]


MATCHES_LOCAL = {}
for kind, (field, entity) in KINDS.items():
    MATCHES_LOCAL[f"ds_{kind}"] = rows(match_fields(field, entity))
    MATCHES_LOCAL[f"ds_{kind}_count"] = rows(["indicators"], (0,))
MATCHES_LOCAL.update({
    "ds_network": rows(
        match_fields("dest_ip", "src_ip"),
        ("77.91.78.118", "77.91.78.118", "Cobalt Strike C2 77.91.78.118", 90, "amber", "command-and-control", None,
         "2027-01-02", 1840, 3, "2026-12-02 08:11:02", "2026-12-03 07:02:45",
         "indicator--6b5c1e3a-1f0b-4d6f-9b8e-1c2d3e4f5a6b", "local"),
        ("198.51.100.7", "198.51.100.7", "Scanner range 198.51.100.0/24", 40, "clear", "reconnaissance", None,
         "2026-12-20", 12, 1, "2026-12-03 01:00:00", "2026-12-03 01:05:00",
         "indicator--0f0e0d0c-0b0a-4999-8888-777766665555", "local")),
    "ds_network_count": rows(["indicators"], (2,)),
    "ds_dns": rows(
        match_fields("query", "src"),
        ("buike.duckdns.org", "Buike.DuckDNS.org.", "AsyncRAT domain buike.duckdns.org", 80, "amber",
         "command-and-control", None, "2026-12-31", 311, 7, "2026-12-02 09:00:00", "2026-12-03 06:55:00",
         "indicator--11111111-2222-4333-8444-555555555555", "local")),
    "ds_dns_count": rows(["indicators"], (1,)),
    "ds_file": rows(
        match_fields("file_hash", "dest"),
        ("44d88612fea8a8f36de82e1278abb02f", "44D88612FEA8A8F36DE82E1278ABB02F", "EICAR test file", 100, "clear",
         "delivery", None, "2027-06-01", 2, 2, "2026-12-02 14:00:00", "2026-12-02 14:03:00",
         "indicator--aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "local")),
    "ds_file_count": rows(["indicators"], (1,)),
    # sekoiacheck rows=...: only the data models that are not ok (here Email, not accelerated)
    "ds_datamodels": rows(
        ["datamodel", "rows", "status", "message"],
        ("Email", "sekoia_ic_email_rows", "not_accelerated",
         "The data model Email is not accelerated, so the correlation search reading it (tstats summariesonly=true) "
         "finds nothing, match or not: an admin accelerates it (Settings > Data models > Email > Edit > Edit "
         "Acceleration; for the CIM add-on, its Set up page), or set the macro `sekoia_ic_email_rows` to "
         "`sekoia_ic_email_rows_raw` (raw events; Settings > Advanced search > Search macros).")),
})

# ------------------------------------------------------------------------------------------------ investigate
VALUE = "Buike.DuckDNS.org."
VALUE_FIELDS = ["_time", "value", "sekoia_matched", "sekoia_allowlisted", "sekoia_value", "sekoia_type",
                "sekoia_indicator_id", "sekoia_indicator_name", "sekoia_confidence", "sekoia_valid_until",
                "sekoia_tlp", "sekoia_kill_chain_phases", "sekoia_threats", "sekoia_sources", "sekoia_source",
                "allowlist_reason", "allowlist_added_by", "allowlist_expires"]
SUMMARY_FIELDS = ["typed", "normalised", "type", "live_indicators", "allowlisted", "allowlist_reason",
                  "allowlisted_by", "allowlist_expires"]
INDICATOR_FIELDS = ["indicator", "confidence", "tlp", "valid_until", "kill_chain_phases", "threats", "sources",
                    "indicator_id", "context_from"]
LINK_FIELDS = ["indicator", "link"]
IND_1 = "indicator--11111111-2222-4333-8444-555555555555"
IND_2 = "indicator--99999999-8888-4777-8666-555555555555"


def seen_fields(by):
    return by + ["count", "first_seen", "last_seen"]


SEEN_BY = {"network": ["src_ip", "dest_ip"], "dns": ["src", "query"], "web": ["src", "url"],
           "file": ["dest", "file_name"], "email": ["src_user", "recipient"]}

INVESTIGATE_WITH_CONTEXT = {
    "ds_value": rows(VALUE_FIELDS),
    "ds_summary": rows(SUMMARY_FIELDS, (VALUE, "buike.duckdns.org", "domain-name", 2, "no", None, None, None)),
    "ds_indicators": rows(
        INDICATOR_FIELDS,
        ("AsyncRAT domain buike.duckdns.org", 80, "amber", "2026-12-31 00:00:00", "command-and-control",
         ["AsyncRAT"], ["Sekoia.io", "CERT-XY"], IND_1, "both"),
        ("Dynamic DNS abused by RATs", 60, "clear", "2027-02-01 00:00:00", "command-and-control",
         ["AsyncRAT", "njRAT"], ["Sekoia.io"], IND_2, "both")),
    "ds_links": rows(LINK_FIELDS, ("AsyncRAT domain buike.duckdns.org", f"https://app.sekoia.io/intelligence/objects/{IND_1}"),
                     ("Dynamic DNS abused by RATs", f"https://app.sekoia.io/intelligence/objects/{IND_2}")),
    **{f"ds_seen_{kind}": rows(seen_fields(by)) for kind, by in SEEN_BY.items()},
    "ds_seen_dns": rows(seen_fields(SEEN_BY["dns"]),
                        ("10.1.2.33", VALUE, 211, "2026-12-02 09:00:00", "2026-12-03 06:55:00"),
                        ("10.1.7.12", "buike.duckdns.org", 100, "2026-12-02 11:30:00", "2026-12-03 06:40:00")),
}

INVESTIGATE_CUSTOM_BASE_URL = {
    **INVESTIGATE_WITH_CONTEXT,
    "ds_links": rows(LINK_FIELDS, ("AsyncRAT domain buike.duckdns.org", "no link: a custom base_url is set (an admin "
                                   "can set web_app_url in sekoia_ic.conf)")),
}

INVESTIGATE_ALLOWLISTED = {
    **INVESTIGATE_WITH_CONTEXT,
    "ds_summary": rows(SUMMARY_FIELDS, ("10.20.30.40", "10.20.30.40", "ipv4-addr", 0, "yes",
                                        "our vulnerability scanner", "admin", "2027-01-31")),
    "ds_indicators": rows(INDICATOR_FIELDS),
    "ds_links": rows(LINK_FIELDS),
    "ds_seen_dns": rows(seen_fields(SEEN_BY["dns"])),
    "ds_seen_network": rows(seen_fields(SEEN_BY["network"]),
                            ("10.20.30.40", "10.0.0.5", 52000, "2026-12-02 08:00:00", "2026-12-03 07:00:00")),
}
