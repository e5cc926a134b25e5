"""Workday CXS: pure parsing of the bundled pages and details, paging state, the cap, the real captured
samples, then end-to-end crawls through `crawl_board` against a loopback server at the real paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from infrasignal.config import BoardConfig, FetchConfig, validate
from infrasignal.crawl import BoardFetch, crawl_board
from infrasignal.fetch import Engine
from infrasignal.model import Page, ParseError, Place, Posting, Request
from infrasignal.sources import get_source
from infrasignal.sources._common import carried
from infrasignal.sources.workday import SOURCE, WorkdaySource
from support.boardserver import BoardServer, Fault, RequestInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workday" / "meridiandc"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"
URL = "https://meridiandc.wd5.myworkdayjobs.com/Meridian_Careers"
API = "/wday/cxs/meridiandc/Meridian_Careers"
CFG = validate(FetchConfig, {"timeout": 2.0, "retries": 0, "backoff": 0.01, "per_host": 4})


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {"company": "Meridian Data Centers", "ats": "workday", "url": URL, **kw}
    return BoardConfig(**fields)


def load(day: int, name: str) -> bytes:
    return (FIXTURES / f"day{day}" / name).read_bytes()


def crawl_pure(day: int, b: BoardConfig | None = None) -> tuple[list[Page], list[Request]]:
    """Follow `next` like the crawler does, answering each offset from the day's page files."""
    b = b or board()
    request: Request | None = SOURCE.first_request(b)
    pages: list[Page] = []
    requests: list[Request] = []
    while request is not None:
        requests.append(request)
        page = SOURCE.parse_page(b, request, load(day, f"jobs-{request.json['offset']}.json"), len(pages))
        pages.append(page)
        request = page.next
    return pages, requests


def postings_of(pages: list[Page]) -> dict[str, Posting]:
    return {p.external_id: p for page in pages for p in page.postings}


def jobs_body(jobs: list[dict[str, Any]], total: int) -> bytes:
    return json.dumps({"total": total, "jobPostings": jobs}).encode()


def synthetic(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "title": f"Data Center Technician {n}",
            "externalPath": f"/job/Ashburn-VA/Data-Center-Technician_JR-{n}",
            "locationsText": "Ashburn, VA",
            "postedOn": "Posted Today",
            "bulletFields": [f"JR-{n}"],
        }
        for n in range(10000 + start, 10000 + start + count)
    ]


# ---------------------------------------------------------------------------------------- config, requests


def test_registered_under_its_name() -> None:
    assert get_source("workday") is SOURCE


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"url": None}, "missing required key `url` for ats = 'workday'"),
        ({"url": "https://meridiandc.myworkdayjobs.com/X"}, "url must look like https://{tenant}.wd{N}"),
        ({"url": "https://careers.meridian.example/jobs"}, "url must look like"),
        ({"url": URL + "/job/Ashburn-VA/x_JR-1"}, "url must look like"),
        ({"params": {"facets": ["x"]}}, "params.facets must be a table"),
        ({"params": {"search": 3}}, "params.search must be a string"),
        ({"params": {"details": "some"}}, "params.details must be one of locations, all, none"),
        ({"params": {"split": "no"}}, "params.split must be true or false"),
    ],
)
def test_check_board_rejects_bad_config(fields: dict[str, Any], problem: str) -> None:
    result = SOURCE.check_board(board(**fields))
    assert result is not None and result.startswith(problem)
    assert "\n" not in result


@pytest.mark.parametrize(
    "url", [URL, URL + "/", "https://meridiandc.wd5.myworkdayjobs.com/en-US/Meridian_Careers"]
)
def test_check_board_accepts_site_urls(url: str) -> None:
    assert SOURCE.check_board(board(url=url)) is None


def test_first_request_is_the_cxs_post() -> None:
    req = SOURCE.first_request(board())
    assert req.url == "https://meridiandc.wd5.myworkdayjobs.com/wday/cxs/meridiandc/Meridian_Careers/jobs"
    assert req.method == "POST"
    assert req.json == {"appliedFacets": {}, "limit": 20, "offset": 0, "searchText": ""}
    assert not req.conditional and not req.robots


