"""CSS-selector careers pages: config checks, parsing of the bundled two-page board, strict failures, then
crawls through `crawl_board` on loopback with robots.txt and a missing page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine
from infrasignal.model import ParseError, Request
from infrasignal.sources import get_source
from infrasignal.sources.html import SOURCE
from support.boardserver import BoardServer, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "html" / "fjord"
SITE = "https://www.fjordcompute.example"
SELECTORS = {
    "item": "article.vacancy",
    "title": ".vacancy__title",
    "link": ".vacancy__title a",
    "location": ".vacancy__location",
    "department": ".vacancy__team",
    "next": "nav.pager a[rel=next]",
}
CFG = validate(FetchConfig, {"timeout": 2.0, "retries": 0, "backoff": 0.01})


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {
        "company": "Fjord Compute",
        "ats": "html",
        "url": f"{SITE}/careers",
        "selectors": SELECTORS,
        **kw,
    }
    return BoardConfig(**fields)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_registered_under_its_name() -> None:
    assert get_source("html") is SOURCE


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"url": None}, "missing required key `url` for ats = 'html'"),
        ({"url": "ftp://x.example/jobs"}, "url must be an http(s) URL"),
        ({"selectors": {"item": "li", "title": "a"}}, "selectors.link is required for ats = 'html'"),
        ({"selectors": {**SELECTORS, "salary": ".pay"}}, "selectors.salary is not a known selector"),
        ({"selectors": {**SELECTORS, "title": "h3[["}}, "selectors.title is not a valid CSS selector"),
        (
            {"selectors": {**SELECTORS, "location": " "}},
            "selectors.location must be a non-empty CSS selector",
        ),
    ],
)
def test_check_board(fields: dict[str, Any], problem: str) -> None:
    result = SOURCE.check_board(board(**fields))
    assert result is not None and result.startswith(problem)
    assert SOURCE.check_board(board()) is None


def test_first_request() -> None:
    req = SOURCE.first_request(board(base_url="http://127.0.0.1:8031"))
    assert (req.url, req.robots, req.conditional) == ("http://127.0.0.1:8031/careers", True, False)
    single = {k: v for k, v in SELECTORS.items() if k != "next"}
    assert SOURCE.first_request(board(selectors=single)).conditional  # one page: ETag is safe


def test_parse_first_page() -> None:
    b = board()
    page = SOURCE.parse_page(b, SOURCE.first_request(b), fixture("page1.html"), 0)
    assert [p.external_id for p in page.postings] == [
        f"{SITE}/careers/positions/1042-critical-facilities-technician",
        f"{SITE}/careers/positions/1043-electrical-engineer-substations?src=list",  # fragment dropped
        f"{SITE}/careers/positions/1044-energy-trader",
    ]
    first, second, third = page.postings
    assert first.title == "Critical Facilities Technician" and first.url == first.external_id
    assert first.locations == ["Rjukan, Norway"] and first.department == "Operations"
    assert second.title == "Electrical Engineer, Substations & HV"  # whitespace collapsed, entity decoded
    assert second.locations == ["Rjukan, Norway", "Oslo, Norway"]
    assert third.department == "Energy"
    assert page.next == Request(f"{SITE}/careers?page=2", robots=True)
    assert page.total is None and not page.truncated


def test_parse_last_page() -> None:
    b = board()
    page = SOURCE.parse_page(b, Request(f"{SITE}/careers?page=2", robots=True), fixture("page2.html"), 1)
    assert [p.title for p in page.postings] == ["Site Manager, New Campus (Mo i Rana)", "Finance Controller"]
    assert page.postings[1].department == ""  # no team element
    assert page.next is None


def test_loopback_urls_are_mapped_back_to_the_real_site() -> None:
    b = board(base_url="http://127.0.0.1:8031")
    page = SOURCE.parse_page(b, SOURCE.first_request(b), fixture("page1.html"), 0)
    assert page.postings[0].external_id.startswith(SITE)
    assert page.next == Request("http://127.0.0.1:8031/careers?page=2", robots=True)


def test_optional_selectors_absent() -> None:
    b = board(selectors={"item": "article.vacancy", "title": "h3", "link": "a"})
    page = SOURCE.parse_page(b, SOURCE.first_request(b), fixture("page1.html"), 0)
    assert len(page.postings) == 3 and page.postings[0].locations == [] and page.next is None


def test_next_link_to_the_same_page_ends_paging() -> None:
    b = board(selectors={**SELECTORS, "next": "nav.pager a"})
    page = SOURCE.parse_page(b, Request(f"{SITE}/careers?page=1"), fixture("page2.html"), 1)
    assert page.next is None  # the only pager link points back to page 1


def test_the_same_job_twice_keeps_the_first() -> None:
    body = fixture("page1.html").replace(b"1044-energy-trader", b"1042-critical-facilities-technician")
    b = board()
    page = SOURCE.parse_page(b, SOURCE.first_request(b), body, 0)
    assert [p.title for p in page.postings] == [
        "Critical Facilities Technician",
        "Electrical Engineer, Substations & HV",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"<html><body><p>No vacancies</p></body></html>",
            "html: no element matches selectors.item 'article.vacancy' on page 1",
        ),
        (
            b'<article class="vacancy"><h3 class="vacancy__title">Technician</h3></article>',
            "html: item 1 on page 1 has no link",
        ),
        (
            b'<article class="vacancy"><h3 class="vacancy__title"><a href="/x"> </a></h3></article>',
            "html: item 1 on page 1 has no title",
        ),
        (
            b'<article class="vacancy"><h3 class="vacancy__title"><a href="mailto:x@y">Mail us</a></h3></article>',
            "html: item 1 on page 1 has no link",
        ),
    ],
)
def test_layout_changes_fail_the_page(body: bytes, message: str) -> None:
    b = board()
    with pytest.raises(ParseError) as err:
        SOURCE.parse_page(b, SOURCE.first_request(b), body, 0)
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------- loopback crawls


def serve(server: BoardServer, page2: bool = True, robots: str | None = None) -> None:
    if robots is not None:
        server.route("GET", "/robots.txt", robots, content_type="text/plain")
    server.serve_file("/careers", FIXTURES / "page1.html", content_type="text/html; charset=utf-8")
    if page2:
        server.serve_file("/careers", FIXTURES / "page2.html", query={"page": "2"}, content_type="text/html")


async def crawl(server: BoardServer) -> BoardFetch:
    async with Engine(CFG) as engine:
        return await crawl_board(engine, SOURCE, board(base_url=server.base_url))


@pytest.mark.anyio
async def test_crawl_both_pages(board_server: BoardServer) -> None:
    serve(board_server, robots="User-agent: *\nDisallow: /internal/\n")
    result = await crawl(board_server)
    assert (result.status, result.complete, result.pages, len(result.postings)) == ("ok", True, 2, 5)
    assert [(r.path, r.query) for r in board_server.requests] == [
        ("/robots.txt", {}),
        ("/careers", {}),
        ("/careers", {"page": "2"}),
    ]


@pytest.mark.anyio
async def test_robots_disallow_is_respected(board_server: BoardServer) -> None:
    serve(board_server, robots="User-agent: *\nDisallow: /careers\n")
    result = await crawl(board_server)
    assert result.status == "failed" and result.error == "robots.txt of 127.0.0.1 disallows /careers"
    assert [r.path for r in board_server.requests] == ["/robots.txt"]


@pytest.mark.anyio
async def test_robots_disallowing_only_page_two_fails_the_board(board_server: BoardServer) -> None:
    serve(board_server, robots="User-agent: *\nDisallow: /careers?page=\n")
    result = await crawl(board_server)
    assert result.status == "failed" and result.postings == []
    assert result.error == "robots.txt of 127.0.0.1 disallows /careers?page=2"


@pytest.mark.anyio
async def test_a_missing_page_fails_the_board(board_server: BoardServer) -> None:
    serve(board_server, page2=False)
    board_server.route("GET", "/careers", Reply(404, "Not found"), query={"page": "2"})
    result = await crawl(board_server)
    assert result.status == "failed" and result.http_status == 404 and result.postings == []
    assert result.error == f"HTTP 404 from {board_server.base_url}/careers?page=2"
