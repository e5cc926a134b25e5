"""The light read path (reader.py) and the `site_presence` summary (presence.py): parameters expand the same
way for both drivers, the stdlib reader is used only for a database at this program's schema and never
writes, `roles` reads the same through it as through SQLAlchemy, and the summary the store keeps scrape by
scrape (including re-tagged postings) equals a rebuild from scratch."""

from __future__ import annotations

import gc
import random
import sqlite3
import weakref
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, text

from infrasignal import roles_history
from infrasignal.config import BoardConfig, HistoryConfig
from infrasignal.model import Posting
from infrasignal.presence import presence_sql, refresh_presence
from infrasignal.queries import RoleFilter, boards_health, events_between, roles
from infrasignal.reader import _placeholders, as_time, expand, open_sqlite_reader
from infrasignal.schema_version import SCHEMA_VERSION
from infrasignal.store import open_store, record_fetch, sync_boards
from support.fakeclassify import classify, use_fake_classifier
from test_history_scenarios import _random_history


@pytest.fixture(autouse=True)
def fake_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_classifier(monkeypatch)


def test_expand_lists_rows_and_leaves_casts_alone() -> None:
    sql, params = expand("SELECT 1 WHERE a IN :ids AND b = :b AND c::text = 'x'", {"ids": [3, 4], "b": 1})
    assert sql == "SELECT 1 WHERE a IN (:ids_0, :ids_1) AND b = :b AND c::text = 'x'"
    assert params == {"ids_0": 3, "ids_1": 4, "b": 1}
    assert expand("a IN :ids", {"ids": []}) == ("a IN (NULL)", {})
    sql, params = expand("FROM :w AS w", {"w": [(1, "Tokyo"), (2, "Dublin")]})
    assert sql == "FROM (VALUES (:w_0_0, :w_0_1), (:w_1_0, :w_1_1)) AS w"
    assert params == {"w_0_0": 1, "w_0_1": "Tokyo", "w_1_0": 2, "w_1_1": "Dublin"}


def test_expand_builds_the_placeholders_of_a_chunk_size_once() -> None:
    """A long id list is read in chunks of one size: the placeholder text is built for the first chunk and
    reused (the same SQL text also lets SQLite reuse the prepared statement)."""
    first = expand("a IN :ids", {"ids": list(range(900))})
    hits = _placeholders.cache_info().hits
    second = expand("a IN :ids", {"ids": list(range(900, 1800))})
    assert _placeholders.cache_info().hits == hits + 1
    assert first[0] == second[0]
    assert second[1] == {f"ids_{i}": 900 + i for i in range(900)}


def test_signals_at_builds_records_and_signals_with_the_collector_paused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    def load_window(*args: Any, **kwargs: Any) -> tuple[list[Any], list[Any], dict[str, Any]]:
        seen.append(gc.isenabled())
        return [], [], {}

    def detect_signals(*args: Any, **kwargs: Any) -> list[Any]:
        seen.append(gc.isenabled())
        raise RuntimeError("detection failed")

    monkeypatch.setattr(roles_history, "load_window", load_window)
    monkeypatch.setattr(roles_history, "detect_signals", detect_signals)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        roles_history.signals_at(None, datetime(2026, 11, 20, 6), timedelta(days=7))
    assert seen == [False, False]
    assert gc.isenabled()  # back on, after an error too


def test_signals_at_frees_the_window_before_the_collector_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    class Record:  # stands in for a RoleRecord (slots, no weak references)
        pass

    held = [Record()]  # handed over, not kept: only the window holds it then
    alive = weakref.ref(held[0])
    freed_at_resume: list[bool] = []
    enable = gc.enable

    def load_window(*args: Any, **kwargs: Any) -> tuple[list[Any], list[Any], dict[str, Any]]:
        return [held.pop()], [], {}

    def resume() -> None:
        freed_at_resume.append(alive() is None)
        enable()

    monkeypatch.setattr(roles_history, "load_window", load_window)
    monkeypatch.setattr(roles_history, "detect_signals", lambda *args, **kwargs: [])
    monkeypatch.setattr(gc, "enable", resume)
    assert roles_history.signals_at(None, datetime(2026, 11, 20, 6), timedelta(days=7)) == []
    assert freed_at_resume == [True]  # the collector does not walk the records once more


