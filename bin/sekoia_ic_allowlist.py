#!/usr/bin/env python
"""REST endpoint sekoia_ic/allowlist (restmap.conf [script:sekoia_ic_allowlist], web.conf
[expose:sekoia_ic_allowlist]): the Allowlist page's list, add and remove. The logic lives in
lib/sekoia_ic/endpoints/sekoia_ic_allowlist.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.endpoints.sekoia_ic_allowlist import AllowlistHandler  # noqa: E402,F401

__all__ = ["AllowlistHandler"]
