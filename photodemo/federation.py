"""A Pelican federation on 127.0.0.1 that serves a directory, as the OSDF serves /ospool/...: for `make demo`.

    python -m photodemo.federation --port PORT --directory DIR [--namespace /ospool/uw-shared/public/demo]

One server plays every part a job meets (see payload/luminance/pelican.py):
  GET /.well-known/pelican-configuration   the discovery document, naming this server as director;
  GET NAMESPACE/PATH                       the director's answer: 307 to the cache, with the Link
                                           and X-Pelican-Namespace headers Pelican's director sends;
  GET /cache/NAMESPACE/PATH                the cache: the file DIR/PATH;
  anything else                            the file at that path in DIR, as `python -m http.server`.
A job reads its objects as pelican://127.0.0.1:PORT/NAMESPACE/PATH.
"""

import argparse
import functools
import http.server
import json
import os
import posixpath
import urllib.parse
from typing import Optional, Sequence

from luminance import command
from luminance.arguments import whole_number
from luminance.errors import EXIT_OK, UsageError

__all__ = ["DEFAULT_NAMESPACE", "CACHE_PREFIX", "EXIT_CODES", "make_server", "base_url", "main"]

DEFAULT_NAMESPACE = "/ospool/uw-shared/public/demo"
CACHE_PREFIX = "/cache"
DISCOVERY = "/.well-known/pelican-configuration"
EXIT_CODES = {EXIT_OK: "stopped (it serves until Ctrl-C or SIGTERM)"}


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real cache
    namespace = DEFAULT_NAMESPACE

    def log_message(self, format, *args):  # noqa: A002  (quiet: the demo prints its own lines)
        pass

    def do_GET(self):
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        origin = "http://{}:{}".format(*self.server.server_address[:2])
        if path == DISCOVERY:
            return self._answer(200, {"Content-Type": "application/json"},
                                json.dumps({"director_endpoint": origin}).encode())
        if path.startswith(self.namespace + "/"):
            cache = origin + CACHE_PREFIX + urllib.parse.quote(path)
            return self._answer(307, {
                "Location": cache,
                "Link": '<{}>; rel="duplicate"; pri=1; depth={}'.format(cache, self.namespace.count("/")),
                "X-Pelican-Namespace": "namespace={}, require-token=false".format(self.namespace)})
        return super().do_GET()

    def translate_path(self, path):
        # The cache's objects are the directory's files, below the namespace.
        name = urllib.parse.unquote(path.split("?", 1)[0])
        prefix = CACHE_PREFIX + self.namespace + "/"
        if name.startswith(prefix):
            path = "/" + urllib.parse.quote(posixpath.normpath(name[len(prefix):]).lstrip("/"))
        return super().translate_path(path)

    def _answer(self, status, headers, body=b""):
        self.send_response(status)
        for name, value in dict(headers, **{"Content-Length": str(len(body))}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def make_server(directory: str, port: int = 0, namespace: str = DEFAULT_NAMESPACE) -> http.server.HTTPServer:
    """The federation's server for DIRECTORY on 127.0.0.1:PORT (0: a free port), not yet serving."""
    handler = type("Handler", (_Handler,), {"namespace": "/" + namespace.strip("/")})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                             functools.partial(handler, directory=directory))
    server.daemon_threads = True
    return server


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
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    return command.run(parser(), _serve, argv, interrupted="stopped")


def _serve(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.directory):  # else every object would be a quiet 404
        raise UsageError("{}: not a directory".format(args.directory))
    try:
        server = make_server(args.directory, args.port, args.namespace)
    except OSError as exc:
        raise UsageError("cannot serve on 127.0.0.1:{}: {}".format(args.port, exc.strerror or exc)) from None
    with server:
        print("serving {} as {}".format(args.directory, base_url(server.server_address[1], args.namespace)),
              flush=True)
        server.serve_forever()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
