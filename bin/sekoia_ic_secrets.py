#!/usr/bin/env python
"""REST endpoint sekoia_ic/secrets (restmap.conf [script:sekoia_ic_secrets]): the setup page's writes of the API
key and the proxy password. The logic lives in lib/sekoia_ic/endpoints/sekoia_ic_secrets.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from sekoia_ic.endpoints.sekoia_ic_secrets import SecretsHandler  # noqa: E402,F401

__all__ = ["SecretsHandler"]
