"""Photos in a Pelican federation (the OSDF): osdf://, stash:// and pelican:// URLs, read through its caches.

A public object is read as Pelican's own clients read it (PelicanPlatform/pelican: the Go
client's federation discovery and director request; pelicanfs: core.py, dir_header_parser.py):

1. discovery: https://FEDERATION/.well-known/pelican-configuration, a JSON document that names
   the federation's director (`director_endpoint`); asked once per job and federation. osdf://
   and stash:// (the OSDF's older name) objects are in the OSG's federation (osg-htc.org, or
   $PHOTODEMO_OSDF_FEDERATION); pelican://HOST[:PORT]/... names its own. A federation on a
   loopback address (a test's, a developer's) is asked over plain HTTP.
2. the director, asked for the object (GET DIRECTOR/PATH, its redirect not followed), answers
   with a redirect: Location is the nearest cache, `Link: <URL>; rel="duplicate"; pri=N, ...`
   lists the caches by priority, and `X-Pelican-Namespace: namespace=/ospool/...,
   require-token=false` names the namespace the object is in. That answer holds for every object
   of the namespace, so it is kept: the next object of the namespace goes straight to the caches
   (a job pays one redirect per namespace, not per photo).
3. the caches, in order (Fetcher.first): one that fails (refused, timed out, 5xx, a body cut
   short) passes to the next before a retry is counted; when all have failed, the namespace's
   answer is forgotten, and the next photo asks the director again.

The site's squid (FRONTIER_PROXY, OSG_SQUID_LOCATION) is never used for a federation: it is for
plain HTTP downloads only. A namespace that requires a token (`require-token=true`, or HTTP 401
or 403) cannot be read by the job: that photo fails, saying what to do (./submit --transfer-osdf
has HTCondor transfer such objects into the job's sandbox, with the user's credentials; the job,
run with --transferred, then reads them there: fetch.py).
"""

import json
import os
import re
import threading
import urllib.parse
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from luminance.manifest import FEDERATION_SCHEMES
from luminance.transport import Body, FetchError, Head, redirect_target

__all__ = ["SCHEMES", "OSDF_FEDERATION", "FEDERATION_VARIABLE", "Pelican", "ObjectURL", "parse",
           "parse_links", "parse_namespace"]

SCHEMES = FEDERATION_SCHEMES
OSDF_FEDERATION = "osg-htc.org"  # its director: osdf-director.osg-htc.org
FEDERATION_VARIABLE = "PHOTODEMO_OSDF_FEDERATION"  # the OSDF's discovery host or URL, for tests
DISCOVERY_PATH = "/.well-known/pelican-configuration"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PRIVATE_HELP = ("the job cannot read it without a token: have HTCondor transfer it with your "
                "credentials (./submit --transfer-osdf), or put the photos under "
                "/ospool/uw-shared/public/")


class ObjectURL(NamedTuple):
    """An object of a federation: where to discover the federation, and the object's path."""
    federation: str  # scheme://host[:port] of its discovery document
    path: str  # /namespace/dir/photo.jpg, not percent-encoded


class Namespace(NamedTuple):
    """A director's answer, kept for every object under PREFIX."""
    prefix: str
    caches: Tuple[str, ...]  # scheme://host[:port][/path] that an object's path is appended to
    private: bool
    objects: Tuple[str, ...] = ()  # else: the caches' whole URLs, for the object at PREFIX alone


