"""Batched writes for the store: many rows of one table in one executemany.

SQLAlchemy Core's executemany builds and type-processes a parameter dictionary per row, which costs more
than SQLite itself for a first scrape's tens of thousands of rows. On SQLite, `insert_rows` and
`update_rows` therefore hand plain tuples to the driver's `executemany` through `exec_driver_sql` (the
connection, its transaction and its events stay SQLAlchemy's). Each value goes through the bind processor
SQLAlchemy would have used (datetimes; memoised per value, since a board's rows share one `at`), booleans
are left to the driver (it stores them as 1 and 0, as SQLAlchemy does), and the columns an insert leaves
out get their scalar defaults, as with Core. The SQL and the conversions are worked out once per table and
list of columns. Other databases keep the Core path (psycopg batches executemany itself).

Rows are sequences of values in the order of the `columns` given (for `update_rows`, followed by the key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Table, bindparam, insert, update
from sqlalchemy.engine import Connection, Dialect

_MEMO_LIMIT = 4096  # distinct values remembered per converted column (posted_at varies per posting)

Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class _Statement:
    """A driver-level statement: its SQL, the values to convert (index, converter) and the values appended
    for the columns an insert leaves out."""

    sql: str
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]
    tail: tuple[Any, ...]

    def values(self, rows: Sequence[Row]) -> list[Row]:
        if not self.convert and not self.tail:
            return list(rows)
        out: list[Row] = []
        for row in rows:
            if self.convert:
                converted = list(row)
                for i, convert in self.convert:
                    converted[i] = convert(converted[i])
                row = converted
            out.append(tuple(row) + self.tail)
        return out


_statements: dict[tuple[str, str, str, tuple[str, ...], str | None], _Statement | None] = {}


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """INSERT `rows` (values of `columns`, in order) into `table`; other columns get their defaults."""
    if not rows:
        return
    statement = _driver_statement(conn.dialect, table, tuple(columns), None)
    if statement is None:
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    conn.exec_driver_sql(statement.sql, statement.values(rows))


def update_rows(
    conn: Connection, table: Table, key: str, columns: Sequence[str], rows: Sequence[Row]
) -> None:
    """UPDATE `table` SET `columns` WHERE column `key` matches; each row: the values of `columns`, then
    the key's."""
    if not rows:
        return
    statement = _driver_statement(conn.dialect, table, tuple(columns), key)
    if statement is None:
        # Core reserves bind names equal to column names in an UPDATE: name them apart.
        stmt = (
            update(table)
            .where(table.c[key] == bindparam("_key"))
            .values({c: bindparam(f"_v_{c}") for c in columns})
        )
        names = [f"_v_{c}" for c in columns] + ["_key"]
        conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in rows])
        return
    conn.exec_driver_sql(statement.sql, statement.values(rows))


def _driver_statement(
    dialect: Dialect, table: Table, columns: tuple[str, ...], key: str | None
) -> _Statement | None:
    """The driver-level form of an insert (`key` None) or an update by `key`; None: use Core."""
    cache_key = (dialect.name, dialect.paramstyle, table.name, columns, key)
    if cache_key not in _statements:
        _statements[cache_key] = _build(dialect, table, columns, key)
    return _statements[cache_key]


def _build(dialect: Dialect, table: Table, columns: tuple[str, ...], key: str | None) -> _Statement | None:
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        return None
    if any(c not in table.c for c in columns) or (key is not None and key not in table.c):
        return None  # let Core report the unknown column
    quote = dialect.identifier_preparer.quote
    names = list(columns)
    tail: list[Any] = []
    if key is None:
        # Core fills the columns a row leaves out with their scalar defaults; a callable default or a SQL
        # expression is Core's business.
        for column in table.columns:
            if column.key in columns or column.default is None:
                continue
            if not column.default.is_scalar:
                return None
            names.append(column.key)
            arg = column.default.arg  # type: ignore[attr-defined]
            proc = _bind_processor(dialect, table, column.key)
            tail.append(proc(arg) if proc is not None else arg)
        listed = ", ".join(quote(table.c[n].name) for n in names)
        sql = f"INSERT INTO {quote(table.name)} ({listed}) VALUES ({', '.join('?' * len(names))})"
    else:
        if not columns:
            return None
        assignments = ", ".join(f"{quote(table.c[c].name)} = ?" for c in columns)
        sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(table.c[key].name)} = ?"
        names.append(key)
    convert = tuple(
        (i, _faster(proc))
        for i, name in enumerate(names[: len(names) - len(tail)])
        if (proc := _bind_processor(dialect, table, name)) is not None
    )
    return _Statement(sql, convert, tuple(tail))


def _bind_processor(dialect: Dialect, table: Table, key: str) -> Callable[[Any], Any] | None:
    column_type = table.c[key].type
    if isinstance(column_type, Boolean):
        return None  # sqlite3 stores a bool as the integer 1 or 0, as SQLAlchemy's processor does
    return column_type.dialect_impl(dialect).bind_processor(dialect)


_SAMPLES = (
    datetime(2026, 11, 16, 6, 0),
    datetime(999, 1, 2, 3, 4, 5, 6),
    datetime(2026, 1, 31, 23, 59, 59, 999999),
)


def _faster(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`proc`, remembering its results (mostly datetimes, many the same); a naive datetime is formatted by
    `isoformat` when that gives what `proc` gives (SQLAlchemy's default SQLite format), checked on samples
    here."""
    try:
        iso = all(proc(d) == d.isoformat(" ", "microseconds") for d in _SAMPLES)
    except (TypeError, ValueError):  # not a datetime column
        iso = False
    memo: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            if iso and type(value) is datetime and value.tzinfo is None:
                out = value.isoformat(" ", "microseconds")
            else:
                out = proc(value)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[value] = out
            return out
        except TypeError:  # unhashable: convert every time
            return proc(value)

    return convert


__all__ = ["insert_rows", "update_rows"]
