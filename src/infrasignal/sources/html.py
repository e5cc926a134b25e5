"""A careers page without structured data, described in config by CSS selectors.

Endpoint: GET the board's `url` (robots.txt obeyed), then each `next` link (robots.txt obeyed).
Board keys:
  url = "https://www.example.com/careers"
  [boards.selectors]
  item = "li.job"            # one element per posting (required)
  title = "a.title"          # inside the item: the title text (required)
  link = "a"                 # inside the item: the link to the job page, or an element holding it (required)
  location = ".location"     # inside the item: location text (optional; several matches = several)
  department = ".team"       # inside the item: department text (optional)
  next = "a[rel=next]"       # on the page: the next page's link (optional)

Quirks handled: the external id is the job link made absolute (relative links resolved against the page,
tracking fragments dropped); titles and locations are trimmed and whitespace-collapsed; the same job
listed twice keeps its first entry; a `next` link back to the same page ends paging. A page where the item
selector matches nothing, or an item without a title or link, fails the board (a changed page layout must
never look like every posting closing). Only a single-page board is fetched conditionally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from infrasignal.sources._common import (
    fetch_url,
    link,
    node_href,
    node_text,
    parse_html,
    real_url,
    selector_problem,
)
from infrasignal.sources.base import Page, ParseError, Posting, Request, Source, unique

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig

REQUIRED = ("item", "title", "link")
OPTIONAL = ("location", "department", "next")


class HtmlSource(Source):
    name = "html"
    requires = ("url",)

    def check_board(self, board: BoardConfig) -> str | None:
        problem = super().check_board(board)
        if problem:
            return problem
        if urlsplit(board.url or "").scheme not in ("http", "https"):
            return f"url must be an http(s) URL, not {board.url!r}"
        for key in REQUIRED:
            if key not in board.selectors:
                return f"selectors.{key} is required for ats = 'html' (needs {', '.join(REQUIRED)})"
        for key, value in board.selectors.items():
            if key not in REQUIRED + OPTIONAL:
                return f"selectors.{key} is not a known selector (known: {', '.join(REQUIRED + OPTIONAL)})"
            if why := selector_problem(value):
                return f"selectors.{key} {why}"
        return None

    def first_request(self, board: BoardConfig) -> Request:
        paged = "next" in board.selectors
        return Request(url=fetch_url(board, board.url or ""), robots=True, conditional=not paged)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        sel = board.selectors
        tree = parse_html(body)
        page_url = real_url(board, request.url)
        items = tree.css(sel["item"])
        if not items:
            raise ParseError(
                f"html: no element matches selectors.item {sel['item']!r} on page {page_index + 1}"
            )
        postings: dict[str, Posting] = {}
        for i, item in enumerate(items):
            title = node_text(item.css_first(sel["title"]))
            url = link(board, page_url, node_href(item.css_first(sel["link"])))
            if not title or not url:
                missing = "title" if not title else "link"
                raise ParseError(f"html: item {i + 1} on page {page_index + 1} has no {missing}")
            places = [node_text(n) for n in item.css(sel["location"])] if sel.get("location") else []
            department = node_text(item.css_first(sel["department"])) if sel.get("department") else ""
            postings.setdefault(
                url,
                Posting(
                    external_id=url, title=title, url=url, locations=unique(places), department=department
                ),
            )
        next_request = None
        if sel.get("next"):
            target = link(board, page_url, node_href(tree.css_first(sel["next"])))
            if target and target != page_url:
                next_request = Request(url=fetch_url(board, target), robots=True)
        return Page(postings=list(postings.values()), next=next_request)


SOURCE = HtmlSource()
