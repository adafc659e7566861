#!/usr/bin/env python
"""A splunklib streaming command that returns its input, adds a digest of each record as it was read (names in
order, values, lists) and fields of every kind the writer encodes (string, list, number, missing). With
ECHO_FAST=1 it reads with the app's FastRecordReader and writes with its FastRecordWriterV2, else with splunklib's
stock code: tests/test_record_io.py compares the two outputs byte for byte."""
import hashlib
import os
import sys

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from splunklib.searchcommands import Configuration, StreamingCommand, dispatch  # noqa: E402

from sekoia_ic.splunk.library_internals import FastRecordReader, use_fast_record_writer  # noqa: E402

FAST = os.environ.get("ECHO_FAST") == "1"


class Echo:
    def prepare(self):
        if FAST:
            use_fast_record_writer(self)

    def stream(self, records):
        chunk = list(records)
        for n, record in enumerate(chunk):
            record["read_as"] = hashlib.sha1(repr(list(record.items())).encode()).hexdigest()
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


@Configuration(distributed=False)
class EchoCommand(Echo, StreamingCommand):
    pass


@Configuration(distributed=False)
class FastEchoCommand(Echo, FastRecordReader, StreamingCommand):
    pass


if __name__ == "__main__":
    dispatch(FastEchoCommand if FAST else EchoCommand, sys.argv, module_name="__main__")
