"""`infrasignal report` (the weekly diff as text, HTML or a mail; `--send` mails it once per period) and
`infrasignal run` (the scheduler daemon)."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import ConfigOpt, fail, load, open_db, parse_or_fail

EXIT_SEND_FAILED = 1


@app.command()
def report(
    since: Annotated[
        str | None, typer.Option("--since", help="A span (7d, 2w) or ISO time; the window ends at --as-of.")
    ] = None,
    week: Annotated[
        str | None, typer.Option("--week", help="An ISO week, e.g. 2026-W47 (Monday 00:00 UTC to Monday).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="End of the window (ISO 8601; default now).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text | html | eml")] = "text",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Mail it to [email] `to`, once per period.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --send: send again (same Message-ID).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """The weekly diff: signals, new and closed infra roles, open roles per market, data gaps.

    Without --since or --week it covers the last complete ISO week before --as-of (default: now)."""
    from infrasignal.periods import choose
    from infrasignal.timeutil import now_utc, parse_time

    fmt = fmt.strip().lower()
    if fmt not in ("text", "html", "eml"):
        fail(f"--format: {fmt!r} is not one of text, html, eml")
    if force and not send:
        fail("--force only goes with --send")
    cfg = load(config)
    now = now_utc()
    end = parse_or_fail(parse_time, as_of, "--as-of") if as_of else None
    try:
        period = choose(since, week, end, now)
    except ValueError as exc:
        fail(str(exc))
    db = open_db(cfg)
    if send:
        _send(cfg, db, period, now, force)
        if out is None:
            return
    _write(_render(cfg, db, period, now, fmt), out)


def _render(cfg: Any, db: Any, period: Any, now: Any, fmt: str) -> bytes:
    from infrasignal.mail import message_id, recipients_key
    from infrasignal.outbox import report_message
    from infrasignal.report import render_html, render_text
    from infrasignal.reportdata import gather

    if fmt == "eml":
        mid = message_id(period.key, recipients_key(cfg.email.to), cfg.email.from_addr)
        return bytes(report_message(cfg, db, period, now, mid).as_bytes())
    data = gather(db, cfg, period, now)
    return (render_html(data) if fmt == "html" else render_text(data)).encode("utf-8")


def _write(body: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(body)
    except OSError as exc:
        fail(f"--out: cannot write {out}: {exc.strerror or exc}", 1)
    typer.echo(f"wrote {out}", err=True)


def _send(cfg: Any, db: Any, period: Any, now: Any, force: bool) -> None:
    from infrasignal.mail import credentials, send
    from infrasignal.outbox import send_report
    from infrasignal.runlock import EX_TEMPFAIL, RunLocked, lock_path, run_lock

    if not cfg.email.to:
        fail(f'{cfg.path}: email.to: no recipients; add `to = ["you@example.com"]` under [email]')
    try:
        login = credentials(cfg.email)
    except ValueError as exc:
        fail(f"{cfg.path}: {exc}")
    try:
        with run_lock(lock_path(cfg.path, cfg.database_url), "report --send"):
            d = send_report(cfg, db, period, now, lambda msg: send(msg, cfg.email, login), force)
    except RunLocked as exc:
        fail(str(exc), EX_TEMPFAIL)
    to = d.recipients.replace(",", ", ")
    if d.status == "already_sent":
        when = d.sent_at.isoformat(timespec="minutes") + "Z" if d.sent_at else "earlier"
        typer.echo(
            f"report {d.period} was already sent to {to} ({when}); nothing sent (--force sends it again)"
        )
    elif d.status == "sent":
        typer.echo(f"sent report {d.period} to {to} ({d.message_id}, {d.attempts} attempt(s))")
        if d.refused:
            fail(f"the server refused some recipients: {d.refused}", EXIT_SEND_FAILED)
    else:
        fail(
            f"report {d.period} not sent: {d.error}; recorded, and the next `report --send` for this period "
            "tries again",
            EXIT_SEND_FAILED,
        )


@app.command()
def run(config: ConfigOpt = None) -> None:
    """The scheduler daemon: scrape and mail the weekly report on the cron schedules of \\[schedule]. It
    catches up at start-up on what the database says was missed, and stops cleanly on SIGTERM / SIGINT."""
    from infrasignal.config import ConfigError
    from infrasignal.mail import credentials
    from infrasignal.scheduler import SystemClock, run_daemon

    cfg = load(config)
    try:
        from infrasignal.scheduler import parse_schedule

        parse_schedule(cfg)
        if cfg.email.to:
            credentials(cfg.email)
    except ConfigError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"{cfg.path}: {exc}")
    run_daemon(cfg, open_db(cfg), SystemClock())
