"""STIX 2.1 indicators from the IC feed -> rows of the `sekoia_ic_indicators` lookup, one per observable.

Patterns are parsed with stix2-patterns (never regexes). Each comparison `<object>:<path> = '<value>'` that names
an observable the lookup knows becomes a row; OR and AND simply list several comparisons, and comparisons that
only qualify an observable (network-traffic:dst_port, ...) add no row.
"""
import re

from stix2patterns.exceptions import ParseException
from stix2patterns.v21.pattern import Pattern

from .observables import STIX_HASH_NAMES, InvalidObservable, normalise
from .observables import observable_key as row_key
from .stix_common import TLP_MARKINGS, InvalidIndicator, parse_time

NETWORK_REF_PATHS = (["dst_ref", "value"], ["src_ref", "value"])
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
    if operator == "ISSUBSET" and object_type not in ("ipv4-addr", "ipv6-addr"):
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
    if object_type == "email-message" and path == ["from_ref", "value"]:
        return "email-addr", value, ""
    if object_type == "network-traffic" and path in NETWORK_REF_PATHS:
        # The ref's type is not in the pattern: the IC says it in x_ic_observable_types.
        for candidate in ("domain-name", "ipv4-addr", "ipv6-addr"):
            if candidate in declared:
                try:
                    normalise(candidate, value)
                    return candidate, value, ""
                except InvalidObservable:
                    continue
        for candidate in ("ipv4-addr", "ipv6-addr", "domain-name"):
            try:
                normalise(candidate, value)
                return candidate, value, ""
            except InvalidObservable:
                continue
    return None


def check_indicator(obj):
    if not isinstance(obj, dict):
        raise InvalidIndicator("not a JSON object")
    if obj.get("type") != "indicator":
        raise InvalidIndicator(f"type is {obj.get('type')!r}, not 'indicator'")
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id.startswith("indicator--") or "/" in object_id:
        raise InvalidIndicator(f"invalid id {object_id!r}")
    if obj.get("spec_version", "2.1") != "2.1":
        raise InvalidIndicator(f"spec_version {obj.get('spec_version')!r} is not 2.1")
    return object_id


def rows_for(indicator, feed_id):
    """The lookup rows of a live indicator. Raises InvalidIndicator / UnsupportedPattern."""
    indicator_id = check_indicator(indicator)
    valid_from = parse_time(indicator.get("valid_from"))
    valid_until = parse_time(indicator.get("valid_until"))
    modified = parse_time(indicator.get("modified"))
    confidence = indicator.get("confidence")
    if confidence is not None and not isinstance(confidence, int):
        raise InvalidIndicator(f"confidence is not an integer: {confidence!r}")
    phases = indicator.get("kill_chain_phases") or []
    if not isinstance(phases, list):
        raise InvalidIndicator("kill_chain_phases is not a list")
    phase_names = sorted({p.get("phase_name") for p in phases if isinstance(p, dict) and p.get("phase_name")})
    tlp = next((TLP_MARKINGS[m] for m in indicator.get("object_marking_refs") or [] if m in TLP_MARKINGS), "")
    rows = {}
    for obs_type, raw_value, hash_type in observables_of(indicator):
        try:
            value, hash_type, is_range = normalise(obs_type, raw_value, hash_type)
        except InvalidObservable:
            continue
        key = row_key(obs_type, value)
        rows[key] = {
            "_key": key, "value": value, "type": obs_type, "hash_type": hash_type, "is_range": is_range,
            "indicator_id": indicator_id, "indicator_name": str(indicator.get("name") or "")[:1024],
            "valid_from": valid_from, "valid_until": valid_until, "confidence": confidence,
            "kill_chain_phases": phase_names, "modified": modified, "tlp": tlp, "feed_id": feed_id,
        }
    if not rows:
        raise UnsupportedPattern("no observable value of the pattern is valid", kind="invalid values")
    return list(rows.values())


def is_live(indicator, now):
    """False for revoked indicators and those whose valid_until has passed: they leave the lookup."""
    if indicator.get("revoked") is True:
        return False
    valid_until = parse_time(indicator.get("valid_until"))
    return valid_until is None or valid_until > now