def parse(url: str, environ: Mapping[str, str] = os.environ) -> ObjectURL:
    """The federation and path of an osdf://, stash:// or pelican:// URL. Raises FetchError."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "pelican":
        if not parts.netloc:
            raise FetchError("bad URL: a pelican:// URL names its federation's host "
                             "(pelican://HOST/NAMESPACE/...)", transient=False)
        federation, path = parts.netloc, parts.path
    elif scheme in ("osdf", "stash"):
        # osdf:///ospool/a.jpg; users also type osdf://ospool/a.jpg, its first name read as a host.
        federation = environ.get(FEDERATION_VARIABLE) or OSDF_FEDERATION
        path = "/" + parts.netloc + parts.path if parts.netloc else parts.path
    else:
        raise FetchError("unsupported URL scheme {!r}".format(scheme), transient=False)
    path = re.sub("/+", "/", urllib.parse.unquote(path))
    if path.strip("/") == "" or "/../" in path + "/" or "\x00" in path:
        raise FetchError("bad URL: no object path in {}".format(url), transient=False)
    if "://" not in federation:
        host = urllib.parse.urlsplit("//" + federation).hostname or ""
        federation = ("http://" if host in LOOPBACK else "https://") + federation
    return ObjectURL(federation.rstrip("/"), path)


def parse_links(value: str) -> List[str]:
    """The URLs of a Link header (`<URL>; rel="duplicate"; pri=N, ...`), by priority (lowest first)."""
    ranked = []
    for order, entry in enumerate(value.split(",")):
        fields = entry.split(";")
        target = fields[0].strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        priority = 1 << 30  # none given: after those that have one, in the order listed
        for field in fields[1:]:
            name, _, number = field.partition("=")
            if name.strip().lower() == "pri" and number.strip().isdigit():
                priority = int(number.strip())
        ranked.append((priority, order, target[1:-1].strip()))
    return [url for _, _, url in sorted(ranked)]


def parse_namespace(value: str) -> Dict[str, str]:
    """The fields of an X-Pelican-Namespace header: namespace, require-token, collections-url."""
    fields = {}
    for item in value.split(","):
        name, equals, text = item.partition("=")
        if equals:
            fields[name.strip().lower()] = text.strip()
    return fields


class Federation:
    """One federation: its director, once discovered, and the namespaces it has answered for."""

    def __init__(self, base: str):
        self.base = base
        self.director: Optional[str] = None
        self.namespaces: Dict[str, Namespace] = {}
        self.lock = threading.Lock()  # one discovery, one director request per namespace at a time

    def namespace_for(self, path: str) -> Optional[Namespace]:
        best = None
        for prefix, namespace in list(self.namespaces.items()):
            if (path == prefix or path.startswith(prefix.rstrip("/") + "/")) \
                    and (best is None or len(prefix) > len(best.prefix)):
                best = namespace
        return best

    def forget(self, namespace: Namespace) -> None:
        with self.lock:
            if self.namespaces.get(namespace.prefix) is namespace:
                del self.namespaces[namespace.prefix]


class Pelican:
    """Reads objects of Pelican federations with a Fetcher (its transport, retries and limits)."""

    def __init__(self, fetcher, environ: Mapping[str, str] = os.environ):
        self.fetcher = fetcher
        self.environ = environ
        self._federations: Dict[str, Federation] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Body:
        """The bytes of the object at URL (osdf://, stash://, pelican://). Raises FetchError."""
        where = parse(url, self.environ)
        federation = self._federation(where.federation)
        namespace = federation.namespace_for(where.path)
        if namespace is None:
            with federation.lock:  # the photos of a namespace that come together ask once
                namespace = federation.namespace_for(where.path)
                if namespace is None:
                    answer = self._ask_director(federation, where, url)
                    if isinstance(answer, Body):
                        return answer  # the director served the object itself
                    namespace = federation.namespaces[answer.prefix] = answer
        if namespace.private:
            raise _private(url, namespace.prefix)
        path = urllib.parse.quote(where.path)
        candidates = [cache + path for cache in namespace.caches] or list(namespace.objects)
        try:
            return self.fetcher.first(candidates, site_proxy=False)
        except FetchError as exc:
            if exc.transient:
                federation.forget(namespace)  # maybe the caches moved: ask the director again
            elif exc.reason.startswith(("HTTP 401", "HTTP 403")):
                raise _private(url, namespace.prefix) from None
            raise

    def _federation(self, base: str) -> Federation:
        with self._lock:
            federation = self._federations.setdefault(base, Federation(base))
        if federation.director is None:
            with federation.lock:
                if federation.director is None:
                    federation.director = self._discover(base)
        return federation

    def _discover(self, base: str) -> str:
        """The director of the federation at BASE, from its discovery document."""
        url = base + DISCOVERY_PATH
        try:
            body = self.fetcher.first([url], site_proxy=False)
        except FetchError as exc:
            raise FetchError("federation discovery at {} failed: {}".format(url, exc.reason),
                             exc.transient, exc.retry_after) from None
        try:
            director = json.loads(body.data.decode("utf-8"))["director_endpoint"]
            if not isinstance(director, str) or not director.startswith(("http://", "https://")):
                raise ValueError(director)
        except (ValueError, KeyError, TypeError, UnicodeError):
            raise FetchError("federation discovery at {} names no director (director_endpoint)".format(
                url), transient=False) from None
        return director.rstrip("/")

    def _ask_director(self, federation: Federation, where: ObjectURL, url: str):
        """The Namespace the director gives for WHERE (or the object's Body, when it serves it)."""
        asked = federation.director + urllib.parse.quote(where.path)
        try:
            answer = self.fetcher.first([asked], follow=False, site_proxy=False)
        except FetchError as exc:
            if exc.reason.startswith("HTTP 404"):
                raise FetchError("not found in the federation: {} (its director answered {})".format(
                    where.path, exc.reason), transient=False) from None
            if exc.reason.startswith(("HTTP 401", "HTTP 403")):
                raise _private(url, where.path) from None
            raise
        if isinstance(answer, Body):
            return answer
        return _namespace(answer, where.path)


def _namespace(head: Head, path: str) -> Namespace:
    """The Namespace in a director's redirect HEAD for the object at PATH."""
    fields = parse_namespace(head.headers.get("X-Pelican-Namespace", ""))
    prefix = fields.get("namespace") or path  # none named: kept for this object alone
    if not (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
        prefix = path  # a namespace the object is not in: trust it for this object only
    private = fields.get("require-token", "").lower() == "true"
    links = parse_links(head.headers.get("Link", "")) or [head.headers.get("Location", "")]
    caches, objects, refused = [], [], None
    for link in links:
        try:
            target = redirect_target(head.url, link)  # http(s) only
        except FetchError as exc:
            refused = refused or exc
            continue
        objects.append(target)
        # A cache's URL for this object ends with its path: the rest is where every object of
        # the namespace is on that cache.
        parts = urllib.parse.urlsplit(target)
        served = urllib.parse.unquote(parts.path)
        if served.endswith(path) and not parts.query:
            cache = "{}://{}{}".format(parts.scheme, parts.netloc,
                                       urllib.parse.quote(served[:len(served) - len(path)]))
            if cache not in caches:
                caches.append(cache)
    if not objects and not private:
        raise refused or FetchError("the federation's director named no cache for {}".format(path),
                                    transient=True)
    if len(caches) < len(objects):
        # Some cache URL is not simply the cache and the path: good for this object alone.
        return Namespace(path, (), private, tuple(objects))
    return Namespace(prefix, tuple(caches), private)


def _private(url: str, prefix: str) -> FetchError:
    return FetchError("{} is in a namespace that requires a token ({}): {}".format(
        url, prefix, PRIVATE_HELP), transient=False)
