"""`infrasignal classify` (tags for one posting, with evidence) and `infrasignal reclassify` (re-tag every
stored posting after the rules or the market table changed).

Both read [classify] rules_file / markets_file from the config: `classify` only when a config is given or
found (it works without one, on the shipped rules), `reclassify` always (it needs the database).
"""

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from infrasignal.cli.app import app
from infrasignal.cli.common import ConfigOpt, FormatOpt, fail, load, open_db, output_format, print_records

RECLASSIFY_BATCH = 2000  # postings per transaction


def _classifier_for(cfg: Any) -> Any:
    """The classifier with the config's rule and market files (shipped data only when cfg is None)."""
    from infrasignal.classify import load_classifier
    from infrasignal.classify.disciplines import RulesError

    rules = markets = None
    if cfg is not None:
        rules = cfg.resolve_path(cfg.classify.rules_file) if cfg.classify.rules_file else None
        markets = cfg.resolve_path(cfg.classify.markets_file) if cfg.classify.markets_file else None
    try:
        return load_classifier(rules_file=rules, markets_file=markets)
    except (RulesError, ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _optional_config(config: Path | None) -> Any:
    """The config when one is named or present; None when the user has none (classify needs no store)."""
    from infrasignal.config import config_path

    if config is None and not config_path(None).exists():
        return None
    return load(config)


@app.command()
def classify(
    title: Annotated[str, typer.Option("--title", "-t", help="The posting's title.")],
    department: Annotated[str, typer.Option("--department", "-d", help="Department or team.")] = "",
    location: Annotated[
        list[str] | None, typer.Option("--location", "-l", help="A raw location string (repeatable).")
    ] = None,
    description_file: Annotated[
        Path | None, typer.Option("--description-file", help="A file with the description (text or HTML).")
    ] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Tags for one posting, with the evidence for each: infra, disciplines, places, markets."""
    fmt = output_format(fmt, ("table", "json"))
    description = ""
    if description_file is not None:
        try:
            description = description_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            fail(f"--description-file: cannot read {description_file}: {exc.strerror or exc}")
        if "<" in description and ">" in description:
            from infrasignal.sources.base import html_to_text

            description = html_to_text(description)
    clf = _classifier_for(_optional_config(config))
    c = clf.classify(title, department, list(location or []), description)
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(c.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    _print_classification(c)


def _print_classification(c: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from infrasignal.cli.common import _place

    console = Console()
    places = ", ".join(_place(p) for p in c.to_dict()["locations"]) or "-"
    summary = Table.grid(padding=(0, 2))
    summary.add_row(Text("infra", style="bold"), Text("yes" if c.infra else "no"))
    summary.add_row(Text("disciplines", style="bold"), Text(", ".join(c.disciplines) or "-"))
    summary.add_row(
        Text("places", style="bold"), Text(places + (" (some unresolved)" if c.unresolved_locations else ""))
    )
    summary.add_row(Text("markets", style="bold"), Text(", ".join(c.markets) or "-"))
    summary.add_row(Text("covers", style="bold"), Text(", ".join(c.covered_markets) or "-"))
    console.print(summary)
    if not c.evidence:
        console.print(Text("no rule matched"))
        return
    table = Table(title="evidence", header_style="bold")
    for header in ("tag", "rule", "field", "matched", "weight"):
        table.add_column(header, overflow="fold")
    for e in c.evidence:
        table.add_row(
            Text(e.tag), Text(e.rule), Text(e.field), Text(e.text), Text(f"{e.weight:+g}" if e.weight else "")
        )
    console.print(table)


@app.command()
def reclassify(
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Re-tag every stored posting with the current rules and market table (after changing them)."""
    cfg = load(config)
    fmt = output_format(fmt)
    clf = _classifier_for(cfg)
    db = open_db(cfg)
    result = reclassify_store(db, clf)
    print_records(
        [result],
        fmt,
        [
            ("postings", "postings"),
            ("rewritten", "rewritten"),
            ("infra", "infra"),
            ("infra_changed", "infra changed"),
            ("seconds", "seconds"),
            ("per_second", "postings/s"),
        ],
        title="reclassify",
    )


def reclassify_store(engine: Any, clf: Any, batch: int = RECLASSIFY_BATCH) -> dict[str, Any]:
    """Classify every stored posting again, `batch` postings per transaction (keyset pagination on the
    id, so memory stays flat on big stores), and write the places and tags of those whose result differs
    from what is stored (store.write_classification); after a small rules change most postings keep
    their tags and cost one comparison instead of five statements."""
    from sqlalchemy import Table, select

    from infrasignal.model import Posting as ParsedPosting
    from infrasignal.store import write_classification
    from infrasignal.tables import Posting, PostingPlace, PostingTag

    # The Core tables: typed columns, and no ORM objects in a bulk pass (SQLModel does not declare them).
    t: Table = Posting.__table__  # type: ignore[attr-defined]
    pl: Table = PostingPlace.__table__  # type: ignore[attr-defined]
    tg: Table = PostingTag.__table__  # type: ignore[attr-defined]
    started = time.perf_counter()
    done = written = infra = changed = 0
    last_id = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(
                    t.c.id,
                    t.c.external_id,
                    t.c.title,
                    t.c.department,
                    t.c.team,
                    t.c.url,
                    t.c.location,
                    t.c.description,
                    t.c.infra,
                    t.c.unresolved_locations,
                    t.c.classified_hash,
                )
                .where(t.c.id > last_id)
                .order_by(t.c.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            first, last = rows[0].id, rows[-1].id
            stored: dict[int, tuple[list[Any], list[Any]]] = {row.id: ([], []) for row in rows}
            for r in conn.execute(
                select(pl.c.posting_id, pl.c.city, pl.c.region, pl.c.country, pl.c.remote).where(
                    pl.c.posting_id.between(first, last)
                )
            ):
                stored[r.posting_id][0].append((r.city, r.region, r.country, bool(r.remote)))
            for r in conn.execute(
                select(tg.c.posting_id, tg.c.kind, tg.c.value, tg.c.evidence).where(
                    tg.c.posting_id.between(first, last)
                )
            ):
                stored[r.posting_id][1].append((r.kind, r.value, r.evidence or ""))
            for row in rows:
                parsed = ParsedPosting(
                    external_id=row.external_id,
                    title=row.title,
                    url=row.url,
                    locations=[s for s in (row.location or "").split(" | ") if s.strip()],
                    department=row.department or "",
                    team=row.team or "",
                    description=row.description or "",
                )
                c = clf.classify(parsed.title, parsed.department, parsed.locations, parsed.description)
                places, tags = stored[row.id]
                same = (
                    row.classified_hash == parsed.content_hash()
                    and bool(row.infra) == bool(c.infra)
                    and bool(row.unresolved_locations) == bool(c.unresolved_locations)
                    and sorted(places, key=repr) == sorted(stored_places(c), key=repr)
                    and sorted(tags) == sorted(stored_tags(c))
                )
                if not same:
                    write_classification(conn, row.id, parsed, c)
                    written += 1
                infra += bool(c.infra)
                changed += bool(c.infra) != bool(row.infra)
            done += len(rows)
            last_id = last
    if written:
        from infrasignal.presence import refresh_presence

        with engine.begin() as conn:  # where each board has hired follows the new tags
            refresh_presence(conn)
    seconds = time.perf_counter() - started
    return {
        "postings": done,
        "rewritten": written,
        "infra": infra,
        "infra_changed": changed,
        "seconds": round(seconds, 3),
        "per_second": round(done / seconds) if seconds > 0 else 0,
    }


def stored_places(c: Any) -> list[tuple[Any, ...]]:
    """The posting_place rows store.write_classification writes for a classification."""
    return [(p.city, p.region, p.country, bool(p.remote)) for p in c.places]


def stored_tags(c: Any) -> list[tuple[str, str, str]]:
    """The posting_tag rows (kind, value, evidence) store.write_classification writes for a
    classification; tests/test_cli_classify.py checks the two stay in step."""
    import json

    evidence: dict[str, list[str]] = {}
    for ev in c.evidence:
        evidence.setdefault(ev.tag, []).append(f"{ev.field}:{ev.text}")
    tags = [("discipline", d, json.dumps(evidence.get(d, [])[:5])) for d in c.disciplines]
    tags += [("market", m, "") for m in c.markets]
    tags += [("covered_market", m, "") for m in c.covered_markets]
    return tags
