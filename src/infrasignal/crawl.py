"""The crawl driver: fetch one board through the engine and a source, page by page, then its details.

`crawl_board` asks the source for the first request, sends it through `fetch.Engine`, hands the body to
`source.parse_page`, and follows `Page.next` until it is None. Postings are deduplicated by external id
(the first copy wins: Workday pages overlap while jobs churn). It checks completeness (the total the API
states, a truncated listing), guards against endless paging, and fetches details concurrently for postings
marked `needs_detail` that are new or changed. It never raises for a bad board: any fetch error, parse
error or crash inside a source becomes a `BoardFetch` with status "failed", one error line, and no
postings, so a failed board closes nothing. Reads no settings itself; the engine applies `FetchConfig`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import operator
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from infrasignal.fetch import Engine, FetchError, Response, Validators
from infrasignal.model import Page, ParseError, Posting, Request

if TYPE_CHECKING:
    from infrasignal.config import BoardConfig
    from infrasignal.sources.base import Source

MAX_PAGES = 1000
_MAX_ERROR = 300

Status = Literal["ok", "not_modified", "failed"]


@dataclass(slots=True)
class BoardFetch:
    """The outcome of crawling one board. Only status "ok" with complete=True may close postings.

    Postings still marked `needs_detail` did not get their detail this time (unchanged since the last
    fetch, or the detail fetch failed; see `warnings`); the store should keep their stored details.
    `list_hashes` maps each external id to the `content_hash()` of its list version (before any detail
    was merged): pass it back as `known_hashes` next time so unchanged postings skip the detail fetch.
    """

    board: str
    status: Status
    postings: list[Posting] = field(default_factory=list)
    complete: bool = True
    truncated: bool = False
    incomplete_reason: str | None = None
    error: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    pages: int = 0  # pages fetched
    requests: int = 0  # engine.send calls (pages + details); retries are not counted
    duration: float = 0.0  # seconds
    warnings: list[str] = field(default_factory=list)
    body_hash: str | None = None  # sha256 hex of the body of a single-page board
    list_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def __reduce__(self) -> tuple[Any, ...]:
        # Crawl results go to the store's writer process pickled; postings travel as tuples of their
        # fields, which pickle several times faster than slots objects one by one.
        state = tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "postings")
        return (_rebuild, (state, [_posting_values(p) for p in self.postings]))


_POSTING_FIELDS = tuple(f.name for f in dataclasses.fields(Posting))
_posting_values = operator.attrgetter(*_POSTING_FIELDS)


def _rebuild(state: tuple[Any, ...], postings: list[tuple[Any, ...]]) -> BoardFetch:
    names = [f.name for f in dataclasses.fields(BoardFetch) if f.name != "postings"]
    result = BoardFetch(**dict(zip(names, state, strict=True)))
    result.postings = [Posting(*values) for values in postings]
    return result


class _BoardFailed(Exception):
    """Internal: the board fails with this one-line message."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def crawl_board(
    engine: Engine,
    source: Source,
    board: BoardConfig,
    validators: Validators | None = None,
    known_hashes: Mapping[str, str] | None = None,
    previous_body_hash: str | None = None,
) -> BoardFetch:
    """Fetch every page of `board` (and the details it needs); never raises for a bad board or body.

    `previous_body_hash` is the hash of the board's last single-page body: when the new body is byte for
    byte the same, nothing is parsed and the result is "not_modified", as if the server had sent a 304."""
    started = time.monotonic()
    result = BoardFetch(board=board.label, status="ok")
    try:
        await _crawl(engine, source, board, validators, known_hashes, previous_body_hash, result)
    except (FetchError, _BoardFailed) as exc:
        _fail(result, exc.message, exc.status)
    result.duration = time.monotonic() - started
    return result


def _fail(result: BoardFetch, message: str, status: int | None) -> None:
    result.status = "failed"
    result.error = _clip(message)
    result.http_status = status
    result.postings = []
    result.list_hashes = {}
    result.complete = False
    result.body_hash = None


async def _crawl(
    engine: Engine,
    source: Source,
    board: BoardConfig,
    validators: Validators | None,
    known_hashes: Mapping[str, str] | None,
    previous_body_hash: str | None,
    result: BoardFetch,
) -> None:
    request: Request | None = _first_request(source, board)
    seen_requests: set[str] = set()
    previous_ids: list[str] | None = None
    by_id: dict[str, Posting] = {}
    total: int | None = None
    reasons: list[str] = []
    page_index = 0
    while request is not None:
        if page_index >= MAX_PAGES:
            raise _BoardFailed(f"more than {MAX_PAGES} pages; stopping (endless paging?)")
        key = _request_key(request)
        if key in seen_requests:
            raise _BoardFailed(
                f"page {page_index + 1} repeats an earlier request ({request.url}); endless paging"
            )
        seen_requests.add(key)

        try:
            response = await _send(engine, request, validators if page_index == 0 else None, result)
        except FetchError as exc:
            # Some APIs have an older or alternative endpoint for the same board (Workable v3 -> widget).
            fallback = source.fallback_request(board, exc.status) if page_index == 0 else None
            if fallback is None or _request_key(fallback) in seen_requests:
                raise
            request = fallback
            seen_requests.add(_request_key(request))
            response = await _send(engine, request, None, result)
        if page_index == 0:
            result.http_status = response.status
            result.etag, result.last_modified = response.etag, response.last_modified
            if response.not_modified:
                result.status = "not_modified"
                return
            if previous_body_hash and hashlib.sha256(response.content).hexdigest() == previous_body_hash:
                # Same bytes as last time: skip parsing and classification entirely.
                result.status, result.body_hash = "not_modified", previous_body_hash
                return
        page, hashes = _parse_page(source, board, request, response, page_index)
        ids = list(hashes)
        if previous_ids is not None and ids == previous_ids and (ids or page.next is not None):
            raise _BoardFailed(
                f"page {page_index + 1} lists the same postings as page {page_index} ({response.url}); "
                "the API ignores paging"
            )
        previous_ids = ids
        if page_index == 0:
            total = page.total
            if page.next is None:
                result.body_hash = hashlib.sha256(response.content).hexdigest()
        if page.truncated and not result.truncated:
            result.truncated = True
            reasons.append(f"page {page_index + 1} says the API cannot list the whole board")
        for posting in page.postings:
            if posting.external_id not in by_id:
                by_id[posting.external_id] = posting
                result.list_hashes[posting.external_id] = hashes[posting.external_id]
        page_index += 1
        request = page.next

    if total is not None and len(by_id) < total:
        reasons.insert(0, f"the board states {total} postings but {len(by_id)} were listed")
    if reasons:
        result.complete = False
        result.incomplete_reason = "; ".join(reasons)
    result.postings = await _with_details(engine, source, board, list(by_id.values()), known_hashes, result)