def test_first_request_options() -> None:
    facets = {"locationCountry": ["bc33aa3152ec42d4995f4791a106ed09"]}
    b = board(
        url="https://meridiandc.wd5.myworkdayjobs.com/en-US/Meridian_Careers",
        token="meridian",  # the tenant, when it is not the host's first label
        base_url="http://127.0.0.1:8005",
        params={"facets": facets, "search": "engineer"},
    )
    req = SOURCE.first_request(b)
    assert req.url == "http://127.0.0.1:8005/wday/cxs/meridian/Meridian_Careers/jobs"
    assert req.json == {"appliedFacets": facets, "limit": 20, "offset": 0, "searchText": "engineer"}


# ---------------------------------------------------------------------------------------- pages


def test_pages_follow_offsets_until_the_first_pages_total() -> None:
    pages, requests = crawl_pure(1)
    assert [r.json["offset"] for r in requests] == [0, 20, 40]
    assert {r.json["limit"] for r in requests} == {20}
    assert [len(p.postings) for p in pages] == [20, 20, 5]
    assert [p.total for p in pages] == [45, None, None]  # later pages say "total": 0
    assert not any(p.truncated for p in pages)
    assert len(postings_of(pages)) == 45


def test_fields_of_a_list_entry() -> None:
    postings = postings_of(crawl_pure(1)[0])
    p = postings["/job/Ashburn-VA/Critical-Facilities-Engineer_JR-20101"]
    assert p.title == "Critical Facilities Engineer"
    assert p.url == URL + "/job/Ashburn-VA/Critical-Facilities-Engineer_JR-20101"
    assert p.locations == ["Ashburn, VA"]
    assert p.requisition_id == "JR-20101"
    assert p.posted_at is None  # "Posted Today" is not a date
    assert not p.needs_detail


def test_placeholders_and_missing_locations_need_the_detail() -> None:
    postings = postings_of(crawl_pure(1)[0])
    multi = postings["/job/Amsterdam-Netherlands/Electrical-Commissioning-Engineer_JR-20104"]
    assert multi.locations == ["2 Locations"] and multi.needs_detail
    assert multi.detail_ref == multi.external_id
    nowhere = postings["/Construction-Project-Manager---Data-Center_JR-20107"]
    assert nowhere.locations == [] and nowhere.needs_detail
    assert sorted(p.requisition_id or "" for p in postings.values() if p.needs_detail) == [
        "JR-20104",
        "JR-20107",
        "JR-20112",
        "JR-20117",
        "JR-20122",
        "JR-20126",
        "JR-20135",
    ]


@pytest.mark.parametrize(("mode", "count"), [("all", 45), ("none", 0), ("locations", 7)])
def test_details_param(mode: str, count: int) -> None:
    postings = postings_of(crawl_pure(1, board(params={"details": mode}))[0])
    assert sum(p.needs_detail for p in postings.values()) == count


def test_a_full_last_page_at_the_total_stops_without_an_empty_request() -> None:
    b = board()
    first = SOURCE.parse_page(b, SOURCE.first_request(b), jobs_body(synthetic(0, 20), 40), 0)
    assert first.next is not None
    second = SOURCE.parse_page(b, first.next, jobs_body(synthetic(20, 20), 0), 1)
    assert second.next is None and second.total is None


def test_over_the_cap_is_truncated_and_paging_stops_at_2000() -> None:
    b = board()
    first = SOURCE.parse_page(b, SOURCE.first_request(b), jobs_body(synthetic(0, 20), 2345), 0)
    assert first.truncated and first.total == 2345
    assert first.next is not None
    near_end = Request(first.next.url, "POST", json={**first.next.json, "offset": 1980})
    last = SOURCE.parse_page(b, near_end, jobs_body(synthetic(1980, 20), 0), 99)
    assert last.next is None


def test_a_page_that_wraps_to_page_one_ends_paging_truncated() -> None:
    b = board()
    first = SOURCE.parse_page(b, SOURCE.first_request(b), jobs_body(synthetic(0, 20), 90), 0)
    assert first.next is not None
    wrapped = SOURCE.parse_page(b, first.next, jobs_body(synthetic(0, 20), 0), 1)
    assert wrapped == Page(postings=[], truncated=True)


