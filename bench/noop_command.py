#!/usr/bin/env python
"""The baseline of the sekoialookup benchmark: a splunklib streaming command that returns its input unchanged,
taking the same options. Run from the staged app's lib/ like the real command."""
import os
import sys

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from splunklib.searchcommands import Configuration, Option, StreamingCommand, dispatch  # noqa: E402


@Configuration(distributed=False)
class NoopCommand(StreamingCommand):
    field = Option(require=False)
    mode = Option(require=False)
    ttl = Option(require=False)

    def stream(self, records):
        yield from records


if __name__ == "__main__":
    dispatch(NoopCommand, sys.argv, module_name="__main__")
