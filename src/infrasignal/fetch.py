"""The HTTP engine: the only code in infrasignal that touches the network.

`Engine` owns one `httpx2.AsyncClient` and sends the `Request`s that sources build. It enforces a global and
a per-host (host:port) concurrency limit, holding both while a request is in flight (body included) but not
while it sleeps between retries; retries connection errors, timeouts, 429 and 500-504 a bounded number of
times with jittered exponential backoff, honouring `Retry-After`; sends stored validators for conditional
requests (a 304 is a success); caps the body size; and checks robots.txt for requests that ask for it.
Every failure is a `FetchError` with a one-line message naming the URL.

Settings read from `FetchConfig`: concurrency, per_host, timeout, connect_timeout, retries, backoff,
max_retry_after, max_bytes, user_agent, robots.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx2
from protego import Protego

from infrasignal.config import FetchConfig
from infrasignal.model import Request

RETRY_STATUSES = frozenset({429, 500, 501, 502, 503, 504})
_MAX_MESSAGE = 200
_DISCARD_MAX = 64 * 1024  # error bodies up to this size are read so that the connection can be reused


class FetchError(Exception):
    """A request that failed for good (after any retries). `status` is the last HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Validators:
    """What the store remembers of a board's last response, for a conditional request."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(slots=True)
class Response:
    """A successful response (2xx, or 304 to a conditional request), body fully read."""

    status: int
    content: bytes
    headers: httpx2.Headers
    url: str
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    attempts: int = 1


class _Retry(Exception):
    """One attempt failed in a way worth retrying; `delay` is the server's Retry-After when it gave one.
    The final message reads `<what> after N attempts<detail>`."""

    def __init__(self, what: str, detail: str = "", status: int | None = None, delay: float | None = None):
        super().__init__(what)
        self.what = what
        self.detail = detail
        self.status = status
        self.delay = delay


class Engine:
    """Sends requests with limits, retries, conditional GET, a size cap and robots.txt. Use as
    `async with Engine(cfg) as engine: response = await engine.send(request)`."""

    def __init__(
        self,
        cfg: FetchConfig,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.cfg = cfg
        self._transport = transport
        self._sleep = sleep
        self._random = random.Random()
        self._client: httpx2.AsyncClient | None = None
        self._global = asyncio.Semaphore(cfg.concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._robots: dict[str, Protego | str] = {}  # origin -> rules, or why they could not be read
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Self:
        from infrasignal.netbackend import pooled_transport

        limits = httpx2.Limits(
            max_connections=self.cfg.concurrency, max_keepalive_connections=self.cfg.concurrency
        )
        self._client = httpx2.AsyncClient(
            transport=self._transport or pooled_transport(limits),
            timeout=httpx2.Timeout(self.cfg.timeout, connect=self.cfg.connect_timeout),
            headers={"User-Agent": self.cfg.user_agent},
            follow_redirects=True,
            limits=limits,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, request: Request, validators: Validators | None = None) -> Response:
        """Send `request`; return the response or raise FetchError (see the module docstring)."""
        if request.robots and self.cfg.robots:
            await self._check_robots(request.url)
        headers = dict(request.headers or {})
        sent: Validators | None = None  # only a request that carried validators may get a 304
        if request.conditional and validators is not None and (validators.etag or validators.last_modified):
            sent = validators
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        return await self._send_with_retries(request, headers, sent)

    async def _send_with_retries(
        self, request: Request, headers: dict[str, str], validators: Validators | None
    ) -> Response:
        client = self._require_client()
        try:
            http_request = client.build_request(
                request.method, request.url, params=request.params, json=request.json, headers=headers
            )
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise FetchError(f"invalid request for {request.url}: {_one_line(exc)}") from None
        url = str(http_request.url)
        attempts_allowed = self.cfg.retries + 1
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(http_request, url, validators)
                response.attempts = attempt
                return response
            except _Retry as retry:
                if attempt >= attempts_allowed:
                    message = f"{retry.what} after {_times(attempt)}{retry.detail}"
                    raise FetchError(message, retry.status) from None
                delay = retry.delay if retry.delay is not None else self._backoff(attempt)
                await self._sleep(delay)

    async def _attempt(
        self, http_request: httpx2.Request, url: str, validators: Validators | None
    ) -> Response:
        """One try: holds the per-host and global slots (in that order) until the body is read."""
        client = self._require_client()
        async with self._host_slot(http_request.url), self._global:
            try:
                resp = await client.send(http_request, stream=True)
            except httpx2.TimeoutException as exc:
                raise _Retry("timed out", f": {url} ({_kind(exc)})") from None
            except (httpx2.UnsupportedProtocol, httpx2.ProxyError) as exc:
                raise FetchError(f"cannot fetch {url}: {_kind(exc)}") from None
            except httpx2.TransportError as exc:
                raise _Retry("connection failed", f": {url} ({_kind(exc)})") from None
            except httpx2.HTTPError as exc:  # e.g. TooManyRedirects: retrying will not help
                raise FetchError(f"cannot fetch {url}: {_kind(exc)}") from None
            try:
                return await self._read(resp, url, validators)
            finally:
                await resp.aclose()

    async def _read(self, resp: httpx2.Response, url: str, validators: Validators | None) -> Response:
        status = resp.status_code
        etag = resp.headers.get("ETag")
        last_modified = resp.headers.get("Last-Modified")
        if status == 304 and validators is not None:
            # A 304 has no body, but the connection goes back to the pool only once the response is read
            # to its end: closed unread, it is dropped and the next request opens a new one.
            await self._read_capped(resp, url)
            return Response(
                status=status,
                content=b"",
                headers=resp.headers,
                url=str(resp.url),
                not_modified=True,
                etag=etag or validators.etag,
                last_modified=last_modified or validators.last_modified,
            )
        if not 200 <= status < 300:
            await _discard(resp)
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status} from {url}", "", status, self._retry_after(resp, url))
        if not 200 <= status < 300:
            raise FetchError(f"HTTP {status} from {url}", status)
        content = await self._read_capped(resp, url)
        return Response(
            status=status,
            content=content,
            headers=resp.headers,
            url=str(resp.url),
            etag=etag,
            last_modified=last_modified,
        )

    async def _read_capped(self, resp: httpx2.Response, url: str) -> bytes:
        """The decoded body, refusing anything over max_bytes (declared or actual)."""
        cap = self.cfg.max_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(
                f"response from {url} is {declared} bytes, over max_bytes {cap}", resp.status_code
            )
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"response from {url} exceeds max_bytes {cap}", resp.status_code)
                chunks.append(chunk)
        except httpx2.TimeoutException as exc:
            raise _Retry("timed out reading the body", f": {url} ({_kind(exc)})") from None
        except httpx2.DecodingError as exc:
            raise FetchError(f"cannot decode body of {url}: {_one_line(exc)}", resp.status_code) from None
        except httpx2.TransportError as exc:
            raise _Retry("connection failed reading the body", f": {url} ({_kind(exc)})") from None
        return b"".join(chunks)

    def _retry_after(self, resp: httpx2.Response, url: str) -> float | None:
        """Seconds the server asked us to wait, or None; a wait over max_retry_after fails now."""
        delay = parse_retry_after(resp.headers.get("Retry-After"))
        if delay is not None and delay > self.cfg.max_retry_after:
            raise FetchError(
                f"HTTP {resp.status_code} from {url} with Retry-After {delay:.0f}s, "
                f"over max_retry_after {self.cfg.max_retry_after:g}s",
                resp.status_code,
            )
        return delay

    def _backoff(self, attempt: int) -> float:
        """backoff, doubled per attempt, plus up to 50% jitter; capped near max_retry_after."""
        base = self.cfg.backoff * 2 ** (attempt - 1)
        base = min(base, max(self.cfg.max_retry_after, self.cfg.backoff))
        return base * self._random.uniform(1.0, 1.5)

    def _host_slot(self, url: httpx2.URL) -> asyncio.Semaphore:
        key = host_key(url)
        slot = self._per_host.get(key)
        if slot is None:
            slot = self._per_host[key] = asyncio.Semaphore(self.cfg.per_host)
        return slot

    def _require_client(self) -> httpx2.AsyncClient:
        if self._client is None:
            raise RuntimeError("Engine used outside `async with Engine(...)`")
        return self._client

    async def _check_robots(self, url: str) -> None:
        parsed = httpx2.URL(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin)
        rules = self._robots[origin]
        path = parsed.raw_path.decode("ascii")
        if isinstance(rules, str):
            raise FetchError(
                f"robots.txt of {parsed.host} unavailable ({rules}); not fetching {path} to be safe"
            )
        if not rules.can_fetch(url, self.cfg.user_agent):
            raise FetchError(f"robots.txt of {parsed.host} disallows {path}")

    async def _load_robots(self, origin: str) -> Protego | str:
        """Rules from origin/robots.txt: a 4xx (but 429) allows everything; other failures are a reason."""
        try:
            response = await self._send_with_retries(Request(f"{origin}/robots.txt"), {}, None)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return Protego.parse("")
            return exc.message
        try:
            return Protego.parse(response.content.decode("utf-8", "replace"))
        except Exception as exc:  # a hostile robots.txt must not crash a run; treat it as unreadable
            return f"unparsable: {_one_line(exc)}"


async def _discard(resp: httpx2.Response) -> None:
    """Read and drop a small error body (up to _DISCARD_MAX bytes, for at most a second): the connection
    then goes back to the pool, instead of being closed with the body unread, which resets it under the
    server."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > _DISCARD_MAX:
        return
    size = 0
    with contextlib.suppress(httpx2.HTTPError, TimeoutError):
        async with asyncio.timeout(1.0):
            async for chunk in resp.aiter_raw():
                size += len(chunk)
                if size > _DISCARD_MAX:
                    return


def host_key(url: httpx2.URL) -> str:
    """host:port, the unit of the per-host limit (two loopback servers are two hosts)."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    return f"{url.host}:{port}"


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds from now (delay-seconds or an HTTP-date); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - time.time())
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def _kind(exc: Exception) -> str:
    detail = _one_line(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _one_line(exc: object) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _times(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


__all__ = ["Engine", "FetchError", "Response", "Validators", "host_key", "parse_retry_after"]
