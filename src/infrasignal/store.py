"""The store: opens the database, keeps its schema current, and writes each board's fetch in one
transaction. The only module that writes SQL (read-side queries live in `queries.py`).

SQLite gets WAL mode and a busy timeout so readers can query during a scrape; PostgreSQL
(`postgresql+psycopg://user@host/db`, the `postgres` extra) gets UTC sessions, and its schema creation,
migrations and board sync are serialised with an advisory lock so several scrape hosts can start at once.
Schema changes are appended to `MIGRATIONS`; a fresh database is created at the newest version.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime, Engine, bindparam, delete, event, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import SQLModel, create_engine

from infrasignal.bulkwrite import insert_rows, update_rows
from infrasignal.config import BoardConfig, HistoryConfig
from infrasignal.model import Posting as ParsedPosting
from infrasignal.presence import refresh_presence
from infrasignal.schema_version import SCHEMA_VERSION
from infrasignal.seen import last_seen
from infrasignal.tables import (
    Board,
    Event,
    Fetch,
    Posting,
    PostingPlace,
    PostingTag,
    PostingVersion,
    SchemaMeta,
    SitePresence,
)
from infrasignal.timeutil import naive_utc as utc_naive
from infrasignal.track import BoardState, Plan, StoredPosting, description_hash, plan_fetch


def _add_board_fetched_round(conn: Connection) -> None:
    """v2: `board.fetched_round`, the shared scrape round that last recorded the board (distributed.py)."""
    conn.execute(text("ALTER TABLE board ADD COLUMN fetched_round INTEGER"))


def _add_sent_report_deliveries(conn: Connection) -> None:
    """v3: `sent_report.deliveries` and `.subject` (the exactly-once mail ledger, outbox.py)."""
    conn.execute(text("ALTER TABLE sent_report ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text("ALTER TABLE sent_report ADD COLUMN subject VARCHAR NOT NULL DEFAULT ''"))


def _add_posting_board_status_index(conn: Connection) -> None:
    """v4: index (board_id, status), so refreshing one board's open postings never scans other boards."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_posting_board_status ON posting (board_id, status)"))


def _add_query_indexes(conn: Connection) -> None:
    """v5: indexes for `signals` (a posting's tags by kind) and `roles --infra` (open infra, newest first)."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_tag_posting_kind ON posting_tag (posting_id, kind)"))
    conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_posting_status_infra_first_seen "
            "ON posting (status, infra, first_seen)"
        )
    )


def _add_site_presence(conn: Connection) -> None:
    """v6: the `site_presence` summary behind `signals` (presence.py), filled from the stored postings, and
    the v5 (status, infra, first_seen) index widened so counting open infra roles never reads a posting."""
    SitePresence.__table__.create(conn)
    refresh_presence(conn)
    conn.execute(text("DROP INDEX IF EXISTS ix_posting_status_infra_first_seen"))
    conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_posting_infra_roles "
            "ON posting (status, infra, first_seen, board_id, baseline, requisition_id)"
        )
    )


def _cover_event_reads(conn: Connection) -> None:
    """v7: the (at, kind) event index carries the posting id, so the closures and reopenings of a window
    are read from the index alone (`signals`: 40 ms of 0.6 s on a million postings); the tag index on
    posting_id alone goes (ix_tag_posting_kind leads with it; one index less to write per tag)."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_event_at_kind_posting ON event (at, kind, posting_id)"))
    conn.execute(text("DROP INDEX IF EXISTS ix_event_at_kind"))
    conn.execute(text("DROP INDEX IF EXISTS ix_posting_tag_posting_id"))


def _add_board_listing_times(conn: Connection) -> None:
    """v8: `board.listed_at` (seen.py): a not-modified answer is recorded on its board instead of in every
    open posting. Until v8 every successful fetch, not-modified answers included, wrote its time into the
    postings it saw, so the postings a board's last success saw carry its time."""
    stamp = DateTime(timezone=False).compile(dialect=conn.dialect)  # as create_all declares it
    conn.execute(text(f"ALTER TABLE board ADD COLUMN listed_at {stamp}"))
    conn.execute(text("UPDATE board SET listed_at = last_success_at"))


