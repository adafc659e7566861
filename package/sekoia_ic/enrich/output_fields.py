"""The fields `sekoialookup` adds to an event, from the summaries of its values (stix/summaries.py's shape)."""
from ..stix.summaries import INACTIVE_KEYS, LIST_KEYS, merge

SCALAR_KEYS = ("confidence", "valid_until")


def fields_for(prefix, observables_and_summaries, unmatched):
    """The fields of a record whose distinct observables have these summaries; `unmatched` (the one shared dict
    of most records) when none matched, failed or named an inactive indicator."""
    summaries = [s for _, s in observables_and_summaries]
    if not any(s.get("matched") or s.get("error") or s.get("inactive_indicator_id") for s in summaries):
        return unmatched
    error_texts = sorted({s["error"] for s in summaries if s.get("error")})
    types = sorted({o.type for o, s in observables_and_summaries if s.get("matched")})
    summary = summaries[0] if len(summaries) == 1 else merge(summaries)
    return output_fields(prefix, summary, types, error_texts)


def output_fields(prefix, merged, types, error_texts):
    """The fields one record gets: sekoia_matched always, the others only when they have a value."""
    out = {f"{prefix}matched": "true" if merged.get("matched") else "false"}
    for key in LIST_KEYS + INACTIVE_KEYS:
        values = merged.get(key) or []
        if values:
            out[f"{prefix}{key}"] = values if len(values) > 1 else values[0]
    for key in SCALAR_KEYS:
        if merged.get(key) is not None:
            out[f"{prefix}{key}"] = str(merged[key])  # as splunklib would write it, and on its fast path
    if types:
        out[f"{prefix}type"] = types if len(types) > 1 else types[0]
    if error_texts:
        out[f"{prefix}error"] = "; ".join(error_texts)
    return out
