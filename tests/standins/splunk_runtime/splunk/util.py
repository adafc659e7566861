"""splunk.util as cim_actions uses it (see the package docstring)."""
import calendar

_TRUE = ("1", "true", "yes", "t", "y", "on")
_FALSE = ("0", "false", "no", "f", "n", "off")


def normalizeBoolean(value):  # noqa: N802 - Splunk's name
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return value


def mktimegm(time_tuple):
    return calendar.timegm(time_tuple)
