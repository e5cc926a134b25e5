"""SmartRecruiters Posting API: pure parsing of the bundled board and details, paging by totalFound, the real
captured samples, then crawls through `crawl_board` against a loopback server slicing the board like the API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine
from infrasignal.model import ParseError, Place, Posting, Request
from infrasignal.sources import get_source
from infrasignal.sources.smartrecruiters import SOURCE
from support.boardserver import BoardServer, Reply, RequestInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "smartrecruiters" / "nordlys"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"
TOKEN = "NordlysDataCentres"
PATH = f"/v1/companies/{TOKEN}/postings"
CFG = validate(FetchConfig, {"timeout": 2.0, "retries": 0, "backoff": 0.01, "per_host": 4})


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {
        "company": "Nordlys Data Centres",
        "ats": "smartrecruiters",
        "token": TOKEN,
        **kw,
    }
    return BoardConfig(**fields)


def board_items() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / "postings.json").read_bytes())["content"]
    return data


def api_page(items: list[dict[str, Any]], offset: int, limit: int, total: int | None = None) -> bytes:
    """What the API answers for `offset` / `limit` over a board of `items`."""
    page = items[offset : offset + limit]
    return json.dumps(
        {
            "offset": offset,
            "limit": limit,
            "totalFound": len(items) if total is None else total,
            "content": page,
        }
    ).encode()


def crawl_pure(b: BoardConfig) -> tuple[list[Posting], list[Request]]:
    items = board_items()
    request: Request | None = SOURCE.first_request(b)
    postings: list[Posting] = []
    requests: list[Request] = []
    while request is not None:
        requests.append(request)
        params = request.params or {}
        body = api_page(items, int(params["offset"]), int(params["limit"]))
        page = SOURCE.parse_page(b, request, body, len(requests) - 1)
        assert page.total == 12
        postings.extend(page.postings)
        request = page.next
    return postings, requests


def by_title(postings: list[Posting], title: str) -> Posting:
    [posting] = [p for p in postings if p.title == title]
    return posting


def test_registered_under_its_name() -> None:
    assert get_source("smartrecruiters") is SOURCE


def test_first_request() -> None:
    req = SOURCE.first_request(board())
    assert req.url == "https://api.smartrecruiters.com" + PATH
    assert req.params == {"limit": 100, "offset": 0}
    b = board(base_url="http://127.0.0.1:8009", params={"page_size": 5, "country": "no", "query": "engineer"})
    req = SOURCE.first_request(b)
    assert req.url == "http://127.0.0.1:8009" + PATH
    assert req.params == {"limit": 5, "offset": 0, "country": "no", "q": "engineer"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"token": None}, "missing required key `token`"),
        ({"params": {"page_size": 500}}, "params.page_size must be an integer from 1 to 100"),
        ({"params": {"details": "yes"}}, "params.details must be one of all, none"),
        ({"params": {"country": ["no"]}}, "params.country must be a string"),
    ],
)
def test_check_board(fields: dict[str, Any], problem: str) -> None:
    result = SOURCE.check_board(board(**fields))
    assert result is not None and result.startswith(problem)
    assert SOURCE.check_board(board(params={"page_size": 50, "details": "none"})) is None


def test_one_page_holds_the_whole_board() -> None:
    postings, requests = crawl_pure(board())
    assert len(requests) == 1 and len(postings) == 12


def test_offset_advances_by_the_content_length_until_total_found() -> None:
    postings, requests = crawl_pure(board(params={"page_size": 5}))
    assert [r.params for r in requests] == [
        {"limit": 5, "offset": 0},
        {"limit": 5, "offset": 5},
        {"limit": 5, "offset": 10},
    ]
    assert len({p.external_id for p in postings}) == 12


def test_short_page_from_a_clamped_limit_still_advances_by_what_came() -> None:
    b = board()
    req = Request("https://api.smartrecruiters.com" + PATH, params={"limit": 100, "offset": 0})
    page = SOURCE.parse_page(b, req, api_page(board_items()[:4], 0, 4, total=12), 0)
    assert page.next is not None and page.next.params == {"limit": 100, "offset": 4}


def test_an_empty_page_before_the_total_stops_paging() -> None:
    b = board()
    req = Request("https://api.smartrecruiters.com" + PATH, params={"limit": 100, "offset": 100})
    page = SOURCE.parse_page(b, req, api_page([], 0, 100, total=150), 1)
    assert page.next is None and page.total == 150  # the crawler sees fewer than stated: incomplete


def test_fields() -> None:
    postings, _ = crawl_pure(board())
    p = by_title(postings, "Data Centre Electrical Engineer")  # trailing NBSP trimmed
    assert p.external_id == "744000160107919"
    assert p.url == f"https://jobs.smartrecruiters.com/{TOKEN}/744000160107919"
    assert p.locations == ["Oslo, Oslo, Norway"]  # fullLocation verbatim
    assert p.places == [Place(city="Oslo", region="Oslo", country="NO")]
    assert p.department == "Construction & Engineering"
    assert p.requisition_id == "REQ-2301"
    assert p.posted_at == datetime(2026, 9, 2, 1, 15, tzinfo=UTC)
    assert p.remote is False and p.needs_detail and p.description == ""


def test_location_fallbacks_remote_and_empty_department() -> None:
    postings, _ = crawl_pure(board())
    helsinki = by_title(postings, "Mechanical Engineer, Liquid Cooling")
    assert helsinki.locations == ["Helsinki, Uusimaa, FI"]  # no fullLocation
    london = by_title(postings, "Commercial Contracts Manager")
    assert london.remote is True and london.locations == ["Remote, London, England, United Kingdom"]
    assert london.places == [Place(city="London", region="England", country="GB", remote=True)]
    assert by_title(postings, "Capacity Planning Analyst").department == ""  # department {}
    assert by_title(postings, "Energy & Power Procurement Lead").places[0].region == "STOCKHOLM"


def test_details_none_param() -> None:
    postings, _ = crawl_pure(board(params={"details": "none"}))
    assert not any(p.needs_detail for p in postings)


def test_detail_request_and_merge() -> None:
    b = board()
    postings, _ = crawl_pure(b)
    stub = by_title(postings, "Site Manager, New Campus Construction")
    req = SOURCE.detail_request(b, stub)
    assert req is not None and req.url == f"https://api.smartrecruiters.com{PATH}/{stub.external_id}"
    merged = SOURCE.parse_detail(b, stub, (FIXTURES / "detail" / f"{stub.external_id}.json").read_bytes())
    assert merged.external_id == stub.external_id and not merged.needs_detail
    assert merged.url.startswith(f"https://jobs.smartrecruiters.com/{TOKEN}/{stub.external_id}-site-manager")
    lines = merged.description.splitlines()
    assert (
        lines[0] == "As Site Manager, New Campus Construction you will join the team at our Enköping campus."
    )
    assert "Work with contractors on the 60 MW expansion" in lines
    assert "Nordlys builds" not in merged.description  # the company blurb names every office: left out
    assert merged.locations == stub.locations and merged.department == stub.department


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html/>", "smartrecruiters: body is not valid JSON"),
        (b'{"totalFound": 3}', "smartrecruiters: `content` is missing"),
        (b'{"content": []}', "smartrecruiters: `totalFound` is missing"),
        (b'{"totalFound": 1, "content": [{"name": "x"}]}', "smartrecruiters: content[0] has no `id`"),
    ],
)
def test_malformed_bodies(raw: bytes, message: str) -> None:
    b = board()
    with pytest.raises(ParseError) as err:
        SOURCE.parse_page(b, SOURCE.first_request(b), raw, 0)
    assert str(err.value).startswith(message)


def test_detail_without_a_job_ad_is_an_error() -> None:
    stub = Posting(external_id="1", title="x", url="u", needs_detail=True)
    with pytest.raises(ParseError, match=re.escape("smartrecruiters detail: `jobAd.sections` is missing")):
        SOURCE.parse_detail(board(), stub, b'{"id": "1", "name": "x"}')


def real(name: str) -> bytes:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    return path.read_bytes()


def test_real_samples() -> None:
    b = board(token="Visa")
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("smartrecruiters_visa_list.json"), 0)
    assert page.total == 2 and page.next is None
    visa = page.postings[0]
    assert visa.locations == ["Austin, TX, United States"]
    assert visa.places == [Place(city="Austin", region="TX", country="US")]
    merged = SOURCE.parse_detail(b, visa, real("smartrecruiters_visa_detail.json"))
    assert merged.url == "https://jobs.smartrecruiters.com/Visa/744000133907678-sr-manager"
    assert merged.description == "All your information will be kept confidential according to EEO guidelines."

    b = board(token="Gousto1")
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("smartrecruiters_gousto_list_2024.json"), 0)
    assert page.total == 15 and len(page.postings) == 2
    assert page.next is not None and page.next.params == {"limit": 100, "offset": 2}
    assert page.postings[0].department == "" and page.postings[0].locations == ["London, GB"]

    b = board(token="ServiceNow")
    content = json.loads(real("smartrecruiters_servicenow_content_array.json"))
    body = json.dumps({"offset": 0, "limit": 100, "totalFound": len(content), "content": content}).encode()
    page = SOURCE.parse_page(b, SOURCE.first_request(b), body, 0)
    first = page.postings[0]
    assert first.title == "Staff Software Engineer, Platform Cryptography"  # trailing NBSP gone
    assert first.locations == ["Santa Clara, CALIFORNIA, United States"]
    assert first.department == "Engineering, Infrastructure and Operations"


# ---------------------------------------------------------------------------------------- loopback crawls


def serve_board(server: BoardServer, items: list[dict[str, Any]], missing_offset: int | None = None) -> None:
    def reply(info: RequestInfo) -> Any:
        offset, limit = int(info.query["offset"]), min(int(info.query["limit"]), 100)
        if offset == missing_offset:
            return Reply(500, {"message": "internal error"})
        return api_page(items, offset, limit)

    server.route("GET", PATH, reply, content_type="application/json")
    for path in (FIXTURES / "detail").glob("*.json"):
        server.route("GET", f"{PATH}/{path.stem}", path.read_bytes(), content_type="application/json")


async def crawl(server: BoardServer, **kwargs: Any) -> BoardFetch:
    async with Engine(CFG) as engine:
        b = board(base_url=server.base_url, params={"page_size": 5})
        return await crawl_board(engine, SOURCE, b, **kwargs)


@pytest.mark.anyio
async def test_crawl_pages_to_completion_then_details_only_when_new(board_server: BoardServer) -> None:
    serve_board(board_server, board_items())
    first = await crawl(board_server)
    assert (first.status, first.complete, first.pages) == ("ok", True, 3)
    assert len(first.postings) == 12 and first.requests == 3 + 12
    assert all(p.description and not p.needs_detail for p in first.postings)
    assert [r.query["offset"] for r in board_server.requests_to(PATH)] == ["0", "5", "10"]

    items = board_items()
    items[3] = dict(items[3], name="Energy & Power Procurement Lead, Nordics")  # changed
    board_server.requests.clear()
    serve_board(board_server, items)
    second = await crawl(board_server, known_hashes=first.list_hashes)
    assert second.status == "ok" and second.complete
    details = [r.path for r in board_server.requests if r.path != PATH]
    assert details == [f"{PATH}/{items[3]['id']}"]


@pytest.mark.anyio
async def test_a_failing_page_fails_the_board(board_server: BoardServer) -> None:
    serve_board(board_server, board_items(), missing_offset=10)
    result = await crawl(board_server)
    assert result.status == "failed" and result.postings == [] and result.http_status == 500
    assert result.error is not None and "offset=10" in result.error


@pytest.mark.anyio
async def test_total_found_above_what_is_served_is_incomplete(board_server: BoardServer) -> None:
    items = board_items()

    def reply(info: RequestInfo) -> bytes:
        offset, limit = int(info.query["offset"]), int(info.query["limit"])
        return api_page(items, offset, limit, total=14)  # two postings vanish while paging

    board_server.route("GET", PATH, reply, content_type="application/json")
    async with Engine(CFG) as engine:
        b = board(base_url=board_server.base_url, params={"page_size": 5, "details": "none"})
        result = await crawl_board(engine, SOURCE, b)
    assert result.status == "ok" and not result.complete
    assert result.incomplete_reason == "the board states 14 postings but 12 were listed"
