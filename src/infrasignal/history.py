"""The store's history, read for analysts: the diff between two times, and one posting's versions and
events. Database reads only.

- `diff_between(db, start, end)`: opened, reopened, closed and changed roles, grouped by company and market.
- `posting_history(db, ref)`: a posting (by id, URL or external id) with its versions and events.

The role records behind `signals` (`load_roles_history`, `signals_at`) live in `roles_history.py`, which
reads without SQLAlchemy; they are re-exported here for callers that think of them as history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from infrasignal.queries import _places_and_tags, _role_record
from infrasignal.roles_history import load_roles_history, signals_at
from infrasignal.seen import last_seen
from infrasignal.store import utc_naive
from infrasignal.tables import Board, Event, Posting, PostingPlace, PostingTag, PostingVersion
from infrasignal.timeutil import iso

P = Posting.__table__
T = PostingTag.__table__
PL = PostingPlace.__table__
E = Event.__table__
B = Board.__table__
V = PostingVersion.__table__

CHUNK = 900  # ids per IN (...) list: under every database's bound-parameter limit


class PostingNotFound(LookupError):
    """No stored posting matches what the user gave (one line for the CLI)."""


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


# Diff between two times --------------------------------------------------------------------------------------

DIFF_LISTS = ("opened", "reopened", "closed", "changed")


def diff_between(db: Engine, start: datetime, end: datetime, infra_only: bool = False) -> dict[str, Any]:
    """What happened to postings in (start, end]: roles opened (first seen, not baseline), reopened, closed
    (and still closed at `end`) and changed (when not opened in the same window), grouped by company and
    market (a role's first based market; None when it has none). Copies of one role are one entry."""
    start, end = utc_naive(start), utc_naive(end)
    events = _events(db, start, end, infra_only)
    by_posting: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e["event_at"], _event_order(e["event"]))):
        by_posting[e["id"]].append(e)
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in DIFF_LISTS}
    for evs in by_posting.values():
        kinds = [e["event"] for e in evs]
        last_state = next((k for k in reversed(kinds) if k in ("closed", "reopened", "new")), None)
        if "new" in kinds:
            lists["opened"].append(_entry(evs, "new"))
        if last_state == "closed":
            lists["closed"].append(_entry(evs, "closed"))
        elif last_state == "reopened":
            lists["reopened"].append(_entry(evs, "reopened"))
        if "changed" in kinds and "new" not in kinds:
            lists["changed"].append(_entry(evs, "changed"))
    with db.connect() as conn:
        _add_changes(conn, lists["changed"], start, end)
        baseline = conn.execute(
            select(func.count()).select_from(E).where(E.c.at > start, E.c.at <= end, E.c.kind == "baseline")
        ).scalar_one()
    merged = {name: _merge_copies(entries) for name, entries in lists.items()}
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for name, entries in merged.items():
        for entry in entries:
            market = entry["markets"][0] if entry["markets"] else None
            group = groups.setdefault(
                (entry["company"], market),
                {"company": entry["company"], "market": market} | {n: [] for n in DIFF_LISTS},
            )
            group[name].append(entry)
    ordered = sorted(
        groups.values(), key=lambda g: (g["company"].casefold(), g["market"] is None, g["market"] or "")
    )
    return {
        "from": iso(start),
        "to": iso(end),
        "infra_only": infra_only,
        "counts": {name: len(entries) for name, entries in merged.items()} | {"baseline": int(baseline)},
        "groups": ordered,
    }


_LISTED = [c for c in P.c if c.name != "description"]  # what a role record shows


def _events(db: Engine, start: datetime, end: datetime, infra_only: bool) -> list[dict[str, Any]]:
    """Lifecycle events in (start, end] as role records (like `queries.events_between`), filtered in SQL."""
    conds = [E.c.at > start, E.c.at <= end, E.c.kind.in_(("new", "reopened", "closed", "changed"))]
    if infra_only:
        conds.append(P.c.infra.is_(True))
    stmt = (
        select(E.c.at, E.c.kind, E.c.detail, *_LISTED, B.c.company, B.c.ats, B.c.name)
        .join(P, P.c.id == E.c.posting_id)
        .join(B, B.c.id == E.c.board_id)
        .where(*conds)
    )
    with db.connect() as conn:
        rows = conn.execute(stmt).all()
        places, tags = _places_and_tags(conn, sorted({r.id for r in rows}))
    out = []
    for r in rows:
        record = _role_record(r._mapping, places.get(r.id, []), tags.get(r.id, {}))
        record.update(event=r.kind, event_at=iso(r.at), changed_fields=r.detail)
        out.append(record)
    return out


def _event_order(kind: str) -> int:
    return {"new": 0, "reopened": 1, "changed": 2, "closed": 3}.get(kind, 4)


