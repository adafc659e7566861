#!/usr/bin/env python
"""The feed sync with the request rate limit off, in one process with a profile: how much headroom the sync has
above the IC's 5 requests/s, and where its time goes then. Runs the app's FeedSync (library code, as the input
does) against the stand-ins. Usage: sync_unlimited.py <splunkd_uri> <session_key> <base_url> <api_key> <page_size>
Prints JSON: objects, seconds, and the top functions by own time grouped into parts of the sync."""
import cProfile
import json
import os
import pstats
import sys
import time

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from sekoia_ic.ic.client import ICClient  # noqa: E402
from sekoia_ic.constants import CHECKPOINTS_COLLECTION, INDICATORS_COLLECTION  # noqa: E402
from sekoia_ic.feed.sync import FeedInput, FeedSync  # noqa: E402
from sekoia_ic.splunk.kvstore import KVCollection  # noqa: E402
from sekoia_ic.ic.ratelimit import RateLimiter  # noqa: E402
from sekoia_ic.splunk.settings import app_service  # noqa: E402

PARTS = {  # where a function's own time is counted, by the file it is in
    "KV store writes and reads (splunklib, HTTP to splunkd)": ("splunklib", "http/client", "socket", "ssl"),
    "fetching and JSON decoding (requests, urllib3, json)": ("requests", "urllib3", "json"),
    "pattern parsing (fast path, stix2-patterns, ANTLR)": ("fast_patterns", "stix2patterns", "antlr4"),
    "row building (indicators, observables, feed sync)": ("indicators", "observables", "feed/sync",
                                                          "stix/common", "ipaddress", "hashlib"),
    "waiting for the prefetched page (threading)": ("threading", "concurrent/futures", "<method 'acquire'"),
}


def make_sync(splunkd_uri, session_key, base_url, api_key, page_size, name):
    service = app_service(splunkd_uri, session_key)
    client = ICClient(api_key, base_url=base_url, limiter=RateLimiter(1e9))
    return FeedSync(client, KVCollection(service, INDICATORS_COLLECTION),
                    KVCollection(service, CHECKPOINTS_COLLECTION), FeedInput.from_params(name, {"page_size": page_size}))


def main(splunkd_uri, session_key, base_url, api_key, page_size):
    # The rate without a profiler; then a second full sync (another input: its own checkpoint) under cProfile.
    sync = make_sync(splunkd_uri, session_key, base_url, api_key, page_size, "unlimited")
    started = time.perf_counter()
    sync.run()
    seconds = time.perf_counter() - started
    profile = cProfile.Profile()
    profile.runcall(make_sync(splunkd_uri, session_key, base_url, api_key, page_size, "profiled").run)
    stats = pstats.Stats(profile)
    total = sum(row[2] for row in stats.stats.values())
    parts = dict.fromkeys(list(PARTS) + ["other"], 0.0)
    for (filename, _, function), row in stats.stats.items():
        where = f"{filename} {function}"
        part = next((name for name, keys in PARTS.items() if any(k in where for k in keys)), "other")
        parts[part] += row[2]
    print(json.dumps({"objects": sync.stats.objects_seen, "seconds": round(seconds, 2),
                      "parts": {k: round(100 * v / total, 1) for k, v in parts.items()}}))


if __name__ == "__main__":
    main(*sys.argv[1:5], int(sys.argv[5]))
