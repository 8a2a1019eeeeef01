"""Deadlines of fetch tries: a watchdog thread that ends a try still running past its deadline.

Each read of a try returns within --timeout, so a server sending a byte a second would otherwise
hold a photo, and the job, for ever. A try registers a Watch; the connections it uses (urllib3's,
made watchable here: WATCHED) attach themselves to the Watch of their thread's try, and the
watchdog shuts the socket of one past its deadline, whose read then ends and fails. The
connections also say whether a request went out on a kept-alive socket (Watch.reused).
"""

import itertools
import socket
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import urllib3.connection

__all__ = ["Watch", "Deadlines", "WATCHED"]


class Watch:
    """One try's deadline, and the connection it is using."""
    __slots__ = ("deadline", "conn", "reused", "expired", "lock")

    def __init__(self, deadline: float, lock: threading.Lock):
        self.deadline, self.lock = deadline, lock
        self.conn, self.reused, self.expired = None, False, False

    def attach(self, conn, reused: bool) -> None:
        with self.lock:
            self.conn, self.reused = conn, reused
            if self.expired:
                _shut(conn)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The deadline stopped while the try waits for the job, not the server (room in the
        job's memory): the time spent in the block is added to it."""
        with self.lock:
            left, self.deadline = self.deadline - time.monotonic(), float("inf")
        try:
            yield
        finally:
            with self.lock:
                self.deadline = time.monotonic() + left


_current = threading.local()  # .watch: the Watch of this thread's try, if any


class Deadlines:
    """Ends a try that runs past its deadline: a watchdog thread shuts the socket of such a try,
    whose read then ends and fails. The thread runs while tries are under way, and ends when none
    is."""

    _count = itertools.count(1)

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.name = "fetch-deadlines-{}".format(next(self._count))
        self._tick = max(0.05, min(1.0, seconds / 4))  # precise enough, never a busy loop
        self._active: Dict[int, Watch] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, until: Optional[float] = None) -> Watch:
        """A Watch ending at UNTIL (time.monotonic()), or in self.seconds when that is sooner."""
        deadline = time.monotonic() + self.seconds
        watch = _current.watch = Watch(deadline if until is None else min(until, deadline), self._lock)
        with self._lock:
            self._active[id(watch)] = watch
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return watch

    def end(self, watch: Watch) -> None:
        _current.watch = None
        with self._lock:
            self._active.pop(id(watch), None)
            watch.conn = None

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                if not self._active:
                    self._thread = None
                    return
                for watch in self._active.values():
                    if now >= watch.deadline and not watch.expired:
                        watch.expired = True
                        _shut(watch.conn)


def _shut(conn) -> None:
    """End CONN's socket from another thread: a read blocked on it returns at once."""
    sock = getattr(conn, "sock", None)
    sock = getattr(sock, "socket", sock)  # TLS inside TLS (an https:// proxy): the outer socket
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # not SSLSocket's: it drops its state
        except OSError:
            pass


class _Watched:
    """A connection that a try's Watch can end, and that says whether it was kept alive."""

    _requests = 0  # requests sent on the current socket

    def connect(self):
        super().connect()
        self._requests = 0

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self, reused=self._requests > 0 and self.sock is not None)
        result = super().request(*args, **kwargs)  # connects first, when not connected
        self._requests += 1
        return result


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


WATCHED = {urllib3.connection.HTTPConnection: _WatchedHTTPConnection,
            urllib3.connection.HTTPSConnection: _WatchedHTTPSConnection}
