"""Local stand-ins of the services the app talks to: splunkd's REST API and the Sekoia.io IC API."""
