"""The offline demo: a loopback server that answers at the real ATS API paths from the bundled fixtures,
and a two-day scrape against it (`--as-of`), so `make demo` shows the whole flow without a network.

Fixtures live in `fixtures/<ats>/<token>/day<N>.json` (repository) or `infrasignal/fixtures/...` (wheel).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# The demo watchlist: (company, ats, token). Their fixtures are in fixtures/<ats>/<token>/.
DEMO_BOARDS = [
    ("Anthropic", "greenhouse", "anthropic"),
    ("Lattice Compute", "lever", "lattice-compute"),
    ("OpenAI", "ashby", "openai"),
]
DEMO_DAYS = ["2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z"]


def fixtures_dir() -> Path:
    """Bundled fixtures: inside the installed package, else the repository's `fixtures/`."""
    packaged = Path(__file__).parent / "fixtures"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "fixtures"


@dataclass
class Route:
    ats: str
    token: str


def _route(path: str) -> Route | None:
    """Which board a real API path asks for."""
    parts = [unquote(p) for p in path.split("/") if p]
    if len(parts) == 4 and parts[:2] == ["v1", "boards"] and parts[3] == "jobs":
        return Route("greenhouse", parts[2])
    if len(parts) == 3 and parts[:2] == ["v0", "postings"]:
        return Route("lever", parts[2])
    if len(parts) == 3 and parts[:2] == ["posting-api", "job-board"]:
        return Route("ashby", parts[2])
    return None


class FixtureServer:
    """Serves `fixtures/<ats>/<token>/day<N>.json` for the current day at the real API paths, with ETags,
    and Lever's skip/limit paging sliced out of the day's array."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.day = 1
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _body(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        route = _route(path)
        if route is None:
            return 404, b'{"error": "not found"}'
        file = self.root / route.ats / route.token / f"day{self.day}.json"
        if not file.exists():
            return 404, b'{"status": 404, "error": "Job board not found"}'
        body = file.read_bytes()
        if route.ats == "lever":
            jobs: list[Any] = json.loads(body)
            skip = int(query.get("skip", ["0"])[0])
            limit = int(query.get("limit", [str(len(jobs) or 1)])[0])
            body = json.dumps(jobs[skip : skip + limit]).encode()
        return 200, body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                status, body = server._body(url.path, parse_qs(url.query))
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints its own story
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[FixtureServer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def demo_config_text(base_url: str, database: str) -> str:
    """A config.toml pointing the demo watchlist at the loopback server."""
    lines = [
        "[storage]",
        f"database = {json.dumps(database)}",
        "",
        "[fetch]",
        "concurrency = 4",
        "per_host = 4",
        "timeout = 5.0",
        "retries = 1",
        "",
    ]
    for company, ats, token in DEMO_BOARDS:
        lines += [
            "[[boards]]",
            f"company = {json.dumps(company)}",
            f'ats = "{ats}"',
            f"token = {json.dumps(token)}",
        ]
        lines.append(f"base_url = {json.dumps(base_url)}")
        if ats == "lever":
            lines.append("params = { page_size = 5 }")  # show paging on a small board
        lines.append("")
    return "\n".join(lines)
