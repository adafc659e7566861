#!/usr/bin/env python3
"""Benchmarks of the feed sync and of `sekoialookup`, against the test stand-ins on 127.0.0.1.

    python3 bench/run.py --quick        # the quick version (under 2 minutes on 2 cores)
    python3 bench/run.py                # 10k / 100k / 1M indicators and events (long: tens of minutes)

It stages the app and sets up .venv-test through build.py, then re-runs itself in that venv. Results are printed
as tables and written to bench/results/latest.json. Targets (reported, never asserted):
- feed sync: peak RSS growth from the smallest to the largest feed < 50 MB; sync rate >= 0.9x the ceiling
  (the same pages fetched and JSON-decoded under the client's own rate limit: bench/fetch_decode.py);
- sekoialookup: >= 0.9x the events/s of a no-op splunklib streaming command when values are cached or miss the
  local lookup; API requests == distinct values that need the API (the stand-in adds 50 ms to each call).
"""
import argparse
import csv
import io
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def bootstrap():
    """Re-run inside .venv-test with a freshly staged app (build.py does both)."""
    if os.environ.get("SEKOIA_IC_BENCH_CHILD"):
        return
    sys.path.insert(0, str(ROOT))
    import build
    build.stage()
    python = build.ensure_venv(".venv-test", build.REQUIREMENTS / "test.txt")
    env = dict(os.environ, SEKOIA_IC_BENCH_CHILD="1", SEKOIA_IC_STAGE_DIR=str(build.STAGE_DIR))
    sys.exit(subprocess.call([str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env=env, cwd=ROOT))


bootstrap()
sys.path.insert(0, str(ROOT))
STAGE = Path(os.environ["SEKOIA_IC_STAGE_DIR"])
sys.path.insert(1, str(STAGE / "lib"))

from tests.modinput import input_xml  # noqa: E402
from tests.standins.chunked_protocol import encode_chunk, iter_chunks, searchinfo, to_csv  # noqa: E402
from tests.standins.ic_api import DEFAULT_FEED_ID, ICStandIn  # noqa: E402
from tests.standins.splunkd import SplunkdStandIn  # noqa: E402

PYTHON = getattr(sys, "_base_executable", sys.executable)
API_KEY = "bench-key"
SESSION_KEY = "bench-session"
CHUNK = 50_000  # records per chunk, as splunkd sends them at most
RANGES = 1_000  # CIDR indicators in the local lookup of the "local ranges" scenario


def peak_rss_mb(pid):
    """VmHWM of a running process: its peak resident set since exec (the fork's copy of this harness, big with
    the stand-ins' data, does not count, as it would in wait4's ru_maxrss)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_measured(cmd, stdin_bytes=None, env=None):
    """Run a process; return (seconds, peak RSS in MB, stdout bytes)."""
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = io.BytesIO()
    peak = [0.0]
    done = threading.Event()

    def watch():
        while not done.wait(0.02):
            value = peak_rss_mb(process.pid)
            if value:
                peak[0] = max(peak[0], value)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def feed():
        if stdin_bytes is not None:
            for part in stdin_bytes if not isinstance(stdin_bytes, bytes) else [stdin_bytes]:
                process.stdin.write(part)
        process.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    errors = []
    reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
    reader.start()
    while True:
        data = process.stdout.read(1 << 20)
        if not data:
            break
        out.write(data)
    process.wait()
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    writer.join()
    reader.join()
    if process.returncode != 0:
        raise RuntimeError(f"{cmd[-1]} exited {process.returncode}: {errors[0][-2000:].decode(errors='replace')}")
    return elapsed, peak[0], out.getvalue()


def child_env(home):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SPLUNK_HOME": str(home),
           "SEKOIA_IC_LIB": str(STAGE / "lib")}
    return env


# ---------------------------------------------------------------------------------------------- feed sync
def bench_feed(count, home, page_size=2000):
    """The input script's sync against the ceiling (fetch_decode.py: the same pages fetched and decoded under the
    client's own rate limit), then the same sync with no rate limit (sync_unlimited.py: the headroom, and where
    the time goes then)."""
    with ICStandIn(api_keys={API_KEY: {"intel"}}) as ic, \
            SplunkdStandIn(app_dir=STAGE, session_keys=(SESSION_KEY,)) as splunkd:
        ic.use_synthetic(count)
        splunkd.set_password("sekoia_ic", "api_key", API_KEY)
        splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url, log_level="WARNING")
        splunkd.set_conf("sekoia_ic", "feed:bench", feed_id=DEFAULT_FEED_ID, page_size=page_size, interval=0)
        stdin = input_xml(splunkd.uri, {"sekoia_ic_feed://default": {"interval": "60"}}, session_key=SESSION_KEY)
        sync_s, sync_rss, _ = run_measured([PYTHON, "-s", "-E", str(STAGE / "bin" / "sekoia_ic_feed.py")],
                                           stdin.encode(), child_env(home))
        rows = len(splunkd.kv["sekoia_ic_indicators"])
        pages = len(ic.calls("/objects"))
        kv_requests = splunkd.count(path_pattern=r"data/sekoia_ic_indicators")
        kv_docs_read = splunkd.docs_read
        ic.requests.clear()
        ceil_s, ceil_rss, out = run_measured([PYTHON, "-s", "-E", str(ROOT / "bench" / "fetch_decode.py"), ic.url,
                                              API_KEY, str(page_size)], None, child_env(home))
        assert int(out.decode().strip()) == count
    with ICStandIn(api_keys={API_KEY: {"intel"}}) as ic, \
            SplunkdStandIn(app_dir=STAGE, session_keys=(SESSION_KEY,)) as splunkd:
        ic.use_synthetic(count)
        _, _, out = run_measured([PYTHON, "-s", "-E", str(ROOT / "bench" / "sync_unlimited.py"), splunkd.uri,
                                  SESSION_KEY, ic.url, API_KEY, str(page_size)], None, child_env(home))
        unlimited = json.loads(out.decode().strip().splitlines()[-1])
        assert unlimited["objects"] == count
    return {"indicators": count, "rows": rows, "pages": pages,
            "kv_requests_per_page": round(kv_requests / max(pages, 1), 2),
            "kv_docs_read_per_page": round(kv_docs_read / max(pages, 1), 1),
            "sync_s": round(sync_s, 2), "sync_per_s": round(count / sync_s), "sync_peak_rss_mb": round(sync_rss, 1),
            "ceiling_s": round(ceil_s, 2), "ceiling_per_s": round(count / ceil_s),
            "ceiling_peak_rss_mb": round(ceil_rss, 1), "ratio": round(ceil_s / sync_s, 2),
            "unlimited_per_s": round(count / unlimited["seconds"]), "unlimited_parts": unlimited["parts"]}


# ---------------------------------------------------------------------------------------------- ES export
ES_ROW_TYPES = ["ipv4-addr", "domain-name", "url", "file", "filename", "email-addr", "ipv6-addr"]


def es_lookup_rows(count):
    """count live lookup rows of every type (the shape feed/sync writes), made on demand."""
    from sekoia_ic.stix.observables import row_key
    until = time.time() + 30 * 86400
    for i in range(count):
        obs_type = ES_ROW_TYPES[i % len(ES_ROW_TYPES)]
        value = {"ipv4-addr": public_ip(i), "domain-name": f"host{i}.example.org", "url": f"http://x{i}.example/p?q={i}",
                 "file": f"{i:064x}", "filename": f"dropper{i}.exe", "email-addr": f"user{i}@example.org",
                 "ipv6-addr": f"2001:db8::{i & 0xffff:x}:{i >> 16:x}"}[obs_type]
        indicator_id = f"indicator--00000000-0000-4000-8000-{i:012d}"
        yield {"_key": row_key(indicator_id, obs_type, value), "value": value, "ic_value": value, "type": obs_type,
               "hash_type": "sha256" if obs_type == "file" else "", "is_range": False, "indicator_id": indicator_id,
               "indicator_name": f"Bench indicator {i}, \"quoted\"", "valid_from": 0, "valid_until": until,
               "confidence": i % 101, "kill_chain_phases": ["command-and-control"], "modified": 0, "tlp": "amber",
               "feed_id": "bench", "_user": "nobody"}


def bench_es_export(count, home):
    """bench/es_export_run.py (the library's export, as the feed run calls it) over a lookup of count rows
    held by the splunkd stand-in: time and peak RSS of the exporting process."""
    with SplunkdStandIn(app_dir=STAGE, session_keys=(SESSION_KEY,), splunk_home=home) as splunkd:
        docs = splunkd.kv["sekoia_ic_indicators"]
        for row in es_lookup_rows(count):
            docs[row["_key"]] = row
        seconds, rss, out = run_measured([PYTHON, "-s", "-E", str(ROOT / "bench" / "es_export_run.py"), splunkd.uri,
                                          SESSION_KEY], None, child_env(home))
        result = json.loads(out.decode().strip().splitlines()[-1])
        written = sum(len(splunkd.lookup_file(f"sekoia_ic_es_{t}.csv").encode()) for t in result["rows"])
    assert sum(result["rows"].values()) == count, result
    return {"rows": count, "export_s": round(seconds, 2), "rows_per_s": round(count / seconds),
            "peak_rss_mb": round(rss, 1), "csv_mb": round(written / 1e6, 1)}


# ---------------------------------------------------------------------------------------------- sekoialookup
def public_ip(i):
    return f"11.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def event_chunks(events, distinct):
    for start in range(0, events, CHUNK):
        records = [{"_time": str(1700000000 + i), "host": "fw01", "sourcetype": "pan:traffic",
                    "_raw": f"action=allowed src_ip=10.0.0.{i % 250} dest_ip={public_ip(i % distinct)} bytes={i}",
                    "src_ip": f"10.0.0.{i % 250}", "dest_ip": public_ip(i % distinct)}
                   for i in range(start, min(events, start + CHUNK))]
        yield records


def command_input(splunkd, args, events, distinct, home):
    """The bytes splunkd would send: getinfo, then the events in chunks of CHUNK."""
    payload = [encode_chunk({"action": "getinfo", "preview": False, "streaming_command_will_restart": False,
                             "searchinfo": searchinfo(splunkd.uri, "sekoialookup", args, home, SESSION_KEY)})]
    chunks = list(event_chunks(events, distinct))
    for index, records in enumerate(chunks):
        payload.append(encode_chunk({"action": "execute", "finished": index == len(chunks) - 1}, to_csv(records)))
    return payload


def answered_records(out):
    """(records answered, whether the first record has sekoia_matched) in the command's output, without
    building a million dicts: the CSV rows are only counted."""
    count, enriched = 0, None
    for _, body in iter_chunks(io.BytesIO(out)):
        rows = csv.reader(io.StringIO(body))
        columns = next(rows, None)
        if columns is not None:
            enriched = "sekoia_matched" in columns if enriched is None else enriched
            count += sum(1 for _ in rows)
    return count, enriched


def run_command(script, payload, events, home):
    seconds, rss, out = run_measured([PYTHON, "-s", "-E", str(script)], payload, child_env(home))
    count, enriched = answered_records(out)
    assert count == events, f"{script.name} answered {count} of {events} events"
    return seconds, rss, enriched


def seed_shared_cache(splunkd, distinct):
    """Leave in the shared context cache what a first search over `distinct` unknown values would have left,
    written by the app's own code (asking the API for 10,000 values takes over half an hour at 5 requests/s)."""
    from sekoia_ic.stix.summaries import summarise_context
    from sekoia_ic.enrich.shared_cache import collection, save_answers
    from sekoia_ic.splunk.settings import app_service
    unknown = summarise_context({"items": []}, time.time())  # what the IC answers for a value it does not know
    save_answers(collection(app_service(splunkd.uri, SESSION_KEY)),
                 {("ipv4-addr", public_ip(i)): unknown for i in range(distinct)}, time.time() + 3600)


def seed_ranges(splunkd, count=RANGES):
    """Put in the local lookup the rows of `count` indicators of one CIDR range each (in 12.0.0.0/8, /16 to /28:
    none holds the events' addresses), written from STIX indicators by the app's own row builder."""
    from sekoia_ic.constants import DEFAULT_FEED_ID, INDICATORS_COLLECTION
    from sekoia_ic.stix.indicators import rows_for
    from sekoia_ic.splunk.kvstore import KVCollection
    from sekoia_ic.splunk.settings import app_service
    rows = []
    for n in range(count):
        network = ipaddress.ip_network(((12 << 24) | (n * 2654435761 & 0xFFFFFF), 16 + n % 13), strict=False)
        indicator = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
                     "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": f"range {n}",
                     "pattern": f"[ipv4-addr:value = '{network}']", "pattern_type": "stix",
                     "valid_from": "2026-01-01T00:00:00Z"}
        rows.extend(rows_for(indicator, DEFAULT_FEED_ID))
    KVCollection(app_service(splunkd.uri, SESSION_KEY), INDICATORS_COLLECTION).save(rows)
    return len(rows)


