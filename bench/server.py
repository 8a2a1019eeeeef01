"""A lean HTTP/1.1 server on 127.0.0.1 for the benchmark: photos from memory, keep-alive, a fixed
latency added to every request (the storage server's round trip).

The tests' PhotoServer (tests/httpserver.py) parses each request with http.server and a thread per
connection, which costs several times this server's CPU per photo, taken from the cores the job's
decoders need. The real storage server does not run on the worker, so the benchmark serves from
this one and prints what it cost (the "server ... ms CPU/photo" of its rows), to measure the job
rather than its server.

    with Server(latency=0.05) as server:
        url = server.add("/a.jpg", jpeg_bytes)
"""

import asyncio
import threading
import time
from typing import Dict, Optional

_HEAD = ("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
         "Connection: keep-alive\r\n\r\n")


class _Connection(asyncio.Protocol):
    def __init__(self, server: "Server"):
        self.server, self.buffer, self.transport = server, b"", None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            parts = head.split(b" ", 2)
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            if path.startswith("http://"):  # asked as a proxy
                path = "/" + path.split("/", 3)[3]
            if self.server.latency:
                self.server.loop.call_later(self.server.latency, self.respond, path)
            else:
                self.respond(path)

    def respond(self, path: str):
        if self.transport.is_closing():
            return
        path = path.split("?", 1)[0]
        response = self.server.responses.get(path)
        if response is None:
            response = _HEAD.format(404, "Not Found", "text/plain", 10).encode() + b"not found\n"
        self.transport.write(response)


class Server:
    """The benchmark's HTTP server, on a free port, in a thread with its own event loop."""

    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.responses: Dict[str, bytes] = {}  # path -> the whole response, head and body
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(self.loop.create_server(
            lambda: _Connection(self), "127.0.0.1", 0, backlog=128))
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def add(self, path: str, body: bytes, content_type: str = "image/jpeg",
            headers: Optional[Dict[str, str]] = None) -> str:
        head = _HEAD.format(200, "OK", content_type, len(body))
        if headers:  # before the blank line that ends the head
            head = head[:-2] + "".join("{}: {}\r\n".format(*item) for item in headers.items()) + "\r\n"
        self.responses[path] = head.encode() + body
        return "http://127.0.0.1:{}{}".format(self.port, path)

    def urls(self) -> list:
        """The URL of every photo added, in the order added."""
        return ["http://127.0.0.1:{}{}".format(self.port, path) for path in self.responses]

    def thread_cpu(self) -> float:
        """Seconds of CPU the server's thread has used so far."""
        return self._call(time.thread_time)

    def _call(self, function):
        future = asyncio.run_coroutine_threadsafe(self._run(function), self.loop)
        return future.result(timeout=10)

    async def _run(self, function):
        return function()

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
