"""stix/summaries.py's shortcuts give what the general code gives: combine() returns the IC's summary as it is
when the lookup adds nothing, and an empty summary is the one shared NOT_MATCHED."""
import time
from datetime import datetime, timezone

import pytest

from sekoia_ic.stix.summaries import NOT_MATCHED, combine, live, merge, summarise_context, summary
from tests.standins import stix_data

NOW = time.time()


def answer(*generated):
    return {"has_more": False, "items": [{"type": "bundle", "id": f"bundle--{n}", "objects": [g.indicator, *g.related]}
                                         for n, g in enumerate(generated)]}


def api_summaries():
    shape, old = stix_data.shape_ipv4, datetime(2020, 1, 1, tzinfo=timezone.utc)
    live_one, second = stix_data.make_indicator(shape, 1), stix_data.make_indicator(shape, 1, variant="b", tlp="red")
    revoked = stix_data.make_indicator(shape, 1, variant="c", revoked=True)
    expired = stix_data.make_indicator(shape, 1, variant="d", now=old, valid_days=1)
    answers = [answer(live_one), answer(live_one, second), answer(live_one, revoked, expired), answer(expired),
               {"items": []}]
    return [summarise_context(a, NOW) for a in answers]


LOCAL_NOTHING = [NOT_MATCHED, {"v": 2, "matched": False, "indicators": []}, summary([], [])]


@pytest.mark.parametrize("local", LOCAL_NOTHING)
def test_combine_with_a_local_summary_holding_nothing_is_the_general_merge(local):
    for api in api_summaries():
        assert combine(local, api) == merge(local, api)


def test_an_empty_summary_is_not_matched_and_the_shared_one_is_never_changed():
    before = dict(NOT_MATCHED)
    assert summary([], []) is NOT_MATCHED and summarise_context({"items": []}, NOW) is NOT_MATCHED
    assert live(NOT_MATCHED, NOW) is NOT_MATCHED
    for api in api_summaries():
        merge(NOT_MATCHED, api)
        combine(NOT_MATCHED, api)
    assert NOT_MATCHED == before


def test_a_search_leaves_the_shared_not_matched_unchanged():
    from sekoia_ic.enrich.enricher import Enricher

    class Lookup:
        def matches(self, observables):
            return {o: [{"indicator_id": "indicator--1", "type": o.type, "value": o.value, "valid_until": NOW + 60}]
                    for o in observables if o.value.endswith(".1")}

    before = {k: (list(v) if isinstance(v, list) else v) for k, v in NOT_MATCHED.items()}
    enricher = Enricher(Lookup(), None, ["ip"], mode="local")
    records = [{"ip": f"203.0.113.{n}"} for n in range(5)] + [{"ip": ["203.0.113.1", "198.51.100.9"]}]
    enricher.enrich_chunk([dict(r) for r in records])
    enricher.expand_chunk([dict(r) for r in records])
    assert NOT_MATCHED == before and NOT_MATCHED["indicators"] == []
