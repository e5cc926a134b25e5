"""Shared CLI plumbing: the --config option, one-line errors with the right exit code, opening the store,
and printing records as a table, JSON or CSV."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $INFRASIGNAL_CONFIG or ./config.toml)."),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="table | json | csv (default: table on a terminal, else json)."),
]

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `error: message` on stderr and exit; never a traceback for a user mistake."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load(config_path: Path | None) -> Any:
    """Load the config or exit 2 with its one-line error."""
    from infrasignal.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))


def open_db(config: Any) -> Any:
    from infrasignal.store import StoreError, open_store

    try:
        return open_store(config.database_url)
    except StoreError as exc:
        fail(str(exc), 1)


def open_read(config: Any) -> Any:
    """The store for a read-only command: a stdlib SQLite reader when the file is at the current schema
    (no SQLAlchemy import, reader.py), else the migrated engine (PostgreSQL, or a database to create or
    upgrade first)."""
    from infrasignal.reader import open_sqlite_reader

    return open_sqlite_reader(config.database_url) or open_db(config)


def output_format(fmt: str | None, allowed: Sequence[str] = ("table", "json", "csv")) -> str:
    if fmt is None:
        return "table" if sys.stdout.isatty() else "json"
    fmt = fmt.strip().lower()
    if fmt not in allowed:
        fail(f"--format: {fmt!r} is not one of {', '.join(allowed)}")
    return fmt


def parse_or_fail(parse: Callable[[str], Any], value: str, option: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def print_records(
    records: list[dict[str, Any]],
    fmt: str,
    columns: list[tuple[str, str]],
    title: str | None = None,
    cell: Callable[[str, Any], str] | None = None,
) -> None:
    """Print records: JSON (all fields), CSV or a rich table (the chosen columns). Board data is never
    interpreted as rich markup."""
    if fmt == "json":
        print_json(records)
        return
    render = cell or _cell
    if any(key == "where" for key, _ in columns):
        records = [r | {"where": where(r)} for r in records]
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow([key for key, _ in columns])
        for r in records:
            writer.writerow([render(key, r.get(key)) for key, _ in columns])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold")
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for r in records:
        table.add_row(*(Text(render(key, r.get(key))) for key, _ in columns))
    Console().print(table)


def print_json(value: Any) -> None:
    """Print JSON indented by two spaces, non-ASCII as is: the bytes `json.dumps(value, indent=2,
    ensure_ascii=False)` writes for the query commands' data (strings, ints, floats, bools, None, lists,
    dicts), from orjson, because indent=2 sends the standard library to its pure-Python encoder. The one
    difference: orjson writes a float whose repr has a negative exponent without its leading zero (`1e-7`,
    not `1e-07`), and NaN and infinities as null (valid JSON, where json writes `NaN`)."""
    text = orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
    )
    sys.stdout.write(text.decode())


def where(record: dict[str, Any]) -> str:
    """Where a role is based, for tables: resolved places, else the board's raw location text."""
    places = record.get("locations") or []
    return _cell("locations", places) if places else str(record.get("location") or "")


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list):
        return ", ".join(_place(v) if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def _place(p: dict[str, Any]) -> str:
    parts = [p.get("city"), p.get("region"), p.get("country")]
    text = ", ".join(x for x in parts if x)
    if p.get("remote"):
        text = f"Remote ({text})" if text else "Remote"
    return text
