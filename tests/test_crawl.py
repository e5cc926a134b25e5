"""The crawl driver against a real loopback server, with a tiny fake source paged by a query parameter."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest

from infrasignal import crawl
from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine, Validators
from infrasignal.model import Page, Posting, Request
from infrasignal.sources.base import Source, load_json
from support.boardserver import BoardServer, Fault

pytestmark = pytest.mark.anyio

CFG = validate(
    FetchConfig,
    {"timeout": 0.5, "connect_timeout": 0.5, "retries": 0, "backoff": 0.01, "concurrency": 8, "per_host": 8},
)


class PagedSource(Source):
    """GET /jobs?page=N -> {"jobs": [{id, title, needs_detail?}], "next": N+1 | null, "total"?, "truncated"?};
    GET /jobs/<id> -> {"description": ..., "location": ...}."""

    name = "fake"
    api_base = "https://jobs.example.invalid"

    def first_request(self, board: BoardConfig) -> Request:
        return Request(self.api_url(board, "/jobs"), params={"page": 0}, conditional=True)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = load_json(body, "fake jobs")
        postings = [
            Posting(
                external_id=str(job["id"]),
                title=job["title"],
                url=f"https://jobs.example.invalid/{job['id']}",
                locations=["3 Locations"] if job.get("needs_detail") else [],
                needs_detail=bool(job.get("needs_detail")),
            )
            for job in data["jobs"]
        ]
        nxt = None if data.get("next") is None else Request(request.url, params={"page": data["next"]})
        return Page(postings, nxt, data.get("total"), bool(data.get("truncated")))

    def detail_request(self, board: BoardConfig, posting: Posting) -> Request | None:
        return Request(self.api_url(board, f"/jobs/{posting.external_id}"))

    def parse_detail(self, board: BoardConfig, posting: Posting, body: bytes) -> Posting:
        data = load_json(body, "fake job")
        return dataclasses.replace(posting, description=data["description"], locations=[data["location"]])


SOURCE = PagedSource()


def board_for(server: BoardServer) -> BoardConfig:
    return BoardConfig(company="Acme", ats="greenhouse", token="acme", base_url=server.base_url)


def jobs(*ids: int, needs_detail: bool = False) -> list[dict[str, Any]]:
    return [{"id": i, "title": f"Job {i}", "needs_detail": needs_detail} for i in ids]


def serve_pages(server: BoardServer, *pages: dict[str, Any]) -> None:
    for n, page in enumerate(pages):
        server.route(
            "GET", "/jobs", {"next": n + 1 if n + 1 < len(pages) else None, **page}, query={"page": str(n)}
        )


async def crawl_it(server: BoardServer, source: Source = SOURCE, **kwargs: Any) -> BoardFetch:
    async with Engine(CFG) as engine:
        return await crawl_board(engine, source, board_for(server), **kwargs)


async def test_multi_page_board(board_server: BoardServer) -> None:
    serve_pages(board_server, {"jobs": jobs(1, 2), "total": 5}, {"jobs": jobs(3, 4)}, {"jobs": jobs(5)})
    result = await crawl_it(board_server)
    assert result.status == "ok" and result.complete and result.error is None
    assert [p.external_id for p in result.postings] == ["1", "2", "3", "4", "5"]
    assert (result.pages, result.requests, result.http_status) == (3, 3, 200)
    assert result.body_hash is None  # several pages: no single body to compare next time
    assert [r.query["page"] for r in board_server.requests] == ["0", "1", "2"]
    assert result.board == "Acme" and result.duration > 0


async def test_single_page_board_records_body_hash_and_etag(board_server: BoardServer) -> None:
    body = json.dumps({"jobs": jobs(1), "next": None}).encode()
    board_server.route("GET", "/jobs", body, etag='"abc"')
    result = await crawl_it(board_server)
    assert result.body_hash == hashlib.sha256(body).hexdigest()
    assert result.etag == '"abc"'


async def test_not_modified_board(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {"jobs": jobs(1)}, etag='"abc"')
    result = await crawl_it(board_server, validators=Validators(etag='"abc"'))
    assert (result.status, result.postings, result.complete) == ("not_modified", [], True)
    assert result.etag == '"abc"' and result.http_status == 304
    assert board_server.requests[0].headers["if-none-match"] == '"abc"'


async def test_overlapping_pages_are_deduplicated_first_copy_kept(board_server: BoardServer) -> None:
    moved = [{"id": 3, "title": "Job 3 (page 2 copy)"}, *jobs(4)]
    serve_pages(board_server, {"jobs": jobs(1, 2, 3), "total": 4}, {"jobs": moved})
    result = await crawl_it(board_server)
    assert [p.external_id for p in result.postings] == ["1", "2", "3", "4"]
    assert result.postings[2].title == "Job 3"
    assert result.complete


async def test_missing_page_fails_the_board(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {"jobs": jobs(1, 2), "next": 1}, query={"page": "0"})
    result = await crawl_it(board_server)  # page=1 has no route: 404
    assert result.status == "failed" and not result.ok
    assert result.postings == [] and not result.complete
    assert result.http_status == 404
    assert result.error == f"HTTP 404 from {board_server.base_url}/jobs?page=1"


async def test_server_down_fails_the_board_without_raising() -> None:
    with BoardServer() as server:
        board = board_for(server)
    async with Engine(CFG) as engine:
        result = await crawl_board(engine, SOURCE, board)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("connection failed after 1 attempt:")


async def test_total_above_listed_is_incomplete(board_server: BoardServer) -> None:
    serve_pages(board_server, {"jobs": jobs(1, 2), "total": 10}, {"jobs": jobs(3)})
    result = await crawl_it(board_server)
    assert result.status == "ok" and len(result.postings) == 3
    assert not result.complete
    assert result.incomplete_reason == "the board states 10 postings but 3 were listed"


async def test_truncated_listing_is_incomplete(board_server: BoardServer) -> None:
    serve_pages(board_server, {"jobs": jobs(1), "truncated": True})
    result = await crawl_it(board_server)
    assert result.status == "ok" and result.truncated and not result.complete
    assert "cannot list the whole board" in (result.incomplete_reason or "")


async def test_unparsable_body_fails_the_board(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", "<html>maintenance</html>")
    result = await crawl_it(board_server)
    assert result.status == "failed" and result.postings == []
    assert result.error is not None and result.error.startswith(
        f"cannot parse {board_server.base_url}/jobs?page=0:"
    )
    assert "fake jobs: body is not valid JSON" in result.error


@pytest.mark.parametrize(
    "exc", [KeyError("jobs"), TypeError("bad"), AttributeError("x"), RecursionError("deep")]
)
async def test_parser_crash_fails_the_board(board_server: BoardServer, exc: Exception) -> None:
    class Crashing(PagedSource):
        def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
            raise exc

    board_server.route("GET", "/jobs", {"jobs": []})
    result = await crawl_it(board_server, Crashing())
    assert result.status == "failed" and result.postings == []
    assert result.error is not None and result.error.startswith(f"parser error: {type(exc).__name__}: ")


async def test_hostile_shape_is_a_parser_error_not_a_crash(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {"jobs": [{"id": 1}]})  # no title: KeyError inside the source
    result = await crawl_it(board_server)
    assert result.status == "failed"
    assert result.error == "parser error: KeyError: 'title'"


async def test_details_fetched_only_for_new_or_changed(board_server: BoardServer) -> None:
    serve_pages(board_server, {"jobs": jobs(1, 2, 3, needs_detail=True)})
    for i in (1, 2, 3):
        board_server.route("GET", f"/jobs/{i}", {"description": f"about {i}", "location": "Tokyo, Japan"})
    first = await crawl_it(board_server)
    assert [p.description for p in first.postings] == ["about 1", "about 2", "about 3"]
    assert all(p.locations == ["Tokyo, Japan"] and not p.needs_detail for p in first.postings)
    assert first.requests == 4

    board_server.requests.clear()
    known = {"1": first.list_hashes["1"], "2": "0" * 16}  # 1 unchanged, 2 changed, 3 new
    second = await crawl_it(board_server, known_hashes=known)
    assert sorted(r.path for r in board_server.requests) == ["/jobs", "/jobs/2", "/jobs/3"]
    p1, p2, p3 = second.postings
    assert p1.needs_detail and p1.description == ""  # unchanged: list version, detail not refetched
    assert p2.description == "about 2" and p3.description == "about 3"


async def test_failed_detail_keeps_the_list_version(board_server: BoardServer) -> None:
    serve_pages(board_server, {"jobs": jobs(1, 2, needs_detail=True)})
    board_server.route("GET", "/jobs/1", {"description": "about 1", "location": "Sydney"})
    board_server.route("GET", "/jobs/2", {}, faults=[Fault.status(500)])
    result = await crawl_it(board_server)
    assert result.status == "ok" and result.complete
    assert result.postings[0].description == "about 1"
    assert result.postings[1].locations == ["3 Locations"] and result.postings[1].needs_detail
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("detail of 2 failed: HTTP 500 from ")


async def test_details_run_concurrently(board_server: BoardServer) -> None:
    serve_pages(board_server, {"jobs": jobs(*range(6), needs_detail=True)})
    for i in range(6):
        board_server.route(
            "GET", f"/jobs/{i}", {"description": "d", "location": "Paris"}, faults=[Fault.delay(0.1)]
        )
    result = await crawl_it(board_server)
    assert result.status == "ok" and len(result.postings) == 6
    assert board_server.max_in_flight > 1


async def test_repeated_request_is_endless_paging(board_server: BoardServer) -> None:
    board_server.route("GET", "/jobs", {"jobs": jobs(1), "next": 0}, query={"page": "0"})
    result = await crawl_it(board_server)
    assert result.status == "failed" and result.postings == []
    assert result.error == f"page 2 repeats an earlier request ({board_server.base_url}/jobs); endless paging"
    assert len(board_server.requests) == 1


async def test_same_postings_on_every_page_is_endless_paging(board_server: BoardServer) -> None:
    class Ignored(PagedSource):
        def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
            page = super().parse_page(board, request, body, page_index)
            return Page(page.postings, Request(request.url, params={"page": page_index + 1}))

    board_server.route("GET", "/jobs", {"jobs": jobs(1, 2)})  # the API ignores ?page=
    result = await crawl_it(board_server, Ignored())
    assert result.status == "failed"
    assert result.error is not None and "page 2 lists the same postings as page 1" in result.error


async def test_page_limit(board_server: BoardServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crawl, "MAX_PAGES", 5)

    def page(info: Any) -> dict[str, Any]:
        n = int(info.query["page"])
        return {"jobs": jobs(n), "next": n + 1}

    board_server.route("GET", "/jobs", page)
    result = await crawl_it(board_server)
    assert result.status == "failed"
    assert result.error == "more than 5 pages; stopping (endless paging?)"
    assert len(board_server.requests) == 5


async def test_source_crash_building_the_request_fails_the_board(board_server: BoardServer) -> None:
    class Broken(PagedSource):
        def first_request(self, board: BoardConfig) -> Request:
            raise AttributeError("no token")

    result = await crawl_it(board_server, Broken())
    assert (result.status, result.error) == ("failed", "source error: AttributeError: no token")
