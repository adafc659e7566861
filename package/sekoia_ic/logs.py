"""Logging of the app's scripts to $SPLUNK_HOME/var/log/splunk/<name>.log (indexed into _internal by Splunk).

The API key is never passed to a logger; SecretFilter also masks secrets (redaction.redact) should a message ever
contain one."""
import logging
import logging.handlers
import os
import sys

from . import redaction

FORMAT = "%(asctime)s %(levelname)s pid=%(process)d %(name)s - %(message)s"


class SecretFilter(logging.Filter):
    def filter(self, record):
        record.msg, record.args = redaction.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redaction.redact(record.exc_text)
        return True


SECRETS = SecretFilter()


def log_path(name):
    home = os.environ.get("SPLUNK_HOME")
    if not home:
        return None
    return os.path.join(home, "var", "log", "splunk", f"{name}.log")


def setup(name, level="INFO"):
    """Configure the root logger of this script: its log file, and errors also to stderr (splunkd.log)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = log_path(name)
    handlers = []
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=5,
                                                                 encoding="utf-8"))
        except OSError:
            path = None
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.ERROR if path else logging.DEBUG)
    handlers.append(stderr)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(SECRETS)
        root.addHandler(handler)
    set_level(level)
    # urllib3 at DEBUG logs every URL with its query: useful, and never the Authorization header.
    return logging.getLogger(name)


def set_level(level):
    logging.getLogger().setLevel(getattr(logging, str(level).upper(), logging.INFO))
