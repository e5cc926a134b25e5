"""Several `infrasignal scrape` processes, on one host or many, sharing the boards of a PostgreSQL store.

Nothing here runs on SQLite: there one process scrapes at a time (the run lock) and `scrape.py` fetches
every board itself. On PostgreSQL, `scrape.py` hands its boards to `run_round`, and the work is shared
with PostgreSQL's own advisory locks, held on one dedicated connection per process:

- A *round* is one pass over the watchlist by every scrape process whose runs overlap. A process that
  starts while no other one is scraping opens a new round (the counter `scrape_round` in `schema_meta`
  goes up by one); a process that starts while others are scraping joins their round. Which is the case is
  decided under a lock, by trying to take the "active scrapers" lock exclusively; every scraping process
  then holds it shared until it ends.
- A board is *claimed* with `pg_try_advisory_lock` on its id, held while it is fetched and while its
  results are written. With the lock in hand the process reads `board.fetched_round`: if it equals the
  current round, another process has already recorded the board in this round and it is skipped. The
  board's results and its `fetched_round` land in one transaction, committed before the lock is released,
  so no board is recorded twice in a round.
- A board whose lock is busy is skipped at first and tried again when the process has been through its
  list: by then it is done (skipped for good) or its holder has died (its locks went with its connection)
  and this process fetches it. So the boards of a crashed worker are picked up by the workers still
  running in the round, else by the next round.

Lock keys are the two-integer form; the first integer names infrasignal, the schema and the purpose, so
two installations in different schemas of one database never block each other. Reads no settings.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.engine import Connection

from infrasignal.config import BoardConfig
from infrasignal.tables import Board, SchemaMeta

ROUND_KEY = "scrape_round"  # schema_meta key of the round counter
_ACTIVE, _JOIN = 1, 2  # objids under the "round" namespace
RETRY_INTERVAL = 0.5  # seconds between tries of boards another process holds

T = TypeVar("T")


def shares_work(db: Engine) -> bool:
    """Whether scrapes against this store share their boards (PostgreSQL) or run alone (SQLite)."""
    return db.dialect.name == "postgresql"


def api_host(board: BoardConfig) -> str:
    """The host a board's first request goes to (boards of one ATS mostly share it)."""
    from urllib.parse import urlsplit

    from infrasignal.sources import get_source

    try:
        return urlsplit(get_source(board.ats).first_request(board).url).netloc or board.ats
    except Exception:  # a board the source cannot address fails later, in its crawl, with one line
        return board.ats


