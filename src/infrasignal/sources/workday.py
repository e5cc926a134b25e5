"""Workday CXS: the JSON API behind every `{tenant}.wd{N}.myworkdayjobs.com/{site}` careers site.

Endpoints (undocumented, first-party; the board's `url` gives host and site, the tenant is the host's first
label unless `token` names it):
  list:   POST https://{host}/wday/cxs/{tenant}/{site}/jobs
          {"appliedFacets": {}, "limit": 20, "offset": N, "searchText": ""}
  detail: GET  https://{host}/wday/cxs/{tenant}/{site}{externalPath}
  human:  https://{host}/{site}{externalPath}
Board params: `facets` (appliedFacets, e.g. {locationCountry = ["<guid>"]}) and `search` (searchText) to
watch part of a tenant; `split` (default true, see below); `details` = "locations" (default: only postings
whose list entry hides its locations) | "all" | "none".

Quirks handled:
- `limit` above 20 is an HTTP 400, so pages are 20 long; `total` is stated only on the first page (later
  pages say 0): the first page's total is carried to the next requests and paging stops there, or at an
  empty or short page.
- at most 2000 results are served per query; beyond that offsets wrap to page 1. A board stating more is
  listed one facet value at a time (job family, else country or location, from the facets of the first
  response; `split = false` turns this off), each value paged to its own total; the crawler's check of
  the union against the board's total says whether that covered everything. A board (or facet value)
  that still states more than 2000 is marked truncated (it closes nothing) and paging stops at 2000; a
  page that repeats page 1 of its query ends that query and also marks the board truncated.
- pages overlap while jobs churn: `externalPath` is the external id, and the crawler dedupes by it.
- `locationsText` is missing or a placeholder "N Locations": such postings need the detail, which gives
  `jobPostingInfo.location` + `additionalLocations`, the description and `startDate`.
- `postedOn` ("Posted 30+ Days Ago") is relative text and never becomes a date.
- some tenants answer plain clients with an HTML shell: that is a parse error (the board fails).
- the paging state (a query's total and first ids, the facet values still to list) rides along in the
  next request (`CarryRequest`); the engine never sends it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from infrasignal.model import Place
from infrasignal.sources._common import as_int, carried, with_carry
from infrasignal.sources.base import (
    Page,
    ParseError,
    Posting,
    Request,
    Source,
    expect,
    html_to_text,
    load_json,
    parse_time,
    text,
    unique,
    with_base,
)

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig

URL_SHAPE = re.compile(
    r"^https://(?P<host>(?P<tenant>[A-Za-z0-9-]+)\.wd\d+\.myworkdayjobs\.com)"
    r"/(?:[a-z]{2}-[A-Z]{2}/)?(?P<site>[A-Za-z0-9_.-]+)/?$"
)
PLACEHOLDER = re.compile(r"^\d+\s+locations?$", re.IGNORECASE)
REQ_ID = re.compile(r"^[A-Za-z]{0,6}[-_]?\d{3,}[A-Za-z0-9-]*$")
DETAIL_MODES = ("locations", "all", "none")
# facets that partition a board, best first (names vary by tenant; country is the finest common one)
SPLIT_FACETS = (
    "locationCountry",
    "Location_Country",
    "Country",
    "locationRegionStateProvince",
    "jobFamilyGroup",
)


class WorkdaySource(Source):
    name = "workday"
    requires = ("url",)
    page_size: ClassVar[int] = 20  # the API rejects more
    cap: ClassVar[int] = 2000  # the API serves no more results than this per query

    def check_board(self, board: BoardConfig) -> str | None:
        problem = super().check_board(board)
        if problem:
            return problem
        if not URL_SHAPE.match(board.url or ""):
            return (
                f"url must look like https://{{tenant}}.wd{{N}}.myworkdayjobs.com/{{site}}, not {board.url!r}"
            )
        if not isinstance(board.params.get("facets", {}), dict):
            return "params.facets must be a table of facet name -> list of value ids"
        if not isinstance(board.params.get("search", ""), str):
            return "params.search must be a string"
        if not isinstance(board.params.get("split", True), bool):
            return "params.split must be true or false"
        details = board.params.get("details", "locations")
        if details not in DETAIL_MODES:
            return f"params.details must be one of {', '.join(DETAIL_MODES)}, not {details!r}"
        return None

    def first_request(self, board: BoardConfig) -> Request:
        host, tenant, site = _site(board)
        body = {
            "appliedFacets": dict(board.params.get("facets") or {}),
            "limit": self.page_size,
            "offset": 0,
            "searchText": str(board.params.get("search") or ""),
        }
        url = with_base(f"https://{host}/wday/cxs/{tenant}/{site}/jobs", board.base_url)
        return Request(url=url, method="POST", json=body, headers={"Accept": "application/json"})

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = expect(load_json(body, "workday"), dict, "workday: response")
        if "jobPostings" not in data:
            raise ParseError("workday: `jobPostings` is missing")
        jobs = expect(data["jobPostings"], list, "workday: `jobPostings`")
        postings = [self.parse_job(board, job, i) for i, job in enumerate(jobs)]
        sent = request.json if isinstance(request.json, dict) else {}
        offset = as_int(sent.get("offset")) or 0
        limit = as_int(sent.get("limit")) or self.page_size
        state = carried(request)
        ids = [p.external_id for p in postings]
        board_total = as_int(data.get("total")) if page_index == 0 else None
        truncated = False
        if offset == 0:  # the first page of a query: the board, or one facet value of it
            state |= {"total": as_int(data.get("total")), "first": ids[:3]}
            if (state["total"] or 0) > self.cap:
                parts = _split(board, data) if page_index == 0 else []
                if parts:  # list the board one facet value at a time instead
                    state |= {"parts": parts, "last": ids}
                    return Page(postings, self._next_part(board, request, state), board_total)
                truncated = True
        elif ids[:3] and ids[:3] == state.get("first"):
            # past the cap, offsets come back as page 1 again: this query cannot list more
            state["last"] = []
            return Page([], self._next_part(board, request, state), board_total, truncated=True)
        if "parts" in state and ids == state.get("last"):
            postings = []  # a facet value whose postings all came on the page before (multi-location)
        state["last"] = [p.external_id for p in postings]
        total = state.get("total")
        end = self.cap if total is None else min(total, self.cap)
        nxt = offset + limit
        if jobs and len(jobs) >= limit and nxt < end:
            next_request: Request | None = with_carry(
                Request(request.url, "POST", json={**sent, "offset": nxt}, headers=request.headers), **state
            )
        else:
            next_request = self._next_part(board, request, state)
        return Page(postings, next_request, board_total, truncated)

    def _next_part(self, board: BoardConfig, request: Request, state: dict[str, Any]) -> Request | None:
        """The first page of the next facet value when the board is being listed by parts, else None."""
        parts = state.get("parts") or []
        if not parts:
            return None
        (param, value), rest = parts[0], parts[1:]
        sent = request.json if isinstance(request.json, dict) else {}
        facets = {**dict(board.params.get("facets") or {}), param: [value]}
        body = {**sent, "appliedFacets": facets, "offset": 0}
        plain = Request(request.url, "POST", json=body, headers=request.headers)
        return with_carry(plain, parts=rest, last=state.get("last"), total=None, first=None)

    def parse_job(self, board: BoardConfig, job: Any, index: int) -> Posting:
        """One entry of `jobPostings`; an entry without `externalPath` fails the page."""
        job = expect(job, dict, f"workday: jobPostings[{index}]")
        path = text(job.get("externalPath"))
        if not path.startswith("/"):
            raise ParseError(f"workday: jobPostings[{index}] has no `externalPath`")
        where = text(job.get("locationsText"))
        mode = board.params.get("details", "locations")
        hidden = not where or bool(PLACEHOLDER.match(where))
        bullets = job.get("bulletFields")
        first_bullet = text(bullets[0]) if isinstance(bullets, list) and bullets else ""
        host, _, site = _site(board)
        return Posting(
            external_id=path,
            title=text(job.get("title")),
            url=f"https://{host}/{site}{path}",
            locations=[where] if where else [],
            requisition_id=first_bullet if REQ_ID.match(first_bullet) else None,
            needs_detail=mode == "all" or (mode == "locations" and hidden),
            detail_ref=path,
        )

    def detail_request(self, board: BoardConfig, posting: Posting) -> Request | None:
        host, tenant, site = _site(board)
        path = posting.detail_ref or posting.external_id
        url = with_base(f"https://{host}/wday/cxs/{tenant}/{site}{path}", board.base_url)
        return Request(url=url, headers={"Accept": "application/json"})

    def parse_detail(self, board: BoardConfig, posting: Posting, body: bytes) -> Posting:
        data = expect(load_json(body, "workday detail"), dict, "workday detail: response")
        info = expect(data.get("jobPostingInfo"), dict, "workday detail: `jobPostingInfo`")
        extra = info.get("additionalLocations")
        more = [text(v) for v in extra] if isinstance(extra, list) else []
        locations = unique([text(info.get("location")), *more])
        if not locations:
            raise ParseError("workday detail: no `location` in jobPostingInfo")
        description = info.get("jobDescription")
        req = info.get("jobRequisitionLocation")
        country = req.get("country") if isinstance(req, dict) else None
        alpha2 = text(country.get("alpha2Code")) if isinstance(country, dict) else ""
        remote = _remote(info.get("remoteType"))
        posting = dataclasses.replace(posting)
        posting.title = text(info.get("title")) or posting.title
        posting.locations = locations
        posting.description = html_to_text(description) if isinstance(description, str) else ""
        posting.posted_at = parse_time(info.get("startDate")) or posting.posted_at
        posting.requisition_id = text(info.get("jobReqId")) or posting.requisition_id
        posting.remote = remote
        if len(locations) == 1 and len(alpha2) == 2:
            posting.places = [Place(country=alpha2.upper(), remote=bool(remote))]
        return posting


def _split(board: BoardConfig, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(facet, value id) pairs that partition a board too big to list at once, from the facets the first
    response offers (not one the board already filters on): the first of SPLIT_FACETS whose largest value
    fits under the cap, else the one with the smallest largest value (its big values stay truncated).
    Values listing no postings are skipped. Multi-location postings come under several location values;
    the crawler dedupes and checks the union against the board's total, so a partition that misses
    postings leaves the board incomplete rather than closing anything."""
    if board.params.get("split", True) is False:
        return []
    offered = dict(_facets(data.get("facets")))
    taken = set(board.params.get("facets") or {})
    usable = [(name, offered[name]) for name in SPLIT_FACETS if name in offered and name not in taken]
    if not usable:
        return []
    fitting = [u for u in usable if max(c for _, c in u[1]) <= WorkdaySource.cap]
    name, values = fitting[0] if fitting else min(usable, key=lambda u: max(c for _, c in u[1]))
    return [(name, value) for value, count in values if count > 0]


