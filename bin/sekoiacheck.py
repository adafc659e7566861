#!/usr/bin/env python
"""Search command `sekoiacheck`: tests the saved Sekoia.io API key and region.
The logic lives in lib/sekoia_ic/endpoints/sekoiacheck.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.endpoints.sekoiacheck import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv)
