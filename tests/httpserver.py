"""A real HTTP server on 127.0.0.1 for tests and benchmarks: photos from memory or a directory, with faults.

    with PhotoServer() as server:
        server.add("/a.jpg", jpeg_bytes)                       # 200 with the bytes
        server.add("/gone.jpg", status=404)
        server.add("/flaky.jpg", jpeg_bytes, fail_first=1)     # one 500 (fail_status), then 200
        server.add("/cut.jpg", jpeg_bytes, fault="drop")       # connection closed mid-body
        server.add("/slow.jpg", jpeg_bytes, delay=5)           # answers after 5 s
        server.add("/old.jpg", status=301, headers={"Location": "/a.jpg"})
        server.add("/raw.jpg", jpeg_bytes, fault="no-length")  # no Content-Length: ends at close
        server.add("/bye.jpg", jpeg_bytes, fault="close-after")  # hangs up after a keep-alive reply
        server.add("/bit.jpg", jpeg_bytes, fault="chunked")      # Transfer-Encoding: chunked
        server.add("/drip.jpg", jpeg_bytes, fault="drip")        # the body a byte every 0.1 s
        server.add("/drip-head.jpg", fault="drip-head")          # the head a byte every 0.1 s
        server.add("/big-head.jpg", jpeg_bytes, fault="huge-header")   # a 70,000-byte header line
        server.add("/many.jpg", jpeg_bytes, fault="many-headers")      # 150 header lines
        server.url("/a.jpg"), server.hits["/a.jpg"]

`LocalFederation` is a Pelican federation (the OSDF's software) on 127.0.0.1: a discovery document
and a director on one server, redirecting to caches that are PhotoServers.

`server.proxied` lists the absolute URLs asked of it as an HTTP proxy, and "CONNECT host:port"
for each tunnel asked of it as an HTTPS proxy. `latency` adds a delay to every request (the storage server's round trip); `directory` serves
files below it for paths not added; `tls=(certfile, keyfile)` serves HTTPS.
"""

import http.server
import json
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Dict, List, Optional


