"""`infrasignal roles` and `infrasignal boards`: read the store, print tables or JSON."""

from typing import Annotated, Any

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import (
    ConfigOpt,
    FormatOpt,
    fail,
    load,
    open_db,
    open_read,
    output_format,
    parse_or_fail,
    print_records,
)


def _classifier(cfg: Any) -> Any:
    from infrasignal.config import ConfigError
    from infrasignal.scrape import user_classifier

    try:
        return user_classifier(cfg)
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def roles(
    city: Annotated[str | None, typer.Option(help="Based in this city, e.g. Sydney.")] = None,
    country: Annotated[str | None, typer.Option(help="Based in this country: ISO code or name.")] = None,
    market: Annotated[
        str | None, typer.Option(help="In this data-center market, e.g. 'Northern Virginia'.")
    ] = None,
    covered: Annotated[
        bool, typer.Option("--covered", help="With --market: include roles that cover it.")
    ] = False,
    company: Annotated[str | None, typer.Option(help="Only this company.")] = None,
    discipline: Annotated[
        list[str] | None, typer.Option("--discipline", "-d", help="Any of these (repeatable).")
    ] = None,
    infra: Annotated[bool, typer.Option("--infra", help="Only physical-infrastructure roles.")] = False,
    status: Annotated[str, typer.Option(help="open | closed | all")] = "open",
    since: Annotated[
        str | None, typer.Option(help="First seen within this span (7d) or since a date.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Reference time for --since (ISO 8601).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Query postings, newest first: `infrasignal roles --city Sydney --infra`."""
    from infrasignal.queries import RoleFilter
    from infrasignal.queries import roles as query_roles
    from infrasignal.timeutil import now_utc, parse_time, since_time

    fmt = output_format(fmt)
    if status not in ("open", "closed", "all"):
        fail(f"--status: {status!r} is not one of open, closed, all")
    cfg = load(config)
    ref = parse_or_fail(parse_time, as_of, "--as-of") if as_of else now_utc()
    f = RoleFilter(
        city=city,
        company=company,
        disciplines=list(discipline or []),
        infra=infra,
        status=status,
        include_covered=covered,
        since=parse_or_fail(lambda s: since_time(s, ref), since, "--since") if since else None,
        limit=limit,
    )
    clf = _classifier(cfg) if (country or market or discipline) else None
    if country:
        code = clf.resolve_country(country) if clf else None
        if code is None and len(country.strip()) != 2:
            fail(f"--country: unknown country {country!r} (use an ISO code like JP or a name like Japan)")
        f.country = code or country.strip().upper()
    if market:
        found = clf.market(market) if clf else None
        if clf is not None and found is None:
            names = ", ".join(m.name for m in clf.markets()[:12])
            fail(f"--market: unknown market {market!r} (e.g. {names}, ...)")
        f.market = found.name if found else market
    if discipline and clf is not None:
        from infrasignal.classify import DISCIPLINES

        bad = [d for d in discipline if d.strip().lower() not in DISCIPLINES]
        if bad:
            fail(f"--discipline: unknown {', '.join(bad)} (one of {', '.join(DISCIPLINES)})")
    records = query_roles(open_read(cfg), f)
    print_records(
        records,
        fmt,
        [
            ("company", "company"),
            ("title", "title"),
            ("where", "where"),
            ("markets", "market"),
            ("disciplines", "disciplines"),
            ("status", "status"),
            ("first_seen", "first seen"),
            ("url", "url"),
        ],
        title=f"{len(records)} roles",
        cell=_role_cell,
    )


def _role_cell(key: str, value: Any) -> str:
    from infrasignal.cli.common import _cell

    if key == "first_seen" and value:
        return str(value)[:10]
    return _cell(key, value)


@app.command()
def boards(config: ConfigOpt = None, fmt: FormatOpt = None) -> None:
    """Each board: last success, last error, open postings, quarantine."""
    from infrasignal.queries import boards_health
    from infrasignal.store import sync_boards

    fmt = output_format(fmt)
    cfg = load(config)
    db = open_db(cfg)
    sync_boards(db, [b for b in cfg.boards])
    records = boards_health(db)
    print_records(
        records,
        fmt,
        [
            ("board", "board"),
            ("ats", "ats"),
            ("open", "open"),
            ("last_success_at", "last success"),
            ("last_status", "last fetch"),
            ("last_rule", "rule"),
            ("quarantine_reason", "quarantine"),
            ("last_error", "last error"),
        ],
        title="boards",
    )
