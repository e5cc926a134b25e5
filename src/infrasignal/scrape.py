"""One scrape round: fetch every configured board concurrently, classify what is new or changed, and write
each board's result in its own transaction. The CLI, the daemon and the demo all call `scrape`.

Fetching and parsing run on this process's event loop. Classifying and writing run either here (one board
at a time, in a thread) or, for rounds of many boards on a machine with two cores or more
(`writer.writer_mode`), in a worker process (`writer.py`), so that the two halves of the work overlap on two
cores; the CLI starts that process before it loads the store (`worker=`).
Boards go to the worker from the first one that has postings to write (a round of unchanged boards is all
written here). `writer=` (or the INFRASIGNAL_WRITER environment variable) forces "inline" or "process".

Reads [fetch] (engine limits), [history] (closure thresholds) and [classify] (user rule files).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import pickle
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx2
from sqlalchemy import Engine as DbEngine
from sqlalchemy import bindparam, select

from infrasignal import distributed
from infrasignal.config import BoardConfig, Config, ConfigError
from infrasignal.model import Posting as ParsedPosting
from infrasignal.sources import get_source
from infrasignal.store import FetchSummary, record_fetch, record_fetches, sync_boards, utc_naive
from infrasignal.tables import Board, Posting
from infrasignal.writer import ProcessWriter, Spawned, WriterMode, writer_mode

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


def make_classifier(config: Config) -> Callable[..., Any]:
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
    transport: httpx2.AsyncBaseTransport | None = None,
    writer: WriterMode | None = None,
    worker: Spawned | None = None,
) -> list[FetchSummary]:
    """See `scrape`."""
    from infrasignal.crawl import crawl_board
    from infrasignal.fetch import Engine, Validators

    ids = sync_boards(db, boards, at)
    shared = distributed.shares_work(db)
    # Alone on the store (no other scrape shares the round), this process is the only writer until the
    # round ends: every board's context is read at once, not in a query and a thread hop per board.
    contexts: dict[int, BoardContext] = {}
    if not shared:
        detail_ids = {ids[b.label] for b in boards if fetches_details(get_source(b.ats))}
        contexts = await asyncio.to_thread(_board_contexts, db, [ids[b.label] for b in boards], detail_ids)
    mode = writer or writer_mode(len(boards))
    if db.url.get_backend_name() == "sqlite" and db.url.database in (None, "", ":memory:"):
        mode = "inline"  # another process would open a database of its own
    process_writer: ProcessWriter | None = None
    if mode == "process":  # the worker builds its own classifier
        url = db.url.render_as_string(hide_password=False)
        # A classifier that cannot go to another process (a stand-in a test made) keeps the writes here.
        with contextlib.suppress(pickle.PicklingError, AttributeError, TypeError):
            process_writer = ProcessWriter(url, config, _record_group, make_classifier, spawned=worker)
        # Its start-up (imports, classifier) overlaps the first fetches; but when every board may answer
        # "not modified" (each has the body hash of a single-page last fetch), it starts only once a
        # board brings postings: a round of 304s is all written here, and would only compete for the CPU.
        if process_writer is not None and (shared or any(c[2] is None for c in contexts.values())):
            process_writer.start()
    # Inline, the classifier is built before any fetch (a bad rule file fails at once). With a worker, the
    # boards written here have no postings: nothing to classify.
    classify = make_classifier(config) if process_writer is None else None

    inline = GroupWriter(lambda group: _record_group(db, group, config, at, classify))
    # Boards between "crawl started" and "written": bounded, so parsed boards never pile up in memory
    # waiting for the writer (the engine's limits alone bound only the requests in flight).
    in_pipeline = asyncio.Semaphore(2 * config.fetch.concurrency)
    summaries: dict[str, FetchSummary] = {}

    async with Engine(config.fetch, transport=transport) as engine:

        async def one(board: BoardConfig, fetched_round: int | None = None) -> None:
            board_id = ids[board.label]
            source = get_source(board.ats)
            async with in_pipeline:
                # The list-entry hashes serve detail fetches only: read for the sources that make them.
                details = fetches_details(source)
                context = contexts.pop(board_id, None)
                if context is None:  # a round shared with other hosts: read when the board is claimed
                    context = await asyncio.to_thread(_board_context, db, board_id, details)
                validators, known, body_hash = context
                if progress:
                    progress(board.label, "start")
                result = await crawl_board(
                    engine,
                    source,
                    board,
                    validators=Validators(*validators) if validators else None,
                    known_hashes=known,
                    previous_body_hash=body_hash,
                )
                # Until a board brings postings to classify and write, boards are written here: a round of
                # unchanged boards (304s) never waits for the worker.
                summary: FetchSummary | None = None
                if process_writer is not None and (process_writer.used or result.postings):
                    summary = await process_writer.record(board_id, result, at, fetched_round)
                elif result.postings:
                    summary = await inline.record((board_id, result, fetched_round))
            if summary is None:
                # Nothing parsed to hold (not modified, or failed): the board waits for its write outside the
                # pipeline's bound, so a round of 304s keeps fetching while earlier ones are written (in
                # bigger groups), instead of stalling on the writer's thread.
                summary = await inline.record((board_id, result, fetched_round))
            summaries[board.label] = summary
            if progress:
                progress(board.label, "failed" if summary.status == "failed" else "done")

        try:
            if shared:
                # PostgreSQL: scrape processes on any number of hosts share the round; each board is
                # claimed by one of them, and the boards others recorded are left out of this process's
                # summaries.
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
        except BaseException:
            if process_writer is not None:
                await process_writer.close(cancel=True)
            raise
        if process_writer is not None:
            await process_writer.close()
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
    classify: Callable[[ParsedPosting], Any] | None,
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


Written = tuple[int, Any, int | None]  # (board_id, crawl result, fetched_round) of a board to write


class GroupWriter:
    """Writes boards in a thread, one group at a time: the boards whose crawl ends while a group is being
    written go together in the next one (a group commit). A round of unchanged boards (304s) then pays
    for a transaction per group, not per board; while writes keep up, every group is a single board."""

    MAX_GROUP = 64  # bounds how long one transaction holds SQLite's write lock

    def __init__(self, write_group: Callable[[list[Written]], list[FetchSummary]]) -> None:
        self._write_group = write_group
        self._pending: list[tuple[Written, asyncio.Future[FetchSummary]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def record(self, item: Written) -> FetchSummary:
        done: asyncio.Future[FetchSummary] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending[: self.MAX_GROUP], self._pending[self.MAX_GROUP :]
            try:
                summaries = await asyncio.to_thread(self._write_group, [item for item, _ in group])
            except asyncio.CancelledError:
                for _, done in group + self._pending:
                    done.cancel()
                raise
            except Exception as exc:  # reaches each board's caller
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), summary in zip(group, summaries, strict=True):
                if not done.done():
                    done.set_result(summary)


def _record_group(
    db: DbEngine,
    group: list[Written],
    config: Config,
    at: datetime,
    classify: Callable[[ParsedPosting], Any] | None,
) -> list[FetchSummary]:
    """Write a group of boards in one transaction; if that fails, each board on its own (so a board whose
    write fails is recorded as failed and the others are written)."""
    if len(group) > 1:
        try:
            return record_fetches(db, group, config.history, at, classify)
        except Exception:  # rolled back as a whole: nothing of the group was written
            pass
    return [_record(db, board_id, result, config, at, classify, rnd) for board_id, result, rnd in group]


# Read before the crawls; built once (building a statement costs more than running it).
_BOARD_STATE = select(Board.id, Board.etag, Board.last_modified, Board.suspect_since, Board.body_hash).where(
    Board.id.in_(bindparam("ids", expanding=True))
)
_LIST_HASHES = select(Posting.board_id, Posting.external_id, Posting.list_hash).where(
    Posting.board_id.in_(bindparam("ids", expanding=True)), Posting.list_hash.is_not(None)
)


def fetches_details(source: Any) -> bool:
    """Whether a source fetches details for some postings (it overrides `Source.detail_request`)."""
    from infrasignal.sources.base import Source

    return type(source).detail_request is not Source.detail_request


BoardContext = tuple[tuple[str | None, str | None] | None, dict[str, str], str | None]


def _board_context(db: DbEngine, board_id: int, hashes: bool = True) -> BoardContext:
    """What the last fetch left for this one: validators and the last body hash (both withheld while the
    board is in quarantine: an unchanged answer must not confirm a suspect drop), and, with `hashes`, the
    list-entry hashes of its postings (details are fetched only for new or changed entries)."""
    return _board_contexts(db, [board_id], {board_id} if hashes else set())[board_id]


def _board_contexts(db: DbEngine, board_ids: list[int], hashed: set[int]) -> dict[int, BoardContext]:
    """_board_context of several boards in two queries (the boards in `hashed` with their list hashes)."""
    known: dict[int, dict[str, str]] = {board_id: {} for board_id in board_ids}
    contexts: dict[int, BoardContext] = {}
    with db.connect() as conn:
        for chunk in _chunks(board_ids, 500):
            for b in conn.execute(_BOARD_STATE, {"ids": chunk}):
                # body_hash is kept only for single-page boards: a 304 on page 1 of a paged board says
                # nothing about the later pages, so validators are sent only when the last fetch was one page.
                if b.suspect_since is not None or b.body_hash is None:
                    contexts[b.id] = (None, known[b.id], None)
                else:
                    validators = (b.etag, b.last_modified) if (b.etag or b.last_modified) else None
                    contexts[b.id] = (validators, known[b.id], b.body_hash)
        for chunk in _chunks(sorted(hashed), 500):
            for board_id, external_id, list_hash in conn.execute(_LIST_HASHES, {"ids": chunk}):
                known[board_id][external_id] = list_hash
    return contexts


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def scrape(
    config: Config,
    db: DbEngine,
    boards: list[BoardConfig],
    at: datetime,
    progress: ProgressFn | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    writer: WriterMode | None = None,
    worker: Spawned | None = None,
) -> list[FetchSummary]:
    """Synchronous entry point for the CLI and the scheduler. `worker`: a worker process started ahead
    (`writer.spawn`), used if the round writes in a process, else stopped."""
    try:
        with quiet_gc():
            return asyncio.run(
                scrape_async(config, db, boards, utc_naive(at), progress, transport, writer, worker)
            )
    finally:
        if worker is not None:
            worker.discard()  # nothing if the round took it


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Fewer garbage-collector passes for the length of a round: what is alive before it (modules, tables,
    config) is frozen out of the full passes, and the young generation is collected every 50,000
    allocations rather than 700. A round allocates millions of objects that die within a board (reference
    counting frees them); with the defaults the collector kept walking a board's postings while they were
    still in use (a tenth of the CPU of a 1,000-board round). No collection first: in a long-lived process
    (the daemon, a test run) a full pass over everything alive would cost more than the round it speeds."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
