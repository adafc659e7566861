"""The app's log files: several processes append to one at once (every search runs its own sekoialookup), and
Splunk reads them with the app's props.conf."""
import re
import subprocess
import sys

from tests.conftest import STAGE_DIR
from tests.standins.conffile import read_conf

WRITER = """
import logging, sys
sys.path.insert(0, sys.argv[1])
from sekoia_ic.splunk import logs
logs.MAX_BYTES = 200_000
logs.setup("sekoialookup")
log = logging.getLogger("sekoialookup")
for n in range(int(sys.argv[3])):
    log.warning("writer %s line %05d %s", sys.argv[2], n, "x" * 60)
"""


def test_concurrent_processes_lose_no_line_and_break_none(tmp_path):
    writers, lines = 4, 1500  # 4 x 1500 lines of ~125 bytes (750 kB): rotates 3 times, fits in the 5 backups of 200 kB
    env = {"SPLUNK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    processes = [subprocess.Popen([sys.executable, "-s", "-E", "-c", WRITER, str(STAGE_DIR / "lib"), str(w),
                                   str(lines)], env=env) for w in range(writers)]
    assert all(p.wait(timeout=120) == 0 for p in processes)
    folder = tmp_path / "var" / "log" / "splunk"
    files = sorted(folder.glob("sekoialookup.log*"))
    assert len(files) > 2  # it did rotate
    seen = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"\S+ \S+ WARNING pid=\d+ sekoialookup - writer (\d) line (\d{5}) x{60}", line)
            assert match, f"broken line in {path.name}: {line[:120]!r}"
            seen.append((match.group(1), match.group(2)))
    assert sorted(seen) == sorted((str(w), f"{n:05d}") for w in range(writers) for n in range(lines))


def test_props_give_the_logs_a_sourcetype_and_split_them_at_each_record():
    props = read_conf(STAGE_DIR / "default" / "props.conf")
    source = next(k for k in props if k.startswith("source::"))
    for name in ("sekoia_ic_feed", "sekoialookup", "sekoiacheck", "sekoia_ic_context", "sekoia_ic_setup",
                 "sekoia_ic_allowlist", "sekoia_ic_push", "sekoia_ic_add_to_collection"):
        assert name in source
    assert props[source]["sourcetype"] == "sekoia_ic:log"
    stanza = props["sekoia_ic:log"]
    record = "2026-11-24 23:30:55,419 ERROR pid=9576 sekoia_ic_feed - cannot start: boom"
    breaker = re.compile(stanza["LINE_BREAKER"])
    text = record + "\nTraceback (most recent call last):\n  File x\n" + record
    assert [m.start(1) for m in breaker.finditer(text)] == [text.rindex("\n" + record)]
    extract = re.compile(stanza["EXTRACT-sekoia_ic_log"].replace("(?<", "(?P<"))
    assert extract.match(record).groupdict() == {"log_level": "ERROR", "pid": "9576", "logger": "sekoia_ic_feed",
                                                 "message": "cannot start: boom"}


def test_once_says_each_key_once_and_entry_points_name_their_logger():
    from sekoia_ic.splunk import logs
    said = []
    say = logs.Once(lambda *args: said.append(args))
    assert say("invalid", "first %s", 1) and not say("invalid", "second %s", 2)
    assert say("unsupported:registry", "third")
    assert said == [("first %s", 1), ("third",)]
    entry = logs.EntryPoint("sekoialookup")
    assert entry.name == "sekoialookup" and entry.log.name == "sekoialookup"
