"""Reader of Splunk .conf files, following the Splunk "About configuration files" / "Configuration file
structure" docs: [stanza] headers, `key = value` lines, `#` comments on their own line, a trailing
backslash continues a value on the next line, keys before any stanza belong to [default]."""
from pathlib import Path


def parse_conf(text):
    """{stanza: {key: value}}, stanzas and keys in file order."""
    stanzas = {}
    current = stanzas.setdefault("default", {})
    pending_key, pending_value = None, None
    for raw in text.splitlines():
        if pending_key is not None:
            line = raw.rstrip("\n")
            if line.endswith("\\"):
                pending_value += "\n" + line[:-1]
                continue
            current[pending_key] = (pending_value + "\n" + line).strip()
            pending_key = None
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = stanzas.setdefault(line[1:-1], {})
            continue
        if "=" not in line:
            raise ValueError(f"not a key = value line: {raw!r}")
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if value.endswith("\\"):
            pending_key, pending_value = key, value[:-1]
            continue
        current[key] = value
    if pending_key is not None:
        current[pending_key] = pending_value.strip()
    if not stanzas["default"]:
        del stanzas["default"]
    return stanzas


def read_conf(path):
    return parse_conf(Path(path).read_text(encoding="utf-8"))
