"""Shared pytest fixtures: loopback board servers and the anyio backend (asyncio only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from support.boardserver import BoardServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def board_server() -> Iterator[BoardServer]:
    """A started loopback server, stopped after the test."""
    with BoardServer() as server:
        yield server


@pytest.fixture
def make_board_server() -> Iterator[Callable[[], BoardServer]]:
    """A factory for more servers (each on its own port, i.e. its own host); all stopped after the test."""
    servers: list[BoardServer] = []

    def make() -> BoardServer:
        server = BoardServer().start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
