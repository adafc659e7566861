"""STIX facts shared by the feed and the search command, without the pattern parser (which the search command
does not need to load)."""
import re
from datetime import datetime, timezone

# The TLP 1.0 marking definitions of the STIX 2.1 specification (section 7.2.1.4).
TLP_MARKINGS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "white",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}


class InvalidIndicator(ValueError):
    """The object is not a valid STIX 2.1 indicator: skipped and counted, never fatal."""


def parse_time(text):
    """Epoch seconds of an IC timestamp (UTC, with or without microseconds); None if absent."""
    if text in (None, ""):
        return None
    if not isinstance(text, str):
        raise InvalidIndicator(f"timestamp is not a string: {text!r}")
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        # Python < 3.11 accepts only 0, 3 or 6 fraction digits: cut longer fractions to microseconds.
        match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", value)
        if not match:
            raise InvalidIndicator(f"not a timestamp: {text!r}") from None
        try:
            parsed = datetime.fromisoformat(f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}")
        except ValueError:
            raise InvalidIndicator(f"not a timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())