def test_without_the_carried_total_paging_stops_on_a_short_page() -> None:
    b = board()
    plain = Request(
        SOURCE.first_request(b).url, "POST", json={"appliedFacets": {}, "limit": 20, "offset": 20}
    )
    full = SOURCE.parse_page(b, plain, jobs_body(synthetic(20, 20), 0), 1)
    assert full.next is not None and full.next.json["offset"] == 40
    short = SOURCE.parse_page(b, full.next, jobs_body(synthetic(40, 3), 0), 2)
    assert short.next is None
    empty = SOURCE.parse_page(b, full.next, jobs_body([], 0), 2)
    assert empty.next is None and empty.postings == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<!DOCTYPE html><html><body>Loading...</body></html>", "workday: body is not valid JSON"),
        (b'{"total": 3}', "workday: `jobPostings` is missing"),
        (b'{"total": 3, "jobPostings": {}}', "workday: `jobPostings`: expected list, got dict"),
        (
            b'{"total": 1, "jobPostings": [{"title": "No path"}]}',
            "workday: jobPostings[0] has no `externalPath`",
        ),
        (b'{"total": 1, "jobPostings": ["x"]}', "workday: jobPostings[0]: expected dict, got str"),
    ],
)
def test_malformed_pages_fail_with_one_line(raw: bytes, message: str) -> None:
    b = board()
    with pytest.raises(ParseError) as err:
        SOURCE.parse_page(b, SOURCE.first_request(b), raw, 0)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------- details


def test_detail_request_and_merge() -> None:
    b = board()
    postings = postings_of(crawl_pure(1)[0])
    stub = postings["/job/Dublin-Ireland/Site-Acquisition-Manager_JR-20112"]
    req = SOURCE.detail_request(b, stub)
    assert req is not None and req.method == "GET"
    assert req.url == "https://meridiandc.wd5.myworkdayjobs.com" + API + stub.external_id
    merged = SOURCE.parse_detail(b, stub, load(1, "detail/JR-20112.json"))
    assert merged.locations == ["Dublin, Ireland", "London, UK (Slough)"]
    assert merged.posted_at == datetime(2026, 8, 12, tzinfo=UTC)  # startDate
    assert merged.requisition_id == "JR-20112"
    assert merged.description.startswith("Who we are\nMeridian Data Centers designs")
    assert "<" not in merged.description and "\u00a0" not in merged.description
    assert merged.places == []  # several locations, one country stated: no structured place
    assert stub.locations == ["2 Locations"]  # the list version is not modified


def test_detail_of_a_single_location_gives_its_country() -> None:
    b = board()
    stub = postings_of(crawl_pure(1)[0])["/Construction-Project-Manager---Data-Center_JR-20107"]
    merged = SOURCE.parse_detail(b, stub, load(1, "detail/JR-20107.json"))
    assert merged.locations == ["Ashburn, VA"]
    assert merged.places == [Place(country="US")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html/>", "workday detail: body is not valid JSON"),
        (b'{"userAuthenticated": false}', "workday detail: `jobPostingInfo`: expected dict, got NoneType"),
        (b'{"jobPostingInfo": {"title": "x"}}', "workday detail: no `location` in jobPostingInfo"),
    ],
)
def test_malformed_detail(raw: bytes, message: str) -> None:
    stub = Posting(external_id="/job/x_JR-1", title="x", url=URL + "/job/x_JR-1", needs_detail=True)
    with pytest.raises(ParseError, match=message.replace("`", ".")):
        SOURCE.parse_detail(board(), stub, raw)


def test_remote_type_in_detail() -> None:
    stub = Posting(external_id="/job/x_JR-1", title="x", url="u")
    body = {"jobPostingInfo": {"location": "United Kingdom Offsite (ZUK99)", "remoteType": ["Fully Remote"]}}
    assert SOURCE.parse_detail(board(), stub, json.dumps(body).encode()).remote is True


# ---------------------------------------------------------------------------------------- real samples


def real(name: str) -> bytes:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    return path.read_bytes()


