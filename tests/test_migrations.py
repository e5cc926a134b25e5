"""Schema upgrades and the one-line store errors: a database left by version 1 is upgraded in place and
keeps its history; a PostgreSQL URL without the driver installed is one line that says what to install."""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from infrasignal.config import parse_config
from infrasignal.scrape import scrape
from infrasignal.store import MIGRATIONS, SCHEMA_VERSION, StoreError, open_store
from infrasignal.tables import Board, Event, Posting, SchemaMeta
from support.boardserver import BoardServer
from support.gh import gh_board, gh_job

V1_SCHEMA = Path(__file__).parent / "data" / "schema_v1_sqlite.sql"


def make_v1_database(path: Path) -> None:
    """A SQLite file as version 1 left it: its schema, its version row, one board with one posting."""
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(V1_SCHEMA.read_text(encoding="utf-8"))
        conn.execute("INSERT INTO schema_meta (key, value) VALUES ('version', '1')")
        conn.execute(
            "INSERT INTO board (id, name, company, ats, token, created_at, baseline_at, last_success_at) "
            "VALUES (1, 'Acme', 'Acme', 'greenhouse', 'acme', '2026-11-15 06:00:00', '2026-11-15 06:00:00', "
            "'2026-11-15 06:00:00')"
        )
        conn.execute(
            "INSERT INTO posting (id, board_id, external_id, title, department, team, url, location, "
            "description, content_hash, description_hash, first_seen, last_seen, status, baseline, infra, "
            "unresolved_locations) VALUES (1, 1, '1', 'Site Lead', '', '', '', 'Quincy, WA', '', 'h', 'd', "
            "'2026-11-15 06:00:00', '2026-11-15 06:00:00', 'open', 1, 0, 0)"
        )
    conn.close()


def test_version_1_sqlite_database_is_upgraded_and_keeps_its_history(
    board_server: BoardServer, tmp_path: Path
) -> None:
    assert SCHEMA_VERSION == 1 + len(MIGRATIONS) >= 2
    db_path = tmp_path / "old.db"
    make_v1_database(db_path)
    cfg = parse_config(
        {
            "storage": {"database": str(db_path)},
            "fetch": {"retries": 0, "timeout": 2.0},
            "boards": [
                {"company": "Acme", "ats": "greenhouse", "token": "acme", "base_url": board_server.base_url}
            ],
        },
        tmp_path / "config.toml",
    )
    db = open_store(cfg.database_url)
    with db.connect() as conn:
        version = conn.execute(select(SchemaMeta.value).where(SchemaMeta.key == "version")).scalar_one()
        assert int(version) == SCHEMA_VERSION
        assert conn.execute(select(Board.name, Board.fetched_round)).all() == [("Acme", None)]
        # v8: the postings the last success saw carry its time, so it is the board's last listing (seen.py)
        assert conn.execute(select(Board.listed_at)).all() == [(datetime(2026, 11, 15, 6),)]

    # The upgraded database goes on as before: the old posting is kept, a new one is new, not baseline.
    board_server.route(
        "GET",
        "/v1/boards/acme/jobs",
        gh_board(gh_job(1, "Site Lead", "Quincy, WA"), gh_job(2, "Electrician", "Quincy, WA")),
    )
    (summary,) = scrape(cfg, db, cfg.boards, datetime(2026, 11, 16, 6))
    assert summary.status == "ok" and not summary.baseline and summary.new == 1
    with db.connect() as conn:
        first_seen = {r[0]: r[1] for r in conn.execute(select(Posting.external_id, Posting.first_seen))}
        assert first_seen == {"1": datetime(2026, 11, 15, 6), "2": datetime(2026, 11, 16, 6)}
        events = conn.execute(select(Event.kind, Posting.external_id).join(Posting)).all()
        assert ("new", "2") in events and all(kind != "baseline" for kind, _ in events)
    db.dispose()
    assert open_store(cfg.database_url).dialect.name == "sqlite"  # opening again changes nothing


def test_database_newer_than_the_program_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_store(url).dispose()
    conn = sqlite3.connect(tmp_path / "new.db")
    with conn:
        conn.execute("UPDATE schema_meta SET value = ? WHERE key = 'version'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    with pytest.raises(StoreError, match="newer than this infrasignal"):
        open_store(url)


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://scraper:s3cret@db.example/infrasignal", "postgresql://scraper@db.example/x"]
)
def test_missing_postgres_driver_is_one_line_saying_what_to_install(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now fails as if not installed
    with pytest.raises(StoreError) as err:
        open_store(url)
    message = str(err.value)
    assert "install infrasignal[postgres]" in message and "\n" not in message and "s3cret" not in message


def test_missing_postgres_driver_in_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from infrasignal.cli.app import _register, app

    _register()
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndatabase = "postgresql+psycopg://scraper@db.example/infrasignal"\n')
    monkeypatch.setitem(sys.modules, "psycopg", None)
    result = CliRunner().invoke(app, ["boards", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "install infrasignal[postgres]" in result.stderr
