"""IC context answers (STIX bundles) and lookup rows -> what `sekoialookup` knows of one observable: a summary
with one entry per live indicator naming it, each entry holding that indicator's own values.

    {"v": 2, "matched": bool,
     "indicators": [{"id", "name", "confidence", "valid_until", "tlp", "kill_chain_phases", "threats", "sources",
                     "modified", "source": "local" | "api" | "both"}, ...],   # most recently modified first
     "inactive_indicator_id": [...], "inactive_reason": ["revoked" | "expired", ...],   # when any
     "error": "...", "allowlisted": True}                                              # when so

An indicator revoked or past its valid_until is no match, whichever of the lookup or the IC says it first: it is
listed among the inactive ones. A context answer is `{"has_more": ..., "items": [bundle, ...]}`, each bundle
holding an indicator, its `indicates` relationships and their targets (malware, intrusion-set, ...), its source
identities and its TLP marking-definition (docs/design.md, "The IC API").
"""
from .common import TLP_MARKINGS, parse_time

VERSION = 2  # a cached summary of another shape is not used
NOT_MATCHED = {"v": VERSION, "matched": False, "indicators": []}
INACTIVE_KEYS = ("inactive_indicator_id", "inactive_reason")


def _unique(values):
    seen, out = set(), []
    for value in values:
        if value not in (None, "") and value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _list(value):
    return value if isinstance(value, list) else []


def _tlp_of(marking):
    definition = marking.get("definition") or {}
    if marking.get("definition_type") == "tlp" and isinstance(definition, dict) and definition.get("tlp"):
        return str(definition["tlp"]).lower()
    name = str(marking.get("name") or "")
    if name.upper().startswith("TLP:"):
        return name[4:].lower()
    return TLP_MARKINGS.get(marking.get("id"), "")


def _safe_time(text):
    try:
        return parse_time(text)
    except ValueError:
        return None


def _number(value):
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _confidence(value):
    number = _number(value)
    return int(number) if number is not None else None


def summary(entries, inactive=(), **extra):
    """A summary of live entries (ordered most recently modified first) and (id, reason) inactive pairs."""
    if not entries and not inactive and not extra:
        return NOT_MATCHED  # the one shared "nothing known" summary (never changed in place)
    ordered = sorted(entries, key=lambda e: e.get("modified") if e.get("modified") is not None else float("-inf"),
                     reverse=True)
    out = {"v": VERSION, "matched": bool(ordered), "indicators": ordered}
    if inactive:
        out["inactive_indicator_id"] = [i for i, _ in inactive]
        out["inactive_reason"] = [r for _, r in inactive]
    out.update(extra)
    return out


def summarise_context(answer, now):
    """The summary of one context answer; raises ValueError on an answer of an unexpected shape."""
    if not isinstance(answer, dict) or not isinstance(answer.get("items", []), list):
        raise ValueError("no 'items' list")
    objects = {}
    for bundle in answer.get("items") or []:
        if not isinstance(bundle, dict) or not isinstance(bundle.get("objects"), list):
            raise ValueError("a bundle without an 'objects' list")
        for obj in bundle["objects"]:
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                objects[obj["id"]] = obj
    threats = {}
    for rel in objects.values():
        if rel.get("type") == "relationship" and rel.get("relationship_type") == "indicates" \
                and rel.get("target_ref") in objects:
            threats.setdefault(rel.get("source_ref"), []).append(objects[rel["target_ref"]].get("name"))
    entries, inactive = [], []
    for indicator in (o for o in objects.values() if o.get("type") == "indicator"):
        valid_until = _safe_time(indicator.get("valid_until"))
        if indicator.get("revoked") is True:
            inactive.append((indicator["id"], "revoked"))
            continue
        if valid_until is not None and valid_until <= now:
            inactive.append((indicator["id"], "expired"))
            continue
        markings = [objects[ref] if ref in objects else {"id": ref}
                    for ref in _list(indicator.get("object_marking_refs")) if isinstance(ref, str)]
        entries.append({
            "id": indicator["id"], "name": str(indicator.get("name") or ""),
            "confidence": indicator["confidence"] if isinstance(indicator.get("confidence"), int) else None,
            "valid_until": valid_until, "tlp": next((t for t in map(_tlp_of, markings) if t), ""),
            "kill_chain_phases": _unique(p.get("phase_name") for p in _list(indicator.get("kill_chain_phases"))
                                         if isinstance(p, dict)),
            "threats": _unique(threats.get(indicator["id"], [])),
            "sources": _unique(objects[ref].get("name") for ref in _list(indicator.get("x_inthreat_sources_refs"))
                               if ref in objects),
            "modified": _safe_time(indicator.get("modified")), "source": "api"})
    return summary(entries, inactive)