def test_as_time_reads_sqlite_text_and_passes_datetimes() -> None:
    assert as_time("2026-11-20 06:00:00.000000") == datetime(2026, 11, 20, 6)
    assert as_time(datetime(2026, 11, 20, 6)) == datetime(2026, 11, 20, 6)
    assert as_time(None) is None


def test_stdlib_reader_only_for_a_current_sqlite_file_and_never_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    assert open_sqlite_reader(url) is None  # no file yet: the full open creates it
    open_store(url).dispose()
    reader = open_sqlite_reader(url)
    assert reader is not None
    with pytest.raises(sqlite3.OperationalError):
        reader.rows("DELETE FROM board")
    reader.close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        conn.execute("UPDATE schema_meta SET value = ? WHERE key = 'version'", (str(SCHEMA_VERSION - 1),))
    assert open_sqlite_reader(url) is None  # an older schema: SQLAlchemy migrates it first
    assert open_sqlite_reader("sqlite://") is None
    assert open_sqlite_reader(f"{url}?timeout=5") is None


def _history(tmp_path: Path) -> Engine:
    db = open_store(f"sqlite:///{tmp_path}/h.db")
    _random_history(db, random.Random(7), days=8)
    return db


@pytest.mark.parametrize(
    "f",
    [
        RoleFilter(),
        RoleFilter(status="all"),
        RoleFilter(infra=True, status="all"),
        RoleFilter(city="tokyo", status="all"),
        RoleFilter(company="ACME", disciplines=["electrical", "energy"]),
        RoleFilter(since=datetime(2026, 11, 5), limit=7),
    ],
    ids=["open", "all", "infra", "city", "company-disciplines", "since-limit"],
)
def test_roles_read_the_same_through_both_drivers(tmp_path: Path, f: RoleFilter) -> None:
    db = _history(tmp_path)
    reader = open_sqlite_reader(f"sqlite:///{tmp_path}/h.db")
    assert reader is not None
    via_engine, via_reader = roles(db, f), roles(reader, f)
    assert via_engine == via_reader and via_engine
    assert boards_health(db) == boards_health(reader)
    window = (datetime(2026, 11, 3), datetime(2026, 11, 6))
    assert events_between(db, *window) == events_between(reader, *window)


def _presence_rows(conn: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT board_id, market, city, country, discipline, infra, has_market, posting_id, "
                    "first_seen, baseline FROM site_presence"
                )
            )
        ),
        key=repr,
    )


def test_presence_kept_scrape_by_scrape_equals_a_rebuild(tmp_path: Path) -> None:
    db = _history(tmp_path)
    # Re-tag postings: retitled roles change discipline (the fake classifier reads titles), so groups lose
    # their earliest posting and the board's rows must follow.
    board = BoardConfig(company="Acme", ats="greenhouse", token="acme")
    board_id = sync_boards(db, [board])["Acme"]
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT external_id, location FROM posting WHERE board_id = :b AND status = 'open'"),
            {"b": board_id},
        ).all()
    assert stored
    retitled = [
        Posting(eid, "Recruiter" if i % 2 else "Energy Lead", f"https://x/{eid}", locations=loc.split(" | "))
        for i, (eid, loc) in enumerate(stored)
    ]
    fetch = SimpleNamespace(
        status="ok", postings=retitled, complete=True, error=None, http_status=200, etag=None,
        last_modified=None, body_hash=None, pages=1, requests=1, duration=0.0,
    )  # fmt: skip
    at = datetime(2026, 11, 1, 6) + timedelta(days=9)
    record_fetch(db, board_id, fetch, HistoryConfig(suspect_min_board=1000), at, classify)

    with db.begin() as conn:
        kept = _presence_rows(conn)
        refresh_presence(conn)
        assert kept == _presence_rows(conn)
    assert kept  # the scenario has presence to compare


def test_per_board_presence_refresh_reads_only_that_boards_postings(tmp_path: Path) -> None:
    """Each step of the plan of a board's refresh is a search keyed by the board or by its postings' ids:
    starting at a tag index instead walks every market tag in the store once per board written."""
    _history(tmp_path)
    with closing(sqlite3.connect(tmp_path / "h.db")) as conn:
        sql = f"EXPLAIN QUERY PLAN {presence_sql('p.board_id = :board')}"
        plan = [row[3] for row in conn.execute(sql, {"board": 1, "yes": True, "no": False})]
    reads = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and " USING " in step]
    assert reads, plan
    for step in reads:
        assert "(board_id=?)" in step or "(posting_id=?" in step or "(rowid=?)" in step, plan
