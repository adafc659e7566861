"""Every use the app makes of its libraries' private names, in one place, each pinned by a contract test
(tests/test_internals.py) against the vendored versions of requirements/app.txt: an upgrade that changes one of
them fails there, not silently in a search or an input. Why the app uses them: docs/design.md, "Library
internals".

- splunklib 3.0.1 `SearchCommand._protocol_v2_option_parser(arg)`: splits one `name=value` argument of protocol v2;
  splunklib keeps only the last value of a repeated option, and `field=` may be given several times.
- splunklib 3.0.1 `SearchCommand._finished`: true while the chunk splunkd marked `finished` is processed (the
  last one of the search).
- taxii2-client 2.3.0 `Collection._conn.session`: the requests.Session the collection sends with, which the app
  gives its transport (rate limit, retries, proxy, TLS).
- splunklib 3.0.1 `SearchCommand._record_writer` (a `RecordWriterV2`), its `write_records` and
  `_ensure_validity`, `_write_record`, `_fieldnames`, `_writer`, `_pending_record_count`, `_maxresultrows`: the
  CSV writing of the output records. FastRecordWriterV2 writes the records whose values are all strings (or
  missing) with C-level list operations and one `writerows`, and hands every other record to splunklib's own
  code, byte for byte the same output (tests/test_record_io.py runs both on the same input and compares the
  bytes).
- splunklib 3.0.1 `KVStoreCollection(service, path, state=...)` (Entity's constructor: a given state is taken as
  is, no GET) and `KVStoreCollectionData(collection)`, which takes the collection's `service`, `name` (the state's
  `title`) and namespace (`_proper_namespace()`: the state's `access` owner, app and sharing). `kvstore_data` gives
  the data endpoint of an app collection without the GET of its config that `service.kvstore[name]` makes: one
  request less each time a collection is opened (tests/test_internals.py: the same URL, no request).
- splunklib 3.0.1 `SearchCommand._read_csv_records(ifile)` and `SearchCommand._decode_list(mv)`: the reading of
  each chunk's CSV into records. FastRecordReader reads splunkd's layout (every field has an `__mv_` column) with
  C-level zips into plain dicts, and hands every other layout to splunklib: the same records, keys in the same
  order (tests/test_record_io.py compares records and output bytes with stock splunklib).
"""
import csv

from splunklib import client
from splunklib.data import record as splunk_record
from splunklib.searchcommands.internals import CsvDialect, RecordWriterV2

from .. import APP_NAME

_PLAIN = frozenset((str, type(None)))


class RepeatableFieldOption:
    """Mixin for a splunklib SearchCommand: `field=a field=b` accumulates to `field=a,b`."""

    REPEATABLE = "field"

    def _protocol_v2_option_parser(self, arg):
        result = super()._protocol_v2_option_parser(arg)
        if len(result) == 2 and result[0] == self.REPEATABLE:
            values = self.__dict__.setdefault("_repeated_values", [])
            values.append(result[1])
            return [self.REPEATABLE, ",".join(values)]
        return result


def is_last_chunk(command):
    """Whether the chunk a splunklib StreamingCommand is processing is the search's last."""
    return bool(getattr(command, "_finished", False))


def kvstore_data(service, name):
    """The data endpoint (splunklib KVStoreCollectionData) of the app's KV store collection `name`, with no request
    to splunkd, in the namespace the collection's ACL gives (nobody/<app>, shared) as `service.kvstore[name]` would
    have read it, whatever the service's own namespace."""
    access = splunk_record({"owner": "nobody", "app": APP_NAME, "sharing": "app"})
    return client.KVStoreCollection(service, f"storage/collections/config/{name}",
                                    state=splunk_record({"title": name, "access": access})).data


def taxii_session(collection):
    """The requests.Session of a taxii2client.v21.Collection."""
    return collection._conn.session


def splunkd_layout(header):
    """The field names when a chunk's CSV header is splunkd's: every value column, then (or not at all) one
    `__mv_<name>` column per field in the same order, no name twice. None for any other header."""
    mv_at = header.index("__mv_" + header[0]) if header and "__mv_" + header[0] in header else len(header)
    names, mv_names = header[:mv_at], header[mv_at:]
    if len(set(names)) != len(names) or any(name.startswith("__mv_") for name in names):
        return None
    if mv_names and mv_names != ["__mv_" + name for name in names]:
        return None
    return names


class FastRecordReader:
    """Mixin for a splunklib SearchCommand: reads splunkd's chunks into plain dicts, the records splunklib builds."""

    def _read_csv_records(self, ifile):
        if not ifile.seekable():  # protocol v1 reads stdin: splunklib's own reading
            return super()._read_csv_records(ifile)
        start = ifile.tell()
        reader = csv.reader(ifile, dialect=CsvDialect)
        header = next(reader, None)
        names = None if header is None else splunkd_layout(header)
        if names is None:  # no header, or not splunkd's layout: splunklib's own reading
            ifile.seek(start)
            return super()._read_csv_records(ifile)
        return self._read_splunkd_rows(reader, names)

    def _read_splunkd_rows(self, reader, names):
        count, decode = len(names), self._decode_list
        for row in reader:
            record = dict(zip(names, row))
            mv = row[count:2 * count]
            if any(mv):  # a multivalue field: its list replaces the newline-joined value, as splunklib does
                for name, value in zip(names, mv):
                    if value:
                        record[name] = decode(value)
            yield record


class FastRecordWriterV2(RecordWriterV2):
    """splunklib's RecordWriterV2, with a fast path for records of plain string values: their rows are built with
    C-level list operations and written with one writerows per run of them."""

    def write_records(self, records):
        self._ensure_validity()
        records = [] if records is NotImplemented else list(records)
        if records and self._fieldnames is None:  # the first record decides the header: splunklib's own code
            super()._write_record(records[0])
            records = records[1:]
        if not records:
            return
        fieldnames = self._fieldnames
        width = 2 * len(fieldnames)
        rows = []
        for record in records:
            values = list(map(record.get, fieldnames))
            if _PLAIN.issuperset(map(type, values)):
                row = [None] * width
                row[::2] = values  # (value, None) per field: the value column, and no __mv_ column
                rows.append(row)
            else:  # lists (multivalue), numbers, bytes...: splunklib's encoding, in its place among the rows
                self._write_rows(rows)
                rows = []
                super()._write_record(record)
        self._write_rows(rows)

    def _write_rows(self, rows):
        if rows:
            self._writer.writerows(rows)
            self._pending_record_count += len(rows)
            if self._pending_record_count >= self._maxresultrows:
                self.flush(partial=True)  # as splunklib does after each record (protocol v2: only checks state)


def use_fast_record_writer(command):
    """Give a splunklib search command (protocol v2, after getinfo) the FastRecordWriterV2 (same state)."""
    writer = getattr(command, "_record_writer", None)
    if type(writer) is RecordWriterV2:
        writer.__class__ = FastRecordWriterV2
