"""`infrasignal init` (write a starter config) and `infrasignal demo` (the whole flow offline)."""

import dataclasses
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import fail, print_records


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("config.toml"),
) -> None:
    """Write a starter config.toml with a real watchlist of AI labs and GPU clouds."""
    if path.exists():
        fail(f"{path} already exists; not overwriting it (move it away or pass another path)")
    text = resources.files("infrasignal").joinpath("starter_config.toml").read_text(encoding="utf-8")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    typer.echo(f"wrote {path}: edit the watchlist, then run `infrasignal scrape`")


@app.command()
def demo(
    db: Annotated[
        Path | None, typer.Option("--db", help="Keep the demo database here (default: temporary).")
    ] = None,
) -> None:
    """Run the whole flow offline: serve bundled fixtures on loopback, scrape two days, show what changed."""
    if db is not None and db.exists():
        fail(f"--db: {db} already exists; the demo writes a fresh database")
    with tempfile.TemporaryDirectory(prefix="infrasignal-demo-") as tmp:
        _run_demo(Path(tmp), db.resolve() if db else Path(tmp) / "demo.db")


def _run_demo(workdir: Path, database: Path) -> None:
    from rich.console import Console

    from infrasignal.config import load_config
    from infrasignal.demo import DEMO_DAYS, FixtureServer, demo_config_text, fixtures_dir
    from infrasignal.queries import RoleFilter, events_between, roles
    from infrasignal.scrape import scrape
    from infrasignal.store import open_store
    from infrasignal.timeutil import parse_time

    console = Console()
    server = FixtureServer(fixtures_dir())
    with server.running():
        config_file = workdir / "config.toml"
        config_file.write_text(demo_config_text(server.base_url, str(database)), encoding="utf-8")
        cfg = load_config(config_file)
        engine = open_store(cfg.database_url)
        console.rule(f"[bold]infrasignal demo[/]: {len(cfg.boards)} boards served from {server.base_url}")
        times = [parse_time(d) for d in DEMO_DAYS]
        for day, at in enumerate(times, start=1):
            server.day = day
            summaries = scrape(cfg, engine, cfg.boards, at)
            print_records(
                [dataclasses.asdict(s) for s in summaries],
                "table",
                [
                    ("board", "board"),
                    ("status", "status"),
                    ("rule", "rule"),
                    ("found", "found"),
                    ("new", "new"),
                    ("changed", "changed"),
                    ("closed", "closed"),
                ],
                title=f"day {day}: scrape at {DEMO_DAYS[day - 1]}" + (" (baseline)" if day == 1 else ""),
            )
        changes = events_between(engine, times[0], times[1])
        print_records(
            changes,
            "table",
            [
                ("event", "event"),
                ("company", "company"),
                ("title", "title"),
                ("where", "where"),
                ("markets", "market"),
                ("disciplines", "disciplines"),
            ],
            title="what changed on day 2",
        )
        infra = roles(engine, RoleFilter(infra=True))
        print_records(
            infra,
            "table",
            [
                ("company", "company"),
                ("title", "title"),
                ("where", "where"),
                ("markets", "market"),
                ("disciplines", "disciplines"),
                ("first_seen", "first seen"),
            ],
            title=f"{len(infra)} open infrastructure roles",
        )
        _demo_extras(engine, cfg, times[-1], console)
    console.print(f"database: {database}" + ("" if database.parent != workdir else " (temporary)"))


def _demo_extras(engine: object, cfg: object, as_of: object, console: object) -> None:
    """Sections that later parts of the flow (signals, report) add to the demo: the signals of day 2."""
    from datetime import datetime, timedelta

    from infrasignal.cli.history import print_signal_table
    from infrasignal.history import signals_at

    assert isinstance(as_of, datetime)
    found = signals_at(engine, as_of, timedelta(days=7), getattr(cfg, "signals", None))
    print_signal_table(
        [s.to_dict() for s in found], f"{len(found)} signals as of day 2, window 7d (`infrasignal signals`)"
    )
