"""The app's REST endpoints (sekoia_ic/context, sekoia_ic/setup) and the `sekoiacheck` command that the setup
page runs: what Splunk Web and sekoialookup call.

May import: the top-level modules (version, constants, regions, redaction), ic, stix, splunk and enrich."""
