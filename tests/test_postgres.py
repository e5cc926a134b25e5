"""The store on a real PostgreSQL server: the multi-day history scenarios and the CLI round trips of the
SQLite suite run again on PostgreSQL, migrations, the run lock as an advisory lock, and several
`infrasignal scrape` processes sharing one watchlist (each board fetched once per round, a killed worker's
boards picked up).

The server comes from $INFRASIGNAL_TEST_PG (a SQLAlchemy URL), else a local one on the usual addresses
(tests/support/pg.py); without one every test here skips with one reason. Each test gets its own schema.
"""

from __future__ import annotations

import inspect
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer
from msgspec.structs import replace
from sqlalchemy import Engine, func, select, text

import test_cli
import test_history_scenarios
import test_scrape_flow
from infrasignal.config import StorageConfig
from infrasignal.distributed import Claim, Coordinator, lock_namespace
from infrasignal.runlock import DatabaseLock, RunLocked, lock_path, run_lock
from infrasignal.store import SCHEMA_VERSION, open_store
from infrasignal.tables import Board, Fetch, SchemaMeta
from support.boardserver import BoardServer
from support.fakeclassify import use_fake_classifier
from support.gh import gh_board, gh_job
from support.pg import find_server, fresh_schema
from support.pgworkers import (
    expected_postings,
    fetch_count,
    open_postings,
    requests_per_board,
    start_workers,
    watchlist,
    write_config,
)
from support.simulator import Fault

pytestmark = pytest.mark.postgres

_SERVER, _WHY = find_server()
if _SERVER is None:
    pytest.skip(_WHY, allow_module_level=True)


@pytest.fixture(scope="session")
def pg_server() -> str:
    assert _SERVER is not None
    return _SERVER


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped after the test)."""
    with fresh_schema(pg_server) as url:
        yield url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Engine]:
    db = open_store(pg_url)
    yield db
    db.dispose()


# --- the SQLite suites, again on PostgreSQL ----------------------------------------------------------------


def _scenarios(module: Any, uses: str) -> list[Any]:
    """The module's test functions that build their store through `uses` (so it can be swapped)."""
    return [
        pytest.param(fn, id=name)
        for name, fn in sorted(vars(module).items())
        if name.startswith("test_")
        and inspect.isfunction(fn)
        and not hasattr(fn, "pytestmark")
        and f"{uses}(" in inspect.getsource(fn)
    ]


def _run_with_fixtures(fn: Callable[..., None], request: pytest.FixtureRequest) -> None:
    fn(**{name: request.getfixturevalue(name) for name in inspect.signature(fn).parameters})