def test_real_begacheese_list_and_detail() -> None:
    b = board(url="https://begacheese.wd3.myworkdayjobs.com/Bega_Careers")
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("workday_begacheese_jobs.json"), 0)
    assert page.total == 29 and len(page.postings) == 20 and not page.truncated
    assert page.next is not None and page.next.json["offset"] == 20
    by_path = {p.external_id: p for p in page.postings}
    hobart = by_path["/job/Hobart-TAS/Quality-Specialist---Environmental---Sanitation_JR-7309"]
    assert hobart.locations == ["Hobart (TAS)"] and not hobart.needs_detail
    assert by_path["/job/Production-Worker---Night-Shift_JR-3685"].needs_detail  # no locationsText
    assert by_path["/job/Penrith-NSW/Expression-Of-Interest-Warehouse-Operator_JR-4089"].locations == [
        "2 Locations"
    ]
    merged = SOURCE.parse_detail(b, hobart, real("workday_begacheese_job_detail.json"))
    assert merged.posted_at == datetime(2026, 6, 15, tzinfo=UTC)
    assert merged.places == [Place(country="AU")] and merged.requisition_id == "JR-7309"
    assert "Lenah Valley" in merged.description


def test_real_micron_is_listed_by_job_family() -> None:
    b = board(url="https://micron.wd1.myworkdayjobs.com/External")
    page = SOURCE.parse_page(b, SOURCE.first_request(b), real("workday_micron_jobs.json"), 0)
    assert page.total == 2912 and not page.truncated and len(page.postings) == 20
    assert any(p.title.startswith("半導体製造") for p in page.postings)
    assert sum(p.locations == ["2 Locations"] for p in page.postings) >= 2
    families = json.loads(real("workday_micron_jobs.json"))["facets"][2]["values"]
    assert page.next is not None and page.next.json == {
        "appliedFacets": {"jobFamilyGroup": [families[0]["id"]]},  # the largest family, 1841, fits the cap
        "limit": 20,
        "offset": 0,
        "searchText": "",
    }
    assert len(carried(page.next)["parts"]) == len([f for f in families if f["count"]]) - 1
    unsplit = board(url="https://micron.wd1.myworkdayjobs.com/External", params={"split": False})
    page = SOURCE.parse_page(unsplit, SOURCE.first_request(unsplit), real("workday_micron_jobs.json"), 0)
    assert page.truncated and page.next is not None and page.next.json["offset"] == 20


def test_real_nvidia_and_motorola_shapes() -> None:
    b = board(url="https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite")
    jobs = json.loads(real("workday_nvidia_jobpostings_array.json"))
    page = SOURCE.parse_page(b, SOURCE.first_request(b), jobs_body(jobs, 2), 0)
    assert [p.locations for p in page.postings] == [["China, Shanghai"], ["US, CA, Santa Clara"]]
    b = board(url="https://motorolasolutions.wd5.myworkdayjobs.com/Careers")
    response = json.loads(real("workday_motorolasolutions_jobs_country_facet_2024.json"))["response"]
    page = SOURCE.parse_page(b, SOURCE.first_request(b), json.dumps(response).encode(), 0)
    assert page.total == 31 and page.postings[0].requisition_id == "R45693"
    merged = SOURCE.parse_detail(b, page.postings[0], real("workday_motorolasolutions_job_detail_2024.json"))
    assert merged.places == [Place(country="GB")] and merged.posted_at == datetime(2024, 8, 7, tzinfo=UTC)


# ---------------------------------------------------------------------------------------- loopback crawls

pytest_anyio = pytest.mark.anyio


def serve_pages(server: BoardServer, pages: dict[int, bytes]) -> None:
    """Answer the jobs POST by the offset in its body, like the real API; unknown offsets are a 404."""

    def reply(info: RequestInfo) -> Any:
        offset = int(info.json()["offset"])
        if offset not in pages:
            from support.boardserver import Reply

            return Reply(404, {"errorCode": "HTTP_404"})
        return pages[offset]

    server.route("POST", API + "/jobs", reply, content_type="application/json")


def serve_day(server: BoardServer, day: int) -> None:
    serve_pages(server, {off: load(day, f"jobs-{off}.json") for off in (0, 20, 40)})
    for path in sorted((FIXTURES / f"day{day}" / "detail").glob("*.json")):
        info = json.loads(path.read_bytes())["jobPostingInfo"]
        external = info["externalUrl"].removeprefix(URL)
        server.route("GET", API + external, path.read_bytes(), content_type="application/json")


