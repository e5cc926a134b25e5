"""Group commits on the scrape's inline write path: `store.record_fetches` writes several boards in one
transaction exactly as `record_fetch` writes each alone, `scrape.GroupWriter` groups the boards that finish
while a write is under way, and a group that fails is written board by board (the bad board recorded as
failed, the others written). Also: a round alone on the store reads every board's context at once."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import infrasignal.scrape
from infrasignal.config import BoardConfig, HistoryConfig, load_config
from infrasignal.crawl import BoardFetch
from infrasignal.model import Posting
from infrasignal.scrape import GroupWriter, _record_group, scrape
from infrasignal.seen import LAST_SEEN_SQL
from infrasignal.store import FetchSummary, open_store, record_fetch, record_fetches, sync_boards
from support.simulator import Simulator

T0 = datetime(2026, 11, 16, 6)
RULES = HistoryConfig(suspect_min_board=1000)
BOARDS = [BoardConfig(company=f"Co {i}", ats="greenhouse", token=f"co{i}") for i in range(4)]


def _postings(board: int, n: int, day: int = 0) -> list[Posting]:
    return [
        Posting(f"{board}-{i}", f"Electrical Engineer {i} v{day if i == 0 else 0}", f"https://x/{board}/{i}")
        for i in range(n)
    ]


def _ok(board: int, n: int, day: int = 0) -> BoardFetch:
    return BoardFetch(f"Co {board}", "ok", _postings(board, n, day), http_status=200, etag=f'"{board}-{day}"',
                      body_hash=f"h{board}-{day}", pages=1, requests=1)  # fmt: skip


def _not_modified(board: int, http_status: int) -> BoardFetch:
    return BoardFetch(f"Co {board}", "not_modified", http_status=http_status, etag=f'"{board}-0"', pages=1,
                      requests=1)  # fmt: skip


def _store(path: Path) -> dict[str, int]:
    db = open_store(f"sqlite:///{path}")
    ids = sync_boards(db, BOARDS, T0)
    for i, board in enumerate(BOARDS):
        fetch = _ok(i, 3 + i)
        if i == 3:  # a board with a closed posting: a 304 must not touch it
            record_fetch(db, ids[board.label], fetch, RULES, T0)
            fetch = _ok(i, 2 + i)
        record_fetch(db, ids[board.label], fetch, RULES, T0 + timedelta(hours=i))
    db.dispose()
    return ids


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("board", "posting", "fetch", "event", "posting_version", "site_presence")
        }


def test_a_group_writes_each_board_as_record_fetch_alone(tmp_path: Path) -> None:
    ids = _store(tmp_path / "base.db")
    for name in ("alone.db", "group.db"):
        shutil.copy(tmp_path / "base.db", tmp_path / name)
    at = T0 + timedelta(days=1)
    group = [
        (ids["Co 0"], _not_modified(0, 304), None),
        (ids["Co 1"], _ok(1, 5, day=1), None),  # changed: one retitled, new postings
        (ids["Co 2"], _not_modified(2, 200), None),  # the same body as last time
        (ids["Co 3"], _not_modified(3, 304), None),
    ]
    alone_db = open_store(f"sqlite:///{tmp_path / 'alone.db'}")
    alone = [record_fetch(alone_db, board_id, result, RULES, at) for board_id, result, _ in group]
    group_db = open_store(f"sqlite:///{tmp_path / 'group.db'}")
    grouped = record_fetches(group_db, group, RULES, at)
    alone_db.dispose()
    group_db.dispose()

    assert grouped == alone
    assert [s.rule for s in grouped] == ["not_modified", "complete", "unchanged", "not_modified"]
    assert [s.found for s in grouped] == [3, 5, 5, 5]  # open postings of the unchanged boards
    assert _dump(tmp_path / "group.db") == _dump(tmp_path / "alone.db")
    with closing(sqlite3.connect(tmp_path / "group.db")) as conn:
        sql = f"SELECT p.status, max({LAST_SEEN_SQL}) FROM posting p JOIN board b ON b.id = p.board_id"
        seen = dict(conn.execute(sql + " WHERE p.board_id = ? GROUP BY 1", (ids["Co 3"],)).fetchall())
    assert seen["open"].startswith("2026-11-17 06:00") and seen["closed"] < "2026-11-17"


def test_a_failing_group_is_written_board_by_board(tmp_path: Path) -> None:
    ids = _store(tmp_path / "s.db")
    db = open_store(f"sqlite:///{tmp_path / 's.db'}")
    bad = _ok(1, 4, day=1)
    bad.postings[0].title = object()  # type: ignore[assignment]  # the driver cannot store it
    group = [(ids["Co 0"], _ok(0, 4, day=1), None), (ids["Co 1"], bad, None), (ids["Co 2"], _ok(2, 6), None)]
    with pytest.raises(Exception):  # noqa: B017  # the group as a whole fails
        record_fetches(db, group, RULES, T0 + timedelta(days=1))
    config = load_config_text(tmp_path)
    summaries = _record_group(db, group, config, T0 + timedelta(days=1), None)
    assert [s.status for s in summaries] == ["ok", "failed", "ok"]
    assert summaries[1].error and summaries[1].error.startswith("store error:")
    assert [s.new for s in summaries] == [1, 0, 1]


def load_config_text(folder: Path) -> Any:
    path = folder / "config.toml"
    path.write_text('[storage]\ndatabase = "s.db"\n[history]\nsuspect_min_board = 1000\n', encoding="utf-8")
    return load_config(path)


def test_boards_that_finish_during_a_write_go_in_the_next_group() -> None:
    groups: list[list[int]] = []
    first_write_started = threading.Event()
    release = threading.Event()

    def write_group(group: list[Any]) -> list[FetchSummary]:
        groups.append([board_id for board_id, _, _ in group])
        if len(groups) == 1:
            first_write_started.set()
            release.wait(5)
        return [FetchSummary(board=str(board_id), status="ok", rule="ok") for board_id, _, _ in group]

    async def run() -> list[FetchSummary]:
        writer = GroupWriter(write_group)
        first = asyncio.create_task(writer.record((1, None, None)))
        await asyncio.to_thread(first_write_started.wait, 5)
        later = [asyncio.create_task(writer.record((n, None, None))) for n in range(2, 6)]
        await asyncio.sleep(0)  # the later boards are queued while the first write runs
        release.set()
        return [await first] + [await t for t in later]

    summaries = asyncio.run(run())
    assert groups == [[1], [2, 3, 4, 5]]
    assert [s.board for s in summaries] == ["1", "2", "3", "4", "5"]


def test_a_write_error_reaches_every_board_of_its_group() -> None:
    def write_group(group: list[Any]) -> list[FetchSummary]:
        raise RuntimeError("disk full")

    async def run() -> list[BaseException | FetchSummary]:
        writer = GroupWriter(write_group)
        return await asyncio.gather(
            *(writer.record((n, None, None)) for n in range(3)), return_exceptions=True
        )

    results = asyncio.run(run())
    assert all(isinstance(r, RuntimeError) and str(r) == "disk full" for r in results)


def test_a_round_alone_on_the_store_reads_board_contexts_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = Simulator(seed=5)
    sim.add_boards("greenhouse", 6, postings=5)
    # Workday fetches details: the list hashes that skip unchanged postings' details come with the context
    workday = sim.add_boards("workday", 2, postings=8, churn=0.3, edits=0.2)
    bulk_reads: list[set[int]] = []
    real = infrasignal.scrape._board_contexts

    def counted(db: Any, board_ids: list[int], hashed: set[int]) -> Any:
        bulk_reads.append(set(hashed))
        return real(db, board_ids, hashed)

    def per_board(*args: Any) -> Any:
        raise AssertionError("a per-board context read in a round alone on the store")

    monkeypatch.setattr(infrasignal.scrape, "_board_contexts", counted)
    monkeypatch.setattr(infrasignal.scrape, "_board_context", per_board)
    with sim:
        every_detail = {"workday": {"details": "all"}}
        config = sim.write_config(
            tmp_path, fetch={"concurrency": 4, "per_host": 4}, board_params=every_detail
        )
        cfg = load_config(config)
        db = open_store(cfg.database_url)
        first = scrape(cfg, db, cfg.boards, T0)
        sim.set_day(2, workday)
        sim.reset_stats()
        second = scrape(cfg, db, cfg.boards, T0 + timedelta(days=1))
        details = len([h for h in sim.hits if h.board and h.page is None])
    changed = sum(
        1 for b in workday for eid, title in b.expected(2).items() if b.expected(1).get(eid) != title
    )
    assert {s.status for s in first} == {"ok"}
    assert {s.rule for s in second} == {"not_modified", "complete"}
    assert 0 < details == changed  # only new and retitled postings' details were fetched again
    assert len(bulk_reads) == 2 and all(len(hashed) == 2 for hashed in bulk_reads)


def test_unchanged_boards_wait_for_their_write_outside_the_pipeline_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A board with nothing parsed (a 304) gives its pipeline slot back before its write: while a slow write
    runs, the other boards keep fetching and then share the next group. With concurrency 1 the bound is two
    boards, so holding the slot would allow groups of one or two."""
    sim = Simulator(seed=9)
    sim.add_boards("greenhouse", 8, postings=3)
    sizes: list[int] = []
    real = infrasignal.scrape._record_group

    def slow(db: Any, group: list[Any], *args: Any) -> Any:
        sizes.append(len(group))
        if len(sizes) == 1:
            threading.Event().wait(0.5)  # the first write is slow: the other boards finish meanwhile
        return real(db, group, *args)

    with sim:
        cfg = load_config(sim.write_config(tmp_path, fetch={"concurrency": 1, "per_host": 1}))
        db = open_store(cfg.database_url)
        scrape(cfg, db, cfg.boards, T0, writer="inline")
        monkeypatch.setattr(infrasignal.scrape, "_record_group", slow)
        second = scrape(cfg, db, cfg.boards, T0 + timedelta(days=1), writer="inline")
    assert {s.rule for s in second} == {"not_modified"}
    assert sum(sizes) == 8
    assert max(sizes) > 2
