"""The IC client against the IC API stand-in: every endpoint, every error, retries, rate limit, key hygiene."""
import logging

import pytest

from sekoia_ic.ic import errors
from sekoia_ic.ic.client import ICClient, USER_AGENT
from sekoia_ic.regions import REGIONS, base_url_for
from tests.conftest import API_KEY, ROOT
from tests.standins import stix_data
from tests.standins.conffile import read_conf


def client_for(ic, key=API_KEY, **kwargs):
    options = dict(base_url=ic.url, rate_limit=1000, backoff_factor=0.01, timeout=5)
    options.update(kwargs)
    return ICClient(key, **options)


def test_regions_table_and_override():
    assert base_url_for() == "https://api.sekoia.io"
    assert base_url_for("fra2") == "https://app.fra2.sekoia.io/api"
    assert base_url_for("USA1") == REGIONS["USA1"] == "https://app.usa1.sekoia.io/api"
    assert base_url_for("MCO1") == "https://app.mco1.sekoia.io/api"
    assert base_url_for("UAE1") == "https://app.uae1.sekoia.io/api"
    assert base_url_for("FRA1", "https://intel.example.org/api/") == "https://intel.example.org/api"
    with pytest.raises(ValueError, match="unknown region 'EU9'"):
        base_url_for("EU9")
    with pytest.raises(ValueError, match="http:// or https://"):
        base_url_for("FRA1", "ftp://x")
    with pytest.raises(ValueError, match="base_url must be an http:// or https://"):
        base_url_for("FRA1", "http://[::1")


def test_me_sends_bearer_and_user_agent(ic):
    with client_for(ic) as client:
        me = client.me()
    assert me["email"] == "analyst@example.com"
    request = ic.calls("/v1/me")[0]
    assert request["authorization"] == f"Bearer {API_KEY}"
    version = read_conf(ROOT / "default" / "app.conf")["launcher"]["version"]  # the app's version, from app.conf
    assert request["user_agent"] == USER_AGENT and f"sekoia-ic-splunk/{version} " in USER_AGENT


def test_feed_page_parameters_and_cursor(ic):
    feed = stix_data.make_feed(5)
    ic.publish_all(feed)
    with client_for(ic) as client:
        first = client.feed_page(limit=3, types=("indicator", "malware"), skip_expired=True, include_revoked=False)
        second = client.feed_page(cursor=first["next_cursor"], limit=3, include_revoked=True)
        third = client.feed_page(cursor=second["next_cursor"], limit=3)
    assert [o["id"] for o in first["items"] + second["items"]] == [g.indicator["id"] for g in feed]
    assert third == {"items": [], "next_cursor": None}
    params = ic.calls("/objects")[0]["params"]
    assert params == {"limit": "3", "match[type]": "indicator,malware", "skip_expired": "true",
                      "include_revoked": "false"}
    assert ic.calls("/objects")[1]["params"]["cursor"] == first["next_cursor"]
    with client_for(ic) as client, pytest.raises(ValueError, match="between 1 and 2000"):
        client.feed_page(limit=2001)


def test_context_endpoints(ic):
    generated = stix_data.make_indicator(stix_data.shape_ipv4, 1)
    ic.publish(generated)
    value = generated.observables[0].value
    relationship = next(o for o in generated.related if o["type"] == "relationship")
    with client_for(ic) as client:
        context = client.indicator_context("ipv4-addr", value)
        unknown = client.indicator_context("ipv4-addr", "192.0.2.200")
        bundle = client.object_context(generated.indicator["id"])
        obj = client.get_object(generated.indicator["id"])
        rel = client.get_relationship(relationship["id"])
    assert context["items"][0]["objects"][0]["id"] == generated.indicator["id"]
    assert unknown == {"has_more": False, "items": []}
    assert {o["type"] for o in bundle["objects"]} >= {"indicator", "relationship", "malware", "marking-definition"}
    assert obj["pattern"] == generated.indicator["pattern"]
    assert rel["relationship_type"] == "indicates"
    with client_for(ic) as client, pytest.raises(ValueError, match="invalid identifier"):
        client.get_object("../v1/me")


@pytest.mark.parametrize("status, error, words", [
    (401, errors.AuthenticationError, "wrong, expired or revoked"),
    (403, errors.PermissionDeniedError, "lacks a permission"),
    (404, errors.NotFoundError, "HTTP 404"),
    (400, errors.APIError, "HTTP 400"),
])
def test_error_statuses_become_typed_errors(ic, status, error, words):
    ic.fail(status, times=1)
    with client_for(ic) as client, pytest.raises(error, match=words) as caught:
        client.me()
    assert caught.value.status == status
    assert len(ic.calls()) == 1  # 4xx other than 429 is never retried


def test_real_401_and_403_from_keys(ic):
    with client_for(ic, key="expired-key") as client, pytest.raises(errors.AuthenticationError):
        client.feed_page()
    with client_for(ic, key="no-intel-key") as client:
        assert client.me()["email"]
        with pytest.raises(errors.PermissionDeniedError, match="v2/inthreat/collections"):
            client.feed_page()


