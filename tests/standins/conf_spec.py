"""The settings Splunk documents for a .conf file, read from Splunk's own .spec files (the copies shipped inside
the Splunk Packaging Toolkit, `slim/config/conf-specs/`). A setting line of a spec starts at column 0 as
`<key> = <type>`; `<name>` placeholders in keys stand for any name (field.<name>, action.<action_name>...),
except a key that is a placeholder alone (it documents one special stanza, e.g. transforms' [accepted_keys])."""
import importlib.util
import re
from functools import lru_cache
from pathlib import Path


def spec_dir():
    spec = importlib.util.find_spec("slim")
    return Path(list(spec.submodule_search_locations)[0]) / "config" / "conf-specs"


@lru_cache(maxsize=None)
def documented_keys(conf_name):
    """Compiled patterns of the keys conf_name.conf.spec documents."""
    patterns = []
    for line in (spec_dir() / f"{conf_name}.conf.spec").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.<>\-]+)\s*=", line)
        # A key that is only a placeholder (transforms' `<name> = <key>`) belongs to one special stanza.
        if match and not re.fullmatch(r"<[^>]*>", match.group(1)):
            key = re.escape(match.group(1))
            patterns.append(re.compile("^" + re.sub(r"\\<[^>]*\\>|<[^>]*>", r".+", key) + "$"))
    return tuple(patterns)


def unknown_keys(conf_name, stanzas):
    """[(stanza, key)] of the keys no setting of the spec documents."""
    keys = documented_keys(conf_name)
    return [(stanza, key) for stanza, values in stanzas.items() for key in values
            if not any(p.match(key) for p in keys)]
