"""A real loopback HTTP server for tests: canned routes, fault injection, and a record of every request.

    with BoardServer() as server:
        server.route("GET", "/v1/boards/x/jobs", {"jobs": []}, etag='"v1"')
        server.route("GET", "/v0/postings/x", page0, query={"skip": "0"})
        server.fault("/v1/boards/x/jobs", Fault.status(503), Fault.reset())
        url = server.base_url + "/v1/boards/x/jobs"

Routes match the method and the exact URL path; a route registered with `query` also needs those query
parameters (a subset match), and the route with the most matching query keys wins. Each route has a queue
of faults, one consumed per request before the normal reply. Unknown paths get a 404 JSON body. The server
counts requests in flight overall and per Host header. Everything is thread-safe.
"""

from __future__ import annotations

import json
import mimetypes
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support.simulator import QuietHTTPServer


@dataclass(frozen=True)
class RequestInfo:
    """One request as the server saw it. `headers` keys are lower-case; `query` keeps the last value."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    time: float  # time.monotonic() when the request line arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)


ReplySpec = bytes | str | dict[str, Any] | list[Any] | Reply | Callable[[RequestInfo], Any]


@dataclass(frozen=True)
class Fault:
    """Something that goes wrong with one request. Build with the class methods."""

    kind: str
    seconds: float = 0.0
    status_code: int = 0
    headers: dict[str, str] | None = None
    body: bytes = b""

    @classmethod
    def status(cls, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Fault:
        """Answer with this status (and headers, body) instead of the route's reply."""
        return cls("status", status_code=code, headers=headers, body=body)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait, then give the normal reply."""
        return cls("delay", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection (with a TCP reset) without answering."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Say nothing for `seconds` (longer than the client's timeout), then close the connection."""
        return cls("hang", seconds=seconds)

    @classmethod
    def truncate(cls) -> Fault:
        """Declare the full Content-Length but send only half the body, then close."""
        return cls("truncate")


@dataclass
class Route:
    method: str
    path: str
    reply: ReplySpec
    query: dict[str, str] | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    faults: deque[Fault] = field(default_factory=deque)
    hits: int = 0

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        if method != self.method or path != self.path:
            return False
        return all(query.get(k) == v for k, v in (self.query or {}).items())


