"""One scrape round: fetch every configured board concurrently, classify what is new or changed, and write
each board's result in its own transaction. The CLI, the daemon and the demo all call `scrape`.

Reads [fetch] (engine limits), [history] (closure thresholds) and [classify] (user rule files).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine as DbEngine
from sqlalchemy import select

from infrasignal import distributed
from infrasignal.config import BoardConfig, Config, ConfigError
from infrasignal.model import Posting as ParsedPosting
from infrasignal.sources import get_source
from infrasignal.store import FetchSummary, record_fetch, sync_boards, utc_naive
from infrasignal.tables import Board, Posting

ProgressFn = Callable[[str, str], None]  # (board label, event: "start" | "done" | "failed")


def select_boards(config: Config, names: list[str] | None) -> list[BoardConfig]:
    """Enabled boards, optionally limited to those whose company or name matches (case-insensitive)."""
    boards = [b for b in config.boards if b.enabled]
    if not names:
        return boards
    wanted = {n.strip().lower() for n in names}
    chosen = [b for b in boards if b.company.lower() in wanted or b.label.lower() in wanted]
    unknown = wanted - {b.company.lower() for b in chosen} - {b.label.lower() for b in chosen}
    if unknown:
        raise ValueError(f"--board: no board named {', '.join(sorted(unknown))} in the config")
    return chosen


def user_classifier(config: Config) -> Any:
    """The classifier with the user's [classify] rule and market files; a bad file is a ConfigError."""
    from infrasignal.classify import load_classifier

    rules = config.resolve_path(config.classify.rules_file) if config.classify.rules_file else None
    markets = config.resolve_path(config.classify.markets_file) if config.classify.markets_file else None
    try:
        return load_classifier(rules_file=rules, markets_file=markets)
    except ValueError as exc:  # RulesError and market-table errors name the file and the rule
        raise ConfigError(f"[classify]: {exc}") from None


def make_classifier(config: Config) -> Callable[[ParsedPosting], Any]:
    """The classifier as a function of a parsed posting, with the user's rule files applied."""
    clf = user_classifier(config)

    def classify(p: ParsedPosting) -> Any:
        return clf.classify(p.title, p.department, p.locations, p.description, p.places)

    return classify


async def scrape_async(
    config: Config,
    db: DbEngine,
    boards: list[BoardConfig],
    at: datetime,
    progress: ProgressFn | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FetchSummary]:
    from infrasignal.crawl import crawl_board
    from infrasignal.fetch import Engine, Validators

    ids = sync_boards(db, boards, at)
    classify = make_classifier(config)
    write_lock = asyncio.Lock()  # one writer at a time; SQLite serialises writes anyway
    # Boards between "crawl started" and "written": bounded, so parsed boards never pile up in memory
    # waiting for the writer (the engine's limits alone bound only the requests in flight).
    in_pipeline = asyncio.Semaphore(2 * config.fetch.concurrency)
    summaries: dict[str, FetchSummary] = {}

    async with Engine(config.fetch, transport=transport) as engine:

        async def one(board: BoardConfig, fetched_round: int | None = None) -> None:
            board_id = ids[board.label]
            async with in_pipeline:
                validators, known, body_hash = await asyncio.to_thread(_board_context, db, board_id)
                if progress:
                    progress(board.label, "start")
                result = await crawl_board(
                    engine,
                    get_source(board.ats),
                    board,
                    validators=Validators(*validators) if validators else None,
                    known_hashes=known,
                    previous_body_hash=body_hash,
                )
                async with write_lock:
                    summary = await asyncio.to_thread(
                        _record, db, board_id, result, config, at, classify, fetched_round
                    )
            summaries[board.label] = summary
            if progress:
                progress(board.label, "failed" if summary.status == "failed" else "done")

        if distributed.shares_work(db):
            # PostgreSQL: scrape processes on any number of hosts share the round; each board is claimed
            # by one of them, and the boards others recorded are left out of this process's summaries.
            jobs = [(ids[b.label], b) for b in boards]
            await distributed.run_round(
                db,
                jobs,
                one,
                config.fetch.concurrency,
                group=distributed.api_host,
                per_group=config.fetch.per_host,
            )
        else:
            await asyncio.gather(*(one(b) for b in boards))
    if db.dialect.name == "sqlite":
        with db.connect() as conn:  # keep the query planner's statistics fresh (cheap when nothing changed)
            conn.exec_driver_sql("PRAGMA optimize")
    return [summaries[b.label] for b in boards if b.label in summaries]


def _record(
    db: DbEngine,
    board_id: int,
    result: Any,
    config: Config,
    at: datetime,
    classify: Callable[[ParsedPosting], Any],
    fetched_round: int | None,
) -> FetchSummary:
    """Write one board; if the write itself fails (a database error on this board's data), record the board
    as failed (closing nothing) and go on with the others."""
    try:
        return record_fetch(db, board_id, result, config.history, at, classify, fetched_round)
    except Exception as exc:  # the transaction rolled back: the board is at its old state
        message = f"store error: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
        failed = dataclasses.replace(result, status="failed", error=message, postings=[], complete=False)
        return record_fetch(db, board_id, failed, config.history, at, None, fetched_round)


def _board_context(
    db: DbEngine, board_id: int
) -> tuple[tuple[str | None, str | None] | None, dict[str, str], str | None]:
    """What the last fetch left for this one: validators and the last body hash (both withheld while the
    board is in quarantine: an unchanged answer must not confirm a suspect drop), and the list-entry
    hashes of its postings (details are fetched only for new or changed entries)."""
    with db.connect() as conn:
        b = conn.execute(
            select(Board.etag, Board.last_modified, Board.suspect_since, Board.body_hash).where(
                Board.id == board_id
            )
        ).one()
        known = {
            r[0]: r[1]
            for r in conn.execute(
                select(Posting.external_id, Posting.list_hash).where(
                    Posting.board_id == board_id, Posting.list_hash.is_not(None)
                )
            )
        }
    # body_hash is kept only for single-page boards: a 304 on page 1 of a paged board says nothing about
    # the later pages, so validators are sent only when the last fetch was a single page.
    if b.suspect_since is not None or b.body_hash is None:
        return None, known, None
    validators = (b.etag, b.last_modified) if (b.etag or b.last_modified) else None
    return validators, known, b.body_hash


def scrape(
    config: Config,
    db: DbEngine,
    boards: list[BoardConfig],
    at: datetime,
    progress: ProgressFn | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[FetchSummary]:
    """Synchronous entry point for the CLI and the scheduler."""
    return asyncio.run(scrape_async(config, db, boards, utc_naive(at), progress, transport))
