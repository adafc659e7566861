"""A splunkd REST API stand-in that splunklib talks to unchanged, over real HTTP on 127.0.0.1.

It follows the Splunk REST API Reference Manual (splunkd 9.x):
- Access: every endpoint but auth/login needs `Authorization: Splunk <session key>` (or Bearer); without a
  known key it answers 401 with <response><messages><msg type="WARN">call not properly authenticated...
  ("REST API Reference > Access endpoint descriptions" and "Basic concepts > Authentication").
- Namespaces: /services/... and /servicesNS/<owner>/<app>/... ("Basic concepts > Namespace").
- Output: Atom feeds with <s:dict>/<s:list> content by default, JSON with output_mode=json
  ("Basic concepts > Atom Feed responses").
- KV store ("KV store endpoint descriptions"): storage/collections/config (list, get, create),
  storage/collections/data/<collection> GET with query (Mongo-style JSON: equality, $and, $or, $in, $nin,
  $gt, $gte, $lt, $lte, $ne; values compared as MongoDB compares BSON: 3 is 3.0, true is not 1; on an array
  field, equality and $in hold when an element does; an accelerated field's index finds what a scan would), sort,
  skip, limit, fields; POST insert; DELETE with or without query (no query
  deletes every record); /<key> GET, POST (replace) and DELETE; batch_save (upsert by _key, at most
  limits.conf [kvstore] max_documents_per_batch_save documents and max_size_per_batch_save_mb of body, else 400)
  and batch_find (at most
  max_queries_per_batch queries). Reads return at most [kvstore] max_rows_per_query rows, and stop adding rows
  once the answer holds max_size_per_result_mb of data (a fraction of a MB is taken, for tests); a batch_find
  stops adding rows once its answers together hold max_size_per_batch_result_mb (limits.conf.spec: "the result
  set from a set of batch find queries"), the answers after the cut empty (or, when told to, left out of the
  list, or the batch refused with a 400: what splunkd does there is undocumented). `fields` is GET's string
  (field:0|1, _key:0 allowed with inclusions) or batch_find's projection object (the reference's example);
  anything else is a 400. Unknown collections answer 404.
- storage/passwords ("Access endpoint descriptions > storage/passwords"): entities named
  `realm:username:`, clear_password in the content, POST name/password/realm creates (409 if it exists),
  POST password to the entity updates, DELETE removes. A credential belongs to the namespace it was created in
  ("Basic concepts > Namespace"): created through /servicesNS/<owner>/<app>/ it has that app and owner (sharing
  app; /services/ is nobody/system), and a namespace sees it only when it names that app, or "-", or when the
  credential is shared global or lives in system. Elsewhere it is 404, as splunkd answers.
- configs/conf-<file> and properties/<file> ("Configuration endpoint descriptions"): the app's default/*.conf
  files as splunkd would have loaded them, plus stanzas and keys written through the API.
- data/inputs/sekoia_ic_feed[/<name>[/enable|/disable]] ("Input endpoint descriptions" > data/inputs/<modular
  input>): the stanzas of inputs.conf; a create or edit runs the scheme's external validation, the real
  bin/sekoia_ic_feed.py --validate-arguments, and answers 400 with its message when it fails.
- authentication/current-context ("Access endpoint descriptions"): the session's username, roles, capabilities.
- storage/passwords/<name>/acl ("Access Control Lists" in "Basic concepts": an ACL update takes `sharing` and
  `owner`, with perms.read, perms.write): `sharing` and `owner` must be in the form body, as solnlib sends them;
  splunklib's post(owner=, sharing=) turns them into the URL's namespace instead and sends none (docs/design.md,
  "Setup"), which splunkd refuses with 400. A credential is listed only to roles its perms.read names
  (admin_all_objects sees all).
- JSON output as splunkd writes it: `disabled` is a JSON boolean; `f=<field>` (repeatable) keeps only those
  content fields ("REST API Reference > Pagination and filtering parameters").
- server/info ("Introspection endpoint descriptions > server/info"): version, serverName, server_roles
  (a search head cluster member has shc_member, the captain also shc_captain).
- apps/local/<app> ("Apps endpoint descriptions"): POST configured=1 (is_configured) and _reload.
- auth/login ("Access endpoint descriptions > auth/login"): returns a sessionKey.
- Roles, capabilities and object permissions (authz.py): the session's user and roles decide each request;
  403 as splunkd words it. storage/passwords GET needs list_storage_passwords, which `user` and `power` lack.
  The system token (passSystemAuth) acts as splunk-system-user (role splunk-system-role, which imports admin).
- The app's restmap.conf [script:...] endpoints with scripttype = persist (persist_rest.py): the `capability`
  checked first, then the handler called with the session, the system token and the payload.
- data/lookup-table-files ("Knowledge endpoint descriptions > data/lookup-table-files" and
  ".../data/lookup-table-files/{name}"): POST with `name` and `eai:data` creates a lookup table file, POST to
  /<name> with `eai:data` replaces one; `eai:data` is the path of a file that splunkd moves into the app, and
  "this path must have the lookup staging area as an ancestor" ($SPLUNK_HOME/var/run/splunk/lookup_tmp/): any
  other path, a missing file or a missing argument is a 400, a create of an existing name a 409, an update of an
  unknown name a 404. The app's shipped lookups/*.csv are there from the start. Writes need write access to the
  app's lookups (default.meta).
- datamodel/model and datamodel/model/{name} ("Knowledge endpoint descriptions" > datamodel/model/{name}, GET:
  "Access the {name} data model"): an entry per data model whose content holds `acceleration`, the acceleration
  settings as a JSON string ({"enabled": false, "earliest_time": "", ...}; datamodels.conf.spec `acceleration`,
  default false), `description` (the model's JSON) and `displayName`. None ships with Splunk's own apps here:
  a test adds them (add_datamodel), as the CIM add-on (Splunk_SA_CIM) shares them, with every app (global).
  Namespace ("Basic concepts > Namespace"): a model is visible from /servicesNS/<owner>/<app>/ only when <app> is
  its app or "-", or when it is shared global; and only to roles its perms.read names (admin_all_objects sees
  all). Anything else is 404 "Could not find object id=<name>", as splunkd hides what a namespace or role may
  not see: never a kinder answer.
- search/jobs with exec_mode=oneshot ("Search endpoint descriptions > search/jobs"): only searches that start
  with one of the app's own custom commands (commands.conf), which it runs the way splunkd does, as the app's
  bin/ script over the chunked protocol v2; results as {"results": [...], "messages": [...]} (output_mode=json).
"""
import copy
import itertools
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from .authz import SYSTEM_ROLE, SYSTEM_USER, Authz
from .conf_spec import unknown_keys
from .conffile import read_conf
from .loopback import LoopbackServer
from .persist_rest import PersistentHandler

ATOM_NS = 'xmlns="http://www.w3.org/2005/Atom" xmlns:s="http://dev.splunk.com/ns/rest" ' \
          'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'
CHECKED_CONFS = ("transforms", "collections", "savedsearches")  # checked against their .spec (conf_spec.py)
DEFAULT_LIMITS = {"kvstore": {"max_documents_per_batch_save": "1000", "max_rows_per_query": "50000"}}


