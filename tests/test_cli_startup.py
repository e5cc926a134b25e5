"""The CLI's start-up settings (cli/app.py main)."""

from __future__ import annotations

import gc
import importlib
import os

import pytest

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
