"""`| sekoiacheck [feed_id=<id>]`: a generating command that tests the saved API key and region against the IC,
reading one object of the configured feed (the sekoia_ic_feed://default input's feed_id) or of the feed given.
The setup page's "Test connection" runs it; admins can run it from the search bar too.

`| sekoiacheck rows=<macro>[,...]` or `datamodel=<name>[,...]` checks the CIM data models instead
(datamodels.py): one row per data model; `sekoia_ic_problem` is its message when it is not ok, else empty. The
correlation searches append the problem rows (macro sekoia_ic_datamodel_problem), so that a data model that is
not accelerated gives one clear row, not an empty result."""
from splunklib.searchcommands import Configuration, GeneratingCommand, Option, dispatch, validators

from ..constants import FEED_ID_PATTERN
from ..redaction import redact
from ..splunk import logs
from ..splunk.settings import app_service
from .datamodels import NAMES_PATTERN, check_datamodel, check_rows
from .diagnosis import check_connection

ENTRY = logs.EntryPoint("sekoiacheck")
CHECK_TIMEOUT = 8  # seconds per splunkd call of the data model check (at most 3 calls per data model)


@Configuration(distributed=False)
class SekoiaCheckCommand(GeneratingCommand):
    feed_id = Option(doc="The feed to read one object of (default: the configured feed input's).", require=False,
                     validate=validators.Match("feed ID", FEED_ID_PATTERN))
    rows = Option(doc="Rows macros (comma-separated) whose data model to check, as their definition says now.",
                  require=False, validate=validators.Match("macro names", NAMES_PATTERN))
    datamodel = Option(doc="Data models (comma-separated) to check: visible from the app, and accelerated.",
                       require=False, validate=validators.Match("data model names", NAMES_PATTERN))

    def generate(self):
        ENTRY.start()
        info = self.metadata.searchinfo
        if self.rows or self.datamodel:
            if self.feed_id:
                self.write_warning("sekoiacheck: feed_id= is ignored with rows= or datamodel= (no connection check)")
            # Short calls: within a correlation search, this runs as a subsearch (limits.conf [subsearch] maxtime,
            # 60 s by default), and a hung splunkd must still give a row, not a finalized empty subsearch.
            service = app_service(info.splunkd_uri, info.session_key, timeout=CHECK_TIMEOUT)
            checks = [(m, "", lambda m=m: check_rows(service, m)) for m in _names(self.rows)]
            checks += [("", n, lambda n=n: check_datamodel(service, n)) for n in _names(self.datamodel)]
            for rows, name, check in checks:
                try:
                    row = check()
                except Exception as exc:  # noqa: BLE001 - a row, never a failed subsearch that hides the matches
                    row = {"datamodel": name, "rows": rows, "status": "unreadable",
                           "message": f"The data model check failed ({type(exc).__name__}): check the data model "
                                      "in Settings > Data models; details in sekoiacheck.log"}
                    ENTRY.log.exception("data model check failed")
                # Every row has the same fields (the first record's fields are the columns); "" when ok.
                row["sekoia_ic_problem"] = row["message"] if row["status"] != "ok" else ""
                if row["sekoia_ic_problem"]:
                    self.write_warning("sekoiacheck: {}", row["message"])
                yield row
            return
        service = app_service(info.splunkd_uri, info.session_key)
        row = {name: redact(value) for name, value in check_connection(service, self.feed_id).items()}
        if row["status"] != "ok":
            self.write_warning("sekoiacheck: {}", row["message"])  # str.format template: the text is an argument
        yield row


def _names(value):
    return [n for n in dict.fromkeys((value or "").split(",")) if n]


def main(argv):
    dispatch(SekoiaCheckCommand, argv, module_name="__main__")