def test_unknown_feed_is_404(ic):
    with client_for(ic) as client, pytest.raises(errors.NotFoundError, match="collections/nope/objects"):
        client.feed_page(feed_id="nope")


def test_5xx_is_retried_then_succeeds(ic):
    ic.fail(503, times=2)
    with client_for(ic) as client:
        assert client.me()["email"]
    assert [r["status"] for r in ic.calls()] == [503, 503, 200]


def test_5xx_gives_up_after_retries(ic):
    ic.fail(500, times=10)
    with client_for(ic, retries=2) as client, pytest.raises(errors.ServerError, match="HTTP 500"):
        client.me()
    assert len(ic.calls()) == 3


def test_429_honours_retry_after(ic):
    ic.fail(429, times=1, retry_after=1)
    with client_for(ic) as client:
        assert client.me()["email"]
    first, second = ic.calls()
    assert first["status"] == 429 and second["status"] == 200
    assert second["time"] - first["time"] >= 0.95


def test_429_with_too_long_retry_after_is_returned_at_once(ic):
    ic.fail(429, times=1, retry_after=3600)
    with client_for(ic, max_retry_after=5) as client, pytest.raises(errors.RateLimitedError) as caught:
        client.me()
    assert caught.value.retry_after == 3600
    assert "3600" in str(caught.value)
    assert len(ic.calls()) == 1


def test_429_without_retry_after_backs_off_then_gives_up(ic):
    ic.fail(429, times=10)
    with client_for(ic, retries=1) as client, pytest.raises(errors.RateLimitedError) as caught:
        client.me()
    assert caught.value.retry_after is None
    assert len(ic.calls()) == 2


def test_default_backoff_keeps_errors_under_the_firewall_threshold(ic):
    """The API blocks clients with more than 2 error answers in 10 s: default retries must space them."""
    from sekoia_ic.ic.client import _CappedRetry
    retry = _CappedRetry(total=3, backoff_factor=5.0, backoff_max=120)
    waits = []
    for _ in range(3):
        retry = retry.increment(method="GET", url="/", error=ConnectionError())
        waits.append(retry.get_backoff_time())
    assert waits == [5.0, 10.0, 20.0]


def test_truncated_and_non_json_bodies(ic):
    ic.truncate(times=1)
    with client_for(ic) as client, pytest.raises(errors.InvalidResponseError, match="not valid JSON"):
        client.me()
    ic.malformed(times=1, path="/objects")
    with client_for(ic) as client, pytest.raises(errors.InvalidResponseError, match="no 'items' list"):
        client.feed_page()
    ic.fail(200, times=1, body=b"<html>proxy login</html>")
    with client_for(ic) as client, pytest.raises(errors.InvalidResponseError, match="proxy login"):
        client.me()


def test_timeout(ic):
    ic.latency = 1.0
    with client_for(ic, timeout=0.2, retries=0) as client, pytest.raises(errors.APITimeoutError, match="in time"):
        client.me()


def test_unreachable_and_bad_proxy():
    import socket
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ICClient(API_KEY, base_url=f"http://127.0.0.1:{port}", retries=0) as client:
        with pytest.raises(errors.APIConnectionError, match="Cannot connect"):
            client.me()
    with ICClient(API_KEY, base_url="http://127.0.0.1:9", proxy_url=f"http://127.0.0.1:{port}", retries=0) as client:
        with pytest.raises(errors.APIConnectionError, match="proxy"):
            client.me()


def test_tls_failure_is_explained(ic):
    # The stand-in speaks plain HTTP: a TLS handshake against it fails like a TLS-inspecting proxy would.
    https_url = ic.url.replace("http://", "https://")
    with ICClient(API_KEY, base_url=https_url, retries=0, timeout=2) as client:
        with pytest.raises(errors.APIConnectionError) as caught:
            client.me()
    assert "TLS" in str(caught.value) or "Cannot connect" in str(caught.value)


def test_rate_limit_spaces_requests(ic):
    with client_for(ic, rate_limit=5) as client:
        for _ in range(6):
            client.me()
    times = [r["time"] for r in ic.calls()]
    assert times[-1] - times[0] >= 5 * 0.2 * 0.95
    assert all(b - a >= 0.15 for a, b in zip(times, times[1:]))


def test_api_key_never_leaks(ic, caplog):
    secret = "sUp3r-s3cret-key"
    ic.api_keys[secret] = {"intel"}
    caplog.set_level(logging.DEBUG)
    client = client_for(ic, key=secret)
    assert secret not in repr(client)
    seen = [repr(client)]
    for status in (401, 403, 404, 429, 500):
        ic.fail(status, times=5)
        with pytest.raises(errors.SekoiaError) as caught:
            client.me()
        seen += [str(caught.value), repr(caught.value)]
        ic.faults.clear()
    assert not any(secret in text for text in seen)
    assert secret not in caplog.text
    for bad in ("", "   ", "key with spaces", "key\nnewline"):
        with pytest.raises(errors.ConfigurationError) as caught:
            ICClient(bad, base_url=ic.url)
        assert bad.strip() == "" or bad not in str(caught.value)
