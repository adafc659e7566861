"""splunk.rest as cim_actions imports it (see the package docstring): the action never calls it."""


def simpleRequest(*args, **kwargs):  # noqa: N802 - Splunk's name
    raise RuntimeError("splunk.rest.simpleRequest is not used by the sekoia_ic_enrich action")