# Ordered schema migrations: MIGRATIONS[i] upgrades a database at version i+1 to version i+2.
# Each takes a Connection inside a transaction and must work on SQLite and PostgreSQL.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _add_board_fetched_round,
    _add_sent_report_deliveries,
    _add_posting_board_status_index,
    _add_query_indexes,
    _add_site_presence,
    _cover_event_reads,
    _add_board_listing_times,
]
if 1 + len(MIGRATIONS) != SCHEMA_VERSION:  # the light read path (reader.py) checks the version too
    raise RuntimeError(
        f"schema_version.SCHEMA_VERSION is {SCHEMA_VERSION}, not 1 + {len(MIGRATIONS)} migrations"
    )

# PostgreSQL advisory lock (two-int form) taken for the length of a schema or board-sync transaction.
_PG_SETUP_LOCK = (0x1F5A_0001, 0)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class StoreError(Exception):
    """The database cannot be opened or is newer than this program: one line for the user."""


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def database_url(url: str) -> str:
    """`postgresql://` and `postgres://` name the driver infrasignal ships (psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def safe_url(url: str) -> str:
    """The URL for messages, without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_engine(url: str) -> Engine:
    """Create the SQLAlchemy engine; SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL sessions
    run in UTC (stored times are naive UTC) and connections are checked before use (long-lived daemons)."""
    url = database_url(url)
    is_sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": 30}
    elif url.startswith("postgresql"):
        options = make_url(url).query.get("options", "")
        if isinstance(options, tuple):
            options = " ".join(options)
        kwargs["connect_args"] = {"options": f"{options} -c timezone=UTC".strip()}
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except ImportError as exc:
        if url.startswith("postgresql"):
            raise StoreError(
                f"{safe_url(url)}: the PostgreSQL driver is missing ({exc.name}); "
                "install infrasignal[postgres] (pip install 'infrasignal[postgres]')"
            ) from None
        raise StoreError(f"{safe_url(url)}: database driver missing: {exc}") from None
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def migrate(engine: Engine) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    with engine.begin() as conn:
        _serialise_setup(conn)
        tables = set(inspect(conn).get_table_names())
        if "schema_meta" not in tables:
            SQLModel.metadata.create_all(conn)
            conn.execute(insert(SchemaMeta).values(key="version", value=str(SCHEMA_VERSION)))
            return 0
        row = conn.execute(select(SchemaMeta.value).where(SchemaMeta.key == "version")).scalar_one()
        found = int(row)
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {found} is newer than this infrasignal ({SCHEMA_VERSION}); upgrade"
            )
        for step in MIGRATIONS[found - 1 :]:
            step(conn)
        if found != SCHEMA_VERSION:
            conn.execute(
                update(SchemaMeta).where(SchemaMeta.key == "version").values(value=str(SCHEMA_VERSION))
            )
        return found


def _serialise_setup(conn: Connection) -> None:
    """On PostgreSQL, wait for any other process creating, migrating or syncing the schema (the lock ends
    with this transaction); SQLite writers are serialised by the database itself."""
    if is_postgres(conn):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _PG_SETUP_LOCK[0], "b": _PG_SETUP_LOCK[1]}
        )


def open_store(url: str) -> Engine:
    """Open (and create or migrate) the database at `url`."""
    try:
        engine = open_engine(url)
        migrate(engine)
    except StoreError:
        raise
    except Exception as exc:  # sqlalchemy raises many kinds; the user needs one line
        message = " ".join(str(exc).split())[:200]
        raise StoreError(
            f"cannot open database {safe_url(database_url(url))}: {exc.__class__.__name__}: {message}"
        ) from None
    return engine


def sync_boards(engine: Engine, boards: Iterable[BoardConfig], now: datetime | None = None) -> dict[str, int]:
    """Insert or update a row per configured board; returns name -> board id."""
    now = utc_naive(now or utcnow())
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        _serialise_setup(conn)  # scrape hosts starting together must not insert the same board twice
        existing = {
            r.name: r
            for r in conn.execute(
                select(Board.id, Board.name, Board.company, Board.ats, Board.token, Board.url)
            )
        }
        new: list[tuple[Any, ...]] = []
        for b in boards:
            values = {"company": b.company, "ats": b.ats, "token": b.token, "url": b.url}
            row = existing.get(b.label)
            if row is None:
                new.append((b.label, now, *values.values()))
            else:
                if values != {k: getattr(row, k) for k in values}:  # unchanged rows are not rewritten
                    conn.execute(update(Board).where(Board.id == row.id).values(**values))
                ids[b.label] = int(row.id)
        if new:  # one batch (a first scrape of a big watchlist adds them all)
            insert_rows(conn, Board.__table__, ("name", "created_at", "company", "ats", "token", "url"), new)
            added = {label for label, *_ in new}
            ids.update(
                {r.name: int(r.id) for r in conn.execute(select(Board.id, Board.name)) if r.name in added}
            )
    return ids


