"""Which member syncs the feeds: a lease in the KV store (collection sekoia_ic_lease, one row), shared by every
member of a search head cluster (docs/design.md, "One syncing member").

inputs.conf's run_only_one is "Currently not supported" (inputs.conf.spec 9.2 and 10.2.3): the input runs on
every member, or on one, or on a standalone search head; whichever runs takes the lease or leaves the sync to the
member that holds it. The KV store has no conditional write, so the lease rests on time and on reading back:

- take: read the row; if it is held (its `expires` plus the clock-skew bound not yet passed) leave. Else write
  {holder, token, fence + 1, expires = now + ttl}, wait `settle` seconds, read back: only the member whose token is
  there holds it (two members writing in the same second both read the last writer's token).
- the holder writes only before its local deadline (monotonic clock: the moment before its last write of the row,
  plus ttl minus a quarter of ttl), checked before every write; it renews before each page (read: still its
  token and fence; write a new expiry; read back), and a member that finds another token, or cannot read or write
  the row, stops before its next write with the stored cursor intact.
- another member takes the row only once `expires + max_clock_skew` has passed on its own clock: with clocks
  within max_clock_skew of each other that is after the holder's deadline, whatever the holder's clock says.
- release: at the end of a run the holder writes the row back expired (same fence), if it is still its own.

The fence (a counter raised by each take) and the holder's serverName go into each feed's checkpoint row
(`synced_by`, `fence`), so the health dashboard says who synced, and a log line says which take wrote what.
"""
import logging
import time
import uuid
from dataclasses import dataclass

LEASE_KEY = "feed_sync"
log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This member may no longer write: another member holds the lease, or the lease could not be renewed in
    time. Nothing more is written by this run; the stored cursor is where the next holder resumes."""


@dataclass(frozen=True)
class LeaseTiming:
    """sekoia_ic.conf [sync_lease]: seconds."""
    ttl: float = 120.0
    settle: float = 2.0
    max_clock_skew: float = 10.0

    @classmethod
    def from_conf(cls, values):
        """Raise ValueError with a message for the admin."""
        numbers = {}
        for name, default in (("ttl", cls.ttl), ("settle", cls.settle), ("max_clock_skew", cls.max_clock_skew)):
            text = str(values.get(name) if values.get(name) not in (None, "") else default).strip()
            try:
                numbers[name] = float(text)
            except ValueError:
                raise ValueError(f"[sync_lease] {name} = {text!r} is not a number of seconds") from None
        timing = cls(**numbers)
        if timing.settle <= 0 or timing.max_clock_skew < 0 or timing.ttl < 4 * timing.settle \
                or timing.max_clock_skew >= timing.ttl / 4:
            raise ValueError("[sync_lease] needs settle > 0, ttl >= 4 x settle and 0 <= max_clock_skew < ttl / 4")
        return timing

    @property
    def margin(self):
        """How long before the row's expiry the holder stops writing: time for a write under way to land."""
        return self.ttl / 4


@dataclass(frozen=True)
class LeaseRow:
    holder: str
    token: str
    fence: int
    expires: float

    @classmethod
    def parse(cls, row):
        """The row as written by a member, or None when it is not one (absent, corrupt, written by hand)."""
        if not isinstance(row, dict):
            return None
        holder, token, fence, expires = (row.get(k) for k in ("holder", "token", "fence", "expires"))
        if not isinstance(holder, str) or not isinstance(token, str) or isinstance(fence, bool) \
                or isinstance(expires, bool) or not isinstance(fence, (int, float)) \
                or not isinstance(expires, (int, float)) or fence < 0 or fence != int(fence):
            return None
        return cls(holder, token, int(fence), float(expires))