async def crawl(server: BoardServer, **kwargs: Any) -> BoardFetch:
    async with Engine(CFG) as engine:
        return await crawl_board(engine, SOURCE, board(base_url=server.base_url), **kwargs)


@pytest_anyio
async def test_crawl_day1_to_completion_with_details(board_server: BoardServer) -> None:
    serve_day(board_server, 1)
    result = await crawl(board_server)
    assert (result.status, result.complete, result.truncated, result.error) == ("ok", True, False, None)
    assert len(result.postings) == 45 and result.pages == 3
    assert result.requests == 3 + 7  # three pages, a detail for each posting hiding its locations
    offsets = [r.json()["offset"] for r in board_server.requests_to(API + "/jobs", "POST")]
    assert offsets == [0, 20, 40]
    by_req = {p.requisition_id: p for p in result.postings}
    assert by_req["JR-20117"].locations == ["Ashburn, VA", "Manassas, VA", "Dallas, TX"]
    assert not by_req["JR-20117"].needs_detail
    assert by_req["JR-20101"].locations == ["Ashburn, VA"]
    assert all(p.url.startswith(URL + "/job/") or p.url.startswith(URL + "/") for p in result.postings)
    assert result.warnings == []


@pytest_anyio
async def test_day2_fetches_details_only_for_new_and_changed(board_server: BoardServer) -> None:
    serve_day(board_server, 1)
    first = await crawl(board_server)
    serve_day(board_server, 2)
    board_server.requests.clear()
    second = await crawl(board_server, known_hashes=first.list_hashes)
    assert second.status == "ok" and second.complete and len(second.postings) == 45
    details = sorted(r.path.rsplit("_", 1)[-1] for r in board_server.requests if r.method == "GET")
    assert details == ["JR-20112", "JR-20146"]  # new (2 Locations) and changed (2 -> 3 Locations)
    by_req = {p.requisition_id: p for p in second.postings}
    assert by_req["JR-20146"].locations == ["Tokyo, Japan", "Osaka, Japan"]
    assert by_req["JR-20112"].locations[-1] == "Paris, France"
    assert by_req["JR-20104"].needs_detail  # unchanged: the store keeps its stored details
    assert "JR-20103" not in by_req  # filled


@pytest_anyio
async def test_overlapping_pages_while_jobs_churn_are_deduplicated(board_server: BoardServer) -> None:
    jobs = synthetic(0, 45)
    churned = [*synthetic(900, 1), *jobs]  # a job posted between the first and second page requests
    serve_pages(
        board_server,
        {0: jobs_body(jobs[:20], 45), 20: jobs_body(churned[20:40], 0), 40: jobs_body(churned[40:60], 0)},
    )
    result = await crawl(board_server)
    assert result.status == "ok" and result.complete
    assert len(result.postings) == 45  # JR-10019 came twice, the new job was not reached: 45 distinct
    assert [p.requisition_id for p in result.postings] == [f"JR-{10000 + n}" for n in range(45)]


@pytest_anyio
async def test_the_cap_truncates_and_never_asks_past_2000(board_server: BoardServer) -> None:
    def reply(info: RequestInfo) -> bytes:
        offset = int(info.json()["offset"])
        if offset >= 2000:  # what NVIDIA does: wrap to page 1
            offset = 0
        return jobs_body(synthetic(offset, 20), 2345 if offset == 0 else 0)

    board_server.route("POST", API + "/jobs", reply, content_type="application/json")
    result = await crawl(board_server)
    assert result.status == "ok" and result.truncated and not result.complete
    assert result.incomplete_reason is not None and "2345" in result.incomplete_reason
    assert len(result.postings) == 2000 and result.pages == 100
    assert max(r.json()["offset"] for r in board_server.requests) == 1980


@pytest_anyio
async def test_a_missing_page_fails_the_board(board_server: BoardServer) -> None:
    serve_pages(board_server, {0: load(1, "jobs-0.json"), 20: load(1, "jobs-20.json")})
    result = await crawl(board_server)
    assert result.status == "failed" and result.postings == [] and not result.complete
    assert result.http_status == 404
    assert result.error == f"HTTP 404 from {board_server.base_url}{API}/jobs"


