"""schema.org JobPosting JSON-LD read out of HTML: the blocks of a page, JobPosting objects wherever they
sit, and each one as a Posting. Pure; shared by the `jsonld` source and by board discovery.

Tolerates `@graph` wrappers, arrays of objects, `@type` as an array or an IRI ("schema:JobPosting"),
JobPosting nested anywhere (ItemList elements); oddly cased or single-quoted `type` attributes; malformed
blocks (skipped); `jobLocation` as an object or a list, `address` as an object or a string,
`addressLocality` / `addressRegion` / `addressCountry` as strings or `{"name": ...}` objects, a locality
holding "City, ST"; `jobLocationType: TELECOMMUTE` with `applicantLocationRequirements`; HTML-escaped
descriptions; `datePosted` without a zone, with "+0000" or space-separated. `validThrough` before `now`
marks a posting closed.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from infrasignal.model import Place, Posting
from infrasignal.sources._common import iso2
from infrasignal.sources.base import html_to_text, parse_time, text, unique

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser


def json_ld_blocks(tree: LexborHTMLParser) -> Iterator[Any]:
    """The parsed value of each JSON-LD script (malformed ones are skipped)."""
    for node in tree.css("script"):
        kind = (node.attributes.get("type") or "").strip().lower()
        if not kind.startswith("application/ld+json"):
            continue
        raw = (node.text() or "").strip()
        raw = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", raw)
        try:
            yield json.loads(raw, strict=False)
        except ValueError:
            continue


def block_counts(tree: LexborHTMLParser) -> tuple[int, int]:
    scripts = [n for n in tree.css("script") if "ld+json" in (n.attributes.get("type") or "").lower()]
    return len(scripts), len(scripts) - sum(1 for _ in json_ld_blocks(tree))


def find_job_postings(value: Any) -> list[dict[str, Any]]:
    """Every object typed JobPosting anywhere in a JSON-LD value (graphs, lists, nested properties)."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            kinds = item.get("@type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if any(isinstance(k, str) and re.split(r"[/:#]", k)[-1] == "JobPosting" for k in kinds):
                found.append(item)
            else:
                stack.extend(reversed(list(item.values())))
    return found


def parse_job_postings(tree: LexborHTMLParser, page_url: str, now: datetime | None = None) -> list[Posting]:
    """The postings of a page's JobPosting objects, deduplicated by external id (first wins)."""
    now = now or datetime.now(UTC)
    objects = [obj for block in json_ld_blocks(tree) for obj in find_job_postings(block)]
    postings: dict[str, Posting] = {}
    for obj in objects:
        posting = posting_from_ld(obj, page_url, now, single=len(objects) == 1)
        postings.setdefault(posting.external_id, posting)
    return list(postings.values())


def posting_from_ld(obj: dict[str, Any], page_url: str, now: datetime, single: bool = True) -> Posting:
    """One JobPosting object as a Posting (ids: identifier, else its url, else the page URL)."""
    title = html.unescape(_str(obj.get("title")) or _str(obj.get("name")))
    url = _url(obj.get("url"), page_url) or page_url
    remote = _str(obj.get("jobLocationType")).upper() == "TELECOMMUTE"
    raw, places = _locations(obj.get("jobLocation"))
    for req in _list(obj.get("applicantLocationRequirements")) if remote else []:
        name = _str(req)
        if name:
            raw.append(f"Remote, {name}")
            places.append(Place(country=iso2(name), remote=True))
    if remote and not raw:
        raw = ["Remote"]
    ident = _identifier(obj.get("identifier"))
    if not ident:
        ident = url if (url != page_url or single) else _fallback_id(page_url, title, raw)
    valid = parse_time(obj.get("validThrough"))
    parts = [obj.get(k) for k in ("description", "responsibilities", "qualifications")]
    return Posting(
        external_id=ident,
        title=" ".join(title.split()),
        url=url,
        locations=unique(raw),
        description="\n".join(_html_text(p) for p in parts if isinstance(p, str) and p),
        posted_at=parse_time(obj.get("datePosted")),
        remote=True if remote else None,
        places=places,
        closed=valid is not None and valid < now,
    )


def _locations(value: Any) -> tuple[list[str], list[Place]]:
    raw: list[str] = []
    places: list[Place] = []
    for loc in _list(value):
        if isinstance(loc, str):
            raw.append(text(loc))
            continue
        if not isinstance(loc, dict):
            continue
        addresses = _list(loc.get("address")) or [{}]
        for address in addresses:
            if isinstance(address, str) or not isinstance(address, dict):
                raw.append(text(address) or _str(loc.get("name")))
                continue
            city, region, country = (
                _str(address.get(k)) for k in ("addressLocality", "addressRegion", "addressCountry")
            )
            line = ", ".join(unique([city, region, country])) or _str(loc.get("name"))
            raw.append(line)
            if "," in city and not region:
                city, _, region = (part.strip() for part in city.partition(","))
            if city or region or country:
                places.append(Place(city=city or None, region=region or None, country=iso2(country)))
    return unique(raw), places


def _identifier(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("value", value.get("@id"))
    return text(value)


def _fallback_id(page_url: str, title: str, raw: list[str]) -> str:
    digest = hashlib.sha256(f"{title}|{'|'.join(raw)}".encode()).hexdigest()[:12]
    return f"{page_url}#{digest}"


def _url(value: Any, page_url: str) -> str | None:
    href = _str(value)
    if not href:
        return None
    absolute = urljoin(page_url, href)
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _str(value: Any) -> str:
    """A string property, or the `name` of an object property ({"@type": "Country", "name": "US"})."""
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | dict)), None)
        return _str(value)
    return text(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _html_text(value: str) -> str:
    """Description HTML (or entity-escaped HTML) as plain text."""
    if "<" not in value and "&lt;" in value:
        value = html.unescape(value)
    return (
        html_to_text(value)
        if "<" in value or "&" in value
        else "\n".join(" ".join(line.split()) for line in value.splitlines() if line.strip())
    )


__all__ = ["block_counts", "find_job_postings", "json_ld_blocks", "parse_job_postings", "posting_from_ld"]