class SplunkdStandIn(LoopbackServer):
    """State of one fake splunkd plus its HTTP server. Use as a context manager or call start()/stop()."""

    def __init__(self, app_dir=None, app="sekoia_ic", session_keys=("test-session-key",), server_roles=None,
                 limits=None, splunk_home=None):
        self.app = app
        # session key -> user: the keys given act as admin; add_session() makes others.
        self.sessions = {key: {"name": "admin", "roles": ["admin"]} for key in session_keys}
        self.system_token = "system-" + uuid.uuid4().hex
        self.sessions[self.system_token] = {"name": SYSTEM_USER, "roles": [SYSTEM_ROLE]}
        self.authz = Authz()
        self.rest_handlers = {}  # match path -> (restmap stanza, PersistentHandler)
        self.splunk_home = Path(splunk_home) if splunk_home else None
        self.server_roles = list(server_roles or ["indexer", "kv_store", "license_master", "search_head"])
        self.lock = threading.RLock()
        self.requests = []  # (method, path, query) of every request, for tests to count
        self.access_log = []  # (user name or None, method, path, status) of every request
        self.fail_next = []  # [(predicate(method, path), status, message)] injected faults, used once each
        self.confs = {}  # file -> stanza -> key -> value
        self.collections = {}  # name -> {"fields": {...}, "accelerated_fields": {...}, ...}
        self.kv = {}  # collection -> {_key: document}
        self.passwords = {}  # "realm:username:" -> {"realm", "username", "clear_password"}
        self.app_state = {"configured": "0", "reloads": 0}
        self.lookup_files = {}  # lookup table file name -> its bytes, in the app's lookups/
        self.datamodels = {}  # name -> {"app", "sharing", "read", "acceleration"}: add_datamodel()
        self._key_counter = itertools.count(1)
        self.size_cuts = 0  # answers cut by [kvstore] max_size_per_result_mb
        self.batch_cuts = 0  # batch_find answers cut (or refused) by [kvstore] max_size_per_batch_result_mb
        # Past that cap (splunkd's way is undocumented): "cut" empties the answers after it, "drop" leaves them out
        # of the list, "refuse" answers 400.
        self.batch_cap = "cut"
        self.docs_read = 0  # documents answered by KV reads (the bench's KV cost per page)
        self.kv_writes = []  # (member's serverName or None, collection, method, rest of path, body) of each KV write
        for stanza, values in (limits or DEFAULT_LIMITS).items():
            self.confs.setdefault("limits", {})[stanza] = dict(values)
        if app_dir is not None:
            self.load_app(Path(app_dir))
        self.app_dir = Path(app_dir) if app_dir is not None else None
        self.scratch_dir = None  # SPLUNK_HOME and dispatch dir of commands run by search/jobs

    # ------------------------------------------------------------------------------------------ set-up
    def load_app(self, app_dir):
        """Load default/*.conf the way splunkd does at start-up; collections.conf defines the KV store. A key that
        Splunk's spec does not document in transforms, collections or savedsearches.conf is an error: splunkd
        ignores it (with a warning in splunkd.log), so whatever the app meant by it does not happen."""
        for conf in sorted((app_dir / "default").glob("*.conf")):
            name = conf.stem
            stanzas = read_conf(conf)
            if name in CHECKED_CONFS:
                unknown = unknown_keys(name, stanzas)
                if unknown:
                    raise ValueError(f"{conf}: settings Splunk does not know (ignored by splunkd): {unknown}")
            for stanza, values in stanzas.items():
                self.confs.setdefault(name, {}).setdefault(stanza, {}).update(values)
        for name, values in self.confs.get("collections", {}).items():
            if name != "default":
                self.collections[name] = dict(values)
                self.kv.setdefault(name, IndexedDocs(_accelerated_single_fields(values)))
        for path in sorted((app_dir / "lookups").glob("*.csv")) if (app_dir / "lookups").is_dir() else ():
            self.lookup_files[path.name] = path.read_bytes()
        meta_path = app_dir / "metadata" / "default.meta"
        self.authz = Authz(self.confs.get("authorize"), read_conf(meta_path) if meta_path.exists() else {})
        if "app" in self.confs:
            self.app_state["configured"] = "1" if self.confs["app"].get("install", {}).get(
                "is_configured", "0").lower() in ("1", "true") else "0"

    @property
    def uri(self):
        return self.url

    @property
    def session_keys(self):
        return set(self.sessions)

    def add_session(self, key, user, roles):
        """A session of a user with these roles (e.g. ["user"], ["user", "sekoia_ic_analyst"])."""
        with self.lock:
            self.sessions[key] = {"name": user, "roles": list(roles)}

    def add_member(self, key, server_name, roles=("search_head", "kv_store", "shc_member")):
        """A search head cluster member sharing this stand-in's KV store and replicated confs: the sessions splunkd
        gives its inputs (as admin), under which server/info answers the member's own serverName and roles."""
        with self.lock:
            self.sessions[key] = {"name": "admin", "roles": ["admin"], "server_name": server_name,
                                  "server_roles": list(roles)}

    def rest_handler(self, stanza):
        """The PersistentHandler of a restmap.conf [script:...] stanza, started at its first request."""
        with self.lock:
            conf = self.confs["restmap"][stanza]
            match = conf["match"].strip("/")
            if match not in self.rest_handlers:
                import tempfile
                home = self.splunk_home or Path(tempfile.mkdtemp(prefix="splunkd-standin-home-"))
                self.rest_handlers[match] = (conf, PersistentHandler(self.app_dir / "bin", conf["handler"], home))
            return self.rest_handlers[match][1]

    def stop(self):
        super().stop()
        for _, handler in self.rest_handlers.values():
            handler.stop()

    # ------------------------------------------------------------------------------------------ helpers for tests
    def rows(self, collection):
        with self.lock:
            return [copy.deepcopy(doc) for doc in self.kv[collection].values()]

    def set_password(self, realm, username, password, app="sekoia_ic", owner="nobody"):
        """A credential as created through /servicesNS/<owner>/<app>/storage/passwords (no ACL of its own)."""
        with self.lock:
            self.passwords[f"{realm}:{username}:"] = {"realm": realm, "username": username, "clear_password": password,
                                                      "app": app, "owner": owner, "sharing": "app"}

    def lookup_file(self, name):
        """The text of a lookup table file as splunkd holds it now."""
        with self.lock:
            return self.lookup_files[name].decode("utf-8")

    def staging_area(self):
        """$SPLUNK_HOME/var/run/splunk/lookup_tmp of this splunkd (made when missing)."""
        path = self.splunk_home / "var" / "run" / "splunk" / "lookup_tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add_datamodel(self, name, accelerated=True, app="Splunk_SA_CIM", sharing="global", read=("*",)):
        """A data model as an add-on ships it: accelerated or not, in `app`, shared `app` or `global`, readable by
        the roles in `read` (datamodels.conf acceleration; default.meta access and export = system)."""
        acceleration = {"enabled": bool(accelerated), "earliest_time": "-1mon" if accelerated else "",
                        "cron_schedule": "*/5 * * * *", "max_time": 3600, "allow_old_summaries": False}
        with self.lock:
            self.datamodels[name] = {"app": app, "sharing": sharing, "read": list(read),
                                     "acceleration": acceleration}

    def set_conf(self, name, stanza, **values):
        with self.lock:
            self.confs.setdefault(name, {}).setdefault(stanza, {}).update({k: str(v) for k, v in values.items()})

    def inject_failure(self, path_pattern, status=500, message="KV Store is initializing", method=None, times=1,
                       delay=0.0):
        """The next `times` requests whose path matches the regex answer `status` (after `delay` seconds: a
        splunkd that stops answering)."""
        regex = re.compile(path_pattern)
        for _ in range(times):
            self.fail_next.append((lambda m, p, r=regex, mm=method: r.search(p) and (mm is None or mm == m),
                                   status, message, delay))

    def count(self, method=None, path_pattern=""):
        regex = re.compile(path_pattern)
        return sum(1 for m, p, _ in self.requests if (method is None or m == method) and regex.search(p))