def summarise_rows(rows, now):
    """The summary the lookup rows of one observable give (one row per indicator naming it). Rows whose
    valid_until has passed (the lookup keeps them until the next feed run) are no match."""
    entries, inactive, seen = [], [], set()
    for row in rows:
        indicator_id = row.get("indicator_id")
        if not isinstance(indicator_id, str) or indicator_id in seen:
            continue
        seen.add(indicator_id)
        valid_until = _number(row.get("valid_until"))
        if valid_until is not None and valid_until <= now:
            inactive.append((indicator_id, "expired"))
            continue
        phases = row.get("kill_chain_phases") or []
        entries.append({
            "id": indicator_id, "name": str(row.get("indicator_name") or ""),
            "confidence": _confidence(row.get("confidence")), "valid_until": valid_until,
            "tlp": str(row.get("tlp") or ""),
            # A list as the feed writes it; a plain string as collections.conf declares it and | outputlookup writes.
            "kill_chain_phases": _unique([phases] if isinstance(phases, str) else _list(phases)),
            "threats": [], "sources": [], "modified": _number(row.get("modified")), "source": "local"})
    return summary(entries, inactive)


def combine(local, api):
    """What the lookup and the IC say of one observable together. The IC's word on an indicator wins: one it says
    is revoked or expired is no match even while the lookup still holds it; one both know keeps the IC's richer
    entry (threats, sources), marked "both"."""
    if api.get("v") != VERSION:
        return local
    if not (local.get("indicators") or local.get("inactive_indicator_id") or "error" in local
            or "allowlisted" in local):
        return api  # the lookup adds nothing (mode=api, or no local row): what merge() would rebuild from it
    return merge(local, api)


def merge(local, api):
    """combine() of a local summary that holds something."""
    gone = dict(zip(api.get("inactive_indicator_id") or [], api.get("inactive_reason") or []))
    gone.update((i, r) for i, r in zip(local.get("inactive_indicator_id") or [], local.get("inactive_reason") or [])
                if i not in gone)
    local_ids = {e["id"] for e in local.get("indicators") or []}
    entries = []
    for entry in api.get("indicators") or []:
        entries.append(dict(entry, source="both") if entry["id"] in local_ids else entry)
    api_ids = {e["id"] for e in entries}
    entries += [e for e in local.get("indicators") or [] if e["id"] not in api_ids and e["id"] not in gone]
    extra = {k: local[k] for k in ("error", "allowlisted") if k in local}
    return summary(entries, list(gone.items()), **extra)


def live(summ, now):
    """The summary as of now: an entry whose valid_until passed since it was made (a cached answer) is inactive."""
    entries = summ.get("indicators") or []
    if not any(e.get("valid_until") is not None and e["valid_until"] <= now for e in entries):
        return summ
    keep = [e for e in entries if e.get("valid_until") is None or e["valid_until"] > now]
    gone = list(zip(summ.get("inactive_indicator_id") or [], summ.get("inactive_reason") or []))
    gone += [(e["id"], "expired") for e in entries if e not in keep]
    extra = {k: summ[k] for k in ("error", "allowlisted") if k in summ}
    return summary(keep, gone, **extra)
