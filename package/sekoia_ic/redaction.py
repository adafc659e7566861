"""Masking of secrets in every text that leaves a process: log lines, KV store documents (a checkpoint's
last_error), job inspector messages, `sekoiacheck` rows (which the setup page shows).

Two nets, both applied by `redact`:
- the secrets this process knows (the API key, a proxy password) are registered when they are read, and any
  occurrence is masked, wherever it comes from;
- credentials a server echoes back in an error body (`Authorization: Bearer ...`, `"apikey": "..."`,
  `https://user:pass@host`) are masked by shape, since a gateway may quote a header this process never registered
  (an earlier key, another client's).
"""
import functools
import re

MASK = "********"
MIN_SECRET_LENGTH = 4  # shorter strings would mask ordinary words; no real key is that short

_secrets = set()


@functools.lru_cache(maxsize=None)
def _by_shape():
    """The credential shapes, compiled at the first text redacted (most processes redact nothing)."""
    return (
        # Authorization: Bearer xyz / "authorization": "Basic xyz" / Proxy-Authorization=...
        (re.compile(r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?[^\s\"',;}]+"),
         lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{MASK}"),
        # a bare "Bearer xyz" / "Basic xyz" quoted without its header name
        (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), lambda m: f"{m.group(1)} {MASK}"),
        # "api_key": "xyz", apikey=xyz, x-api-key: xyz, password=xyz
        (re.compile(r"(?i)((?:x-)?api[_-]?key|password|passwd|secret|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"),
         lambda m: f"{m.group(1)}{m.group(2)}{MASK}"),
        # credentials in a URL: scheme://user:password@host
        (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), lambda m: f"{m.group(1)}{MASK}@"),
    )


def register(secret):
    """Mask this value in everything `redact` sees from now on, in this process."""
    if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
        _secrets.add(secret)


def redact(text):
    """The text with every registered secret and every credential-shaped fragment masked."""
    if not isinstance(text, str):
        text = str(text)
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: one secret may contain another
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _by_shape():
        text = pattern.sub(replacement, text)
    return text
