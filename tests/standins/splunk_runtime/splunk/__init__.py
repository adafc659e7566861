"""A stand-in for the few modules of Splunk's own Python runtime (`$SPLUNK_HOME/lib/python3.*/site-packages/
splunk`) that splunktaucclib's cim_actions imports, so that the real bin/sekoia_ic_enrich.py runs here as Splunk
runs it. Only what cim_actions calls, with the behaviour Splunk's runtime has:
- splunk.clilib.bundle_paths.make_splunkhome_path(parts): os.path.join($SPLUNK_HOME, *parts);
- splunk.clilib.cli_common.getConfKeyValue(conf, stanza, key): the merged conf value (here: server.conf
  [general] serverName from $SPLUNK_HOME/etc/system/local/server.conf, else KeyError, which cim_actions catches);
- splunk.util.normalizeBoolean(value): "1/true/yes/t/y/on" -> True, "0/false/no/f/n/off" -> False, anything else
  unchanged; splunk.util.mktimegm(tuple) = calendar.timegm;
- splunk.rest.simpleRequest: calls splunkd; cim_actions uses it only in addjobinfo and queuework, which the
  action does not call: here it raises, so that a call would show.
Put on sys.path by the tests (tests/test_alert_action.py); never shipped."""
