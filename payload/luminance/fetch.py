"""Fetching a photo's bytes: HTTP(S) with keep-alive, timeouts, retries and a size limit; local files.

Transient failures (connection errors, timeouts, a connection dropped mid-body, HTTP 429 and 5xx)
are retried with exponential backoff, honouring Retry-After; other HTTP errors are permanent and
not retried. `http_proxy`/`https_proxy` are honoured (requests reads them); when neither is set
and `FRONTIER_PROXY` is, it is used as the HTTP proxy, the OSG site convention the tutorial's job
wrapper followed.

requests decides how to reach each host, once per host (a Route): the proxy for it from the
environment (no_proxy included, user:password in the proxy URL) and TLS verification against its
CA bundle (certifi's, or REQUESTS_CA_BUNDLE). Each photo is then one GET with the standard
library's http.client on a kept-alive connection from the fetcher's own pool: plain HTTP, HTTP
through the proxy (the whole URL as the target), or HTTPS (directly, or through the proxy's
CONNECT tunnel). The CPU a GET costs is taken from the cores that decode: in a 2-core job,
requests' Session.get cost 2.1 ms per photo, a urllib3 call on requests' connection pool
0.5-0.8 ms, and http.client 0.3 ms (0.18 ms in a single thread).
"""

import base64
import email.utils
import http.client
import os
import platform
import random
import select
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Dict, List, NamedTuple, Optional, Tuple

import requests.certs
import requests.utils

