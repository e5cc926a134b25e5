"""A light, read-only way into the store for the query commands (`roles`, `signals`).

Importing SQLAlchemy and the SQLModel tables costs about a quarter of a second, more than a query on a
million postings; so for an SQLite file at the current schema the query commands read through the standard
library's `sqlite3` instead. PostgreSQL (and any database that needs creating or migrating first) is read
through SQLAlchemy. Both run the same SQL text:

- parameters are named (`:name`); a list or tuple value expands to a parenthesised list for `IN :name`;
- on SQLite, datetime parameters are formatted the way SQLAlchemy stores them (so they compare as stored)
  and times come back as text: `as_time()` turns a result value into a naive-UTC datetime on both;
- `reader.sqlite` lets a query add SQLite-only planner hints.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

from infrasignal.schema_version import SCHEMA_VERSION

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format


def expand(sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`IN :ids` with a list becomes `IN (:ids_0, :ids_1, ...)` (`(NULL)` when empty, which matches
    nothing); a non-empty list of tuples becomes a table, `(VALUES (:w_0_0, :w_0_1), ...)`, whose columns
    are column1, column2, ... on SQLite and PostgreSQL alike; other parameters pass through."""
    out = {k: v for k, v in params.items() if not isinstance(v, list | tuple)}
    lists = {k: v for k, v in params.items() if isinstance(v, list | tuple)}
    if not lists:
        return sql, out

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in lists:
            return m.group(0)
        values = lists[name]
        if not values:
            return "(NULL)"
        if isinstance(values[0], tuple):
            text, names = _placeholders(name, len(values), len(values[0]))
            out.update(zip(names, (v for row in values for v in row), strict=True))
        else:
            text, names = _placeholders(name, len(values), 0)
            out.update(zip(names, values, strict=True))
        return text

    return _PARAM.sub(one, sql), out


@lru_cache(maxsize=64)
def _placeholders(name: str, rows: int, columns: int) -> tuple[str, tuple[str, ...]]:
    """The SQL text and the parameter names of a list of `rows` values (`columns` 0) or of `rows` tuples of
    `columns` values. Cached: a long list is read in chunks of one size, so the same text comes back."""
    if not columns:
        names = tuple(f"{name}_{i}" for i in range(rows))
        return "(" + ", ".join(f":{n}" for n in names) + ")", names
    table = [[f"{name}_{i}_{j}" for j in range(columns)] for i in range(rows)]
    text = "(VALUES " + ", ".join("(" + ", ".join(f":{n}" for n in row) + ")" for row in table) + ")"
    return text, tuple(n for row in table for n in row)


@overload
def as_time(value: None) -> None: ...
@overload
def as_time(value: str | datetime) -> datetime: ...
def as_time(value: Any) -> datetime | None:
    """A stored time as read (text on SQLite, a datetime elsewhere) -> naive-UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


class Reader:
    """Runs read-only SQL and returns rows as tuples."""

    sqlite: bool = True

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""


class SqliteReader(Reader):
    """An SQLite file read with the standard library, with writes refused (`PRAGMA query_only`)."""

    sqlite = True

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        sql, values = expand(sql, params or {})
        for k, v in values.items():
            if isinstance(v, datetime):
                values[k] = v.strftime(_SQLITE_TIME)
            elif isinstance(v, bool):
                values[k] = int(v)
        return self.conn.execute(sql, values).fetchall()

    def close(self) -> None:
        self.conn.close()


class SqlAlchemyReader(Reader):
    """Any database SQLAlchemy opens (PostgreSQL, or SQLite when it needed migrating first)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # a sqlalchemy Connection
        self.sqlite = conn.dialect.name == "sqlite"

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        sql, values = expand(sql, params or {})
        if self.sqlite:  # same text format as the sqlite3 reader, so stored times compare right
            values = {
                k: v.strftime(_SQLITE_TIME) if isinstance(v, datetime) else v for k, v in values.items()
            }
        return [tuple(r) for r in self.conn.execute(text(sql), values)]


@contextmanager
def reading(db: Any) -> Iterator[Reader]:
    """A Reader for `db`: a Reader (used as is), a SQLAlchemy Engine (a connection for the duration) or
    Connection."""
    if isinstance(db, Reader):
        yield db
    elif hasattr(db, "connect"):
        with db.connect() as conn:
            yield SqlAlchemyReader(conn)
    else:
        yield SqlAlchemyReader(db)


def sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///path` URL (no query string), else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or url == prefix:
        return None
    return Path(url[len(prefix) :])


def open_sqlite_reader(url: str) -> SqliteReader | None:
    """A stdlib reader for an existing SQLite file already at this program's schema version; None when the
    database must first be created or migrated (or is not a plain SQLite file), which SQLAlchemy does."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA query_only=1")
        # Reads map the file instead of copying pages through read() calls: the index probes of a query on
        # a big store cost about half as much (address space only; the OS shares the pages).
        conn.execute(f"PRAGMA mmap_size={1 << 30}")
        row = conn.execute("SELECT value FROM schema_meta WHERE key = 'version'").fetchone()
    except sqlite3.Error:
        return None  # not ours, or damaged: the full open gives the user the one-line reason
    if row is None or str(row[0]) != str(SCHEMA_VERSION):
        conn.close()
        return None
    return SqliteReader(conn)


def column_list(names: Sequence[str], alias: str) -> str:
    """`p.id, p.title, ...` for a SELECT."""
    return ", ".join(f"{alias}.{n}" for n in names)
