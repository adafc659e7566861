"""The app's Splunk configuration hangs together: every search, macro and dashboard query the app ships is
checked as SPL (macros expanded; splint, a linter from PyPI, splits and lints it; commands known to
pygments-lexer-spl's SPL command list or the app's commands.conf; quotes and brackets balanced, which no PyPI
package checks), names the right lookups and macros, and what conf files reference exists."""
import re
from xml.etree import ElementTree

import pytest
from pygments_lexer_spl._lexer import COMMANDS as SPL_COMMANDS
from splint.linter import lint_text
from splint.models import Severity
from splint.parser import parse

from tests.conftest import STAGE_DIR
from tests.standins.conffile import read_conf

DEFAULT = STAGE_DIR / "default"
VIEWS = DEFAULT / "data" / "ui" / "views"
CUSTOM_COMMANDS = set(read_conf(DEFAULT / "commands.conf"))
MACROS = read_conf(DEFAULT / "macros.conf")  # name, or name(<number of arguments>) -> settings
LOOKUPS = set(read_conf(DEFAULT / "transforms.conf"))
# The raw-event macros are the admin's to point at their indexes: their `index=*` default is expected.
RAW_EVENT_MACROS = {f"sekoia_ic_{kind}_events" for kind in ("network", "dns", "web", "file", "email")}


def expand(spl, seen=()):
    """SPL with every `macro` and `macro(arg, ...)` replaced by its definition, as splunkd expands them."""
    def replace(match):
        name, args = match.group(1), match.group(2)
        values = [a.strip() for a in args.split(",")] if args is not None else []
        key = f"{name}({len(values)})" if args is not None else name
        assert key in MACROS, f"unknown macro `{key}`"
        assert key not in seen, f"recursive macro `{key}`"
        definition = MACROS[key]["definition"]
        names = [n.strip() for n in MACROS[key].get("args", "").split(",") if n.strip()]
        assert len(names) == len(values), f"macro `{key}` takes {names}"
        for arg_name, value in zip(names, values):
            definition = definition.replace(f"${arg_name}$", value)
        return expand(definition, seen + (key,))
    return re.sub(r"`([A-Za-z0-9_]+)(?:\(([^`]*)\))?`", replace, spl)


