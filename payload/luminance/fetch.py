"""Fetching a photo's bytes: HTTP(S) with keep-alive, timeouts, retries, a size limit and a deadline;
objects of Pelican federations (osdf://, pelican://: pelican.py); local files.

Transient failures (connection errors, timeouts, a connection dropped mid-body, HTTP 429 and 5xx)
are retried with exponential backoff, honouring Retry-After; other failures are permanent and not
retried. `http_proxy`/`https_proxy`/`no_proxy` are honoured (requests reads them); when no
http_proxy is set, the site's squid is the HTTP proxy: FRONTIER_PROXY (the OSG convention the
tutorial's job wrapper followed), else OSG_SQUID_LOCATION (what OSPool workers export). How each
try goes over the wire is transport.py's (each host's proxy, TLS and pool: routes.py; a try's
deadline: deadlines.py); this module decides what to try and how often.
"""

import os
import platform
import random
import threading
import time
import urllib.parse
from typing import Callable, Optional, Sequence, Union

from luminance import pelican
from luminance.core import files
from luminance.core.limits import DEFAULT_DEADLINE, DEFAULT_MAX_BYTES, DEFAULT_RETRIES, DEFAULT_TIMEOUT
from luminance.core.manifest import FEDERATION_SCHEMES, sandbox_name
from luminance.memory import UNLIMITED, Claim, NeverFits
from luminance.routes import MAX_HOSTS
from luminance.transport import Body, FetchError, Head, Transport, does_not_fit, too_big

__all__ = ["Fetcher", "FetchError", "Body", "Head", "DEFAULT_MAX_BYTES",
           "DEFAULT_DEADLINE", "MAX_HOSTS"]
MAX_BACKOFF = 30.0
USER_AGENT = "photodemo-luminance/{} (python {})"


