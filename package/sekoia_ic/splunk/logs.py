"""Logging of the app's scripts to $SPLUNK_HOME/var/log/splunk/<name>.log (indexed into _internal by Splunk).

The API key is never passed to a logger; SecretFilter also masks secrets (redaction.redact) should a message ever
contain one."""
import logging
import logging.handlers
import os
import sys

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from .. import redaction

FORMAT = "%(asctime)s %(levelname)s pid=%(process)d %(name)s - %(message)s"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


class SecretFilter(logging.Filter):
    def filter(self, record):
        record.msg, record.args = redaction.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redaction.redact(record.exc_text)
        return True


SECRETS = SecretFilter()


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file that several processes append to (every search runs its own sekoialookup process):
    each record is written, and the file rotated when full, under an flock on <file>.lock, and a process whose file
    was rotated by another reopens the path first. The stock handler rotates per process, and processes rename
    each other's files away. Where flock is missing (Windows), it behaves as RotatingFileHandler."""

    def emit(self, record):
        if fcntl is None:
            return super().emit(record)
        try:
            text = self.format(record) + self.terminator
            with open(self.baseFilename + ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._follow_rotation()
                if self.maxBytes and self.stream.tell() + len(text.encode(self.encoding or "utf-8")) > self.maxBytes:
                    self.doRollover()
                self.stream.write(text)
                self.stream.flush()
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)

    def _follow_rotation(self):
        if self.stream is None:
            self.stream = self._open()
            return
        try:
            current = os.stat(self.baseFilename).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(self.stream.fileno()).st_ino:
            self.stream.close()
            self.stream = self._open()
        self.stream.seek(0, os.SEEK_END)


class EntryPoint:
    """The logging of one of the app's entry points (a bin/ script: the sekoia_ic_feed input, the sekoialookup and
    sekoiacheck commands, the sekoia_ic/context and sekoia_ic/setup handlers). Its name is its logger's and its
    file's, $SPLUNK_HOME/var/log/splunk/<name>.log:

        ENTRY = logs.EntryPoint("sekoialookup")
        log = ENTRY.log          # usable from import on
        ENTRY.start()            # when the script starts its work: the file, errors also to stderr
        logs.set_level(...)      # once the settings (log_level) are read
    """

    def __init__(self, name):
        self.name = name
        self.log = logging.getLogger(name)

    def start(self, level="INFO", own=False):
        """own=False (a script, one entry point per process): the root logger writes this entry point's file, so
        the library's module loggers do too. own=True (a persistent REST handler: restmap.conf `driver` may put
        several in one process): only this entry point's named logger, which does not propagate, writes it, and
        the root logger is left alone, so that one handler's lines never land in another's log."""
        setup(self.name, level, own=own)
        return self.log


class Once:
    """The app's one way to say each message once: `say = Once(function)`, then `say(key, *args)` calls
    function(*args) the first time key is seen and does nothing after (returns whether it called). The feed's
    warnings per kind of bad object, sekoialookup's job inspector messages per text."""

    def __init__(self, function):
        self._function = function
        self._said = set()

    def __call__(self, key, *args):
        if key in self._said:
            return False
        self._said.add(key)
        self._function(*args)
        return True


def log_path(name):
    home = os.environ.get("SPLUNK_HOME")
    if not home:
        return None
    return os.path.join(home, "var", "log", "splunk", f"{name}.log")


def setup(name, level="INFO", own=False):
    """Configure the root logger of this script (or, own=True, only the named logger `name`, not propagating):
    its log file, and errors also to stderr (splunkd.log)."""
    root = logging.getLogger(name) if own else logging.getLogger()
    if own:
        root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = log_path(name)
    handlers = []
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handlers.append(SharedRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"))
        except OSError:
            path = None
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.ERROR if path else logging.DEBUG)
    handlers.append(stderr)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(SECRETS)
        root.addHandler(handler)
    if own:
        root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    else:
        set_level(level)
    # urllib3 at DEBUG logs every URL with its query: useful, and never the Authorization header.
    return logging.getLogger(name)


def set_level(level):
    logging.getLogger().setLevel(getattr(logging, str(level).upper(), logging.INFO))
