"""The HTTP engine against a real loopback server: retries, Retry-After, limits, ETags, size cap, robots."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from infrasignal.config import FetchConfig, validate
from infrasignal.fetch import Engine, FetchError, Validators, parse_retry_after
from infrasignal.model import Request
from support.boardserver import BoardServer, Fault, Reply, RequestInfo

pytestmark = pytest.mark.anyio

MakeServer = Callable[[], BoardServer]
UA = "infrasignal-test/1.0 (+mailto:test@example.com)"


def config(**overrides: object) -> FetchConfig:
    values: dict[str, object] = {
        "timeout": 0.5,
        "connect_timeout": 0.5,
        "retries": 2,
        "backoff": 0.01,
        "max_retry_after": 10.0,
        "user_agent": UA,
    }
    values.update(overrides)
    return validate(FetchConfig, values)


class RecordSleep:
    """An injected sleep that records the delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_retries_then_success(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {"jobs": [1]}, faults=[Fault.status(503), Fault.reset()])
    sleep = RecordSleep()
    async with Engine(config(retries=3, backoff=0.1), sleep=sleep) as engine:
        response = await engine.send(Request(board_server.url("/jobs")))
    assert response.status == 200
    assert response.content == b'{"jobs": [1]}'
    assert response.attempts == 3
    assert len(board_server.requests_to("/jobs")) == 3
    # exponential backoff with up to 50% jitter: 0.1-0.15, then 0.2-0.3
    assert len(sleep.delays) == 2
    assert 0.1 <= sleep.delays[0] <= 0.15
    assert 0.2 <= sleep.delays[1] <= 0.3


