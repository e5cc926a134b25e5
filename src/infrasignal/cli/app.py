"""The typer application and its global options; command modules register on `app`."""

from __future__ import annotations

import gc
import importlib
import os

import typer

app = typer.Typer(
    name="infrasignal",
    help="Watch public careers boards for data-center infrastructure hiring signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# command modules, imported for their @app.command registrations. They do without `from __future__ import
# annotations`: typer reads every command's signature at each start-up, and an annotation kept as a string
# costs a compile and an eval there (10 ms of every command's start).
COMMAND_MODULES = ["setup", "scrape", "query", "discover", "report", "history", "classify"]


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"infrasignal.cli.{name}")


def main() -> None:
    # pydantic (under SQLModel's tables: the commands that write) looks for plugins by scanning the entry
    # points of every installed distribution, 15-20 ms of each such command; infrasignal uses none. A value
    # the user set is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _register()
    try:
        app()
    finally:
        # The process ends here. Python's last collection would walk everything still alive (modules,
        # the config, SQLAlchemy's caches) only for it all to go at exit anyway; frozen, it is skipped
        # (70 ms of an unchanged 1,000-board re-scrape). Committed data is on disk already.
        gc.freeze()