@dataclass(slots=True)
class FetchSummary:
    """What one board's fetch did to the store, for the scrape summary."""

    board: str
    status: str
    rule: str
    found: int = 0
    new: int = 0
    changed: int = 0
    closed: int = 0
    reopened: int = 0
    error: str | None = None
    duration: float = 0.0
    baseline: bool = False


Classify = Callable[[ParsedPosting], Any]


def record_fetch(
    engine: Engine,
    board_id: int,
    result: Any,
    rules: HistoryConfig,
    at: datetime,
    classify: Classify | None = None,
    fetched_round: int | None = None,
) -> FetchSummary:
    """Write one board's fetch result (a crawl.BoardFetch) in one transaction and return its summary.

    `fetched_round` (distributed scrapes on PostgreSQL) marks the board as done in that shared round, in
    the same transaction as its results."""
    with engine.begin() as conn:
        return _record_in(conn, board_id, result, rules, utc_naive(at), classify, fetched_round)


def record_fetches(
    engine: Engine,
    fetches: list[tuple[int, Any, int | None]],
    rules: HistoryConfig,
    at: datetime,
    classify: Classify | None = None,
) -> list[FetchSummary]:
    """Several boards' fetch results, each (board_id, result, fetched_round), in one transaction: all are
    written or none (each board at its old or its new state). A round of small or unchanged boards then
    pays for one commit per group rather than per board."""
    at = utc_naive(at)
    summaries: list[FetchSummary] = []
    with engine.begin() as conn:
        # In the order given (rows get the ids they would get board by board); each run of unchanged
        # boards in a few statements.
        for unchanged, run in itertools.groupby(fetches, key=lambda f: f[1].status == "not_modified"):
            if unchanged:
                summaries += _record_unchanged(conn, list(run), at)
            else:
                summaries += [_record_in(conn, b, result, rules, at, classify, rnd) for b, result, rnd in run]
    return summaries


def _record_in(
    conn: Connection,
    board_id: int,
    result: Any,
    rules: HistoryConfig,
    at: datetime,
    classify: Classify | None,
    fetched_round: int | None,
) -> FetchSummary:
    """record_fetch's work, in the caller's transaction."""
    if result.status == "not_modified":
        return _record_unchanged(conn, [(board_id, result, fetched_round)], at)[0]
    board = conn.execute(_BOARD_ROW, {"board_id": board_id}).one()
    state = BoardState(board.baseline_at, board.suspect_since, board.suspect_reason)
    if result.status == "ok":
        found = len(result.postings)
        plan = plan_fetch(
            _stored_postings(conn, board_id, board.listed_at, board.last_success_at),
            result.postings,
            result.complete,
            state,
            rules,
            at,
            getattr(result, "list_hashes", None),
        )
    else:  # failed: nothing listed, the stored postings stay as they are, only their number is reported
        found = conn.execute(_OPEN_COUNT, {"board_id": board_id}).scalar_one()
        plan = plan_fetch({}, None, False, state, rules, at)
    _apply_plan(conn, board_id, plan, at, classify, getattr(result, "list_hashes", {}) or {})
    if result.status == "ok" and board.last_success_at not in (board.listed_at, at):
        # A not-modified answer came since the last listing: the postings that listing saw and this one
        # does not (closed, or missing from a suspect or incomplete fetch) were last seen then. It goes into
        # their rows now, as the board's pair of times moves on (seen.py); those still listed carry `at`.
        conn.execute(
            _SEEN_UNLISTED, {"board": board_id, "listed": board.listed_at, "seen": board.last_success_at}
        )
    if _touched(plan):  # postings added or re-tagged: where this board has hired may have changed
        refresh_presence(conn, board_id)
    summary = FetchSummary(
        board=board.name,
        status=result.status,
        rule=plan.rule,
        found=found,
        new=0 if plan.baseline else len(plan.new),
        changed=len(plan.changed),
        closed=len(plan.close) + len(plan.close_now),
        reopened=len(plan.reopened),
        error=result.error,
        duration=result.duration,
        baseline=plan.baseline,
    )
    insert_rows(conn, Fetch.__table__, _FETCH_COLUMNS, [_fetch_values(board_id, at, result, summary)])
    values = _board_values(result, at, plan.suspect_since, plan.suspect_reason, plan.baseline, fetched_round)
    update_rows(conn, Board.__table__, "id", tuple(values), [(*values.values(), board_id)])
    return summary


