"""splunk.clilib as cim_actions imports it (see the package docstring)."""
