"""The app's fast CSV record writer (internals.FastRecordWriterV2) writes byte for byte what splunklib's own
RecordWriterV2 writes, on the records splunkd sends: multivalue fields, unicode, empty and missing values,
quotes, commas, newlines, and a 50,000-event chunk."""
from tests.conftest import STAGE_DIR
from tests.modinput import PYTHON
from tests.standins.chunked_protocol import run_script

ECHO = STAGE_DIR.parent.parent / "tests" / "commands" / "echo_command.py"


def tricky_chunks():
    values = ["", "plain", "comma, inside", 'quote " inside', "new\nline", "cr\r\nlf", "ünïcödé 漢字 😀",
              "$dollar$", "tab\there", " spaced ", "\\backslash", "=1+2", "a" * 3000]
    first = [{"_raw": f"{n} {v}", "v": v, "mv": [v, "other", ""] if n % 3 == 0 else v,
              **({"sparse": v} if n % 4 == 0 else {})} for n, v in enumerate(values * 5)]
    big = [{"_raw": f"event {n}", "dest_ip": f"10.{n % 256}.{n // 256 % 256}.1", "count": str(n),
            "tags": ["x", "y"] if n % 1000 == 0 else "z"} for n in range(50_000)]
    return [first, [], big, first[:1]]


def run(tmp_path, fast):
    env = {"SEKOIA_IC_LIB": str(STAGE_DIR / "lib"), "PATH": "/usr/bin:/bin", "ECHO_FAST_WRITER": "1" if fast else "0"}
    process, _, answers = run_script(PYTHON, ECHO, "http://127.0.0.1:1", "echo", [], tricky_chunks(), tmp_path, "k",
                                     env)
    assert process.returncode == 0, process.stderr.decode()[-2000:]
    return process.stdout, answers


def test_the_fast_writer_writes_the_same_bytes_as_splunklib(tmp_path):
    stock, stock_answers = run(tmp_path / "stock", fast=False)
    fast, _ = run(tmp_path / "fast", fast=True)
    assert len(stock) > 1_000_000 and [len(chunk) for _, chunk in stock_answers] == [65, 0, 50_000, 1]
    assert fast == stock