def _record_unchanged(
    conn: Connection, fetches: list[tuple[int, Any, int | None]], at: datetime
) -> list[FetchSummary]:
    """What _record_in does for boards whose answer was not modified (a 304, or the same body), for several
    boards in a few statements: a fetch row each, and each board marked fetched and seen unchanged (its
    listed postings seen again, seen.py; their rows are not rewritten)."""
    ids = [board_id for board_id, _, _ in fetches]
    boards: dict[int, Any] = {}
    open_counts: dict[int, int] = {}
    for chunk in _chunks(ids, 500):
        boards.update((r.id, r) for r in conn.execute(_BOARD_STATES, {"ids": chunk}))
        open_counts.update((r[0], r[1]) for r in conn.execute(_OPEN_COUNTS, {"ids": chunk}))
    summaries: list[FetchSummary] = []
    fetch_rows: list[tuple[Any, ...]] = []
    board_updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for board_id, result, fetched_round in fetches:
        board = boards[board_id]
        summary = FetchSummary(
            board=board.name,
            status=result.status,
            rule="not_modified" if result.http_status == 304 else "unchanged",
            found=open_counts.get(board_id, 0),
            error=result.error,
            duration=result.duration,
        )
        summaries.append(summary)
        fetch_rows.append(_fetch_values(board_id, at, result, summary))
        values = _board_values(result, at, board.suspect_since, board.suspect_reason, False, fetched_round)
        board_updates.setdefault(tuple(values), []).append((*values.values(), board_id))
    insert_rows(conn, Fetch.__table__, _FETCH_COLUMNS, fetch_rows)
    for columns, rows in board_updates.items():
        update_rows(conn, Board.__table__, "id", columns, rows)
    return summaries


_FETCH_COLUMNS = (
    "board_id", "at", "status", "rule", "http_status", "error", "found", "new", "changed", "closed",
    "reopened", "pages", "requests", "duration", "complete", "etag",
)  # fmt: skip


def _fetch_values(board_id: int, at: datetime, result: Any, summary: FetchSummary) -> tuple[Any, ...]:
    """A board's fetch row: the values of _FETCH_COLUMNS."""
    return (
        board_id, at, result.status, summary.rule, result.http_status, result.error, summary.found,
        summary.new, summary.changed, summary.closed, summary.reopened, result.pages, result.requests,
        result.duration, result.complete, result.etag,
    )  # fmt: skip


def _board_values(
    result: Any,
    at: datetime,
    suspect_since: datetime | None,
    suspect_reason: str | None,
    baseline: bool,
    fetched_round: int | None,
) -> dict[str, Any]:
    """What a fetch changes on its board's row."""
    values: dict[str, Any] = {"suspect_since": suspect_since, "suspect_reason": suspect_reason}
    if result.status == "failed":
        values.update(last_error_at=at, last_error=result.error)
    else:
        values.update(last_success_at=at)
        if result.status == "ok":
            values.update(etag=result.etag, last_modified=result.last_modified, body_hash=result.body_hash)
            values["listed_at"] = at
        elif result.etag or result.last_modified:  # not modified: `listed_at` stays (seen.py)
            values.update(etag=result.etag, last_modified=result.last_modified)
        if baseline:
            values["baseline_at"] = at
    if fetched_round is not None:
        values["fetched_round"] = fetched_round
    return values


