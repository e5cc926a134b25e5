"""Amazon (and AWS): the JSON search behind www.amazon.jobs, narrowed by the query in the board's params.

Endpoint: GET https://www.amazon.jobs/en/search.json?base_query=...&category[]=...&offset=N&result_limit=100
  -> {"hits": N, "jobs": [...]}
  human:  https://www.amazon.jobs{job_path}
Board params (all optional, at least one needed: all of Amazon is far past the result cap):
  base_query, loc_query, sort ("recent" | "relevant"), and list filters category, business_category,
  normalized_country_code (ISO3, "USA"), job_function_id, schedule_type_id, ... Any other key is passed on
  as a query parameter; a list value becomes the repeated `key[]=` form the site uses. `page_size` (1-100,
  default 100) sets `result_limit`. `token` is unused.

Quirks handled:
- offset paging, 100 a page; `hits` (every page) is the completeness check. The search serves at most
  10,000 hits: a query stating that many is marked truncated (it closes nothing) and paging stops there.
- `id_icims` is the stable job number (the `id` UUID is not used in URLs); `posted_date` is English text
  with a double space before one-digit days ("May  4, 2026").
- `location` is "US, WA, Seattle"; `normalized_location` "Seattle, Washington, USA"; `locations` is an
  array of JSON-encoded strings (one per location, with countryIso2a, city, state): decoded leniently,
  a bad entry is skipped. Remote roles say city "Virtual Location - <state>".
- list entries carry `description_short`; full results also carry `description` and qualifications (HTML).
- an over-eager client gets a 200 HTML CAPTCHA page ("Server Busy"), and bad paging a 200 with
  `{"error": "...", "jobs": null}`: both are parse errors, so the board fails and closes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from infrasignal.model import Place
from infrasignal.sources._common import as_int, iso2
from infrasignal.sources.base import (
    Page,
    ParseError,
    Posting,
    Request,
    Source,
    expect,
    html_to_text,
    load_json,
    text,
    unique,
)

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig

PUBLIC = "https://www.amazon.jobs"
PATH = "/en/search.json"
DESCRIPTION_KEYS = ("description", "basic_qualifications", "preferred_qualifications")


class AmazonSource(Source):
    name = "amazon"
    api_base = PUBLIC
    requires = ()
    page_size: ClassVar[int] = 100
    cap: ClassVar[int] = 10_000

    def check_board(self, board: BoardConfig) -> str | None:
        if not set(board.params) - {"page_size"}:
            return "params with a query or filters (e.g. category = [...]) are required for ats = 'amazon'"
        for key, value in board.params.items():
            if key in ("offset", "result_limit"):
                return f"params.{key} is set by infrasignal; remove it (page size: params.page_size)"
            if key == "page_size":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.page_size:
                    return f"params.page_size must be an integer from 1 to {self.page_size}, not {value!r}"
                continue
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
                return f"params.{key} must be a string, a number or a list of them"
        return None

    def first_request(self, board: BoardConfig) -> Request:
        return Request(url=self.page_url(board, 0))

    def page_url(self, board: BoardConfig, offset: int) -> str:
        """The search URL (query in the URL: Request.params cannot repeat a key)."""
        pairs: list[tuple[str, str]] = []
        for key, value in board.params.items():
            if key == "page_size":
                continue
            if isinstance(value, list):
                name = key if key.endswith("[]") else f"{key}[]"
                pairs.extend((name, str(v)) for v in value)
            else:
                pairs.append((key, str(value)))
        size = board.params.get("page_size", self.page_size)
        pairs += [("offset", str(offset)), ("result_limit", str(size))]
        return self.api_url(board, PATH) + "?" + urlencode(pairs)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = expect(load_json(body, "amazon"), dict, "amazon: response")
        if text(data.get("error")):  # e.g. "Cannot return more than 10000 results at once"
            raise ParseError(f"amazon: the search answered an error: {text(data.get('error'))[:200]}")
        if "jobs" not in data:
            raise ParseError("amazon: `jobs` is missing")
        jobs = expect(data["jobs"], list, "amazon: `jobs`")
        hits = as_int(data.get("hits"))
        if hits is None:
            raise ParseError("amazon: `hits` is missing")
        postings = [self.parse_job(job, i) for i, job in enumerate(jobs)]
        sent = parse_qs(urlsplit(request.url).query).get("offset", ["0"])[0]
        offset = (as_int(sent) or 0) + len(jobs)
        end = min(hits, self.cap)
        next_request = None
        if jobs and offset < end:
            next_request = Request(url=self.page_url(board, offset))
        return Page(postings=postings, next=next_request, total=hits, truncated=hits >= self.cap)

    def parse_job(self, job: Any, index: int) -> Posting:
        """One entry of `jobs`; an entry without `id_icims` fails the page."""
        job = expect(job, dict, f"amazon: jobs[{index}]")
        job_id = text(job.get("id_icims"))
        if not job_id:
            raise ParseError(f"amazon: jobs[{index}] has no `id_icims`")
        raw, places = _locations(job)
        path = text(job.get("job_path")) or f"/en/jobs/{job_id}"
        long = [job.get(k) for k in DESCRIPTION_KEYS]
        description = "\n".join(html_to_text(v) for v in long if isinstance(v, str) and v)
        return Posting(
            external_id=job_id,
            title=text(job.get("title")),
            url=PUBLIC + path,
            locations=raw,
            department=text(job.get("job_category")),
            team=text(job.get("business_category")),
            description=description or text(job.get("description_short")),
            posted_at=parse_posted(job.get("posted_date")),
            remote=any(p.remote for p in places) if places else None,
            places=places,
        )


def parse_posted(value: Any) -> datetime | None:
    """ "May  4, 2026" -> 2026-05-04 00:00 UTC; None when absent or not in that form."""
    try:
        return datetime.strptime(" ".join(text(value).split()), "%B %d, %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _locations(job: dict[str, Any]) -> tuple[list[str], list[Place]]:
    """Raw strings and places: one per `locations[]` entry, else the top-level fields."""
    entries = []
    for item in job.get("locations") or []:
        try:
            entry = json.loads(item) if isinstance(item, str) else item
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    if not entries:
        entries = [
            {
                "normalizedLocation": job.get("normalized_location"),
                "location": job.get("location"),
                "city": job.get("city"),
                "region": job.get("state"),
                "countryIso3a": job.get("country_code"),
            }
        ]
    raw: list[str] = []
    places: list[Place] = []
    for entry in entries:
        raw.append(text(entry.get("normalizedLocation")) or text(entry.get("location")))
        city = text(entry.get("normalizedCityName")) or text(entry.get("city"))
        region = text(entry.get("normalizedStateName")) or text(entry.get("region"))
        country = iso2(text(entry.get("countryIso2a"))) or iso2(text(entry.get("countryIso3a")))
        remote = city.casefold().startswith("virtual") or text(entry.get("type")).upper() == "VIRTUAL"
        if city or region or country:
            place = Place(
                city=None if remote else city or None, region=region or None, country=country, remote=remote
            )
            if place not in places:
                places.append(place)
    return unique(raw), places


SOURCE = AmazonSource()
