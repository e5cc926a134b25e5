"""Lever Postings API: a bare JSON array, paged with skip / limit.

Endpoint: GET https://api.lever.co/v0/postings/{site}?mode=json&skip=N&limit=M
(EU accounts: https://api.eu.lever.co, chosen by `params = {region = "eu"}` on the board).
Board params: `region` ("eu" or "global", default global), `page_size` (default 500: most boards then
fit one page, which can be answered 304 or skipped as unchanged; Palantir's board honoured 100 to 500).

Quirks handled:
- no envelope and no total: the next page is asked for while a page comes back full (`skip += limit`).
  Only the first request is conditional (ETag); later pages are always fetched.
- `createdAt` is epoch milliseconds (undocumented but always there); there is no posted date otherwise.
- the plain-text fields use U+00A0 for blank lines; `lists[].content` holds bare `<li>` fragments.
  The description is descriptionPlain + each list (heading and items) + additionalPlain.
- `country` is ISO 3166-1 alpha-2 or null; it becomes a structured place when present.
- `workplaceType` is unspecified | on-site | remote | hybrid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from infrasignal.model import Place
from infrasignal.sources.base import (
    Page,
    ParseError,
    Posting,
    Request,
    Source,
    html_to_text,
    load_json,
    parse_time,
    text,
    unique,
    with_base,
)

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig

# region -> (API host, public board host)
HOSTS = {
    "global": ("https://api.lever.co", "https://jobs.lever.co"),
    "eu": ("https://api.eu.lever.co", "https://jobs.eu.lever.co"),
}


class LeverSource(Source):
    name = "lever"
    api_base = HOSTS["global"][0]
    page_size: ClassVar[int] = 500
    max_pages: ClassVar[int] = 500  # a board that never ends is an API ignoring `skip`: fail, do not loop

    def check_board(self, board: BoardConfig) -> str | None:
        problem = super().check_board(board)
        if problem:
            return problem
        if _region(board) not in HOSTS:
            return f"params.region must be one of {', '.join(sorted(HOSTS))}, not {board.params['region']!r}"
        size = board.params.get("page_size", self.page_size)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
            return f"params.page_size must be an integer from 1 to 1000, not {size!r}"
        return None

    def api_url(self, board: BoardConfig, path: str) -> str:
        return with_base(HOSTS[_region(board)][0] + path, board.base_url)

    def first_request(self, board: BoardConfig) -> Request:
        url = self.api_url(board, f"/v0/postings/{quote(board.token or '', safe='')}")
        size = int(board.params.get("page_size", self.page_size))
        return Request(url=url, params={"mode": "json", "skip": 0, "limit": size}, conditional=True)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        data = load_json(body, "lever")
        if not isinstance(data, list):
            raise ParseError(f"lever: expected a JSON array, got {type(data).__name__}")
        postings = [self.parse_posting(board, item, i) for i, item in enumerate(data)]
        params = dict(request.params or {})
        limit = _int(params.get("limit")) or self.page_size
        skip = _int(params.get("skip")) or 0
        next_request = None
        # A full page means there may be more. A page longer than `limit` means the API ignored it
        # and sent the whole board.
        if len(data) == limit:
            if page_index + 1 >= self.max_pages:
                raise ParseError(f"lever: still full pages after {self.max_pages}; is `skip` ignored?")
            params["skip"] = skip + limit
            next_request = Request(url=request.url, params=params)
        return Page(postings=postings, next=next_request)

    def parse_posting(self, board: BoardConfig, item: Any, index: int) -> Posting:
        """One element of the array; a non-object or an element without an id fails the page."""
        if not isinstance(item, dict):
            raise ParseError(f"lever: postings[{index}]: expected dict, got {type(item).__name__}")
        posting_id = text(item.get("id"))
        if not posting_id:
            raise ParseError(f"lever: postings[{index}] has no `id`")
        categories = item.get("categories")
        cats: dict[str, Any] = categories if isinstance(categories, dict) else {}
        all_locations = cats.get("allLocations")
        raw = [text(v) for v in all_locations] if isinstance(all_locations, list) else []
        if not any(raw):
            raw = [text(cats.get("location"))]
        workplace = text(item.get("workplaceType")).casefold()
        remote = True if workplace == "remote" else False if workplace in ("on-site", "hybrid") else None
        country = text(item.get("country"))
        places = [Place(country=country.upper(), remote=remote is True)] if _is_iso2(country) else []
        hosted = HOSTS[_region(board)][1]
        return Posting(
            external_id=posting_id,
            title=text(item.get("text")),
            url=text(item.get("hostedUrl")) or f"{hosted}/{board.token}/{posting_id}",
            locations=unique(raw),
            department=text(cats.get("department")) or text(cats.get("team")),
            team=text(cats.get("team")),
            description=_description(item),
            posted_at=parse_time(item.get("createdAt")),
            updated_at=parse_time(item.get("updatedAt")),
            remote=remote,
            places=places,
        )


def _region(board: BoardConfig) -> str:
    return str(board.params.get("region") or "global").strip().lower()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_iso2(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalpha()


def _plain(value: Any) -> str:
    """A plain-text field with each line's whitespace (NBSP included) collapsed and blank lines dropped."""
    if not isinstance(value, str):
        return ""
    return "\n".join(filter(None, [" ".join(line.split()) for line in value.splitlines()]))


def _description(item: dict[str, Any]) -> str:
    parts = [_plain(item.get("descriptionPlain")) or html_to_text(_str(item.get("description")))]
    lists = item.get("lists")
    for entry in lists if isinstance(lists, list) else []:
        if isinstance(entry, dict):
            parts.append(_plain(entry.get("text")))
            parts.append(html_to_text(_str(entry.get("content"))))
    parts.append(_plain(item.get("additionalPlain")) or html_to_text(_str(item.get("additional"))))
    return "\n".join(p for p in parts if p)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


SOURCE = LeverSource()
