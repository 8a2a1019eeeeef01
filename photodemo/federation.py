"""A Pelican federation on 127.0.0.1, over HTTPS as Pelican's are: for `make demo`, the tests, the benchmark.

    python -m photodemo.federation --port PORT --directory DIR [--tls TLSDIR] [--namespace PATH]

One HTTPS server plays the federation's central parts, as the job's client meets them
(payload/luminance/pelican.py):
  GET /.well-known/pelican-configuration   the discovery document, naming this server as director;
  GET NAMESPACE/PATH                       the director's answer: 307 to the first cache, with the
                                           Link (every cache, by priority) and X-Pelican-Namespace
                                           headers Pelican's director sends (require-token=true
                                           for a private namespace);
  GET /cache/NAMESPACE/PATH                with a directory: the cache, the file DIR/PATH;
  anything else                            with a directory: the file at that path in DIR (as
                                           `python -m http.server`); else 404.
Other caches are other servers (`caches`: their base URLs, an object's path appended): the tests'
PhotoServers with their faults, the benchmark's lean server. A job reads the objects as
pelican://127.0.0.1:PORT/NAMESPACE/PATH. The server's certificate is signed by a throwaway CA
(make_ca, with the `openssl` command); a job trusts it through REQUESTS_CA_BUNDLE, as requests does.
"""

import argparse
import functools
import http.server
import json
import os
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from typing import Iterable, List, NamedTuple, Optional, Sequence

from luminance.core import command
from luminance.core.arguments import whole_number
from luminance.core.errors import EXIT_OK, PhotodemoError, UsageError

__all__ = ["DEFAULT_NAMESPACE", "CACHE_PREFIX", "DISCOVERY", "CA_VARIABLE", "EXIT_CODES", "TLS",
           "make_ca", "ServerThread", "LocalFederation", "base_url", "main"]

DEFAULT_NAMESPACE = "/ospool/uw-shared/public/demo"
CACHE_PREFIX = "/cache"
DISCOVERY = "/.well-known/pelican-configuration"
CA_VARIABLE = "REQUESTS_CA_BUNDLE"  # the CA bundle requests (and so the job) verifies HTTPS with
EXIT_CODES = {EXIT_OK: "stopped (it serves until Ctrl-C or SIGTERM)"}


class TLS(NamedTuple):
    """A throwaway CA and a certificate it signed for 127.0.0.1 and localhost (PEM files)."""
    ca: str
    cert: str
    key: str

    def context(self) -> ssl.SSLContext:
        """A server's TLS context with this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_ca(directory: str) -> TLS:
    """A CA and a server certificate for 127.0.0.1 in DIRECTORY (made once; valid for a week)."""
    tls = TLS(*(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")))
    if all(os.path.isfile(path) for path in tls):
        return tls
    os.makedirs(directory, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    extensions = os.path.join(directory, "server.ext")
    with open(extensions, "w") as stream:
        stream.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                     "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    steps = [
        ["req", "-x509"] + key + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "7",
                                  "-subj", "/CN=photodemo throwaway CA",
                                  "-addext", "basicConstraints=critical,CA:TRUE",
                                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req"] + key + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "7",
         "-extfile", "server.ext", "-out", "server.pem"],
    ]
    for step in steps:
        try:
            subprocess.run(["openssl"] + step, cwd=directory, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        except OSError as exc:
            raise PhotodemoError("cannot run openssl to make a test CA: {}".format(
                exc.strerror or exc)) from None
        except subprocess.CalledProcessError as exc:
            raise PhotodemoError("openssl {} failed: {}".format(
                step[0], exc.output.strip().splitlines()[-1:])) from None
    return tls


class ServerThread:
    """An http.server serving in a thread until stop(), which returns at once: serve_forever
    polls for its shutdown every 0.5 s, which a test suite's teardowns would wait on."""

    def __init__(self, server: http.server.HTTPServer):
        self.server = server
        self._wake, self._waker = socket.socketpair()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self._waker.send(b"x")
            self.thread.join()
        self.server.server_close()
        self._wake.close()
        self._waker.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.server.socket, selectors.EVENT_READ)
            selector.register(self._wake, selectors.EVENT_READ)
            while True:
                ready = selector.select()
                if any(key.fileobj is self._wake for key, _ in ready):
                    return
                self.server.handle_request()  # accepts the connection waiting: no wait here


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real director and cache

    def log_message(self, format, *args):  # noqa: A002  (quiet: the demo prints its own lines)
        pass

    def do_GET(self):
        federation = self.server.federation
        raw = self.path.split("?", 1)[0]
        path = urllib.parse.unquote(raw, errors="surrogateescape")
        if path == DISCOVERY:
            with federation.lock:
                federation.discoveries += 1
            return self._answer(200, {"Content-Type": "application/json"},
                                json.dumps({"director_endpoint": federation.origin}).encode())
        namespace = federation.namespace_of(path)
        if namespace is None and federation.directory is not None:
            return super().do_GET()  # a file of the directory, or the cache's
        with federation.lock:
            federation.director_requests += 1
        if namespace is None:
            return self._answer(404, {"Content-Type": "text/plain"}, b"not found\n")
        return self._direct(namespace, raw, federation)

    def _direct(self, namespace: str, raw: str, federation: "LocalFederation"):
        caches = [base + raw for base in federation.caches]
        if not caches:
            return self._answer(404, {"Content-Type": "text/plain"}, b"no cache\n")
        links = ", ".join('<{}>; rel="duplicate"; pri={}; depth={}'.format(
            cache, rank + 1, namespace.count("/")) for rank, cache in enumerate(caches))
        self._answer(307, {"Location": caches[0], "Link": links,
                           "X-Pelican-Namespace": "namespace={}, require-token={}".format(
                               namespace, "true" if namespace in federation.private else "false")})

    def translate_path(self, path):
        # The cache's objects are the directory's files, below the namespaces. The escapes are
        # the file name's bytes (make-manifest writes a Latin-1 name's é as %E9), decoded as the
        # file system does: http.server would read them as UTF-8, and miss such a file.
        name = os.fsdecode(urllib.parse.unquote_to_bytes(path.split("?", 1)[0].split("#", 1)[0]))
        for namespace in self.server.federation.namespaces:
            if name.startswith(CACHE_PREFIX + namespace + "/"):
                name = name[len(CACHE_PREFIX + namespace):]
                break
        parts = [part for part in name.split("/") if part not in ("", ".", "..")]
        return os.path.join(self.directory, *parts) + ("/" if name.endswith("/") else "")

    def _answer(self, status, headers, body=b""):
        self.send_response(status)
        for name, value in dict(headers, **{"Content-Length": str(len(body))}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)  # else: a client that left, or refused the CA


