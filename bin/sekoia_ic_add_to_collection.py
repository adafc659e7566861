#!/usr/bin/env python
"""Custom alert action sekoia_ic_add_to_collection (alert_actions.conf): sends a search's observables to a Sekoia.io
IOC collection. The logic lives in lib/sekoia_ic/actions/sekoia_ic_add_to_collection.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.actions.sekoia_ic_add_to_collection import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv))