@pytest_anyio
async def test_an_html_shell_instead_of_json_fails_the_board(board_server: BoardServer) -> None:
    board_server.route("POST", API + "/jobs", "<html><body>Please enable JavaScript</body></html>")
    board_server.fault(API + "/jobs", Fault.status(503), method="POST")
    async with Engine(replace(CFG, retries=1)) as engine:
        result = await crawl_board(engine, SOURCE, board(base_url=board_server.base_url))
    assert result.status == "failed"
    assert result.error is not None and "workday: body is not valid JSON" in result.error


def facet_board(
    server: BoardServer, partitions: dict[str, list[dict[str, Any]]], total: int, facet: dict[str, Any]
) -> None:
    """A tenant whose unfiltered listing states `total` and offers `facet`; each facet value id lists its
    own postings (paged by offset, total on the first page only)."""

    def reply(info: RequestInfo) -> bytes:
        body = info.json()
        offset, applied = int(body["offset"]), body["appliedFacets"]
        if not applied:
            assert offset == 0, "a board that is split is not paged unfiltered"
            return json.dumps({"total": total, "jobPostings": synthetic(0, 20), "facets": [facet]}).encode()
        [values] = applied.values()
        jobs = partitions[values[0]]
        return jobs_body(jobs[offset : offset + 20], len(jobs) if offset == 0 else 0)

    server.route("POST", API + "/jobs", reply, content_type="application/json")


@pytest_anyio
async def test_a_big_board_is_listed_one_job_family_at_a_time(board_server: BoardServer) -> None:
    jobs = synthetic(0, 2345)
    parts = {"fam-a": jobs[:1500], "fam-b": jobs[1500:2200], "fam-c": jobs[2200:], "fam-d": []}
    values = [{"descriptor": k, "id": k, "count": len(v)} for k, v in parts.items()]
    facet_board(board_server, parts, 2345, {"facetParameter": "jobFamilyGroup", "values": values})
    result = await crawl(board_server)
    assert (result.status, result.complete, result.truncated) == ("ok", True, False)
    assert len(result.postings) == 2345
    applied = [r.json()["appliedFacets"] for r in board_server.requests]
    assert applied.count({}) == 1 and {"jobFamilyGroup": ["fam-d"]} not in applied  # empty value skipped
    assert result.pages == 1 + 75 + 35 + 8


@pytest_anyio
async def test_overlapping_location_values_are_deduplicated(
    board_server: BoardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WorkdaySource, "cap", 40)
    jobs = synthetic(0, 50)
    # job 49 is posted in four countries: NL and BE list nothing else, the same page twice in a row
    parts = {"us": jobs[:30], "de": jobs[25:50], "nl": jobs[49:], "be": jobs[49:]}
    countries = [{"descriptor": k, "id": k, "count": len(v)} for k, v in parts.items()]
    group = {
        "facetParameter": "locationMainGroup",
        "values": [{"facetParameter": "locationCountry", "values": countries}],
    }
    facet_board(board_server, parts, 50, group)
    result = await crawl(board_server)
    assert (result.status, result.complete, result.truncated) == ("ok", True, False), result.error
    assert len(result.postings) == 50


@pytest_anyio
async def test_values_that_miss_postings_leave_the_board_incomplete(
    board_server: BoardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WorkdaySource, "cap", 40)
    jobs = synthetic(0, 50)
    parts = {"us": jobs[:30], "de": jobs[30:45]}  # five postings carry no country
    countries = [{"descriptor": k, "id": k, "count": len(v)} for k, v in parts.items()]
    facet_board(board_server, parts, 50, {"facetParameter": "locationCountry", "values": countries})
    result = await crawl(board_server)
    assert result.status == "ok" and not result.complete and not result.truncated
    assert result.incomplete_reason == "the board states 50 postings but 45 were listed"


@pytest_anyio
async def test_a_value_over_the_cap_is_truncated(
    board_server: BoardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WorkdaySource, "cap", 40)
    jobs = synthetic(0, 70)
    parts = {"big": jobs[:60], "small": jobs[60:]}
    values = [{"descriptor": k, "id": k, "count": len(v)} for k, v in parts.items()]
    facet_board(board_server, parts, 70, {"facetParameter": "jobFamilyGroup", "values": values})
    result = await crawl(board_server)
    assert result.status == "ok" and result.truncated and not result.complete
    assert len(result.postings) == 50  # 40 of "big" (the cap), all 10 of "small"
