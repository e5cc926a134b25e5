"""One run at a time: the lock held by `scrape` and `report --send`, whether started by cron or by the
daemon. A second run finds it held and exits at once with EX_TEMPFAIL (75)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

EX_TEMPFAIL = 75


class RunLocked(Exception):
    """Another infrasignal run holds the lock."""


def lock_path(config_path: Path | None, database_url: str) -> Path:
    """The lock file: beside a SQLite database, else beside the config file."""
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///") + ".lock")
    base = config_path.parent if config_path else Path.cwd()
    return base / ".infrasignal.lock"


@contextmanager
def run_lock(path: Path, what: str = "scrape") -> Iterator[None]:
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunLocked(f"another infrasignal run holds {path}; not starting this {what}") from None
    try:
        yield
    finally:
        lock.release()
