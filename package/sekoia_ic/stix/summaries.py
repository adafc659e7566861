"""IC context answers (STIX bundles) and lookup rows -> the enrichment fields of `sekoialookup`.

A context answer is `{"has_more": ..., "items": [bundle, ...]}`, each bundle holding an indicator, its
`indicates` relationships and their targets (malware, intrusion-set, ...), its source identities and its TLP
marking-definition (docs/design.md, "The IC API").
"""
from .common import TLP_MARKINGS, parse_time

def _unique(values):
    seen, out = set(), []
    for value in values:
        if value not in (None, "") and value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _tlp_of(marking):
    definition = marking.get("definition") or {}
    if marking.get("definition_type") == "tlp" and isinstance(definition, dict) and definition.get("tlp"):
        return str(definition["tlp"]).lower()
    name = str(marking.get("name") or "")
    if name.upper().startswith("TLP:"):
        return name[4:].lower()
    return TLP_MARKINGS.get(marking.get("id"), "")


def summarise_context(answer, now):
    """The enrichment of one context answer; {"matched": False} when the IC knows no live indicator of the value.
    Indicators revoked or past their valid_until (the API answers about those too) are no match: they are listed
    in inactive_indicator_id / inactive_reason. Raises ValueError on an answer of an unexpected shape."""
    if not isinstance(answer, dict) or not isinstance(answer.get("items", []), list):
        raise ValueError("no 'items' list")
    objects = {}
    for bundle in answer.get("items") or []:
        if not isinstance(bundle, dict) or not isinstance(bundle.get("objects"), list):
            raise ValueError("a bundle without an 'objects' list")
        for obj in bundle["objects"]:
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                objects[obj["id"]] = obj
    indicators, inactive = [], []
    for indicator in (o for o in objects.values() if o.get("type") == "indicator"):
        valid_until = _safe_time(indicator.get("valid_until"))
        if indicator.get("revoked") is True:
            inactive.append((indicator["id"], "revoked"))
        elif valid_until is not None and valid_until <= now:
            inactive.append((indicator["id"], "expired"))
        else:
            indicators.append(indicator)
    gone = {"inactive_indicator_id": [i for i, _ in inactive], "inactive_reason": [r for _, r in inactive]} \
        if inactive else {}
    if not indicators:
        return {"matched": False, **gone}
    ids = {i["id"] for i in indicators}
    threats = [objects[r["target_ref"]].get("name") for r in objects.values()
               if r.get("type") == "relationship" and r.get("relationship_type") == "indicates"
               and r.get("source_ref") in ids and r.get("target_ref") in objects]
    sources = [objects[ref].get("name") for i in indicators for ref in _list(i.get("x_inthreat_sources_refs"))
               if ref in objects]
    markings = [objects[ref] if ref in objects else {"id": ref}
                for i in indicators for ref in _list(i.get("object_marking_refs")) if isinstance(ref, str)]
    confidences = [i["confidence"] for i in indicators if isinstance(i.get("confidence"), int)]
    valid_untils = [v for v in (_safe_time(i.get("valid_until")) for i in indicators) if v is not None]
    return {
        "matched": True,
        "indicator_id": _unique(i["id"] for i in indicators),
        "indicator_name": _unique(i.get("name") for i in indicators),
        "threats": _unique(threats),
        "kill_chain_phases": _unique(p.get("phase_name") for i in indicators
                                     for p in _list(i.get("kill_chain_phases")) if isinstance(p, dict)),
        "confidence": max(confidences) if confidences else None,
        "valid_until": max(valid_untils) if valid_untils else None,
        "sources": _unique(sources),
        "tlp": _unique(_tlp_of(m) for m in markings),
        **gone,
    }


def _list(value):
    return value if isinstance(value, list) else []


def summarise_rows(rows):
    """The enrichment the lookup rows of one observable give (one row per indicator naming it), the most recently
    modified indicator first."""
    if len(rows) == 1:
        return summarise_row(rows[0])
    ordered = sorted(rows, key=lambda r: r.get("modified") if isinstance(r.get("modified"), (int, float)) else 0,
                     reverse=True)
    return merge([summarise_row(r) for r in ordered])


def summarise_row(row):
    """The enrichment a lookup row gives on its own (no threats or sources: the feed does not carry them)."""
    phases = row.get("kill_chain_phases") or []
    return {
        "matched": True,
        "indicator_id": _unique([row.get("indicator_id")]),
        "indicator_name": _unique([row.get("indicator_name")]),
        "threats": [],
        # A list as the feed writes it; a plain string as collections.conf declares it and | outputlookup writes.
        "kill_chain_phases": _unique([phases] if isinstance(phases, str) else phases),
        "confidence": row.get("confidence"),
        "valid_until": row.get("valid_until"),
        "sources": [],
        "tlp": _unique([row.get("tlp")]),
    }


LIST_KEYS = ("indicator_id", "indicator_name", "threats", "kill_chain_phases", "sources", "tlp")
INACTIVE_KEYS = ("inactive_indicator_id", "inactive_reason")


def merge(summaries):
    """Several matches on one event (several fields or values) -> one set of fields, multivalue where several."""
    gone = {k: [v for s in summaries if s for v in (s.get(k) or [])] for k in INACTIVE_KEYS}
    gone = gone if gone["inactive_indicator_id"] else {}
    matched = [s for s in summaries if s and s.get("matched")]
    if not matched:
        return {"matched": False, **gone}
    merged = {"matched": True, **gone}
    for key in LIST_KEYS:
        merged[key] = _unique(v for s in matched for v in (s.get(key) or []))
    confidences = [s["confidence"] for s in matched if s.get("confidence") is not None]
    valid_untils = [s["valid_until"] for s in matched if s.get("valid_until") is not None]
    merged["confidence"] = max(confidences) if confidences else None
    merged["valid_until"] = max(valid_untils) if valid_untils else None
    return merged


def _safe_time(text):
    try:
        return parse_time(text)
    except ValueError:
        return None
