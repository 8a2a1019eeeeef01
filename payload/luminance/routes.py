"""How a job reaches each host: proxy, TLS and connection pool, decided once per scheme://host:port.

requests decides, from the environment, as it would for its own Session: the proxy (http_proxy,
https_proxy, all_proxy, no_proxy; else the site's squid for plain HTTP: FRONTIER_PROXY, else
OSG_SQUID_LOCATION), the proxy's user:password, the CA bundle (certifi's, or REQUESTS_CA_BUNDLE),
and the urllib3 connection pool that goes with them (its HTTPAdapter's PoolManager or
ProxyManager). A Route keeps that pool; a job keeps the routes of its MAX_HOSTS latest hosts.
A host the environment gives no usable route to (a bad host name, an unusable proxy or CA
bundle) raises RouteError: a permanent failure, which transport.py reports as a FetchError.
"""

import os
import re
import threading
import urllib.parse
from typing import Dict, Mapping, NamedTuple, Optional, Tuple

import requests
import requests.adapters
import requests.exceptions
import requests.utils
import urllib3.connectionpool

from luminance.deadlines import WATCHED

__all__ = ["Route", "Routes", "RouteError", "site_proxies", "MAX_HOSTS", "SITE_PROXY_VARIABLES"]

MAX_HOSTS = 32  # hosts whose routes and connection pools a job keeps
# The site's squid for plain HTTP, in order: the OSG convention the tutorial's job wrapper
# followed, then what OSPool workers export for HTTP downloads.
SITE_PROXY_VARIABLES = ("FRONTIER_PROXY", "OSG_SQUID_LOCATION")
_HOST = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+")  # a name (IDNA-encoded, lower case) or an IP address


class RouteError(Exception):
    """No usable route to a host: the same on every try."""


def site_proxies(environ: Mapping[str, str] = os.environ) -> Dict[str, str]:
    """{'http': proxy} from the site's squid (FRONTIER_PROXY, else OSG_SQUID_LOCATION) when no
    http_proxy or all_proxy is set; else {} (requests decides). Never for https."""
    if any(environ.get(name) for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")):
        return {}
    for name in SITE_PROXY_VARIABLES:
        # Sites may list several squids ("http://a:3128;http://b:3128"); the first is the primary.
        first = environ.get(name, "").replace(",", ";").split(";")[0].strip()
        if first and first.upper() not in ("UNAVAILABLE", "NONE"):
            return {"http": first if "://" in first else "http://" + first}
    return {}


class Route(NamedTuple):
    """How to reach one scheme://host:port, decided once per host."""
    pool: urllib3.connectionpool.HTTPConnectionPool
    origin: Optional[str]  # HTTP through a proxy: scheme://host[:port] (IDNA) starts the target


class Routes:
    """The Route of each host, made from the environment on first use; at most MAX_HOSTS kept."""

    def __init__(self, pool_size: int):
        # Thread-safe: urllib3's pools hand each thread its own kept-alive connection.
        self._adapter = requests.adapters.HTTPAdapter(pool_connections=MAX_HOSTS,
                                                      pool_maxsize=pool_size, max_retries=0)
        self._site = site_proxies()
        self._routes: Dict[Tuple[str, str, bool], Route] = {}  # oldest first
        self._lock = threading.Lock()

    def get(self, url: str, key: Tuple[str, str, bool]) -> Route:
        """KEY: (scheme, host and port, whether the site's squid may be the proxy)."""
        route = self._routes.get(key)
        if route is not None:
            return route
        with self._lock:
            route = self._routes.get(key)  # another thread may have made it meanwhile
            if route is None:
                route = self._routes[key] = self._new(url, site=key[2])
                if len(self._routes) > MAX_HOSTS:
                    # Forget the oldest host: its pool closes its idle connections once the
                    # adapter's managers drop it, so thousands of hosts do not keep a socket each.
                    del self._routes[next(iter(self._routes))]
            return route

    def forget(self, key: Tuple[str, str, bool]) -> None:
        with self._lock:
            self._routes.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._routes.clear()
            self._adapter.close()

    def _new(self, url: str, site: bool) -> Route:
        proxies = requests.utils.get_environ_proxies(url)  # http(s)_proxy, all_proxy, no_proxy
        if site and self._site and not requests.utils.should_bypass_proxies(url, None):
            proxies = dict(self._site, **proxies)
        proxy = requests.utils.select_proxy(url, proxies)
        if proxy:
            _check_proxy(url, proxy)
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if verify is not True and not os.path.exists(verify):
            raise RouteError("cannot load the CA bundle {} (REQUESTS_CA_BUNDLE)".format(verify))
        try:
            request = requests.Request("GET", url).prepare()  # the host IDNA-encoded
            host = urllib.parse.urlsplit(request.url).hostname or ""
            if not _HOST.fullmatch(host):  # a space or a control character, which http.client asserts on
                raise RouteError("bad URL: bad host name {!r}".format(host[:100]))
            pool = self._adapter.get_connection_with_tls_context(request, verify, proxies)
        except (requests.exceptions.RequestException, ValueError) as exc:  # LocationValueError too
            raise RouteError("bad URL: {}".format(_phrase(exc))) from None
        # Connections that the deadline watchdog can end (not a SOCKS or other special class).
        pool.ConnectionCls = WATCHED.get(pool.ConnectionCls, pool.ConnectionCls)
        origin = None
        if proxy and not url.lower().startswith("https:"):
            where = urllib.parse.urlsplit(request.url)
            origin = "{}://{}".format(where.scheme, where.netloc.rpartition("@")[2])
        return Route(pool, origin)


def _check_proxy(url: str, proxy: str) -> None:
    """A RouteError unless PROXY is an http:// or https:// proxy URL; never echoes its password."""
    try:
        where = urllib.parse.urlsplit(requests.utils.prepend_scheme_if_needed(proxy, "http"))
        where.port  # noqa: B018  (raises ValueError when out of range)
    except ValueError:
        raise RouteError("the proxy URL for {} (http_proxy, https_proxy, FRONTIER_PROXY or "
                         "OSG_SQUID_LOCATION) cannot be parsed".format(url)) from None
    if where.scheme.lower() not in ("http", "https") or not where.hostname:
        raise RouteError("unsupported proxy {} (an http:// or https:// proxy is needed)".format(
            requests.utils.urldefragauth(proxy)))


def _phrase(exc: BaseException) -> str:
    """EXC in one short line, for the user."""
    return (str(exc).replace("\n", " ").strip() or type(exc).__name__)[:200]
