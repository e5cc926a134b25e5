"""Lever parsing and paging, pure: bundled fixtures, hand-made bodies for each quirk, the real captured sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrasignal.config import BoardConfig
from infrasignal.model import ParseError, Place, Posting, Request
from infrasignal.sources import get_source
from infrasignal.sources.lever import SOURCE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lever" / "lattice-compute"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {"company": "Lattice Compute", "ats": "lever", "token": "lattice-compute", **kw}
    return BoardConfig(**fields)


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def fixture(n: int) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / f"day{n}.json").read_bytes())
    return data


def crawl(items: list[dict[str, Any]], b: BoardConfig) -> tuple[list[Posting], list[Request]]:
    """Follow `next` like the crawler does, serving each request from `items` by skip / limit."""
    request: Request | None = SOURCE.first_request(b)
    postings: list[Posting] = []
    requests: list[Request] = []
    while request is not None:
        requests.append(request)
        params = request.params or {}
        skip, limit = int(params["skip"]), int(params["limit"])
        page = SOURCE.parse_page(b, request, body(items[skip : skip + limit]), len(requests) - 1)
        postings.extend(page.postings)
        request = page.next
    return postings, requests


def by_title(postings: list[Posting], title: str) -> Posting:
    [posting] = [p for p in postings if p.title == title]
    return posting


def minimal(**fields: Any) -> dict[str, Any]:
    item = {"id": "abc", "text": "Engineer", "hostedUrl": "https://jobs.lever.co/x/abc"}
    item.update(fields)
    return item


def parse_one(item: Any) -> Posting:
    b = board()
    [posting] = SOURCE.parse_page(b, SOURCE.first_request(b), body([item]), 0).postings
    return posting


def test_registered_under_its_name() -> None:
    assert get_source("lever") is SOURCE


def test_first_request_defaults() -> None:
    req = SOURCE.first_request(board())
    assert req.url == "https://api.lever.co/v0/postings/lattice-compute"
    assert req.params == {"mode": "json", "skip": 0, "limit": 500}
    assert req.conditional is True
    assert SOURCE.page_size == 500


def test_page_size_comes_from_board_params() -> None:
    req = SOURCE.first_request(board(params={"page_size": 5}))
    assert req.params == {"mode": "json", "skip": 0, "limit": 5}


def test_eu_region_uses_eu_host_for_api_and_fallback_urls() -> None:
    b = board(params={"region": "eu"})
    assert SOURCE.first_request(b).url == "https://api.eu.lever.co/v0/postings/lattice-compute"
    p = SOURCE.parse_page(b, SOURCE.first_request(b), body([{"id": "u1", "text": "X"}]), 0).postings[0]
    assert p.url == "https://jobs.eu.lever.co/lattice-compute/u1"


@pytest.mark.parametrize("params", [{}, {"region": "eu"}])
def test_base_url_replaces_host_and_keeps_path(params: dict[str, Any]) -> None:
    req = SOURCE.first_request(board(base_url="http://127.0.0.1:8002", params=params))
    assert req.url == "http://127.0.0.1:8002/v0/postings/lattice-compute"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"region": "us"}, "params.region must be one of eu, global"),
        ({"page_size": 0}, "params.page_size must be an integer from 1 to 1000"),
        ({"page_size": "50"}, "params.page_size must be an integer"),
        ({"page_size": True}, "params.page_size must be an integer"),
    ],
)
def test_check_board_rejects_bad_params(params: dict[str, Any], problem: str) -> None:
    result = SOURCE.check_board(board(params=params))
    assert result is not None and result.startswith(problem)


def test_check_board_accepts_good_params() -> None:
    assert SOURCE.check_board(board(params={"region": "EU", "page_size": 20})) is None
    assert SOURCE.check_board(board(token=None)) == "missing required key `token` for ats = 'lever'"


def test_full_page_asks_for_the_next_one_then_a_short_page_ends() -> None:
    postings, requests = crawl(fixture(1), board(params={"page_size": 5}))
    assert len(postings) == 8
    assert [r.params for r in requests] == [
        {"mode": "json", "skip": 0, "limit": 5},
        {"mode": "json", "skip": 5, "limit": 5},
    ]
    assert [r.conditional for r in requests] == [True, False]  # later pages always fetched in full
    assert {r.url for r in requests} == {"https://api.lever.co/v0/postings/lattice-compute"}


def test_board_an_exact_multiple_of_the_page_size_ends_on_an_empty_page() -> None:
    postings, requests = crawl(fixture(1), board(params={"page_size": 4}))
    assert len(postings) == 8
    assert [(r.params or {})["skip"] for r in requests] == [0, 4, 8]


def test_next_page_keeps_the_loopback_host() -> None:
    _, requests = crawl(fixture(1), board(base_url="http://127.0.0.1:9/", params={"page_size": 3}))
    assert [r.url for r in requests] == ["http://127.0.0.1:9/v0/postings/lattice-compute"] * 3


def test_page_longer_than_limit_means_the_api_sent_everything() -> None:
    b = board(params={"page_size": 2})
    page = SOURCE.parse_page(b, SOURCE.first_request(b), body(fixture(1)), 0)
    assert len(page.postings) == 8 and page.next is None


def test_endless_full_pages_fail_instead_of_looping() -> None:
    b = board(params={"page_size": 1})
    req = Request(url="https://api.lever.co/v0/postings/x", params={"mode": "json", "skip": 0, "limit": 1})
    with pytest.raises(ParseError, match="lever: still full pages after 500"):
        SOURCE.parse_page(b, req, body([minimal()]), SOURCE.max_pages - 1)


def test_fields_of_a_posting() -> None:
    postings, _ = crawl(fixture(1), board())
    p = by_title(postings, "Senior Electrical Engineer, Data Center Design")
    assert p.locations == ["Frankfurt, Germany", "Amsterdam, Netherlands"]  # categories.allLocations
    assert p.department == "Infrastructure"
    assert p.team == "Design & Construction"
    assert p.remote is False  # hybrid
    assert p.places == [Place(country="DE")]
    assert p.url.startswith("https://jobs.lever.co/lattice-compute/")
    assert p.url.endswith(p.external_id)
    assert p.posted_at == datetime(2026, 8, 27, 9, 10, 0, 417000, tzinfo=UTC)  # epoch milliseconds
    assert p.updated_at is None


def test_description_joins_plain_text_lists_and_additional_without_nbsp() -> None:
    postings, _ = crawl(fixture(1), board())
    p = by_title(postings, "Power & Energy Strategy Lead")
    assert "\u00a0" not in p.description and "<li>" not in p.description
    lines = p.description.splitlines()
    assert lines[0] == "About Lattice Compute"
    assert "What you'll do" in lines  # lists[].text
    assert "Negotiate energy supply agreements" in lines  # lists[].content <li> items
    assert lines[-1] == "Lattice Compute is an equal opportunity employer."  # additionalPlain
    assert "" not in lines


def test_remote_and_fallbacks() -> None:
    postings, _ = crawl(fixture(1), board())
    remote = by_title(postings, "Power & Energy Strategy Lead")
    assert remote.remote is True and remote.places == [Place(country="US", remote=True)]
    account = by_title(postings, "Account Executive, Enterprise")
    assert account.locations == ["New York, NY"]  # no allLocations: categories.location
    assert account.remote is None  # workplaceType "unspecified"
    assert account.places == []  # country null
    platform = by_title(postings, "Software Engineer, Kubernetes Platform")
    assert (platform.department, platform.team) == ("Platform", "Platform")  # no department: the team


def test_day2_adds_removes_and_changes_postings() -> None:
    b = board(params={"page_size": 5})
    one = {p.external_id: p for p in crawl(fixture(1), b)[0]}
    two = {p.external_id: p for p in crawl(fixture(2), b)[0]}
    assert {two[i].title for i in two.keys() - one.keys()} == {
        "Data Center Construction Manager",
        "Mechanical Engineer, Liquid Cooling",
    }
    assert {one[i].title for i in one.keys() - two.keys()} == {"Account Executive, Enterprise"}
    changed = [i for i in one.keys() & two.keys() if one[i].content_hash() != two[i].content_hash()]
    assert [(one[i].title, two[i].title) for i in changed] == [
        ("Data Center Technician", "Data Center Technician II")
    ]


def test_bad_fields_degrade_to_empty_values() -> None:
    p = parse_one(
        {
            "id": "u9",
            "text": None,
            "categories": None,
            "country": "United States",
            "createdAt": "yesterday",
            "lists": [None, {"text": 5, "content": None}],
            "descriptionPlain": None,
            "description": "<p>Only <b>HTML</b></p>",
        }
    )
    assert (p.title, p.locations, p.department, p.team) == ("", [], "", "")
    assert p.places == [] and p.posted_at is None and p.remote is None
    # the HTML fallback; a list heading that is not a string is skipped
    assert " ".join(p.description.split()) == "Only HTML"
    assert p.url == "https://jobs.lever.co/lattice-compute/u9"


def test_lowercase_country_code_is_normalised() -> None:
    assert parse_one(minimal(country="gb")).places == [Place(country="GB")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<!DOCTYPE html><html>jobs</html>", "lever: body is not valid JSON"),
        (body({"ok": False, "error": "Document not found"}), "lever: expected a JSON array, got dict"),
        (body(None), "lever: expected a JSON array, got NoneType"),
        (body([minimal(), "oops"]), "lever: postings[1]: expected dict, got str"),
        (body([minimal(), {"text": "No id"}]), "lever: postings[1] has no `id`"),
        (body([minimal(id="")]), "lever: postings[0] has no `id`"),
    ],
)
def test_malformed_bodies_fail_the_page_with_one_line(raw: bytes, message: str) -> None:
    b = board()
    with pytest.raises(ParseError) as err:
        SOURCE.parse_page(b, SOURCE.first_request(b), raw, 0)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_real_captured_sample() -> None:
    path = REAL / "lever_palantir.json"
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    b = board(token="palantir")
    data = json.loads(path.read_bytes())
    page = SOURCE.parse_page(b, SOURCE.first_request(b), path.read_bytes(), 0)
    assert len(page.postings) == len(data) == 2
    assert page.next is None  # 2 < 100
    london, palo_alto = page.postings
    assert london.external_id == "ac978161-6f46-4f6b-ad9e-a258e642751c"
    assert london.title == "Administrative Business Partner"
    assert london.url == "https://jobs.lever.co/palantir/ac978161-6f46-4f6b-ad9e-a258e642751c"
    assert london.locations == ["London, United Kingdom"]
    assert (london.department, london.team) == ("Administrative", "Administrative")
    assert london.places == [Place(country="GB")]
    assert london.remote is False  # hybrid
    assert london.posted_at == datetime.fromtimestamp(1711403416.463, tz=UTC)
    assert "\u00a0" not in london.description
    assert "Administrative Business Partner (Foundry)" in london.description  # lists[].text
    assert "Track and process expense reports." in london.description  # lists[].content
    assert "Life at Palantir" in london.description  # additionalPlain
    assert palo_alto.locations == ["Palo Alto, CA"] and palo_alto.places == [Place(country="US")]
