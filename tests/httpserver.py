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

A Pelican federation's caches are PhotoServers behind photodemo.federation's director.

`server.proxied` lists the absolute URLs asked of it as an HTTP proxy, and "CONNECT host:port"
for each tunnel asked of it as an HTTPS proxy. `latency` adds a delay to every request (the storage
server's round trip); `directory` serves
files below it for paths not added; `tls=(certfile, keyfile)` serves HTTPS.
"""

import http.server
import os
import select
import socket
import ssl
import threading
import time
from typing import Dict, Optional

from photodemo.federation import ServerThread


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
        self.serving = ServerThread(self.httpd)  # stops at once: no 0.5 s poll per teardown

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
        self.serving.start()
        return self

    def stop(self) -> None:
        self.serving.stop()

    def __enter__(self) -> "PhotoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class HungServer:
    """A server on 127.0.0.1 that accepts connections and never answers: a hung director or cache.

        with HungServer() as hung:
            hung.url("/ns/a.jpg"), hung.connections
    """

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        self.held = []  # the connections, kept open
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def connections(self) -> int:
        return len(self.held)

    def url(self, path: str) -> str:
        return "http://127.0.0.1:{}{}".format(self.port, path)

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:  # closed: stop
                return

    def __enter__(self) -> "HungServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        self.thread.join()
        for connection in self.held:
            connection.close()
