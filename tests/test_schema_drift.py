"""A database upgraded from version 1 has exactly the schema a fresh database gets: a column added to a
table without a migration fails here."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from infrasignal.store import open_store
from test_migrations import make_v1_database


def columns(url: str) -> dict[str, set[str]]:
    engine = open_store(url)
    try:
        insp = inspect(engine)
        return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
    finally:
        engine.dispose()


def test_upgraded_schema_matches_fresh_schema(tmp_path: Path) -> None:
    make_v1_database(tmp_path / "old.db")
    assert columns(f"sqlite:///{tmp_path / 'old.db'}") == columns(f"sqlite:///{tmp_path / 'fresh.db'}")
