"""The request budget every client of the IC API goes through (docs/design.md, "Rate").

The IC API's firewall blocks a client address that sends more than 5 requests per second, or gets more than 2
error answers in 10 seconds. Every search, the feed input and `sekoiacheck` of one Splunk server share that
address, so HostLimiter keeps the budget for all of them together: its state lives in files under
$SPLUNK_HOME/var/run/splunk/sekoia_ic/, guarded by flock (released by the OS when a process dies, even by kill -9).

- Requests are spaced (1 + ARRIVAL_MARGIN)/rate seconds apart, host-wide, counted from the moment each one was
  let go (never from a reserved time it may wake up late for). The firewall counts arrivals and the app controls
  departures: the margin absorbs the transit jitter between the two, so arrivals too stay under the rate.
- At most 2 requests are in flight at once, and fewer after an error: a request holds 1 + (error answers in the
  last 10 s) of the 2 in-flight slots, and none starts while 2 errors fall in the window. Whatever the requests
  in flight answer, the errors of any 10 s stay at most 2.
- A 429's Retry-After is kept host-wide (`hold`): no process sends before it ends.

RateLimiter is the same contract within one process, for code that runs outside Splunk (tests of the client).
"""
import json
import os
import threading
import time

try:
    import fcntl
except ImportError:  # Windows: no flock; each process keeps its own budget (RateLimiter)
    fcntl = None

RATE = 5.0
ARRIVAL_MARGIN = 0.1  # 10 % more than 1/RATE between two departures
MAX_ERRORS = 2
ERROR_WINDOW = 10.0
POLL = 0.01


class BudgetExceeded(Exception):
    """The caller's deadline passes before its turn would come; rate_limited: because of a 429's Retry-After."""

    def __init__(self, message, rate_limited=False):
        super().__init__(message)
        self.rate_limited = rate_limited


