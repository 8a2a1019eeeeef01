"""Fetching a photo's bytes: HTTP(S) with keep-alive, timeouts, retries and a size limit; local files.

Transient failures (connection errors, timeouts, a connection dropped mid-body, HTTP 429 and 5xx)
are retried with exponential backoff, honouring Retry-After; other HTTP errors are permanent and
not retried. `http_proxy`/`https_proxy` are honoured (requests reads them); when neither is set
and `FRONTIER_PROXY` is, it is used as the HTTP proxy, the OSG site convention the tutorial's job
wrapper followed.

requests decides how to reach each host, once per host: the proxy for it from the environment
(no_proxy included), TLS verification against its CA bundle (or REQUESTS_CA_BUNDLE), and the
keep-alive connection pool (its HTTPAdapter's, a urllib3 pool). Each photo is then one call on
that pool: requests' per-request machinery (a Session's settings merge, cookies, hooks, a
Response object) cost 0.5 ms of CPU per photo, 4% of a 2-core job's throughput.
"""

import email.utils
import os
import random
import re
import threading
import time
import urllib.parse
import urllib.request
from typing import Dict, NamedTuple, Optional, Tuple

import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.exceptions

__all__ = ["Fetcher", "FetchError", "Body", "frontier_proxies", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0
CHUNK = 256 * 1024
DRAIN_LIMIT = 64 * 1024  # bytes read to keep a connection after an error response
MAX_REDIRECTS = 10
MAX_HOSTS = 32  # hosts whose connection pools a job keeps
USER_AGENT = "photodemo-luminance/{} (+requests {})"


class FetchError(Exception):
    """A photo could not be fetched; `transient` says whether a later try may succeed."""

    def __init__(self, reason: str, transient: bool, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason, self.transient, self.retry_after = reason, transient, retry_after


class Body(NamedTuple):
    data: bytes
    content_type: str  # as the server said, or '' for local files


def frontier_proxies(environ=os.environ) -> Dict[str, str]:
    """{'http': proxy} from FRONTIER_PROXY when no http_proxy is set; else {} (requests decides)."""
    if any(environ.get(name) for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")):
        return {}
    frontier = environ.get("FRONTIER_PROXY", "").strip()
    if not frontier:
        return {}
    # Sites may list several squids ("http://a:3128;http://b:3128"); the first is the primary.
    first = frontier.replace(",", ";").split(";")[0].strip()
    if "://" not in first:
        first = "http://" + first
    return {"http": first}


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER))


class Fetcher:
    """Fetches URLs (http, https, file, plain paths) for many threads at once."""

    def __init__(self, timeout: float = 30.0, retries: int = 4, max_bytes: int = DEFAULT_MAX_BYTES,
                 backoff: float = 0.5, pool_size: int = 16, version: str = "?"):
        self.timeout, self.retries, self.max_bytes = timeout, retries, max_bytes
        self.backoff, self.pool_size = backoff, pool_size
        self.proxies = frontier_proxies()
        self.user_agent = USER_AGENT.format(version, requests.__version__)
        # Photos are compressed already; identity keeps byte counts and limits honest.
        self._headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        self._timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
        # Thread-safe: urllib3's pools hand each thread its own keep-alive connection.
        self._adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=pool_size,
                                                      max_retries=0)
        self._routes: Dict[Tuple[str, str], Tuple[object, bool]] = {}
        self._routes_lock = threading.Lock()

    def _route(self, url: str) -> Tuple[object, str]:
        """(the connection pool for URL's scheme and host, made on first use from the environment;
        the request target: the path, or the whole URL through an HTTP proxy)."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme.lower(), parts.netloc)
        route = self._routes.get(key)
        if route is None:
            route = self._new_route(url, key)
        pool, proxied = route
        if proxied:
            return pool, url
        return pool, (parts.path or "/") + ("?" + parts.query if parts.query else "")

    def _new_route(self, url: str, key: Tuple[str, str]) -> Tuple[object, bool]:
        with self._routes_lock:
            if key in self._routes:  # another thread made it meanwhile
                return self._routes[key]
            if len(self._routes) >= MAX_HOSTS:
                # Forget the oldest host: its pool's idle connections close once no thread uses
                # it, so a manifest naming thousands of hosts does not run out of descriptors.
                del self._routes[next(iter(self._routes))]
            proxies = requests.utils.get_environ_proxies(url)  # http(s)_proxy, all_proxy, no_proxy
            if self.proxies and not requests.utils.should_bypass_proxies(url, None):
                proxies = dict(self.proxies, **proxies)
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            request = requests.Request("GET", url).prepare()
            pool = self._adapter.get_connection_with_tls_context(request, verify, proxies)
            proxied = bool(requests.utils.select_proxy(url, proxies)) and key[0] != "https"
            route = self._routes[key] = (pool, proxied)
            return route

    def get(self, url: str) -> Body:
        """The bytes at URL, after retries. Raises FetchError."""
        try:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
        except ValueError as exc:  # "Invalid IPv6 URL", a bad port
            raise FetchError("bad URL: {}".format(exc), transient=False) from None
        if scheme in ("http", "https"):
            return self._get_http(url)
        if scheme == "file":
            return self._read_file(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if scheme and len(scheme) > 1:
            raise FetchError("unsupported URL scheme {!r}".format(scheme), transient=False)
        return self._read_file(url)

    def _read_file(self, path: str) -> Body:
        try:
            size = os.path.getsize(path)
            if size > self.max_bytes:
                raise FetchError(self._too_big(size), transient=False)
            with open(path, "rb") as stream:
                return Body(stream.read(self.max_bytes + 1), "")
        except OSError as exc:
            raise FetchError("cannot read {}: {}".format(path, exc.strerror or exc),
                             transient=False) from None

    def _get_http(self, url: str) -> Body:
        attempt = 0
        while True:
            try:
                return self._try_http(url)
            except FetchError as exc:
                if not exc.transient or attempt >= self.retries:
                    if exc.transient and self.retries:
                        exc.reason += " (after {} tries)".format(attempt + 1)
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = min(MAX_BACKOFF, self.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)
                time.sleep(delay)
                attempt += 1

    def _try_http(self, url: str) -> Body:
        response = None
        try:
            response = self._open(url)
            status = response.status
            if status != 200:
                reason = "HTTP {} {}".format(status, response.reason or "").strip()
                if status == 429 or status >= 500:
                    raise FetchError(reason, transient=True,
                                     retry_after=_retry_after(response.headers.get("Retry-After")))
                raise FetchError(reason, transient=False)
            declared = response.headers.get("Content-Length", "")
            declared = int(declared) if declared.isdigit() else None
            if declared is not None and declared > self.max_bytes:
                raise FetchError(self._too_big(declared), transient=False)
            if response.headers.get("Content-Encoding", "identity") != "identity":
                declared = None  # the declared length is the encoded one; read to the end
            data = self._read_body(response, declared)
            if declared is not None and len(data) < declared:
                raise FetchError("connection dropped mid-body after {} of {} bytes".format(
                    len(data), declared), transient=True)
            response.release_conn()  # read to the end: the connection goes back to the pool
            return Body(data, response.headers.get("Content-Type", ""))
        except FetchError as exc:
            _discard(response, healthy=response is not None and response.status != 200)
            raise
        except urllib3.exceptions.SSLError as exc:
            raise FetchError("TLS verification failed: {}".format(_short(exc)), transient=False) from None
        except urllib3.exceptions.NewConnectionError as exc:  # before its base, ConnectTimeoutError
            raise FetchError("connection failed: {}".format(_short(exc)), transient=True) from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise FetchError("connect timed out after {:g}s".format(min(self.timeout, 10.0)),
                             transient=True) from None
        except urllib3.exceptions.ReadTimeoutError:
            _discard(response)
            raise FetchError("read timed out after {:g}s".format(self.timeout), transient=True) from None
        except urllib3.exceptions.ProxyError as exc:
            raise FetchError("proxy failed: {}".format(_short(exc)), transient=True) from None
        except urllib3.exceptions.ProtocolError as exc:
            received = _discard(response)
            if received:
                raise FetchError("connection dropped mid-body after {} bytes: {}".format(
                    received, _short(exc)), transient=True) from None
            raise FetchError("connection failed: {}".format(_short(exc)), transient=True) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.LocationValueError,
                ValueError) as exc:
            raise FetchError("bad URL: {}".format(_short(exc)), transient=False) from None
        except urllib3.exceptions.HTTPError as exc:
            _discard(response)
            raise FetchError("request failed: {}".format(_short(exc)), transient=True) from None

    def _open(self, url: str):
        """The response to GET URL, its body not yet read, after following redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            pool, target = self._route(url)
            response = pool.urlopen("GET", target, headers=self._headers, redirect=False,
                                    assert_same_host=False, preload_content=False, retries=False,
                                    timeout=self._timeout)
            location = response.get_redirect_location()
            if not location:
                return response
            _discard(response, healthy=True)
            url = urllib.parse.urljoin(url, location)
        raise FetchError("more than {} redirects".format(MAX_REDIRECTS), transient=False)

    def _read_body(self, response, declared: Optional[int]) -> bytes:
        """The body in as few reads as it takes: one when its length is declared."""
        if declared is not None:
            return response.read(declared)
        data = bytearray()
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > self.max_bytes:
                raise FetchError(self._too_big(len(data), at_least=True), transient=False)

    def _too_big(self, size: int, at_least: bool = False) -> str:
        return "body of {}{:.1f} MB is over the limit of {:.1f} MB (--max-bytes)".format(
            "over " if at_least else "", size / 1e6, self.max_bytes / 1e6)


