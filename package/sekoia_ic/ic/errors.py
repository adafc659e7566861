"""Typed errors of the IC client. Their messages say what happened and what to do, never the API key."""


class SekoiaError(Exception):
    """Base of every error the app raises on purpose."""

    status = None


class ConfigurationError(SekoiaError):
    """The app is not configured (no API key, bad region...): an admin must fix the setup page."""


class APIError(SekoiaError):
    """The IC API answered with an error status."""

    def __init__(self, message, status=None, url=None):
        super().__init__(message)
        self.status = status
        self.url = url


class AuthenticationError(APIError):
    """401: the API key is wrong, expired or revoked."""


class PermissionDeniedError(APIError):
    """403: the key is valid but lacks a permission the call needs."""


class NotFoundError(APIError):
    """404: no such object, feed or endpoint."""


class RateLimitedError(APIError):
    """429: too many requests; retry_after is the wait the API asked for, in seconds (None if not said)."""

    def __init__(self, message, status=429, url=None, retry_after=None):
        super().__init__(message, status=status, url=url)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the API failed on its side."""


class InvalidResponseError(APIError):
    """The API answered 2xx with a body that is not the JSON expected (truncated, HTML from a proxy...)."""


class APITimeoutError(SekoiaError):
    """The API did not answer within the configured timeout."""


class BudgetExhaustedError(SekoiaError):
    """The time the caller may wait for the API ran out before this request could be sent."""


class APIConnectionError(SekoiaError):
    """The API could not be reached: DNS, proxy, TLS or network failure."""