# The statements every board's write runs, built once (building a statement costs more than SQLite
# running it).
_BOARD_ROW = select(Board).where(Board.id == bindparam("board_id"))
_BOARD_STATES = select(Board.id, Board.name, Board.suspect_since, Board.suspect_reason).where(
    Board.id.in_(bindparam("ids", expanding=True))
)
_OPEN_COUNTS = (
    select(Posting.board_id, func.count())
    .where(Posting.board_id.in_(bindparam("ids", expanding=True)), Posting.status == "open")
    .group_by(Posting.board_id)
)
_SEEN_UNLISTED = (
    update(Posting)
    .where(Posting.board_id == bindparam("board"), Posting.last_seen == bindparam("listed"))
    .values(last_seen=bindparam("seen"))
)
_STORED = select(
    Posting.external_id,
    Posting.status,
    Posting.title,
    Posting.location,
    Posting.department,
    Posting.description_hash,
    Posting.list_hash,
    Posting.last_seen,
).where(Posting.board_id == bindparam("board_id"))
_IDS = select(Posting.external_id, Posting.id).where(Posting.board_id == bindparam("board_id"))
_OPEN_COUNT = (
    select(func.count())
    .select_from(Posting)
    .where(Posting.board_id == bindparam("board_id"), Posting.status == "open")
)


def _stored_postings(
    conn: Connection, board_id: int, listed_at: datetime | None, last_success_at: datetime | None
) -> dict[str, StoredPosting]:
    """The board's stored postings, each with its last sighting (seen.py)."""
    return {
        r.external_id: StoredPosting(
            **{**r._mapping, "last_seen": last_seen(r.last_seen, listed_at, last_success_at)}
        )
        for r in conn.execute(_STORED, {"board_id": board_id})
    }


# The posting columns a fetch writes for a new or changed posting, in the order of `_posting_values`.
_POSTING_VALUES = (
    "list_hash",
    "title",
    "department",
    "team",
    "url",
    "location",
    "description",
    "content_hash",
    "description_hash",
    "requisition_id",
    "remote",
    "posted_at",
    "infra",
    "unresolved_locations",
    "classified_hash",
)
_NEW_POSTING = ("board_id", "external_id", "first_seen", "last_seen", "status", "baseline", *_POSTING_VALUES)
_REVIVED_POSTING = ("last_seen", "status", "closed_at", *_POSTING_VALUES)
_VERSION = ("posting_id", "at", "changed", "title", "department", "location", "description_hash")
_EVENT = ("posting_id", "board_id", "at", "kind", "detail")


def _posting_values(
    p: ParsedPosting, list_hashes: dict[str, str], hashes: tuple[str, str], c: Any
) -> tuple[Any, ...]:
    """The values of _POSTING_VALUES; `c` the posting's classification (None: not classified)."""
    return (
        # Remember the list entry's hash only once its detail is merged, so a failed detail is retried.
        None if p.needs_detail else list_hashes.get(p.external_id),
        p.title,
        p.department,
        p.team,
        p.url,
        p.location,
        p.description,
        hashes[0],
        hashes[1],
        p.requisition_id,
        p.remote,
        utc_naive(p.posted_at) if p.posted_at else None,
        *_tag_flags(hashes[0], c),
    )


