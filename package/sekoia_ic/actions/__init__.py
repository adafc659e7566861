"""Custom alert actions: `sekoia_ic_add_to_collection` (the script), which sends the observables of a search's
results to a Sekoia.io IOC collection through the app's endpoint sekoia_ic/push.

May import: the top-level modules (version, constants, regions, redaction), ic, stix, splunk and enrich."""
