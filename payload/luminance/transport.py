"""One HTTP(S) try on urllib3: a GET on its host's route, its redirects, its body, errors as FetchError.

How each scheme://host:port is reached (proxy, TLS, connection pool) is decided once per host, by
requests, in routes.py; each photo is then one urllib3 request on that kept-alive pool, its body
read in one call, within the try's deadline (deadlines.py): requests' own per-request machinery
(a Session's settings merge, cookies, hooks, a Response object) costs several times the CPU of the
GET, taken from the cores that decode.

Every error of urllib3, http.client, ssl and socket (and a URL that cannot be sent) becomes a
FetchError here, at the boundary: `transient` says whether a later try may succeed.
"""

import http.client
import socket
import ssl
import sys
import urllib.parse
import zlib
from typing import List, Mapping, NamedTuple, Optional, Union

import requests.utils
import urllib3
import urllib3.exceptions
import urllib3.util

from luminance.deadlines import Deadlines, Watch
from luminance.memory import UNLIMITED, Claim, Evicted, NeverFits, megabytes
from luminance.routes import RouteError, Routes

__all__ = ["FetchError", "Body", "Head", "Transport", "too_big", "does_not_fit", "redirect_target"]

CHUNK = 256 * 1024
DRAIN_LIMIT = 64 * 1024  # bytes read to keep a connection after an error response or a redirect
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 120.0
FOLLOWED = ("http", "https")  # the only schemes a redirect may lead to
# http.client before 3.10 reads N bytes into a bytearray of N, then copies it out (bpo-41002).
_READ_COPIES = 2 if sys.version_info < (3, 10) else 1


class FetchError(Exception):
    """A photo could not be fetched; `transient` says whether a later try may succeed."""

    def __init__(self, reason: str, transient: bool, retry_after: Optional[float] = None,
                 status: Optional[int] = None):
        super().__init__(reason)
        self.reason, self.transient, self.retry_after = reason, transient, retry_after
        self.status = status  # the HTTP status that said so, if one did


class Body(NamedTuple):
    data: bytes
    content_type: str  # as the server said, or '' for local files


