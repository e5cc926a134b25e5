"""Amazon search.json: the query from board params, offset paging with `hits`, the 10,000 cap, the quirky
fields (JSON-encoded `locations`, double-spaced dates), real captured samples, loopback crawls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine
from infrasignal.model import ParseError, Place, Posting, Request
from infrasignal.sources import get_source
from infrasignal.sources.amazon import SOURCE, parse_posted
from support.boardserver import BoardServer, Reply, RequestInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon" / "data-center"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"
PARAMS: dict[str, Any] = {
    "base_query": "data center",
    "category": ["Fulfillment & Operations Management", "Hardware Development"],
    "business_category[]": ["aws"],
    "sort": "recent",
}
CFG = validate(FetchConfig, {"timeout": 2.0, "retries": 0, "backoff": 0.01})


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {"company": "Amazon", "ats": "amazon", "params": PARAMS, **kw}
    return BoardConfig(**fields)


def jobs() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / "search.json").read_bytes())["jobs"]
    return data


def query(request: Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def api_page(items: list[dict[str, Any]], offset: int, limit: int, hits: int | None = None) -> bytes:
    return json.dumps(
        {"hits": len(items) if hits is None else hits, "jobs": items[offset : offset + limit]}
    ).encode()


def crawl_pure(b: BoardConfig) -> tuple[list[Posting], list[Request]]:
    items = jobs()
    request: Request | None = SOURCE.first_request(b)
    postings: list[Posting] = []
    requests: list[Request] = []
    while request is not None:
        requests.append(request)
        q = query(request)
        page = SOURCE.parse_page(
            b, request, api_page(items, int(q["offset"][0]), int(q["result_limit"][0])), len(requests) - 1
        )
        postings.extend(page.postings)
        request = page.next
    return postings, requests


def by_id(postings: list[Posting], job_id: str) -> Posting:
    [posting] = [p for p in postings if p.external_id == job_id]
    return posting


def test_registered_under_its_name() -> None:
    assert get_source("amazon") is SOURCE


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({}, "params with a query or filters"),
        ({"page_size": 10}, "params with a query or filters"),
        ({"base_query": "dc", "offset": 5}, "params.offset is set by infrasignal"),
        ({"base_query": "dc", "page_size": 500}, "params.page_size must be an integer from 1 to 100"),
        ({"category": [["nested"]]}, "params.category must be a string, a number or a list of them"),
        ({"category": {"a": 1}}, "params.category must be a string"),
    ],
)
def test_check_board(params: dict[str, Any], problem: str) -> None:
    result = SOURCE.check_board(board(params=params))
    assert result is not None and result.startswith(problem)
    assert SOURCE.check_board(board()) is None  # no token needed


def test_query_comes_from_params_with_repeated_list_keys() -> None:
    req = SOURCE.first_request(board())
    assert req.url.startswith("https://www.amazon.jobs/en/search.json?")
    assert req.params is None and req.method == "GET"
    assert query(req) == {
        "base_query": ["data center"],
        "category[]": ["Fulfillment & Operations Management", "Hardware Development"],
        "business_category[]": ["aws"],
        "sort": ["recent"],
        "offset": ["0"],
        "result_limit": ["100"],
    }
    loopback = SOURCE.first_request(board(base_url="http://127.0.0.1:8011"))
    assert loopback.url.startswith("http://127.0.0.1:8011/en/search.json?base_query=data+center&")


def test_offset_paging_until_hits() -> None:
    postings, requests = crawl_pure(board(params={**PARAMS, "page_size": 5}))
    assert [query(r)["offset"] for r in requests] == [["0"], ["5"], ["10"]]
    assert {query(r)["result_limit"][0] for r in requests} == {"5"}
    assert len(postings) == 12


def test_hits_at_the_cap_is_truncated() -> None:
    b = board()
    page = SOURCE.parse_page(b, SOURCE.first_request(b), api_page(jobs(), 0, 100, hits=10_000), 0)
    assert page.truncated and page.total == 10_000
    full = [dict(jobs()[0], id_icims=str(n)) for n in range(100)]
    req = Request(SOURCE.page_url(b, 9_800))
    assert SOURCE.parse_page(b, req, api_page(full, 0, 100, hits=10_000), 98).next is not None
    req = Request(SOURCE.page_url(b, 9_900))
    assert SOURCE.parse_page(b, req, api_page(full, 0, 100, hits=10_000), 99).next is None


def test_fields() -> None:
    postings, _ = crawl_pure(board())
    p = by_id(postings, "3120400")
    assert p.title == "Data Center Controls Engineer"
    assert p.url == "https://www.amazon.jobs/en/jobs/3120400/data-center-controls-engineer"
    assert p.locations == ["Ashburn, Virginia, USA", "Manassas, Virginia, USA"]
    assert p.places == [
        Place(city="Ashburn", region="Virginia", country="US"),
        Place(city="Manassas", region="Virginia", country="US"),
    ]
    assert p.department == "Fulfillment & Operations Management" and p.team == "aws"
    assert p.posted_at == datetime(2026, 9, 11, tzinfo=UTC)
    assert p.description.startswith("AWS Infrastructure Services owns the design")  # full `description`
    assert "5+ years of experience in critical facilities" in p.description  # basic_qualifications
    assert p.remote is False
    short = by_id(postings, "3120548")
    assert short.description.startswith("AWS Infrastructure Services owns") and short.description.endswith(
        "you will"
    )


def test_double_spaced_dates_remote_and_odd_titles() -> None:
    postings, _ = crawl_pure(board())
    assert by_id(postings, "3120548").posted_at == datetime(2026, 9, 2, tzinfo=UTC)  # "September  2, 2026"
    virtual = by_id(postings, "3120770")
    assert virtual.remote is True
    assert virtual.places == [Place(region="Arizona", country="US", remote=True)]
    assert by_id(postings, "3120696").title == "Data Center Controls Tech,, Andrews, Texas"  # verbatim
    dublin = by_id(postings, "3120511")
    assert dublin.places == [Place(city="Dublin", region="Dublin", country="IE")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("May  4, 2026", datetime(2026, 5, 4, tzinfo=UTC)),
        ("April 23, 2026", datetime(2026, 4, 23, tzinfo=UTC)),
        ("about 2 hours", None),
        (None, None),
    ],
)
def test_parse_posted(value: Any, expected: datetime | None) -> None:
    assert parse_posted(value) == expected


def test_bad_locations_entries_are_tolerated() -> None:
    job = dict(jobs()[1], locations=["{not json", 5, json.dumps({"city": "Hilliard", "countryIso2a": "US"})])
    b = board()
    [p] = SOURCE.parse_page(
        b, SOURCE.first_request(b), json.dumps({"hits": 1, "jobs": [job]}).encode(), 0
    ).postings
    assert p.places == [Place(city="Hilliard", country="US")]
    job = dict(jobs()[1], locations=None)
    [p] = SOURCE.parse_page(
        b, SOURCE.first_request(b), json.dumps({"hits": 1, "jobs": [job]}).encode(), 0
    ).postings
    assert p.locations == ["Hilliard, Ohio, USA"]  # top-level fields
    assert p.places == [Place(city="Hilliard", region="OH", country="US")]  # country_code USA -> US


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html>", "amazon: body is not valid JSON"),
        (b'{"hits": 3}', "amazon: `jobs` is missing"),
        (b'{"jobs": []}', "amazon: `hits` is missing"),
        (b'{"hits": 1, "jobs": [{"title": "x"}]}', "amazon: jobs[0] has no `id_icims`"),
        (
            b'{"error": "Cannot return more than 10000 results at once", "jobs": null}',
            "amazon: the search answered an error: Cannot return more than 10000 results at once",
        ),
        (b"<html><title>Server Busy</title></html>", "amazon: body is not valid JSON"),
    ],
)
def test_malformed(raw: bytes, message: str) -> None:
    b = board()
    with pytest.raises(ParseError) as err:
        SOURCE.parse_page(b, SOURCE.first_request(b), raw, 0)
    assert str(err.value).startswith(message)


def real(name: str) -> bytes:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    return path.read_bytes()


def test_real_samples() -> None:
    b = board()
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("amazon_search_json_software.json"), 0)
    assert page.total == 1039 and not page.truncated
    assert page.next is not None and query(page.next)["offset"] == ["3"]
    boston = by_id(page.postings, "10410044")
    assert boston.posted_at == datetime(2026, 5, 4, tzinfo=UTC)  # "May  4, 2026"
    assert boston.locations == ["Boston, Massachusetts, USA"]
    assert boston.places == [Place(city="Boston", region="Massachusetts", country="US")]
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("amazon_search_json_intern.json"), 0)
    assert page.total == 10_000 and page.truncated
    scientist = by_id(page.postings, "10413162")
    assert scientist.locations == ["Boston, Massachusetts, USA", "Santa Clara, California, USA"]


# ---------------------------------------------------------------------------------------- loopback crawls


def serve(server: BoardServer, missing_offset: int | None = None) -> None:
    items = jobs()

    def reply(info: RequestInfo) -> Any:
        offset, limit = int(info.query["offset"]), int(info.query["result_limit"])
        if offset == missing_offset:
            return Reply(503, "Service Unavailable")
        return api_page(items, offset, limit)

    server.route("GET", "/en/search.json", reply, content_type="application/json")


async def crawl(server: BoardServer) -> BoardFetch:
    async with Engine(CFG) as engine:
        b = board(base_url=server.base_url, params={**PARAMS, "page_size": 5})
        return await crawl_board(engine, SOURCE, b)


@pytest.mark.anyio
async def test_crawl_to_completion(board_server: BoardServer) -> None:
    serve(board_server)
    result = await crawl(board_server)
    assert (result.status, result.complete, result.pages, len(result.postings)) == ("ok", True, 3, 12)
    seen = board_server.requests
    assert [r.query["offset"] for r in seen] == ["0", "5", "10"]
    assert all(
        r.query["base_query"] == "data center" and r.query["business_category[]"] == "aws" for r in seen
    )


@pytest.mark.anyio
async def test_a_failing_page_fails_the_board(board_server: BoardServer) -> None:
    serve(board_server, missing_offset=5)
    result = await crawl(board_server)
    assert result.status == "failed" and result.http_status == 503 and result.postings == []