class HTTPFailure(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------------------------- KV queries
class IndexedDocs(dict):
    """A collection's documents by _key, with an index per single-field accelerated_fields entry of
    collections.conf, as the KV store keeps one: equality and $in queries on those fields (and on _key) read the
    index instead of every document."""

    def __init__(self, fields=()):
        super().__init__()
        self.indexes = {field: {} for field in fields}
        self._ordered = None  # the keys in order (the KV store's _key index), made at first use after a change

    def __setitem__(self, key, doc):
        if key in self:
            self._unindex(key, dict.__getitem__(self, key))
        else:
            self._ordered = None
        super().__setitem__(key, doc)
        for field, index in self.indexes.items():
            for value in _index_values(doc.get(field)):
                index.setdefault(value, set()).add(key)

    def __delitem__(self, key):
        self._unindex(key, dict.__getitem__(self, key))
        self._ordered = None
        super().__delitem__(key)

    def in_key_order(self, after=None):
        """The documents in _key order, after the key `after` (exclusive) when given: a query sorted by _key
        reads the _key index from there and stops once it has its page, as the KV store does."""
        import bisect
        if self._ordered is None:
            self._ordered = sorted(self.keys(), key=str)
        start = 0 if after is None else bisect.bisect_right(self._ordered, str(after))
        for key in self._ordered[start:]:
            yield dict.__getitem__(self, key)

    def pop(self, key, *default):
        if key in self:
            doc = dict.__getitem__(self, key)
            del self[key]
            return doc
        if default:
            return default[0]
        raise KeyError(key)

    def clear(self):
        super().clear()
        self._ordered = None
        for index in self.indexes.values():
            index.clear()

    def _unindex(self, key, doc):
        for field, index in self.indexes.items():
            for value in _index_values(doc.get(field)):
                index.get(value, set()).discard(key)

    def narrowed(self, query):
        """The documents an indexed equality or $in condition (at the top or within an $and) lets match, or None
        when no index narrows the query."""
        for field, cond in query.items():
            if field == "$and" and isinstance(cond, list):
                for part in cond:
                    found = self.narrowed(part) if isinstance(part, dict) else None
                    if found is not None:
                        return found
                continue
            if field != "_key" and field not in self.indexes:
                continue
            if isinstance(cond, dict):
                if set(cond) != {"$in"} or not isinstance(cond["$in"], list):
                    continue
                wanted = cond["$in"]
            else:
                wanted = [cond]
            keys = self._keys_of(field, wanted)
            return [dict.__getitem__(self, k) for k in keys]
        return None

    def _keys_of(self, field, wanted):
        """The _keys of the documents whose field (or _key) is one of wanted, through its index. A list of
        strings (the usual $in) is matched against the index by one set intersection: a string is its own index
        key, as a B-tree finds only the values it holds, whatever the list's length."""
        all_strings = all(map(isinstance, wanted, itertools.repeat(str)))
        if field == "_key":
            return self.keys() & set(wanted) if all_strings else {str(v) for v in wanted if str(v) in self}
        index = self.indexes[field]
        if all_strings:
            return set().union(*map(index.__getitem__, index.keys() & set(wanted)))
        keys = set()
        for value in wanted:
            for hashable in _index_values(value):
                keys |= index.get(hashable, set())
        return keys


def _projection(spec):
    """(names, include, keep_key) of a read's `fields`: GET's string (REST reference: "fields=address:0" includes
    every field but address; "fields=firstname,surname,_key:0" includes only firstname and surname) or, in a
    batch_find query, a projection object as the reference's example gives it ({"myKey": 1}). A projection
    "cannot contain both include and exclude specifications except for exclusion of the _key field" (a 400);
    `_id` is `_key` (splunklib's own test asks "data,_id:0" and gets no _key). Anything else is a 400."""
    if not spec:
        return set(), False, True
    if isinstance(spec, str):
        pairs = [(part.partition(":")[0].strip(), part.partition(":")[2].strip() != "0")
                 for part in spec.split(",") if part.strip()]
    elif isinstance(spec, dict):
        pairs = [(name, value not in (0, False)) for name, value in spec.items()]
    else:
        raise HTTPFailure(400, "Invalid fields: a projection object or a string of field:0|1 is expected")
    keep_key = all(include for name, include in pairs if name in ("_key", "_id"))
    others = [(name, include) for name, include in pairs if name not in ("_key", "_id")]
    if len({include for _, include in others}) > 1:
        raise HTTPFailure(400, "Invalid fields: a projection cannot both include and exclude fields")
    return {name for name, _ in others}, any(include for _, include in others), keep_key


def _key_after(query):
    """x of a {"_key": {"$gt": x}} condition, at the top of the query or in its top-level $and; else None."""
    conditions = [query] + [q for q in query.get("$and", []) if isinstance(q, dict)]
    for condition in conditions:
        bound = condition.get("_key")
        if isinstance(bound, dict) and isinstance(bound.get("$gt"), str):
            return bound["$gt"]
    return None


def _index_values(value):
    """The index keys of a field's value (of each element, for an array): a string is its own key, a number or
    boolean is keyed as $in compares it (_member_key: 3 is 3.0, true is not 1)."""
    values = value if isinstance(value, list) else [value]
    return [v if isinstance(v, str) else _member_key(v) for v in values if isinstance(v, (str, int, float, bool))]


def _accelerated_single_fields(settings):
    fields = set()
    for key, value in settings.items():
        if key.startswith("accelerated_fields."):
            try:
                spec = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                continue
            if isinstance(spec, dict) and len(spec) == 1:
                fields.add(next(iter(spec)))
    return fields


def _compare(value, op, operand):
    if op == "$eq":
        return _equal(value, operand)
    if op == "$ne":
        return not _equal(value, operand)
    if op in ("$in", "$nin"):
        # MongoDB's query operators reference: "If the field holds an array, then the $in operator selects the
        # documents whose field holds an array that contains at least one element that matches a value in the
        # specified array"; $nin selects those where the field "is not in the specified array" or is missing, for
        # an array: where no element is (so an empty array is in no $in list and in every $nin list).
        items = value if isinstance(value, list) else [value]
        found = any(operand.holds(v) if isinstance(operand, Members) else v in operand for v in items)
        return found if op == "$in" else not found
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if value is None or isinstance(value, bool) != isinstance(operand, bool):
            return False
        try:
            if op == "$gt":
                return value > operand
            if op == "$gte":
                return value >= operand
            if op == "$lt":
                return value < operand
            return value <= operand
        except TypeError:  # Mongo compares across types by type order; such rows never match here
            return False
    raise HTTPFailure(400, f"Unsupported query operator {op}")


class Members:
    """The list operand of $in/$nin, looked up in a set (as Mongo does with its B-tree) so that a query naming
    10,000 keys is not 10,000 list scans. Mongo compares 1 and 1.0 equal, and true apart from 1."""

    def __init__(self, values):
        self.values = values
        self._hashable = self._others = None  # made at the first document tested (an index may leave none)

    def holds(self, value):
        if self._hashable is None:
            self._hashable = {_member_key(v) for v in self.values if isinstance(v, (str, int, float, bool))}
            self._others = [v for v in self.values if not isinstance(v, (str, int, float, bool))]
        if isinstance(value, (str, int, float, bool)):
            return _member_key(value) in self._hashable
        return value in self._others


def _member_key(value):
    return ("bool" if isinstance(value, bool) else "str" if isinstance(value, str) else "number", value)


def prepared(query):
    """The query with every $in/$nin list turned into Members, once per request."""
    if isinstance(query, list):
        return [prepared(q) for q in query]
    if not isinstance(query, dict):
        return query
    return {k: Members(v) if k in ("$in", "$nin") and isinstance(v, list) else prepared(v)
            for k, v in query.items()}


def matches(doc, query):
    for key, cond in query.items():
        if key == "$and":
            if not all(matches(doc, q) for q in cond):
                return False
        elif key == "$or":
            if not any(matches(doc, q) for q in cond):
                return False
        elif key.startswith("$"):
            raise HTTPFailure(400, f"Unsupported query operator {key}")
        elif isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
            value = doc.get(key)
            if not all(_compare(value, op, operand) for op, operand in cond.items()):
                return False
        else:
            value = doc.get(key)
            # An array field matches when any element equals the operand (Mongo semantics).
            if isinstance(value, list) and not isinstance(cond, list):
                if not any(_equal(item, cond) for item in value):
                    return False
            elif not _equal(value, cond):
                return False
    return True


def _equal(value, operand):
    """Equality as MongoDB compares BSON values: 3 is 3.0, true is not 1."""
    scalars = (str, int, float, bool)
    if isinstance(value, scalars) and isinstance(operand, scalars):
        return _member_key(value) == _member_key(operand)
    return value == operand


def _sort_key(value):
    # Mongo orders null before numbers before strings.
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value))