@pytest.mark.parametrize("scenario", _scenarios(test_scrape_flow, "config"))
def test_history_scenario_on_postgres(
    scenario: Callable[..., None],
    pg_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each multi-day scenario of test_scrape_flow.py, its store on PostgreSQL instead of a SQLite file."""
    sqlite_config = test_scrape_flow.config

    def on_postgres(tmp_path: Path, server: BoardServer) -> tuple[Any, Engine]:
        cfg, sqlite_db = sqlite_config(tmp_path, server)
        sqlite_db.dispose()
        cfg = replace(cfg, storage=StorageConfig(database=pg_url))
        return cfg, open_store(cfg.database_url)

    monkeypatch.setattr(test_scrape_flow, "config", on_postgres)
    _run_with_fixtures(scenario, request)


@pytest.mark.parametrize("scenario", _scenarios(test_history_scenarios, "setup"))
def test_history_signals_scenario_on_postgres(
    scenario: Callable[..., None],
    pg_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each multi-day scenario of test_history_scenarios.py (versions, diffs, signals as of a day), its store
    on PostgreSQL, with that module's stand-in classifier."""
    sqlite_setup = test_history_scenarios.setup

    def on_postgres(tmp_path: Path, server: BoardServer, **fetch: Any) -> tuple[Any, Engine]:
        cfg, sqlite_db = sqlite_setup(tmp_path, server, **fetch)
        sqlite_db.dispose()
        cfg = replace(cfg, storage=StorageConfig(database=pg_url))
        return cfg, open_store(cfg.database_url)

    use_fake_classifier(monkeypatch)
    monkeypatch.setattr(test_history_scenarios, "setup", on_postgres)
    _run_with_fixtures(scenario, request)


@pytest.mark.parametrize("case", _scenarios(test_cli, "write_config"))
def test_cli_case_on_postgres(
    case: Callable[..., None], pg_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI tests of test_cli.py that scrape and query, with `[storage] database` a PostgreSQL URL."""
    sqlite_write_config = test_cli.write_config

    def on_postgres(tmp_path: Path, server: BoardServer, extra: str = "") -> Path:
        path = sqlite_write_config(tmp_path, server, extra)
        body = path.read_text(encoding="utf-8")
        assert 'database = "t.db"' in body
        path.write_text(body.replace('database = "t.db"', f'database = "{pg_url}"'), encoding="utf-8")
        return path

    monkeypatch.setattr(test_cli, "write_config", on_postgres)
    _run_with_fixtures(case, request)


def test_every_store_command_runs_on_postgres(board_server: BoardServer, pg_url: str, tmp_path: Path) -> None:
    """Two days of scrapes, then every registered command that reads the store, on PostgreSQL."""
    board_server.route(
        "GET", "/v1/boards/acme/jobs", gh_board(gh_job(1, "Data Center Electrical Engineer", "Tokyo, Japan"))
    )
    board_server.route("GET", "/v1/boards/beta/jobs", gh_board(gh_job(2, "Site Lead", "Sydney, Australia")))
    cfg = str(test_cli.write_config(tmp_path, board_server))
    cfg_path = Path(cfg)
    cfg_path.write_text(cfg_path.read_text().replace('"t.db"', f'"{pg_url}"'), encoding="utf-8")
    assert test_cli.run("scrape", "-c", cfg, "--as-of", "2026-11-16T06:00:00Z", "-f", "json")[0] == 0
    board_server.route(
        "GET",
        "/v1/boards/acme/jobs",
        gh_board(
            gh_job(1, "Data Center Electrical Engineer", "Tokyo, Japan"),
            gh_job(3, "Data Center Mechanical Engineer", "Osaka, Japan"),
        ),
    )
    assert test_cli.run("scrape", "-c", cfg, "--as-of", "2026-11-17T06:00:00Z", "-f", "json")[0] == 0
    not_on_the_store = {"init", "run", "demo", "classify", "discover", "scrape"}
    commands = typer.main.get_command(test_cli.app).commands  # type: ignore[attr-defined]
    names = sorted(set(commands) - not_on_the_store)
    assert {"roles", "boards"} <= set(names)
    for name in names:
        code, out, err = test_cli.run(name, "--config", cfg)
        needs_more = code == 2 and "Missing" in err  # a command that needs an argument: not a store error
        assert code == 0 or needs_more, f"{name}: exit {code}: {err or out}"
    code, out, _ = test_cli.run("roles", "-c", cfg, "--since", "2026-11-17", "-f", "json")
    assert code == 0 and "Data Center Mechanical Engineer" in out and "Site Lead" not in out


# --- store: migrations, driver, URL ------------------------------------------------------------------------


def test_fresh_schema_is_at_newest_version_and_opens_twice(pg_url: str) -> None:
    for _ in range(2):
        db = open_store(pg_url)
        with db.connect() as conn:
            version = conn.execute(select(SchemaMeta.value).where(SchemaMeta.key == "version")).scalar_one()
            assert int(version) == SCHEMA_VERSION
            assert conn.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
        db.dispose()


def test_version_1_schema_is_upgraded_to_what_a_fresh_one_gets(pg_server: str, pg_url: str) -> None:
    from sqlalchemy import create_engine, inspect

    def columns(url: str) -> dict[str, set[str]]:
        db = open_store(url)
        try:
            insp = inspect(db)
            return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
        finally:
            db.dispose()

    ddl = (Path(__file__).parent / "data" / "schema_v1_postgresql.sql").read_text(encoding="utf-8")
    old = create_engine(pg_url)
    with old.begin() as conn:  # what a version-1 infrasignal left
        conn.exec_driver_sql(ddl)
        conn.execute(text("INSERT INTO schema_meta (key, value) VALUES ('version', '1')"))
        conn.execute(
            text("INSERT INTO board (name, company, ats, created_at) VALUES ('A', 'A', 'lever', now())")
        )
    old.dispose()
    upgraded = columns(pg_url)
    with fresh_schema(pg_server) as fresh_url:
        assert upgraded == columns(fresh_url)
    db = open_store(pg_url)
    with db.connect() as conn:
        version = conn.execute(select(SchemaMeta.value).where(SchemaMeta.key == "version")).scalar_one()
        assert version == str(SCHEMA_VERSION)
        assert conn.execute(select(Board.name, Board.fetched_round)).all() == [("A", None)]
    db.dispose()


def test_processes_opening_a_new_database_together_create_it_once(pg_url: str, tmp_path: Path) -> None:
    code = "import sys; from infrasignal.store import open_store; open_store(sys.argv[1]).dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stderr=subprocess.PIPE) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors


def test_plain_postgresql_url_uses_psycopg_and_hides_the_password(pg_server: str, pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    from infrasignal.store import StoreError

    plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    db = open_store(plain)
    assert db.dialect.driver == "psycopg"
    db.dispose()
    bad = make_url(pg_server).set(password="s3cret", port=1).render_as_string(hide_password=False)
    with pytest.raises(StoreError) as err:
        open_store(bad)
    message = str(err.value)
    assert "s3cret" not in message and "\n" not in message and message.startswith("cannot open database")


# --- the run lock ---------------------------------------------------------------------------------------


def test_run_lock_is_a_database_lock_shared_by_scrapes_exclusive_otherwise(pg_url: str) -> None:
    target = lock_path(None, pg_url)
    assert isinstance(target, DatabaseLock) and "@" in str(target)
    with (
        run_lock(target, "scrape"),
        run_lock(target, "scrape"),  # scrape hosts share the work
        pytest.raises(RunLocked, match="not starting this report"),
        run_lock(target, "report"),
    ):
        pass
    with run_lock(target, "report"):
        with pytest.raises(RunLocked), run_lock(target, "report"):
            pass
        with pytest.raises(RunLocked), run_lock(target, "scrape"):
            pass
    with run_lock(target, "report"):  # released on exit
        pass


def test_run_lock_of_a_killed_process_is_free_again(pg_url: str) -> None:
    code = (
        "import sys, time\n"
        "from infrasignal.runlock import lock_path, run_lock\n"
        "with run_lock(lock_path(None, sys.argv[1]), 'report'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked), run_lock(lock_path(None, pg_url), "report"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while True:  # the server notices the closed connection at once; allow it a moment
        try:
            with run_lock(lock_path(None, pg_url), "report"):
                break
        except RunLocked:
            assert time.monotonic() < deadline, "the killed holder's lock was never released"
            time.sleep(0.1)


def test_scrape_cli_exits_75_while_a_report_holds_the_lock(
    board_server: BoardServer, pg_url: str, tmp_path: Path
) -> None:
    board_server.route("GET", "/v1/boards/acme/jobs", gh_board())
    board_server.route("GET", "/v1/boards/beta/jobs", gh_board())
    cfg = test_cli.write_config(tmp_path, board_server)
    cfg.write_text(cfg.read_text().replace('"t.db"', f'"{pg_url}"'), encoding="utf-8")
    with run_lock(lock_path(cfg, pg_url), "report"):
        code, _, err = test_cli.run("scrape", "--config", str(cfg))
    assert code == 75 and "another infrasignal run holds the run lock" in err and err.count("\n") == 1


# --- board claims in one process ----------------------------------------------------------------------------


def test_claims_rounds_and_a_dead_holder(pg_db: Engine) -> None:
    with pg_db.begin() as conn:
        conn.execute(
            text("INSERT INTO board (name, company, ats, created_at) VALUES ('A', 'A', 'lever', now())")
        )
        board_id = conn.execute(select(Board.id)).scalar_one()
    a, b = Coordinator(pg_db), Coordinator(pg_db)
    assert a.open() == 1 and b.open() == 1  # b starts while a scrapes: same round
    assert a.claim(board_id) is Claim.CLAIMED
    assert b.claim(board_id) is Claim.BUSY
    with pg_db.begin() as conn:  # what record_fetch does in the board's transaction
        conn.execute(text("UPDATE board SET fetched_round = 1 WHERE id = :id"), {"id": board_id})
    a.release(board_id)
    assert b.claim(board_id) is Claim.DONE  # recorded in this round: not fetched again
    a.close()
    b.close()

    c = Coordinator(pg_db)
    assert c.open() == 2  # nobody was scraping: a new round, the board is due again
    assert c.claim(board_id) is Claim.CLAIMED
    d = Coordinator(pg_db)
    assert d.open() == 2 and d.claim(board_id) is Claim.BUSY
    c._connection.invalidate()  # c dies without a word: its connection, and so its locks, are gone
    deadline = time.monotonic() + 10
    while (claim := d.claim(board_id)) is Claim.BUSY and time.monotonic() < deadline:
        time.sleep(0.05)
    assert claim is Claim.CLAIMED  # its board is picked up by the worker still in the round
    d.close()


def test_schemas_do_not_share_locks(pg_server: str) -> None:
    with fresh_schema(pg_server) as one, fresh_schema(pg_server) as two:
        db1, db2 = open_store(one), open_store(two)
        try:
            with db1.connect() as c1, db2.connect() as c2:
                assert lock_namespace(c1, "board") != lock_namespace(c2, "board")
            a, b = Coordinator(db1), Coordinator(db2)
            assert a.open() == 1 and b.open() == 1  # b does not join a's round: another installation
            a.close()
            b.close()
        finally:
            db1.dispose()
            db2.dispose()


# --- several scrape processes over the simulator --------------------------------------------------------------

BOARDS = 45
DAY1, DAY2, DAY3 = "2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z", "2026-11-18T06:00:00Z"


def _fetches_per_board(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            select(Board.name, func.count(Fetch.id))
            .join(Fetch, Fetch.board_id == Board.id)
            .group_by(Board.name)
        )
        return {name: int(n) for name, n in rows}


def _rounds(db: Engine) -> dict[str, int | None]:
    with db.connect() as conn:
        return {name: r for name, r in conn.execute(select(Board.name, Board.fetched_round))}


def _holder_of(db: Engine, board_name: str) -> str | None:
    """The PGAPPNAME of the worker holding the board's claim, if any."""
    with db.connect() as conn:
        board_id = conn.execute(select(Board.id).where(Board.name == board_name)).scalar_one_or_none()
        if board_id is None:
            return None
        namespace = lock_namespace(conn, "board") & 0xFFFFFFFF  # pg_locks shows the key as an oid
        return conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = CAST(:ns AS oid) "
                "AND l.objid = CAST(:id AS oid) AND l.objsubid = 2"
            ),
            {"ns": namespace, "id": board_id},
        ).scalar()