class Head(NamedTuple):
    """A redirect not followed (a try with follow=False): where it came from and what it said."""
    url: str
    status: int
    headers: Mapping[str, str]  # case-insensitive: Location, Link, X-Pelican-Namespace...


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most MAX_RETRY_AFTER."""
    if not value:
        return None
    try:
        return min(_RETRY.parse_retry_after(value), MAX_RETRY_AFTER)
    except (urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
        return None


_RETRY = urllib3.util.Retry(0)


class Transport:
    """One try at a URL: a GET on its host's pool, redirects followed (to http and https only) or
    handed back, the body read in one call within the deadline, every error a FetchError."""

    def __init__(self, timeout: float, max_bytes: int, deadline: float, pool_size: int,
                 user_agent: str):
        self.timeout, self.max_bytes, self.deadline = timeout, max_bytes, deadline
        self.connect_timeout = min(timeout, 10.0)
        self.routes = Routes(pool_size)
        self.deadlines = Deadlines(deadline)
        # Photos are compressed already; identity keeps byte counts and limits honest.
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self._timeout = urllib3.Timeout(connect=self.connect_timeout, read=timeout)

    def close(self) -> None:
        self.deadlines.close()
        self.routes.close()

    def get(self, url: str, follow: bool = True, site_proxy: bool = True,
            until: Optional[float] = None, claim: Optional[Claim] = None) -> Union[Body, Head]:
        """The body at URL; with FOLLOW false, a redirect's Head instead. SITE_PROXY false: never
        through the site's squid (FRONTIER_PROXY, OSG_SQUID_LOCATION). UNTIL: when the photo's
        deadline ends (time.monotonic()). Raises FetchError, or memory.Evicted from the CLAIM the
        body is held in (memory.py).

        The claim holds the body's bytes, and nothing else of its photo: an earlier try's body is
        gone. Room is claimed before the bytes are read: the declared Content-Length at once, else
        a chunk at a time, a compressed body's decompressed bytes too."""
        claim = claim or UNLIMITED.claim()
        claim.release()
        watch = self.deadlines.start(until)
        response = None
        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = self._send(url, watch, site_proxy)
                location = response.get_redirect_location()  # False unless a 3xx with Location
                if not location:
                    break
                if not follow:
                    head = Head(url, response.status, response.headers)
                    _discard(response, healthy=True)
                    response = None
                    return head
                target = redirect_target(url, location)
                _discard(response, healthy=True)
                response, url = None, target
            else:
                raise FetchError("more than {} redirects".format(MAX_REDIRECTS), transient=False)
            if response.status != 200:
                raise _status_error(response)
            body = Body(self._read(response, claim, watch), response.headers.get("Content-Type", ""))
            if watch.expired:  # the head cut short by the watchdog can look complete
                raise self.late()
            response.release_conn()  # read to the end: the connection goes back to the pool
            response = None
            return body
        except FetchError:
            claim.release()  # what was read is dropped (_read lets go of it)
            if watch.expired:
                raise self.late() from None
            _discard(response, healthy=response is not None and response.status != 200)
            response = None
            raise
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
            claim.release()
            if watch.expired:
                raise self.late() from None
            # UnicodeError and ssl's errors among them
            raise _failure(exc, self.timeout, self.connect_timeout) from None
        except Evicted:
            claim.release()
            raise
        finally:
            self.deadlines.end(watch)
            _discard(response)

    def _send(self, url: str, watch: Watch, site_proxy: bool):
        """The response to GET URL on its host's pool, its body not yet read."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme.lower(), parts.netloc, site_proxy)
        # Non-ASCII characters percent-encoded, as requests does.
        target = requests.utils.requote_uri((parts.path or "/") + ("?" + parts.query if parts.query else ""))
        retried = False
        while True:
            try:
                route = self.routes.get(url, key)
            except RouteError as exc:
                raise FetchError(str(exc), transient=False) from None
            try:
                return route.pool.urlopen(
                    "GET", route.origin + target if route.origin else target, headers=self._headers,
                    redirect=False, assert_same_host=False, retries=False, timeout=self._timeout,
                    preload_content=False, decode_content=False)
            except urllib3.exceptions.ClosedPoolError:
                if retried:
                    raise
                self.routes.forget(key)  # its pool was dropped with an older host's: make another
            except urllib3.exceptions.ProtocolError as exc:
                # A kept-alive connection that the server closed just as the request went out
                # (its idle timeout): not a failure of the server, so once more on a new one.
                stale = len(exc.args) > 1 and isinstance(exc.args[1], _HANGUPS)
                if retried or not (stale and watch.reused) or watch.expired:
                    raise
            retried = True

    def _read(self, response, claim: Claim, watch: Watch) -> bytes:
        """The whole body, within --max-bytes, each byte claimed before it is read: in one read
        when its length is declared and it is not compressed, else a chunk at a time. On any
        failure what was read is let go of before the exception leaves."""
        declared = response.length_remaining  # None: chunked, or ends when the server closes
        if declared is not None and declared > self.max_bytes:
            raise FetchError(too_big(declared, self.max_bytes), transient=False)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", ""):
            if encoding not in ("gzip", "x-gzip", "deflate"):
                raise FetchError("the server sent a body in Content-Encoding {!r}, which the job "
                                 "does not decode".format(encoding[:40]), transient=False)
            return self._decoded(response, encoding, claim, watch)
        if declared is None:
            return self._chunked(response, claim, watch)
        self._hold(claim, declared * _READ_COPIES, watch)
        data = response.read(declared, decode_content=False)
        claim.shrink(declared * _READ_COPIES - len(data))
        if len(data) < declared:
            received, data = len(data), b""  # not kept alive by the exception's traceback
            raise FetchError("connection dropped mid-body after {} of {} bytes".format(
                received, declared), transient=True)
        return data

    def _chunked(self, response, claim: Claim, watch: Watch) -> bytes:
        """A body of undeclared length, CHUNK by CHUNK."""
        chunks: List[bytes] = []
        size = 0
        try:
            while True:
                chunk = self._chunk(response, claim, watch)
                if not chunk:
                    return self._join(chunks, claim, watch)
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(too_big(size, self.max_bytes, at_least=True), transient=False)
        finally:
            chunks.clear()

    def _decoded(self, response, encoding: str, claim: Claim, watch: Watch) -> bytes:
        """The body without its Content-Encoding (asked for identity, a server may still
        compress), decompressed as it arrives, never more than --max-bytes of it: a small gzip
        body may expand a thousandfold. The compressed bytes are held a chunk at a time."""
        # 16 + MAX_WBITS: gzip; 32 + MAX_WBITS: gzip or zlib, whichever the header says.
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else 32 + zlib.MAX_WBITS)
        pieces: List[bytes] = []
        size = received = 0
        try:
            while True:
                raw = self._chunk(response, claim, watch)
                received += len(raw)
                if received > self.max_bytes:
                    raise FetchError(too_big(received, self.max_bytes, at_least=True), transient=False)
                if not raw:
                    break
                if decoder.eof:  # bytes after the end of the stream: read to the end, unused
                    claim.shrink(len(raw))
                    continue
                # The chunk stays claimed while it is decompressed, with room for the copy of its
                # unconsumed rest that each call makes, and for each piece made from it.
                self._hold(claim, len(raw), watch)
                while raw:
                    self._hold(claim, CHUNK, watch)
                    try:
                        piece = decoder.decompress(raw, CHUNK)
                    except zlib.error as exc:
                        raise FetchError("bad {} body: {}".format(encoding, exc), transient=False) from None
                    claim.shrink(CHUNK - len(piece))
                    raw = decoder.unconsumed_tail
                    pieces.append(piece)
                    size += len(piece)
                    if size > self.max_bytes:
                        raise FetchError(too_big(size, self.max_bytes, at_least=True), transient=False)
                claim.shrink(claim.held - size)  # the compressed chunk and its copies are gone
            rest = decoder.flush()
            self._hold(claim, len(rest), watch)
            pieces.append(rest)
            if size + len(rest) > self.max_bytes:
                raise FetchError(too_big(size + len(rest), self.max_bytes, at_least=True),
                                 transient=False)
            return self._join(pieces, claim, watch)
        finally:
            pieces.clear()

    def _chunk(self, response, claim: Claim, watch: Watch) -> bytes:
        """The next CHUNK of the body (b"" at its end), claimed before it is read."""
        self._hold(claim, CHUNK * _READ_COPIES, watch)
        chunk = response.read(CHUNK, decode_content=False)
        claim.shrink(CHUNK * _READ_COPIES - len(chunk))
        return chunk

    def _join(self, parts: List[bytes], claim: Claim, watch: Watch) -> bytes:
        """PARTS as one bytes object, claimed while both are held; PARTS is emptied."""
        if len(parts) <= 1:
            return parts[0] if parts else b""
        size = sum(map(len, parts))
        self._hold(claim, size, watch)
        data = b"".join(parts)
        parts.clear()
        claim.shrink(size)
        return data

    def _hold(self, claim: Claim, nbytes: int, watch: Watch) -> None:
        """NBYTES more in CLAIM: at once when there is room, else waiting for it with the try's
        deadline stopped (the server is not slow: the job is full)."""
        try:
            if not claim.try_grow(nbytes):
                with watch.paused():
                    claim.grow(nbytes)
        except NeverFits as exc:
            raise FetchError(does_not_fit(exc), transient=False) from None

    def late(self) -> FetchError:
        # Permanent: a server this slow is as slow on the next try, and a transient failure
        # would have HTCondor rerun the whole job for it, again and again.
        return FetchError("download took longer than the deadline of {:g}s (--deadline)".format(
            self.deadline), transient=False)

def _failure(exc: BaseException, timeout: float, connect_timeout: float) -> FetchError:
    """The FetchError for EXC, raised by urllib3, http.client, ssl or socket during a try."""
    errors = urllib3.exceptions
    cause = exc.args[1] if isinstance(exc, errors.ProtocolError) and len(exc.args) > 1 else exc
    if isinstance(exc, errors.SSLError):
        inner = exc.args[0] if exc.args else exc
        if isinstance(inner, ssl.SSLCertVerificationError):
            return FetchError("TLS verification failed: {}".format(
                inner.verify_message or inner.reason), transient=False)
        return FetchError("TLS failed: {}".format(_describe(inner)), transient=True)
    if isinstance(exc, errors.ProxyError):
        return _proxy_failure(exc)
    if isinstance(exc, errors.NewConnectionError):  # before its base, ConnectTimeoutError
        if isinstance(exc, errors.NameResolutionError):
            return FetchError("connection failed: cannot resolve host {}".format(
                getattr(exc.conn, "host", "?")), transient=True)
        return FetchError("connection failed: {}".format(_describe(exc.__cause__ or exc)),
                          transient=True)
    if isinstance(exc, errors.ConnectTimeoutError):
        return FetchError("connect timed out after {:g}s".format(connect_timeout), transient=True)
    if isinstance(exc, (errors.ReadTimeoutError, socket.timeout)):
        return FetchError("read timed out after {:g}s".format(timeout), transient=True)
    if isinstance(cause, http.client.IncompleteRead):  # urllib3's too
        return FetchError("connection dropped mid-body after {} bytes".format(
            cause.partial if isinstance(cause.partial, int) else len(cause.partial)), transient=True)
    if isinstance(cause, http.client.LineTooLong) or "got more than" in str(cause):
        # Too long a header line, too many headers: the same on every try.
        return FetchError("bad response: {}".format(_describe(cause)), transient=False)
    if isinstance(cause, (http.client.InvalidURL, ValueError)):  # control characters, a bad port
        return FetchError("bad URL: {}".format(_describe(cause)), transient=False)
    if isinstance(cause, errors.DecodeError):
        return FetchError("bad body: {}".format(_describe(cause)), transient=False)
    return FetchError("connection failed: {}".format(_describe(cause)), transient=True)


_HANGUPS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
            ConnectionAbortedError)


def too_big(size: int, limit: int, at_least: bool = False) -> str:
    """The reason for a body of SIZE bytes (AT_LEAST: and more) over the limit of --max-bytes."""
    return "body of {}{:.1f} MB is over the limit of {:.1f} MB (--max-bytes)".format(
        "over " if at_least else "", size / 1e6, limit / 1e6)


def does_not_fit(exc: NeverFits) -> str:
    """The reason for a body that the job's memory for photos could never hold."""
    return "body needs {} MB to be held, more than the job's memory for photos ({} MB, --memory)".format(
        megabytes(exc.need), megabytes(exc.total))


