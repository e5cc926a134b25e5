"""Workable: the hosted-board API behind apply.workable.com/{account}, or the older widget API.

Endpoints (`token` is the account as in apply.workable.com/{token}/):
  v3:     POST https://apply.workable.com/api/v3/accounts/{token}/jobs, body {} and then
          {"token": <nextPage>} -> {"total": N, "results": [...], "nextPage": "..."}
  detail: GET  https://apply.workable.com/api/v2/accounts/{token}/jobs/{shortcode}
  widget: GET  https://apply.workable.com/api/v1/widget/accounts/{token}?details=true
          -> {"name": ..., "jobs": [...]} (whole board, descriptions included; conditional)
  human:  https://apply.workable.com/{token}/j/{shortcode}/
Board params: `endpoint` = "v3" (default) | "widget"; `details` = "all" (default: the v3 detail of each
new or changed posting is fetched for its description) | "none".

Quirks handled:
- v3 pages are sized by the server; follow `nextPage` until it is absent. `total` (first page) is the
  completeness check. The list carries no description.
- `location` / `locations[]` objects hold country (name), countryCode, city, region, `hidden`; city and
  region are often "" or null. `remote` / `workplace` say remote; `department` is a list.
- the widget's jobs use snake_case (`published_on`, `telecommuting`, `country` name, `state`) and
  `locations[]`; the same shortcode identifies a job on both endpoints, so switching keeps history.
- fallback: an account whose v3 endpoint answers 404 is read from the widget endpoint instead (the crawler
  asks `fallback_request`); `params = {endpoint = "widget"}` goes there directly.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from infrasignal.model import Place
from infrasignal.sources._common import as_int, check_details, details_mode, iso2
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
)

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig

PUBLIC = "https://apply.workable.com"
ENDPOINTS = ("v3", "widget")


class WorkableSource(Source):
    name = "workable"
    api_base = "https://apply.workable.com"

    def check_board(self, board: BoardConfig) -> str | None:
        problem = super().check_board(board) or check_details(board)
        if problem:
            return problem
        endpoint = board.params.get("endpoint", "v3")
        if endpoint not in ENDPOINTS:
            return f"params.endpoint must be one of {', '.join(ENDPOINTS)}, not {endpoint!r}"
        return None

    def first_request(self, board: BoardConfig) -> Request:
        if board.params.get("endpoint") == "widget":
            return self.widget_request(board)
        url = self.api_url(board, f"/api/v3/accounts/{_token(board)}/jobs")
        return Request(url=url, method="POST", json={})

    def widget_request(self, board: BoardConfig) -> Request:
        url = self.api_url(board, f"/api/v1/widget/accounts/{_token(board)}")
        return Request(url=url, params={"details": "true"}, conditional=True)

    def fallback_request(self, board: BoardConfig, status: int | None) -> Request | None:
        """What to ask instead when the first request failed with `status` (v3 404 -> the widget)."""
        if status == 404 and board.params.get("endpoint", "v3") == "v3":
            return self.widget_request(board)
        return None

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = expect(load_json(body, "workable"), dict, "workable: response")
        if "/widget/" in request.url:
            jobs = expect(data.get("jobs"), list, "workable widget: `jobs`")
            return Page(postings=[self.parse_widget_job(board, j, i) for i, j in enumerate(jobs)])
        if "results" not in data:
            raise ParseError("workable: `results` is missing")
        results = expect(data["results"], list, "workable: `results`")
        postings = [self.parse_job(board, job, i) for i, job in enumerate(results)]
        cursor = text(data.get("nextPage"))
        next_request = None
        if cursor and results:
            next_request = Request(url=request.url, method="POST", json={"token": cursor})
        return Page(postings=postings, next=next_request, total=as_int(data.get("total")))

    def parse_job(self, board: BoardConfig, job: Any, index: int) -> Posting:
        """One v3 `results` entry; an entry without a shortcode fails the page."""
        job = expect(job, dict, f"workable: results[{index}]")
        shortcode = _shortcode(job, index)
        remote = job.get("remote") is True or text(job.get("workplace")).casefold() == "remote"
        raw, places = _places(job.get("locations"), job.get("location"), remote)
        department = job.get("department")
        departments = department if isinstance(department, list) else [department]
        return Posting(
            external_id=shortcode,
            title=text(job.get("title")),
            url=_human(board, shortcode),
            locations=raw,
            department=", ".join(unique([text(d) for d in departments])),
            posted_at=parse_time(job.get("published")),
            remote=remote,
            places=places,
            requisition_id=text(job.get("code")) or None,
            needs_detail=details_mode(board, "all") == "all",
            detail_ref=shortcode,
        )

    def parse_widget_job(self, board: BoardConfig, job: Any, index: int) -> Posting:
        """One widget `jobs` entry (snake_case, description included with ?details=true)."""
        job = expect(job, dict, f"workable widget: jobs[{index}]")
        shortcode = _shortcode(job, index)
        remote = job.get("telecommuting") is True
        flat = {"city": job.get("city"), "region": job.get("state"), "country": job.get("country")}
        raw, places = _places(job.get("locations"), flat, remote)
        description = job.get("description")
        return Posting(
            external_id=shortcode,
            title=text(job.get("title")),
            url=_human(board, shortcode),
            locations=raw,
            department=text(job.get("department")),
            description=html_to_text(description) if isinstance(description, str) else "",
            posted_at=parse_time(job.get("published_on")),
            remote=remote,
            places=places,
            requisition_id=text(job.get("code")) or None,
        )

    def detail_request(self, board: BoardConfig, posting: Posting) -> Request | None:
        shortcode = quote(posting.detail_ref or posting.external_id, safe="")
        return Request(url=self.api_url(board, f"/api/v2/accounts/{_token(board)}/jobs/{shortcode}"))

    def parse_detail(self, board: BoardConfig, posting: Posting, body: bytes) -> Posting:
        data = expect(load_json(body, "workable detail"), dict, "workable detail: response")
        parts = [data.get(key) for key in ("description", "requirements", "benefits")]
        if not any(isinstance(p, str) for p in parts):
            raise ParseError("workable detail: no `description`")
        description = "\n".join(html_to_text(p) for p in parts if isinstance(p, str) and p)
        return dataclasses.replace(posting, description=description, needs_detail=False)


def _token(board: BoardConfig) -> str:
    return quote((board.token or "").strip(), safe="")


def _human(board: BoardConfig, shortcode: str) -> str:
    return f"{PUBLIC}/{_token(board)}/j/{quote(shortcode, safe='')}/"


def _shortcode(job: dict[str, Any], index: int) -> str:
    shortcode = text(job.get("shortcode"))
    if not shortcode:
        raise ParseError(f"workable: jobs[{index}] has no `shortcode`")
    return shortcode


def _places(locations: Any, primary: Any, remote: bool) -> tuple[list[str], list[Place]]:
    """Raw strings ("City, Region, Country") and places from `locations[]`, else the primary location."""
    entries = [v for v in locations if isinstance(v, dict)] if isinstance(locations, list) else []
    if not entries and isinstance(primary, dict):
        entries = [primary]
    raw: list[str] = []
    places: list[Place] = []
    for entry in entries:
        city, region, country = (text(entry.get(k)) for k in ("city", "region", "country"))
        code = iso2(text(entry.get("countryCode")))
        line = ", ".join(unique([city, region, country or (code or "")]))
        if not line:
            continue
        raw.append(f"Remote, {line}" if remote and not city else line)
        place = Place(city=city or None, region=region or None, country=code, remote=remote)
        if place not in places:
            places.append(place)
    return unique(raw), places


SOURCE = WorkableSource()
