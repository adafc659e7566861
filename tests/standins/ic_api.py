"""A Sekoia.io Intelligence Center REST API stand-in, over real HTTP on 127.0.0.1.

It follows docs/design.md, "The IC API", whose facts were taken from the public clients of the API (the Sekoia.io
automation modules and the IC's OpenAPI description):
- `Authorization: Bearer <key>`; unknown key -> 401; a key without the intelligence permission -> 403 on
  v2/inthreat/*; `GET v1/me` answers for any valid key.
- `GET v2/inthreat/collections/{feed_id}/objects` with limit (default 100, capped at 2000), cursor,
  match[type] (comma list), skip_expired, include_revoked: objects in modification order, `{"items": [...],
  "next_cursor": ...}`; a cursor returns only what was created or modified after the object it points at;
  next_cursor is null when the page is empty. Unknown feed -> 404.
- `GET v2/inthreat/indicators/context?type=&value=`: `{"has_more": false, "items": [bundle, ...]}`, one STIX
  bundle per indicator holding the indicator, its `indicates` relationships and their targets, its source
  identities and TLP marking; an unknown value -> 200 with `items: []`.
- `GET v2/inthreat/objects/{id}`, `.../objects/{id}/context`, `GET v2/inthreat/relationships/{id}`.
- IOC collections (docs/design.md, "The IC API"): `POST v2/inthreat/ioc-collections/{id}/indicators` with a JSON
  body {"indicators": [{"value": ...}, ...] (1..100), "default_fields": {"description", "valid_until", ...}};
  a key without both "View IOC collections" and "Manage IOC collections" -> 403; an unknown collection -> 404;
  a body outside those rules -> 400; a collection holds at most 500,000 indicators, and a request that would
  take it past that -> 400 (the cap is documented, the refusal's shape is not: the app only relies on the
  status). The answer's body is not documented either; the app does not read it. `GET
  v2/inthreat/ioc-collections/{id}` (Test connection's check of the default collection) is not among the documented
  facts: the stand-in answers 404 for an unknown collection and 403 without "View IOC collections", the only
  answers the app takes as verdicts.
- 429 carries Retry-After. Faults can be switched on: a status for the next N requests (with Retry-After),
  a truncated JSON body, a well-formed body that is not a page, and a latency added to every request.
"""
import base64
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from .loopback import LoopbackServer

DEFAULT_FEED_ID = "d6092c37-d8d7-45c3-8aff-c4dc26030608"
INTEL = "intel"
IOC_VIEW, IOC_MANAGE = "View IOC collections", "Manage IOC collections"
IOC_BATCH_MAX = 100
IOC_COLLECTION_MAX = 500_000


def _parse_time(text):
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)


def encode_cursor(seq):
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def decode_cursor(cursor):
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("seq:"):
            raise ValueError
        return int(text[4:])
    except (ValueError, UnicodeDecodeError):
        return None


