"""Classifying and writing in a worker process (writer.py) stores what writing in the scrape process stores,
keeps each board's write one transaction through crashes, never outlives the scrape, and fails the scrape
loudly if it dies first. Against the board simulator on loopback; no timed assertions."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import infrasignal.scrape
import infrasignal.writer
from infrasignal.config import load_config
from infrasignal.store import open_store
from infrasignal.writer import WriterDied
from support.simulator import Simulator
from test_reliability import (
    HAS_WORKDAY,
    copy_db,
    event_sets,
    fetch_count,
    integrity,
    posting_sets,
    scrape_cmd,
    wait_for_kill_point,
)

DAY1, DAY2 = datetime(2026, 11, 16, 6), datetime(2026, 11, 17, 6)
FETCH = {"retries": 1, "backoff": 0.01, "timeout": 5.0, "concurrency": 4, "per_host": 4}
KINDS = ["greenhouse", "lever", "ashby"] + (["workday"] if HAS_WORKDAY else [])
BOOT = infrasignal.writer._BOOT


def _simulator(seed: int, **board: Any) -> Simulator:
    sim = Simulator(seed=seed)
    for i in range(8):
        sim.add_board(KINDS[i % len(KINDS)], 20 + 5 * (i % 3), churn=0.3, edits=0.1, **board)
    return sim


def _scrape(folder: Path, sim: Simulator, at: datetime, writer: str, worker: Any = None) -> list[Any]:
    folder.mkdir(exist_ok=True)
    cfg = load_config(sim.write_config(folder, fetch=FETCH, board_params={"lever": {"page_size": 10}}))
    db = open_store(cfg.database_url)
    summaries = infrasignal.scrape.scrape(cfg, db, cfg.boards, at, writer=writer, worker=worker)  # type: ignore[arg-type]
    assert all(s.status != "failed" for s in summaries), [s.error for s in summaries]
    return summaries


def _content(db: Path) -> dict[str, Any]:
    """Everything a scrape stored, keyed by board name and external id (row ids differ with write order)."""
    key = "b.name, p.external_id"
    join = "JOIN posting p ON p.id = t.posting_id JOIN board b ON b.id = p.board_id"
    queries = {
        "posting": "SELECT b.name, p.* FROM posting p JOIN board b ON b.id = p.board_id",
        "version": f"SELECT {key}, t.at, t.changed, t.title, t.department, t.location, t.description_hash "
        f"FROM posting_version t {join}",
        "event": f"SELECT {key}, t.at, t.kind, t.detail FROM event t {join}",
        "place": f"SELECT {key}, t.city, t.region, t.country, t.remote FROM posting_place t {join}",
        "tag": f"SELECT {key}, t.kind, t.value, t.evidence FROM posting_tag t {join}",
        "fetch": "SELECT b.name, f.at, f.status, f.rule, f.http_status, f.error, f.found, f.new, f.changed, "
        "f.closed, f.reopened, f.pages, f.requests, f.complete, f.etag FROM fetch f JOIN board b ON b.id = f.board_id",
        "board": "SELECT name, baseline_at, last_success_at, last_error_at, etag, body_hash, suspect_since "
        "FROM board",
    }
    out: dict[str, Any] = {}
    with sqlite3.connect(str(db)) as conn:
        for name, sql in queries.items():
            cursor = conn.execute(sql)
            rows = cursor.fetchall()
            if name == "posting":  # without the row ids
                columns = [d[0] for d in cursor.description]
                keep = [i for i, c in enumerate(columns) if c not in ("id", "board_id")]
                rows = [tuple(r[i] for i in keep) for r in rows]
            out[name] = Counter(rows)
    return out


def test_the_worker_stores_what_the_scrape_process_stores(tmp_path: Path) -> None:
    sim = _simulator(31)
    with sim:
        _scrape(tmp_path / "inline", sim, DAY1, "inline")
        _scrape(tmp_path / "process", sim, DAY1, "process")
        day1 = _content(tmp_path / "inline" / "sim.db")
        assert day1["tag"] and day1["place"]
        assert _content(tmp_path / "process" / "sim.db") == day1
        sim.set_day(2)  # churn and edits: new, changed and closed postings
        _scrape(tmp_path / "inline", sim, DAY2, "inline")
        _scrape(tmp_path / "process", sim, DAY2, "process")
        day2 = _content(tmp_path / "inline" / "sim.db")
        assert day2 != day1
        assert _content(tmp_path / "process" / "sim.db") == day2


def test_a_worker_started_ahead_writes_the_round_and_one_not_needed_is_stopped(tmp_path: Path) -> None:
    sim = _simulator(37)
    with sim:
        _scrape(tmp_path / "inline", sim, DAY1, "inline")
        ahead = infrasignal.writer.spawn()
        _scrape(tmp_path / "process", sim, DAY1, "process", worker=ahead)
        assert ahead.adopted  # the round used it, and closed it
        assert ahead.proc.poll() == 0
        assert _content(tmp_path / "process" / "sim.db") == _content(tmp_path / "inline" / "sim.db")

        unused = infrasignal.writer.spawn()
        _scrape(tmp_path / "inline", sim, DAY2, "inline", worker=unused)
        assert unused.proc.poll() is not None  # stopped, not left running
        assert not _workers_of(os.getpid())


def test_a_round_of_unchanged_boards_is_written_without_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    record = infrasignal.writer.ProcessWriter.record

    async def counted(self: Any, *args: Any) -> Any:
        sent.append(1)
        return await record(self, *args)

    monkeypatch.setattr(infrasignal.writer.ProcessWriter, "record", counted)
    sim = Simulator(seed=32)  # whole-board APIs: unchanged boards answer 304 (paged boards are re-read)
    sim.add_boards("greenhouse", 4, postings=20)
    sim.add_boards("ashby", 4, postings=20)
    with sim:
        _scrape(tmp_path, sim, DAY1, "process")
        assert len(sent) == len(sim.boards)
        again = _scrape(tmp_path, sim, DAY2, "process")  # nothing changed: 304s and identical bodies
        assert {s.status for s in again} == {"not_modified"}
        assert len(sent) == len(sim.boards)
        assert not _workers_of(os.getpid())  # the idle worker was stopped


def _workers_of(parent: int) -> list[int]:
    """Worker processes started by `parent` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if BOOT.encode() in argv and str(parent).encode() in argv:
            found.append(int(entry.name))
    return found


