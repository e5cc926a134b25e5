"""`infrasignal discover URL`: fetch a careers page (or read a saved one) and print the `[[boards]]`
entries for the job boards it uses, ready to paste into config.toml.

Reads the `[fetch]` settings of the config when one can be loaded (user agent, timeouts, robots), else the
defaults. Exit 0 when boards were found, 1 when the fetch failed or nothing was recognised, 2 for a bad
URL, file or config.
"""

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import ConfigOpt, fail


@app.command()
def discover(
    url: Annotated[str, typer.Argument(help="A careers page or job-board URL.")],
    company: Annotated[
        str | None, typer.Option("--company", help="Company name for the entries (default: from the page).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read this saved copy of the page instead of fetching URL.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="toml | json")] = "toml",
    config: ConfigOpt = None,
) -> None:
    """Recognise the job boards a careers page uses and print their \\[\\[boards]] entries."""
    from infrasignal.discover import find_boards, to_toml
    from infrasignal.sources._common import decode_html

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"not an http(s) URL: {url!r}")
    fmt = fmt.strip().lower()
    if fmt not in ("toml", "json"):
        fail(f"--format: {fmt!r} is not one of toml, json")
    final = url.strip()
    if file is not None:
        try:
            body = file.read_bytes()
        except OSError as exc:
            fail(f"--file: cannot read {file}: {exc.strerror or exc}")
    else:
        body, final = _fetch(url.strip(), config)
    found = find_boards(final, decode_html(body), company, also=[url.strip()] if final != url.strip() else [])
    if not found:
        fail(f"no job board recognised on {final}", 1)
    if fmt == "json":
        typer.echo(
            json.dumps([f.entry | {"evidence": f.evidence} for f in found], indent=2, ensure_ascii=False)
        )
        return
    typer.echo(to_toml([f.entry for f in found], [f.evidence for f in found]), nl=False)
    typer.echo(
        f"# {len(found)} board(s) found on {final}: paste the entries above into config.toml", err=True
    )


def _fetch(url: str, config: Path | None) -> tuple[bytes, str]:
    """The page body and its final URL (after redirects), or exit 1 with the fetch error."""
    from infrasignal.fetch import Engine, FetchError
    from infrasignal.model import Request

    settings = _fetch_settings(config)

    async def get() -> Any:
        async with Engine(settings) as engine:
            return await engine.send(Request(url, robots=True))

    import asyncio  # here, not at the top: every command's start-up would pay for it

    try:
        response = asyncio.run(get())
    except FetchError as exc:
        fail(exc.message, 1)
    return response.content, response.url


def _fetch_settings(config: Path | None) -> Any:
    """The config's [fetch] table; defaults when no config exists (an explicit --config must load)."""
    from infrasignal.config import ConfigError, FetchConfig, config_path, load_config

    if config is None and not config_path(None).exists():
        return FetchConfig()
    try:
        return load_config(config).fetch
    except ConfigError as exc:
        if config is not None:
            fail(str(exc))
        return FetchConfig()