def _first_request(source: Source, board: BoardConfig) -> Request:
    """The source's first request; a crash in the source fails the board instead of the run."""
    try:
        request = source.first_request(board)
    except ParseError as exc:
        raise _BoardFailed(f"source error: {exc}") from None
    except Exception as exc:
        raise _BoardFailed(f"source error: {_describe(exc)}") from None
    if not isinstance(request, Request):
        raise _BoardFailed(f"source error: first_request returned {type(request).__name__}, not Request")
    return request


async def _send(
    engine: Engine, request: Request, validators: Validators | None, result: BoardFetch
) -> Response:
    result.requests += 1
    response = await engine.send(request, validators)
    result.pages += 1
    return response


def _parse_page(
    source: Source, board: BoardConfig, request: Request, response: Response, index: int
) -> tuple[Page, dict[str, str]]:
    """The parsed page and the content hash of each posting on it, by external id (page order)."""
    try:
        page = source.parse_page(board, request, response.content, index)
        if not isinstance(page, Page):
            raise TypeError(f"parse_page returned {type(page).__name__}, not Page")
        if page.next is not None and not isinstance(page.next, Request):
            raise TypeError(f"Page.next is {type(page.next).__name__}, not Request")
        if page.total is not None and (not isinstance(page.total, int) or isinstance(page.total, bool)):
            raise TypeError(f"Page.total is {type(page.total).__name__}, not int")
        hashes: dict[str, str] = {}
        for posting in page.postings:
            if not isinstance(posting, Posting) or not isinstance(posting.external_id, str):
                raise TypeError(f"page {index + 1} holds a posting without a string external_id")
            posting.sanitize()
            hashes.setdefault(posting.external_id, posting.content_hash())
        if page.next is not None:
            _request_key(page.next)
    except ParseError as exc:
        raise _BoardFailed(f"cannot parse {response.url}: {exc}", response.status) from None
    except Exception as exc:  # hostile input must not crash a run
        raise _BoardFailed(f"parser error: {_describe(exc)}", response.status) from None
    return page, hashes


async def _with_details(
    engine: Engine,
    source: Source,
    board: BoardConfig,
    postings: list[Posting],
    known_hashes: Mapping[str, str] | None,
    result: BoardFetch,
) -> list[Posting]:
    """Postings with details merged for those that need one and are new or changed (concurrently)."""

    def wanted(p: Posting) -> bool:
        if not p.needs_detail:
            return False
        return known_hashes is None or known_hashes.get(p.external_id) != result.list_hashes[p.external_id]

    indexes = [i for i, p in enumerate(postings) if wanted(p)]
    merged = await asyncio.gather(*(_detail(engine, source, board, postings[i], result) for i in indexes))
    out = list(postings)
    for i, posting in zip(indexes, merged, strict=True):
        out[i] = posting
    return out


async def _detail(
    engine: Engine, source: Source, board: BoardConfig, posting: Posting, result: BoardFetch
) -> Posting:
    """The posting merged with its detail; on any failure the list version, with a warning."""
    try:
        request = source.detail_request(board, posting)
        if request is None:
            return posting
        result.requests += 1
        response = await engine.send(request)
        merged = source.parse_detail(board, posting, response.content)
        if not isinstance(merged, Posting):
            raise TypeError(f"parse_detail returned {type(merged).__name__}, not Posting")
    except FetchError as exc:
        result.warnings.append(
            _clip(f"detail of {posting.external_id} failed: {exc.message}; kept the list version")
        )
        return posting
    except Exception as exc:  # ParseError or a crash in the source: keep what the list gave
        what = str(exc) if isinstance(exc, ParseError) else f"parser error: {_describe(exc)}"
        result.warnings.append(
            _clip(f"detail of {posting.external_id} unparsable: {what}; kept the list version")
        )
        return posting
    merged = dataclasses.replace(merged, external_id=posting.external_id, needs_detail=False)
    merged.sanitize()
    return merged


def _request_key(request: Request) -> str:
    """A hashable identity of a request (Request holds dicts, so it is not hashable itself)."""
    params = sorted((str(k), str(v)) for k, v in (request.params or {}).items())
    return repr((request.method.upper(), request.url, params, request.json))


def _describe(exc: BaseException) -> str:
    detail = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _clip(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MAX_ERROR else message[: _MAX_ERROR - 3] + "..."


__all__ = ["MAX_PAGES", "BoardFetch", "crawl_board"]
