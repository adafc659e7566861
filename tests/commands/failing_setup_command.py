#!/usr/bin/env python
"""The app's sekoialookup command whose first setup raises: a fault splunkd cannot cause (the setup's own reads
catch theirs). tests/test_sekoialookup.py checks that the first chunk then passes unchanged with one message, and
that the next chunk sets up again and is enriched."""
import os
import sys

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from splunklib.searchcommands import dispatch  # noqa: E402

from sekoia_ic.enrich.sekoialookup import SekoiaLookupCommand  # noqa: E402


class FirstSetupFails(SekoiaLookupCommand):  # its @Configuration is the parent's
    setups = 0

    def _make_enricher(self):
        FirstSetupFails.setups += 1
        if FirstSetupFails.setups == 1:
            raise RuntimeError("setup fault")
        return super()._make_enricher()


if __name__ == "__main__":
    dispatch(FirstSetupFails, sys.argv, module_name="__main__")
