"""STIX 2.1 indicators from the IC feed -> rows of the `sekoia_ic_indicators` lookup, one per (indicator,
observable).

Patterns are parsed with stix2-patterns (never regexes), through a strict fast path for the IC's plain shapes
(fast_patterns.py) that falls back to it for anything else. Each comparison `<object>:<path> = '<value>'` that names
an observable the lookup knows becomes a row; OR and AND simply list several comparisons, and comparisons that
only qualify an observable (network-traffic:dst_port, ...) add no row.
"""
import re

from stix2patterns.exceptions import ParseException
from stix2patterns.v21.pattern import Pattern

from .common import TLP_MARKINGS, InvalidIndicator, parse_time
from .fast_patterns import comparisons as fast_comparisons
from .observables import MAX_VALUE_LENGTH, STIX_HASH_NAMES, InvalidObservable, normalise, row_key

NETWORK_REF_PATHS = (["dst_ref", "value"], ["src_ref", "value"])
# The sender of a message: from_ref (the From header) and sender_ref (the Sender header), both email-addr refs.
EMAIL_REF_PATHS = (["from_ref", "value"], ["sender_ref", "value"])
QUALIFYING_PATHS = {"network-traffic": {"dst_port", "src_port", "protocols", "start", "end"}}
_ESCAPE = re.compile(r"\\(.)")


class UnsupportedPattern(ValueError):
    """A valid indicator whose pattern names no observable the lookup holds; `kind` says which, for logging
    each kind once."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


def _literal(text):
    """The Python string of a STIX pattern string literal 'it\\'s' (the inspector keeps quotes and escapes)."""
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return _ESCAPE.sub(r"\1", text[1:-1])
    return text


def observables_of(indicator):
    """[(type, raw value, hash_type)] named by the indicator's pattern. Raises InvalidIndicator on a pattern
    that does not parse, UnsupportedPattern when nothing in it is an observable the lookup holds."""
    pattern = indicator.get("pattern")
    if indicator.get("pattern_type", "stix") != "stix":
        raise UnsupportedPattern(f"pattern_type {indicator.get('pattern_type')!r}",
                                 kind=f"pattern_type:{indicator.get('pattern_type')}")
    if not isinstance(pattern, str) or not pattern.strip():
        raise InvalidIndicator("no pattern")
    comparisons = fast_comparisons(pattern)  # the IC's plain shapes, without ANTLR
    if comparisons is None:
        try:
            comparisons = Pattern(pattern).inspect().comparisons
        except ParseException as exc:
            raise InvalidIndicator(f"pattern does not parse: {exc}") from None
    declared = set(indicator.get("x_ic_observable_types") or [])
    found, unsupported = [], []
    for object_type, items in comparisons.items():
        for path, operator, literal in items:
            path = [str(p) for p in path]
            kind = f"{object_type}:{'.'.join(path)} {operator}"
            if path and path[0] in QUALIFYING_PATHS.get(object_type, ()):
                continue
            if operator not in ("=", "ISSUBSET"):
                unsupported.append(kind)
                continue
            observable = _observable(object_type, path, _literal(literal), declared, operator)
            if observable is None:
                unsupported.append(kind)
            else:
                found.append(observable)
    if not found:
        raise UnsupportedPattern(f"no supported observable in {pattern[:200]!r}",
                                 kind=", ".join(sorted(set(unsupported))) or "empty")
    return found


def _observable(object_type, path, value, declared, operator):
    if operator == "ISSUBSET":  # only an address range can hold addresses
        if object_type in ("ipv4-addr", "ipv6-addr") and path == ["value"]:
            return object_type, value, ""
        if object_type == "network-traffic" and path in NETWORK_REF_PATHS:
            return _address_of(value, ("ipv4-addr", "ipv6-addr"))
        return None
    if object_type in ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr") and path == ["value"]:
        return object_type, value, ""
    if object_type == "filename" and path == ["value"]:  # an IC custom observable
        return "filename", value, ""
    if object_type == "file" and path == ["name"]:
        return "filename", value, ""
    if object_type == "file" and len(path) == 2 and path[0] == "hashes":
        hash_type = STIX_HASH_NAMES.get(path[1].upper())
        return ("file", value, hash_type) if hash_type else None
    if object_type == "email-message" and path in EMAIL_REF_PATHS:
        return "email-addr", value, ""
    if object_type == "network-traffic" and path in NETWORK_REF_PATHS:
        # The ref's type is not in the pattern: the IC says it in x_ic_observable_types.
        return (_address_of(value, [t for t in ("domain-name", "ipv4-addr", "ipv6-addr") if t in declared])
                or _address_of(value, ("ipv4-addr", "ipv6-addr", "domain-name")))
    return None