def check_balance(spl):
    """Quotes, parentheses and brackets balanced; returns the [ ... ] subsearches."""
    depth, quote, subsearches, starts = [], None, [], []
    pairs = {"(": ")", "[": "]"}
    i = 0
    while i < len(spl):
        ch = spl[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch == '"':
            quote = ch
        elif ch in pairs:
            depth.append(pairs[ch])
            starts.append(i)
        elif ch in ")]":
            assert depth and depth.pop() == ch, f"unbalanced {ch!r} in: {spl}"
            start = starts.pop()
            if ch == "]":
                subsearches.append(spl[start + 1:i])
        i += 1
    assert quote is None, f"unclosed quote in: {spl}"
    assert not depth, f"unclosed bracket in: {spl}"
    return subsearches


def check_spl(spl, allow=()):
    """Returns (commands, lookups) of the expanded SPL after checking it; allow: splint codes accepted."""
    expanded = expand(spl)
    subsearches = check_balance(expanded)
    findings = [f"{d.code} {d.message}" for d in lint_text(expanded)
                if d.severity in (Severity.WARNING, Severity.ERROR) and d.code not in allow]
    assert not findings, f"splint: {findings} in: {expanded}"
    commands, lookups = [], []
    parsed = parse(expanded).commands
    for number, command in enumerate(parsed):
        name = command.name
        if number == 0 and name and name not in SPL_COMMANDS and name not in CUSTOM_COMMANDS:
            name = "search"  # a leading search command is implicit
        assert name, f"empty pipeline stage in: {expanded}"
        assert name in SPL_COMMANDS or name in CUSTOM_COMMANDS, f"unknown command {name!r} in: {expanded}"
        commands.append(name)
        if name in ("lookup", "inputlookup"):
            lookup = command.args.split()[0]
            assert lookup in LOOKUPS, f"unknown lookup {lookup!r}"
            lookups.append(lookup)
        if name == "sekoialookup":
            options = dict(re.findall(r"(\w+)=(\S+)", command.args))
            assert options.get("field"), command.raw
            assert options.get("type", "auto") in ("auto", "ipv4-addr", "ipv6-addr", "domain-name", "url",
                                                   "email-addr", "file", "filename"), command.raw
            assert options.get("mode", "both") in ("local", "api", "both"), command.raw
    for inner in subsearches:
        inner_commands, inner_lookups = check_spl(inner, allow)
        lookups += inner_lookups
    return commands, lookups


def sekoialookup_args(spl):
    """The arguments the expanded SPL gives sekoialookup."""
    stages = [c for c in parse(expand(spl)).commands if c.name == "sekoialookup"]
    assert len(stages) == 1, spl
    return stages[0].args.split()


@pytest.mark.parametrize("name", sorted(MACROS))
def test_every_macro_is_valid_spl(name):
    if "(" in name:
        return  # checked where it is called with its arguments
    allow = ("SPL001",) if name in RAW_EVENT_MACROS or name.endswith("_rows_raw") else ()
    check_spl(f"`{name}`", allow=allow)


def test_views_are_the_setup_page_or_dashboard_studio():
    """The dashboards are Dashboard Studio views, whose queries tests/test_dashboards.py checks with check_spl;
    the setup and allowlist pages (forms on the app's endpoints) are the Simple XML views, and run no query."""
    for view in sorted(VIEWS.glob("*.xml")):
        root = ElementTree.parse(view).getroot()
        if view.stem in ("sekoia_ic_setup", "sekoia_ic_allowlist"):
            assert root.get("version") == "1.1" and not list(root.iter("query"))
        else:
            assert root.tag == "dashboard" and root.get("version") == "2", view.name


RISK_PREFIX = "Sekoia IC - Risk - "
SAVED = {name: values for name, values in read_conf(DEFAULT / "savedsearches.conf").items()
         if name != "default" and not name.startswith(RISK_PREFIX)}
RISK = {name: values for name, values in read_conf(DEFAULT / "savedsearches.conf").items()
        if name.startswith(RISK_PREFIX)}


@pytest.mark.parametrize("name", sorted(SAVED))
def test_correlation_searches(name):
    settings = dict(read_conf(DEFAULT / "savedsearches.conf")["default"], **SAVED[name])
    assert settings["disabled"] == "1" and settings["enableSched"] == "1"
    spl = settings["search"]
    # The rows of an accelerated CIM data model, then sekoialookup: no lookup | where prefilter drops a match
    # that only a range or a case-insensitive comparison would find.
    assert re.match(r"^`sekoia_ic_\w+_rows` \| `sekoia_ic_matches\(", spl)
    commands, lookups = check_spl(spl)
    assert commands[0] == "tstats" and "lookup" not in commands
    assert commands.index("sekoialookup") < commands.index("where")
    assert settings["alert.suppress"] == "1" and settings["alert.suppress.fields"].startswith("indicator_id,")
    # A data model that is not accelerated gives one row saying so (sekoiacheck), appended after the matches,
    # with none of the fields suppression or a match uses.
    rows_macro = re.match(r"^`(sekoia_ic_\w+_rows)`", spl).group(1)
    assert spl.endswith(f" | `sekoia_ic_datamodel_problem({rows_macro})`")
    problem = expand(f"`sekoia_ic_datamodel_problem({rows_macro})`")
    assert problem.startswith(f"append [| sekoiacheck rows={rows_macro} | where status!=\"ok\" ")
    kept = problem.split("| fields ", 1)[1].rstrip("]").split()
    assert kept == ["sekoia_ic_problem", "datamodel", "rows", "status"]
    # The problem row is suppressed by its own message; match rows never carry the fields it keeps.
    suppress = settings["alert.suppress.fields"].split(",")
    assert suppress[-1] == "sekoia_ic_problem" and not set(kept) & set(suppress[:-1])


def test_correlation_searches_are_staggered():
    minutes = [s["cron_schedule"].split()[0] for s in SAVED.values()]
    assert len(set(minutes)) == len(minutes)


def test_the_five_data_models_are_covered_with_a_raw_fallback_each():
    searches = " ".join(expand(s["search"]) for s in SAVED.values())
    for datamodel in ("Network_Traffic.All_Traffic", "Network_Resolution.DNS", "Web.Web", "Endpoint.Filesystem",
                      "Email.All_Email"):
        assert f"datamodel={datamodel}" in searches
    for kind in ("network", "dns", "web", "file", "email"):
        assert f"sekoia_ic_{kind}_rows_raw" in MACROS
        check_spl(f"`sekoia_ic_{kind}_rows_raw`", allow=("SPL001",))


def test_check_spl_catches_mistakes():
    with pytest.raises(AssertionError, match="unknown lookup"):
        check_spl("| inputlookup nope")
    with pytest.raises(AssertionError, match="unknown macro"):
        check_spl("`nope` | stats count")
    with pytest.raises(AssertionError, match="unclosed quote"):
        check_spl('index=x | eval a="b')
    with pytest.raises(AssertionError, match="unknown command"):
        check_spl("index=x | frobnicate")
    with pytest.raises(AssertionError, match="unclosed bracket"):
        check_spl("index=x | eval a=(b | stats count")
    with pytest.raises(AssertionError, match="splint"):
        check_spl("index=main | join x [search index=main]")  # SPL003: join
    with pytest.raises(AssertionError, match=r"unknown macro `sekoia_ic_matches\(2\)`"):
        check_spl("| makeresults | `sekoia_ic_matches(a, b)`")  # macros are named with their argument count


def test_nav_views_setup_view_and_help_exist():
    nav = ElementTree.parse(DEFAULT / "data" / "ui" / "nav" / "default.xml").getroot()
    for view in nav.iter("view"):
        assert view.get("name") == "search" or (VIEWS / f"{view.get('name')}.xml").exists()
    assert [v.get("name") for v in nav.iter("view") if v.get("default") == "true"] == ["sekoia_ic_overview"]
    app = read_conf(DEFAULT / "app.conf")
    assert (VIEWS / f"{app['ui']['setup_view']}.xml").exists()
    searchbnf = read_conf(DEFAULT / "searchbnf.conf")
    for command in CUSTOM_COMMANDS:
        stanza = searchbnf[f"{command}-command"]
        assert stanza["syntax"].startswith(command) and stanza["description"] and stanza["example1"]
        assert stanza["usage"] == "public"


# ES risk framework (savedsearches.conf.spec documents action.<action_name>.<parameter>; the ESCU template gives
# action.risk.param._risk's shape): threat object types the twins may use.
THREAT_OBJECT_TYPES = {"ip_address", "domain", "url", "file_hash", "file_name", "email_address"}


@pytest.mark.parametrize("name", sorted(SAVED))
def test_each_correlation_search_has_a_disabled_risk_twin(name):
    import json
    from tests.standins.conf_spec import unknown_keys
    twin_name = RISK_PREFIX + name[len("Sekoia IC - "):]
    assert twin_name in RISK
    settings = dict(read_conf(DEFAULT / "savedsearches.conf")["default"], **RISK[twin_name])
    assert settings["disabled"] == "1" and not unknown_keys("savedsearches", {twin_name: RISK[twin_name]})
    # The twin is its correlation search without the data model problem row: that row must never add risk.
    correlation = SAVED[name]["search"].rsplit(" | `sekoia_ic_datamodel_problem(", 1)[0]
    assert settings["search"].startswith(correlation + " | eval risk_score=")
    assert "sekoiacheck" not in expand(settings["search"]) and "problem" not in settings["search"]
    value_field, entity_field, _ = re.search(r"sekoia_ic_matches\(([^)]*)\)", settings["search"]).group(1).split(", ")
    commands, _ = check_spl(settings["search"])
    assert commands[-1] == "eval"
    assert settings["action.risk"] == "1" and settings["alert.track"] == "0"
    risk = json.loads(settings["action.risk.param._risk"])
    [risk_object] = [r for r in risk if "risk_object_field" in r]
    [threat_object] = [r for r in risk if "threat_object_field" in r]
    assert risk_object["risk_object_field"] == entity_field and risk_object["risk_object_type"] in ("system", "user")
    assert 1 <= risk_object["risk_score"] <= 100
    assert threat_object["threat_object_field"] == value_field
    assert threat_object["threat_object_type"] in THREAT_OBJECT_TYPES
    message = settings["action.risk.param._risk_message"]
    for token in ("$indicator_name$", "$indicator_id$", "$tlp$", f"${value_field}$", f"${entity_field}$"):
        assert token in message


def test_risk_twins_are_staggered_apart_from_the_correlation_searches():
    minutes = [s["cron_schedule"].split()[0] for s in list(SAVED.values()) + list(RISK.values())]
    assert len(set(minutes)) == len(minutes) and len(RISK) == len(SAVED)
