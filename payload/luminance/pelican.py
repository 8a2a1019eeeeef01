"""Photos in a Pelican federation (the OSDF): osdf://, stash:// and pelican:// URLs, read through its caches.

A public object is read as Pelican's own clients read it (PelicanPlatform/pelican: the Go
client's federation discovery and director request; pelicanfs: core.py, dir_header_parser.py):

1. discovery: https://FEDERATION/.well-known/pelican-configuration, a JSON document that names
   the federation's director (`director_endpoint`); asked once per job and federation, always
   over HTTPS (a developer's own Pelican serves it so too). osdf:// and stash:// (the OSDF's
   older name) objects are in the OSG's federation (osg-htc.org, or $PHOTODEMO_OSDF_FEDERATION);
   pelican://HOST[:PORT]/... names its own.
2. the director, asked for the object (GET DIRECTOR/PATH, its redirect not followed), answers
   with a redirect: Location is the nearest cache, `Link: <URL>; rel="duplicate"; pri=N, ...`
   lists the caches by priority, and `X-Pelican-Namespace: namespace=/ospool/...,
   require-token=false` names the namespace the object is in. That answer holds for every object
   of the namespace, so it is kept: the next object of the namespace goes straight to the caches
   (a job pays one redirect per namespace, not per photo). Only the first MAX_CACHES are kept.
3. the caches, in order (Fetcher.first): one that fails (refused, timed out, 5xx, a body cut
   short) passes to the next before a retry is counted; when all have failed, the namespace's
   answer is forgotten, and the next photo asks the director again.

What the job learns of a federation is learned once per job: its discovery (or why it failed) and
a director that failed (unreachable, timed out, 5xx: dead for this job; a 4xx is about one object
alone). One photo at a time asks the federation, and the others wait for its answer rather than
ask too, each no longer than its own deadline: no lock is held across a request, so a hung
director costs each photo its --deadline at most, all photos at once. --deadline is one photo's
whole budget: discovery, director and its retries, every cache.

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
import time
import urllib.parse
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from luminance.core import osdf
from luminance.transport import Body, FetchError, Head, redirect_target

__all__ = ["OSDF_FEDERATION", "FEDERATION_VARIABLE", "MAX_CACHES", "Pelican",
           "ObjectURL", "parse", "parse_links", "parse_namespace"]

OSDF_FEDERATION = "osg-htc.org"  # its director: osdf-director.osg-htc.org
FEDERATION_VARIABLE = "PHOTODEMO_OSDF_FEDERATION"  # the OSDF's discovery host[:port], for tests
DISCOVERY_PATH = "/.well-known/pelican-configuration"
# Caches of a director's answer that are kept, nearest first. All are tried within one photo's
# deadline, so farther ones are reached only when the nearest have failed fast; each cache host is
# a route and a connection pool of the job's routes.MAX_HOSTS (32), which a long list would evict.
MAX_CACHES = 6
# Python's own paths through bytes: a non-UTF-8 escape (caf%E9.jpg, which make-manifest writes
# for a Latin-1 name) is the byte E9 again when the path is quoted for a request.
PATH_ERRORS = "surrogateescape"
PRIVATE_HELP = ("the job cannot read it without a token: have HTCondor transfer it with your "
                "credentials (./submit --transfer-osdf), or put the photos under "
                "/ospool/uw-shared/public/")


class ObjectURL(NamedTuple):
    """An object of a federation: where to discover the federation, and the object's path."""
    federation: str  # https://host[:port] of its discovery document
    path: str  # /namespace/dir/photo.jpg, not percent-encoded (undecodable bytes as surrogates)


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
    elif scheme in osdf.SCHEMES:
        federation = environ.get(FEDERATION_VARIABLE) or OSDF_FEDERATION
        path = osdf.object_path(url)
    else:
        raise FetchError("unsupported URL scheme {!r}".format(scheme), transient=False)
    path = urllib.parse.unquote(re.sub("/+", "/", path), errors=PATH_ERRORS)
    if path.strip("/") == "" or "/../" in path + "/" or "\x00" in path:
        raise FetchError("bad URL: no object path in {}".format(url), transient=False)
    if federation.lower().startswith("https://"):
        federation = federation[len("https://"):]
    if "/" in federation:
        raise FetchError("bad federation {!r} (a federation is discovered at https://HOST[:PORT])"
                         .format(federation), transient=False)
    return ObjectURL("https://" + federation, path)