def _entry(evs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The posting's record with the time of its `kind` event (the last one of that kind)."""
    last = [e for e in evs if e["event"] == kind][-1]
    entry = {k: v for k, v in last.items() if k not in ("event", "event_at", "changed_fields")}
    entry["at"] = last["event_at"]
    if kind == "changed":
        fields = [f for e in evs if e["event"] == "changed" for f in e["changed_fields"].split(",") if f]
        entry["changed_fields"] = list(dict.fromkeys(fields))
    return entry


def _add_changes(conn: Connection, entries: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    """Add `changes: {field: {from, to}}` for title, location and department, from the versions."""
    ids = [e["id"] for e in entries]
    versions: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (
            select(V).where(V.c.posting_id.in_(chunk), V.c.at <= end).order_by(V.c.posting_id, V.c.at, V.c.id)
        )
        for v in conn.execute(stmt):
            versions[v.posting_id].append(v)
    for e in entries:
        vs = versions.get(e["id"], [])
        before = [v for v in vs if v.at <= start]
        # compared with the version the window started with, or the first one if it was created inside
        old, new = (before[-1] if before else vs[0] if vs else None), (vs[-1] if vs else None)
        changes: dict[str, dict[str, str]] = {}
        for f in ("title", "location", "department"):
            if old is not None and new is not None and getattr(old, f) != getattr(new, f):
                changes[f] = {"from": getattr(old, f), "to": getattr(new, f)}
        e["changes"] = changes


def _merge_copies(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of one role (same company and requisition id) become one entry with all their locations."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(entries, key=lambda e: (e["at"] or "", e["id"])):
        key = (
            e["company"].casefold(),
            f"req:{e['requisition_id']}" if e["requisition_id"] else f"id:{e['id']}",
        )
        head = out.get(key)
        if head is None:
            out[key] = e | {"copies": [e["id"]]}
            continue
        head["copies"].append(e["id"])
        for field in ("locations", "markets", "disciplines"):
            for item in e[field]:
                if item not in head[field]:
                    head[field].append(item)
        if e["location"] and e["location"] not in head["location"].split(" | "):
            head["location"] = f"{head['location']} | {e['location']}" if head["location"] else e["location"]
    return sorted(out.values(), key=lambda e: (e["title"].strip().casefold(), e["id"]))


# One posting's history ---------------------------------------------------------------------------------------


def find_posting(conn: Connection, ref: str) -> int:
    """A posting id from what a user typed: a posting id, its URL, or its external id on the board."""
    text = ref.strip()
    if not text:
        raise PostingNotFound("no posting given (use a posting id, URL or external id)")
    if text.isdigit() and conn.execute(select(P.c.id).where(P.c.id == int(text))).first():
        return int(text)
    if "://" in text:
        urls = {text, text.rstrip("/")}
        found = list(conn.execute(select(P.c.id).where(P.c.url.in_(sorted(urls)))).scalars())
    else:
        found = list(conn.execute(select(P.c.id).where(P.c.external_id == text)).scalars())
    if not found:
        raise PostingNotFound(f"no stored posting with id, URL or external id {text!r}")
    if len(found) > 1:
        listed = ", ".join(str(i) for i in sorted(found)[:10])
        raise PostingNotFound(f"{text!r} matches {len(found)} postings (ids {listed}); give one posting id")
    return int(found[0])


def posting_history(db: Engine, ref: str | int) -> dict[str, Any]:
    """A posting (by id, URL or external id) with its versions (which fields changed, from what to what)
    and its lifecycle events, oldest first. Raises PostingNotFound."""
    with db.connect() as conn:
        pid = find_posting(conn, str(ref))
        row = conn.execute(
            select(*P.c, B.c.company, B.c.ats, B.c.name, B.c.listed_at, B.c.last_success_at)
            .join(B, B.c.id == P.c.board_id)
            .where(P.c.id == pid)
        ).one()
        places, tags = _places_and_tags(conn, [pid])
        versions = conn.execute(select(V).where(V.c.posting_id == pid).order_by(V.c.at, V.c.id)).all()
        events = conn.execute(
            select(E.c.at, E.c.kind, E.c.detail).where(E.c.posting_id == pid).order_by(E.c.at, E.c.id)
        ).all()
    seen = {"last_seen": last_seen(row.last_seen, row.listed_at, row.last_success_at)}
    posting = _role_record(dict(row._mapping) | seen, places.get(pid, []), tags.get(pid, {}))
    posting["baseline"] = bool(row.baseline)
    posting["description"] = row.description
    out_versions = []
    previous = None
    for v in versions:
        changed = [f for f in v.changed.split(",") if f]
        diff: dict[str, dict[str, str]] = {}
        if previous is not None:
            for f in ("title", "location", "department"):
                if getattr(previous, f) != getattr(v, f):
                    diff[f] = {"from": getattr(previous, f), "to": getattr(v, f)}
            if previous.description_hash != v.description_hash:
                diff["description"] = {"from": previous.description_hash, "to": v.description_hash}
        out_versions.append(
            {
                "at": iso(v.at),
                "changed": changed,
                "title": v.title,
                "department": v.department,
                "location": v.location,
                "description_hash": v.description_hash,
                "diff": diff,
            }
        )
        previous = v
    return {
        "posting": posting,
        "versions": out_versions,
        "events": [{"at": iso(e.at), "kind": e.kind, "detail": e.detail} for e in events],
    }


__all__ = [
    "PostingNotFound",
    "diff_between",
    "find_posting",
    "load_roles_history",
    "posting_history",
    "signals_at",
]