def _facets(value: Any) -> list[tuple[str, list[tuple[str, int]]]]:
    """Every facet in a `facets` list as (facetParameter, [(value id, count)]), nested groups included."""
    found: list[tuple[str, list[tuple[str, int]]]] = []
    for facet in value if isinstance(value, list) else []:
        if not isinstance(facet, dict):
            continue
        values = [v for v in facet.get("values") or [] if isinstance(v, dict)]
        found.extend(_facets([v for v in values if "facetParameter" in v]))
        leaves = [(text(v.get("id")), as_int(v.get("count")) or 0) for v in values if text(v.get("id"))]
        if leaves and text(facet.get("facetParameter")):
            found.append((text(facet["facetParameter"]), leaves))
    return found


def _site(board: BoardConfig) -> tuple[str, str, str]:
    """(host, tenant, site) from the board's careers-site URL; `token`, when set, names the tenant."""
    match = URL_SHAPE.match(board.url or "")
    if match is None:
        raise ParseError(
            f"workday: url {board.url!r} is not https://{{tenant}}.wd{{N}}.myworkdayjobs.com/{{site}}"
        )
    tenant = (board.token or match["tenant"]).strip()
    return match["host"], quote(tenant, safe=""), quote(match["site"], safe="")


def _remote(value: Any) -> bool | None:
    """`remoteType` is a string or a list of strings on the tenants that use it."""
    values = value if isinstance(value, list) else [value]
    said = [text(v).casefold() for v in values if text(v)]
    if not said:
        return None
    return any("remote" in v and "not" not in v for v in said)


SOURCE = WorkdaySource()