@contextmanager
def one_round(db: Engine) -> Iterator[int]:
    """Keep a round open while the workers start, as workers started by the same cron minute on several
    hosts overlap: here a process can take seconds to start on a busy machine, and a worker that starts
    after the others have finished rightly opens the next round."""
    seat = Coordinator(db)
    try:
        yield seat.open()
    finally:
        seat.close()


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_concurrent_scrapes_fetch_every_board_once_per_round(pg_url: str, tmp_path: Path) -> None:
    sim = watchlist(BOARDS, postings=12, latency=0.2)  # a round long enough for all three to join it
    with sim:
        config = write_config(sim, tmp_path, pg_url, concurrency=2, per_host=2)
        db = open_store(pg_url)
        for day, as_of in ((1, DAY1), (2, DAY2)):
            sim.set_day(day)
            sim.reset_stats()
            with one_round(db) as number:
                assert number == day
                results = [w.wait() for w in start_workers(config, 3, as_of)]
            assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
            # every board requested exactly once in the round, by exactly one of the processes
            assert requests_per_board(sim) == {b.token: 1 for b in sim.boards}
            reported = [r["board"] for _, records, _ in results for r in records]
            assert sorted(reported) == sorted(b.label for b in sim.boards)
            assert sum(1 for _, records, _ in results if records) >= 2, "the work was not shared"
            assert _fetches_per_board(db) == {b.label: day for b in sim.boards}
            assert set(_rounds(db).values()) == {day}
            assert open_postings(db) == expected_postings(sim.boards, sim)
        db.dispose()