class Fetcher:
    """Fetches URLs (http, https, file, plain paths) for many threads at once."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 backoff: float = 0.5, pool_size: int = 16, version: str = "?",
                 deadline: float = DEFAULT_DEADLINE, sandbox: Optional[str] = None):
        self.timeout, self.retries, self.max_bytes = timeout, retries, max_bytes
        # Where HTCondor put the federation objects it transferred for the job (--transferred):
        # they are read there, never through the federation.
        self.sandbox = sandbox
        self.backoff, self.deadline = backoff, deadline
        self.user_agent = USER_AGENT.format(version, platform.python_version())
        self.transport = Transport(timeout, max_bytes, deadline, pool_size, self.user_agent)
        self.pelican = pelican.Pelican(self)
        self._local = threading.local()  # .claim: the Claim of the photo this thread fetches

    def _claim(self) -> Claim:
        return getattr(self._local, "claim", None) or UNLIMITED.claim()

    def close(self) -> None:
        """Close every kept-alive connection and stop the deadline watchdog."""
        self.transport.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, claim: Optional[Claim] = None) -> Body:
        """The bytes at URL, after retries, held in CLAIM (memory.py; default: unbounded), which
        every try of this thread draws on, through a federation's discovery and director too.
        Raises FetchError for any input, or memory.Evicted: the caller lets go and starts again."""
        self._local.claim = claim
        try:
            return self._get(url)
        finally:
            self._local.claim = None

    def _get(self, url: str) -> Body:
        try:
            parts = urllib.parse.urlsplit(url)
            scheme = parts.scheme.lower()
            # --deadline is the photo's whole budget: its tries, and a federation's discovery,
            # director and caches.
            until = time.monotonic() + self.deadline
            if scheme in ("http", "https"):
                return self.first([url], until=until)
            if scheme in FEDERATION_SCHEMES:
                if self.sandbox is not None:
                    return self._read_transferred(url)
                return self.pelican.get(url, until)
            if scheme == "file":
                if parts.netloc not in ("", "localhost"):
                    raise FetchError("bad URL: a file URL on another host ({})".format(parts.netloc),
                                     transient=False)
                # The escapes are the file name's bytes (make-manifest writes a Latin-1 name as
                # %E9), so they are decoded as the file system would, never as UTF-8 with U+FFFD.
                return self._read_file(os.fsdecode(urllib.parse.unquote_to_bytes(parts.path)))
            if scheme and len(scheme) > 1:  # one letter: a Windows drive
                raise FetchError("unsupported URL scheme {!r}".format(scheme), transient=False)
            return self._read_file(url)
        except ValueError as exc:  # "Invalid IPv6 URL", a NUL in a path; UnicodeError among them
            raise FetchError("bad URL: {}".format(exc), transient=False) from None

    def first(self, urls: Sequence[str], follow: bool = True, site_proxy: bool = True,
              fallback: Callable[[FetchError], bool] = lambda error: error.transient,
              until: Optional[float] = None) -> Union[Body, Head]:
        """The answer of the first of URLS that gives one (Transport.get: FOLLOW, SITE_PROXY),
        trying them in order, all by UNTIL (time.monotonic(); None: each try within --deadline).

        A failure for which FALLBACK is true (by default: a transient one) goes on to the next
        URL; when every URL has failed so, that counts one retry, after a backoff. A mirror list
        (caches, then the origin) is so tried through before any waiting. Other failures and the
        last one after all retries (or when no retry fits before UNTIL) are raised as FetchError."""
        attempt = 0
        while True:
            error: Optional[FetchError] = None
            for url in urls:
                if until is not None and time.monotonic() >= until:
                    raise self.transport.late()
                try:
                    return self.transport.get(url, follow, site_proxy, until, self._claim())
                except FetchError as exc:
                    if not fallback(exc):
                        raise
                    # Without its traceback: the frames of a failed try go now, not with the
                    # next try.
                    error = FetchError(exc.reason, exc.transient, exc.retry_after, exc.status)
            if error is None:
                raise FetchError("no URL to fetch", transient=False)
            delay = error.retry_after
            if delay is None:
                delay = min(MAX_BACKOFF, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)
            no_time = until is not None and time.monotonic() + delay >= until
            if not error.transient or attempt >= self.retries or no_time:
                if error.transient and attempt:
                    raise FetchError("{} (after {} tries)".format(error.reason, attempt + 1),
                                     transient=True, retry_after=error.retry_after,
                                     status=error.status) from None
                raise error
            time.sleep(delay)
            attempt += 1

    def _read_transferred(self, url: str) -> Body:
        """The object at URL from the file HTCondor transferred it to in the job's sandbox."""
        try:
            name = sandbox_name(url)
        except ValueError as exc:
            raise FetchError("HTCondor cannot have transferred it: {}".format(exc),
                             transient=False) from None
        path = os.path.join(self.sandbox, name)
        if not os.path.lexists(path):
            raise FetchError("not in the job's sandbox as {} (./submit --transfer-osdf has HTCondor "
                             "transfer it there)".format(name), transient=False)
        return self._read_file(path)

    def _read_file(self, path: str) -> Body:
        try:
            # The one rule for files others left (a FIFO would block, /dev/zero never end).
            with files.open_regular(path, self.max_bytes, "--max-bytes") as stream:
                size = os.fstat(stream.fileno()).st_size
                claim = self._claim()
                claim.release()
                try:
                    claim.grow(size)
                except NeverFits as exc:
                    raise FetchError(does_not_fit(exc), transient=False) from None
                data = stream.read(size)
                changed = len(data) != size or stream.read(1)
        except files.Refused as exc:
            if exc.size is not None:
                raise FetchError(too_big(exc.size, self.max_bytes), transient=False) from None
            raise FetchError("cannot read {}: {}".format(path, exc), transient=False) from None
        except OSError as exc:
            raise FetchError("cannot read {}: {}".format(path, exc.strerror or exc),
                             transient=False) from None
        if changed:  # still being written: a later try may find it whole
            raise FetchError("cannot read {}: it changed while it was read".format(path),
                             transient=True)
        return Body(data, "")
