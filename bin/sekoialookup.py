#!/usr/bin/env python
"""Search command `sekoialookup`: enriches events with Sekoia.io Intelligence Center context.
The logic lives in lib/sekoia_ic/enrich/sekoialookup.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.enrich.sekoialookup import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv)
