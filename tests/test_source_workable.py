"""Workable: the v3 hosted-board API (cursor paging, v2 details) and the widget endpoint, pure and through
`crawl_board` against a loopback server at the real paths; the real captured samples."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine, Validators
from infrasignal.model import ParseError, Place, Posting, Request
from infrasignal.sources import get_source
from infrasignal.sources.workable import SOURCE
from support.boardserver import BoardServer, Reply, RequestInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workable" / "helio-compute"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"
ACCOUNT = "helio-compute"
V3 = f"/api/v3/accounts/{ACCOUNT}/jobs"
WIDGET = f"/api/v1/widget/accounts/{ACCOUNT}"
CURSOR = "eyJvZmZzZXQiOjEwfQ=="
CFG = validate(FetchConfig, {"timeout": 2.0, "retries": 0, "backoff": 0.01, "per_host": 4})


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {"company": "Helio Compute", "ats": "workable", "token": ACCOUNT, **kw}
    return BoardConfig(**fields)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def crawl_pure(b: BoardConfig) -> tuple[list[Posting], list[Request]]:
    request: Request | None = SOURCE.first_request(b)
    postings: list[Posting] = []
    requests: list[Request] = []
    while request is not None:
        requests.append(request)
        name = "v3-page2.json" if request.json == {"token": CURSOR} else "v3-page1.json"
        page = SOURCE.parse_page(b, request, fixture(name), len(requests) - 1)
        postings.extend(page.postings)
        request = page.next
    return postings, requests


def by_title(postings: list[Posting], title: str) -> Posting:
    [posting] = [p for p in postings if p.title == title]
    return posting


def test_registered_under_its_name() -> None:
    assert get_source("workable") is SOURCE


def test_check_board() -> None:
    assert SOURCE.check_board(board()) is None
    assert SOURCE.check_board(board(params={"endpoint": "widget", "details": "none"})) is None
    assert (
        SOURCE.check_board(board(params={"endpoint": "v2"}))
        == "params.endpoint must be one of v3, widget, not 'v2'"
    )
    assert SOURCE.check_board(board(token=None)) == "missing required key `token` for ats = 'workable'"


def test_v3_requests_follow_the_next_page_cursor() -> None:
    postings, requests = crawl_pure(board())
    assert [(r.method, r.url, r.json) for r in requests] == [
        ("POST", "https://apply.workable.com" + V3, {}),
        ("POST", "https://apply.workable.com" + V3, {"token": CURSOR}),
    ]
    assert len(postings) == 14


def test_v3_total_and_end() -> None:
    b = board()
    first = SOURCE.parse_page(b, SOURCE.first_request(b), fixture("v3-page1.json"), 0)
    assert first.total == 14 and len(first.postings) == 10
    assert first.next is not None
    last = SOURCE.parse_page(b, first.next, fixture("v3-page2.json"), 1)
    assert last.next is None and len(last.postings) == 4


def test_v3_fields() -> None:
    postings, _ = crawl_pure(board())
    p = by_title(postings, "Site Selection Lead, EMEA")
    assert p.url == f"https://apply.workable.com/{ACCOUNT}/j/{p.external_id}/"
    assert p.locations == ["Amsterdam, North Holland, Netherlands"]
    assert p.places == [Place(city="Amsterdam", region="North Holland", country="NL")]
    assert p.department == "Infrastructure" and p.remote is False
    assert p.posted_at == datetime(2026, 8, 14, tzinfo=UTC)
    assert p.needs_detail and p.detail_ref == p.external_id
    remote = by_title(postings, "Power Procurement Manager")
    assert remote.remote is True and remote.locations == ["Remote, United States"]
    assert remote.places == [Place(country="US", remote=True)]
    assert by_title(postings, "Capacity Planning Manager").requisition_id == "HC-147"


def test_v3_detail() -> None:
    b = board()
    stub = by_title(crawl_pure(b)[0], "Commissioning Engineer")
    req = SOURCE.detail_request(b, stub)
    assert (
        req is not None
        and req.url == f"https://apply.workable.com/api/v2/accounts/{ACCOUNT}/jobs/{stub.external_id}"
    )
    merged = SOURCE.parse_detail(b, stub, fixture(f"detail/{stub.external_id}.json"))
    assert merged.description.splitlines() == [
        "Helio Compute builds and runs GPU campuses. As Commissioning Engineer you will work from Kajaani.",
        "5+ years on mission-critical facilities",
        "Equity, relocation support.",
    ]
    assert not merged.needs_detail and merged.locations == stub.locations
    with pytest.raises(ParseError, match=re.escape("workable detail: no `description`")):
        SOURCE.parse_detail(b, stub, b'{"shortcode": "X"}')


def test_widget_endpoint() -> None:
    b = board(params={"endpoint": "widget"})
    req = SOURCE.first_request(b)
    assert (req.method, req.url, req.params, req.conditional) == (
        "GET",
        "https://apply.workable.com" + WIDGET,
        {"details": "true"},
        True,
    )
    page = SOURCE.parse_page(b, req, fixture("widget.json"), 0)
    assert page.next is None and len(page.postings) == 14
    v3 = {p.external_id: p for p in crawl_pure(board())[0]}
    for p in page.postings:  # the same ids, urls and places on both endpoints: switching keeps history
        assert (p.url, p.title, p.places, p.remote) == (
            v3[p.external_id].url,
            v3[p.external_id].title,
            v3[p.external_id].places,
            v3[p.external_id].remote,
        )
        assert p.description and not p.needs_detail


def test_fallback_request_on_404() -> None:
    fallback = SOURCE.fallback_request(board(), 404)
    assert fallback is not None and fallback.url.endswith(WIDGET)
    assert SOURCE.fallback_request(board(), 500) is None
    assert SOURCE.fallback_request(board(params={"endpoint": "widget"}), 404) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "workable: body is not valid JSON"),
        (b'{"total": 1}', "workable: `results` is missing"),
        (b'{"results": [{"title": "x"}]}', "workable: jobs[0] has no `shortcode`"),
    ],
)
def test_malformed_v3(raw: bytes, message: str) -> None:
    b = board()
    with pytest.raises(ParseError) as err:
        SOURCE.parse_page(b, SOURCE.first_request(b), raw, 0)
    assert str(err.value).startswith(message)


def test_malformed_widget() -> None:
    b = board(params={"endpoint": "widget"})
    with pytest.raises(ParseError, match=re.escape("workable widget: `jobs`: expected list, got NoneType")):
        SOURCE.parse_page(b, SOURCE.first_request(b), b'{"name": "x"}', 0)


def real(name: str) -> bytes:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    return path.read_bytes()


def test_real_samples() -> None:
    b = board(token="huggingface")
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("workable_v3_jobs_sample.json"), 0)
    assert page.total == 7 and page.next is None and len(page.postings) == 3
    paris = page.postings[2]
    assert paris.title == "Data/Infrastructure Advocate Engineer - EMEA Remote"
    assert paris.places == [Place(city="Paris", region="Île-de-France", country="FR", remote=True)]
    assert paris.url == "https://apply.workable.com/huggingface/j/97904BAC90/"

    w = board(token="huggingface", params={"endpoint": "widget"})
    jobs = json.loads(real("workable_huggingface_widget_v1_jobs_array.json"))
    page = SOURCE.parse_page(w, SOURCE.first_request(w), json.dumps({"name": "HF", "jobs": jobs}).encode(), 0)
    assert [p.external_id for p in page.postings] == ["F4C096B22E", "002470F128"]
    assert page.postings[1].places == [Place(city="New York", region="New York", country="US", remote=True)]

    k = board(token="kroo", params={"endpoint": "widget"})
    page = SOURCE.parse_page(k, SOURCE.first_request(k), real("workable_kroo_widget_v1_details_2024.json"), 0)
    assert page.postings[0].department == "Risk & Compliance" and page.postings[0].requisition_id == "CM5"
    assert page.postings[0].description.startswith("What We’re All About at Kroo")


# ---------------------------------------------------------------------------------------- loopback crawls


def serve_v3(server: BoardServer, page1: bytes | None = None) -> None:
    first = page1 or fixture("v3-page1.json")

    def reply(info: RequestInfo) -> Any:
        body = info.json()
        if body == {}:
            return first
        if body == {"token": CURSOR}:
            return fixture("v3-page2.json")
        return Reply(400, {"error": "bad token"})

    server.route("POST", V3, reply, content_type="application/json")
    for path in (FIXTURES / "detail").glob("*.json"):
        server.route(
            "GET",
            f"/api/v2/accounts/{ACCOUNT}/jobs/{path.stem}",
            path.read_bytes(),
            content_type="application/json",
        )


async def crawl(server: BoardServer, b: BoardConfig | None = None, **kwargs: Any) -> BoardFetch:
    async with Engine(CFG) as engine:
        return await crawl_board(engine, SOURCE, b or board(base_url=server.base_url), **kwargs)


@pytest.mark.anyio
async def test_crawl_v3_with_details_then_only_new_ones(board_server: BoardServer) -> None:
    serve_v3(board_server)
    first = await crawl(board_server)
    assert (first.status, first.complete, first.pages, len(first.postings)) == ("ok", True, 2, 14)
    assert first.requests == 2 + 14
    assert [r.json() for r in board_server.requests_to(V3)] == [{}, {"token": CURSOR}]

    data = json.loads(fixture("v3-page1.json"))
    data["results"][0] = dict(data["results"][0], title="Data Center Construction Manager, Reno Campus")
    board_server.requests.clear()
    serve_v3(board_server, json.dumps(data).encode())
    second = await crawl(board_server, known_hashes=first.list_hashes)
    assert second.status == "ok"
    assert [r.path.rsplit("/", 1)[-1] for r in board_server.requests if r.method == "GET"] == [
        data["results"][0]["shortcode"]
    ]


@pytest.mark.anyio
async def test_a_missing_second_page_fails_the_board(board_server: BoardServer) -> None:
    board_server.route(
        "POST",
        V3,
        lambda info: fixture("v3-page1.json") if info.json() == {} else Reply(404, {}),
        content_type="application/json",
    )
    result = await crawl(board_server)
    assert result.status == "failed" and result.postings == [] and result.http_status == 404


@pytest.mark.anyio
async def test_widget_crawl_is_conditional(board_server: BoardServer) -> None:
    board_server.route("GET", WIDGET, fixture("widget.json"), etag='"w1"', content_type="application/json")
    b = board(base_url=board_server.base_url, params={"endpoint": "widget"})
    first = await crawl(board_server, b)
    assert first.status == "ok" and len(first.postings) == 14 and first.requests == 1
    assert board_server.requests[0].query == {"details": "true"}
    second = await crawl(board_server, b, validators=Validators(etag=first.etag))
    assert second.status == "not_modified"


@pytest.mark.anyio
async def test_v3_404_and_widget_404_fails_the_board(board_server: BoardServer) -> None:
    result = await crawl(board_server)  # neither endpoint exists
    assert result.status == "failed" and result.http_status == 404
    assert [r.path for r in board_server.requests] == [V3, WIDGET]


@pytest.mark.anyio
async def test_v3_404_falls_back_to_the_widget_automatically(board_server: BoardServer) -> None:
    board_server.route("POST", V3, Reply(404, {"error": "Not found"}))
    board_server.route("GET", WIDGET, fixture("widget.json"), content_type="application/json")
    b = board(base_url=board_server.base_url, params={"details": "none"})
    result = await crawl(board_server, b)
    assert result.status == "ok" and result.postings, result.error
    assert [r.method for r in board_server.requests] == ["POST", "GET"]
