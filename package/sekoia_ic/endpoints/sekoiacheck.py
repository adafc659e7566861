"""`| sekoiacheck [feed_id=<id>]`: a generating command that tests the saved API key and region against the IC,
reading one object of the configured feed (the sekoia_ic_feed://default input's feed_id) or of the feed given.
The setup page's "Test connection" runs it; admins can run it from the search bar too."""
from splunklib.searchcommands import Configuration, GeneratingCommand, Option, dispatch, validators

from ..constants import FEED_ID_PATTERN
from ..redaction import redact
from ..splunk import logs
from ..splunk.settings import app_service
from .diagnosis import check_connection

ENTRY = logs.EntryPoint("sekoiacheck")


@Configuration(distributed=False)
class SekoiaCheckCommand(GeneratingCommand):
    feed_id = Option(doc="The feed to read one object of (default: the configured feed input's).", require=False,
                     validate=validators.Match("feed ID", FEED_ID_PATTERN))

    def generate(self):
        ENTRY.start()
        info = self.metadata.searchinfo
        service = app_service(info.splunkd_uri, info.session_key)
        row = {name: redact(value) for name, value in check_connection(service, self.feed_id).items()}
        if row["status"] != "ok":
            self.write_warning("sekoiacheck: {}", row["message"])  # str.format template: the text is an argument
        yield row


def main(argv):
    dispatch(SekoiaCheckCommand, argv, module_name="__main__")