__all__ = ["Fetcher", "FetchError", "Body", "frontier_proxies", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0
CHUNK = 256 * 1024
DRAIN_LIMIT = 64 * 1024  # bytes read to keep a connection after an error response
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOSTS = 32  # hosts whose routes and idle connections a job keeps
USER_AGENT = "photodemo-luminance/{} (python {})"


class FetchError(Exception):
    """A photo could not be fetched; `transient` says whether a later try may succeed."""

    def __init__(self, reason: str, transient: bool, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason, self.transient, self.retry_after = reason, transient, retry_after


class Body(NamedTuple):
    data: bytes
    content_type: str  # as the server said, or '' for local files


class Route(NamedTuple):
    """How to reach one scheme://host:port, decided once per host."""
    address: Tuple[str, int]  # the TCP peer: the server, or the proxy
    tls: bool  # https: TLS with the server (inside the tunnel when there is a proxy)
    tunnel: Optional[Tuple[str, int]]  # https through a proxy: CONNECT to this host and port
    absolute: bool  # http through a proxy: the request target is the whole URL
    origin: str  # scheme://host[:port], the host IDNA-encoded: the start of a whole-URL target
    proxy_headers: Dict[str, str]  # Proxy-Authorization, from the proxy URL's user:password


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
        self.connect_timeout = min(timeout, 10.0)
        self.proxies = frontier_proxies()
        self.user_agent = USER_AGENT.format(version, platform.python_version())
        # Photos are compressed already; identity keeps byte counts and limits honest.
        self._headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        self._lock = threading.Lock()
        self._routes: Dict[Tuple[str, str], Route] = {}  # oldest first
        self._idle: Dict[Tuple[str, str], List[http.client.HTTPConnection]] = {}
        self._tls: Optional[ssl.SSLContext] = None

    def get(self, url: str) -> Body:
        """The bytes at URL, after retries. Raises FetchError."""
        try:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
        except ValueError as exc:  # "Invalid IPv6 URL"
            raise FetchError("bad URL: {}".format(exc), transient=False) from None
        if scheme in ("http", "https"):
            return self._get_http(url)
        if scheme == "file":
            # The escapes are the file name's bytes (make-manifest writes a Latin-1 name as %E9),
            # so they are decoded as the file system would, never as UTF-8 with replacement.
            return self._read_file(os.fsdecode(urllib.parse.unquote_to_bytes(urllib.parse.urlsplit(url).path)))
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
        """One try: GET URL, following redirects. Raises FetchError."""
        conn = None  # the connection whose response is being read, until it is finished
        try:
            for _ in range(MAX_REDIRECTS + 1):
                key, conn, response = self._send(url)
                location = response.getheader("Location") if response.status in REDIRECTS else None
                if not location:
                    break
                self._finish(key, conn, response, drain=True)
                conn, url = None, urllib.parse.urljoin(url, location)
            else:
                raise FetchError("more than {} redirects".format(MAX_REDIRECTS), transient=False)
            status = response.status
            if status != 200:
                reason = "HTTP {} {}".format(status, response.reason or "").strip()
                transient = status == 429 or status >= 500
                retry_after = _retry_after(response.getheader("Retry-After")) if transient else None
                self._finish(key, conn, response, drain=True)
                conn = None
                raise FetchError(reason, transient, retry_after)
            declared = response.length  # None: chunked, or ends when the server closes
            if declared is not None and declared > self.max_bytes:
                raise FetchError(self._too_big(declared), transient=False)
            data = self._read_body(response, declared)
            if declared is not None and len(data) < declared:
                raise FetchError("connection dropped mid-body after {} of {} bytes".format(
                    len(data), declared), transient=True)
            self._finish(key, conn, response)  # read to the end: the connection is kept
            conn = None
            return Body(data, response.getheader("Content-Type", ""))
        except socket.timeout:
            raise FetchError("read timed out after {:g}s".format(self.timeout), transient=True) from None
        except http.client.IncompleteRead as exc:
            raise FetchError("connection dropped mid-body after {} bytes".format(len(exc.partial)),
                             transient=True) from None
        except (http.client.InvalidURL, ValueError) as exc:  # a control character, a bad host name
            raise FetchError("bad URL: {}".format(_describe(exc)), transient=False) from None
        except (http.client.HTTPException, OSError) as exc:
            raise FetchError("connection failed: {}".format(_describe(exc)), transient=True) from None
        finally:
            if conn is not None:
                conn.close()

    def _send(self, url: str):
        """(route key, connection, response) for GET URL, its body not yet read."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme.lower(), parts.netloc)
        route = self._route(url, parts, key)
        # Non-ASCII characters percent-encoded, as requests does.
        target = requests.utils.requote_uri((parts.path or "/") + ("?" + parts.query if parts.query else ""))
        headers = self._headers
        if route.absolute:
            target, headers = route.origin + target, dict(headers, **route.proxy_headers)
        conn = self._take(key)
        if conn is not None:  # kept alive: the server may close it just as the request goes out
            try:
                conn.request("GET", target, headers=headers)
                return key, conn, conn.getresponse()
            except (ConnectionError, http.client.BadStatusLine):  # RemoteDisconnected among them
                conn.close()
            except BaseException:
                conn.close()
                raise
        conn = self._connect(route)
        try:
            conn.request("GET", target, headers=headers)
            return key, conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def _route(self, url: str, parts: urllib.parse.SplitResult, key: Tuple[str, str]) -> Route:
        with self._lock:
            route = self._routes.get(key)
            if route is None:
                route = self._routes[key] = self._new_route(url, parts)
                if len(self._routes) > MAX_HOSTS:
                    # Forget the oldest host and close its idle connections, so that a manifest
                    # naming thousands of hosts does not keep a socket for each.
                    oldest = next(iter(self._routes))
                    del self._routes[oldest]
                    for conn in self._idle.pop(oldest, []):
                        conn.close()
            return route

    def _new_route(self, url: str, parts: urllib.parse.SplitResult) -> Route:
        https = parts.scheme.lower() == "https"
        try:
            host, port = parts.hostname, parts.port or (443 if https else 80)
        except ValueError as exc:  # "Port out of range 0-65535"
            raise FetchError("bad URL: {}".format(exc), transient=False) from None
        if not host:
            raise FetchError("bad URL: no host", transient=False)
        try:
            host = host.encode("idna").decode("ascii")  # bücher.example -> xn--bcher-kva.example
        except UnicodeError as exc:
            raise FetchError("bad URL: host {}: {}".format(host, exc), transient=False) from None
        origin = "{}://{}".format(parts.scheme.lower(), "[{}]".format(host) if ":" in host else host)
        if parts.port:
            origin += ":{}".format(parts.port)
        proxies = requests.utils.get_environ_proxies(url)  # http(s)_proxy, all_proxy, no_proxy
        if self.proxies and not requests.utils.should_bypass_proxies(url, None):
            proxies = dict(self.proxies, **proxies)
        proxy = requests.utils.select_proxy(url, proxies)
        if not proxy:
            return Route((host, port), https, None, False, origin, {})
        try:
            proxy = requests.utils.prepend_scheme_if_needed(proxy, "http")
            where = urllib.parse.urlsplit(proxy)
            address = (where.hostname, where.port or 80)
        except ValueError:  # neither it nor the error is echoed: the URL may hold a password
            raise FetchError("the proxy URL for {} (http_proxy, https_proxy or FRONTIER_PROXY) "
                             "cannot be parsed".format(url), transient=False) from None
        if where.scheme.lower() != "http" or not where.hostname:
            raise FetchError("unsupported proxy {} (an http:// proxy is needed)".format(
                requests.utils.urldefragauth(proxy)), transient=False)
        headers = {}
        user, password = requests.utils.get_auth_from_url(proxy)
        if user:
            token = base64.b64encode("{}:{}".format(user, password).encode("latin-1")).decode("ascii")
            headers["Proxy-Authorization"] = "Basic " + token
        if https:
            return Route(address, True, (host, port), False, origin, headers)
        return Route(address, False, None, True, origin, headers)

    def _connect(self, route: Route) -> http.client.HTTPConnection:
        """A new connection along ROUTE, connected (and tunnelled, and TLS verified)."""
        if route.tls:
            conn = http.client.HTTPSConnection(*route.address, timeout=self.connect_timeout,
                                               context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(*route.address, timeout=self.connect_timeout)
        if route.tunnel:
            conn.set_tunnel(*route.tunnel, headers=route.proxy_headers)
        try:
            conn.connect()
        except BaseException as exc:
            conn.close()
            if isinstance(exc, (OSError, http.client.HTTPException)):  # ssl's and socket's included
                raise _connect_error(exc, route.address[0], self.connect_timeout) from None
            raise
        conn.sock.settimeout(self.timeout)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                bundle = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                          or requests.certs.where())
                try:
                    if os.path.isdir(bundle):
                        self._tls = ssl.create_default_context(capath=bundle)
                    else:
                        self._tls = ssl.create_default_context(cafile=bundle)
                except (OSError, ssl.SSLError) as exc:
                    raise FetchError("cannot load the CA bundle {}: {}".format(bundle, _describe(exc)),
                                     transient=False) from None
            return self._tls

    def _take(self, key: Tuple[str, str]) -> Optional[http.client.HTTPConnection]:
        """An idle kept-alive connection for KEY's host that its server has not closed, if any."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()  # closed by the server while idle (it reads as ready: end of file)

    def _finish(self, key: Tuple[str, str], conn: http.client.HTTPConnection,
                response: http.client.HTTPResponse, drain: bool = False) -> None:
        """Done with RESPONSE: its connection goes back to the pool when the body has been read to
        the end (or, DRAIN, when the rest is short: an error page, a redirect); else it closes."""
        if drain and not response.isclosed() and response.length is not None \
                and response.length <= DRAIN_LIMIT:
            try:
                response.read()
            except (http.client.HTTPException, OSError):
                pass
        if not response.isclosed() or conn.sock is None:
            conn.close()
            return
        with self._lock:
            idle = self._idle.setdefault(key, []) if key in self._routes else None
            if idle is not None and len(idle) < self.pool_size:
                idle.append(conn)
                return
        conn.close()

    def _read_body(self, response: http.client.HTTPResponse, declared: Optional[int]) -> bytes:
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


def _connect_error(exc: BaseException, host: str, timeout: float) -> FetchError:
    """The FetchError for EXC, raised while connecting to HOST (or tunnelling, or TLS)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FetchError("TLS verification failed: {}".format(exc.verify_message or exc.reason),
                          transient=False)
    if isinstance(exc, ssl.SSLError):
        return FetchError("TLS handshake failed: {}".format(exc.reason or exc), transient=True)
    if isinstance(exc, socket.gaierror):
        return FetchError("connection failed: cannot resolve host {}".format(host), transient=True)
    if isinstance(exc, socket.timeout):
        return FetchError("connect timed out after {:g}s".format(timeout), transient=True)
    text = str(exc)
    if text.startswith("Tunnel connection failed: "):  # the proxy refused the CONNECT
        status = text.split(": ", 1)[1]
        code = int(status[:3]) if status[:3].isdigit() else 0
        return FetchError("proxy failed: {}".format(status),
                          transient=not 400 <= code < 500 or code == 429)
    return FetchError("connection failed: {}".format(_describe(exc)), transient=True)


def _readable(sock: socket.socket) -> bool:
    """Whether SOCK has something to read now: on an idle keep-alive connection, its end."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _describe(exc: BaseException) -> str:
    """EXC as a short lower-case phrase: "connection refused", "server closed the connection"."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = str(exc).replace("\n", " ").strip() or type(exc).__name__
    return text[:200]