def _discard(response, healthy: bool = False) -> int:
    """Give up on RESPONSE: drain the short body of a HEALTHY one (an error status, a redirect) so
    that its keep-alive connection is reused; close anything else. Returns how many body bytes
    had arrived."""
    if response is None:
        return 0
    received = response.tell()
    declared = response.headers.get("Content-Length", "")
    try:
        if healthy and declared.isdigit() and int(declared) - received <= DRAIN_LIMIT:
            response.drain_conn()
        else:
            response.close()
        response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError):
        response.close()
    return received


_KNOWN = ((re.compile(r"Failed to resolve '([^']+)'"), "cannot resolve host {}"),
          (re.compile(r"\[Errno 111\] Connection refused"), "connection refused"),
          (re.compile(r"Connection aborted.*RemoteDisconnected"), "server closed the connection"),
          (re.compile(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)"),
           "{} bytes read, {} more expected"),
          (re.compile(r"Connection reset by peer"), "connection reset by peer"))


def _short(exc: BaseException) -> str:
    """The innermost useful part of a requests/urllib3 error message, on one line."""
    text = str(exc).replace("\n", " ")
    for pattern, message in _KNOWN:
        match = pattern.search(text)
        if match:
            return message.format(*match.groups())
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = text.strip("()'\" ")
    return text[:200]