class Lease:
    def __init__(self, collection, member, timing=LeaseTiming(), clock=time.time, monotonic=time.monotonic,
                 sleep=time.sleep):
        self.rows = collection  # a KVCollection of sekoia_ic_lease
        self.member = member
        self.timing = timing
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        self.token = None
        self.fence = None
        self.deadline = None
        self.seen = None  # the LeaseRow read when the take found it held

    # ------------------------------------------------------------------------------------------ take
    def take(self):
        """True when this member now holds the lease. KV store errors propagate: the caller syncs nothing."""
        raw = self.rows.get(LEASE_KEY)
        now = self.clock()
        current = LeaseRow.parse(raw)
        if raw is not None and current is None:
            # Not a row a member wrote: who holds the lease is unknown. Keep every member off for a whole lease
            # time (a holder that was writing stops at its next renewal: the token is no longer its own).
            log.warning("the lease row in sekoia_ic_lease is unreadable (%s): reset; the feeds sync from the next "
                        "run after %.0f s", _shape(raw), self.timing.ttl)
            self._write(LeaseRow("", "", int(now), now + self.timing.ttl), now, reset=now)
            return False
        if current is not None and current.token and current.expires + self.timing.max_clock_skew > now:
            self.seen = current
            return False
        token = uuid.uuid4().hex
        fence = (current.fence if current else 0) + 1
        started = self.monotonic()
        self._write(LeaseRow(self.member, token, fence, now + self.timing.ttl), now, taken=now)
        self.sleep(self.timing.settle)
        back = LeaseRow.parse(self.rows.get(LEASE_KEY))
        if back is None or back.token != token:
            self.seen = back
            return False
        self.token, self.fence = token, fence
        self.deadline = started + self.timing.ttl - self.timing.margin
        return True

    # ------------------------------------------------------------------------------------------ hold
    def check(self):
        """Before every write of the holder: raise LeaseLost once the local deadline has passed."""
        if self.token is None:
            raise LeaseLost("this member does not hold the sync lease")
        if self.monotonic() >= self.deadline:
            raise LeaseLost(f"the sync lease was not renewed within {self.timing.ttl - self.timing.margin:.0f} s")

    def renew(self):
        """Before each page: extend the lease, or raise LeaseLost."""
        self.check()
        try:
            current = LeaseRow.parse(self.rows.get(LEASE_KEY))
            if current is None or current.token != self.token or current.fence != self.fence:
                raise LeaseLost(f"member {current.holder or '(none)' if current else '(unreadable row)'} holds the "
                                f"sync lease now")
            now, started = self.clock(), self.monotonic()
            self.check()
            self._write(LeaseRow(self.member, self.token, self.fence, now + self.timing.ttl), now, renewed=now)
            back = LeaseRow.parse(self.rows.get(LEASE_KEY))
        except LeaseLost:
            self.token = None
            raise
        except Exception as exc:  # noqa: BLE001 - KV store down: this member cannot know it still holds it
            self.token = None
            raise LeaseLost(f"the sync lease could not be renewed: {type(exc).__name__}: {exc}") from None
        if back is None or back.token != self.token:
            self.token = None
            raise LeaseLost("another member wrote the sync lease while it was renewed")
        self.deadline = started + self.timing.ttl - self.timing.margin

    def release(self):
        """At the end of a run: hand the lease back (expired, same fence) if it is still this member's."""
        if self.token is None:
            return
        try:
            self.check()
            current = LeaseRow.parse(self.rows.get(LEASE_KEY))
            if current is not None and current.token == self.token:
                now = self.clock()
                self._write(LeaseRow("", "", self.fence, 0.0), now, released=now, last_holder=self.member)
        except Exception as exc:  # noqa: BLE001 - it expires anyway
            log.warning("the sync lease was not released (%s): it expires by itself", type(exc).__name__)
        finally:
            self.token = None

    def _write(self, row, now, **extra):
        self.rows.put({"_key": LEASE_KEY, "holder": row.holder, "token": row.token, "fence": row.fence,
                       "expires": row.expires, "written": now, **extra})


def _shape(raw):
    return ", ".join(f"{k}={type(v).__name__}" for k, v in sorted(raw.items()) if not k.startswith("_"))[:200] \
        if isinstance(raw, dict) else type(raw).__name__


class FencedCollection:
    """A KVCollection whose writes are made only while the lease holds: lease.check() before each batch."""

    def __init__(self, collection, lease):
        self._inner = collection
        self._lease = lease

    def __getattr__(self, name):  # reads: find, get, exists, find_in, find_each, name, limits
        return getattr(self._inner, name)

    def save(self, documents):
        written = 0
        for start in range(0, len(documents), self._inner.max_batch):
            self._lease.check()
            written += self._inner.save(documents[start:start + self._inner.max_batch])
        return written

    def put(self, document):
        self._lease.check()
        return self._inner.put(document)

    def delete_in(self, field, values):
        values = sorted(set(values))
        for start in range(0, len(values), 200):
            self._lease.check()
            self._inner.delete_in(field, values[start:start + 200])

    def delete_where(self, query):
        self._lease.check()
        return self._inner.delete_where(query)
