"""Whether the CIM data models the correlation searches read are there and accelerated, asked of splunkd with the
searching user's own session, in the app's namespace (nobody/sekoia_ic), where the searches' tstats resolves them.

`tstats summariesonly=true` returns nothing from a data model that is not accelerated, not installed or not
shared with the app: a search cannot tell that from "no match". This check can (docs/design.md, "Data models").

- `GET datamodel/model/{name}` (REST API Reference, "Knowledge endpoint descriptions" > datamodel/model/{name}):
  one entry whose content `acceleration` is the model's acceleration settings as a JSON string
  (`{"enabled": true, "earliest_time": "-1mon", "cron_schedule": ...}`); datamodels.conf.spec `acceleration`
  defaults to false. splunkd answers 404 when no model of that name is visible from the namespace asked: not
  installed, or shared only in another app; a model the user's roles may not read is expected to be a 404 too
  (not verified: a 403 would be `unreadable`).
- `GET configs/conf-macros/{macro}` (the rows macro): which data model it reads (`datamodel=<name>`), and whether
  summaries only (`sekoia_ic_summariesonly`, `summariesonly=true`): a macro switched to its `_raw` twin reads no
  data model, and `summariesonly=false` reads one that is not accelerated (slowly), so neither is a problem."""
import json
import re

from splunklib.binding import HTTPError

# The rows macros and the data model each reads as shipped (macros.conf): the check's fallback when the macro's
# definition cannot be read.
ROWS_MACROS = {"sekoia_ic_network_rows": "Network_Traffic", "sekoia_ic_dns_rows": "Network_Resolution",
               "sekoia_ic_web_rows": "Web", "sekoia_ic_file_rows": "Endpoint", "sekoia_ic_email_rows": "Email"}
SUMMARIESONLY_MACRO = "sekoia_ic_summariesonly"
NAME_PATTERN = r"[A-Za-z0-9_]+"
NAMES_PATTERN = rf"^{NAME_PATTERN}(,{NAME_PATTERN})*\Z"  # \Z: "$" would let a trailing newline through
_DATAMODEL = re.compile(rf"\bdatamodel\s*=\s*\"?({NAME_PATTERN})")
_SUMMARIES_ONLY = re.compile(r"\bsummariesonly\s*=\s*\"?(true|t|1)\b", re.IGNORECASE)
_UNREACHABLE = (HTTPError, OSError, ValueError, KeyError, IndexError, TypeError)

STATUSES = ("ok", "not_accelerated", "missing", "unreadable")


def _fallback(rows):
    return f", or set the macro `{rows}` to `{rows}_raw` (raw events; Settings > Advanced search > Search " \
           "macros)" if rows else ""


def _messages(name, rows):
    fallback = _fallback(rows)
    return {
        "ok": f"The data model {name} is visible from the Sekoia.io app and accelerated.",
        "not_accelerated": (f"The data model {name} is not accelerated, so the correlation search reading it "
                            f"(tstats summariesonly=true) finds nothing, match or not: an admin accelerates it "
                            f"(Settings > Data models > {name} > Edit > Edit Acceleration; for the CIM add-on, "
                            f"its Set up page){fallback}."),
        "missing": (f"No data model {name} is visible from the Sekoia.io app for your role, so the correlation "
                    f"search reading it finds nothing: install the Splunk Common Information Model add-on "
                    f"(Splunk_SA_CIM), which shares it with every app, or share your {name} data model with all "
                    f"apps and give your role read permission (Settings > Data models > Edit > Edit "
                    f"Permissions){fallback}."),
    }


def check_datamodel(service, name, rows="", summaries_only=True):
    """One row: datamodel, rows (the macro reading it, or ""), status (ok, not_accelerated, missing, unreadable)
    and a message that says what to do."""
    row = {"datamodel": name, "rows": rows, "status": "unreadable", "message": ""}
    messages = _messages(name, rows)
    try:
        response = service.get(f"datamodel/model/{name}", output_mode="json")
        entry = json.loads(response.body.read())["entry"][0]
        acceleration = entry["content"].get("acceleration") or "{}"
        if not isinstance(acceleration, dict):
            acceleration = json.loads(acceleration)
    except HTTPError as exc:
        if exc.status == 404:
            row.update(status="missing", message=messages["missing"])
            return row
        row["message"] = (f"Splunk refused to say whether the data model {name} is accelerated (HTTP "
                          f"{exc.status}: {_reason(exc)}): give your role read permission on it (Settings > Data "
                          f"models > Edit > Edit Permissions), or check its acceleration there{_fallback(rows)}.")
        return row
    except _UNREACHABLE as exc:
        row["message"] = (f"Splunk did not say whether the data model {name} is accelerated ({type(exc).__name__}: "
                          f"{exc}): check it in Settings > Data models{_fallback(rows)}.")
        return row
    enabled = acceleration.get("enabled") if isinstance(acceleration, dict) else None
    accelerated = enabled is True or str(enabled).strip().lower() in ("1", "true", "t", "yes", "y")
    if accelerated or not summaries_only:
        row.update(status="ok", message=messages["ok"] if accelerated else
                   f"The data model {name} is visible from the Sekoia.io app; it is not accelerated, and "
                   f"`{SUMMARIESONLY_MACRO}` reads it without summaries (slower searches).")
    else:
        row.update(status="not_accelerated", message=messages["not_accelerated"])
    return row


def check_rows(service, macro):
    """The row of the data model the rows macro reads, as its definition says now; a macro that reads raw events
    (its `_raw` twin) is ok. An unreadable macro is taken as shipped (ROWS_MACROS)."""
    definition = _macro_definition(service, macro)
    if definition is None:
        if macro not in ROWS_MACROS:
            return {"datamodel": "", "rows": macro, "status": "unreadable",
                    "message": f"The macro `{macro}` could not be read: check its name and your role's read "
                               "permission (Settings > Advanced search > Search macros)."}
        return check_datamodel(service, ROWS_MACROS[macro], rows=macro)
    found = _DATAMODEL.search(definition)
    if not found:
        return {"datamodel": "", "rows": macro, "status": "ok",
                "message": f"The macro `{macro}` reads raw events, no data model."}
    summaries_only = bool(_SUMMARIES_ONLY.search(definition))
    if f"`{SUMMARIESONLY_MACRO}`" in definition:
        shared = _macro_definition(service, SUMMARIESONLY_MACRO)
        summaries_only = summaries_only or shared is None or bool(_SUMMARIES_ONLY.search(shared))
    return check_datamodel(service, found.group(1), rows=macro, summaries_only=summaries_only)


def _macro_definition(service, macro):
    try:
        response = service.get(f"configs/conf-macros/{macro}", output_mode="json")
        return str(json.loads(response.body.read())["entry"][0]["content"].get("definition") or "")
    except _UNREACHABLE:
        return None


def _reason(exc):
    try:
        return "; ".join(m["text"] for m in json.loads(exc.body)["messages"]) or exc.reason
    except (ValueError, KeyError, TypeError):
        return exc.reason
