#!/usr/bin/env python
"""The export to Enterprise Security (feed/es_export.export, library code as the feed run calls it) of whatever
the lookup holds, against the splunkd stand-in. Usage: es_export_run.py <splunkd_uri> <session_key>
(SPLUNK_HOME: the lookup staging area's home). Prints JSON: rows per ES type, rows left out, seconds."""
import json
import os
import sys
import time

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from sekoia_ic.feed import es_export  # noqa: E402
from sekoia_ic.splunk.es_settings import MAX_ROWS_LIMIT, EsSettings  # noqa: E402
from sekoia_ic.splunk.settings import app_service  # noqa: E402

started = time.perf_counter()
job = es_export.export(app_service(sys.argv[1], sys.argv[2]), EsSettings(enabled=True, ipv6=True,
                                                                          max_rows=MAX_ROWS_LIMIT))
print(json.dumps({"rows": job.rows, "left_out": sum(job.skipped.values()),
                  "seconds": round(time.perf_counter() - started, 2)}))
