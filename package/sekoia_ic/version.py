"""The app version, read from the app's default/app.conf so that it is written in one place.

The library sits at <app>/lib/sekoia_ic in the package and at <repo>/package/sekoia_ic in the repo:
both are two levels below the folder that holds default/app.conf.
"""
import configparser
from pathlib import Path


def _read_version():
    conf = Path(__file__).resolve().parents[2] / "default" / "app.conf"
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(conf, encoding="utf-8")
    except configparser.Error:
        return "0.0.0"
    return parser.get("launcher", "version", fallback="0.0.0").strip() or "0.0.0"


__version__ = _read_version()
