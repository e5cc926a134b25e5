"""One run at a time: the lock held by `scrape` and `report --send`, whether started by cron or by the
daemon. A second run finds it held and exits at once with EX_TEMPFAIL (75).

With a SQLite store the lock is a file beside the database. With a PostgreSQL store, whose daemons may run
on several hosts, it is an advisory lock in the database itself, held on a connection of its own for the
run (it dies with the process): a `scrape` takes it shared, because scrapes on several hosts share their
boards (distributed.py); any other run (the weekly report, ...) takes it exclusively, so it never runs
twice at once nor while a scrape is writing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

EX_TEMPFAIL = 75
SHARED_RUNS = frozenset({"scrape"})  # on PostgreSQL these run side by side; everything else alone
_RUN_KEY = 1  # objid under the "run" lock namespace


class RunLocked(Exception):
    """Another infrasignal run holds the lock."""


@dataclass(frozen=True)
class DatabaseLock:
    """The run lock as an advisory lock in a PostgreSQL store."""

    url: str

    def __str__(self) -> str:
        from infrasignal.store import safe_url

        return f"the run lock in {safe_url(self.url)}"


def is_postgres_url(database_url: str) -> bool:
    return database_url.startswith(("postgresql:", "postgresql+", "postgres:"))


def lock_path(config_path: Path | None, database_url: str) -> Path | DatabaseLock:
    """The lock: in the database for PostgreSQL, a file beside a SQLite database, else beside the config."""
    if is_postgres_url(database_url):
        return DatabaseLock(database_url)
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///") + ".lock")
    base = config_path.parent if config_path else Path.cwd()
    return base / ".infrasignal.lock"


@contextmanager
def run_lock(path: Path | DatabaseLock, what: str = "scrape") -> Iterator[None]:
    if isinstance(path, DatabaseLock):
        with _database_lock(path, what):
            yield
        return
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunLocked(f"another infrasignal run holds {path}; not starting this {what}") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _database_lock(target: DatabaseLock, what: str) -> Iterator[None]:
    from sqlalchemy import text

    from infrasignal.distributed import lock_namespace
    from infrasignal.store import open_engine

    shared = "_shared" if what in SHARED_RUNS else ""
    engine = open_engine(target.url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            params = {"ns": lock_namespace(conn, "run"), "key": _RUN_KEY}
            taken = conn.execute(text(f"SELECT pg_try_advisory_lock{shared}(:ns, :key)"), params).scalar()
            if not taken:
                raise RunLocked(f"another infrasignal run holds {target}; not starting this {what}")
            try:
                yield
            finally:
                conn.execute(text(f"SELECT pg_advisory_unlock{shared}(:ns, :key)"), params)
    finally:
        engine.dispose()