async def test_truncated_body_is_retried(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", "x" * 4000, faults=[Fault.truncate()])
    async with Engine(config(), sleep=RecordSleep()) as engine:
        response = await engine.send(Request(board_server.url("/jobs")))
    assert response.content == b"x" * 4000
    assert response.attempts == 2


async def test_gives_up_after_bounded_retries(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {}, faults=[Fault.status(502)] * 5)
    sleep = RecordSleep()
    async with Engine(config(retries=2), sleep=sleep) as engine:
        with pytest.raises(FetchError) as info:
            await engine.send(Request(board_server.url("/jobs")))
    assert str(info.value) == f"HTTP 502 from {board_server.url('/jobs')} after 3 attempts"
    assert info.value.status == 502
    assert len(board_server.requests_to("/jobs")) == 3
    assert len(sleep.delays) == 2


async def test_404_is_not_retried(board_server: BoardServer) -> None:
    sleep = RecordSleep()
    async with Engine(config(retries=3), sleep=sleep) as engine:
        with pytest.raises(FetchError) as info:
            await engine.send(Request(board_server.url("/v1/boards/x/jobs")))
    assert info.value.message == f"HTTP 404 from {board_server.base_url}/v1/boards/x/jobs"
    assert info.value.status == 404
    # one request reached the server: the 404 was not retried (on a loaded machine a connection attempt
    # may still be retried before it, so the recorded backoff is not asserted)
    assert len(board_server.requests) == 1


async def test_retry_after_seconds_and_date_are_honoured(board_server: BoardServer) -> None:
    later = formatdate(time.time() + 30, usegmt=True)
    board_server.route(
        "GET",
        "/jobs",
        {},
        faults=[Fault.status(429, {"Retry-After": "7"}), Fault.status(503, {"Retry-After": later})],
    )
    sleep = RecordSleep()
    async with Engine(config(retries=3, max_retry_after=60), sleep=sleep) as engine:
        response = await engine.send(Request(board_server.url("/jobs")))
    assert response.attempts == 3
    assert sleep.delays[0] == 7.0
    assert 27 <= sleep.delays[1] <= 31


async def test_retry_after_is_waited_for_on_the_wire(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {}, faults=[Fault.status(503, {"Retry-After": "0.3"})])
    async with Engine(config()) as engine:  # the real asyncio.sleep
        await engine.send(Request(board_server.url("/jobs")))
    first, second = board_server.requests_to("/jobs")
    assert second.time - first.time >= 0.9 * 0.3


async def test_retry_after_over_the_cap_fails_fast(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {}, faults=[Fault.status(429, {"Retry-After": "3600"})])
    sleep = RecordSleep()
    async with Engine(config(max_retry_after=5), sleep=sleep) as engine:
        with pytest.raises(FetchError, match=r"Retry-After 3600s, over max_retry_after 5s") as info:
            await engine.send(Request(board_server.url("/jobs")))
    assert info.value.status == 429
    assert sleep.delays == []
    assert len(board_server.requests) == 1


async def test_slots_are_released_while_sleeping_for_backoff(board_server: BoardServer) -> None:
    board_server.route("GET", "/a", "a", faults=[Fault.status(503, {"Retry-After": "0.3"})])
    board_server.route("GET", "/b", "b")
    async with Engine(config(concurrency=1, per_host=1)) as engine:

        async def later_b() -> bytes:
            await asyncio.sleep(0.05)
            return (await engine.send(Request(board_server.url("/b")))).content

        a, b = await asyncio.gather(engine.send(Request(board_server.url("/a"))), later_b())
    assert (a.content, b) == (b"a", b"b")
    assert [r.path for r in board_server.requests] == ["/a", "/b", "/a"]


async def test_timeout_fails_with_a_clear_error(board_server: BoardServer) -> None:
    board_server.route("GET", "/slow", {}, faults=[Fault.hang(3), Fault.hang(3)])
    async with Engine(config(timeout=0.2, retries=1), sleep=RecordSleep()) as engine:
        with pytest.raises(FetchError) as info:
            await engine.send(Request(board_server.url("/slow")))
    assert info.value.message.startswith(
        f"timed out after 2 attempts: {board_server.url('/slow')} (ReadTimeout"
    )
    assert info.value.status is None


async def test_connection_refused_fails_with_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with Engine(config(retries=1), sleep=RecordSleep()) as engine:
        with pytest.raises(
            FetchError, match=rf"^connection failed after 2 attempts: http://127.0.0.1:{port}/x"
        ):
            await engine.send(Request(f"http://127.0.0.1:{port}/x"))


async def test_concurrency_stays_within_global_and_per_host_limits(make_board_server: MakeServer) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(info: RequestInfo) -> Reply:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return Reply(200, {"path": info.path})

    servers: list[BoardServer] = [make_board_server(), make_board_server()]
    for server in servers:
        server.route("GET", "/job", slow)
    # all of the first host's requests queue first: only the per-host limit keeps it at 2 of the 3 slots
    requests = [Request(servers[i // 10].url("/job")) for i in range(20)]
    async with Engine(config(concurrency=3, per_host=2)) as engine:
        responses = await asyncio.gather(*(engine.send(r) for r in requests))
    assert all(r.status == 200 for r in responses)
    assert state["max"] == 3  # the global limit, reached but never passed (hosts allow 2 + 2)
    for server in servers:
        assert len(server.requests) == 10
        assert server.max_in_flight_by_host == {server.host: 2}


async def test_user_agent_and_params_are_sent(board_server: BoardServer) -> None:
    board_server.route("GET", "/v0/postings/x", ["page0"], query={"skip": "0"})
    board_server.route("GET", "/v0/postings/x", ["page1"], query={"skip": "100"})
    async with Engine(config()) as engine:
        response = await engine.send(Request(board_server.url("/v0/postings/x"), params={"skip": 100}))
    assert response.content == b'["page1"]'
    seen = board_server.requests[0]
    assert seen.headers["user-agent"] == UA
    assert seen.query == {"skip": "100"}


async def test_etag_round_trip_gives_not_modified(board_server: BoardServer) -> None:
    board_server.route(
        "GET", "/board", {"jobs": []}, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT"
    )
    url = board_server.url("/board")
    async with Engine(config()) as engine:
        first = await engine.send(Request(url, conditional=True))
        assert (first.status, first.not_modified, first.etag) == (200, False, '"v1"')
        validators = Validators(first.etag, first.last_modified)
        second = await engine.send(Request(url, conditional=True), validators)
        plain = await engine.send(Request(url), validators)  # not conditional: validators are not sent
    assert second.not_modified and second.status == 304 and second.content == b""
    assert second.etag == '"v1"' and second.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert board_server.requests[1].headers["if-none-match"] == '"v1"'
    assert board_server.requests[1].headers["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert plain.status == 200 and "if-none-match" not in board_server.requests[2].headers


async def test_unrequested_304_is_an_error(board_server: BoardServer) -> None:
    board_server.route("GET", "/board", {}, faults=[Fault.status(304)])
    async with Engine(config()) as engine:
        with pytest.raises(FetchError, match="HTTP 304 from"):
            await engine.send(Request(board_server.url("/board")))


async def test_declared_size_over_the_cap_is_refused(board_server: BoardServer) -> None:
    board_server.route("GET", "/big", b"x" * 5000)
    async with Engine(config(max_bytes=1024)) as engine:
        with pytest.raises(FetchError, match=r"is 5000 bytes, over max_bytes 1024"):
            await engine.send(Request(board_server.url("/big")))
    assert len(board_server.requests) == 1


async def test_streamed_size_over_the_cap_is_refused(board_server: BoardServer) -> None:
    bomb = gzip.compress(b"0" * 100_000)  # small on the wire, big once decoded
    board_server.route("GET", "/bomb", Reply(200, bomb, {"Content-Encoding": "gzip"}))
    async with Engine(config(max_bytes=4096)) as engine:
        with pytest.raises(FetchError, match=r"exceeds max_bytes 4096"):
            await engine.send(Request(board_server.url("/bomb")))


async def test_robots_disallow_and_allow(board_server: BoardServer) -> None:
    board_server.route("GET", "/robots.txt", "User-agent: *\nDisallow: /private\n")
    board_server.route("GET", "/careers", "<html>jobs</html>")
    async with Engine(config()) as engine:
        with pytest.raises(FetchError) as info:
            await engine.send(Request(board_server.url("/private/jobs"), robots=True))
        ok = await engine.send(Request(board_server.url("/careers"), robots=True))
    assert info.value.message == "robots.txt of 127.0.0.1 disallows /private/jobs"
    assert ok.content == b"<html>jobs</html>"
    assert len(board_server.requests_to("/robots.txt")) == 1  # cached per host
    assert board_server.requests_to("/private/jobs") == []


async def test_robots_rules_for_our_user_agent(board_server: BoardServer) -> None:
    board_server.route(
        "GET",
        "/robots.txt",
        "User-agent: otherbot\nDisallow: /\n\nUser-agent: infrasignal-test\nDisallow: /careers\n",
    )
    async with Engine(config()) as engine:
        with pytest.raises(FetchError, match="disallows /careers"):
            await engine.send(Request(board_server.url("/careers"), robots=True))


async def test_robots_missing_allows_all_and_server_error_disallows(make_board_server: MakeServer) -> None:
    missing, broken = make_board_server(), make_board_server()
    missing.route("GET", "/careers", "ok")
    broken.route("GET", "/careers", "ok")
    broken.route("GET", "/robots.txt", "", faults=[Fault.status(500)] * 5)
    async with Engine(config(retries=1), sleep=RecordSleep()) as engine:
        assert (await engine.send(Request(missing.url("/careers"), robots=True))).content == b"ok"
        with pytest.raises(FetchError, match=r"robots.txt of 127.0.0.1 unavailable \(HTTP 500 .*to be safe"):
            await engine.send(Request(broken.url("/careers"), robots=True))
    assert broken.requests_to("/careers") == []


async def test_robots_not_checked_when_disabled(board_server: BoardServer) -> None:
    board_server.route("GET", "/robots.txt", "User-agent: *\nDisallow: /\n")
    board_server.route("GET", "/careers", "ok")
    async with Engine(config(robots=False)) as engine:
        await engine.send(Request(board_server.url("/careers"), robots=True))
    assert board_server.requests_to("/robots.txt") == []


async def test_engine_must_be_entered() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await Engine(config()).send(Request("http://127.0.0.1:1/"))


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
