"""Greenhouse Job Board API: the whole board in one request.

Endpoint: GET https://boards-api.greenhouse.io/v1/boards/{token}/jobs?content=true
Body: `{"jobs": [...], "meta": {"total": N}}`; no pagination, ETag / If-None-Match honoured (conditional).

Quirks handled:
- `content` is HTML whose markup is entity-escaped (`&lt;p&gt;`): unescaped once, then reduced to text.
- titles and office names carry stray spaces; `metadata` may be `null`; `location`, `departments`,
  `offices` may be missing or null; `offices[].location` is often null.
- `location.name` is kept verbatim ("San Francisco, CA | New York City, NY"); the classifier splits it.
  An office is added only when the location string does not already name its city (e.g. when
  `location` is null, or the office is in another city).
- `absolute_url` may point at the employer's own site; without one the canonical board URL is used.
- one role posted in several cities is several posts sharing `internal_job_id` (kept as requisition_id).
- remote-ness comes from the custom field "Location Type" (Anthropic: On-Site / Remote / null) when present.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
    unescape_html,
    unique,
)

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig

PUBLIC_BOARD = "https://job-boards.greenhouse.io"


class GreenhouseSource(Source):
    name = "greenhouse"
    api_base = "https://boards-api.greenhouse.io"

    def first_request(self, board: BoardConfig) -> Request:
        token = quote(board.token or "", safe="")
        url = self.api_url(board, f"/v1/boards/{token}/jobs")
        return Request(url=url, params={"content": "true"}, conditional=True)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = load_json(body, "greenhouse")
        expect(data, dict, "greenhouse: response")
        if "jobs" not in data:
            raise ParseError("greenhouse: `jobs` is missing")
        jobs = expect(data["jobs"], list, "greenhouse: `jobs`")
        postings = [self.parse_job(board, job, i) for i, job in enumerate(jobs)]
        meta = data.get("meta")
        total = meta.get("total") if isinstance(meta, dict) else None
        if not isinstance(total, int) or isinstance(total, bool):
            total = None
        return Page(postings=postings, total=total)

    def parse_job(self, board: BoardConfig, job: Any, index: int) -> Posting:
        """One entry of `jobs`; a non-object or an entry without an id fails the page."""
        job = expect(job, dict, f"greenhouse: jobs[{index}]")
        job_id = job.get("id")
        if isinstance(job_id, bool) or not isinstance(job_id, int | str) or not str(job_id).strip():
            raise ParseError(f"greenhouse: jobs[{index}] has no `id`")
        external_id = str(job_id).strip()
        url = text(job.get("absolute_url")) or f"{PUBLIC_BOARD}/{board.token}/jobs/{external_id}"
        internal = job.get("internal_job_id")
        content = job.get("content")
        return Posting(
            external_id=external_id,
            title=text(job.get("title")),
            url=url,
            locations=_locations(job),
            department=", ".join(unique([text(d.get("name")) for d in _objects(job.get("departments"))])),
            description=html_to_text(unescape_html(content)) if isinstance(content, str) else "",
            posted_at=parse_time(job.get("first_published")),
            updated_at=parse_time(job.get("updated_at")),
            remote=_remote(job.get("metadata")),
            requisition_id=text(internal) or None,
        )


def _objects(value: Any) -> list[dict[str, Any]]:
    """The dict entries of a JSON list (null, a non-list, or non-dict entries count as nothing)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _locations(job: dict[str, Any]) -> list[str]:
    """`location.name` verbatim, then each office whose place is not already named."""
    location = job.get("location")
    found = [text(location.get("name"))] if isinstance(location, dict) else []
    for office in _objects(job.get("offices")):
        # An office's `location` is its address ("Sydney, New South Wales, Australia"); its `name` is a
        # label ("Sydney, Australia", "Australia Locations", "CodePath"), used only without an address.
        candidate = text(office.get("location")) or text(office.get("name"))
        if candidate and not _mentions(" | ".join(found), candidate):
            found.append(candidate)
    return unique(found)


def _mentions(known: str, candidate: str) -> bool:
    """Whether `known` already names the place `candidate` starts with (its city or label), as a word."""
    head = candidate.split(",")[0].strip().casefold()
    return _as_word(head).search(known.casefold()) is not None


@lru_cache(maxsize=4096)
def _as_word(text: str) -> re.Pattern[str]:
    """A pattern finding `text` as a whole word (compiled once per place name: they recur)."""
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def _remote(metadata: Any) -> bool | None:
    """True / False from the "Location Type" custom field; None when the board does not say."""
    for field in _objects(metadata):
        if text(field.get("name")).casefold() == "location type":
            value = text(field.get("value")).casefold()
            return (value == "remote") if value else None
    return None


SOURCE = GreenhouseSource()
