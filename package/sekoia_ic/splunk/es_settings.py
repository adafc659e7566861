"""sekoia_ic.conf [es]: whether and what the feed run exports to Enterprise Security's threat intelligence
(docs/design.md, "Enterprise Security"). One set of rules, used by the feed run (EsSettings.from_conf) and by the
setup endpoint (check_es), as splunk/settings.py does for [settings]."""
from dataclasses import dataclass

from ..constants import FALSE, TRUE
from ..ic.errors import ConfigurationError
from .settings import check_all, read_stanza

STANZA = "es"
# ES threat intelligence types the app exports, in the order the setup page lists them.
ES_TYPES = ("ip", "domain", "http", "file", "email")
MAX_ROWS_DEFAULT = 500_000
MAX_ROWS_LIMIT = 5_000_000


def _bool(label):
    def check(text, default=False):
        if text == "":
            return default
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"{label} must be true or false.")
    return check


def _min_confidence(text):
    try:
        value = int(text or 0)
    except ValueError:
        value = -1
    if not 0 <= value <= 100:
        raise ValueError("The minimum confidence is a whole number from 0 to 100.")
    return value


def _types(text):
    names = [t.strip().lower() for t in (text or ",".join(ES_TYPES)).split(",") if t.strip()]
    unknown = [t for t in names if t not in ES_TYPES]
    if unknown or not names:
        raise ValueError(f"The types are a comma list of {', '.join(ES_TYPES)} (at least one).")
    return tuple(t for t in ES_TYPES if t in names)


def _max_rows(text):
    try:
        value = int(text or MAX_ROWS_DEFAULT)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_ROWS_LIMIT:
        raise ValueError(f"The row cap is a whole number from 1 to {MAX_ROWS_LIMIT:,}.")
    return value


ES_CHECKS = {"enabled": _bool("Send indicators to Enterprise Security"), "min_confidence": _min_confidence,
             "types": _types, "ipv6": _bool("IPv6 addresses"), "max_rows": _max_rows}


def check_es(values):
    """({key: value}, {key: message}) of an [es] stanza's key/values, every key checked."""
    return check_all(ES_CHECKS, values)


@dataclass(frozen=True)
class EsSettings:
    enabled: bool = False
    min_confidence: int = 0
    types: tuple = ES_TYPES
    ipv6: bool = False
    max_rows: int = MAX_ROWS_DEFAULT

    @classmethod
    def from_conf(cls, values):
        checked, errors = check_es(values)
        for key, message in errors.items():
            raise ConfigurationError(f"sekoia_ic.conf [{STANZA}] {key} = {str(values.get(key) or '')!r}: {message}")
        return cls(**checked)


def read_es_settings(service):
    return EsSettings.from_conf(read_stanza(service, STANZA))
