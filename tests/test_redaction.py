"""redaction.redact, the one mask applied to every text that leaves a process."""
import pytest

from sekoia_ic import redaction


@pytest.mark.parametrize("text, secret", [
    ('{"headers": {"Authorization": "Bearer abcdefgh12345678"}}', "abcdefgh12345678"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("Proxy-Authorization=Bearer tok.en.value", "tok.en.value"),
    ("upstream said: bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
    ('{"api_key": "k-123456789"}', "k-123456789"),
    ("x-api-key: sk_live_0123456789", "sk_live_0123456789"),
    ("proxy http://alice:s3cr3t-pass@proxy.corp:3128 refused", "s3cr3t-pass"),
])
def test_credentials_quoted_by_a_server_are_masked_by_shape(text, secret):
    masked = redaction.redact(text)
    assert secret not in masked and redaction.MASK in masked


def test_registered_secrets_are_masked_wherever_they_appear():
    redaction.register("Zq8-registered-key-value")
    assert redaction.redact("echo Zq8-registered-key-value!") == f"echo {redaction.MASK}!"
    redaction.register("abc")  # too short to be a key: would mask ordinary words
    assert redaction.redact("abc def") == "abc def"


def test_ordinary_messages_are_left_alone():
    text = ("The Sekoia.io API refused the request (HTTP 400) on /v2/inthreat/collections/x/objects: "
            '{"message": "Invalid cursor", "token expired": true}')
    assert redaction.redact(text) == text
