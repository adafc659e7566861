"""The Sekoia.io Intelligence Center app's own library (shipped as lib/sekoia_ic inside the app), cut by layer:
ic (the IC API client), stix (STIX and the match key), splunk (where the app talks to splunkd), then the
features: feed (the input: a feed page becomes lookup rows), enrich (sekoialookup: a search value is matched),
endpoints (the REST handlers and sekoiacheck). Each subpackage's docstring says what it may import
(docs/design.md, "Layout"); the top-level modules below are what every layer may use."""
APP_NAME = "sekoia_ic"

__all__ = ["APP_NAME", "__version__"]


def __getattr__(name):
    # __version__ reads default/app.conf: only for who asks (a search command does not, and saves the import)
    if name == "__version__":
        from .version import __version__
        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
