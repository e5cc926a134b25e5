"""The `infrasignal` command line: a thin typer layer; each command group lives in its own module."""

from __future__ import annotations

from infrasignal.cli.app import app, main

__all__ = ["app", "main"]