class BoardServer:
    """ThreadingHTTPServer on 127.0.0.1 (a free port) in a daemon thread; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._routes: list[Route] = []
        self.requests: list[RequestInfo] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_by_host: dict[str, int] = {}
        self.max_in_flight_by_host: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> BoardServer:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        httpd = QuietHTTPServer(("127.0.0.1", 0), handler)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> BoardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """The Host header a client sends: 127.0.0.1:<port>."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # routes ----------------------------------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        reply: ReplySpec,
        *,
        query: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str | None = None,
        faults: tuple[Fault, ...] | list[Fault] = (),
    ) -> Route:
        """Answer `method path` (with `query` a subset of the request's query) with `reply`. Registering
        the same method, path and query again replaces the route."""
        new = Route(method.upper(), path, reply, query, etag, last_modified, content_type, deque(faults))
        with self._lock:
            self._routes = [
                r for r in self._routes if (r.method, r.path, r.query) != (new.method, new.path, new.query)
            ]
            self._routes.append(new)
        return new

    def serve_file(self, path: str, file: str | Path, *, method: str = "GET", **kwargs: Any) -> Route:
        """Serve a file's bytes at `path`, with a content type guessed from its name."""
        file = Path(file)
        kwargs.setdefault("content_type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        return self.route(method, path, file.read_bytes(), **kwargs)

    def fault(
        self, path: str, *faults: Fault, method: str = "GET", query: dict[str, str] | None = None
    ) -> None:
        """Queue faults on an existing route (one consumed per request)."""
        with self._lock:
            for r in self._routes:
                if (r.method, r.path, r.query) == (method.upper(), path, query):
                    r.faults.extend(faults)
                    return
        raise KeyError(f"no route {method} {path} {query or ''}")

    def requests_to(self, path: str, method: str | None = None) -> list[RequestInfo]:
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    # used by the handler ---------------------------------------------------------------------------------

    def _begin(self, info: RequestInfo) -> tuple[Route | None, Fault | None]:
        host = info.headers.get("host", "")
        with self._lock:
            self.requests.append(info)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            now = self.in_flight_by_host.get(host, 0) + 1
            self.in_flight_by_host[host] = now
            self.max_in_flight_by_host[host] = max(self.max_in_flight_by_host.get(host, 0), now)
            candidates = [r for r in self._routes if r.matches(info.method, info.path, info.query)]
            if not candidates:
                return None, None
            route = max(candidates, key=lambda r: len(r.query or {}))
            route.hits += 1
            fault = route.faults.popleft() if route.faults else None
            return route, fault

    def _end(self, info: RequestInfo) -> None:
        host = info.headers.get("host", "")
        with self._lock:
            self.in_flight -= 1
            self.in_flight_by_host[host] -= 1

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _encode(body: Any, content_type: str | None) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, content_type or "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    return json.dumps(body).encode("utf-8"), content_type or "application/json"


class _Handler(BaseHTTPRequestHandler):
    server_ref: BoardServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; do not wait for ACKs

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _handle(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        info = RequestInfo(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            time=started,
        )
        srv = self.server_ref
        route, fault = srv._begin(info)
        self._info: RequestInfo | None = info
        try:
            self._respond(srv, info, route, fault)
        except OSError:  # the client went away (e.g. it timed out first)
            self.close_connection = True
        finally:
            self._ended()

    def _ended(self) -> None:
        """Stop counting the request as in flight (once), just before the client can see its last byte:
        counting after the write lets a fast client start its next request first."""
        info, self._info = getattr(self, "_info", None), None
        if info is not None:
            self.server_ref._end(info)

    def _respond(self, srv: BoardServer, info: RequestInfo, route: Route | None, fault: Fault | None) -> None:
        if fault is not None:
            if fault.kind == "delay":
                srv._wait(fault.seconds)
            elif fault.kind == "status":
                self._send(fault.status_code, fault.body, fault.headers or {}, "text/plain")
                return
            elif fault.kind == "reset":
                self._reset()
                return
            elif fault.kind == "hang":
                srv._wait(fault.seconds)
                self._reset()
                return
        if route is None:
            self._send(404, {"error": "not found", "path": info.path}, {}, None)
            return
        reply = route.reply(info) if callable(route.reply) else route.reply
        if not isinstance(reply, Reply):
            reply = Reply(200, reply)
        headers = dict(reply.headers)
        if reply.status == 200 and route.etag is not None:
            headers.setdefault("ETag", route.etag)
            sent = {t.strip() for t in info.headers.get("if-none-match", "").split(",")}
            if route.etag in sent or "*" in sent:
                self._send(304, b"", headers, None)
                return
        if reply.status == 200 and route.last_modified is not None:
            headers.setdefault("Last-Modified", route.last_modified)
            if (
                info.headers.get("if-modified-since") == route.last_modified
                and "if-none-match" not in info.headers
            ):
                self._send(304, b"", headers, None)
                return
        if fault is not None and fault.kind == "truncate":
            body, ctype = _encode(reply.body, route.content_type)
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self._reset()
            return
        self._send(reply.status, reply.body, headers, route.content_type)

    def _send(self, status: int, body: Any, headers: dict[str, str], content_type: str | None) -> None:
        data, ctype = _encode(body, content_type)
        if status == 304 or self.command == "HEAD":
            data = b"" if status == 304 else data
        self.send_response(status)
        names = {k.lower() for k in headers}
        if "content-type" not in names and status != 304:
            self.send_header("Content-Type", ctype)
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(data)))
        if self.command != "HEAD" and status != 304 and data:
            self.end_headers()
            self.wfile.write(data[:-1])
            self._ended()
            self.wfile.write(data[-1:])
        else:
            self._ended()
            self.end_headers()

    def _reset(self) -> None:
        """Abort the connection with a TCP RST, so the client sees a dead peer, not a clean close."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


__all__ = ["BoardServer", "Fault", "Reply", "RequestInfo", "Route"]
