"""The CLI's start-up: its settings (cli/app.py main) and what the query commands import."""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.history import week47

# `infrasignal.cli` re-exports the Typer object as `app`, which hides the module of that name.
cli_app = importlib.import_module("infrasignal.cli.app")


def _main_without_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "_register", lambda: None)
    monkeypatch.setattr(cli_app, "app", lambda: None)
    try:
        cli_app.main()
    finally:
        gc.unfreeze()  # main() freezes what is alive as the process ends; this one goes on


def test_what_is_alive_at_the_end_is_frozen_out_of_the_last_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[int] = []

    def command() -> None:
        raise SystemExit(0)  # as typer ends a command

    monkeypatch.setattr(cli_app, "_register", lambda: None)
    monkeypatch.setattr(cli_app, "app", command)
    try:
        with pytest.raises(SystemExit):
            cli_app.main()
        frozen.append(gc.get_freeze_count())
    finally:
        gc.unfreeze()
    assert frozen[0] > 0


def test_pydantic_plugin_scan_is_off_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    _main_without_commands(monkeypatch)
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "some_plugin")
    _main_without_commands(monkeypatch)
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "some_plugin"


# Modules a query command must not import: each costs start-up on every run (pydantic and its models
# about 100 ms, SQLAlchemy about 60 ms), and nothing a query does needs them.
HEAVY = ("pydantic", "sqlalchemy", "sqlmodel")


@pytest.mark.parametrize(
    "command",
    [
        ["signals", "--since", "7d", "--as-of", "2026-11-18T12:00:00Z", "--format", "json"],
        ["roles", "--city", "Tokyo", "--infra", "--format", "json"],
    ],
)
def test_query_commands_start_without_pydantic_or_sqlalchemy(tmp_path: Path, command: list[str]) -> None:
    h = week47(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndatabase = "{tmp_path / "history.db"}"\n', encoding="utf-8")
    h.db.dispose()
    script = (
        "import sys, atexit\n"
        f"atexit.register(lambda: print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr))\n"
        "from infrasignal.cli import main\n"
        "main()\n"
    )
    argv = [sys.executable, "-c", script, *command[:1], "--config", str(config), *command[1:]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout), "the query found nothing: the store was not read"
    assert done.stderr.strip().splitlines()[-1] == "[]"
