"""Contract tests of the private library names the app uses (package/sekoia_ic/splunk/library_internals.py),
against the versions vendored in the staged lib/: an upgrade that moves one fails here."""
import inspect
import re

import requests
import splunklib.searchcommands.search_command as search_command
from splunklib.searchcommands import StreamingCommand
from taxii2client.v21 import Collection

from sekoia_ic.splunk.library_internals import FastRecordReader, RepeatableFieldOption, is_last_chunk, taxii_session
from tests.conftest import STAGE_DIR


def vendored(name):
    return next(STAGE_DIR.joinpath("lib").glob(f"{name}-*.dist-info")).name[len(name) + 1:-len(".dist-info")]


def test_the_pinned_versions_are_the_vendored_ones():
    pins = dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)", (STAGE_DIR.parent.parent / "requirements" / "app.txt")
                           .read_text()))
    assert vendored("splunk_sdk") == pins["splunk-sdk"] == "3.0.1"
    assert vendored("taxii2_client") == pins["taxii2-client"] == "2.3.0"


def test_splunklib_protocol_v2_option_parser_splits_name_value():
    parser = search_command.SearchCommand._protocol_v2_option_parser
    assert list(inspect.signature(parser).parameters) == ["self", "arg"]

    class Command(RepeatableFieldOption, StreamingCommand):
        pass

    command = Command()
    assert command._protocol_v2_option_parser("mode=local") == ["mode", "local"]
    assert command._protocol_v2_option_parser("field=a") == ["field", "a"]
    assert command._protocol_v2_option_parser("field=b,c") == ["field", "a,b,c"]
    assert command._protocol_v2_option_parser("dest_ip") == ["dest_ip"]


def test_splunklib_sets_finished_from_each_chunk():
    # Where splunklib reads each execute chunk's metadata, it keeps `finished` in self._finished.
    source = inspect.getsource(search_command.SearchCommand)
    assert re.search(r'self\._finished = getattr\(metadata, "finished", False\)', source), \
        "splunklib no longer sets _finished from the chunk's metadata"

    class Command(StreamingCommand):
        pass

    command = Command()
    assert is_last_chunk(command) is False
    command._finished = True
    assert is_last_chunk(command) is True


def test_taxii2_client_collection_sends_with_a_requests_session():
    collection = Collection("https://taxii.example.org/api/collections/x/", user="u", password="p", verify=True)
    assert isinstance(taxii_session(collection), requests.Session)
    assert taxii_session(collection) is collection._conn.session


def test_splunklib_reads_each_chunk_through_read_csv_records_of_a_string_buffer():
    # FastRecordReader replaces _read_csv_records(ifile); protocol v2 hands it the chunk body in a StringIO
    # (seekable: the reader may look at the header and give the body back to splunklib) and decodes `__mv_`
    # cells with the static _decode_list.
    source = inspect.getsource(search_command.SearchCommand._execute_chunk_v2)
    assert "self._read_csv_records(StringIO(body))" in source, "splunklib no longer reads chunks this way"
    assert list(inspect.signature(search_command.SearchCommand._read_csv_records).parameters) == ["self", "ifile"]
    assert search_command.SearchCommand._decode_list("$a$$b$;$$;$c$") == ["a$b", "", "c"]

    class Command(FastRecordReader, StreamingCommand):
        pass

    assert Command._read_csv_records is FastRecordReader._read_csv_records


def test_splunklib_record_writer_v2_state_the_fast_writer_uses():
    # FastRecordWriterV2 writes through the writer's csv writer and keeps its counters as splunklib does.
    import io

    from splunklib.searchcommands.internals import RecordWriterV2

    from sekoia_ic.splunk.library_internals import FastRecordWriterV2, use_fast_record_writer

    writer = RecordWriterV2(io.BytesIO(), 7)
    assert writer._fieldnames is None and writer._pending_record_count == 0 and writer._maxresultrows == 7
    assert callable(writer._writer.writerows) and callable(writer._ensure_validity)
    assert list(inspect.signature(RecordWriterV2._write_record).parameters) == ["self", "record"]
    assert "self._write_record" in inspect.getsource(RecordWriterV2.write_records)

    class Command(StreamingCommand):
        pass

    command = Command()
    assert "self._record_writer = RecordWriterV2(" in inspect.getsource(search_command.SearchCommand), \
        "splunklib no longer keeps its protocol v2 writer in _record_writer"
    command._record_writer = writer  # where splunklib keeps it once protocol v2 starts
    use_fast_record_writer(command)
    assert type(command._record_writer) is FastRecordWriterV2
    command._record_writer.write_records([{"a": "1"}, {"a": "2"}])
    assert command._record_writer._pending_record_count == 2 and command._record_writer._fieldnames == ["a"]


def test_splunklib_makes_the_v2_writer_before_prepare_and_takes_write_records_before_stream():
    # So the app swaps in FastRecordWriterV2 in prepare(): swapped in stream(), the first chunk (up to 50,000
    # records) would still go through the write_records splunklib had already taken from the stock writer.
    source = inspect.getsource(search_command.SearchCommand._process_protocol_v2)
    assert source.index("self._record_writer = RecordWriterV2(") < source.index("self.prepare()")
    assert "self._record_writer.write_records(process(records))" in \
        inspect.getsource(search_command.SearchCommand._execute_chunk_v2)


def test_sekoialookup_has_the_fast_writer_from_its_first_chunk():
    import io

    from splunklib.searchcommands.internals import RecordWriterV2

    from sekoia_ic.enrich.sekoialookup import SekoiaLookupCommand
    from sekoia_ic.splunk.library_internals import FastRecordWriterV2

    command = SekoiaLookupCommand()
    command._record_writer = RecordWriterV2(io.BytesIO(), 50_000)  # as splunklib sets it before prepare()
    command.field = "dest_ip"
    command.prepare()
    assert type(command._record_writer) is FastRecordWriterV2


def test_kvstore_data_is_splunklibs_data_endpoint_of_the_collection_without_a_request(splunkd):
    from splunklib import client
    from sekoia_ic.splunk.library_internals import kvstore_data
    from sekoia_ic.splunk.settings import app_service
    from tests.conftest import SESSION_KEY
    service = app_service(splunkd.uri, SESSION_KEY)
    # a search command's own service is in the search's app: the collection stays the app's
    elsewhere = client.Service(scheme="http", host="127.0.0.1", port=service.port, token=SESSION_KEY,
                               owner="admin", app="search", autologin=False)
    for name in ("sekoia_ic_indicators", "sekoia_ic_allowlist", "sekoia_ic_context_cache"):
        before = len(splunkd.requests)
        ours, theirs = kvstore_data(service, name), kvstore_data(elsewhere, name)
        assert len(splunkd.requests) == before  # no GET of storage/collections/config/<name>
        stock = service.kvstore[name].data
        assert len(splunkd.requests) == before + 1  # the GET that kvstore_data saves

        def url(data):
            return data.service._abspath(data.path, owner=data.owner, app=data.app, sharing=data.sharing)
        expected = f"/servicesNS/nobody/sekoia_ic/storage/collections/data/{name}/"
        assert url(ours) == url(theirs) == url(stock) == expected
        ours.batch_save({"_key": "probe", "type": "domain-name", "value": "probe.example"})
        assert [row["_key"] for row in stock.query(query='{"_key": "probe"}')] == ["probe"]
        assert [row["_key"] for row in theirs.query(query='{"_key": "probe"}')] == ["probe"]
