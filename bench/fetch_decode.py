#!/usr/bin/env python
"""The ceiling of the feed sync benchmark: the same feed pages fetched and JSON-decoded with the app's client under
its own rate limit (5 requests/s), nothing else: no pattern parsed, no row built, no KV store write. A sync can
at best match it. Usage: fetch_decode.py <base_url> <api_key> <page_size>"""
import os
import sys

sys.path.insert(0, os.environ["SEKOIA_IC_LIB"])

from sekoia_ic.ic.client import ICClient  # noqa: E402


def main(base_url, api_key, page_size):
    objects = 0
    cursor = None
    with ICClient(api_key, base_url=base_url) as client:
        while True:
            page = client.feed_page(cursor=cursor, limit=page_size, include_revoked=cursor is not None)
            objects += len(page["items"])
            cursor = page.get("next_cursor") or cursor
            if len(page["items"]) < page_size:
                break
    print(objects)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
