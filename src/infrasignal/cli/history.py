"""`infrasignal signals`, `diff` and `history`: what is new, what changed between two times, and one
posting's story. Thin: parse options, call `infrasignal.history`, print a table or JSON."""

from datetime import datetime
from typing import Annotated, Any

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import (
    ConfigOpt,
    fail,
    load,
    open_db,
    open_read,
    output_format,
    parse_or_fail,
    print_json,
    print_records,
)

FORMATS = ("table", "json")
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="table | json (default: table on a terminal, else json)."),
]
SinceOpt = Annotated[
    str, typer.Option(help="Window: a span before the reference time (7d, 24h, 2w) or a date.")
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Reference time (ISO 8601, default now): answer as of then.")
]


def _times(
    since: str, as_of: str | None, option: str = "--since", end_option: str = "--as-of"
) -> tuple[datetime, datetime]:
    """(start, end) of a window: `since` is a span before `as_of` (default now) or a time."""
    from infrasignal.timeutil import now_utc, parse_span, parse_time

    end = parse_or_fail(parse_time, as_of, end_option) if as_of else now_utc()
    try:
        start = end - parse_span(since)
    except ValueError:
        try:
            start = parse_time(since)
        except ValueError:
            fail(f"{option}: not a span or a time: {since!r} (use e.g. 7d, 24h or 2026-11-01)")
    if start >= end:
        fail(f"the window is empty: {start.isoformat()} is not before {end.isoformat()}")
    return start, end


@app.command()
def signals(
    since: SinceOpt = "7d",
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """New regional hiring signals in the window, strongest first: new markets and cities, new disciplines,
    surges, closures."""
    from infrasignal.roles_history import signals_at

    fmt = output_format(fmt, FORMATS)
    start, end = _times(since, as_of)
    cfg = load(config)
    found = signals_at(open_read(cfg), end, start, cfg.signals)
    records = [s.to_dict() for s in found]
    if fmt == "json":
        print_json(records)
        return
    print_signal_table(records, f"{len(records)} signals, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")


def print_signal_table(records: list[dict[str, Any]], title: str) -> None:
    """Signals as a table: score, kind, and the summary with up to three evidence links under it."""
    if not records:
        typer.echo(title)  # an empty table says less than this line
        return
    rows = []
    for r in records:
        urls = [p["url"] for p in r["postings"] if p.get("url")]
        more = [f"(+{len(urls) - 3} more)"] if len(urls) > 3 else []
        rows.append(r | {"signal": "\n".join([r["summary"], *(f"  {u}" for u in urls[:3]), *more])})
    print_records(
        rows, "table", [("score", "score"), ("kind", "kind"), ("signal", "signal")], title, _signal_cell
    )


def _signal_cell(key: str, value: Any) -> str:
    if key == "score":
        return f"{value:g}"
    return "" if value is None else str(value)


@app.command()
def diff(
    since: Annotated[
        str | None, typer.Option(help="Window: a span before --to (default 7d) or a date; or use --from.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start time (ISO 8601), instead of --since.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="End time (ISO 8601, default now).")] = None,
    infra: Annotated[bool, typer.Option("--infra", help="Only physical-infrastructure roles.")] = False,
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Roles opened, reopened, closed and changed between two times, by company and market."""
    from infrasignal.history import DIFF_LISTS, diff_between

    fmt = output_format(fmt, FORMATS)
    if start is not None and since is not None:
        fail("give either --since or --from, not both")
    if start is not None:
        t_start, t_end = _times(start, end, "--from", "--to")
    else:
        t_start, t_end = _times(since or "7d", end, "--since", "--to")
    cfg = load(config)
    result = diff_between(open_db(cfg), t_start, t_end, infra_only=infra)
    if fmt == "json":
        print_json(result)
        return
    rows = [
        entry | {"change": name, "market": group["market"] or "", "what": _what_changed(entry)}
        for group in result["groups"]
        for name in DIFF_LISTS
        for entry in group[name]
    ]
    counts = ", ".join(f"{result['counts'][name]} {name}" for name in DIFF_LISTS)
    if not rows:
        typer.echo(f"{result['from']} to {result['to']}: {counts}")
        return
    print_records(
        rows,
        fmt,
        [
            ("change", "change"),
            ("company", "company"),
            ("market", "market"),
            ("title", "title"),
            ("where", "where"),
            ("at", "when"),
            ("what", "what changed"),
        ],
        title=f"{result['from'][:16]} to {result['to'][:16]}: {counts}",
        cell=_diff_cell,
    )


def _diff_cell(key: str, value: Any) -> str:
    from infrasignal.cli.common import _cell

    if key == "at":
        return str(value or "")[:10]
    return _cell(key, value)


def _what_changed(entry: dict[str, Any]) -> str:
    """`title: A -> B` per changed field with both values, then the other changed fields by name."""
    changes = entry.get("changes") or {}
    lines = [f"{field}: {c['from']} -> {c['to']}" for field, c in changes.items()]
    others = [f for f in entry.get("changed_fields") or [] if f not in changes]
    return "\n".join(lines + ([", ".join(others)] if others else []))


@app.command()
def history(
    posting: Annotated[
        str, typer.Argument(help="A posting id (from roles --format json), URL or external id.")
    ],
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """One posting's versions (which fields changed, from what to what) and events (new, closed, reopened)."""
    from infrasignal.history import PostingNotFound, posting_history

    fmt = output_format(fmt, FORMATS)
    cfg = load(config)
    try:
        story = posting_history(open_db(cfg), posting)
    except PostingNotFound as exc:
        fail(str(exc), 1)
    if fmt == "json":
        print_json(story)
        return
    p = {k: _printable(v) for k, v in story["posting"].items()}
    closed = f", closed {p['closed_at']}" if p["closed_at"] else ""
    typer.echo(
        f"{p['company']}: {p['title']} [{p['status']}]  (posting {p['id']}, {p['ats']} {p['external_id']})"
    )
    typer.echo(f"first seen {p['first_seen']}, last seen {p['last_seen']}{closed}")
    if p["url"]:
        typer.echo(p["url"])
    print_records(
        _timeline(story),
        fmt,
        [("at", "when"), ("what", "what"), ("details", "details")],
        title=f"{len(story['versions'])} versions, {len(story['events'])} events",
    )


def _printable(value: Any) -> Any:
    """Board text without control characters (an ESC in a title must not reach the terminal)."""
    if not isinstance(value, str):
        return value
    return "".join(ch for ch in value if ch.isprintable() or ch == " ")


def _timeline(story: dict[str, Any]) -> list[dict[str, Any]]:
    """Events in time order, each with what its version says changed."""
    by_time = {v["at"]: v for v in story["versions"]}
    rows = []
    for e in story["events"]:
        v = by_time.pop(e["at"], None) if e["kind"] != "closed" else None
        if v is None:
            details = e["detail"]
        elif v["diff"]:
            details = "\n".join(
                "description changed" if f == "description" else f"{f}: {d['from']} -> {d['to']}"
                for f, d in v["diff"].items()
            )
        else:
            details = f"{v['title']} | {v['location']}" if v["location"] else v["title"]
        rows.append({"at": e["at"], "what": e["kind"], "details": details})
    rows += [{"at": v["at"], "what": "version", "details": ",".join(v["changed"])} for v in by_time.values()]
    return sorted(rows, key=lambda r: r["at"] or "")
