"""`infrasignal scrape`: fetch every board, store and classify; a progress bar per board on a terminal."""

import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import (
    ConfigOpt,
    FormatOpt,
    fail,
    load,
    open_db,
    output_format,
    parse_or_fail,
    print_records,
)


@app.command()
def scrape(
    board: Annotated[
        list[str] | None, typer.Option("--board", "-b", help="Only this company or board name (repeatable).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Observation time (ISO 8601), for backfills.")
    ] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Fetch every board, store and classify. Exit 0 when all boards succeeded, 1 when some failed."""
    from infrasignal import writer

    cfg = load(config)
    # A round of many boards classifies and writes in a worker process: started now, it imports what it
    # needs while this process imports the store and the fetch engine (half a second each).
    worker = None
    if not board and writer.writer_mode(sum(b.enabled for b in cfg.boards)) == "process":
        worker = writer.spawn()
    try:
        _scrape(cfg, board, as_of, fmt, worker)
    finally:
        if worker is not None:
            worker.discard()  # nothing if the round took it


def _scrape(cfg: Any, board: list[str] | None, as_of: str | None, fmt: str | None, worker: Any) -> None:
    from infrasignal.runlock import EX_TEMPFAIL, RunLocked, lock_path, run_lock
    from infrasignal.scrape import select_boards
    from infrasignal.timeutil import now_utc, parse_time

    fmt = output_format(fmt)
    at = parse_or_fail(parse_time, as_of, "--as-of") if as_of else now_utc()
    try:
        boards = select_boards(cfg, board)
    except ValueError as exc:
        fail(str(exc))
    if not boards:
        fail(f"{cfg.path}: no boards to scrape (add [[boards]] entries)")
    from infrasignal.config import ConfigError
    from infrasignal.scrape import user_classifier

    if cfg.classify.rules_file or cfg.classify.markets_file:
        try:
            user_classifier(cfg)  # a bad [classify] file is a config error, found before any fetch
        except ConfigError as exc:
            fail(str(exc))
    db = open_db(cfg)
    try:
        with run_lock(lock_path(cfg.path, cfg.database_url)):
            summaries = _scrape_with_progress(cfg, db, boards, at, worker)
    except RunLocked as exc:
        fail(str(exc), EX_TEMPFAIL)
    records = [
        {
            "board": s.board,
            "status": s.status,
            "rule": s.rule,
            "found": s.found,
            "new": s.new,
            "changed": s.changed,
            "closed": s.closed,
            "reopened": s.reopened,
            "baseline": s.baseline,
            "seconds": round(s.duration, 2),
            "error": s.error,
        }
        for s in summaries
    ]
    print_records(
        records,
        fmt,
        [
            ("board", "board"),
            ("status", "status"),
            ("rule", "rule"),
            ("found", "found"),
            ("new", "new"),
            ("closed", "closed"),
            ("seconds", "time (s)"),
            ("error", "error"),
        ],
        title=f"scrape at {at.isoformat(timespec='seconds')}Z",
    )
    failed = [s for s in summaries if s.status == "failed"]
    if failed:
        typer.echo(f"{len(failed)} of {len(summaries)} boards failed; nothing was closed on them", err=True)
        raise typer.Exit(1)


def _scrape_with_progress(cfg: Any, db: Any, boards: list[Any], at: datetime, worker: Any) -> list[Any]:
    from infrasignal.scrape import scrape as run_scrape

    if not sys.stderr.isatty():
        return run_scrape(cfg, db, boards, at, worker=worker)
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as progress:
        overall = progress.add_task(f"scraping {len(boards)} boards", total=len(boards))
        tasks: dict[str, TaskID] = {}

        def on_event(label: str, what: str) -> None:
            if what == "start":
                tasks[label] = progress.add_task(label, total=1)
            else:
                progress.update(tasks[label], completed=1, description=f"{label} [{what}]")
                progress.advance(overall)

        return run_scrape(cfg, db, boards, at, progress=on_event, worker=worker)
