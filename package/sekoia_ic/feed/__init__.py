"""The feed: the `sekoia_ic_feed` modular input and the sync that turns IC feed pages (REST or TAXII 2.1) into
rows of the sekoia_ic_indicators lookup, with its checkpoint.

May import: the top-level modules (version, constants, regions, redaction), ic, stix and splunk."""