def lock_namespace(conn: Connection, purpose: str) -> int:
    """The first key of infrasignal's advisory locks for `purpose` in the connection's current schema."""
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    value = zlib.crc32(f"infrasignal:{schema}:{purpose}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value  # as a signed int4


class Claim(Enum):
    CLAIMED = "claimed"  # the lock is ours and the board is not done in this round: fetch it
    DONE = "done"  # recorded in this round already (by any process)
    BUSY = "busy"  # another process holds it right now


class Coordinator:
    """One scrape process's seat in the shared round: a dedicated autocommit connection holding its
    advisory locks (they die with the connection if the process dies). Thread-safe."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._mutex = threading.Lock()
        self._conn: Connection | None = None
        self._round_ns = 0
        self._board_ns = 0
        self.round = 0

    def open(self) -> int:
        """Connect, join the running round or open a new one; returns the round number."""
        with self._mutex:
            conn = self._db.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
            self._round_ns = lock_namespace(conn, "round")
            self._board_ns = lock_namespace(conn, "board")
            self._call("pg_advisory_lock", self._round_ns, _JOIN)  # one joiner at a time
            try:
                alone = self._call("pg_try_advisory_lock", self._round_ns, _ACTIVE)
                self.round = _next_round(self._db) if alone else _current_round(self._db)
                # Cannot wait: joiners are serialised, and scraping processes hold this lock only shared.
                self._call("pg_advisory_lock_shared", self._round_ns, _ACTIVE)
                if alone:
                    self._call("pg_advisory_unlock", self._round_ns, _ACTIVE)
            finally:
                self._call("pg_advisory_unlock", self._round_ns, _JOIN)
            return self.round

    def claim(self, board_id: int) -> Claim:
        """Try to take the board for this process."""
        with self._mutex:
            if not self._call("pg_try_advisory_lock", self._board_ns, board_id):
                return Claim.BUSY
            done = self._connection.execute(
                select(Board.fetched_round).where(Board.id == board_id)
            ).scalar_one_or_none()
            if done == self.round:
                self._call("pg_advisory_unlock", self._board_ns, board_id)
                return Claim.DONE
            return Claim.CLAIMED

    def release(self, board_id: int) -> None:
        """Give the board back (after its results are committed, or after a failure to write them)."""
        with self._mutex:
            self._call("pg_advisory_unlock", self._board_ns, board_id)

    def close(self) -> None:
        """Release every lock of this process and leave the round."""
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
                conn.close()
            except Exception:
                conn.invalidate()  # closing the connection releases its locks anyway
                raise

    @property
    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("Coordinator is not open")
        return self._conn

    def _call(self, function: str, namespace: int, key: int) -> bool:
        """Call an advisory-lock function; True unless it is a `try` or `unlock` form that returned false."""
        sql = text(f"SELECT {function}(:ns, :key)::text")  # the blocking forms return void
        value = self._connection.execute(sql, {"ns": namespace, "key": key}).scalar()
        return value != "false"


def _current_round(db: Engine) -> int:
    with db.connect() as conn:
        value = conn.execute(select(SchemaMeta.value).where(SchemaMeta.key == ROUND_KEY)).scalar()
    return int(value) if value is not None else 0


def _next_round(db: Engine) -> int:
    with db.begin() as conn:
        value = conn.execute(select(SchemaMeta.value).where(SchemaMeta.key == ROUND_KEY)).scalar()
        number = int(value) + 1 if value is not None else 1
        if value is None:
            conn.execute(insert(SchemaMeta).values(key=ROUND_KEY, value=str(number)))
        else:
            conn.execute(update(SchemaMeta).where(SchemaMeta.key == ROUND_KEY).values(value=str(number)))
    return number


@dataclass(slots=True)
class RoundReport:
    """What one process did in a round."""

    round: int
    fetched: list[int] = field(default_factory=list)  # board ids this process fetched and recorded
    done_elsewhere: list[int] = field(default_factory=list)  # recorded in this round by another process


async def run_round(
    db: Engine,
    jobs: Sequence[tuple[int, T]],
    work: Callable[[T, int], Awaitable[None]],
    concurrency: int,
    group: Callable[[T], str] | None = None,
    per_group: int | None = None,
    retry_interval: float = RETRY_INTERVAL,
) -> RoundReport:
    """Run `work(item, round)` for each `(board_id, item)` this process claims, at most `concurrency` at a
    time and at most `per_group` of one `group(item)` (the API host: the fetch engine's per-host limit).
    `work` must commit the board's results, with `fetched_round=round`, before it returns."""
    coordinator = Coordinator(db)
    slots = asyncio.Semaphore(concurrency)
    group_slots: dict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(per_group or concurrency)
    )
    report = RoundReport(round=0)

    async def attempt(board_id: int, item: T) -> Claim:
        # A board is claimed only when this process can start fetching it (a free slot overall and on its
        # host), so processes interleave and none holds boards it is not working on.
        async with group_slots[group(item) if group else ""], slots:
            claim = await asyncio.to_thread(coordinator.claim, board_id)
            if claim is not Claim.CLAIMED:
                return claim
            try:
                await work(item, report.round)
            finally:
                await asyncio.to_thread(coordinator.release, board_id)
            report.fetched.append(board_id)
            return claim

    try:
        report.round = await asyncio.to_thread(coordinator.open)
        pending = list(jobs)
        while True:
            claims = await _all_or_cancel([attempt(board_id, item) for board_id, item in pending])
            report.done_elsewhere += [
                job[0] for job, c in zip(pending, claims, strict=True) if c is Claim.DONE
            ]
            pending = [job for job, c in zip(pending, claims, strict=True) if c is Claim.BUSY]
            if not pending:
                return report
            await asyncio.sleep(retry_interval)
    finally:
        await asyncio.to_thread(coordinator.close)


async def _all_or_cancel(coros: list[Awaitable[Claim]]) -> list[Claim]:
    """Like gather, but when one fails the others are cancelled and awaited (their `finally` blocks
    release their boards) before the error propagates."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
