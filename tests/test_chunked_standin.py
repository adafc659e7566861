"""The chunked protocol stand-in (tests/standins/chunked_protocol.py) against what splunkd sends: protocol v2
execute chunks recorded from Splunk 8.2 (github.com/NDietrich/Splunk-CustomSearchProtocol-v2,
example_messages/events.txt) put every field's value column first, then one `__mv_<name>` column per field in the
same order, filled only for multivalue fields with `$v$;$v$`."""
import csv
import io

from tests.standins.chunked_protocol import parse_csv, to_csv


def test_value_columns_then_one_mv_column_per_field_in_the_same_order():
    records = [{"_time": "1", "host": ["fw01", "fw$02"]}, {"_time": "2", "host": "fw03", "dest_ip": "1.2.3.4"}]
    header, *rows = list(csv.reader(io.StringIO(to_csv(records))))
    names = ["_time", "host", "dest_ip"]
    assert header == names + [f"__mv_{name}" for name in names]
    assert rows == [["1", "fw01\nfw$02", "", "", "$fw01$;$fw$$02$", ""],
                    ["2", "fw03", "1.2.3.4", "", "", ""]]


def test_parse_csv_reads_back_what_to_csv_wrote():
    records = [{"a": "x", "b": ["1", "$", ""]}, {"a": "", "b": "y"}]
    assert parse_csv(to_csv(records)) == [{"a": "x", "b": ["1", "$", ""]}, {"a": "", "b": "y"}]
