#!/usr/bin/env python
"""Alert action / Adaptive Response action `sekoia_ic_enrich`: Sekoia.io Intelligence Center context for fields
of the results. The logic lives in lib/sekoia_ic.actions.sekoia_ic_enrich.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.actions.sekoia_ic_enrich import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv)