def test_killed_worker_boards_are_taken_over_and_nothing_is_lost(pg_url: str, tmp_path: Path) -> None:
    sim = watchlist(BOARDS, postings=12, latency=0.1)
    slow = sim.boards[BOARDS // 3]
    with sim:
        config = write_config(sim, tmp_path, pg_url, concurrency=2, per_host=2)
        db = open_store(pg_url)
        with one_round(db):
            assert all(code == 0 for code, _, _ in (w.wait() for w in start_workers(config, 3, DAY1)))

        # Day 2: one board answers its first request very slowly; kill whichever worker claims it.
        sim.set_day(2)
        sim.reset_stats()
        sim.fault(slow, Fault.latency(120.0, times=1))
        with one_round(db):
            workers = {w.name: w for w in start_workers(config, 3, DAY2, first=10)}
            holder = _wait_for(lambda: _holder_of(db, slow.label), "a worker to claim the slow board")
            workers[holder].process.send_signal(signal.SIGKILL)
            workers[holder].process.wait(timeout=30)
            survivors = [w.wait() for name, w in workers.items() if name != holder]
        assert [code for code, _, _ in survivors] == [0, 0], [err for _, _, err in survivors]

        # The survivors took the dead worker's board in the same round; nothing was recorded twice.
        assert slow.label in {r["board"] for _, records, _ in survivors for r in records}
        # Only the boards the dead worker had in flight (the slow one, and at most one more: per_host=2)
        # were requested twice; the rest once.
        # (the server records the dead worker's request once it notices the closed connection)
        _wait_for(lambda: requests_per_board(sim)[slow.token] == 2, "the dead worker's request", 10)
        counts = requests_per_board(sim)
        twice = {token for token, n in counts.items() if n == 2}
        assert set(counts) == {b.token for b in sim.boards} and set(counts.values()) <= {1, 2}
        assert slow.token in twice and len(twice) <= 2
        assert _fetches_per_board(db) == {b.label: 2 for b in sim.boards}
        assert set(_rounds(db).values()) == {2}
        assert open_postings(db) == expected_postings(sim.boards, sim)

        # A worker killed while alone leaves its board to the next round.
        sim.set_day(3)
        sim.reset_stats()
        sim.fault(slow, Fault.latency(120.0, times=1))
        (lone,) = start_workers(config, 1, DAY3, first=20)
        _wait_for(lambda: _holder_of(db, slow.label), "the lone worker to claim the slow board")
        recorded_before_kill = fetch_count(db)
        lone.process.send_signal(signal.SIGKILL)
        lone.process.wait(timeout=30)
        _wait_for(lambda: requests_per_board(sim)[slow.token] == 1, "the dead worker's request", 10)
        assert _rounds(db)[slow.label] == 2 and recorded_before_kill < 3 * BOARDS
        sim.reset_stats()
        (next_round,) = start_workers(config, 1, DAY3, first=30)
        code, _, err = next_round.wait()
        assert code == 0, err
        assert set(_rounds(db).values()) == {4}  # a new round, not the dead worker's
        assert requests_per_board(sim) == {b.token: 1 for b in sim.boards}
        assert open_postings(db) == expected_postings(sim.boards, sim)
        db.dispose()
