#!/usr/bin/env python
"""REST endpoint sekoia_ic/push (restmap.conf [script:sekoia_ic_push]): adds values to a Sekoia.io IOC collection.
The logic lives in lib/sekoia_ic/endpoints/sekoia_ic_push.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.endpoints.sekoia_ic_push import PushHandler  # noqa: E402,F401

__all__ = ["PushHandler"]