class ICStandIn(LoopbackServer):
    def __init__(self, api_keys=None, feed_ids=(DEFAULT_FEED_ID,), clock=None):
        self.api_keys = dict(api_keys or {"good-key": {INTEL}})
        self.feeds = {feed_id: {} for feed_id in feed_ids}  # feed -> id -> (seq, object)
        self.related = {}  # id -> object (threats, relationships, identities, markings)
        self.context_index = {}  # (type, value) -> [indicator ids]
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.lock = threading.RLock()
        self.seq = 0
        self.requests = []  # dicts: path, params, time, status
        self.faults = []  # [dict(pattern, status, retry_after, kind)]
        self.latency = 0.0
        self.synthetic = None  # optional callable(feed_id, start_seq, limit) for benchmarks
        self.ioc_collections = {}  # collection id -> {value: default_fields of its last addition}
        self.ioc_collection_max = IOC_COLLECTION_MAX

    # ------------------------------------------------------------------------------------------ data
    def publish(self, generated, feed_id=DEFAULT_FEED_ID):
        """Add or replace an indicator (a stix_data.Generated): it moves to the end of the feed's order."""
        with self.lock:
            self.seq += 1
            indicator = generated.indicator
            self.feeds[feed_id][indicator["id"]] = (self.seq, indicator)
            for obj in generated.related:
                self.related[obj["id"]] = obj
            for observable in generated.observables:
                ids = self.context_index.setdefault((observable.type, observable.value.lower()), [])
                if indicator["id"] not in ids:
                    ids.append(indicator["id"])

    def publish_all(self, generated_list, feed_id=DEFAULT_FEED_ID):
        for generated in generated_list:
            self.publish(generated, feed_id)

    def use_synthetic(self, count, feed_id=DEFAULT_FEED_ID):
        """Serve `count` generated indicators from feed_id without holding them: page items are made on demand
        (for benchmarks of large feeds). The cursor semantics stay those of the real feed."""
        from .stix_data import synthetic_indicator
        now = self.clock()

        def page(requested_feed, start, limit, params):
            if requested_feed != feed_id:
                return {"items": [], "next_cursor": None}
            end = min(count, start + limit)
            items = [synthetic_indicator(n, now)[0] for n in range(start, end)]
            return {"items": items, "next_cursor": encode_cursor(end) if items else None}

        self.synthetic = page

    def add_ioc_collection(self, collection_id, values=()):
        with self.lock:
            self.ioc_collections[collection_id] = {v: {} for v in values}

    def add_to_ioc_collection(self, collection_id, body):
        if collection_id not in self.ioc_collections:
            return 404, {"message": "IOC collection not found"}
        indicators = body.get("indicators") if isinstance(body, dict) else None
        fields = body.get("default_fields", {}) if isinstance(body, dict) else None
        if not isinstance(indicators, list) or not 1 <= len(indicators) <= IOC_BATCH_MAX or not isinstance(fields, dict) \
                or not all(isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"] for i in indicators):
            return 400, {"message": f"indicators: between 1 and {IOC_BATCH_MAX} objects with a value"}
        with self.lock:
            held = self.ioc_collections[collection_id]
            new = {i["value"] for i in indicators} - set(held)
            if len(held) + len(new) > self.ioc_collection_max:
                return 400, {"message": f"The IOC collection holds at most {self.ioc_collection_max} indicators"}
            for indicator in indicators:
                held[indicator["value"]] = dict(fields)
        return 200, {"created": len(new), "updated": len(indicators) - len(new)}

    # ------------------------------------------------------------------------------------------ faults
    def fail(self, status, times=1, retry_after=None, path=r".", body=None):
        for _ in range(times):
            self.faults.append({"kind": "status", "status": status, "retry_after": retry_after,
                                "pattern": re.compile(path), "body": body})

    def allow(self, times=1, path=r"."):
        """Let the next matching requests through untouched (to aim a later fault at, say, the second page)."""
        for _ in range(times):
            self.faults.append({"kind": "none", "pattern": re.compile(path)})

    def truncate(self, times=1, path=r"."):
        for _ in range(times):
            self.faults.append({"kind": "truncate", "pattern": re.compile(path)})

    def malformed(self, times=1, path=r".", body='{"items": "not a list", "next_cursor": null}'):
        for _ in range(times):
            self.faults.append({"kind": "malformed", "pattern": re.compile(path), "body": body})

    # ------------------------------------------------------------------------------------------ the firewall
    # The IC's firewall blocks an address that sends more than 5 requests/s or gets more than 2 error answers in
    # 10 s (docs/design.md, "Rate"). These measure a test's traffic against those two limits.
    def max_requests_in(self, seconds=1.0):
        times = sorted(r["time"] for r in self.requests)
        return max((sum(1 for t in times[i:] if t < start + seconds) for i, start in enumerate(times)), default=0)

    def max_errors_in(self, seconds=10.0):
        times = sorted(r["time"] for r in self.requests if r.get("status", 200) >= 400)
        return max((sum(1 for t in times[i:] if t < start + seconds) for i, start in enumerate(times)), default=0)

    def calls(self, path_pattern=r"."):
        regex = re.compile(path_pattern)
        return [r for r in self.requests if regex.search(r["path"])]

    # ------------------------------------------------------------------------------------------ behaviour
    def feed_page(self, feed_id, params):
        limit = min(max(int(params.get("limit", 100)), 1), 2000)
        start = 0
        if params.get("cursor"):
            start = decode_cursor(params["cursor"])
            if start is None:
                return 400, {"message": "Invalid cursor"}
        if self.synthetic is not None:
            return 200, self.synthetic(feed_id, start, limit, params)
        types = set(filter(None, params.get("match[type]", "").split(",")))
        skip_expired = params.get("skip_expired", "false") == "true"
        include_revoked = params.get("include_revoked", "false") == "true"
        now = self.clock()
        with self.lock:
            ordered = sorted((seq, obj) for seq, obj in self.feeds[feed_id].values() if seq > start)
        items, last_seq = [], None
        for seq, obj in ordered:
            last_seq = seq
            if types and obj["type"] not in types:
                continue
            if obj.get("revoked") and not include_revoked:
                continue
            if skip_expired and obj.get("valid_until") and _parse_time(obj["valid_until"]) < now:
                continue
            items.append(obj)
            if len(items) == limit:
                break
        if not items:
            return 200, {"items": [], "next_cursor": None}
        return 200, {"items": items, "next_cursor": encode_cursor(last_seq)}

    def bundle_for(self, indicator):
        objects = [indicator]
        ids = set()
        for rel in self.related.values():
            if rel["type"] == "relationship" and rel["source_ref"] == indicator["id"]:
                objects.append(rel)
                ids.add(rel["target_ref"])
        ids.update(indicator.get("x_inthreat_sources_refs", []))
        ids.update(indicator.get("object_marking_refs", []))
        objects.extend(self.related[i] for i in sorted(ids) if i in self.related)
        return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}

    def find_object(self, object_id):
        for feed in self.feeds.values():
            if object_id in feed:
                return feed[object_id][1]
        return self.related.get(object_id)