def spacing(rate_per_second):
    """Seconds between two departures for at most rate_per_second arrivals a second."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    return (1.0 + ARRIVAL_MARGIN) / rate_per_second


class RateLimiter:
    """Spaces requests spacing(rate) apart within this process (a leaky bucket with no burst)."""

    def __init__(self, rate_per_second=RATE, clock=time.time, sleep=time.sleep):
        # time.time: callers' deadlines are time.time() values, as HostLimiter's are.
        self.interval = spacing(rate_per_second)
        self._clock = clock
        self._sleep = sleep
        self._turn = threading.Lock()  # one waiter at a time: the next slot counts from a real departure
        self._lock = threading.Lock()  # the state, also for hold() while a waiter sleeps
        self._next_slot = 0.0
        self._held_until = 0.0  # the end of the last 429's Retry-After

    def acquire(self, deadline=None):
        """Block until this caller may send one request."""
        with self._turn:
            while True:
                with self._lock:
                    now = self._clock()
                    slot = max(now, self._next_slot, self._held_until)
                    if slot <= now:
                        self._next_slot = now + self.interval
                        return
                    if deadline is not None and slot > deadline:
                        raise BudgetExceeded("no request slot before the deadline",
                                             rate_limited=self._held_until > deadline)
                self._sleep(slot - now)

    def release(self, error=False):
        """The request that acquired has its answer (nothing to do within one process)."""

    def note_error(self):
        """The request in flight got an error answer that release() will not be told about."""

    def hold(self, seconds):
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + seconds)
            self._next_slot = max(self._next_slot, self._held_until)


class HostLimiter:
    """RATE requests/s and at most MAX_ERRORS error answers in any ERROR_WINDOW seconds, for every process that
    uses the same directory. acquire() and release() pair per request, in the same thread."""

    def __init__(self, directory, rate_per_second=RATE, max_errors=MAX_ERRORS, window=ERROR_WINDOW):
        os.makedirs(directory, exist_ok=True)
        self.interval = spacing(rate_per_second)
        self.max_errors = max_errors
        self.window = window
        self._state_path = os.path.join(directory, "state.json")
        self._lock_path = os.path.join(directory, "state.lock")
        self._slot_paths = [os.path.join(directory, f"inflight{n}.lock") for n in range(max_errors)]
        self._held = threading.local()
        # Threads of one process take slots one at a time: two threads each holding one of the two slots that
        # both need (after an error) would otherwise keep releasing and retrying.
        self._threads = threading.Lock()

    # ------------------------------------------------------------------------------------------ state file
    def _locked_state(self):
        return _StateFile(self._lock_path, self._state_path)

    def _recent_errors(self, state, now):
        return [t for t in state.get("errors", []) if t > now - self.window]

    # ------------------------------------------------------------------------------------------ slots
    def _take_slots(self, count):
        held = []
        for path in self._slot_paths:
            if len(held) == count:
                break
            handle = open(path, "a+")  # noqa: SIM115 - kept open while the slot is held
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(handle)
            except OSError:
                handle.close()
        if len(held) < count:
            _close_all(held)
            return None
        return held

    def acquire(self, deadline=None):
        """Block until this caller may send one request (deadline: a time.time() after which to give up)."""
        while True:
            now = time.time()
            with self._locked_state() as state:
                errors = self._recent_errors(state.data, now)
                held_until = state.data.get("held_until", 0.0)
                earliest = max(state.data.get("next_slot", 0.0), held_until, now)
            if len(errors) >= self.max_errors:
                earliest = max(earliest, min(errors) + self.window)
            if deadline is not None and earliest > deadline:
                raise BudgetExceeded("the Sekoia.io API's request budget of this server has no slot in time",
                                     rate_limited=held_until > deadline)
            if earliest > now:
                time.sleep(min(earliest - now, 0.5))
                continue
            with self._threads:
                slots = self._take_slots(1 + len(errors))
                if slots is not None:
                    with self._locked_state() as state:  # again under the lock: another process may have sent
                        now = time.time()
                        errors = self._recent_errors(state.data, now)
                        slot = max(state.data.get("next_slot", 0.0), state.data.get("held_until", 0.0), now)
                        if len(errors) < self.max_errors and len(slots) >= 1 + len(errors) and slot <= now:
                            state.data["next_slot"] = now + self.interval  # from this real departure
                            state.data["errors"] = errors
                            state.changed = True
                            self._held.slots = slots
                            return
                    _close_all(slots)
            time.sleep(POLL)

    def note_error(self):
        self._held.error = True

    def release(self, error=False):
        """The answer of the request this thread acquired for has arrived; error: it was an error status."""
        slots = getattr(self._held, "slots", None)
        self._held.slots = None
        error = error or getattr(self._held, "error", False)
        self._held.error = False
        if error:
            with self._locked_state() as state:
                now = time.time()
                state.data["errors"] = self._recent_errors(state.data, now) + [now]
                state.changed = True
        _close_all(slots or [])

    def hold(self, seconds):
        """No process sends before `seconds` from now (a 429's Retry-After)."""
        with self._locked_state() as state:
            state.data["held_until"] = max(state.data.get("held_until", 0.0), time.time() + seconds)
            state.changed = True


class _StateFile:
    """The shared state, read and written under an exclusive flock."""

    def __init__(self, lock_path, state_path):
        self.lock_path, self.state_path = lock_path, state_path
        self.data, self.changed = {}, False

    def __enter__(self):
        self._lock = open(self.lock_path, "a+")  # noqa: SIM115
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                self.data = json.load(handle)
            if not isinstance(self.data, dict):
                self.data = {}
        except (OSError, ValueError):
            self.data = {}
        return self

    def __exit__(self, *exc):
        try:
            if self.changed:
                temporary = f"{self.state_path}.{os.getpid()}.tmp"
                with open(temporary, "w", encoding="utf-8") as handle:
                    json.dump(self.data, handle)
                os.replace(temporary, self.state_path)
        finally:
            self._lock.close()  # releases the flock


def _close_all(handles):
    for handle in handles:
        handle.close()


def limiter_for_host():
    """The host-wide limiter under $SPLUNK_HOME, or a process-wide one where there is no SPLUNK_HOME (tests)."""
    home = os.environ.get("SPLUNK_HOME")
    if home and fcntl is not None:
        try:
            return HostLimiter(os.path.join(home, "var", "run", "splunk", "sekoia_ic"))
        except OSError:
            pass
    return RateLimiter()
