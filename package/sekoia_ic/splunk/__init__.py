"""Where the app talks to splunkd and runs inside Splunk: the KV store, the app's settings and secrets, log files,
the library internals the app relies on (splunklib, taxii2-client), the persistent REST handlers' glue.

May import: the top-level modules (version, constants, regions, redaction) and ic (settings make the API client)."""