# ---------------------------------------------------------------------------------------------- rendering
def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _xml_value(value):
    if isinstance(value, dict):
        inner = "".join(f'<s:key name="{escape(str(k))}">{_xml_value(v)}</s:key>' for k, v in value.items())
        return f"<s:dict>{inner}</s:dict>"
    if isinstance(value, (list, tuple)):
        return "<s:list>" + "".join(f"<s:item>{_xml_value(v)}</s:item>" for v in value) + "</s:list>"
    if isinstance(value, bool):
        return "1" if value else "0"
    return escape("" if value is None else str(value))


class _Entity:
    def __init__(self, name, content, owner="nobody", app="sekoia_ic", sharing="app", path=""):
        self.name = name
        self.content = content
        self.acl = {"app": app, "owner": owner, "sharing": sharing, "modifiable": "1", "removable": "1",
                    "can_write": "1", "perms": {"read": ["*"], "write": ["admin", "sc_admin"]}}
        self.path = path  # e.g. /servicesNS/nobody/sekoia_ic/storage/passwords/<quoted name>


def _json_content(content):
    """splunkd's JSON: `disabled` is a boolean, whatever the conf file says (0/1/true/false)."""
    if "disabled" in content:
        content = dict(content, disabled=str(content["disabled"]).strip().lower() in ("1", "true", "yes", "t", "y"))
    return content


def render(entities, collection_path, base, output_mode, title):
    if output_mode == "json":
        return "application/json", json.dumps({
            "links": {}, "origin": base + collection_path, "updated": _now(), "generator": {"version": "9.3.0"},
            "entry": [{"name": e.name, "id": base + e.path, "updated": _now(),
                       "links": {"alternate": e.path, "list": e.path, "edit": e.path, "remove": e.path},
                       "author": e.acl["owner"], "acl": e.acl, "content": _json_content(e.content)} for e in entities],
            "paging": {"total": len(entities), "perPage": 30, "offset": 0}, "messages": []})
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<feed {ATOM_NS}>',
             f"<title>{escape(title)}</title><id>{escape(base + collection_path)}</id><updated>{_now()}</updated>",
             '<generator build="stand-in" version="9.3.0"/><author><name>Splunk</name></author>',
             f"<opensearch:totalResults>{len(entities)}</opensearch:totalResults>",
             "<opensearch:itemsPerPage>30</opensearch:itemsPerPage><opensearch:startIndex>0</opensearch:startIndex>",
             "<s:messages/>"]
    for e in entities:
        content = dict(e.content)
        content["eai:acl"] = e.acl
        parts.append(
            f"<entry><title>{escape(e.name)}</title><id>{escape(base + e.path)}</id><updated>{_now()}</updated>"
            f'<link href="{escape(e.path)}" rel="alternate"/><author><name>{escape(e.acl["owner"])}</name></author>'
            f'<link href="{escape(e.path)}" rel="list"/><link href="{escape(e.path)}" rel="edit"/>'
            f'<link href="{escape(e.path)}" rel="remove"/>'
            f'<content type="text/xml">{_xml_value(content)}</content></entry>')
    parts.append("</feed>")
    return "text/xml; charset=utf-8", "".join(parts)


def _filter_fields(payload, keep):
    document = json.loads(payload)
    for entry in document.get("entry", []):
        entry["content"] = {k: v for k, v in entry["content"].items() if k in keep}
    return json.dumps(document)


def render_messages(status, message, output_mode):
    kind = "WARN" if status == 401 else "ERROR"
    if output_mode == "json":
        return "application/json", json.dumps({"messages": [{"type": kind, "text": message}]})
    return "text/xml; charset=utf-8", (f'<?xml version="1.0" encoding="UTF-8"?>\n<response><messages>'
                                       f'<msg type="{kind}">{escape(message)}</msg></messages></response>')