def _address_of(value, candidate_types):
    """(type, value, "") for the first of the types the value is valid as, or None."""
    for candidate in candidate_types:
        try:
            normalise(candidate, value)
            return candidate, value, ""
        except InvalidObservable:
            continue
    return None


class Indicator:
    """One feed object read once: what decides its liveness (id, revoked, valid_until) is checked on reading; the
    rest of it only when its rows are built, which only a live indicator needs."""
    __slots__ = ("obj", "id", "revoked", "valid_until")

    def __init__(self, obj):
        """Raises InvalidIndicator when obj is not a STIX 2.1 indicator the feed can hold."""
        if not isinstance(obj, dict):
            raise InvalidIndicator("not a JSON object")
        if obj.get("type") != "indicator":
            raise InvalidIndicator(f"type is {obj.get('type')!r}, not 'indicator'")
        object_id = obj.get("id")
        if not isinstance(object_id, str) or not object_id.startswith("indicator--") or "/" in object_id \
                or len(object_id) > 100:
            raise InvalidIndicator(f"invalid id {str(object_id)[:120]!r}")
        if obj.get("spec_version", "2.1") != "2.1":
            raise InvalidIndicator(f"spec_version {obj.get('spec_version')!r} is not 2.1")
        revoked = obj.get("revoked", False)
        if not isinstance(revoked, bool):
            raise InvalidIndicator(f"revoked is not a boolean: {revoked!r}")
        self.obj, self.id, self.revoked = obj, object_id, revoked
        self.valid_until = parse_time(obj.get("valid_until"))

    def is_live(self, now):
        """False for revoked indicators and those whose valid_until has passed: they leave the lookup."""
        return not self.revoked and (self.valid_until is None or self.valid_until > now)

    def rows(self, feed_id):
        """The lookup rows of this indicator, one per observable its pattern names.
        Raises InvalidIndicator / UnsupportedPattern."""
        obj = self.obj
        valid_from = parse_time(obj.get("valid_from"))
        modified = parse_time(obj.get("modified"))
        confidence = obj.get("confidence")
        if confidence is not None and (not isinstance(confidence, int) or isinstance(confidence, bool)):
            raise InvalidIndicator(f"confidence is not an integer: {confidence!r}")
        name = obj.get("name") or ""
        if not isinstance(name, str):
            raise InvalidIndicator(f"name is not a string: {type(name).__name__}")
        phases = obj.get("kill_chain_phases") or []
        if not isinstance(phases, list):
            raise InvalidIndicator("kill_chain_phases is not a list")
        phase_names = sorted({p["phase_name"] for p in phases
                              if isinstance(p, dict) and isinstance(p.get("phase_name"), str) and p["phase_name"]})
        markings = obj.get("object_marking_refs") or []
        tlp = next((TLP_MARKINGS[m] for m in markings if isinstance(m, str) and m in TLP_MARKINGS), "") \
            if isinstance(markings, list) else ""
        rows = {}
        for obs_type, raw_value, hash_type in observables_of(obj):
            try:
                value, hash_type, is_range = normalise(obs_type, raw_value, hash_type)
            except InvalidObservable:
                continue
            key = row_key(feed_id, self.id, obs_type, value)
            rows[key] = {
                "_key": key, "value": value, "ic_value": raw_value[:MAX_VALUE_LENGTH], "type": obs_type,
                "hash_type": hash_type, "is_range": is_range,
                "indicator_id": self.id, "indicator_name": name[:1024],
                "valid_from": valid_from, "valid_until": self.valid_until, "confidence": confidence,
                "kill_chain_phases": phase_names, "modified": modified, "tlp": tlp, "feed_id": feed_id,
            }
        if not rows:
            raise UnsupportedPattern("no observable value of the pattern is valid", kind="invalid values")
        return list(rows.values())


def rows_for(obj, feed_id):
    """The lookup rows of a feed object (a live indicator). Raises InvalidIndicator / UnsupportedPattern."""
    return Indicator(obj).rows(feed_id)
