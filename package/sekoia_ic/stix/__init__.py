"""STIX 2.1 as the IC writes it: observables and their match key, patterns (the fast path and stix2-patterns),
indicators -> lookup rows, context bundles -> the summaries sekoialookup shows.

May import: the top-level modules (version, constants, regions, redaction). Pure data: no HTTP, no splunkd."""
