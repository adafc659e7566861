"""Every use the app makes of its libraries' private names, in one place, each pinned by a contract test
(tests/test_internals.py) against the vendored versions of requirements/app.txt: an upgrade that changes one of
them fails there, not silently in a search or an input.

- splunklib 3.0.1 `SearchCommand._protocol_v2_option_parser(arg)`: splits one `name=value` argument of protocol v2;
  splunklib keeps only the last value of a repeated option, and `field=` may be given several times.
- splunklib 3.0.1 `SearchCommand._finished`: true while the chunk splunkd marked `finished` is processed (the
  last one of the search).
- taxii2-client 2.3.0 `Collection._conn.session`: the requests.Session the collection sends with, which the app
  gives its transport (rate limit, retries, proxy, TLS).
"""


class RepeatableFieldOption:
    """Mixin for a splunklib SearchCommand: `field=a field=b` accumulates to `field=a,b`."""

    REPEATABLE = "field"

    def _protocol_v2_option_parser(self, arg):
        result = super()._protocol_v2_option_parser(arg)
        if len(result) == 2 and result[0] == self.REPEATABLE:
            values = self.__dict__.setdefault("_repeated_values", [])
            values.append(result[1])
            return [self.REPEATABLE, ",".join(values)]
        return result


def is_last_chunk(command):
    """Whether the chunk a splunklib StreamingCommand is processing is the search's last."""
    return bool(getattr(command, "_finished", False))


def taxii_session(collection):
    """The requests.Session of a taxii2client.v21.Collection."""
    return collection._conn.session
