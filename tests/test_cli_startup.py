"""The CLI's start-up settings (cli/app.py main)."""

from __future__ import annotations

import importlib
import os

import pytest

# `infrasignal.cli` re-exports the Typer object as `app`, which hides the module of that name.
cli_app = importlib.import_module("infrasignal.cli.app")


def _main_without_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "_register", lambda: None)
    monkeypatch.setattr(cli_app, "app", lambda: None)
    cli_app.main()


def test_pydantic_plugin_scan_is_off_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    _main_without_commands(monkeypatch)
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "some_plugin")
    _main_without_commands(monkeypatch)
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "some_plugin"