# ---------------------------------------------------------------------------------------------- HTTP
class _Handler(BaseHTTPRequestHandler):
    standin = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        ctype = self.headers.get("Content-Type", "")
        form = {}
        if method == "POST" and "json" not in ctype and body:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        params = {k: v[-1] for k, v in {**query, **form}.items()}
        output_mode = params.get("output_mode", "xml")
        s = self.standin
        with s.lock:
            s.requests.append((method, unquote(parts.path), params))
        self.user = None
        try:
            for i, (predicate, status, message, delay) in enumerate(list(s.fail_next)):
                if predicate(method, unquote(parts.path)):
                    with s.lock:
                        s.fail_next.pop(i)
                    time.sleep(delay)
                    raise HTTPFailure(status, message)
            status, ctype_out, payload = self._route(method, parts.path, params, body, form, output_mode)
            if query.get("f") and output_mode == "json" and status < 300:
                payload = _filter_fields(payload, set(query["f"]))
        except HTTPFailure as exc:
            status = exc.status
            ctype_out, payload = render_messages(exc.status, exc.message, output_mode)
        with s.lock:
            s.access_log.append(((self.user or {}).get("name"), method, unquote(parts.path), status))
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        self.send_response(status)
        self.send_header("Content-Type", ctype_out)
        self.send_header("Content-Length", str(len(data)))
        # splunkd closes the connection unless the client asks to keep it alive; splunklib relies on it
        # (it closes its side as soon as the headers are read, unless the answer says keep-alive).
        keep_alive = "keep-alive" in self.headers.get("Connection", "").lower()
        self.send_header("Connection", "Keep-Alive" if keep_alive else "Close")
        self.close_connection = not keep_alive
        self.end_headers()
        self.wfile.write(data)

    def _user(self):
        header = self.headers.get("Authorization", "")
        for prefix in ("Splunk ", "Bearer "):
            if header.startswith(prefix):
                return self.standin.sessions.get(header[len(prefix):])
        return None

    def _token(self):
        return self.headers.get("Authorization", "").split(" ", 1)[1]

    def _require(self, capability):
        if not self.standin.authz.has(self.user, capability):
            raise HTTPFailure(403, f"You (user={self.user['name']}) do not have permission to perform this "
                                   f"operation (requires capability: {capability}).")

    def _require_access(self, obj, action, path):
        if not self.standin.authz.may(self.user, obj, action):
            roles = ", ".join(sorted(self.user["roles"]))
            raise HTTPFailure(403, f"User '{self.user['name']}' with roles {{ {roles} }} cannot {action}: {path}")

    def _route(self, method, raw_path, params, body, form, output_mode):
        segments = [unquote(p) for p in raw_path.strip("/").split("/")]
        if segments[:1] == ["services"]:
            owner, app, rest = "nobody", "system", segments[1:]
        elif segments[:1] == ["servicesNS"] and len(segments) >= 3:
            owner, app, rest = segments[1], segments[2], segments[3:]
        else:
            raise HTTPFailure(404, f"Not found: {raw_path}")
        if rest == ["auth", "login"] and method == "POST":
            key = "session-" + uuid.uuid4().hex
            self.standin.add_session(key, params.get("username") or "admin", ["admin"])
            return 200, "text/xml", f"<response><sessionKey>{key}</sessionKey></response>"
        user = self._user()
        if user is None:
            raise HTTPFailure(401, "call not properly authenticated")
        self.user = user
        base = f"http://127.0.0.1:{self.standin.port}"
        ns = f"/servicesNS/{quote(owner, safe='')}/{quote(app, safe='')}"
        ctx = dict(method=method, params=params, body=body, form=form, output_mode=output_mode, base=base,
                   ns=ns, owner=owner, app=app)
        if rest[:3] == ["storage", "collections", "data"] and len(rest) >= 4:
            return self._kv_data(rest[3], rest[4:], **ctx)
        if rest[:3] == ["storage", "collections", "config"]:
            return self._kv_config(rest[3:], **ctx)
        if rest[:2] == ["storage", "passwords"]:
            return self._passwords(rest[2:], **ctx)
        if rest and rest[0].startswith("configs") and len(rest) >= 2 and rest[1].startswith("conf-"):
            return self._configs(rest[1][len("conf-"):], rest[2:], **ctx)
        if rest[:1] == ["properties"] and len(rest) >= 2:
            return self._properties(rest[1], rest[2:], **ctx)
        if rest[:3] == ["data", "inputs", "sekoia_ic_feed"]:
            return self._modinput(rest[3:], **ctx)
        if rest == ["authentication", "current-context"]:
            caps = self.standin.authz.capabilities(user)
            content = {"username": user["name"], "roles": sorted(self.standin.authz.expand(user["roles"])),
                       "capabilities": sorted(caps if "*" not in caps else
                                              set().union(*(r["capabilities"] for r in self.standin.authz.roles.values())))}
            entity = _Entity("context", content, app="system", path="/services/authentication/current-context/context")
            return (200,) + render([entity], "/services/authentication/current-context", base, output_mode, "context")
        if rest == ["server", "info"]:
            info = _Entity("server-info", {"version": "9.3.0", "serverName": user.get("server_name", "standin"),
                                           "build": "stand-in",
                                           "server_roles": user.get("server_roles", self.standin.server_roles)},
                           app="system", path="/services/server/info/server-info")
            ctype, out = render([info], "/services/server/info", base, output_mode, "server-info")
            return 200, ctype, out
        if rest[:2] == ["apps", "local"] and len(rest) >= 3:
            return self._apps(rest[2], rest[3:], **ctx)
        if rest[:2] == ["datamodel", "model"]:
            return self._datamodels(rest[2:], **ctx)
        if rest[:2] == ["data", "lookup-table-files"]:
            return self._lookup_files(rest[2:], **ctx)
        if rest == ["search", "jobs"] and method == "POST":
            self._require("search")
            return self._oneshot(params, output_mode)
        for match, (conf, handler) in list(self.standin.rest_handlers.items()):
            if "/".join(rest) == match:
                return self._persistent(conf, handler, method, raw_path, params, body, form, owner, app)
        for stanza, conf in self.standin.confs.get("restmap", {}).items():
            if stanza.startswith("script:") and "/".join(rest) == conf.get("match", "").strip("/"):
                handler = self.standin.rest_handler(stanza)
                return self._persistent(conf, handler, method, raw_path, params, body, form, owner, app)
        raise HTTPFailure(404, f"Not found: {raw_path}")

    def _persistent(self, conf, handler, method, raw_path, params, body, form, owner, app):
        capability = conf.get(f"capability.{method.lower()}") or conf.get("capability")
        if capability:
            self._require(capability)
        s = self.standin
        request = {
            "method": method, "rest_path": "/" + conf["match"].strip("/"), "path_info": "",
            "query": [[k, v] for k, v in params.items() if k not in form],
            "form": [[k, v[-1]] for k, v in form.items()],
            "session": {"user": self.user["name"], "authtoken": self._token()},
            "server": {"rest_uri": f"http://127.0.0.1:{s.port}", "hostname": "standin"},
            "ns": {"app": app, "user": owner}, "output_mode": params.get("output_mode", "xml"),
        }
        if conf.get("passPayload", "false").lower() == "true":
            request["payload"] = body.decode("utf-8", "replace")
        if conf.get("passSystemAuth", "false").lower() == "true":
            request["system_authtoken"] = s.system_token
        status, payload, ctype = handler.call(request)
        if status >= 400 and ctype != "application/json":
            raise HTTPFailure(status, payload)
        return status, ctype, payload

    # ------------------------------------------------------------------------------------------ lookup files
    def _lookup_files(self, rest, method, params, output_mode, base, ns, owner, app, **_):
        s = self.standin
        path = f"{ns}/data/lookup-table-files"
        self._require_access("lookups", "read" if method == "GET" else "write", path)

        def entity(name):
            where = f"$SPLUNK_HOME/etc/apps/{s.app}/lookups/{name}"
            return _Entity(name, {"eai:data": where}, owner=owner, app=s.app, path=f"{path}/{quote(name, safe='')}")

        def staged_bytes():
            staged = params.get("eai:data")
            if not staged:
                raise HTTPFailure(400, "Missing argument: eai:data")
            if s.splunk_home is None:
                raise HTTPFailure(500, "this stand-in needs splunk_home for the lookup staging area")
            source = Path(staged).resolve()
            if s.staging_area().resolve() not in source.parents:
                raise HTTPFailure(400, f"Invalid path {staged}: it must have the lookup staging area "
                                       f"{s.staging_area()} as an ancestor")
            if not source.is_file():
                raise HTTPFailure(400, f"File {staged} does not exist")
            data = source.read_bytes()
            source.unlink()  # splunkd moves the file
            return data

        with s.lock:
            if not rest:
                if method == "GET":
                    return (200,) + render([entity(n) for n in sorted(s.lookup_files)], path, base, output_mode,
                                           "lookup-table-files")
                if method == "POST":
                    name = params.get("name")
                    if not name:
                        raise HTTPFailure(400, "Missing argument: name")
                    if "/" in name or name.startswith("."):
                        raise HTTPFailure(400, f"Invalid lookup table file name {name}")
                    if name in s.lookup_files:
                        raise HTTPFailure(409, f"An object with name={name} already exists")
                    s.lookup_files[name] = staged_bytes()
                    return (201,) + render([entity(name)], path, base, output_mode, "lookup-table-files")
            elif len(rest) == 1:
                name = rest[0]
                if name not in s.lookup_files:
                    raise HTTPFailure(404, f"Could not find object id={name}")
                if method == "GET":
                    return (200,) + render([entity(name)], path, base, output_mode, "lookup-table-files")
                if method == "POST":
                    s.lookup_files[name] = staged_bytes()
                    return (200,) + render([entity(name)], path, base, output_mode, "lookup-table-files")
        raise HTTPFailure(405, "Method not allowed")

    # ------------------------------------------------------------------------------------------ searches
    def _oneshot(self, params, output_mode):
        import sys
        import tempfile
        from .chunked_protocol import inspector_messages, run_script
        s = self.standin
        if params.get("exec_mode") != "oneshot":
            raise HTTPFailure(400, "this stand-in runs oneshot searches only")
        words = (params.get("search") or "").strip().lstrip("|").split()
        commands = s.confs.get("commands", {})
        if not words or words[0] not in commands or s.app_dir is None:
            raise HTTPFailure(400, f"Unknown search command '{words[0] if words else ''}'.")
        script = s.app_dir / "bin" / commands[words[0]]["filename"]
        home = s.scratch_dir or tempfile.mkdtemp(prefix="splunkd-standin-")
        env = {"SPLUNK_HOME": str(home), "PATH": "/usr/bin:/bin"}
        token = self._token()
        _, _, answers = run_script(getattr(sys, "_base_executable", sys.executable), script, f"http://127.0.0.1:{s.port}",
                                   words[0], words[1:], [[]], home, token, env, timeout=120)
        results = [r for _, chunk in answers for r in chunk]
        messages = [{"type": level, "text": text} for level, text in inspector_messages(answers)]
        if output_mode != "json":
            raise HTTPFailure(400, "this stand-in answers oneshot searches with output_mode=json only")
        return 200, "application/json", json.dumps({"preview": False, "init_offset": 0, "messages": messages,
                                                    "fields": [{"name": k} for k in (results[0] if results else {})],
                                                    "results": results})

    # ------------------------------------------------------------------------------------------ KV store
    def _collection(self, name):
        s = self.standin
        if name not in s.collections:
            raise HTTPFailure(404, f"Collection '{name}' does not exist")
        return s.kv[name]

    def _limit(self, key):
        return int(self.standin.confs.get("limits", {}).get("kvstore", {}).get(key, DEFAULT_LIMITS["kvstore"][key]))

    def _new_key(self):
        return f"{next(self.standin._key_counter):024x}"

    def _read_json(self, body):
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise HTTPFailure(400, "Request body is not valid JSON") from None

    def _query(self, docs, params):
        try:
            query = json.loads(params.get("query") or "{}")
        except ValueError:
            raise HTTPFailure(400, "Invalid query: not JSON") from None
        if not isinstance(query, dict):
            raise HTTPFailure(400, "Invalid query: not a JSON object")
        checks = prepared(query)
        sort = params.get("sort") or ""
        # GET takes "field:1,field2:-1"; batch_find takes [{"field": 1}, ...].
        specs = [(f, str(d)) for item in sort for f, d in item.items()] if isinstance(sort, list) else \
            [(p.partition(":")[0], p.partition(":")[2]) for p in sort.split(",") if p]
        skip = int(params.get("skip") or 0)
        limit = int(params.get("limit") or 0)
        cap = self._limit("max_rows_per_query")
        limit = min(limit, cap) if limit else cap
        narrowed = docs.narrowed(query)
        if [(f, d.strip() or "1") for f, d in specs] == [("_key", "1")] and narrowed is not None:
            # Sorted by _key, narrowed by an index: the index's documents in key order (an index scan with point
            # bounds, as the KV store's query planner does), not a walk over the whole _key index.
            found = sorted((d for d in narrowed if matches(d, checks)), key=lambda d: str(d["_key"]))
        elif [(f, d.strip() or "1") for f, d in specs] == [("_key", "1")]:  # keys are strings here
            # Sorted by _key: read in key order from the query's lower bound, stop at the page's end.
            found = []
            for doc in docs.in_key_order(_key_after(query)):
                if matches(doc, checks):
                    found.append(doc)
                    if len(found) >= skip + limit:
                        break
        else:
            # The index's documents when one narrows the query (found once, above), else every document.
            found = [d for d in (list(docs.values()) if narrowed is None else narrowed) if matches(d, checks)]
            for field, direction in reversed(specs):
                found.sort(key=lambda d: _sort_key(d.get(field)), reverse=direction.strip() == "-1")
        found = found[skip:skip + limit]
        names, include, keep_key = _projection(params.get("fields"))
        if names or not keep_key:
            found = [{k: v for k, v in d.items() if (keep_key if k == "_key" else (k in names) == include)}
                     for d in found]
        found = self._cut_by_size(found)
        self.standin.docs_read += len(found)
        return found

    def _cut_by_size(self, found):
        """limits.conf [kvstore] max_size_per_result_mb (default 50): splunkd stops adding documents to an answer
        once it holds that much data, whatever the limit asked. The stand-in takes a fraction of a megabyte too,
        so that tests can cut pages of a few rows."""
        raw = self.standin.confs.get("limits", {}).get("kvstore", {}).get("max_size_per_result_mb")
        if raw is None:
            return found
        budget, size = float(raw) * 1024 * 1024, 0
        for count, doc in enumerate(found):
            size += len(json.dumps(doc))
            if size > budget and count:
                self.standin.size_cuts += 1
                return found[:count]
        return found

    def _cut_batch(self, answers):
        """limits.conf [kvstore] max_size_per_batch_result_mb (default 100): "the maximum size of the result set from
        a set of batch find queries". What splunkd does past it is not documented, so the stand-in does what
        `batch_cap` says: "cut" stops adding documents there, as max_size_per_result_mb does for one answer (the
        answers after the cut come back empty; the batch still carries its first document), "drop" also leaves
        those answers out of the list, "refuse" answers 400, as batch_save does past its limits. Unset (the
        stand-in's default), nothing is cut."""
        raw = self.standin.confs.get("limits", {}).get("kvstore", {}).get("max_size_per_batch_result_mb")
        if raw is None:
            return answers
        budget, size, kept = float(raw) * 1024 * 1024, 0, 0
        for position, answer in enumerate(answers):
            for count, doc in enumerate(answer):
                size += len(json.dumps(doc))
                if size > budget and kept:
                    self.standin.batch_cuts += 1
                    if self.standin.batch_cap == "refuse":
                        raise HTTPFailure(400, "Request exceeds API limits - see limits.conf for details. (Batch "
                                               f"find result exceeds {raw} MB)")  # the words are the stand-in's own
                    rest = [[] for _ in answers[position + 1:]] if self.standin.batch_cap == "cut" else []
                    return answers[:position] + [answer[:count]] + rest
                kept += 1
        return answers

    def _kv_data(self, name, rest, method, params, body, ns="", **_):
        s = self.standin
        reads = method == "GET" or rest == ["batch_find"]
        self._require_access(f"collections/{name}", "read" if reads else "write",
                             f"{ns}/storage/collections/data/{name}")
        with s.lock:
            docs = self._collection(name)
            if not reads:  # who wrote what, in order (the lease tests' one-writer check)
                s.kv_writes.append((self.user.get("server_name"), name, method, "/".join(rest), body))
            if not rest or rest == [""]:
                if method == "GET":
                    return 200, "application/json", json.dumps(self._query(docs, params))
                if method == "POST":
                    doc = self._read_json(body)
                    if not isinstance(doc, dict):
                        raise HTTPFailure(400, "Document must be a JSON object")
                    key = str(doc.get("_key") or self._new_key())
                    if key in docs:
                        raise HTTPFailure(409, f"A document with _key {key} already exists")
                    docs[key] = {**doc, "_key": key, "_user": "nobody"}
                    return 201, "application/json", json.dumps({"_key": key})
                if method == "DELETE":
                    if params.get("query"):
                        for doc in self._query(docs, {"query": params["query"]}):
                            docs.pop(doc["_key"], None)
                    else:
                        docs.clear()
                    return 200, "application/json", ""
            if rest == ["batch_save"] and method == "POST":
                batch = self._read_json(body)
                if not isinstance(batch, list) or not all(isinstance(d, dict) for d in batch):
                    raise HTTPFailure(400, "batch_save takes a JSON array of objects")
                limit = self._limit("max_documents_per_batch_save")
                if len(batch) > limit:
                    raise HTTPFailure(400, f"Request exceeds API limits - see limits.conf for details. "
                                           f"(Too many documents for a single batch save, limit is {limit})")
                megabytes = float(s.confs.get("limits", {}).get("kvstore", {}).get("max_size_per_batch_save_mb", 50))
                if len(body) > megabytes * 1024 * 1024:  # limits.conf.spec [kvstore] max_size_per_batch_save_mb
                    raise HTTPFailure(400, "Request exceeds API limits - see limits.conf for details. (Batch save "
                                           f"size exceeds {megabytes} MB)")  # the words are the stand-in's own
                keys = []
                for doc in batch:
                    key = str(doc.get("_key") or self._new_key())
                    docs[key] = {**doc, "_key": key, "_user": "nobody"}
                    keys.append(key)
                return 200, "application/json", json.dumps(keys)
            if rest == ["batch_find"] and method == "POST":
                queries = self._read_json(body)
                most = int(s.confs.get("limits", {}).get("kvstore", {}).get("max_queries_per_batch", 1000))
                if not isinstance(queries, list) or len(queries) > most:
                    raise HTTPFailure(400, f"Request exceeds API limits - see limits.conf for details. (Too many "
                                           f"queries for a single batch find, limit is {most})")
                results = []
                for q in queries:
                    q = dict(q)
                    if isinstance(q.get("query"), dict):
                        q["query"] = json.dumps(q["query"])
                    results.append(self._query(docs, q))
                return 200, "application/json", json.dumps(self._cut_batch(results))
            if len(rest) == 1:
                key = rest[0]
                if method == "GET":
                    if key not in docs:
                        raise HTTPFailure(404, f"Could not find object id={key}")
                    return 200, "application/json", json.dumps(docs[key])
                if method == "POST":
                    doc = self._read_json(body)
                    docs[key] = {**doc, "_key": key, "_user": "nobody"}
                    return 200, "application/json", json.dumps({"_key": key})
                if method == "DELETE":
                    if docs.pop(key, None) is None:
                        raise HTTPFailure(404, f"Could not find object id={key}")
                    return 200, "application/json", ""
        raise HTTPFailure(404, "Not found")

    def _kv_config(self, rest, method, params, output_mode, base, ns, app, owner, **_):
        s = self.standin
        if method != "GET":
            self._require("admin_all_objects")
        with s.lock:
            if method == "POST" and not rest:
                name = params.get("name")
                if not name:
                    raise HTTPFailure(400, "A name is required")
                if name in s.collections:
                    raise HTTPFailure(409, f"An object with name={name} already exists")
                s.collections[name] = {k: v for k, v in params.items() if k != "name"}
                s.kv[name] = IndexedDocs(_accelerated_single_fields(s.collections[name]))
                entities = [self._collection_entity(name, ns, owner, app)]
                return (201,) + render(entities, ns + "/storage/collections/config", base, output_mode, "collections")
            if method == "GET":
                names = [rest[0]] if rest else sorted(s.collections)
                if rest and rest[0] not in s.collections:
                    raise HTTPFailure(404, f"Could not find object id={rest[0]}")
                entities = [self._collection_entity(n, ns, owner, app) for n in names]
                return (200,) + render(entities, ns + "/storage/collections/config", base, output_mode, "collections")
            if method == "DELETE" and rest:
                s.collections.pop(rest[0], None)
                s.kv.pop(rest[0], None)
                return 200, "text/xml", "<response/>"
        raise HTTPFailure(404, "Not found")

    def _collection_entity(self, name, ns, owner, app):
        return _Entity(name, dict(self.standin.collections[name]), owner=owner, app=app,
                       path=f"{ns}/storage/collections/config/{quote(name, safe='')}")

    # ------------------------------------------------------------------------------------------ passwords
    def _password_entity(self, name, ns, owner, app):
        record = self.standin.passwords[name]
        content = {"realm": record["realm"], "username": record["username"],
                   "clear_password": record["clear_password"], "password": "********", "encr_password": "$7$stand-in"}
        entity = _Entity(name, content, owner=record.get("owner", "nobody"), app=record.get("app", "sekoia_ic"),
                         sharing=record.get("sharing", "app"),
                         path=f"{ns}/storage/passwords/{quote(name, safe='')}")
        if record.get("acl"):
            entity.acl.update(record["acl"])
        return entity

    @staticmethod
    def _in_namespace(record, owner, app):
        """Whether a credential is visible from /servicesNS/<owner>/<app>."""
        if record.get("sharing") == "user" and owner not in ("-", record.get("owner")):
            return False
        return app == "-" or record.get("app", "sekoia_ic") in (app, "system") or record.get("sharing") == "global"

    def _may_read_password(self, name, owner="-", app="-"):
        record = self.standin.passwords[name]
        if not self._in_namespace(record, owner, app):
            return False
        acl = record.get("acl")
        if not acl or self.standin.authz.has(self.user, "admin_all_objects"):
            return True
        allowed = set(acl["perms"]["read"])
        return "*" in allowed or bool(allowed & self.standin.authz.expand(self.user["roles"]))

    def _passwords(self, rest, method, params, output_mode, base, ns, owner, app, form=None, **_):
        s = self.standin
        path = ns + "/storage/passwords"
        self._require("list_storage_passwords" if method == "GET" else "admin_all_objects or edit_storage_passwords")
        with s.lock:
            if not rest:
                if method == "GET":
                    entities = [self._password_entity(n, ns, owner, app) for n in sorted(s.passwords)
                                if self._may_read_password(n, owner, app)]
                    return (200,) + render(entities, path, base, output_mode, "passwords")
                if method == "POST":
                    username, password = params.get("name"), params.get("password")
                    if not username or password is None:
                        raise HTTPFailure(400, "Missing argument: name and password are required")
                    realm = params.get("realm", "")
                    name = f"{realm}:{username}:"
                    if name in s.passwords:
                        raise HTTPFailure(409, f"An object with name={name} already exists")
                    if "-" in (owner, app):
                        raise HTTPFailure(400, "Cannot create an object in a wildcard namespace")
                    s.passwords[name] = {"realm": realm, "username": username, "clear_password": password,
                                         "app": app, "owner": owner, "sharing": "app"}
                    return (201,) + render([self._password_entity(name, ns, owner, app)], path, base, output_mode,
                                           "passwords")
            else:
                name = rest[0]
                if name not in s.passwords or not self._may_read_password(name, owner, app):
                    raise HTTPFailure(404, f"Could not find object id={name}")
                if rest[1:] == ["acl"] and method == "POST":
                    missing = [k for k in ("sharing", "owner") if not form.get(k)]
                    if missing:
                        raise HTTPFailure(400, f"Missing argument(s) for an ACL update: {', '.join(missing)}")
                    sharing = form["sharing"][-1]
                    if sharing not in ("user", "app", "global", "system"):
                        raise HTTPFailure(400, f"Invalid sharing={sharing}")
                    record = s.passwords[name]
                    record.update(sharing=sharing, owner=form["owner"][-1])
                    record["acl"] = {
                        "sharing": sharing, "owner": form["owner"][-1],
                        "perms": {"read": [r.strip() for r in params.get("perms.read", "*").split(",") if r.strip()],
                                  "write": [r.strip() for r in params.get("perms.write", "admin").split(",")
                                            if r.strip()]}}
                    return (200,) + render([self._password_entity(name, ns, owner, app)], path, base, output_mode,
                                           "passwords")
                if method == "GET":
                    return (200,) + render([self._password_entity(name, ns, owner, app)], path, base, output_mode,
                                           "passwords")
                if method == "POST":
                    if "password" not in params:
                        raise HTTPFailure(400, "Missing argument: password")
                    s.passwords[name]["clear_password"] = params["password"]
                    return (200,) + render([self._password_entity(name, ns, owner, app)], path, base, output_mode,
                                           "passwords")
                if method == "DELETE":
                    del s.passwords[name]
                    return (200,) + render([], path, base, output_mode, "passwords")
        raise HTTPFailure(405, "Method not allowed")

    # ------------------------------------------------------------------------------------------ data/inputs
    def _modinput(self, rest, method, params, output_mode, base, ns, owner, app, **_):
        s = self.standin
        path = f"{ns}/data/inputs/sekoia_ic_feed"
        if method != "GET":
            self._require("admin_all_objects or edit_modinput_sekoia_ic_feed")
        else:
            self._require("list_inputs")
        with s.lock:
            inputs = s.confs.setdefault("inputs", {})

        def entity(name):
            values = {k: v for k, v in inputs.get("sekoia_ic_feed", {}).items()}
            values.update(inputs[f"sekoia_ic_feed://{name}"])
            values.setdefault("disabled", "0")
            return _Entity(name, values, owner=owner, app=app, path=f"{path}/{quote(name, safe='')}")

        args = {k: v for k, v in params.items() if k not in ("output_mode", "name")}
        if not rest:
            if method == "GET":
                names = [k.split("://", 1)[1] for k in inputs if k.startswith("sekoia_ic_feed://")]
                return (200,) + render([entity(n) for n in names], path, base, output_mode, "sekoia_ic_feed")
            if method == "POST":
                name = params.get("name")
                if not name:
                    raise HTTPFailure(400, "A name is required")
                if f"sekoia_ic_feed://{name}" in inputs:
                    raise HTTPFailure(409, f"An object with name={name} already exists")
                self._validate_input(name, args)
                with s.lock:
                    inputs[f"sekoia_ic_feed://{name}"] = dict(args)
                return (201,) + render([entity(name)], path, base, output_mode, "sekoia_ic_feed")
        else:
            name = rest[0]
            stanza = f"sekoia_ic_feed://{name}"
            if stanza not in inputs:
                raise HTTPFailure(404, f"Could not find object id={name}")
            if method == "GET" and len(rest) == 1:
                return (200,) + render([entity(name)], path, base, output_mode, "sekoia_ic_feed")
            if method == "POST" and rest[1:] in (["enable"], ["disable"]):
                with s.lock:
                    inputs[stanza]["disabled"] = "1" if rest[1] == "disable" else "0"
                return (200,) + render([entity(name)], path, base, output_mode, "sekoia_ic_feed")
            if method == "POST" and len(rest) == 1:
                merged = {k: v for k, v in inputs[stanza].items() if k not in ("disabled",)}
                merged.update(args)
                self._validate_input(name, merged)
                with s.lock:
                    inputs[stanza].update(args)
                return (200,) + render([entity(name)], path, base, output_mode, "sekoia_ic_feed")
            if method == "DELETE" and len(rest) == 1:
                with s.lock:
                    del inputs[stanza]
                return (200,) + render([], path, base, output_mode, "sekoia_ic_feed")
        raise HTTPFailure(405, "Method not allowed")

    def _validate_input(self, name, params):
        """splunkd runs the scheme's external validation (use_external_validation) before a create or edit."""
        import subprocess
        import sys
        from xml.etree import ElementTree
        from xml.sax.saxutils import escape as xml_escape
        s = self.standin
        if s.app_dir is None:
            return
        items = "".join(f'<param name="{xml_escape(k)}">{xml_escape(str(v))}</param>' for k, v in params.items())
        stdin = (f"<items><server_host>standin</server_host><server_uri>http://127.0.0.1:{s.port}</server_uri>"
                 f"<session_key>{xml_escape(self._token())}</session_key><checkpoint_dir>/tmp</checkpoint_dir>"
                 f'<item name="{xml_escape(name)}">{items}</item></items>')
        result = subprocess.run([getattr(sys, "_base_executable", sys.executable), "-s", "-E",
                                 str(s.app_dir / "bin" / "sekoia_ic_feed.py"), "--validate-arguments"],
                                input=stdin, capture_output=True, text=True, timeout=60,
                                env={"PATH": "/usr/bin:/bin"})
        if result.returncode != 0:
            try:
                message = ElementTree.fromstring(result.stdout).findtext("message") or "validation failed"
            except ElementTree.ParseError:
                message = "the input's validation failed"
            raise HTTPFailure(400, f"Argument validation for scheme=sekoia_ic_feed: script running failed "
                                   f"(PID {0} exited with code {result.returncode}). {message}")

    # ------------------------------------------------------------------------------------------ configs
    def _datamodels(self, rest, method, output_mode, base, ns, app, **_):
        s = self.standin
        if method != "GET" or len(rest) > 1:
            raise HTTPFailure(405 if method != "GET" else 404, "Not supported by the stand-in")
        seeing_all = s.authz.has(self.user, "admin_all_objects")
        roles = s.authz.expand(self.user["roles"])

        def visible(model):
            in_namespace = app in (model["app"], "-") or model["sharing"] in ("global", "system")
            return in_namespace and (seeing_all or "*" in model["read"] or bool(roles & set(model["read"])))

        def entity(name, model):
            content = {"acceleration": json.dumps(model["acceleration"]), "displayName": name.replace("_", " "),
                       "description": json.dumps({"modelName": name, "displayName": name.replace("_", " "),
                                                  "objects": []})}
            found = _Entity(name, content, owner="nobody", app=model["app"], sharing=model["sharing"],
                            path=f"/servicesNS/nobody/{quote(model['app'], safe='')}/datamodel/model/"
                                 f"{quote(name, safe='')}")
            found.acl["perms"] = {"read": list(model["read"]), "write": ["admin", "sc_admin"]}
            return found

        with s.lock:
            models = {n: m for n, m in s.datamodels.items() if visible(m)}
        if rest:
            if rest[0] not in models:
                raise HTTPFailure(404, f"Could not find object id={rest[0]}")
            models = {rest[0]: models[rest[0]]}
        entities = [entity(n, m) for n, m in sorted(models.items())]
        return (200,) + render(entities, f"{ns}/datamodel/model", base, output_mode, "datamodel")

    def _stanza_entity(self, conf, stanza, ns, owner, app):
        values = dict(self.standin.confs.get(conf, {}).get("default", {}))
        values.update(self.standin.confs[conf][stanza])
        return _Entity(stanza, values, owner=owner, app=app,
                       path=f"{ns}/configs/conf-{quote(conf, safe='')}/{quote(stanza, safe='')}")

    def _configs(self, conf, rest, method, params, output_mode, base, ns, owner, app, **_):
        s = self.standin
        path = f"{ns}/configs/conf-{conf}"
        self._require_access(conf, "read" if method == "GET" else "write", path)
        with s.lock:
            stanzas = s.confs.get(conf, {})
            if not rest:
                if method == "GET":
                    entities = [self._stanza_entity(conf, n, ns, owner, app) for n in stanzas]
                    return (200,) + render(entities, path, base, output_mode, f"conf-{conf}")
                if method == "POST":
                    name = params.get("name")
                    if not name:
                        raise HTTPFailure(400, "A name is required")
                    if name in stanzas:
                        raise HTTPFailure(409, f"An object with name={name} already exists")
                    s.confs.setdefault(conf, {})[name] = {k: v for k, v in params.items()
                                                          if k not in ("name", "output_mode")}
                    return (201,) + render([self._stanza_entity(conf, name, ns, owner, app)], path, base,
                                           output_mode, f"conf-{conf}")
            else:
                name = rest[0]
                if name not in stanzas:
                    raise HTTPFailure(404, f"Could not find object id={name}")
                if method == "GET":
                    return (200,) + render([self._stanza_entity(conf, name, ns, owner, app)], path, base,
                                           output_mode, f"conf-{conf}")
                if method == "POST":
                    stanzas[name].update({k: v for k, v in params.items() if k != "output_mode"})
                    return (200,) + render([self._stanza_entity(conf, name, ns, owner, app)], path, base,
                                           output_mode, f"conf-{conf}")
                if method == "DELETE":
                    del stanzas[name]
                    return (200,) + render([], path, base, output_mode, f"conf-{conf}")
        raise HTTPFailure(405, "Method not allowed")

    def _properties(self, conf, rest, method, params, output_mode, base, ns, owner, app, **_):
        s = self.standin
        self._require_access(conf, "read" if method == "GET" else "write", f"{ns}/properties/{conf}")
        with s.lock:
            if conf not in s.confs:
                raise HTTPFailure(404, f"Could not find object id={conf}")
            if not rest:
                entities = [_Entity(n, {}, owner=owner, app=app, path=f"{ns}/properties/{conf}/{quote(n, safe='')}")
                            for n in s.confs[conf]]
                return (200,) + render(entities, f"{ns}/properties/{conf}", base, output_mode, conf)
            stanza = s.confs[conf].get(rest[0])
            if stanza is None:
                raise HTTPFailure(404, f"Could not find object id={rest[0]}")
            if len(rest) == 2:
                if rest[1] not in stanza:
                    raise HTTPFailure(404, f"Could not find object id={rest[1]}")
                return 200, "text/plain", stanza[rest[1]]
            if method == "POST":
                stanza.update(params)
            entities = [_Entity(k, {"value": v}, owner=owner, app=app,
                                path=f"{ns}/properties/{conf}/{quote(rest[0], safe='')}/{quote(k, safe='')}")
                        for k, v in stanza.items()]
            return (200,) + render(entities, f"{ns}/properties/{conf}/{rest[0]}", base, output_mode, rest[0])

    # ------------------------------------------------------------------------------------------ apps
    def _apps(self, name, rest, method, params, output_mode, base, **_):
        s = self.standin
        if name != s.app:
            raise HTTPFailure(404, f"Could not find object id={name}")
        if method == "POST":
            self._require("admin_all_objects")
        with s.lock:
            if rest == ["_reload"]:
                s.app_state["reloads"] += 1
            elif method == "POST" and "configured" in params:
                s.app_state["configured"] = "1" if params["configured"] in ("1", "true") else "0"
                s.confs.setdefault("app", {}).setdefault("install", {})["is_configured"] = s.app_state["configured"]
            entity = _Entity(name, {"configured": s.app_state["configured"], "label": "Sekoia.io Intelligence Center",
                                    "version": s.confs.get("app", {}).get("launcher", {}).get("version", "")},
                             app=name, path=f"/servicesNS/nobody/system/apps/local/{name}")
        return (200,) + render([entity], "/services/apps/local", base, output_mode, "localapps")


SplunkdStandIn.handler_class = _Handler
