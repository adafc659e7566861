#!/usr/bin/env python
"""A splunklib streaming command that returns its input and adds fields of every kind the writer encodes (string,
list, number, missing), with splunklib's stock record writer, or with the app's FastRecordWriterV2 when
ECHO_FAST_WRITER=1: tests/test_record_writer.py compares the two outputs byte for byte."""
import os
import sys

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from splunklib.searchcommands import Configuration, StreamingCommand, dispatch  # noqa: E402


@Configuration(distributed=False)
class EchoCommand(StreamingCommand):
    def stream(self, records):
        if os.environ.get("ECHO_FAST_WRITER") == "1":
            from sekoia_ic.internals import use_fast_record_writer
            use_fast_record_writer(self)
        chunk = list(records)
        for n, record in enumerate(chunk):
            kind = n % 5
            if kind == 1:
                record["added"] = ["a$b", "c\nd", ""]
            elif kind == 2:
                record["added"] = 42
            elif kind == 3:
                record["added"] = "plain, \"quoted\"\r\n"
        if chunk:
            self.add_field(chunk[0], "added", chunk[0].get("added"))
        return chunk


if __name__ == "__main__":
    dispatch(EchoCommand, sys.argv, module_name="__main__")
