"""The Sekoia.io Intelligence Center app's own library (shipped as lib/sekoia_ic inside the app)."""
from .version import __version__

APP_NAME = "sekoia_ic"

__all__ = ["APP_NAME", "__version__"]