class LocalFederation:
    """A Pelican federation's discovery and director (and, given a directory, a cache) on
    127.0.0.1 over HTTPS.

        with LocalFederation(make_ca(tmp), caches=[photo_server.url("")]) as federation:
            url = federation.url("/ospool/uw-shared/public/demo/a.jpg")   # pelican://127.0.0.1:P/...
            federation.director_requests, federation.discoveries           # what it was asked

    NAMESPACES are public, PRIVATE require a token; the director answers every object under
    either with a redirect to CACHES (base URLs the object's path is appended to, in priority
    order; the list may change while it serves), and anything else with 404.
    """

    def __init__(self, tls: TLS, namespaces: Iterable[str] = (DEFAULT_NAMESPACE,),
                 private: Iterable[str] = (), caches: Iterable[str] = (),
                 directory: Optional[str] = None, port: int = 0):
        self.private = tuple("/" + name.strip("/") for name in private)
        public = tuple("/" + name.strip("/") for name in namespaces)
        # Longest first: an object is in the deepest namespace that holds it.
        self.namespaces = tuple(sorted(public + self.private, key=len, reverse=True))
        self.directory, self.tls = directory, tls
        self.lock = threading.Lock()
        self.discoveries = 0  # discovery documents served
        self.director_requests = 0  # objects the director was asked for
        handler = functools.partial(_Handler, directory=directory or os.devnull)
        self.httpd = _Server(("127.0.0.1", port), handler)
        # The handshake in the connection's own thread (its first read), not in the accepting one.
        self.httpd.socket = tls.context().wrap_socket(self.httpd.socket, server_side=True,
                                                      do_handshake_on_connect=False)
        self.httpd.federation = self
        self.port = self.httpd.server_address[1]
        self.origin = "https://127.0.0.1:{}".format(self.port)
        self.caches: List[str] = list(caches)
        if directory is not None:
            self.caches.append(self.origin + CACHE_PREFIX)
        self._thread = ServerThread(self.httpd)

    @property
    def host(self) -> str:
        return "127.0.0.1:{}".format(self.port)

    def url(self, path: str) -> str:
        """The pelican:// URL of the object at PATH (percent-encoded as given)."""
        return "pelican://{}{}".format(self.host, path)

    def namespace_of(self, path: str) -> Optional[str]:
        for namespace in self.namespaces:
            if path.startswith(namespace + "/"):
                return namespace
        return None

    def start(self) -> "LocalFederation":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def serve_forever(self) -> None:
        with self.httpd:
            self.httpd.serve_forever()

    def __enter__(self) -> "LocalFederation":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def base_url(port: int, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The manifest's base URL for the directory served on PORT: pelican://127.0.0.1:PORT/NAMESPACE."""
    return "pelican://127.0.0.1:{}/{}".format(port, namespace.strip("/"))


def parser() -> command.Parser:
    parser = command.Parser("federation", "python -m photodemo.federation",
                            description=__doc__.split("\n\n")[0],
                            exit_codes=EXIT_CODES)
    parser.add_argument("--port", type=whole_number(0), default=0, metavar="PORT",
                        help="port on 127.0.0.1 (default: 0, a free one)")
    parser.add_argument("--directory", default=".", metavar="DIR", help="the files to serve (default: .)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, metavar="PATH",
                        help="the namespace they are under (default: %(default)s)")
    parser.add_argument("--tls", metavar="TLSDIR",
                        help="where the throwaway CA and the server's certificate are, made there "
                             "when missing; a job trusts TLSDIR/ca.pem through {} (default: a new "
                             "temporary directory, named when serving)".format(CA_VARIABLE))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(parser(), _serve, argv, interrupted="stopped")


def _serve(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.directory):  # else every object would be a quiet 404
        raise UsageError("{}: not a directory".format(args.directory))
    tls = make_ca(args.tls or tempfile.mkdtemp(prefix="photodemo-federation-"))
    try:
        federation = LocalFederation(tls, (args.namespace,), directory=args.directory, port=args.port)
    except OSError as exc:
        raise UsageError("cannot serve on 127.0.0.1:{}: {}".format(args.port, exc.strerror or exc)) from None
    print("serving {} as {} (its CA: {})".format(args.directory, base_url(federation.port, args.namespace),
                                                 tls.ca), flush=True)
    federation.serve_forever()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