def redirect_target(url: str, location: str) -> str:
    """Where a redirect from URL to LOCATION leads: an http(s) URL, else a FetchError."""
    try:
        target = urllib.parse.urljoin(url, location)
        scheme = urllib.parse.urlsplit(target).scheme.lower()
    except ValueError:
        raise FetchError("bad redirect to {!r}".format(location[:200]), transient=False) from None
    if scheme not in FOLLOWED:
        raise FetchError("redirect to {} refused: only http and https redirects are followed".format(
            _printable(target)), transient=False)
    return target


def _status_error(response) -> FetchError:
    reason = "HTTP {} {}".format(response.status, response.reason or "").strip()
    if response.status == 429 or response.status >= 500:
        return FetchError(reason, transient=True, status=response.status,
                          retry_after=retry_after(response.headers.get("Retry-After")))
    return FetchError(reason, transient=False, status=response.status)


def _proxy_failure(exc: BaseException) -> FetchError:
    text = _describe(exc.args[1] if len(exc.args) > 1 else exc)
    if "Tunnel connection failed: " in text:  # the proxy refused the CONNECT
        status = text.split("Tunnel connection failed: ", 1)[1]
        code = int(status[:3]) if status[:3].isdigit() else 0
        return FetchError("proxy failed: {}".format(status), transient=not 400 <= code < 500 or code == 429)
    return FetchError("proxy failed: {}".format(text), transient=True)


def _discard(response, healthy: bool = False) -> None:
    """Done with RESPONSE (None: nothing to do): drain the short rest of a HEALTHY one (an error
    status, a redirect) so that its kept-alive connection is reused; close anything else."""
    if response is None:
        return
    try:
        rest = response.length_remaining
        if healthy and rest is not None and rest <= DRAIN_LIMIT:
            response.drain_conn()
        else:
            response.close()
        response.release_conn()
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError):
        response.close()


def _printable(url: str) -> str:
    """URL without its user:password, control characters escaped, at most 200 characters."""
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    text = url.encode("unicode_escape").decode("ascii") if not url.isprintable() else url
    return text[:200]


def _describe(exc: BaseException) -> str:
    """EXC as a short lower-case phrase: "connection refused", "server closed the connection"."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = str(exc).replace("\n", " ").strip() or type(exc).__name__
    return text[:200]
