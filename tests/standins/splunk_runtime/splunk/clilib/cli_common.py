"""splunk.clilib.cli_common as cim_actions uses it (see the package docstring)."""
import configparser
import os


def getConfKeyValue(conf, stanza, key):  # noqa: N802 - Splunk's name
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(os.path.join(os.environ["SPLUNK_HOME"], "etc", "system", "local", f"{conf}.conf"))
    try:
        return parser[stanza][key]
    except KeyError:
        raise KeyError(f"{conf}.conf [{stanza}] {key}") from None
