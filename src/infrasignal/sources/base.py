"""What every source implements: build the requests for a board (pure) and parse the bodies (pure).

The driver in `crawl.py` asks `first_request`, hands each body to `parse_page`, follows `Page.next` until it
is None, and, for postings the source marks `needs_detail` that are new or changed, fetches
`detail_request` and merges it with `parse_detail`. Sources never touch the network themselves.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from infrasignal.model import Page, ParseError, Posting, Request

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig


class Source:
    """Base class of a board source. Subclasses set `name`, `api_base` and implement the parse methods."""

    name: ClassVar[str]
    api_base: ClassVar[str] = ""  # scheme://host of the real API; board.base_url replaces it
    requires: ClassVar[tuple[str, ...]] = ("token",)  # BoardConfig keys this source needs

    def check_board(self, board: BoardConfig) -> str | None:
        """A one-line problem with the board's config, or None when it is usable."""
        for key in self.requires:
            if not getattr(board, key):
                return f"missing required key `{key}` for ats = {board.ats!r}"
        return None

    def api_url(self, board: BoardConfig, path: str) -> str:
        """The real API URL for `path`, with scheme and host replaced by the board's `base_url` if set."""
        return with_base(self.api_base + path, board.base_url)

    def first_request(self, board: BoardConfig) -> Request:
        raise NotImplementedError

    def parse_page(self, board: BoardConfig, request: Request, body: bytes, page_index: int) -> Page:
        raise NotImplementedError

    def fallback_request(self, board: BoardConfig, status: int | None) -> Request | None:
        """What to ask instead when the first request failed with HTTP `status` (None: a network error);
        None when the source has no alternative endpoint."""
        return None

    def detail_request(self, board: BoardConfig, posting: Posting) -> Request | None:
        """The request that completes a posting marked `needs_detail`; None when the source has none."""
        return None

    def parse_detail(self, board: BoardConfig, posting: Posting, body: bytes) -> Posting:
        return posting


def with_base(url: str, base_url: str | None) -> str:
    """Replace scheme and host of `url` by those of `base_url` (path and query kept)."""
    if not base_url:
        return url
    real = urlsplit(url)
    base = urlsplit(base_url)
    prefix = base.path.rstrip("/")
    return urlunsplit((base.scheme, base.netloc, prefix + real.path, real.query, real.fragment))


def load_json(body: bytes, what: str) -> Any:
    """Decode a JSON body or raise ParseError naming what was expected."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(
            f"{what}: body is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
        ) from None


def expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """Check a JSON value's type or raise ParseError naming the field."""
    if not isinstance(value, kind):
        raise ParseError(f"{what}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def text(value: Any) -> str:
    """A JSON value as a trimmed single-line string ('' for null or non-strings)."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


_BLOCK_TAGS = "br, p, div, li, h1, h2, h3, h4, h5, h6, tr, ul, ol, table, section, article, blockquote, pre"


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: one line per block element, inline elements kept in their line
    (so "in <b>Tokyo</b> and <a>Osaka</a>" stays one phrase for the classifier)."""
    if not fragment:
        return ""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(fragment)
    for node in tree.css("script, style"):
        node.decompose()
    for node in tree.css(_BLOCK_TAGS):
        node.insert_after("\n")
    body = tree.body
    raw = body.text(separator="") if body is not None else ""
    return "\n".join(filter(None, [" ".join(line.split()) for line in raw.splitlines()]))


# What escaping HTML produces; unescaped by plain replacement when they are the only references (the
# replacements make no "&", so the result is html.unescape's, at a fraction of its per-reference cost).
_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&#x27;", "'"))


def unescape_html(value: str | None) -> str:
    """Greenhouse-style HTML-entity-escaped HTML, unescaped once."""
    if not value or "&" not in value:
        return value or ""
    out = value
    for escaped, char in _ESCAPES:
        out = out.replace(escaped, char)
    if out.count("&") == out.count("&amp;"):
        return out.replace("&amp;", "&")
    return html.unescape(value)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch milliseconds as an aware UTC datetime; None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def unique(values: list[str]) -> list[str]:
    """Non-empty values, first occurrence kept, order preserved."""
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        v = " ".join(v.split())
        if v and v.lower() not in seen:
            seen.add(v.lower())
            out.append(v)
    return out


__all__ = [
    "Page",
    "ParseError",
    "Posting",
    "Request",
    "Source",
    "expect",
    "html_to_text",
    "load_json",
    "parse_time",
    "text",
    "unescape_html",
    "unique",
    "with_base",
]
