"""Ashby public posting API: the whole board in one request.

Endpoint: GET https://api.ashbyhq.com/posting-api/job-board/{board}?includeCompensation=true
Body: `{"apiVersion": "1", "jobs": [...]}` (key order varies); no pagination; ETag honoured in 2026.

Quirks handled:
- the board name may contain spaces ("Hippocratic AI"): it is URL-encoded as one path segment.
- unlisted posts (`isListed: false`) are in the feed and are skipped.
- `secondaryLocations` entries are strings or objects `{"location": ..., "address": {...}}`.
- remote-ness is spread over `isRemote`, `workplaceType` ("Remote", "Hybrid", "OnSite") and location
  strings ("US - Remote"), and the flags contradict each other; any one of them saying remote wins.
- `address.postalAddress` gives city / region / country as written ("United States", "USA"): kept as
  structured places, the country upper-cased when it is an ISO 3166-1 alpha-2 code and otherwise kept as
  written, for the classifier to resolve (it also sees the raw location strings).
- titles may carry leading spaces; `descriptionPlain` is preferred, `descriptionHtml` is the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from infrasignal.model import Place
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

PUBLIC_BOARD = "https://jobs.ashbyhq.com"


class AshbySource(Source):
    name = "ashby"
    api_base = "https://api.ashbyhq.com"

    def first_request(self, board: BoardConfig) -> Request:
        url = self.api_url(board, f"/posting-api/job-board/{quote(board.token or '', safe='')}")
        return Request(url=url, params={"includeCompensation": "true"}, conditional=True)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = load_json(body, "ashby")
        expect(data, dict, "ashby: response")
        if "jobs" not in data:
            raise ParseError("ashby: `jobs` is missing")
        jobs = expect(data["jobs"], list, "ashby: `jobs`")
        postings = [self.parse_job(board, job, i) for i, job in enumerate(jobs)]
        return Page(postings=[p for p in postings if p is not None])

    def parse_job(self, board: BoardConfig, job: Any, index: int) -> Posting | None:
        """One entry of `jobs`; None for an unlisted post. A non-object or a missing id fails the page."""
        job = expect(job, dict, f"ashby: jobs[{index}]")
        job_id = text(job.get("id"))
        if not job_id:
            raise ParseError(f"ashby: jobs[{index}] has no `id`")
        if job.get("isListed") is False:
            return None
        primary = text(job.get("location"))
        entries: list[tuple[str, Any]] = [(primary, job.get("address"))]
        secondary = job.get("secondaryLocations")
        for entry in secondary if isinstance(secondary, list) else []:
            if isinstance(entry, dict):
                name = text(entry.get("location") or entry.get("locationName"))
                entries.append((name, entry.get("address")))
            elif isinstance(entry, str):
                entries.append((text(entry), None))
        remote = _remote(job, [name for name, _ in entries])
        places = _unique_places(
            _place(address, remote=(i == 0 and remote is True) or "remote" in name.casefold())
            for i, (name, address) in enumerate(entries)
        )
        plain = job.get("descriptionPlain")
        html = job.get("descriptionHtml")
        return Posting(
            external_id=job_id,
            title=text(job.get("title")),
            url=text(job.get("jobUrl")) or f"{PUBLIC_BOARD}/{quote(board.token or '')}/{job_id}",
            locations=unique([name for name, _ in entries]),
            department=text(job.get("department")),
            team=text(job.get("team")),
            description=_plain(plain) or html_to_text(html if isinstance(html, str) else None),
            posted_at=parse_time(job.get("publishedAt")),
            remote=remote,
            places=places,
        )


def _remote(job: dict[str, Any], locations: list[str]) -> bool | None:
    """True if any signal says remote; False if the post states a non-remote workplace; else None."""
    workplace = text(job.get("workplaceType")).casefold()
    said_remote = any("remote" in s.casefold() for s in locations)
    if job.get("isRemote") is True or workplace == "remote" or said_remote:
        return True
    if job.get("isRemote") is False or workplace in ("onsite", "on-site", "hybrid"):
        return False
    return None


def _place(address: Any, remote: bool) -> Place | None:
    """A structured place from `{"postalAddress": {...}}`; None when it names nothing."""
    postal = address.get("postalAddress") if isinstance(address, dict) else None
    if not isinstance(postal, dict):
        return None
    city = text(postal.get("addressLocality")) or None
    region = text(postal.get("addressRegion")) or None
    country = text(postal.get("addressCountry"))
    iso2 = (
        country.upper() if len(country) == 2 and country.isascii() and country.isalpha() else country or None
    )
    if not (city or region or iso2):
        return None
    return Place(city=city, region=region, country=iso2, remote=remote)


def _unique_places(places: Iterable[Place | None]) -> list[Place]:
    """Places in order, without None and without repeats."""
    out: list[Place] = []
    for place in places:
        if place is not None and place not in out:
            out.append(place)
    return out


def _plain(value: Any) -> str:
    """A plain-text field with each line's whitespace collapsed and blank lines dropped."""
    if not isinstance(value, str):
        return ""
    return "\n".join(filter(None, [" ".join(line.split()) for line in value.splitlines()]))


SOURCE = AshbySource()
