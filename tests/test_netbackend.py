"""The fetch engine's transport (netbackend.py): httpx2's pool on a backend whose idle-connection check is
one poll of a socket looked up once. It must still notice a server that closed a keep-alive connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from infrasignal.config import FetchConfig, validate
from infrasignal.fetch import Engine
from infrasignal.model import Request
from infrasignal.netbackend import _readable, uses_quick_backend

pytestmark = pytest.mark.anyio


def test_readable_is_false_while_quiet_and_true_on_data_or_close() -> None:
    a, b = socket.socketpair()
    try:
        assert not _readable(a)
        b.sendall(b"x")
        assert _readable(a)
        a.recv(1)
        assert not _readable(a)
        b.close()
        assert _readable(a)  # the b"" of a closed connection is waiting
    finally:
        a.close()
        b.close()


class _OneAnswerPerConnection:
    """A loopback HTTP/1.1 server that answers one request per connection and then closes it without a
    `Connection: close` header: the client keeps the connection as idle, and must notice it closed."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                )

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def one_answer_server() -> Iterator[_OneAnswerPerConnection]:
    server = _OneAnswerPerConnection()
    yield server
    server.close()


async def test_the_engine_pool_runs_on_the_quick_backend_and_drops_connections_the_server_closed(
    one_answer_server: _OneAnswerPerConnection,
) -> None:
    import anyio

    cfg = validate(FetchConfig, {"retries": 0, "timeout": 2.0, "robots": False})
    async with Engine(cfg) as engine:
        assert engine._client is not None
        assert uses_quick_backend(engine._client._transport)
        for _ in range(3):
            response = await engine.send(Request(one_answer_server.url))
            assert response.status == 200
            await anyio.sleep(0.05)  # the server has closed the connection the client keeps as idle
    # With retries off, a request sent on a connection the server had closed would have failed.
    assert one_answer_server.connections == 3