def _apply_plan(
    conn: Connection,
    board_id: int,
    plan: Plan,
    at: datetime,
    classify: Classify | None,
    list_hashes: dict[str, str],
) -> None:
    """Write a plan with a handful of batched statements (not a few per posting: a baseline of thousands of
    postings, or PostgreSQL's round trips, would otherwise dominate a scrape)."""
    touched = _touched(plan)
    if not (touched or plan.unchanged or plan.close or plan.close_now):
        return  # nothing listed changes (a 304, a failed fetch, an empty board that stays empty)
    tags = {id(p): classify(p) for p in touched} if classify is not None else {}
    # (content hash, description hash) of each posting written, computed once
    hashes = {id(p): (p.content_hash(), description_hash(p.description)) for p in touched}
    versions: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    classified: list[tuple[int, Any]] = []

    new = [
        (
            board_id,
            p.external_id,
            at,
            at,
            "open",
            plan.baseline,
            *_posting_values(p, list_hashes, hashes[id(p)], tags.get(id(p))),
        )
        for p in plan.new
    ]
    insert_rows(conn, Posting.__table__, _NEW_POSTING, new)
    # Ids are read after the insert (one indexed query for old and new postings alike) rather than
    # returned by it: SQLite cannot promise RETURNING rows in parameter order, so SQLAlchemy would then
    # insert row by row.
    ids = {r[0]: r[1] for r in conn.execute(_IDS, {"board_id": board_id})}
    new_kind = "baseline" if plan.baseline else "new"
    for p in plan.new:
        pid = ids[p.external_id]
        versions.append((pid, at, "created", p.title, p.department, p.location, hashes[id(p)][1]))
        events.append((pid, board_id, at, new_kind, ""))
        classified.append((pid, tags.get(id(p))))

    updates: list[tuple[Any, ...]] = []
    for kind, items in (("changed", plan.changed), ("reopened", plan.reopened)):
        for p, fields in items:
            pid = ids[p.external_id]
            values = _posting_values(p, list_hashes, hashes[id(p)], tags.get(id(p)))
            updates.append((at, "open", None, *values, pid))
            if fields or kind == "changed":
                versions.append(
                    (pid, at, ",".join(fields), p.title, p.department, p.location, hashes[id(p)][1])
                )
            events.append((pid, board_id, at, kind, ",".join(fields)))
            classified.append((pid, tags.get(id(p))))
    update_rows(conn, Posting.__table__, "id", _REVIVED_POSTING, updates)
    update_rows(
        conn, Posting.__table__, "id", ("last_seen",), [(at, ids[p.external_id]) for p in plan.unchanged]
    )
    for external_ids, closed_at in ((plan.close, utc_naive(plan.closed_at or at)), (plan.close_now, at)):
        if not external_ids:
            continue
        close_ids = [ids[eid] for eid in external_ids]
        for chunk in _chunks(close_ids, 500):
            conn.execute(
                update(Posting).where(Posting.id.in_(chunk)).values(status="closed", closed_at=closed_at)
            )
        events += [(pid, board_id, closed_at, "closed", "") for pid in close_ids]
    insert_rows(conn, PostingVersion.__table__, _VERSION, versions)
    insert_rows(conn, Event.__table__, _EVENT, events)
    if classify is not None and classified:
        _write_tags(conn, classified, replace=bool(updates))


def _touched(plan: Plan) -> list[ParsedPosting]:
    return plan.new + [p for p, _ in plan.changed] + [p for p, _ in plan.reopened]


def _tag_flags(content_hash: str, c: Any) -> tuple[bool, bool, str | None]:
    """The posting columns the classifier sets (infra, unresolved_locations, classified_hash); without a
    classification, their defaults."""
    if c is None:
        return (False, False, None)
    return (bool(c.infra), bool(c.unresolved_locations), content_hash)


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def write_classification(conn: Connection, pid: int, posting: ParsedPosting, c: Any) -> None:
    """Replace a posting's places and tags with classifier output (an infrasignal.classify.Classification)."""
    _write_tags(conn, [(pid, c)], replace=True)
    if c is not None:
        flags = dict(zip(_POSTING_VALUES[-3:], _tag_flags(posting.content_hash(), c), strict=True))
        conn.execute(update(Posting).where(Posting.id == pid).values(**flags))


def _write_tags(conn: Connection, items: list[tuple[int, Any]], replace: bool) -> None:
    """Places and tags of several postings (id, classification or None) in two inserts, after deleting their
    old rows if `replace`."""
    if replace:
        for chunk in _chunks([pid for pid, _ in items], 500):
            conn.execute(delete(PostingPlace).where(PostingPlace.posting_id.in_(chunk)))
            conn.execute(delete(PostingTag).where(PostingTag.posting_id.in_(chunk)))
    places: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for pid, c in items:
        if c is None:
            continue
        places += [(pid, pl.city, pl.region, pl.country, pl.remote) for pl in c.places]
        if c.disciplines:
            evidence: dict[str, list[str]] = {}
            for ev in getattr(c, "evidence", []):
                evidence.setdefault(ev.tag, []).append(f"{ev.field}:{ev.text}")
            tags += [
                (pid, "discipline", d, _evidence_json(tuple(evidence.get(d, ())[:5]))) for d in c.disciplines
            ]
        tags += [(pid, "market", m, "") for m in c.markets]
        tags += [(pid, "covered_market", m, "") for m in c.covered_markets]
    insert_rows(conn, PostingPlace.__table__, ("posting_id", "city", "region", "country", "remote"), places)
    insert_rows(conn, PostingTag.__table__, ("posting_id", "kind", "value", "evidence"), tags)


@lru_cache(maxsize=4096)
def _evidence_json(evidence: tuple[str, ...]) -> str:
    """A tag's evidence as stored (the same few rule phrases recur across postings)."""
    return json.dumps(list(evidence))