class _Handler(BaseHTTPRequestHandler):
    standin = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method):
        s = self.standin
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        record = {"method": method, "path": path, "params": params, "time": time.monotonic(),
                  "authorization": self.headers.get("Authorization", ""),
                  "user_agent": self.headers.get("User-Agent", ""), "body": body}
        with s.lock:
            s.requests.append(record)
        if s.latency:
            time.sleep(s.latency)
        status, payload, headers = self._answer(path, params, method, body)
        record["status"] = status
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, path, params, method="GET", body=None):
        s = self.standin
        with s.lock:
            fault = next((f for f in s.faults if f["pattern"].search(path)), None)
            if fault:
                s.faults.remove(fault)
        auth = self.headers.get("Authorization", "")
        key = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if key not in s.api_keys:
            return 401, {"message": "Unauthorized", "code": 401}, {}
        if fault and fault["kind"] == "status":
            headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
            body = fault["body"] if fault["body"] is not None else {"message": f"fault {fault['status']}"}
            return fault["status"], body, headers
        m = re.fullmatch(r"/v2/inthreat/ioc-collections/([^/]+)/indicators", path)
        if m and method == "POST":
            if not {IOC_VIEW, IOC_MANAGE} <= s.api_keys[key]:
                return 403, {"message": "Forbidden: missing permission"}, {}
            if body is ValueError:
                return 400, {"message": "The body is not JSON"}, {}
            return s.add_to_ioc_collection(m.group(1), body) + ({},)
        if method != "GET":
            return 405, {"message": "Method not allowed"}, {}
        m = re.fullmatch(r"/v2/inthreat/ioc-collections/([^/]+)", path)
        if m:
            if IOC_VIEW not in s.api_keys[key]:
                return 403, {"message": "Forbidden: missing permission"}, {}
            if m.group(1) not in s.ioc_collections:
                return 404, {"message": "IOC collection not found"}, {}
            return 200, {"uuid": m.group(1), "name": "Splunk sightings"}, {}
        if path.startswith("/v2/inthreat/") and INTEL not in s.api_keys[key]:
            return 403, {"message": "Forbidden: missing permission"}, {}
        status, payload = self._route(path, params)
        if fault and status == 200:
            text = json.dumps(payload).encode()
            if fault["kind"] == "truncate":
                return 200, text[: max(1, len(text) // 2)], {}
            if fault["kind"] == "malformed":
                return 200, fault["body"].encode(), {}
        return status, payload, {}

    def _route(self, path, params):
        s = self.standin
        if path == "/v1/me":
            return 200, {"uuid": "5e9a8b5c-0000-4000-8000-000000000001", "email": "analyst@example.com",
                         "firstname": "Ada", "lastname": "Analyst"}
        m = re.fullmatch(r"/v2/inthreat/collections/([^/]+)/objects", path)
        if m:
            if m.group(1) not in s.feeds:
                return 404, {"message": "Feed not found"}
            return s.feed_page(m.group(1), params)
        if path == "/v2/inthreat/indicators/context":
            obs_type, value = params.get("type", ""), params.get("value", "")
            if not obs_type or not value:
                return 400, {"message": "type and value are required"}
            with s.lock:
                ids = s.context_index.get((obs_type, value.lower()), [])
                bundles = [s.bundle_for(s.find_object(i)) for i in ids]
            return 200, {"has_more": False, "items": bundles}
        m = re.fullmatch(r"/v2/inthreat/objects/([^/]+)(/context)?", path)
        if m:
            obj = s.find_object(m.group(1))
            if obj is None:
                return 404, {"message": "Object not found"}
            if m.group(2):
                return 200, s.bundle_for(obj) if obj["type"] == "indicator" else {
                    "type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [obj]}
            return 200, obj
        m = re.fullmatch(r"/v2/inthreat/relationships/([^/]+)", path)
        if m:
            obj = s.related.get(m.group(1))
            if obj is None or obj["type"] != "relationship":
                return 404, {"message": "Relationship not found"}
            return 200, obj
        return 404, {"message": "Not found"}


ICStandIn.handler_class = _Handler
