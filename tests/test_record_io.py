"""The app's fast record reading and writing (library_internals.FastRecordReader, FastRecordWriterV2) give what
splunklib's own code gives: the same records, keys in the same order, and the same output bytes, on what splunkd sends
(multivalue fields, unicode, empty and missing values, quotes, commas, newlines, 50,000-event chunks) and on any
other CSV layout, which the reader hands to splunklib."""
import io
from collections import OrderedDict

import pytest
from splunklib.searchcommands import StreamingCommand

from sekoia_ic.splunk.library_internals import FastRecordReader, splunkd_layout
from tests.conftest import STAGE_DIR
from tests.modinput import PYTHON
from tests.standins.chunked_protocol import run_script

ECHO = STAGE_DIR.parent.parent / "tests" / "commands" / "echo_command.py"


def tricky_chunks():
    values = ["", "plain", "comma, inside", 'quote " inside', "new\nline", "cr\r\nlf", "ünïcödé 漢字 😀",
              "$dollar$", "$$", "semi;colon", "tab\there", " spaced ", "\\backslash", "=1+2", "a" * 3000]
    first = [{"_raw": f"{n} {v}", "v": v, "mv": [v, "other", ""] if n % 3 == 0 else v,
              **({"sparse": v} if n % 4 == 0 else {})} for n, v in enumerate(values * 5)]
    big = [{"_raw": f"event {n}", "dest_ip": f"10.{n % 256}.{n // 256 % 256}.1", "count": str(n),
            "tags": ["x", "y"] if n % 1000 == 0 else "z"} for n in range(50_000)]
    single_values = [{"_time": str(n), "host": "fw01", "v": v} for n, v in enumerate(values)]
    return [first, [], big, first[:1], single_values]


def run(tmp_path, fast):
    env = {"SEKOIA_IC_LIB": str(STAGE_DIR / "lib"), "PATH": "/usr/bin:/bin", "ECHO_FAST": "1" if fast else "0"}
    process, _, answers = run_script(PYTHON, ECHO, "http://127.0.0.1:1", "echo", [], tricky_chunks(), tmp_path, "k",
                                     env)
    assert process.returncode == 0, process.stderr.decode()[-2000:]
    return process.stdout, answers


def test_fast_reading_and_writing_give_the_same_bytes_as_splunklib(tmp_path):
    stock, stock_answers = run(tmp_path / "stock", fast=False)
    fast, _ = run(tmp_path / "fast", fast=True)
    assert len(stock) > 1_000_000 and [len(chunk) for _, chunk in stock_answers] == [75, 0, 50_000, 1, 15]
    assert fast == stock


class Stock(StreamingCommand):
    pass


class Fast(FastRecordReader, StreamingCommand):
    pass


def read(command_class, body):
    return [list(record.items()) for record in command_class()._read_csv_records(io.StringIO(body))]


LAYOUTS = {
    "splunkd": 'a,b,__mv_a,__mv_b\r\n1,"x\ny",,$x$;$y$\r\n2,z,,\r\n',
    "no __mv_ columns": "a,b\r\n1,2\r\n3,4\r\n",
    "short and long rows": "a,b,__mv_a,__mv_b\r\n1\r\n1,2,$p$\r\n1,2,,$q$,extra,more\r\n\r\n",
    "interleaved": 'a,__mv_a,b,__mv_b\r\n1,,"x\ny",$x$;$y$\r\n',
    "__mv_ column before its field": "__mv_a,a\r\n$p$;$q$,p\r\n,r\r\n",
    "__mv_ column of no field": "a,__mv_b\r\n1,$x$\r\n2,\r\n",
    "a name twice": "a,a,__mv_a,__mv_a\r\n1,2,,\r\n",
    "__mv_ columns in another order": "a,b,__mv_b,__mv_a\r\n1,2,$q$,$p$\r\n",
    "field named like an __mv_ column": "__mv_x,__mv___mv_x\r\n1,\r\n",
    "header only": "a,b,__mv_a,__mv_b\r\n",
    "empty body": "",
    "empty header": "\r\n1,2\r\n",
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_reader_gives_splunklibs_records_whatever_the_layout(layout):
    assert read(Fast, LAYOUTS[layout]) == read(Stock, LAYOUTS[layout])


def test_only_splunkds_layout_takes_the_fast_path():
    assert splunkd_layout(["a", "b", "__mv_a", "__mv_b"]) == ["a", "b"]
    assert splunkd_layout(["a", "b"]) == ["a", "b"]
    for layout in ("interleaved", "__mv_ column before its field", "__mv_ column of no field", "a name twice",
                   "__mv_ columns in another order", "field named like an __mv_ column"):
        header = LAYOUTS[layout].split("\r\n")[0].split(",")
        assert splunkd_layout(header) is None, layout


def test_the_fast_reader_hands_records_as_plain_dicts():
    records = list(Fast()._read_csv_records(io.StringIO(LAYOUTS["splunkd"])))
    assert [type(r) for r in records] == [dict, dict]
    assert records[0] == {"a": "1", "b": ["x", "y"]} and records[1] == {"a": "2", "b": "z"}
    assert type(next(Stock()._read_csv_records(io.StringIO(LAYOUTS["splunkd"])))) is OrderedDict
