"""`| sekoiacheck`: a generating command that tests the saved API key and region against the IC (the setup
page's "Test connection" runs it; admins can run it from the search bar too)."""
from splunklib.searchcommands import Configuration, GeneratingCommand, dispatch

from ..splunk import logs
from .diagnosis import check_connection
from ..redaction import redact
from ..splunk.settings import app_service

LOG_NAME = "sekoiacheck"


@Configuration(distributed=False)
class SekoiaCheckCommand(GeneratingCommand):
    def generate(self):
        logs.setup(LOG_NAME)
        info = self.metadata.searchinfo
        row = {name: redact(value) for name, value in
               check_connection(app_service(info.splunkd_uri, info.session_key)).items()}
        if row["status"] != "ok":
            self.write_warning("sekoiacheck: {}", row["message"])  # str.format template: the text is an argument
        yield row


def main(argv):
    dispatch(SekoiaCheckCommand, argv, module_name="__main__")
