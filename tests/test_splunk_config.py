"""The app's Splunk configuration hangs together: dashboards' and saved searches' SPL parses (macros expanded,
quotes and brackets balanced, known commands), names the right lookups and macros, and what conf files
reference exists."""
import re
from xml.etree import ElementTree

import pytest

from tests.conftest import STAGE_DIR
from tests.standins.conffile import read_conf

DEFAULT = STAGE_DIR / "default"
VIEWS = DEFAULT / "data" / "ui" / "views"
# Splunk's own commands the app's SPL uses, plus the app's custom commands (checked against commands.conf).
SPLUNK_COMMANDS = {"search", "stats", "lookup", "where", "table", "eval", "bin", "timechart", "sort", "head",
                   "fields", "rex", "mvexpand", "inputlookup", "rest"}
CUSTOM_COMMANDS = set(read_conf(DEFAULT / "commands.conf"))
MACROS = {name: values["definition"] for name, values in read_conf(DEFAULT / "macros.conf").items()}
LOOKUPS = set(read_conf(DEFAULT / "transforms.conf"))


def expand(spl, seen=()):
    def replace(match):
        name = match.group(1)
        assert name in MACROS, f"unknown macro `{name}`"
        assert name not in seen, f"recursive macro `{name}`"
        return expand(MACROS[name], seen + (name,))
    return re.sub(r"`([^`(]+)`", replace, spl)


def segments(spl):
    """Split at top-level pipes, checking that quotes, parentheses and brackets are balanced."""
    parts, current, depth, quote = [], [], [], None
    pairs = {"(": ")", "[": "]"}
    i = 0
    while i < len(spl):
        ch = spl[i]
        if quote:
            if ch == "\\":
                current.append(spl[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch == '"':
            quote = ch
        elif ch in pairs:
            depth.append(pairs[ch])
        elif ch in ")]":
            assert depth and depth.pop() == ch, f"unbalanced {ch!r} in: {spl}"
        elif ch == "|" and not depth:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    assert quote is None, f"unclosed quote in: {spl}"
    assert not depth, f"unclosed bracket in: {spl}"
    parts.append("".join(current))
    return [p.strip() for p in parts]


def check_spl(spl):
    """Returns (commands, lookups) of the expanded SPL after checking it."""
    expanded = expand(spl)
    parts = segments(expanded)
    if parts and parts[0] == "":
        parts = parts[1:]  # a generating command first: "| inputlookup ..."
    else:
        parts[0] = "search " + parts[0]
    commands, lookups = [], []
    for part in parts:
        assert part, f"empty pipeline stage in: {expanded}"
        command = part.split()[0]
        assert command in SPLUNK_COMMANDS | CUSTOM_COMMANDS, f"unknown command {command!r} in: {expanded}"
        commands.append(command)
        if command in ("lookup", "inputlookup"):
            name = part.split()[1]
            assert name in LOOKUPS, f"unknown lookup {name!r}"
            lookups.append(name)
        if command == "sekoialookup":
            options = dict(re.findall(r"(\w+)=(\S+)", part))
            assert options.get("field"), part
            assert options.get("type", "auto") in ("auto", "ipv4-addr", "ipv6-addr", "domain-name", "url",
                                                   "email-addr", "file", "filename"), part
            assert options.get("mode", "both") in ("local", "api", "both"), part
    return commands, lookups


def dashboard_queries():
    for view in sorted(VIEWS.glob("*.xml")):
        root = ElementTree.parse(view).getroot()
        assert root.tag in ("dashboard", "form") and root.get("version") == "1.1", view.name
        for query in root.iter("query"):
            yield view.name, query.text


@pytest.mark.parametrize("view, query", list(dashboard_queries()), ids=lambda v: v if isinstance(v, str) and
                         v.endswith(".xml") else None)
def test_dashboard_spl_parses(view, query):
    check_spl(query)


def test_health_dashboard_reads_the_checkpoints_and_the_lookup():
    queries = " ".join(q for v, q in dashboard_queries() if v == "sekoia_ic_overview.xml")
    assert "inputlookup sekoia_ic_checkpoints" in queries and "inputlookup sekoia_ic_indicators" in queries
    assert "index=_internal" in queries and "sekoia_ic_feed.log" in queries
    text = (VIEWS / "sekoia_ic_overview.xml").read_text()
    assert 'depends="$not_configured$"' in text and "setup page" in text


def test_matches_dashboard_drills_down_to_the_region_web_app():
    text = (VIEWS / "sekoia_ic_matches.xml").read_text()
    assert "`sekoia_ic_web_app`" in text and "$web_app$/intelligence/objects/$row.indicator_id|u$" in text
    for region, url in (("FRA2", "https://app.fra2.sekoia.io"), ("USA1", "https://app.usa1.sekoia.io")):
        assert f'region="{region}", "{url}"' in MACROS["sekoia_ic_web_app"]


SAVED = {name: values for name, values in read_conf(DEFAULT / "savedsearches.conf").items() if name != "default"}


@pytest.mark.parametrize("name", sorted(SAVED))
def test_correlation_searches(name):
    settings = dict(read_conf(DEFAULT / "savedsearches.conf")["default"], **SAVED[name])
    assert settings["disabled"] == "1" and settings["is_scheduled"] == "1"
    spl = settings["search"]
    assert re.match(r"^`sekoia_ic_\w+_events` `sekoia_ic_timerange`", spl)
    commands, lookups = check_spl(spl)
    assert lookups == ["sekoia_ic_indicators"]
    assert commands.index("lookup") < commands.index("sekoialookup")  # local lookup first, API for matches only


def test_the_five_data_sources_are_covered():
    searches = " ".join(s["search"] for s in SAVED.values())
    for macro in ("sekoia_ic_network_events", "sekoia_ic_dns_events", "sekoia_ic_web_events", "sekoia_ic_file_events",
                  "sekoia_ic_email_events"):
        assert f"`{macro}`" in searches


def test_check_spl_catches_mistakes():
    with pytest.raises(AssertionError, match="unknown lookup"):
        check_spl("| inputlookup nope")
    with pytest.raises(AssertionError, match="unknown macro"):
        check_spl("`nope` | stats count")
    with pytest.raises(AssertionError, match="unclosed quote"):
        check_spl('index=x | eval a="b')
    with pytest.raises(AssertionError, match="unknown command"):
        check_spl("index=x | frobnicate")


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
