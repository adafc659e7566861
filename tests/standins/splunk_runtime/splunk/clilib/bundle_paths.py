"""splunk.clilib.bundle_paths as cim_actions uses it (see the package docstring)."""
import os


def make_splunkhome_path(parts):
    return os.path.join(os.environ["SPLUNK_HOME"], *parts)
