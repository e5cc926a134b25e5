"""Reliability under faults and load (issue 7), against the board simulator (`support.simulator`) on loopback.

Each test states one property and fails if it breaks:
1. a failed fetch (every fault the simulator injects) closes nothing and is recorded; the other boards are
   stored; `scrape` exits 1;
2. suspect drops (a board gone empty, just over half gone) are quarantined, then confirmed or cleared;
3. retries are bounded, Retry-After is honoured (gaps measured on the server), 404 is not retried;
4. the per-host and global concurrency limits are never exceeded (counted by the server);
5. an unchanged re-scrape is idempotent: same database but last_seen, zero new events, no detail refetch;
6. crash safety: `infrasignal scrape` SIGKILLed at seeded random points; every board is at its old or its
   new state, `PRAGMA integrity_check` is ok, and the next scrape completes normally;
7. a second concurrent scrape exits at once with 75; a reader can query during a write;
8. hostile bodies (hypothesis) through every registered source's parser, the crawl driver and the store:
   no crash, one clear per-board error, nothing stored from a body that did not parse; markup in titles
   prints literally in `roles` tables, CSV and JSON.

Only loopback addresses are used; the only timed assertions are server-side Retry-After gaps.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.seen import LAST_SEEN_SQL
from infrasignal.sources import source_names
from support.simulator import (
    Fault,
    SimBoard,
    Simulator,
    render_ashby,
    render_greenhouse,
    render_lever,
    render_workday_item,
)

_register()
runner = CliRunner()

HAS_WORKDAY = (
    "workday" in source_names() and importlib.util.find_spec("infrasignal.sources.workday") is not None
)
needs_workday = pytest.mark.skipif(not HAS_WORKDAY, reason="the workday source is not in this build")
ROOT = Path(__file__).resolve().parents[1]
T1, T2, T3, T4 = (
    "2026-11-16T06:00:00Z",
    "2026-11-17T06:00:00Z",
    "2026-11-18T06:00:00Z",
    "2026-11-19T06:00:00Z",
)
FAST = {
    "retries": 1,
    "backoff": 0.01,
    "timeout": 2.0,
    "connect_timeout": 2.0,
    "concurrency": 8,
    "per_host": 4,
}
SMALL_PAGES = {"lever": {"page_size": 10}}  # several pages from small boards


# --- helpers -------------------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the real CLI in-process; a crash (anything but an exit) is re-raised, never taken for exit 1."""
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def scrape_cli(config: Path, at: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    code, out, err = cli("scrape", "--config", str(config), "--as-of", at, "--format", "json")
    summary = {s["board"]: s for s in json.loads(out)} if out.strip() else {}
    return code, summary, err


@contextlib.contextmanager
def connect(db: Path) -> Iterator[sqlite3.Connection]:
    """A connection that is closed on leaving the block (sqlite3's own context manager only commits: the
    crash test polls the database thousands of times, and leaked connections ran this process past the
    1,024 file descriptors that select() can watch)."""
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def posting_sets(db: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """board name -> external id -> (title, status)."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT b.name, p.external_id, p.title, p.status FROM posting p JOIN board b ON b.id = p.board_id"
        )
        for name, eid, title, status in rows:
            out.setdefault(name, {})[eid] = (title, status)
    return out


def event_sets(db: Path) -> dict[str, Counter[tuple[str, str]]]:
    """board name -> multiset of (external id, event kind)."""
    out: dict[str, Counter[tuple[str, str]]] = {}
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT b.name, p.external_id, e.kind FROM event e JOIN posting p ON p.id = e.posting_id "
            "JOIN board b ON b.id = e.board_id"
        )
        for name, eid, kind in rows:
            out.setdefault(name, Counter())[(eid, kind)] += 1
    return out


def open_set(board: SimBoard, day: int) -> dict[str, tuple[str, str]]:
    return {eid: (title, "open") for eid, title in board.expected(day).items()}


def fetch_count(db: Path) -> int:
    with connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM fetch").fetchone()[0])


def writing(db: Path) -> bool:
    """Whether another connection holds the database's write lock (a write transaction is under way)."""
    probe = sqlite3.connect(str(db), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    finally:
        if probe.in_transaction:
            probe.execute("ROLLBACK")
        probe.close()
    return False


def wait_for_kill_point(proc: subprocess.Popen[Any], db: Path, fetches: int, at_write: bool) -> None:
    """Wait (at most a minute, and no longer than the scrape runs) until `db` has `fetches` fetch rows, then,
    with `at_write`, until a write transaction holds the database's write lock."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and fetch_count(db) < fetches:
        time.sleep(0.002)
    while at_write and proc.poll() is None and time.monotonic() < deadline and not writing(db):
        time.sleep(0.001)


def integrity(db: Path) -> str:
    with connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy (WAL content included) through SQLite's backup API."""
    with connect(src) as a, connect(dst) as b:
        a.backup(b)
    b.close()
    a.close()


def health(config: Path) -> dict[str, dict[str, Any]]:
    code, out, err = cli("boards", "--config", str(config), "--format", "json")
    assert code == 0, err
    return {b["board"]: b for b in json.loads(out)}


def infrasignal_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from infrasignal.cli import main; main()", *args]


def scrape_cmd(config: Path, at: str = T2) -> list[str]:
    return infrasignal_cmd("scrape", "--config", str(config), "--as-of", at, "--format", "json")


# --- 1. every fault closes nothing, is recorded, other boards stored, exit 1 ------------------------------------

# name -> (ats, faults, text the board's error must contain)
FAULTS: dict[str, tuple[str, list[Fault], str]] = {
    "http_500": ("greenhouse", [Fault.status(500)], "HTTP 500"),
    "http_503": ("ashby", [Fault.status(503)], "HTTP 503"),
    "http_429": ("greenhouse", [Fault.status(429, retry_after=0)], "HTTP 429"),
    "connection_reset": ("lever", [Fault.reset()], "connection failed"),
    "hang_past_timeout": ("greenhouse", [Fault.hang(30)], "timed out"),
    "truncated_json": ("ashby", [Fault.truncated_json()], "JSON"),
    "body_cut_short": ("greenhouse", [Fault.short_body()], "connection failed"),
    "invalid_json": ("lever", [Fault.invalid_json()], "JSON"),
    "missing_page_lever": ("lever", [Fault.missing_page(1)], "HTTP 404"),
}
if HAS_WORKDAY:
    FAULTS["missing_page_workday"] = ("workday", [Fault.missing_page(1)], "HTTP 404")
HEALTHY = ["greenhouse", "lever", "ashby"] + (["workday"] if HAS_WORKDAY else [])


@dataclass
class FaultRun:
    config: Path
    boards: dict[str, SimBoard]
    healthy: list[SimBoard]
    code: int
    summary: dict[str, dict[str, Any]]
    stderr: str
    before: dict[str, dict[str, tuple[str, str]]]
    after: dict[str, dict[str, tuple[str, str]]]
    events_before: dict[str, Counter[tuple[str, str]]]
    events_after: dict[str, Counter[tuple[str, str]]]
    health: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    """Day 1: every board clean (baseline). Day 2: content churns and each fault board gets its fault."""
    tmp = tmp_path_factory.mktemp("faults")
    sim = Simulator(seed=11)
    boards = {name: sim.add_board(ats, 30, churn=0.3) for name, (ats, _, _) in FAULTS.items()}
    boards["empty_page_workday"] = sim.add_board("workday", 45, churn=0.3) if HAS_WORKDAY else None  # type: ignore[assignment]
    if boards["empty_page_workday"] is None:
        del boards["empty_page_workday"]
    healthy = [sim.add_board(ats, 30, churn=0.3) for ats in HEALTHY]
    with sim:
        fetch = FAST | {"timeout": 1.0, "max_retry_after": 5.0}
        config = sim.write_config(tmp, fetch=fetch, board_params=SMALL_PAGES)
        code, _, err = scrape_cli(config, T1)
        assert code == 0, err
        db = tmp / "sim.db"
        before, events_before = posting_sets(db), event_sets(db)
        sim.set_day(2)
        for name, (_, faults, _) in FAULTS.items():
            sim.fault(boards[name], *faults)
        if "empty_page_workday" in boards:
            sim.fault(boards["empty_page_workday"], Fault.empty_page(1))
        code, summary, err = scrape_cli(config, T2)
        run = FaultRun(
            config,
            boards,
            healthy,
            code,
            summary,
            err,
            before,
            posting_sets(db),
            events_before,
            event_sets(db),
        )
        run.health = health(config)
        yield run


@pytest.mark.parametrize("name", list(FAULTS))
def test_failed_fetch_closes_nothing_and_is_recorded(fault_run: FaultRun, name: str) -> None:
    board = fault_run.boards[name]
    label = board.company
    summary = fault_run.summary[label]
    assert summary["status"] == "failed", summary
    assert FAULTS[name][2] in (summary["error"] or ""), summary["error"]
    assert summary["closed"] == 0 and summary["new"] == 0
    # the board still holds exactly its day-1 postings, all open, and gained no event
    assert fault_run.after[label] == fault_run.before[label] == open_set(board, 1)
    assert fault_run.events_after[label] == fault_run.events_before[label]
    status = fault_run.health[label]
    assert status["last_status"] == "failed" and FAULTS[name][2] in (status["last_error"] or "")
    assert status["open"] == 30 and not status["quarantined"]


@needs_workday
def test_missing_middle_page_of_a_totalled_board_is_incomplete_and_closes_nothing(
    fault_run: FaultRun,
) -> None:
    board = fault_run.boards["empty_page_workday"]
    summary = fault_run.summary[board.company]
    assert summary["status"] == "ok" and summary["rule"] == "incomplete" and summary["closed"] == 0, summary
    after = fault_run.after[board.company]
    assert {eid for eid, (_, status) in after.items() if status == "closed"} == set()
    assert set(fault_run.before[board.company]) <= set(after)  # nothing dropped; page-1 additions kept


def test_other_boards_are_stored_and_the_run_exits_1(fault_run: FaultRun) -> None:
    assert fault_run.code == 1
    failed = sum(1 for s in fault_run.summary.values() if s["status"] == "failed")
    assert failed == len(FAULTS)
    assert f"{failed} of {len(fault_run.summary)} boards failed" in fault_run.stderr
    for board in fault_run.healthy:
        label = board.company
        assert fault_run.summary[label]["status"] == "ok", fault_run.summary[label]
        after = fault_run.after[label]
        assert {eid: v for eid, v in after.items() if v[1] == "open"} == open_set(board, 2)
        gone = set(board.expected(1)) - set(board.expected(2))
        assert gone and {eid for eid, v in after.items() if v[1] == "closed"} == gone


# --- 2. suspect drops are quarantined, then confirmed or cleared ------------------------------------------------


def test_suspect_drops_are_quarantined_then_confirmed_or_cleared(tmp_path: Path) -> None:
    sim = Simulator(seed=12)
    gone = sim.add_board("greenhouse", 20)  # goes empty and stays empty (same ETag on days 2 and 3)
    halved = sim.add_board("lever", 20)  # loses just over half and stays so
    back = sim.add_board("ashby", 20)  # loses just over half, then its postings return
    small = sim.add_board("greenhouse", 4)  # a board under suspect_min_board that goes empty
    ordinary = sim.add_board("ashby", 20)  # loses exactly half: not "more than half", closes at once
    with sim:
        config = sim.write_config(tmp_path, fetch=FAST)
        assert scrape_cli(config, T1)[0] == 0
        db = tmp_path / "sim.db"
        day1 = posting_sets(db)
        for b in (gone, small):
            sim.fault(b, Fault.empty())
        for b in (halved, back):
            sim.fault(b, Fault.halve())
        half = dict(list(ordinary.expected(1).items())[:10])
        doc = {"apiVersion": "1", "jobs": [render_ashby(ordinary, p) for p in ordinary.listing()[:10]]}
        sim.fault(ordinary, Fault.body(json.dumps(doc).encode()))

        code, day2, _ = scrape_cli(config, T2)
        assert code == 0
        for b in (gone, halved, back, small):
            s = day2[b.company]
            assert (s["status"], s["rule"], s["closed"]) == ("ok", "suspect", 0), s
        assert (day2[ordinary.company]["rule"], day2[ordinary.company]["closed"]) == ("complete", 10)
        state = health(config)
        assert all(state[b.company]["quarantined"] for b in (gone, halved, back, small))
        assert "no postings" in state[gone.company]["quarantine_reason"]
        assert "lost 11 of 20" in state[halved.company]["quarantine_reason"]
        after2 = posting_sets(db)
        for b in (gone, halved, back, small):
            assert after2[b.company] == day1[b.company]  # quarantine closes nothing

        sim.clear_faults(back)
        code, day3, _ = scrape_cli(config, T3)
        assert code == 0
        for b, closed in ((gone, 20), (halved, 11), (small, 4)):
            s = day3[b.company]
            assert (s["rule"], s["closed"]) == ("confirmed", closed), s
        assert (day3[back.company]["rule"], day3[back.company]["closed"]) == ("complete", 0)
        state = health(config)
        assert not any(state[b.company]["quarantined"] for b in (gone, halved, back, small))
        code, out, _ = cli("roles", "--config", str(config), "--status", "closed", "--format", "json")
        closed_at = {(r["company"], r["closed_at"]) for r in json.loads(out)}
        # confirmed closures are dated when the postings first went missing (day 2), not when confirmed
        assert {at for company, at in closed_at if company != ordinary.company} == {T2}
        assert posting_sets(db)[back.company] == day1[back.company]
        assert {eid for eid, (_, st_) in posting_sets(db)[ordinary.company].items() if st_ == "open"} == set(
            half
        )


# --- 3. retries are bounded, Retry-After is honoured, 404 is not retried ------------------------------------------


def test_retries_are_bounded_retry_after_honoured_and_404_not_retried(tmp_path: Path) -> None:
    sim = Simulator(seed=13)
    b = {
        name: sim.add_board("greenhouse", 5)
        for name in (
            "503",
            "reset",
            "hang",
            "404",
            "403",
            "ra_seconds",
            "ra_date",
            "ra_too_long",
            "transient",
            "ok",
        )
    }
    retry_date = format_datetime(datetime.now(UTC) + timedelta(seconds=2.5), usegmt=True)
    sim.fault(b["503"], Fault.status(503))
    sim.fault(b["reset"], Fault.reset())
    sim.fault(b["hang"], Fault.hang(30))
    sim.fault(b["404"], Fault.status(404))
    sim.fault(b["403"], Fault.status(403))
    sim.fault(b["ra_seconds"], Fault.status(429, retry_after=1, times=1))
    sim.fault(b["ra_date"], Fault.status(503, retry_after=retry_date, times=1))
    sim.fault(b["ra_too_long"], Fault.status(429, retry_after=3600))
    sim.fault(b["transient"], Fault.status(503, times=2))
    fetch = {"retries": 2, "backoff": 0.05, "timeout": 1.0, "connect_timeout": 1.0, "max_retry_after": 30.0}
    with sim:
        config = sim.write_config(tmp_path, fetch=fetch)
        code, summary, _ = scrape_cli(config, T1)
        assert code == 1
        attempts = {name: len(sim.hits_for(board)) for name, board in b.items()}
        assert attempts == {
            "503": 3,  # retries = 2: three attempts, then the board fails
            "reset": 3,
            "hang": 3,
            "404": 1,  # other 4xx are final
            "403": 1,
            "ra_seconds": 2,
            "ra_date": 2,
            "ra_too_long": 1,  # a Retry-After over max_retry_after fails at once instead of stalling
            "transient": 3,
            "ok": 1,
        }
        status = {name: summary[board.company]["status"] for name, board in b.items()}
        assert {n for n, s in status.items() if s == "ok"} == {"ra_seconds", "ra_date", "transient", "ok"}
        assert "max_retry_after" in summary[b["ra_too_long"].company]["error"]

        def gap(name: str) -> float:
            first, second = sim.hits_for(b[name])[:2]
            return second.time - first.time

        assert gap("ra_seconds") >= 0.95  # Retry-After: 1
        assert gap("ra_date") >= 0.95  # an HTTP-date 2.5 s ahead (whole seconds on the wire): >= 1.5 s left


# --- 4. concurrency limits ---------------------------------------------------------------------------------------


def test_per_host_and_global_limits_are_never_exceeded(tmp_path: Path) -> None:
    sim = Simulator(seed=14, hosts=3)
    kinds = ["greenhouse", "lever", "ashby"] + (["workday"] if HAS_WORKDAY else [])
    boards = [sim.add_board(kinds[i % len(kinds)], 12, latency=0.02 + 0.01 * (i % 4)) for i in range(30)]
    for board in boards[::7]:
        sim.fault(board, Fault.status(503, times=1), Fault.status(429, retry_after=0, times=1))
    if HAS_WORKDAY:  # some list entries need details: detail fetches count against the limits too
        sim.fault(next(bd for bd in boards if bd.ats == "workday"), Fault.latency(0.05, detail=True))
    fetch = {"concurrency": 5, "per_host": 2, "retries": 2, "backoff": 0.01, "timeout": 5.0}
    with sim:
        config = sim.write_config(tmp_path, fetch=fetch, board_params=SMALL_PAGES)
        code, _, err = scrape_cli(config, T1)
        assert code == 0, err
        assert sim.max_in_flight <= 5, sim.max_in_flight
        assert all(n <= 2 for n in sim.max_in_flight_by_host.values()), sim.max_in_flight_by_host
        # and the limits were actually reached, so the test means something
        assert sim.max_in_flight == 5 and max(sim.max_in_flight_by_host.values()) == 2
        assert len(sim.max_in_flight_by_host) == 3
        assert sum(1 for h in sim.hits if h.page is not None and h.page > 0) > 0  # later pages were fetched


# --- 5. idempotent unchanged re-scrape ------------------------------------------------------------------------------

VOLATILE = {
    "posting": {"last_seen"},
    "board": {"last_success_at", "fetched_round", "listed_at"},
}


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table but `fetch` (one row per fetch by design), without the columns that say "seen again"."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in sorted(set(tables) - {"fetch", "sqlite_sequence"}):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            keep = [c for c in columns if c not in VOLATILE.get(table, set())]
            rows = conn.execute(f"SELECT {', '.join(keep)} FROM {table} ORDER BY 1").fetchall()
            out[table] = [tuple(r) for r in rows]
    return out


def test_unchanged_rescrape_is_idempotent(tmp_path: Path) -> None:
    sim = Simulator(seed=15)
    boards = [
        sim.add_board("greenhouse", 40),  # ETag: 304
        sim.add_board("greenhouse", 40, etag=False),  # same bytes, no ETag: body-hash short-circuit
        sim.add_board("ashby", 40),
        sim.add_board("ashby", 40, etag=False),
        sim.add_board("lever", 40),  # several pages: re-parsed, nothing rewritten
    ]
    if HAS_WORKDAY:
        boards.append(sim.add_board("workday", 50))  # paged, and details for multi-location entries
    with sim:
        config = sim.write_config(tmp_path, fetch=FAST, board_params=SMALL_PAGES)
        assert scrape_cli(config, T1)[0] == 0
        db = tmp_path / "sim.db"
        first = dump(db)
        details_first = sum(1 for h in sim.hits if h.board and h.page is None)
        sim.reset_stats()
        code, summary, err = scrape_cli(config, T2)
        assert code == 0, err
        assert dump(db) == first
        for s in summary.values():
            assert (s["new"], s["changed"], s["closed"], s["reopened"]) == (0, 0, 0, 0), s
        assert {summary[b.company]["status"] for b in boards[:4]} == {"not_modified"}
        assert sum(1 for h in sim.hits if h.board and h.page is None) == 0  # no detail fetched again
        if HAS_WORKDAY:
            assert details_first > 0
        with connect(db) as conn:
            sql = f"SELECT DISTINCT {LAST_SEEN_SQL} FROM posting p JOIN board b ON b.id = p.board_id"
            assert set(r[0] for r in conn.execute(sql)) == {"2026-11-17 06:00:00.000000"}
            assert conn.execute("SELECT count(*) FROM fetch").fetchone()[0] == 2 * len(boards)


# --- 5b. the cost of a board's write does not grow with the rest of the database, nor its memory with the run ---


def _posting_scans(plan: list[tuple[Any, ...]]) -> list[str]:
    """Plan steps that read `posting` other than by its id or by a board-keyed index."""
    steps = [str(row[3]) for row in plan]
    return [
        s
        for s in steps
        if re.search(r"\b(SCAN|SEARCH) posting\b", s) and "board_id" not in s and "rowid" not in s
    ]


def test_per_board_statements_read_only_that_boards_postings(tmp_path: Path) -> None:
    from sqlalchemy import event

    from infrasignal.config import load_config
    from infrasignal.scrape import scrape
    from infrasignal.store import open_store

    sim = Simulator(seed=23)
    sim.add_board("greenhouse", 20)
    sim.add_board("greenhouse", 20, etag=False)
    sim.add_board("lever", 30)
    sim.add_board("ashby", 20)
    with sim:
        cfg = load_config(sim.write_config(tmp_path, fetch=FAST, board_params=SMALL_PAGES))
        db = open_store(cfg.database_url)
        scrape(cfg, db, cfg.boards, datetime(2026, 11, 16, 6))
        captured: list[tuple[str, Any]] = []

        def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            captured.append((statement, params[0] if many and params else params))

        event.listen(db, "before_cursor_execute", capture)
        scrape(
            cfg, db, cfg.boards, datetime(2026, 11, 17, 6)
        )  # unchanged: 304s, same bodies, re-parsed pages
        sim.set_day(2)
        scrape(cfg, db, cfg.boards, datetime(2026, 11, 18, 6))  # new, changed, closed postings
        event.remove(db, "before_cursor_execute", capture)
    # SQLite (no ANALYZE statistics) breaks ties between equally good-looking indexes by creation order,
    # and create_all's order follows Python's string hashing: check the plans under both orders.
    raw = sqlite3.connect(str(tmp_path / "sim.db"), isolation_level=None)
    indexes = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'posting' AND sql IS NOT NULL"
    ).fetchall()
    offenders: dict[str, list[str]] = {}
    for order in (indexes, indexes[::-1]):
        for name, _ in order:
            raw.execute(f"DROP INDEX {name}")
        for _, sql in order:
            raw.execute(sql)
        for statement, params in captured:
            if "board_id = ?" not in statement or not re.search(r"\bposting\b", statement):
                continue
            scans = _posting_scans(raw.execute("EXPLAIN QUERY PLAN " + statement, params or ()).fetchall())
            if scans:
                offenders[" ".join(statement.split())[:160]] = scans
    raw.close()
    assert not offenders, offenders


def test_parsed_boards_waiting_for_the_writer_stay_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infrasignal.crawl
    import infrasignal.scrape
    from infrasignal.config import load_config
    from infrasignal.store import open_store

    sim = Simulator(seed=24)
    sim.add_boards("greenhouse", 40, postings=30)
    waiting = {"now": 0, "max": 0}
    crawl, record = infrasignal.crawl.crawl_board, infrasignal.scrape.record_fetch
    record_group = infrasignal.scrape.record_fetches

    async def counting_crawl(*args: Any, **kwargs: Any) -> Any:
        result = await crawl(*args, **kwargs)
        waiting["now"] += 1
        waiting["max"] = max(waiting["max"], waiting["now"])
        return result

    def counting_record(*args: Any, **kwargs: Any) -> Any:
        try:
            return record(*args, **kwargs)
        finally:
            waiting["now"] -= 1

    def counting_records(db: Any, fetches: list[Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return record_group(db, fetches, *args, **kwargs)
        finally:
            waiting["now"] -= len(fetches)

    monkeypatch.setattr(infrasignal.crawl, "crawl_board", counting_crawl)
    monkeypatch.setattr(infrasignal.scrape, "record_fetch", counting_record)
    monkeypatch.setattr(infrasignal.scrape, "record_fetches", counting_records)
    fetch = {"concurrency": 2, "per_host": 2, "timeout": 5.0}
    with sim:
        cfg = load_config(sim.write_config(tmp_path, fetch=fetch))
        summaries = infrasignal.scrape.scrape(
            cfg, open_store(cfg.database_url), cfg.boards, datetime(2026, 11, 16, 6)
        )
    assert all(s.status == "ok" for s in summaries)
    # a bound proportional to the concurrency, not to the number of boards
    assert waiting["max"] <= 4 * fetch["concurrency"], waiting


# --- 6. crash safety -----------------------------------------------------------------------------------------------

CRASH_RUNS = 15


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_each_board_old_or_new(tmp_path: Path) -> None:
    rng = random.Random(20261116)
    sim = Simulator(seed=16)
    kinds = ["greenhouse", "lever", "ashby"] + (["workday"] if HAS_WORKDAY else [])
    for i in range(8):
        sim.add_board(kinds[i % len(kinds)], 30 + 10 * (i % 3), churn=0.3, edits=0.1, latency=0.01 * (i % 3))
    fetch = FAST | {"concurrency": 4, "per_host": 4}
    with sim:
        base_dir = tmp_path / "base"
        base_dir.mkdir()
        config = sim.write_config(base_dir, fetch=fetch, board_params=SMALL_PAGES)
        assert scrape_cli(config, T1)[0] == 0
        base_db = base_dir / "sim.db"
        old, old_events = posting_sets(base_db), event_sets(base_db)

        sim.set_day(2)
        clean_dir = tmp_path / "clean"
        clean_dir.mkdir()
        copy_db(base_db, clean_dir / "sim.db")
        clean = sim.write_config(clean_dir, fetch=fetch, board_params=SMALL_PAGES)
        done = subprocess.run(scrape_cmd(clean), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        new, new_events = posting_sets(clean_dir / "sim.db"), event_sets(clean_dir / "sim.db")
        assert all(old[name] != new[name] for name in old)  # day 2 changes every board
        base_fetches = fetch_count(base_db)

        mixed = killed = in_write = 0
        for run in range(CRASH_RUNS):
            work = tmp_path / f"run{run}"
            work.mkdir()
            db = work / "sim.db"
            copy_db(base_db, db)
            cfg = sim.write_config(work, fetch=fetch, board_params=SMALL_PAGES)
            # A kill point: after k boards have committed (k = 0: during start-up or the first fetches),
            # then either a random delay, or (every other run) the moment the next board's write
            # transaction holds the database's write lock.
            commits = rng.randint(0, len(old) - 1)
            delay = rng.uniform(0.0, 0.3 if commits == 0 else 0.05)
            aim_at_write = run % 2 == 1
            proc = subprocess.Popen(scrape_cmd(cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_kill_point(proc, db, base_fetches + commits, at_write=aim_at_write)
            if not aim_at_write:
                time.sleep(delay)
            if proc.poll() is None:
                in_write += aim_at_write
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=60)

            db = work / "sim.db"
            assert integrity(db) == "ok", f"run {run}"
            got, got_events = posting_sets(db), event_sets(db)
            states = []
            for name in old:
                if got.get(name) == old[name] and got_events.get(name) == old_events[name]:
                    states.append("old")
                elif got.get(name) == new[name] and got_events.get(name) == new_events[name]:
                    states.append("new")
                else:
                    pytest.fail(
                        f"run {run} (killed after {commits} commits + {delay:.3f}s): {name} is half-written"
                    )
            mixed += len(set(states)) == 2

            code, _, err = scrape_cli(cfg, T3)  # the next scrape runs normally (lock released)
            assert code == 0, f"run {run}: {err}"
            assert posting_sets(db) == new, (
                f"run {run}: the scrape after the crash did not reach the new state"
            )
            assert event_sets(db) == new_events
            assert integrity(db) == "ok"
        # kills landed during start-up, between boards and inside a board's write transaction
        assert killed >= 1 and mixed >= 1 and in_write >= 1, (killed, mixed, in_write)


# --- 7. one scrape at a time; readers during writes -----------------------------------------------------------------


def test_second_scrape_exits_75_at_once_and_readers_are_not_blocked(tmp_path: Path) -> None:
    sim = Simulator(seed=17)
    boards = [sim.add_board("greenhouse", 10) for _ in range(5)]
    with sim:
        config = sim.write_config(tmp_path, fetch={"concurrency": 1, "per_host": 1, "timeout": 10.0})
        assert scrape_cli(config, T1)[0] == 0
        db = tmp_path / "sim.db"
        sim.set_day(2)
        for board in boards:
            board.latency = 0.3  # five boards one after another: the first run takes over a second
        sim.reset_stats()
        proc = subprocess.Popen(
            infrasignal_cmd("scrape", "--config", str(config), "--as-of", T2, "--format", "json"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while sim.request_count == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sim.request_count > 0, "the first scrape never started"
            second = tmp_path / "second"
            second.mkdir()
            other = second / "config.toml"
            other.write_text(sim.config_text(db, fetch={"user_agent": "second-run"}), encoding="utf-8")
            code, _, err = cli("scrape", "--config", str(other), "--as-of", T2)
            assert code == 75 and "another infrasignal run" in err, (code, err)
            assert proc.poll() is None  # it returned while the first was still running: it did not wait
            assert not [h for h in sim.hits if h.user_agent == "second-run"]

            # readers during the real scrape, and during a write transaction held open on purpose
            for _ in range(3):
                code, out, err = cli("roles", "--config", str(config), "--format", "json")
                assert code == 0, err
            writer = sqlite3.connect(str(db), timeout=30, isolation_level=None)
            try:
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("UPDATE posting SET title = 'uncommitted'")
                code, out, err = cli("roles", "--config", str(config), "--status", "all", "--format", "json")
                assert code == 0, err
                assert json.loads(out) and "uncommitted" not in {r["title"] for r in json.loads(out)}
            finally:
                writer.execute("ROLLBACK")
                writer.close()
        finally:
            assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        assert {
            name: {eid for eid, (_, s) in ps.items() if s == "open"} for name, ps in posting_sets(db).items()
        } == {b.company: set(b.expected(2)) for b in boards}


# --- 8. hostile input -------------------------------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "<script>alert(1)</script>",
    "[bold red]pwned[/]",
    "[/]",
    "\x00",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ü 漢字 🙂",
    "A" * 300_000,
    " \n\t ",
    "",
    "\u202etxt.exe",
    "&lt;b&gt;",
    "Robert'); DROP TABLE posting;--",
    "%s%n{0}{title}",
    "2026-13-45T99:99:99Z",
    "http://127.0.0.1:1/x",
]
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
HOSTILE_VALUES = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    JSON_VALUES,
    st.integers(min_value=-(2**80), max_value=2**80),
    st.builds(lambda depth: json.loads("[" * depth + "]" * depth), st.integers(1, 400)),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _seed_bodies(ats: str) -> list[bytes]:
    """Valid bodies for a source: simulator shapes, else the repository's fixtures (list pages first)."""
    sim = Simulator(seed=18)
    board = sim.add_board(ats, 3) if ats in ("greenhouse", "lever", "ashby", "workday") else None
    if board is not None:
        posts = board.listing()
        docs: dict[str, Any] = {
            "greenhouse": {"jobs": [render_greenhouse(board, p) for p in posts], "meta": {"total": 3}},
            "lever": [render_lever(board, p) for p in posts],
            "ashby": {"apiVersion": "1", "jobs": [render_ashby(board, p) for p in posts]},
            "workday": {
                "total": 3,
                "jobPostings": [render_workday_item(board, p) for p in posts],
                "facets": [],
            },
        }
        return [json.dumps(docs[ats]).encode()]
    folder = ROOT / "fixtures" / ats
    files = (
        sorted(p for p in folder.rglob("*") if p.is_file() and "detail" not in p.parts)
        if folder.is_dir()
        else []
    )
    return [f.read_bytes() for f in files[:4] if f.stat().st_size < 200_000]


@st.composite
def hostile_bodies(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A body: random bytes, random JSON, a deeply nested array, or a valid body damaged in one place."""
    kind = draw(st.sampled_from(["bytes", "json", "deep", "mutate", "mutate", "mutate", "cut", "utf8"]))
    if kind == "bytes" or not seeds:
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([2_000, 100_000]))
        return b'{"jobs": ' + b"[" * depth + b"]" * depth + b"}"
    seed = draw(st.sampled_from(seeds))
    if kind == "cut":
        return seed[: draw(st.integers(0, max(0, len(seed) - 1)))]
    if kind == "utf8":
        at = draw(st.integers(0, len(seed)))
        return (
            seed[:at]
            + draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\x80", b"\xf8\x88\x80", b"\xed\xa0\x80"]))
            + seed[at:]
        )
    try:
        doc = json.loads(seed)
    except ValueError:  # an HTML source: inject markup and junk into the page text
        at = draw(st.integers(0, len(seed)))
        junk = draw(st.sampled_from(HOSTILE_STRINGS[:5])).encode()
        return seed[:at] + junk + seed[at:]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        doc = _replace(doc, path, draw(HOSTILE_VALUES))
    return json.dumps(doc).encode()


def _hostile_board(ats: str) -> dict[str, Any] | None:
    """A board config the source accepts (each source names its board differently), or None."""
    from infrasignal.config import BoardConfig, ConfigError, validate
    from infrasignal.sources import get_source

    base = {"company": f"Hostile {ats}", "ats": ats, "base_url": "http://127.0.0.1:9"}
    candidates: list[dict[str, Any]] = [
        {"token": "acme"},
        {"token": "acme", "params": {"base_query": "data center"}},
        {"url": "https://acme.wd5.myworkdayjobs.com/External"},
        {"url": "https://careers.example.com/jobs"},
        {
            "url": "https://careers.example.com/jobs",
            "selectors": {"item": "li.job", "title": "a", "link": "a"},
        },
    ]
    source = get_source(ats)
    for extra in candidates:
        try:
            board = validate(BoardConfig, base | extra)
        except ConfigError:
            continue
        if source.check_board(board) is None:
            return base | extra
    return None


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.mark.parametrize("ats", source_names())
def test_hostile_bodies_never_crash_and_store_nothing_unparsed(ats: str, hostile_store: Path) -> None:
    from infrasignal.config import parse_config
    from infrasignal.scrape import scrape
    from infrasignal.store import open_store

    board = _hostile_board(ats)
    if board is None:
        pytest.skip(f"no board config the {ats} source accepts")
    seeds = _seed_bodies(ats)
    db_path = hostile_store / f"{ats}.db"
    cfg = parse_config(
        {
            "storage": {"database": str(db_path)},
            "fetch": {"retries": 0, "robots": False, "timeout": 5.0},
            "boards": [board],
        },
        hostile_store / "config.toml",
    )
    db = open_store(cfg.database_url)
    clock = iter(range(10_000))

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=hostile_bodies(seeds))
    def check(body: bytes) -> None:
        def answer(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, content=body, headers={"Content-Type": "application/json"})

        before = posting_sets(db_path).get(board["company"], {})
        at = datetime(2026, 11, 16, tzinfo=UTC) + timedelta(minutes=next(clock))
        [summary] = scrape(cfg, db, cfg.boards, at, transport=httpx2.MockTransport(answer))
        after = posting_sets(db_path).get(board["company"], {})
        if summary.status == "failed":
            assert summary.error and "\n" not in summary.error and len(summary.error) <= 300
            assert after == before  # nothing stored from a body that did not parse
            assert "Traceback" not in summary.error
        else:
            assert summary.status in ("ok", "not_modified")

    check()


def _markup_board_body(board: SimBoard, titles: list[str]) -> bytes:
    posts = board.listing()[: len(titles)]
    jobs = [render_greenhouse(board, p) | {"title": t} for p, t in zip(posts, titles, strict=True)]
    return json.dumps({"jobs": jobs, "meta": {"total": len(jobs)}}).encode()


MARKUP_TITLES = [
    "[bold]Data Center[/bold] Electrical Engineer",
    "<script>alert('x')</script> Critical Facilities Lead",
    "[/] Energy & Power <b>Manager</b>",
]


def test_markup_in_titles_prints_literally(tmp_path: Path) -> None:
    sim = Simulator(seed=19)
    board = sim.add_board("greenhouse", 5)
    sim.fault(board, Fault.body(_markup_board_body(board, MARKUP_TITLES)))
    with sim:
        config = sim.write_config(tmp_path, fetch=FAST)
        code, _, err = scrape_cli(config, T1)
        assert code == 0, err
        base = ("roles", "--config", str(config), "--format")
        code, table, _ = cli(*base, "table", env={"COLUMNS": "400"})
        assert code == 0
        code, csv_out, _ = cli(*base, "csv")
        assert code == 0
        code, json_out, _ = cli(*base, "json")
        assert code == 0
    for title in MARKUP_TITLES:
        assert title in table, table
        assert title in csv_out
    assert sorted(r["title"] for r in json.loads(json_out)) == sorted(MARKUP_TITLES)
    assert "\x1b[" not in table  # not interpreted as rich markup (no styling emitted)


def test_control_characters_in_titles_do_not_reach_the_terminal(tmp_path: Path) -> None:
    sim = Simulator(seed=20)
    board = sim.add_board("greenhouse", 3)
    titles = ["Site Lead \x1b[2J\x1b]0;owned\x07", "Energy Lead \x1b[31mred", "Plain Title"]
    sim.fault(board, Fault.body(_markup_board_body(board, titles)))
    with sim:
        config = sim.write_config(tmp_path, fetch=FAST)
        assert scrape_cli(config, T1)[0] == 0
        code, table, _ = cli("roles", "--config", str(config), "--format", "table", env={"COLUMNS": "400"})
    assert code == 0 and "Plain Title" in table
    assert "\x1b" not in table and "\x07" not in table


def test_lone_surrogate_in_a_title_fails_one_board_not_the_run(tmp_path: Path) -> None:
    sim = Simulator(seed=21)
    bad, good = sim.add_board("greenhouse", 3), sim.add_board("lever", 3)
    body = _markup_board_body(bad, ["ok", "ONE", "TWO"])
    # the same bug two ways: a JSON escape, and invalid UTF-8 that Python's json decodes with surrogatepass
    body = body.replace(b"ONE", b"Site Lead \\ud800").replace(b"TWO", b"Energy Lead \xed\xa0\x80")
    sim.fault(bad, Fault.body(body))
    with sim:
        config = sim.write_config(tmp_path, fetch=FAST)
        code, summary, err = scrape_cli(config, T1)
    assert code in (0, 1), err
    assert summary[good.company]["status"] == "ok"
    assert posting_sets(tmp_path / "sim.db")[good.company] == open_set(good, 1)
