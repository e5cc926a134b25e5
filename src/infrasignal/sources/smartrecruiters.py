"""SmartRecruiters Posting API: public postings of a company, paged with limit / offset.

Endpoints (`token` is the company identifier as in jobs.smartrecruiters.com/{token}, case-sensitive):
  list:   GET https://api.smartrecruiters.com/v1/companies/{token}/postings?limit=100&offset=N
          -> {"offset": 0, "limit": 100, "totalFound": N, "content": [...]}
  detail: GET https://api.smartrecruiters.com/v1/companies/{token}/postings/{id}
  human:  https://jobs.smartrecruiters.com/{token}/{id}
Board params: `page_size` (1-100, default 100); `details` = "all" (default: each new or changed posting's detail is fetched for its
description) | "none"; `query` (the API's `q`), `country` (ISO2), `department` filters.

Quirks handled:
- `limit` clamps at 100; `offset += len(content)` until it reaches `totalFound` (the completeness check)
  or a page comes back empty. Some captures omit `offset` / `limit` in the envelope.
- `location` is an object: city, region (sometimes upper-case, "CALIFORNIA"), country (lower-case ISO2),
  remote, hybrid, and `fullLocation` ("Santa Clara, CALIFORNIA, United States") which is often missing.
- `department` may be `{}`; titles carry trailing NBSPs; `refNumber` is the requisition.
- the detail's `jobAd.sections` hold HTML: the job description, qualifications and additional
  information make the description (the company description is boilerplate naming every office).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar
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

PUBLIC = "https://jobs.smartrecruiters.com"
FILTERS = {"query": "q", "country": "country", "department": "department", "city": "city"}
SECTIONS = ("jobDescription", "qualifications", "additionalInformation")


class SmartRecruitersSource(Source):
    name = "smartrecruiters"
    api_base = "https://api.smartrecruiters.com"
    page_size: ClassVar[int] = 100

    def check_board(self, board: BoardConfig) -> str | None:
        problem = super().check_board(board) or check_details(board)
        if problem:
            return problem
        size = board.params.get("page_size", self.page_size)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= self.page_size:
            return f"params.page_size must be an integer from 1 to {self.page_size}, not {size!r}"
        for key in FILTERS:
            if not isinstance(board.params.get(key, ""), str):
                return f"params.{key} must be a string"
        return None

    def first_request(self, board: BoardConfig) -> Request:
        size = int(board.params.get("page_size", self.page_size))
        params: dict[str, str | int] = {"limit": size, "offset": 0}
        for key, api_key in FILTERS.items():
            if board.params.get(key):
                params[api_key] = str(board.params[key])
        return Request(url=self.api_url(board, f"/v1/companies/{_token(board)}/postings"), params=params)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = expect(load_json(body, "smartrecruiters"), dict, "smartrecruiters: response")
        if "content" not in data:
            raise ParseError("smartrecruiters: `content` is missing")
        content = expect(data["content"], list, "smartrecruiters: `content`")
        total = as_int(data.get("totalFound"))
        if total is None:
            raise ParseError("smartrecruiters: `totalFound` is missing")
        postings = [self.parse_posting(board, item, i) for i, item in enumerate(content)]
        params = dict(request.params or {})
        offset = (as_int(params.get("offset")) or 0) + len(content)
        next_request = None
        if content and offset < total:
            next_request = Request(url=request.url, params={**params, "offset": offset})
        return Page(postings=postings, next=next_request, total=total)

    def parse_posting(self, board: BoardConfig, item: Any, index: int) -> Posting:
        """One entry of `content`; an entry without an id fails the page."""
        item = expect(item, dict, f"smartrecruiters: content[{index}]")
        posting_id = text(item.get("id"))
        if not posting_id:
            raise ParseError(f"smartrecruiters: content[{index}] has no `id`")
        raw, place = _location(item.get("location"))
        department = item.get("department")
        ref = text(item.get("refNumber"))
        return Posting(
            external_id=posting_id,
            title=text(item.get("name")),
            url=f"{PUBLIC}/{_token(board)}/{quote(posting_id, safe='')}",
            locations=[raw] if raw else [],
            department=text(department.get("label")) if isinstance(department, dict) else "",
            posted_at=parse_time(item.get("releasedDate")),
            remote=place.remote if place is not None else None,
            places=[place] if place is not None else [],
            requisition_id=ref or None,
            needs_detail=details_mode(board, "all") == "all",
            detail_ref=posting_id,
        )

    def detail_request(self, board: BoardConfig, posting: Posting) -> Request | None:
        posting_id = quote(posting.detail_ref or posting.external_id, safe="")
        return Request(url=self.api_url(board, f"/v1/companies/{_token(board)}/postings/{posting_id}"))

    def parse_detail(self, board: BoardConfig, posting: Posting, body: bytes) -> Posting:
        data = expect(load_json(body, "smartrecruiters detail"), dict, "smartrecruiters detail: response")
        ad = data.get("jobAd")
        sections = ad.get("sections") if isinstance(ad, dict) else None
        if not isinstance(sections, dict):
            raise ParseError("smartrecruiters detail: `jobAd.sections` is missing")
        parts = []
        for key in SECTIONS:
            section = sections.get(key)
            if isinstance(section, dict) and isinstance(section.get("text"), str):
                parts.append(html_to_text(section["text"]))
        merged = self.parse_posting(board, {**data, "id": posting.external_id}, 0)
        return dataclasses.replace(
            merged,
            url=text(data.get("postingUrl")) or posting.url,
            description="\n".join(p for p in parts if p),
            needs_detail=False,
        )


def _token(board: BoardConfig) -> str:
    return quote((board.token or "").strip(), safe="")


def _location(value: Any) -> tuple[str, Place | None]:
    """The raw location string and a structured place from the `location` object."""
    if not isinstance(value, dict):
        return "", None
    city, region = text(value.get("city")), text(value.get("region"))
    country = iso2(text(value.get("country")))
    remote = value.get("remote") is True
    raw = text(value.get("fullLocation")) or ", ".join(unique([city, region, country or ""]))
    if remote and "remote" not in raw.casefold():
        raw = ", ".join(unique(["Remote", raw]))
    if not (city or region or country or remote):
        return raw, None
    return raw, Place(city=city or None, region=region or None, country=country, remote=remote)


SOURCE = SmartRecruitersSource()
