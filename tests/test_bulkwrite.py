"""The store's batched writes (bulkwrite.py) store exactly what SQLAlchemy Core stores: the same values,
the same text for datetimes, the same defaults for the columns an insert leaves out, the same updates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, update

from infrasignal.bulkwrite import insert_rows, update_rows
from infrasignal.store import open_store
from infrasignal.tables import Board, Event, Fetch, Posting

AT = datetime(2026, 11, 16, 6, 0)
POSTED = [None, datetime(2026, 10, 3, 9, 12, 5, 120), datetime(999, 1, 2, 3, 4, 5)]


def _posting_rows(board_id: int) -> list[dict[str, Any]]:
    return [
        {
            "board_id": board_id,
            "external_id": f"e{i}",
            "title": f"Title {i} ✓",
            "url": "https://x.example/j",
            "description": "line one\nline two",
            "content_hash": "c" * 16,
            "description_hash": "d" * 16,
            "remote": [None, True, False][i % 3],
            "posted_at": POSTED[i % 3],
            "first_seen": AT,
            "last_seen": AT,
            "infra": i % 2 == 0,
        }
        for i in range(7)
    ]  # department, team, location, status, baseline, ... left to their defaults


def _dump(db: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(str(db)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def _two_stores(tmp_path: Path) -> tuple[Any, Any, Path, Path]:
    core_db, bulk_db = tmp_path / "core.db", tmp_path / "bulk.db"
    core, bulk = open_store(f"sqlite:///{core_db}"), open_store(f"sqlite:///{bulk_db}")
    for engine in (core, bulk):
        with engine.begin() as conn:
            conn.execute(insert(Board).values(name="B", company="B", ats="greenhouse", created_at=AT))
    return core, bulk, core_db, bulk_db


def test_inserts_store_what_core_stores(tmp_path: Path) -> None:
    core, bulk, core_db, bulk_db = _two_stores(tmp_path)
    rows = _posting_rows(1)
    events = [
        {"posting_id": i + 1, "board_id": 1, "at": AT, "kind": "new"} for i in range(7)
    ]  # detail: default
    fetch = {"board_id": 1, "at": AT, "status": "ok", "rule": "complete", "duration": 0.25, "complete": True}
    with core.begin() as conn:
        conn.execute(insert(Posting), rows)
        conn.execute(insert(Event), events)
        conn.execute(insert(Fetch), [fetch])
    with bulk.begin() as conn:
        for table, batch in ((Posting, rows), (Event, events), (Fetch, [fetch])):
            insert_rows(conn, table.__table__, tuple(batch[0]), [tuple(r.values()) for r in batch])
    for table in ("posting", "event", "fetch"):
        assert _dump(bulk_db, table) == _dump(core_db, table), table


def test_updates_store_what_core_stores(tmp_path: Path) -> None:
    core, bulk, core_db, bulk_db = _two_stores(tmp_path)
    rows = _posting_rows(1)
    later = datetime(2026, 11, 17, 6, 0, 0, 5)
    changes = [
        {"id": i, "last_seen": later, "status": "closed", "closed_at": later, "remote": None} for i in (2, 5)
    ]
    with core.begin() as conn:
        conn.execute(insert(Posting), rows)
        columns = [c for c in changes[0] if c != "id"]
        stmt = update(Posting).where(Posting.id == bindparam("_id"))
        conn.execute(
            stmt.values({c: bindparam(f"_{c}") for c in columns}),
            [{"_id": r["id"], **{f"_{c}": r[c] for c in columns}} for r in changes],
        )
    with bulk.begin() as conn:
        insert_rows(conn, Posting.__table__, tuple(rows[0]), [tuple(r.values()) for r in rows])
        columns = [c for c in changes[0] if c != "id"]
        update_rows(
            conn, Posting.__table__, "id", columns, [(*(r[c] for c in columns), r["id"]) for r in changes]
        )
    assert _dump(bulk_db, "posting") == _dump(core_db, "posting")


def test_an_aware_datetime_is_converted_as_core_converts_it(tmp_path: Path) -> None:
    core, bulk, core_db, bulk_db = _two_stores(tmp_path)
    row = _posting_rows(1)[1] | {"posted_at": datetime(2026, 10, 3, 9, 12, tzinfo=UTC)}
    with core.begin() as conn:
        conn.execute(insert(Posting), [row])
    with bulk.begin() as conn:
        insert_rows(conn, Posting.__table__, tuple(row), [tuple(row.values())])
    assert _dump(bulk_db, "posting") == _dump(core_db, "posting")
