"""A client-wide request rate limit, shared by every thread of a process.

The IC API's firewall blocks clients above 5 requests per second (docs/design.md, "Rate"), so every
request, retries included, waits here for its turn.
"""
import threading
import time


class RateLimiter:
    """Spaces requests at least 1/rate seconds apart (a leaky bucket with no burst)."""

    def __init__(self, rate_per_second=5.0, clock=time.monotonic, sleep=time.sleep):
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.interval = 1.0 / rate_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0

    def acquire(self):
        """Block until this caller may send one request."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