def _gone(parent: int) -> bool:
    deadline = time.monotonic() + 10
    while _workers_of(parent):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the worker")
def test_sigkill_with_a_worker_leaves_each_board_old_or_new_and_no_worker(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    sim = _simulator(33, latency=0.01)
    env = {**os.environ, "INFRASIGNAL_WRITER": "process"}
    with sim:
        base = tmp_path / "base"
        base.mkdir()
        config = sim.write_config(base, fetch=FETCH)
        assert (
            subprocess.run(
                scrape_cmd(config, "2026-11-16T06:00:00Z"), env=env, capture_output=True
            ).returncode
            == 0
        )
        old, old_events = posting_sets(base / "sim.db"), event_sets(base / "sim.db")
        sim.set_day(2)
        clean = tmp_path / "clean"
        clean.mkdir()
        copy_db(base / "sim.db", clean / "sim.db")
        done = subprocess.run(scrape_cmd(sim.write_config(clean, fetch=FETCH)), env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
        new, new_events = posting_sets(clean / "sim.db"), event_sets(clean / "sim.db")
        base_fetches = fetch_count(base / "sim.db")

        killed_writing = 0
        for run in range(6):
            work = tmp_path / f"run{run}"
            work.mkdir()
            db = work / "sim.db"
            copy_db(base / "sim.db", db)
            config = sim.write_config(work, fetch=FETCH)
            commits = rng.randint(0, len(old) - 1)
            proc = subprocess.Popen(
                scrape_cmd(config), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # after k boards have committed, the moment the worker holds the write lock
            wait_for_kill_point(proc, db, base_fetches + commits, at_write=True)
            if proc.poll() is None:
                killed_writing += 1
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            assert _gone(proc.pid), f"run {run}: the worker outlived the scrape"
            assert integrity(db) == "ok"
            got, got_events = posting_sets(db), event_sets(db)
            for name in old:
                at_old = got.get(name) == old[name] and got_events.get(name) == old_events[name]
                at_new = got.get(name) == new[name] and got_events.get(name) == new_events[name]
                assert at_old or at_new, f"run {run}: {name} is half-written"
            after = subprocess.run(scrape_cmd(config, "2026-11-18T06:00:00Z"), env=env, capture_output=True)
            assert after.returncode == 0, after.stderr
            assert posting_sets(db) == new and event_sets(db) == new_events
        assert killed_writing >= 1


def test_a_worker_that_dies_fails_the_scrape_and_writes_nothing_half(tmp_path: Path) -> None:
    sim = _simulator(34, latency=0.05)
    with sim:
        cfg = load_config(sim.write_config(tmp_path, fetch=FETCH | {"concurrency": 1, "per_host": 1}))
        db = open_store(cfg.database_url)
        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                infrasignal.scrape.scrape(cfg, db, cfg.boards, DAY1, writer="process")
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 60
        while not _workers_of(os.getpid()) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        workers = _workers_of(os.getpid())
        assert workers, "the worker did not start"
        os.kill(workers[0], signal.SIGKILL)
        thread.join(timeout=60)
        assert isinstance(outcome.get("error"), WriterDied), outcome
        assert integrity(tmp_path / "sim.db") == "ok"
        written = posting_sets(tmp_path / "sim.db")
        for board in sim.boards:  # each board fully written or not at all
            assert written.get(board.label, {}) in (
                {},
                {eid: (t, "open") for eid, t in board.expected(1).items()},
            )


def test_boards_waiting_for_the_worker_are_written_in_groups_in_order(tmp_path: Path) -> None:
    """Boards queued while the worker is busy (here: still starting) reach its write function together,
    at most MAX_GROUP at a time, and every caller gets its own board's answer."""
    import asyncio

    from support.groupwrite import group_sizes, no_classifier

    async def run() -> list[tuple[int, int]]:
        writer = infrasignal.writer.ProcessWriter(
            f"sqlite:///{tmp_path / 'unused.db'}", None, group_sizes, no_classifier
        )
        writer.start()
        try:
            return await asyncio.gather(*(writer.record(i, None, DAY1, None) for i in range(20)))
        finally:
            await writer.close()

    answers = asyncio.run(run())
    assert [board_id for board_id, _ in answers] == list(range(20))
    sizes = [size for _, size in answers]
    assert max(sizes) > 1
    assert max(sizes) <= infrasignal.writer.MAX_GROUP


def test_next_group_takes_what_is_queued_up_to_the_limit_and_keeps_the_end() -> None:
    import queue

    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    for i in range(infrasignal.writer.MAX_GROUP + 2):
        inbox.put(bytes([i]))
    inbox.put(None)
    first = infrasignal.writer._next_group(inbox)
    second = infrasignal.writer._next_group(inbox)
    assert first == [bytes([i]) for i in range(infrasignal.writer.MAX_GROUP)]
    assert second == [bytes([infrasignal.writer.MAX_GROUP]), bytes([infrasignal.writer.MAX_GROUP + 1])]
    assert infrasignal.writer._next_group(inbox) is None
