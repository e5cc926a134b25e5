"""schema.org JobPosting JSON-LD: every shape the parser tolerates, job-link and sitemap modes, the real
quirk samples, then crawls through `crawl_board` on loopback with robots.txt and malformed blocks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine
from infrasignal.model import ParseError, Place, Posting, Request
from infrasignal.sources import get_source
from infrasignal.sources._common import parse_html
from infrasignal.sources._schemaorg import find_job_postings, parse_job_postings
from infrasignal.sources.jsonld import SOURCE
from support.boardserver import BoardServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jsonld" / "coldstream"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"
SITE = "https://careers.coldstream.example"
NOW = datetime(2026, 9, 15, tzinfo=UTC)
CFG = validate(FetchConfig, {"timeout": 2.0, "retries": 0, "backoff": 0.01, "per_host": 4})
JOB_SLUGS = [
    "cs-5201-data-center-technician",
    "cs-5202-controls-engineer",
    "cs-5203-site-selection-manager",
    "cs-5204-hse-lead",
]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SOURCE, "clock", lambda: NOW)


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {
        "company": "Coldstream Data Centers",
        "ats": "jsonld",
        "url": f"{SITE}/open-roles",
        **kw,
    }
    return BoardConfig(**fields)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(b: BoardConfig, body: bytes) -> list[Posting]:
    return SOURCE.parse_page(b, SOURCE.first_request(b), body, 0).postings


def ids(postings: list[Posting]) -> dict[str, Posting]:
    return {p.external_id: p for p in postings}


def test_registered_under_its_name() -> None:
    assert get_source("jsonld") is SOURCE


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"url": None}, "missing required key `url` for ats = 'jsonld'"),
        ({"url": "careers.coldstream.example"}, "url must be an http(s) URL"),
        ({"params": {"job_links": "a["}}, "params.job_links is not a valid CSS selector"),
        ({"params": {"next": ""}}, "params.next must be a non-empty CSS selector"),
    ],
)
def test_check_board(fields: dict[str, Any], problem: str) -> None:
    result = SOURCE.check_board(board(**fields))
    assert result is not None and result.startswith(problem)
    assert SOURCE.check_board(board(params={"job_links": "ul.openings a.role"})) is None


def test_first_request_obeys_robots_and_is_conditional() -> None:
    req = SOURCE.first_request(board(base_url="http://127.0.0.1:8021"))
    assert (req.url, req.method, req.robots, req.conditional) == (
        "http://127.0.0.1:8021/open-roles",
        "GET",
        True,
        True,
    )
    assert not SOURCE.first_request(board(params={"next": "a[rel=next]"})).conditional


def test_every_jobposting_shape_on_the_careers_page() -> None:
    postings = ids(parse(board(), fixture("careers.html")))
    assert list(postings) == [
        "CS-4101",
        "CS-4102",
        "4103",
        "CS-4104",
        "CS-4105",
        "CS-4106",
    ]  # broken one skipped
    a = postings["CS-4101"]  # in an ItemList inside @graph, PostalAddress object
    assert a.title == "Critical Facilities Engineer"
    assert a.url == f"{SITE}/jobs/cs-4101-critical-facilities-engineer"
    assert a.locations == ["Ashburn, VA, US"]
    assert a.places == [Place(city="Ashburn", region="VA", country="US")]
    assert a.posted_at == datetime(2026, 9, 1, tzinfo=UTC) and not a.closed
    assert "chilled-water plant" in a.description and "<" not in a.description
    b = postings["CS-4102"]  # identifier as a string, jobLocation list, addressCountry as an object
    assert b.locations == ["Frankfurt am Main, Hesse, DE", "Amsterdam, NL"]
    assert b.places == [
        Place(city="Frankfurt am Main", region="Hesse", country="DE"),
        Place(city="Amsterdam", country="NL"),
    ]
    assert b.posted_at == datetime(2026, 9, 3, 9, 30, tzinfo=UTC)  # "+0000"
    c = postings["4103"]  # identifier without @type, relative url, "City, ST" locality, ISO3 country
    assert c.title == "Construction Manager, Hyperscale Campus"
    assert c.url == f"{SITE}/jobs/cs-4103-construction-manager"
    assert c.locations == ["Hillsboro, OR, USA"] and c.places == [
        Place(city="Hillsboro", region="OR", country="US")
    ]
    assert c.posted_at == datetime(2026, 8, 28, 10, tzinfo=UTC)  # space-separated, no zone
    d = postings["CS-4104"]  # TELECOMMUTE, HTML-escaped description, @type array
    assert (
        d.remote is True and d.locations == ["Remote, GB"] and d.places == [Place(country="GB", remote=True)]
    )
    assert d.description == "Negotiate power purchase agreements for our London and Dublin sites."
    e = postings["CS-4105"]  # validThrough in the past, Place with only a name
    assert e.closed and e.locations == ["Tokyo, Japan"] and e.places == []
    f = postings["CS-4106"]  # single-quoted type attribute, address as a string
    assert f.locations == ["1 Data Way, Sydney NSW 2000, Australia"] and f.places == []
    assert not any(p.needs_detail for p in postings.values())


def test_closed_is_judged_against_the_given_time() -> None:
    tree = parse_html(fixture("careers.html"))
    before = ids(parse_job_postings(tree, f"{SITE}/open-roles", now=datetime(2026, 1, 1, tzinfo=UTC)))
    after = ids(parse_job_postings(tree, f"{SITE}/open-roles", now=datetime(2026, 2, 1, tzinfo=UTC)))
    assert not before["CS-4105"].closed and after["CS-4105"].closed


def test_postings_without_ids_or_urls_get_stable_ids() -> None:
    page = """<script type="application/ld+json">[
      {"@type": "JobPosting", "title": "Data Center Technician", "jobLocation": {"address": {"addressLocality": "Dublin"}}},
      {"@type": "JobPosting", "title": "Data Center Technician", "jobLocation": {"address": {"addressLocality": "Cork"}}}
    ]</script>"""
    one = parse(board(), page.encode())
    two = parse(board(), page.encode())
    assert len(one) == 2 and [p.external_id for p in one] == [p.external_id for p in two]
    assert all(p.external_id.startswith(f"{SITE}/open-roles#") for p in one)
    single = parse(
        board(), b'<script type="application/ld+json">{"@type": "JobPosting", "title": "X"}</script>'
    )
    assert single[0].external_id == f"{SITE}/open-roles"  # a job page: its URL


def test_find_job_postings_anywhere() -> None:
    value = {
        "@graph": [
            {"@type": "WebPage", "mainEntity": {"@type": "schema:JobPosting", "title": "A"}},
            [{"@type": ["Thing", "JobPosting"], "title": "B"}],
        ]
    }
    assert [p["title"] for p in find_job_postings(value)] == ["A", "B"]


def test_no_jobposting_and_no_links_is_an_error() -> None:
    with pytest.raises(ParseError) as err:
        parse(
            board(),
            b'<script type="application/ld+json">{"@type": "WebSite"}</script><script type="application/ld+json">{x</script>',
        )
    assert (
        str(err.value) == "jsonld: no JobPosting in 2 JSON-LD block(s) (1 malformed) and no params.job_links"
    )
    with pytest.raises(ParseError, match="no JobPosting in 0 JSON-LD block"):
        parse(board(), b"<html><body>We are hiring!</body></html>")


def test_job_links_mode_lists_stubs_for_the_job_pages() -> None:
    b = board(url=f"{SITE}/careers", params={"job_links": "ul.openings a.role"})
    postings = parse(b, fixture("listing.html"))
    assert [p.external_id for p in postings] == [f"{SITE}/jobs/{slug}" for slug in JOB_SLUGS]  # deduplicated
    stub = postings[2]
    assert stub.url == stub.detail_ref == f"{SITE}/jobs/cs-5203-site-selection-manager"  # #apply dropped
    assert stub.title == "Site Selection Manager – Paris" and stub.needs_detail
    with pytest.raises(ParseError, match=re.escape("no link matches job_links 'a.nothing'")):
        parse(board(params={"job_links": "a.nothing"}), fixture("listing.html"))


def test_job_page_detail() -> None:
    b = board(
        url=f"{SITE}/careers", params={"job_links": "ul.openings a.role"}, base_url="http://127.0.0.1:8022"
    )
    stubs = parse(b, fixture("listing.html"))
    req = SOURCE.detail_request(b, stubs[1])
    assert req == Request("http://127.0.0.1:8022/jobs/cs-5202-controls-engineer", robots=True)
    merged = SOURCE.parse_detail(b, stubs[1], fixture(f"jobs/{JOB_SLUGS[1]}.html"))  # has a broken block too
    assert merged.external_id == stubs[1].external_id and merged.url == stubs[1].url
    assert merged.title == "Controls Engineer (BMS/EPMS)"
    assert merged.locations == ["Slough, England, GB"] and merged.places == [Place("Slough", "England", "GB")]
    assert merged.posted_at == datetime(2026, 9, 4, 12, tzinfo=UTC) and not merged.closed
    closed = SOURCE.parse_detail(b, stubs[3], fixture(f"jobs/{JOB_SLUGS[3]}.html"))
    assert closed.closed  # validThrough 2026-08-31
    with pytest.raises(ParseError, match="jsonld: the job page has no JobPosting JSON-LD"):
        SOURCE.parse_detail(b, stubs[0], b"<html><body>This job has been filled.</body></html>")


def test_sitemap_mode() -> None:
    b = board(url=f"{SITE}/sitemap.xml", params={"url_contains": "/jobs/"})
    postings = parse(b, fixture("sitemap.xml"))
    assert [p.external_id for p in postings] == [f"{SITE}/jobs/{slug}" for slug in JOB_SLUGS]
    assert postings[0].title == "cs 5201 data center technician" and postings[0].needs_detail
    everything = parse(board(url=f"{SITE}/sitemap.xml"), fixture("sitemap.xml"))
    assert everything[-1].url == f"{SITE}/blog/why-we-build-in-the-north?utm_source=sitemap&lang=en"
    assert len(everything) == 7
    with pytest.raises(ParseError, match="none of the sitemap's 7 URLs contains /careers/"):
        parse(
            board(url=f"{SITE}/sitemap.xml", params={"url_contains": ["/careers/"]}), fixture("sitemap.xml")
        )
    index = b'<?xml version="1.0"?><sitemapindex><sitemap><loc>https://x.example/jobs.xml</loc></sitemap></sitemapindex>'
    with pytest.raises(ParseError, match="is a sitemap index; set url to one of its sitemaps"):
        parse(board(url=f"{SITE}/sitemap.xml"), index)


def test_next_page_link() -> None:
    b = board(params={"next": "a.next"}, base_url="http://127.0.0.1:8023")
    body = fixture("careers.html").replace(
        b"</body>", b'<a class="next" href="/open-roles?page=2">Next</a></body>'
    )
    page = SOURCE.parse_page(b, SOURCE.first_request(b), body, 0)
    assert page.next == Request("http://127.0.0.1:8023/open-roles?page=2", robots=True)


def real(name: str) -> bytes:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    return path.read_bytes()


def test_real_quirk_samples() -> None:
    postings = parse(board(), real("jsonld_quirk_examples.html"))
    titles = [p.title for p in postings]
    assert titles == [
        "Software Engineer, Systems ML",
        "Veteran SkillBridge Program Intern",
        "...",
        "Data Science Intern",
        "Software Engineer",
        "Power Market Analyst",
    ]
    meta, abbvie, randstad, icims, microsoft, energy = postings
    assert meta.locations == ["Bellevue, WA", "Menlo Park, CA", "New York, NY"]
    assert (
        abbvie.places == [Place(city="North Chicago", region="IL")] and not abbvie.closed
    )  # validThrough 2126
    assert randstad.external_id == "25576" and not randstad.closed  # validThrough 2026-09-25 > NOW
    assert icims.description == "Overview\nBuild real things."
    assert microsoft.posted_at == datetime(2026, 5, 30, 15, 49, 13, tzinfo=UTC)
    assert energy.description == "Forecasting day-ahead electricity prices."
    google = json.loads(real("jsonld_jobposting_google_docs_example.json"))
    body = f'<script type="application/ld+json">{json.dumps(google)}</script>'.encode()
    [p] = parse(board(), body)
    assert (p.external_id, p.locations, p.closed) == ("1234567", ["Mountain View, CA, US"], True)


# ---------------------------------------------------------------------------------------- loopback crawls


async def crawl(server: BoardServer, b: BoardConfig, **kwargs: Any) -> BoardFetch:
    async with Engine(CFG) as engine:
        return await crawl_board(engine, SOURCE, replace(b, base_url=server.base_url), **kwargs)


def serve_site(server: BoardServer, robots: str | None = None) -> None:
    if robots is not None:
        server.route("GET", "/robots.txt", robots, content_type="text/plain")
    server.serve_file("/open-roles", FIXTURES / "careers.html", content_type="text/html; charset=utf-8")
    server.serve_file("/careers", FIXTURES / "listing.html", content_type="text/html; charset=utf-8")
    server.serve_file("/sitemap.xml", FIXTURES / "sitemap.xml", content_type="application/xml")
    for slug in JOB_SLUGS:
        server.serve_file(f"/jobs/{slug}", FIXTURES / "jobs" / f"{slug}.html", content_type="text/html")


@pytest.mark.anyio
async def test_crawl_careers_page_with_a_malformed_block(board_server: BoardServer) -> None:
    serve_site(board_server, robots="User-agent: *\nDisallow: /admin/\n")
    result = await crawl(board_server, board())
    assert (result.status, result.complete, result.requests) == ("ok", True, 1)
    assert len(result.postings) == 6 and result.body_hash is not None
    assert [r.path for r in board_server.requests] == ["/robots.txt", "/open-roles"]


@pytest.mark.anyio
async def test_robots_disallow_is_respected(board_server: BoardServer) -> None:
    serve_site(board_server, robots="User-agent: *\nDisallow: /open-roles\n")
    result = await crawl(board_server, board())
    assert result.status == "failed" and result.postings == []
    assert result.error == "robots.txt of 127.0.0.1 disallows /open-roles"
    assert [r.path for r in board_server.requests] == ["/robots.txt"]


@pytest.mark.anyio
async def test_crawl_job_links_then_only_new_job_pages(board_server: BoardServer) -> None:
    serve_site(board_server)
    b = board(url=f"{SITE}/careers", params={"job_links": "ul.openings a.role"})
    first = await crawl(board_server, b)
    assert first.status == "ok" and first.complete and first.requests == 1 + 4 and first.warnings == []
    titles = [p.title for p in first.postings]
    assert titles == [
        "Data Center Technician",
        "Controls Engineer (BMS/EPMS)",
        "Site Selection Manager",
        "HSE Lead, Construction",
    ]
    assert [p.closed for p in first.postings] == [False, False, False, True]
    assert all(p.url.startswith(f"{SITE}/jobs/") for p in first.postings)  # real URLs, not loopback

    board_server.requests.clear()
    second = await crawl(board_server, b, known_hashes=first.list_hashes)
    assert second.status == "ok" and second.requests == 1
    assert [r.path for r in board_server.requests if r.path != "/robots.txt"] == ["/careers"]


@pytest.mark.anyio
async def test_job_pages_disallowed_by_robots_are_not_fetched(board_server: BoardServer) -> None:
    serve_site(board_server, robots="User-agent: *\nDisallow: /jobs/\n")
    b = board(url=f"{SITE}/careers", params={"job_links": "ul.openings a.role"})
    result = await crawl(board_server, b)
    assert result.status == "ok" and len(result.postings) == 4
    assert all(p.needs_detail for p in result.postings)  # the list version is kept
    assert len(result.warnings) == 4 and "robots.txt of 127.0.0.1 disallows /jobs/" in result.warnings[0]
    assert not [r for r in board_server.requests if r.path.startswith("/jobs/")]


@pytest.mark.anyio
async def test_crawl_sitemap(board_server: BoardServer) -> None:
    serve_site(board_server)
    b = board(url=f"{SITE}/sitemap.xml", params={"url_contains": "/jobs/"})
    result = await crawl(board_server, b)
    assert result.status == "ok" and len(result.postings) == 4 and result.requests == 5
    assert result.postings[2].title == "Site Selection Manager"


@pytest.mark.anyio
async def test_page_with_only_broken_blocks_fails_the_board(board_server: BoardServer) -> None:
    board_server.route(
        "GET",
        "/open-roles",
        '<script type="application/ld+json">{"@type": "JobPosting",</script>',
        content_type="text/html",
    )
    result = await crawl(board_server, board())
    assert result.status == "failed"
    assert result.error is not None and result.error.endswith(
        "jsonld: no JobPosting in 1 JSON-LD block(s) (1 malformed) and no params.job_links"
    )
