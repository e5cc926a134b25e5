"""Helpers shared by the sources that are not plain JSON-list APIs (Workday, SmartRecruiters, Workable,
Amazon, JSON-LD pages, CSS-selector pages): paging state carried in a request, country codes, the
`details` board param, HTML decoding and mapping loopback URLs back to the real site. All pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from infrasignal.model import Request
from infrasignal.sources.base import with_base

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser, LexborNode

    from infrasignal.config import BoardConfig


@dataclass(frozen=True, slots=True)
class CarryRequest(Request):
    """A request that carries the source's paging state (e.g. the total only Workday's first page states)
    to the `parse_page` call for its own response. The engine never sends `carry`; the crawler hands the
    same object back. Sources must still work (less precisely) when the carry is lost."""

    carry: dict[str, Any] | None = None


def carried(request: Request) -> dict[str, Any]:
    """The paging state a request carries ({} for a plain request)."""
    carry = getattr(request, "carry", None)
    return dict(carry) if isinstance(carry, dict) else {}


def with_carry(request: Request, **state: Any) -> CarryRequest:
    """`request` as a CarryRequest holding `state` (merged over what it already carries)."""
    merged = {**carried(request), **state}
    if isinstance(request, CarryRequest):
        return replace(request, carry=merged)
    return CarryRequest(
        url=request.url,
        method=request.method,
        params=request.params,
        json=request.json,
        headers=request.headers,
        conditional=request.conditional,
        robots=request.robots,
        carry=merged,
    )


def as_int(value: Any) -> int | None:
    """A JSON integer (or digit string) as int; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


DETAIL_MODES = ("all", "none")


def details_mode(board: BoardConfig, default: str, modes: tuple[str, ...] = DETAIL_MODES) -> str:
    """The board's `params.details` (which postings get a detail fetch when new or changed)."""
    value = board.params.get("details", default)
    return value.strip().lower() if isinstance(value, str) and value.strip().lower() in modes else default


def check_details(board: BoardConfig, modes: tuple[str, ...] = DETAIL_MODES) -> str | None:
    value = board.params.get("details")
    if value is None or (isinstance(value, str) and value.strip().lower() in modes):
        return None
    return f"params.details must be one of {', '.join(modes)}, not {value!r}"


_ALIASES = {"UK": "GB", "EL": "GR"}


@lru_cache(maxsize=512)
def iso2(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code from an alpha-2 or alpha-3 code ("us", "USA", "UK"); None for names
    ("United States") and anything else: names are left to the classifier, which sees the raw strings."""
    code = (value or "").strip().upper()
    if not (code.isascii() and code.isalpha()):
        return None
    if len(code) == 2:
        return _ALIASES.get(code, code)
    if len(code) == 3:
        import pycountry

        country = pycountry.countries.get(alpha_3=code)
        return country.alpha_2 if country is not None else None
    return None


def decode_html(body: bytes) -> str:
    """An HTML page's text: UTF-8 unless a BOM or a `charset=` near the top says otherwise."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", "replace")
    match = re.search(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", body[:2048])
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return body.decode(encoding, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def parse_html(body: bytes | str) -> LexborHTMLParser:
    """A parsed HTML document (selectolax / lexbor)."""
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(body if isinstance(body, str) else decode_html(body))


def selector_problem(selector: Any) -> str | None:
    """Why a CSS selector from config is unusable, or None."""
    if not isinstance(selector, str) or not selector.strip():
        return "must be a non-empty CSS selector"
    try:
        parse_html("<p></p>").css(selector)
    except Exception:
        return f"is not a valid CSS selector: {selector!r}"
    return None


def node_text(node: LexborNode | None) -> str:
    """An element's visible text, whitespace collapsed."""
    return " ".join(node.text(deep=True, separator=" ").split()) if node is not None else ""


def node_href(node: LexborNode | None) -> str | None:
    """The href of a link element, or of the first link inside it (None when there is none)."""
    if node is None:
        return None
    href = node.attributes.get("href")
    if href:
        return href
    inner = node.css_first("a[href]")
    return inner.attributes.get("href") if inner is not None else None


def real_url(board: BoardConfig, url: str) -> str:
    """The address on the real site of a URL we fetched: undoes `with_base` when the board has a
    `base_url` (tests and proxies), so ids and links never carry a loopback host."""
    if not board.base_url or not board.url:
        return url
    base, got, real = urlsplit(board.base_url), urlsplit(url), urlsplit(board.url)
    if (got.scheme, got.netloc) != (base.scheme, base.netloc):
        return url
    prefix = base.path.rstrip("/")
    path = got.path[len(prefix) :] if prefix and got.path.startswith(prefix) else got.path
    return urlunsplit((real.scheme, real.netloc, path, got.query, got.fragment))


def link(board: BoardConfig, page_url: str, href: str | None) -> str | None:
    """An href on a page we fetched, as an absolute URL on the real site (None for non-web links)."""
    href = (href or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
        return None
    absolute = urljoin(real_url(board, page_url), href)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def fetch_url(board: BoardConfig, url: str) -> str:
    """Where to fetch a real-site URL: its scheme and host replaced by the board's `base_url`, if set."""
    return with_base(url, board.base_url)


__all__ = [
    "CarryRequest",
    "as_int",
    "carried",
    "check_details",
    "decode_html",
    "details_mode",
    "fetch_url",
    "iso2",
    "link",
    "node_href",
    "node_text",
    "parse_html",
    "real_url",
    "selector_problem",
    "with_carry",
]
