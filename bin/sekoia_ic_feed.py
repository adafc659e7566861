#!/usr/bin/env python
"""Modular input `sekoia_ic_feed`: syncs a Sekoia.io IC feed into the sekoia_ic_indicators KV store lookup.
The logic lives in lib/sekoia_ic/feed/sekoia_ic_feed.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.feed.sekoia_ic_feed import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv))
