"""Each fact more than one file states is defined once (package/sekoia_ic/constants.py, regions.py) and every other
copy is generated from it or checked here: changing one copy alone fails."""
import json
import re

from sekoia_ic import constants
from sekoia_ic.regions import DEFAULT_REGION, REGIONS, WEB_APPS
from tests.conftest import ROOT, STAGE_DIR
from tests.standins.conffile import read_conf

DEFAULT = ROOT / "default"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_setup_page_holds_no_rule_of_its_own():
    """Regions, levels, defaults and validation live in Python; the page gets them from the endpoint's GET."""
    assert not (STAGE_DIR / "appserver" / "static" / "sekoia_ic_rules.js").exists()
    view = (DEFAULT / "data" / "ui" / "views" / "sekoia_ic_setup.xml").read_text()
    assert "<option" not in view and 'script="sekoia_rest.js,setup.js"' in view
    setup_js = (ROOT / "appserver" / "static" / "setup.js").read_text()
    for literal in ("FRA1", "d6092c37", "sekoia_ic:api_key", "DEBUG", "600", "storage/passwords", "configs/conf-",
                    "data/inputs", "apps/local"):
        assert literal not in setup_js, literal


def test_regions_everywhere():
    assert DEFAULT_REGION in REGIONS and set(WEB_APPS) == set(REGIONS)
    macro = read_conf(DEFAULT / "macros.conf")["sekoia_ic_web_app"]["definition"]
    cases = dict(re.findall(r'region="(\w+)", "([^"]+)"', macro))
    default_app = re.search(r'true\(\), "([^"]+)"', macro).group(1)
    assert {**cases, DEFAULT_REGION: default_app} == WEB_APPS
    spec = (ROOT / "README" / "sekoia_ic.conf.spec").read_text()
    for region, url in REGIONS.items():
        assert f"{region} `{url}`" in README and f"{region} = {url}" in spec
    assert f"region = {DEFAULT_REGION}" in (DEFAULT / "sekoia_ic.conf").read_text()


def test_the_default_feed_everywhere():
    feed_id = constants.DEFAULT_FEED_ID
    # The feed the setup page offers (rules.default_feed_id) and the input's 1.x default; the shipped runner
    # stanza itself names no feed (feeds are sekoia_ic.conf [feed:<name>]).
    assert "feed_id" not in read_conf(DEFAULT / "inputs.conf")[constants.FEED_INPUT]
    assert feed_id in README and feed_id in (ROOT / "README" / "inputs.conf.spec").read_text()
    assert re.fullmatch(constants.FEED_ID_PATTERN, feed_id)


def test_collection_names_everywhere():
    collections = read_conf(DEFAULT / "collections.conf")
    transforms = read_conf(DEFAULT / "transforms.conf")
    for name in (constants.INDICATORS_COLLECTION, constants.CHECKPOINTS_COLLECTION, constants.CONTEXT_CACHE_COLLECTION):
        assert name in collections
    assert transforms[constants.INDICATORS_COLLECTION]["collection"] == constants.INDICATORS_COLLECTION
    assert transforms["sekoia_ic_ranges"]["collection"] == constants.INDICATORS_COLLECTION
    assert transforms[constants.CHECKPOINTS_COLLECTION]["collection"] == constants.CHECKPOINTS_COLLECTION
    # Each collection's fields and its lookup's fields_list name the same fields.
    for lookup, collection in ((constants.INDICATORS_COLLECTION, constants.INDICATORS_COLLECTION),
                               ("sekoia_ic_ranges", constants.INDICATORS_COLLECTION),
                               (constants.CHECKPOINTS_COLLECTION, constants.CHECKPOINTS_COLLECTION)):
        fields = {k[len("field."):] for k in collections[collection] if k.startswith("field.")}
        listed = {f.strip() for f in transforms[lookup]["fields_list"].split(",")} - {"_key"}
        assert listed == fields, lookup


def test_one_no_key_message_and_one_boolean_vocabulary():
    package = ROOT / "package" / "sekoia_ic"
    sources = {p.relative_to(package).as_posix(): p.read_text() for p in package.rglob("*.py")}
    assert [n for n, text in sources.items() if "No Sekoia.io API key is configured" in text] == ["constants.py"]
    assert [n for n, text in sources.items() if '"yes", "on"' in text] == ["constants.py"]
    assert [n for n, text in sources.items() if "d6092c37-d8d7-45c3-8aff-c4dc26030608" in text] == ["constants.py"]


def test_design_notes_live_in_the_repository():
    for path in list((ROOT / "package").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")) + \
            list((ROOT / "default").rglob("*")) + [ROOT / "README.md"]:
        if path.is_file() and path.name != "test_shared_facts.py":
            assert "DESIGN.md" not in path.read_text(encoding="utf-8", errors="replace"), path
    notes = (ROOT / "docs" / "design.md").read_text()
    for section in ("## The IC API", "## Rate", "## The lookup", "## Security model", "## Search command protocol"):
        assert section in notes
