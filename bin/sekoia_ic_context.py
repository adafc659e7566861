#!/usr/bin/env python
"""REST endpoint sekoia_ic/context (restmap.conf [script:sekoia_ic_context]): IC context for sekoialookup.
The logic lives in lib/sekoia_ic/endpoints/sekoia_ic_context.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.endpoints.sekoia_ic_context import ContextHandler  # noqa: E402,F401

__all__ = ["ContextHandler"]