def _quote(path: str) -> str:
    """PATH as a request names it: percent-encoded, its undecodable bytes as they were."""
    return urllib.parse.quote(path, errors=PATH_ERRORS)


def _shown(path: str) -> str:
    """PATH for a message: as it is when it is text, else percent-encoded."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeError:
        return _quote(path)


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


class _Flight:
    """A request about a federation that one photo makes and the others wait for."""

    def __init__(self):
        self.done = threading.Event()


class Federation:
    """One federation: its director, once discovered, the namespaces it has answered for, and the
    failure that ends every photo of it for the rest of the job."""

    def __init__(self, base: str):
        self.base = base
        self.lock = threading.Lock()  # guards what follows; never held across a request
        self.director: Optional[str] = None
        self.failure: Optional[FetchError] = None  # discovery failed, or the director did
        self.namespaces: Dict[str, Namespace] = {}
        self.flight: Optional[_Flight] = None  # the discovery or director request under way

    def namespace_for(self, path: str) -> Optional[Namespace]:
        best = None
        for prefix, namespace in list(self.namespaces.items()):
            if _under(path, prefix) and (best is None or len(prefix) > len(best.prefix)):
                best = namespace
        return best

    def forget(self, namespace: Namespace) -> None:
        with self.lock:
            if self.namespaces.get(namespace.prefix) is namespace:
                del self.namespaces[namespace.prefix]

    def fail(self, error: FetchError) -> FetchError:
        """ERROR, remembered: every later photo of the federation fails so at once."""
        with self.lock:
            self.failure = error
        return error


class Pelican:
    """Reads objects of Pelican federations with a Fetcher (its transport, retries and limits)."""

    def __init__(self, fetcher, environ: Mapping[str, str] = os.environ):
        self.fetcher = fetcher
        self.environ = environ
        self._federations: Dict[str, Federation] = {}
        self._lock = threading.Lock()

    def get(self, url: str, until: Optional[float] = None) -> Body:
        """The bytes of the object at URL (osdf://, stash://, pelican://), by UNTIL
        (time.monotonic(); None: --deadline from now). Raises FetchError."""
        if until is None:
            until = time.monotonic() + self.fetcher.deadline
        where = parse(url, self.environ)
        with self._lock:
            federation = self._federations.setdefault(where.federation, Federation(where.federation))
        answer = self._namespace(federation, where, url, until)
        if isinstance(answer, Body):
            return answer  # the director served the object itself
        namespace = answer
        if namespace.private:
            raise _private(url, namespace.prefix)
        path = _quote(where.path)
        candidates = [cache + path for cache in namespace.caches] or list(namespace.objects)
        try:
            return self.fetcher.first(candidates, site_proxy=False, until=until)
        except FetchError as exc:
            if exc.transient:
                federation.forget(namespace)  # maybe the caches moved: ask the director again
            elif exc.status in (401, 403):
                raise _private(url, namespace.prefix) from None
            raise

    def _namespace(self, federation: Federation, where: ObjectURL, url: str,
                   until: float) -> Union[Namespace, Body]:
        """The Namespace WHERE is in: known, or asked of the director by this photo, or by
        another photo that this one waits for (the photos of a namespace that come together
        make one request)."""
        while True:
            with federation.lock:
                if federation.failure is not None:
                    raise _again(federation.failure)
                namespace = federation.namespace_for(where.path)
                if namespace is not None:
                    return namespace
                flight, mine = federation.flight, federation.flight is None
                if mine:
                    flight = federation.flight = _Flight()
            if not mine:
                if not flight.done.wait(max(0.0, until - time.monotonic())):
                    raise self.fetcher.transport.late()
                continue  # its answer may be this photo's namespace, or its failure
            try:
                answer = self._ask(federation, where, url, until)
                if isinstance(answer, Namespace):
                    with federation.lock:
                        federation.namespaces[answer.prefix] = answer
                return answer
            finally:
                with federation.lock:
                    federation.flight = None
                flight.done.set()

    def _ask(self, federation: Federation, where: ObjectURL, url: str,
             until: float) -> Union[Namespace, Body]:
        """The director's answer for WHERE, the federation discovered first when it is not yet."""
        if federation.director is None:
            try:
                federation.director = self._discover(federation.base, until)
            except FetchError as exc:
                raise federation.fail(exc) from None
        asked = federation.director + _quote(where.path)
        try:
            answer = self.fetcher.first([asked], follow=False, site_proxy=False, until=until)
        except FetchError as exc:
            if exc.status == 404:
                raise FetchError("not found in the federation: {} (its director answered {})".format(
                    _shown(where.path), exc.reason), transient=False, status=404) from None
            if exc.status in (401, 403):
                raise _private(url, _shown(where.path)) from None
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                raise  # about this object alone
            raise federation.fail(FetchError("the federation's director {} failed: {}".format(
                federation.director, exc.reason), exc.transient, exc.retry_after, exc.status)) from None
        if isinstance(answer, Body):
            return answer
        return _namespace(answer, where.path)

    def _discover(self, base: str, until: float) -> str:
        """The director of the federation at BASE, from its discovery document."""
        url = base + DISCOVERY_PATH
        try:
            body = self.fetcher.first([url], site_proxy=False, until=until)
        except FetchError as exc:
            raise FetchError("federation discovery at {} failed: {}".format(url, exc.reason),
                             exc.transient, exc.retry_after, exc.status) from None
        try:
            director = json.loads(body.data.decode("utf-8"))["director_endpoint"]
            if not isinstance(director, str) or not director.startswith(("http://", "https://")):
                raise ValueError(director)
        except RecursionError:
            raise FetchError("federation discovery at {}: its document is nested too deep".format(
                url), transient=False) from None
        except (ValueError, KeyError, TypeError, UnicodeError):
            raise FetchError("federation discovery at {} names no director (director_endpoint)".format(
                url), transient=False) from None
        return director.rstrip("/")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _again(error: FetchError) -> FetchError:
    """A fresh FetchError like ERROR (one exception object is not raised in many threads)."""
    return FetchError(error.reason, error.transient, error.retry_after, error.status)


def _namespace(head: Head, path: str) -> Namespace:
    """The Namespace in a director's redirect HEAD for the object at PATH."""
    fields = parse_namespace(head.headers.get("X-Pelican-Namespace", ""))
    prefix = fields.get("namespace") or path
    if not _under(path, prefix):
        prefix = path  # none named, or a namespace the object is not in: for this object alone
    private = fields.get("require-token", "").lower() == "true"
    links = parse_links(head.headers.get("Link", "")) or [head.headers.get("Location", "")]
    caches, objects, refused = [], [], None
    for link in links[:MAX_CACHES]:
        try:
            target = redirect_target(head.url, link)  # http(s) only
        except FetchError as exc:
            refused = refused or exc
            continue
        objects.append(target)
        # A cache's URL for this object ends with its path: the rest is where every object of
        # the namespace is on that cache.
        parts = urllib.parse.urlsplit(target)
        served = urllib.parse.unquote(parts.path, errors=PATH_ERRORS)
        if served.endswith(path) and not parts.query:
            cache = "{}://{}{}".format(parts.scheme, parts.netloc, _quote(served[:len(served) - len(path)]))
            if cache not in caches:
                caches.append(cache)
    if not objects and not private:
        raise refused or FetchError("the federation's director named no cache for {}".format(
            _shown(path)), transient=True)
    if len(caches) < len(objects):
        # Some cache URL is not simply the cache and the path: good for this object alone.
        return Namespace(path, (), private, tuple(objects))
    return Namespace(prefix, tuple(caches), private)


def _private(url: str, prefix: str) -> FetchError:
    return FetchError("{} is in a namespace that requires a token ({}): {}".format(
        url, prefix, PRIVATE_HELP), transient=False)
