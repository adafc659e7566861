"""The fields `sekoialookup` adds to an event, from the summaries of its values (stix/summaries.py's shape).

Per indicator: `<prefix>indicators`, one JSON object per live matching indicator (the most recently modified
first) with that indicator's own `id`, `name`, `type` and `value` (the observable it matched, as the match key),
`confidence`, `valid_until` (epoch), `tlp`, `kill_chain_phases`, `threats`, `sources` (lists) and `source` (local,
api or both). With per_indicator=true, indicator_rows() gives one row per (event, matching indicator) instead,
each with that indicator's values in the flat fields.

Summary: `<prefix>matched`, and the flat fields over every matching indicator: `indicator_id`, `indicator_name`,
`threats`, `kill_chain_phases`, `sources`, `tlp` (multivalue where several), `confidence` and `valid_until` (the
highest), `type` (the types of the values that matched); `inactive_indicator_id` / `inactive_reason`, `error` and
`allowlisted` when they apply.
"""
import json

SUMMARY_LISTS = (("indicator_id", "id"), ("indicator_name", "name"), ("threats", "threats"),
                 ("kill_chain_phases", "kill_chain_phases"), ("sources", "sources"), ("tlp", "tlp"))
INACTIVE_KEYS = ("inactive_indicator_id", "inactive_reason")


def _one_or_many(values):
    return values if len(values) > 1 else values[0]


def _text(number):
    if number is None:
        return None
    return str(int(number)) if float(number).is_integer() else str(number)  # as splunklib would write it


def entries_of(observables_and_summaries):
    """[(observable, entry)] of every live indicator, each once, the most recently modified first."""
    pairs, seen = [], set()
    for observable, summ in observables_and_summaries:
        for entry in summ.get("indicators") or ():
            if entry["id"] not in seen:
                seen.add(entry["id"])
                pairs.append((observable, entry))
    pairs.sort(key=lambda p: p[1].get("modified") if p[1].get("modified") is not None else float("-inf"),
               reverse=True)
    return pairs


def indicator_object(observable, entry):
    return json.dumps({"id": entry["id"], "name": entry.get("name") or "", "type": observable.type,
                       "value": observable.value, "confidence": entry.get("confidence"),
                       "valid_until": entry.get("valid_until"), "tlp": entry.get("tlp") or "",
                       "kill_chain_phases": entry.get("kill_chain_phases") or [],
                       "threats": entry.get("threats") or [], "sources": entry.get("sources") or [],
                       "source": entry.get("source") or "local"}, separators=(",", ":"))


def fields_for(prefix, observables_and_summaries, unmatched):
    """The fields of a record whose distinct observables have these summaries; `unmatched` (the one shared dict
    of most records) when nothing matched, failed, was inactive or allowlisted."""
    summaries = [s for _, s in observables_and_summaries]
    if not any(s.get("matched") or s.get("error") or s.get("inactive_indicator_id") or s.get("allowlisted")
               for s in summaries):
        return unmatched
    pairs = entries_of(observables_and_summaries)
    out = {f"{prefix}matched": "true" if pairs else "false"}
    if pairs:
        out[f"{prefix}indicators"] = _one_or_many([indicator_object(o, e) for o, e in pairs])
        for name, key in SUMMARY_LISTS:
            values = []
            for _, entry in pairs:
                item = entry.get(key)
                values.extend(item if isinstance(item, list) else [item])
            values = list(dict.fromkeys(v for v in values if v not in (None, "")))
            if values:
                out[f"{prefix}{name}"] = _one_or_many(values)
        for name in ("confidence", "valid_until"):
            numbers = [e[name] for _, e in pairs if e.get(name) is not None]
            if numbers:
                out[f"{prefix}{name}"] = _text(max(numbers))
        out[f"{prefix}type"] = _one_or_many(sorted({o.type for o, _ in pairs}))
    for key in INACTIVE_KEYS:
        values = [v for s in summaries for v in (s.get(key) or [])]
        if values:
            out[f"{prefix}{key}"] = _one_or_many(values)
    errors = sorted({s["error"] for s in summaries if s.get("error")})
    if errors:
        out[f"{prefix}error"] = "; ".join(errors)
    if any(s.get("allowlisted") for s in summaries):
        out[f"{prefix}allowlisted"] = "true"
    return out


def indicator_rows(prefix, observables_and_summaries, fields):
    """per_indicator=true: one field set per live matching indicator (the record's summary `fields` with that
    indicator's own values in the flat fields), or [fields] with the value's match key when none matched."""
    pairs = entries_of(observables_and_summaries)
    if not pairs:
        first = next((o for o, _ in observables_and_summaries), None)
        if first is None:
            return [fields]
        return [dict(fields, **{f"{prefix}value": first.value, f"{prefix}type": first.type})]
    rows = []
    for observable, entry in pairs:
        row = dict(fields)
        for name, key in SUMMARY_LISTS:
            value = entry.get(key)
            values = value if isinstance(value, list) else [value] if value not in (None, "") else []
            if values:
                row[f"{prefix}{name}"] = _one_or_many(values)
            else:
                row.pop(f"{prefix}{name}", None)
        for name in ("confidence", "valid_until"):
            if entry.get(name) is not None:
                row[f"{prefix}{name}"] = _text(entry[name])
            else:
                row.pop(f"{prefix}{name}", None)
        row.update({f"{prefix}source": entry.get("source") or "local", f"{prefix}type": observable.type,
                    f"{prefix}value": observable.value, f"{prefix}indicators": indicator_object(observable, entry)})
        rows.append(row)
    return rows
