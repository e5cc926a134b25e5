"""The fetch engine's HTTP transport: httpx2's own, on httpcore2's anyio network backend, with one check
made cheap.

Whenever a request arrives and whenever a response ends, httpcore2's connection pool asks every idle
keep-alive connection whether its socket has become readable (the server closed it). The anyio stream
answers by building its whole table of socket attributes, a getpeername() call among them, only to find
the socket: 17,000 times on a round of 1,000 conditional GETs over 16 connections, about a tenth of an
unchanged re-scrape's CPU. Here each stream looks its socket up once, when it is opened, and the check is
one zero-timeout poll(), as httpcore2's own.

`pooled_transport(limits)` is what `httpx2.AsyncClient` would build by default, with this backend. Should a
future httpx2 build its pool elsewhere, the transport keeps httpx2's backend (`uses_quick_backend` tells,
and a test checks it).
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2


class _Stream(httpcore2.AsyncNetworkStream):
    """An anyio stream from httpcore2's backend, with its socket kept at hand for the readability check."""

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    """Whether a recv() would return at once (data, or the b"" of a closed connection)."""
    fd = sock.fileno()
    if fd < 0:
        return True  # closed here: as good as closed by the server
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


class QuickBackend(httpcore2.AnyIOBackend):
    """httpcore2's anyio backend whose streams answer "is_readable" without an attribute table."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await super().connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await super().connect_unix_socket(path, timeout, socket_options))


def pooled_transport(limits: httpx2.Limits) -> httpx2.AsyncHTTPTransport:
    """httpx2's default transport with these limits, its connection pool on QuickBackend."""
    transport = httpx2.AsyncHTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore2.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = QuickBackend()
    return transport


def uses_quick_backend(transport: httpx2.AsyncBaseTransport) -> bool:
    pool = getattr(transport, "_pool", None)
    return isinstance(getattr(pool, "_network_backend", None), QuickBackend)