class Route:
    def __init__(self, body=b"", status=200, content_type="image/jpeg", fault=None, delay=0.0,
                 fail_first=0, fail_status=500, fail_headers=None, headers=None):
        self.body, self.status, self.content_type = body, status, content_type
        self.fault, self.delay = fault, delay
        self.fail_first, self.fail_status, self.fail_headers = fail_first, fail_status, fail_headers
        self.headers = headers or {}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real storage server

    def log_message(self, format, *args):  # noqa: A002  (quiet: tests read stderr of the job)
        pass

    def setup(self):  # once per connection
        super().setup()
        with self.server.photo_server.lock:
            self.server.photo_server.connections += 1

    def do_GET(self):
        server = self.server.photo_server
        path = self.path.split("?", 1)[0]
        if path.startswith("http://"):  # asked as a proxy: remember it, then serve the path
            server.proxied.append(path)
            server.proxy_authorization.append(self.headers.get("Proxy-Authorization"))
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        with server.lock:
            server.hits[path] = server.hits.get(path, 0) + 1
            hit = server.hits[path]
        if server.latency:
            time.sleep(server.latency)
        route = server.routes.get(path)
        if route is None and server.resolver:
            route = server.resolver(path)
        if route is None and server.directory:
            route = server.file_route(path)
        if route is None:
            return self._send(404, b"not found\n", "text/plain")
        if route.delay:
            time.sleep(route.delay)
        if hit <= route.fail_first:
            return self._send(route.fail_status, b"try again\n", "text/plain", route.fail_headers)
        if route.fault == "drop":
            # Promise the whole body, send half, then hang up.
            self._head(200, route.content_type, {"Content-Length": str(len(route.body))})
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if route.fault == "no-length":
            # HTTP/1.0 style: the body ends when the connection closes.
            self._head(200, route.content_type, {"Connection": "close"})
            self.wfile.write(route.body)
            self.close_connection = True
            return
        if route.fault in ("drip", "drip-head"):
            return self._drip(route)
        if route.fault == "huge-header":
            return self._send(200, route.body, route.content_type, {"X-Huge": "x" * 70000})
        if route.fault == "many-headers":
            many = {"X-Header-{}".format(n): str(n) for n in range(150)}
            return self._send(200, route.body, route.content_type, many)
        if route.fault == "chunked":
            # HTTP/1.1 chunked transfer coding: no Content-Length, the connection kept alive.
            self._head(200, route.content_type, {"Transfer-Encoding": "chunked"})
            for i in range(0, len(route.body), 1000):
                piece = route.body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self._send(route.status, route.body, route.content_type, route.headers)
        if route.fault == "close-after":
            # A whole keep-alive response, then the server hangs up: its idle timeout, a restart.
            self.close_connection = True

    def do_CONNECT(self):
        """As an HTTPS proxy: tunnel to the host:port asked for (only on 127.0.0.1)."""
        server = self.server.photo_server
        host, _, port = self.path.rpartition(":")
        server.proxied.append("CONNECT " + self.path)
        server.proxy_authorization.append(self.headers.get("Proxy-Authorization"))
        if host != "127.0.0.1" or not port.isdigit():
            return self._send(403, b"tunnels only to 127.0.0.1\n", "text/plain")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError:
            return self._send(502, b"cannot connect\n", "text/plain")
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 10)
                if not readable:
                    break
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            self.close_connection = True

    def _drip(self, route):
        """A byte every 0.1 s, each within any read timeout: of the body, or ("drip-head") of
        the head, in a header line that never ends. Stops when the client hangs up."""
        if route.fault == "drip":
            self._head(200, route.content_type, {"Content-Length": str(len(route.body))})
            data = route.body
        else:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            data = b"s" * 100000
        self.close_connection = True
        try:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:  # the client hung up
            pass

    def _head(self, status, content_type, headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status, body, content_type, headers=None):
        self._head(status, content_type, dict({"Content-Length": str(len(body))}, **(headers or {})))
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class PhotoServer:
    """An HTTP server on 127.0.0.1 (a free port) serving routes added by the test."""

    def __init__(self, directory: Optional[str] = None, latency: float = 0.0, tls=None):
        self.routes: Dict[str, Route] = {}
        self.hits: Dict[str, int] = {}
        self.proxied = []  # absolute URLs requested of this server as an HTTP proxy
        self.proxy_authorization = []  # the Proxy-Authorization header of each (None: none)
        self.connections = 0  # connections accepted
        self.lock = threading.Lock()
        self.directory = directory
        self.resolver = None  # path -> Route or None, for paths not added (a director's)
        self.latency = latency
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.photo_server = self
        self.port = self.httpd.server_address[1]
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, path: str, body: bytes = b"", **route) -> str:
        self.routes[path] = Route(body, **route)
        return self.url(path)

    def url(self, path: str) -> str:
        return "{}://127.0.0.1:{}{}".format(self.scheme, self.port, path)

    def file_route(self, path: str) -> Optional[Route]:
        full = os.path.normpath(os.path.join(self.directory, path.lstrip("/")))
        if not full.startswith(os.path.abspath(self.directory)) or not os.path.isfile(full):
            return None
        with open(full, "rb") as stream:
            return Route(stream.read())

    def start(self) -> "PhotoServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "PhotoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalFederation:
    """A Pelican federation on 127.0.0.1, as its clients see it.

        with LocalFederation() as federation:
            url = federation.add("/ospool/uw-shared/public/a.jpg", jpeg_bytes)  # pelican://127.0.0.1:P/...
            federation.caches[0].stop()          # the nearest cache is down: the next one serves
            federation.director_requests()       # object requests the director answered

    The director (`director`, which also serves /.well-known/pelican-configuration) answers every
    object under one of `namespaces` with a 307 to the first cache, a Link header listing all
    caches by priority, and X-Pelican-Namespace (require-token=true for `private` namespaces);
    anything else is 404. Every cache holds every object added.
    """

    def __init__(self, namespaces=("/ospool/uw-shared/public",), caches: int = 2,
                 private=(), latency: float = 0.0):
        self.namespaces, self.private = tuple(namespaces), tuple(private)
        self.director = PhotoServer(latency=latency)
        self.caches: List[PhotoServer] = [PhotoServer(latency=latency) for _ in range(caches)]
        self.discovery = {"director_endpoint": self.director.url("")}
        self.director.add("/.well-known/pelican-configuration",
                          json.dumps(self.discovery).encode(), content_type="application/json")
        self.director.resolver = self._direct

    @property
    def host(self) -> str:
        return "127.0.0.1:{}".format(self.director.port)

    def add(self, path: str, body: bytes = b"", **route) -> str:
        """Put BODY at PATH on every cache; its pelican:// URL."""
        for cache in self.caches:
            cache.add(urllib.parse.quote(path), body, **route)
        return "pelican://{}{}".format(self.host, path)

    def director_requests(self) -> int:
        return sum(hits for path, hits in self.director.hits.items()
                   if not path.startswith("/.well-known/"))

    def _direct(self, path: str) -> Optional[Route]:
        name = urllib.parse.unquote(path)
        for namespace in self.namespaces + self.private:
            if name.startswith(namespace + "/"):
                links = ", ".join('<{}>; rel="duplicate"; pri={}; depth={}'.format(
                    cache.url(path), n + 1, namespace.count("/")) for n, cache in enumerate(self.caches))
                return Route(status=307, content_type="text/plain", headers={
                    "Location": self.caches[0].url(path), "Link": links,
                    "X-Pelican-Namespace": "namespace={}, require-token={}".format(
                        namespace, "true" if namespace in self.private else "false")})
        return None

    def start(self) -> "LocalFederation":
        for server in [self.director] + self.caches:
            server.start()
        return self

    def stop(self) -> None:
        for server in [self.director] + self.caches:
            if server.thread.is_alive():
                server.stop()

    def __enter__(self) -> "LocalFederation":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
