"""The Sekoia.io Intelligence Center API: the HTTP client, its request budget (rate limit) and its typed errors.

May import: the top-level modules (version, constants, regions, redaction). Nothing of Splunk, nothing of STIX."""
