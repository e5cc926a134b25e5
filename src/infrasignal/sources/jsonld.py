"""schema.org JobPosting JSON-LD: careers pages (or a sitemap of job pages) that embed structured postings.

Endpoint: GET the board's `url` (robots.txt obeyed), one of:
- a page whose `<script type="application/ld+json">` blocks hold JobPosting objects: those are the board;
- a listing page without them, with `params.job_links` (a CSS selector for the links to job pages): each
  link is a posting whose job page (robots.txt obeyed) is read as its detail, when new or changed;
- a sitemap (`url` ending in .xml): each `<loc>` (those containing `params.url_contains`, a string or a
  list) is a job page read as above.
`params.next` (CSS selector of a next-page link) follows paginated listings.

Quirks handled: the JSON-LD shapes listed in `_schemaorg` (graphs, arrays, nested postings, malformed
blocks skipped with the rest still read, locations as objects, lists or strings); a page with no JobPosting
and no job links fails; job links are made absolute on the real site, deduplicated, fragments dropped;
sitemap `<loc>`s may be wrapped in whitespace and carry `&amp;`; a sitemap index is refused with a hint.
`validThrough` before now marks a posting closed: the only clock read in the sources (`JsonLdSource.clock`,
replaceable; `parse_job_postings(..., now=)` for callers that have an observation time).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
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
from infrasignal.sources._schemaorg import block_counts, find_job_postings, json_ld_blocks, parse_job_postings
from infrasignal.sources.base import Page, ParseError, Posting, Request, Source, unique

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser

    from infrasignal.config import BoardConfig

LOC = re.compile(r"<(?:\w+:)?loc>\s*(.*?)\s*</(?:\w+:)?loc>", re.IGNORECASE | re.DOTALL)


class JsonLdSource(Source):
    name = "jsonld"
    requires = ("url",)
    clock: Callable[[], datetime] = staticmethod(lambda: datetime.now(UTC))

    def check_board(self, board: BoardConfig) -> str | None:
        problem = super().check_board(board)
        if problem:
            return problem
        if urlsplit(board.url or "").scheme not in ("http", "https"):
            return f"url must be an http(s) URL, not {board.url!r}"
        for key in ("job_links", "next"):
            if key in board.params and (why := selector_problem(board.params[key])):
                return f"params.{key} {why}"
        return None

    def first_request(self, board: BoardConfig) -> Request:
        paged = bool(board.params.get("next"))
        return Request(url=fetch_url(board, board.url or ""), robots=True, conditional=not paged)

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        page_url = real_url(board, request.url)
        if _is_sitemap(page_url, body):
            return Page(postings=sitemap_stubs(board, body))
        tree = parse_html(body)
        postings = parse_job_postings(tree, page_url, self.clock())
        if not postings:
            postings = link_stubs(board, tree, page_url)
        next_request = None
        href = node_href(tree.css_first(board.params["next"])) if board.params.get("next") else None
        target = link(board, request.url, href)
        if target and target != page_url:
            next_request = Request(url=fetch_url(board, target), robots=True)
        return Page(postings=postings, next=next_request)

    def detail_request(self, board: BoardConfig, posting: Posting) -> Request | None:
        return Request(url=fetch_url(board, posting.detail_ref or posting.url), robots=True)

    def parse_detail(self, board: BoardConfig, posting: Posting, body: bytes) -> Posting:
        found = parse_job_postings(parse_html(body), posting.url, self.clock())
        if not found:
            raise ParseError("jsonld: the job page has no JobPosting JSON-LD")
        best = next((p for p in found if p.url == posting.url), found[0])
        title = best.title or posting.title
        return dataclasses.replace(best, external_id=posting.external_id, url=posting.url, title=title)


def link_stubs(board: BoardConfig, tree: LexborHTMLParser, page_url: str) -> list[Posting]:
    """One posting per job link on a listing page; their job pages are the details."""
    blocks, bad = block_counts(tree)
    selector = board.params.get("job_links")
    if not selector:
        raise ParseError(
            f"jsonld: no JobPosting in {blocks} JSON-LD block(s) ({bad} malformed) and no params.job_links"
        )
    stubs: dict[str, Posting] = {}
    for node in tree.css(selector):
        url = link(board, page_url, node_href(node))
        if url and url != page_url and url not in stubs:
            stubs[url] = _stub(url, node_text(node))
    if not stubs:
        raise ParseError(f"jsonld: no JobPosting JSON-LD and no link matches job_links {selector!r}")
    return list(stubs.values())


def sitemap_stubs(board: BoardConfig, body: bytes) -> list[Posting]:
    """One posting per `<loc>` of a sitemap (filtered by params.url_contains)."""
    doc = body.decode("utf-8", "replace")
    if re.search(r"<(?:\w+:)?sitemapindex\b", doc, re.IGNORECASE):
        first = next(iter(LOC.findall(doc)), "")
        raise ParseError(f"jsonld: {board.url} is a sitemap index; set url to one of its sitemaps ({first})")
    wanted = board.params.get("url_contains") or []
    wanted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
    urls = unique([html.unescape(u) for u in LOC.findall(doc)])
    if not urls:
        raise ParseError("jsonld: the sitemap lists no <loc>")
    kept = [u for u in urls if not wanted or any(w in u for w in wanted)]
    if not kept:
        raise ParseError(f"jsonld: none of the sitemap's {len(urls)} URLs contains {' or '.join(wanted)}")
    return [_stub(u, _slug_title(u)) for u in kept]


def _stub(url: str, title: str) -> Posting:
    return Posting(external_id=url, title=title, url=url, needs_detail=True, detail_ref=url)


def _slug_title(url: str) -> str:
    """A readable stand-in title from a job URL's last wordy path segment, until the page is read."""
    for segment in reversed(urlsplit(url).path.split("/")):
        words = re.sub(r"[-_+]+", " ", segment).strip()
        if re.search(r"[A-Za-z]{3}", words):
            return " ".join(words.split())
    return url


def _is_sitemap(url: str, body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return urlsplit(url).path.lower().endswith(".xml") or (head.startswith(b"<?xml") and b"<urlset" in head)


SOURCE = JsonLdSource()

__all__ = [
    "SOURCE",
    "JsonLdSource",
    "find_job_postings",
    "json_ld_blocks",
    "link_stubs",
    "parse_job_postings",
]
