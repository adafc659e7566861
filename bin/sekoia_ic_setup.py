#!/usr/bin/env python
"""REST endpoint sekoia_ic/setup (restmap.conf [script:sekoia_ic_setup], web.conf [expose:sekoia_ic_setup]): the
setup page's state and its one save. The logic lives in lib/sekoia_ic/endpoints/sekoia_ic_setup.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.endpoints.sekoia_ic_setup import SetupHandler  # noqa: E402,F401

__all__ = ["SetupHandler"]
