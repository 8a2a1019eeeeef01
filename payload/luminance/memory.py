"""The job's memory for photos: one Budget that every photo claims its bytes from before it holds them.

A photo's Claim grows as its body arrives (by the Content-Length the server declares, else a chunk
at a time; a compressed body's decompressed bytes count), and by its decode's estimate
(metrics.decode_bytes) before it is handed to a decoder; it is given back when the photo is
measured or has failed. So bodies being downloaded, bodies waiting for a decoder and decoders
share one total, whatever the number of fetch threads; limits.photo_budget says what it is.

- A claim that could never fit (more than the whole budget) fails at once: NeverFits, that
  photo's permanent failure.
- One that does not fit now waits. Claims are served oldest photo first: a younger photo never
  takes the room an older one is waiting for.
- A photo waits for room to decode while holding its body, so photos could wait for each other
  for ever. When every claim holding bytes is waiting for more, none would give any back: the
  youngest of them is evicted (Evicted is raised in its thread), lets go of what it holds and
  starts again. The oldest photo is never evicted, so it always goes on, and each photo in turn
  becomes the oldest.

Stdlib only: the Budget knows bytes, not photos.
"""

import itertools
import threading
from typing import Callable, Dict, Optional

__all__ = ["Budget", "Claim", "NeverFits", "Evicted", "UNLIMITED"]


class NeverFits(Exception):
    """A claim for more than the whole budget: NEED bytes, of TOTAL."""

    def __init__(self, need: int, total: int):
        super().__init__("{} bytes needed, the budget is {}".format(need, total))
        self.need, self.total = need, total


class Evicted(Exception):
    """The claim was taken back so that older photos can go on: let go of what it held, start again."""


class Budget:
    """TOTAL bytes that all claims together may hold."""

    def __init__(self, total: float, trim: Optional[Callable[[], object]] = None):
        self.total = total
        # Called when bytes are given back while a claim waits for room, or while the claims
        # hold more than half the budget: hands what was freed to the system (analysis.trim_malloc).
        # The allocator keeps freed memory where it was freed, where another thread's next
        # allocation may not find it, and the job's RSS would pass the budget.
        self.trim = trim
        self.used = 0
        self.peak = 0  # the most ever held at once
        self.evictions = 0
        self._room = threading.Condition()
        self._tickets = itertools.count()
        self._holders: Dict[int, "Claim"] = {}  # by ticket: the claims holding bytes
        self._waiting: Dict[int, "Claim"] = {}  # by ticket: the claims waiting for more

    def claim(self) -> "Claim":
        """A claim for one photo, younger than every claim made before it; it holds nothing yet."""
        return Claim(self, next(self._tickets))

    def _grantable(self, claim: "Claim", nbytes: int) -> bool:
        oldest = min(self._waiting) if self._waiting else claim.ticket
        return oldest >= claim.ticket and self.used + nbytes <= self.total

    def _unstick(self) -> None:
        """When every claim holding bytes waits for more and the oldest waiting one does not fit,
        evict the youngest holder: the others keep what they hold."""
        if not self._waiting or any(ticket not in self._waiting or claim.evicted
                                    for ticket, claim in self._holders.items()):
            return  # a claim that goes on, or one evicted already, will give bytes back
        oldest = min(self._waiting)
        if self.used + self._waiting[oldest].asked <= self.total:
            return
        victims = [ticket for ticket in self._holders if ticket != oldest]
        if victims:
            victim = self._holders[max(victims)]
            victim.evicted = True
            self.evictions += 1
            self._room.notify_all()

    def _change(self, claim: "Claim", nbytes: int) -> None:
        """Add NBYTES (less than 0: give back) to CLAIM; under the lock."""
        claim.held += nbytes
        self.used += nbytes
        self.peak = max(self.peak, self.used)
        if claim.held:
            self._holders[claim.ticket] = claim
        else:
            self._holders.pop(claim.ticket, None)
        if nbytes < 0:
            if self.trim is not None and (self._waiting or self.used - nbytes > self.total / 2):
                self.trim()
            self._room.notify_all()


class Claim:
    """What one photo holds of a Budget: `held` bytes. Grows (waiting for room), shrinks, and is
    given back whole when the photo is done (release, or leaving a `with` block)."""

    def __init__(self, budget: Budget, ticket: int):
        self.budget, self.ticket = budget, ticket
        self.held = 0
        self.asked = 0  # while waiting: the bytes asked for
        self.evicted = False

    def grow(self, nbytes: int) -> None:
        """Hold NBYTES more, once there is room. Raises NeverFits when the claim could never
        hold that much, Evicted when it is to let go of what it holds."""
        self._grow(nbytes, wait=True)

    def try_grow(self, nbytes: int) -> bool:
        """Hold NBYTES more if there is room now; False if there is not (nothing held more)."""
        return self._grow(nbytes, wait=False)

    def shrink(self, nbytes: int) -> None:
        """Give back NBYTES of what the claim holds."""
        with self.budget._room:
            self.budget._change(self, -min(nbytes, self.held))

    def release(self) -> None:
        """Give back all the claim holds (after letting go of the bytes themselves): it may grow
        again, as the same photo, no younger than it was."""
        with self.budget._room:
            self.evicted = False
            if self.held:
                self.budget._change(self, -self.held)

    def _grow(self, nbytes: int, wait: bool) -> bool:
        budget = self.budget
        if nbytes <= 0:
            return True
        if self.held + nbytes > budget.total:
            raise NeverFits(self.held + nbytes, budget.total)
        with budget._room:
            if self.evicted:
                raise Evicted()
            if not budget._grantable(self, nbytes):
                if not wait:
                    return False
                self.asked = nbytes
                budget._waiting[self.ticket] = self
                try:
                    while not budget._grantable(self, nbytes):
                        budget._unstick()
                        if self.evicted:
                            raise Evicted()
                        if budget._grantable(self, nbytes):
                            break
                        budget._room.wait()
                finally:
                    del budget._waiting[self.ticket]
                    self.asked = 0
                    budget._room.notify_all()  # the next oldest may go on now
            budget._change(self, nbytes)
        return True

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


UNLIMITED = Budget(float("inf"))  # for callers that bound nothing (tests, the benchmark's ceiling)


def megabytes(nbytes: Optional[float]) -> int:
    """NBYTES in whole MiB, rounded up (how messages quote sizes)."""
    return int((nbytes or 0) + (1 << 20) - 1) >> 20
