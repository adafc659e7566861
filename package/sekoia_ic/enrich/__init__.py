"""Enrichment: the `sekoialookup` search command, matching search values against the local lookup, the IC
context through the app's endpoint and the shared cache, and the fields added to events.

May import: the top-level modules (version, constants, regions, redaction), stix and splunk."""