def bench_lookup(events, distinct, scenario, home, repeats):
    with ICStandIn(api_keys={API_KEY: {"intel"}}) as ic, \
            SplunkdStandIn(app_dir=STAGE, session_keys=(SESSION_KEY,)) as splunkd:
        splunkd.set_password("sekoia_ic", "api_key", API_KEY)
        splunkd.set_conf("sekoia_ic", "settings", base_url=ic.url, log_level="WARNING")
        ic.latency = 0.05
        script = STAGE / "bin" / "sekoialookup.py"
        args = ["field=dest_ip", "mode=api" if scenario.startswith("api") else "mode=both"]
        if scenario == "api cached":
            seed_shared_cache(splunkd, distinct)
        if scenario == "local ranges":
            seed_ranges(splunkd)
        payload = command_input(splunkd, args, events, distinct, home)
        # Pairs of runs, the command then the no-op, to damp the noise of a shared 2-core machine: the best of
        # each, and the median of the pairs' ratios. The API scenario runs once: a second run would be served
        # by the cache the first filled.
        runs, noops, api_calls, rss = [], [], None, 0.0
        for _ in range(1 if scenario == "api cold" else repeats):
            seconds, peak, enriched = run_command(script, payload, events, home)
            assert enriched, "sekoialookup added no sekoia_matched field"
            runs.append(seconds)
            rss = max(rss, peak)
            if api_calls is None:
                api_calls = len(ic.calls("/indicators/context"))
            noops.append(run_command(ROOT / "bench" / "noop_command.py", payload, events, home)[0])
    expected_calls = distinct if scenario == "api cold" else 0
    pair_ratios = sorted(noop / run for run, noop in zip(runs, noops))
    return {"scenario": scenario, "events": events, "distinct": distinct, "runs": len(runs),
            "seconds": round(min(runs), 2), "events_per_s": round(events / min(runs)),
            "noop_events_per_s": round(events / min(noops)), "ratio": round(min(noops) / min(runs), 2),
            "median_pair_ratio": round(pair_ratios[len(pair_ratios) // 2], 2), "api_calls": api_calls,
            "expected_api_calls": expected_calls, "api_calls_ok": api_calls == expected_calls,
            "peak_rss_mb": round(rss, 1)}


# ---------------------------------------------------------------------------------------------- report
def table(rows, columns):
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: under 2 minutes on 2 cores")
    parser.add_argument("--only", choices=("feed", "lookup", "es"), help="run one of the benchmarks")
    parser.add_argument("--es-sizes", type=lambda t: [int(x) for x in t.split(",")], default=None,
                        help="lookup sizes exported to Enterprise Security, comma-separated (e.g. 10000,1000000)")
    parser.add_argument("--feed-sizes", type=lambda t: [int(x) for x in t.split(",")], default=None,
                        help="feed sizes to sync, comma-separated (e.g. 20000,100000)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="pairs of runs of each sekoialookup case (default 2 with --quick, else 3)")
    options = parser.parse_args()
    options.repeats = options.repeats or (2 if options.quick else 3)
    if options.quick:
        feed_sizes = [2_000, 20_000]
        lookup_plan = [(10_000, 1, "local miss"), (100_000, 100, "local miss"), (10_000, 10_000, "local miss"),
                       (100_000, 10_000, "local miss"), (100_000, 10_000, "local ranges"),
                       (10_000, 10_000, "api cached"), (100_000, 10_000, "api cached"), (10_000, 20, "api cold")]
    else:
        feed_sizes = [10_000, 100_000, 1_000_000]
        lookup_plan = [(e, d, "local miss") for e in (10_000, 100_000, 1_000_000) for d in (1, 100, 10_000)]
        lookup_plan += [(e, 10_000, "local ranges") for e in (10_000, 100_000)]
        lookup_plan += [(e, d, "api cached") for e in (10_000, 100_000, 1_000_000) for d in (1, 100, 10_000)]
        lookup_plan += [(10_000, 1, "api cold"), (10_000, 100, "api cold")]
    home = RESULTS / "splunk_home"
    home.mkdir(parents=True, exist_ok=True)

    es_sizes = options.es_sizes or ([10_000, 100_000] if options.quick else [10_000, 100_000, 1_000_000])
    if options.feed_sizes:
        feed_sizes = options.feed_sizes
    if options.only in ("lookup", "es"):
        feed_sizes = []
    if options.only in ("feed", "es"):
        lookup_plan = []
    if options.only in ("feed", "lookup"):
        es_sizes = []
    feed = []
    for count in feed_sizes:
        feed.append(bench_feed(count, home))
        print(f"feed {count}: {feed[-1]}", file=sys.stderr, flush=True)
    lookups = []
    for events, distinct, scenario in lookup_plan:
        lookups.append(bench_lookup(events, distinct, scenario, home, options.repeats))
        print(f"lookup {events}/{distinct}/{scenario}: {lookups[-1]}", file=sys.stderr, flush=True)

    es = []
    for count in es_sizes:
        es.append(bench_es_export(count, home))
        print(f"es export {count}: {es[-1]}", file=sys.stderr, flush=True)

    summary = {}
    if es:
        growth = round(es[-1]["peak_rss_mb"] - es[0]["peak_rss_mb"], 1)
        summary.update({"es_rss_growth_mb": growth, "es_rss_growth_target_mb": 50, "es_rss_ok": growth < 50})
        print("\nExport to Enterprise Security (bench/es_export_run.py: peak RSS of the exporting process)")
        print(table(es, ["rows", "export_s", "rows_per_s", "peak_rss_mb", "csv_mb"]))
    if feed:
        growth = round(feed[-1]["sync_peak_rss_mb"] - feed[0]["sync_peak_rss_mb"], 1)
        summary.update({
            "feed_rss_growth_mb": growth, "feed_rss_growth_target_mb": 50, "feed_rss_ok": growth < 50,
            "feed_min_ratio": min(r["ratio"] for r in feed), "feed_ratio_target": 0.9,
            "feed_ratio_ok": min(r["ratio"] for r in feed) >= 0.9})
        print("\nFeed sync (indicators/s, peak RSS of the input process)")
        print(table(feed, ["indicators", "rows", "pages", "sync_per_s", "ceiling_per_s", "ratio",
                           "sync_peak_rss_mb", "ceiling_peak_rss_mb", "unlimited_per_s", "kv_requests_per_page",
                           "kv_docs_read_per_page"]))
        for r in feed:
            print(f"  {r['indicators']} without rate limit, own time by part: {r['unlimited_parts']}")
    if lookups:
        ratios = [r["ratio"] for r in lookups if r["scenario"] != "api cold"]
        summary.update({
            "lookup_min_ratio": min(ratios), "lookup_ratio_target": 0.9, "lookup_ratio_ok": min(ratios) >= 0.9,
            "api_calls_ok": all(r["api_calls_ok"] for r in lookups)})
        print("\nsekoialookup (events/s through bin/sekoialookup.py vs a no-op streaming command)")
        print(table(lookups, ["scenario", "events", "distinct", "events_per_s", "noop_events_per_s", "ratio",
                              "median_pair_ratio", "api_calls", "expected_api_calls", "peak_rss_mb"]))
    print("\nSummary")
    print(table([summary], list(summary)))
    RESULTS.mkdir(exist_ok=True)
    result = {"quick": options.quick, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
              "feed": feed, "sekoialookup": lookups, "es_export": es, "summary": summary}
    name = "latest.json" if not options.only else f"latest-{options.only}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {(RESULTS / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
