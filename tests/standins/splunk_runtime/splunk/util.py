"""splunk.util as cim_actions uses it (see the package docstring)."""
import calendar

_TRUE = ("1", "true", "yes", "t", "y", "on")
_FALSE = ("0", "false", "no", "f", "n", "off")


def normalizeBoolean(value):  # noqa: N802 - Splunk's name
    """True or False for the texts Splunk reads as booleans; any other value unchanged."""
    text = value if isinstance(value, bool) else str(value).strip().lower()
    return {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}.get(text, value) \
        if not isinstance(text, bool) else text


def mktimegm(time_tuple):
    return calendar.timegm(time_tuple)
