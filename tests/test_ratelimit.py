"""The in-process RateLimiter (used outside Splunk, where no SPLUNK_HOME holds the host's shared state): spacing,
and a deadline it cannot meet said to be a rate limit only while a 429's Retry-After is what stands in the way."""
import pytest

from sekoia_ic.ic.ratelimit import BudgetExceeded, RateLimiter


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def limiter(clock):
    return RateLimiter(rate_per_second=5, clock=clock, sleep=clock.sleep)


def test_requests_are_spaced_by_the_rate():
    clock = Clock()
    rate = limiter(clock)
    starts = []
    for _ in range(4):
        rate.acquire()
        starts.append(clock.now)
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:])] == [0.22, 0.22, 0.22]  # 1/5 s and the 10 % arrival margin


def test_a_deadline_inside_a_hold_is_a_rate_limit():
    clock = Clock()
    rate = limiter(clock)
    rate.hold(30)
    with pytest.raises(BudgetExceeded) as raised:
        rate.acquire(deadline=clock.now + 5)
    assert raised.value.rate_limited


def test_after_the_hold_a_missed_deadline_is_no_longer_a_rate_limit():
    clock = Clock()
    rate = limiter(clock)
    rate.hold(1)
    clock.now += 2  # the Retry-After is over
    rate.acquire()
    with pytest.raises(BudgetExceeded) as raised:  # the next slot is 0.22 s away: ordinary spacing
        rate.acquire(deadline=clock.now + 0.1)
    assert not raised.value.rate_limited


class LateClock(Clock):
    """A sleeper that wakes up `late` seconds after it asked the first time (a loaded machine)."""

    def __init__(self, late):
        super().__init__()
        self.late = late

    def sleep(self, seconds):
        self.now += seconds + self.late
        self.late = 0.0


def test_a_late_departure_pushes_the_next_one_back():
    # The firewall counts arrivals: a request that leaves late must not bring the next one closer to it.
    clock = LateClock(late=0.1)
    rate = limiter(clock)
    departures = []
    for _ in range(3):
        rate.acquire()
        departures.append(clock.now)
    assert [round(b - a, 6) for a, b in zip(departures, departures[1:])] == [0.32, 0.22]


def test_the_host_budget_counts_from_real_departures(tmp_path, monkeypatch):
    import time
    from sekoia_ic.ic import ratelimit
    real_sleep, late = time.sleep, [0.1]

    def late_sleep(seconds):
        real_sleep(seconds + (late.pop() if late and seconds > ratelimit.POLL else 0.0))
    monkeypatch.setattr(ratelimit.time, "sleep", late_sleep)
    host = ratelimit.HostLimiter(str(tmp_path))
    departures = []
    for _ in range(4):
        host.acquire()
        departures.append(time.time())
        host.release()
    # Measured after acquire() returns, a departure is late by the lock's release (a millisecond on a busy
    # machine), which the interval's margin is for: the IC's own spacing must hold. Counted from the slot the
    # late-woken process missed, the gap after the 0.1 s late wake-up would be about 0.12 s.
    assert min(b - a for a, b in zip(departures, departures[1:])) >= 1 / ratelimit.RATE


def test_the_default_clock_is_the_one_deadlines_are_given_in():
    # Callers (ic/client.py, the context endpoint) give deadlines as time.time() values.
    import time
    rate = RateLimiter()
    rate.hold(30)
    with pytest.raises(BudgetExceeded) as raised:
        rate.acquire(deadline=time.time() + 1)
    assert raised.value.rate_limited
