"""The store's history, read for analysts: role records for signal detection, the diff between two times,
and one posting's versions and events. Database reads only; the decisions live in `signals.py` (pure).

- `load_roles_history(db, as_of, since=None)` builds `signals.RoleRecord`s. With `since` it loads only what
  the window (since, as_of] can need: postings first seen, closed or reopened in it, and for the companies
  and sites they touch, one representative of each earlier presence and the roles open during the window.
  The signals are the same as over the full history (a test checks it), at a cost that follows the
  window's activity rather than the size of the history.
- `signals_at(db, as_of, since, cfg)`: both steps together.
- `diff_between(db, start, end)`: opened, reopened, closed and changed roles, grouped by company and market.
- `posting_history(db, ref)`: a posting (by id, URL or external id) with its versions and events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, DateTime, Engine, bindparam, exists, func, or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, TextClause

from infrasignal.config import SignalsConfig
from infrasignal.queries import _places_and_tags, _role_record
from infrasignal.signals import (
    RolePlace,
    RoleRecord,
    Signal,
    SiteKey,
    city_key,
    detect_signals,
    location_keys,
    market_key,
    role_key,
    sites,
)
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


# Role records for signals ------------------------------------------------------------------------------------


def signals_at(
    db: Engine, as_of: datetime, since: datetime | timedelta, cfg: SignalsConfig | None = None
) -> list[Signal]:
    """The signals of the window (since, as_of] from the store, strongest first."""
    as_of = utc_naive(as_of)
    start = as_of - since if isinstance(since, timedelta) else utc_naive(since)
    cfg = cfg or SignalsConfig()
    records = load_roles_history(db, as_of, start, surge_min=cfg.surge_min)
    return detect_signals(records, as_of, start, cfg)


def load_roles_history(
    db: Engine, as_of: datetime, since: datetime | None = None, surge_min: int = 1
) -> list[RoleRecord]:
    """Role records of infra postings and postings with a discipline tag, first seen at or before `as_of`.
    Without `since`: all of them. With `since`: what signals for the window (since, as_of] can need, for
    surges of at least `surge_min` roles (the `[signals]` setting; 1 serves any setting)."""
    as_of = utc_naive(as_of)
    with db.connect() as conn:
        if since is None:
            ids = _all_ids(conn, as_of)
            return _records(conn, ids, reopen_after=None)
        since = utc_naive(since)
        candidates = _records(conn, _window_ids(conn, since, as_of), reopen_after=since)
        if not candidates:
            return []
        context = _context_ids(conn, candidates, since, as_of, surge_min)
        context -= {r.posting_id for r in candidates}
        return candidates + _records(conn, context, reopen_after=since)


def _relevant() -> ColumnElement[bool]:
    has_discipline = exists().where(T.c.posting_id == P.c.id, T.c.kind == "discipline")
    return or_(P.c.infra.is_(True), has_discipline)


def _all_ids(conn: Connection, as_of: datetime) -> set[int]:
    infra = select(P.c.id).where(P.c.infra.is_(True), P.c.first_seen <= as_of)
    tagged = (
        select(T.c.posting_id)
        .join(P, P.c.id == T.c.posting_id)
        .where(T.c.kind == "discipline", P.c.first_seen <= as_of)
    )
    return set(conn.execute(infra).scalars()) | set(conn.execute(tagged).scalars())


def _window_ids(conn: Connection, since: datetime, as_of: datetime) -> set[int]:
    """Postings first seen in the window, and infra postings closed or reopened in it."""
    fresh = select(P.c.id).where(
        P.c.status.in_(("open", "closed")),  # lets SQLite use the (status, first_seen) index
        P.c.first_seen > since,
        P.c.first_seen <= as_of,
        _relevant(),
    )
    moved = (
        select(E.c.posting_id)
        .join(P, P.c.id == E.c.posting_id)
        .where(
            E.c.at > since,
            E.c.at <= as_of,
            E.c.kind.in_(("closed", "reopened")),
            P.c.infra.is_(True),
            P.c.first_seen <= as_of,
        )
    )
    return set(conn.execute(fresh).scalars()) | set(conn.execute(moved).scalars())


def _context_ids(
    conn: Connection, candidates: list[RoleRecord], since: datetime, as_of: datetime, surge_min: int
) -> set[int]:
    """What the window's postings are compared with. For the (company, market) and (company, city) pairs
    where an infra role appeared: one representative of each earlier presence (per discipline and infra
    flag). For the pairs where infra roles closed, or where at least `surge_min` appeared or reopened:
    every infra posting open at some time during the window (counts before and after)."""
    prior_pairs: set[tuple[str, SiteKey]] = set()
    moved: dict[tuple[str, SiteKey], set[str]] = defaultdict(set)
    count_pairs: set[tuple[str, SiteKey]] = set()
    for r in candidates:
        company = r.company.casefold()
        if not r.infra:
            continue
        if not r.baseline and since < r.first_seen <= as_of:
            prior_pairs.update((company, k) for k in location_keys(r))
        closed = r.closed_as_of(as_of)
        for k in sites(r):
            moved[(company, k)].add(role_key(r))
            if closed is not None and since < closed:
                count_pairs.add((company, k))
    count_pairs.update(pair for pair, roles in moved.items() if len(roles) >= surge_min)
    ids: set[int] = set()
    sqlite = conn.dialect.name == "sqlite"
    for source, pairs, grouped in ((_PRIOR, prior_pairs, True), (_DURING, count_pairs, False)):
        if not pairs:
            continue
        companies = {company for company, _ in pairs}
        boards = {
            bid: company.casefold()
            for bid, company in conn.execute(select(B.c.id, B.c.company))
            if company.casefold() in companies
        }
        params = {"boards": sorted(boards), "as_of": as_of, "since": since, "yes": True, "no": False}
        for board_id, market, city, country, pid in conn.execute(
            _sites_query(source, grouped, sqlite), params
        ):
            key = market_key(market) if market is not None else city_key(RolePlace(city, None, country))
            if (boards[board_id], key) in pairs:
                ids.add(pid)
    return ids


# The context queries walk the touched companies' infra (and discipline-tagged) postings from the posting
# side: the `infra` index and the discipline tags. `+p.board_id` and the SQLite index hint stop the planner
# from walking every posting of the boards, or the whole (status, first_seen) index, instead; CROSS JOIN
# keeps SQLite from starting at the market tags (on a big store most postings have one). Each query returns
# one row per (board, site, discipline, infra, has-market) group, so what Python reads stays small.
_PRIOR = """
    SELECT p.id, p.board_id, p.infra FROM posting p {infra_index}
    WHERE p.infra = :yes AND +p.board_id IN :boards AND p.first_seen <= :as_of
      AND (p.baseline = :yes OR p.first_seen <= :since)
    UNION ALL
    SELECT p.id, p.board_id, p.infra FROM posting_tag d CROSS JOIN posting p
    WHERE d.kind = 'discipline' AND p.id = d.posting_id AND p.infra = :no AND +p.board_id IN :boards
      AND p.first_seen <= :as_of AND (p.baseline = :yes OR p.first_seen <= :since)
"""
_DURING = """
    SELECT p.id, p.board_id, p.infra FROM posting p {infra_index}
    WHERE p.status = 'open' AND p.infra = :yes AND +p.board_id IN :boards AND p.first_seen <= :as_of
    UNION ALL
    SELECT p.id, p.board_id, p.infra FROM event e CROSS JOIN posting p
    WHERE e.kind = 'closed' AND e.at > :since AND p.id = e.posting_id AND p.infra = :yes
      AND +p.board_id IN :boards AND p.first_seen <= :as_of
"""


_GROUPED_SITES = """
    WITH s AS MATERIALIZED ({source})
    SELECT s.board_id, t.value, NULL, NULL, MIN(s.id)
    FROM s CROSS JOIN posting_tag t
    LEFT JOIN posting_tag d ON d.posting_id = s.id AND d.kind = 'discipline'
    WHERE t.posting_id = s.id AND t.kind = 'market'
    GROUP BY s.board_id, t.value, d.value, s.infra
    UNION ALL
    SELECT s.board_id, NULL, pl.city, pl.country, MIN(s.id)
    FROM s CROSS JOIN posting_place pl
    LEFT JOIN posting_tag d ON d.posting_id = s.id AND d.kind = 'discipline'
    LEFT JOIN posting_tag m ON m.posting_id = s.id AND m.kind = 'market'
    WHERE pl.posting_id = s.id AND pl.city IS NOT NULL AND pl.remote = :no
    GROUP BY s.board_id, pl.city, pl.country, d.value, s.infra, m.posting_id IS NULL
"""
_ALL_SITES = """
    WITH s AS MATERIALIZED ({source})
    SELECT s.board_id, t.value, NULL, NULL, s.id
    FROM s CROSS JOIN posting_tag t WHERE t.posting_id = s.id AND t.kind = 'market'
    UNION ALL
    SELECT s.board_id, NULL, pl.city, pl.country, s.id
    FROM s CROSS JOIN posting_place pl WHERE pl.posting_id = s.id AND pl.city IS NOT NULL AND pl.remote = :no
"""


@lru_cache(maxsize=8)
def _sites_query(source: str, grouped: bool, sqlite: bool) -> TextClause:
    """(board, market, city, country, id) rows, one per market and per city of the postings `source`
    selects: all of them, or (`grouped`) the lowest id per board, site, discipline, infra flag and (for
    cities) whether the posting has a market, which decides the site its disciplines count for."""
    source = source.format(infra_index="INDEXED BY ix_posting_infra" if sqlite else "")
    sql = (_GROUPED_SITES if grouped else _ALL_SITES).format(source=source)
    return text(sql).bindparams(
        bindparam("boards", expanding=True),
        bindparam("as_of", type_=DateTime()),  # typed, so times compare in the stored format
        bindparam("since", type_=DateTime()),
        bindparam("yes", type_=Boolean()),
        bindparam("no", type_=Boolean()),
    )


def _records(conn: Connection, ids: Iterable[int], reopen_after: datetime | None) -> list[RoleRecord]:
    """Build role records for these posting ids (dropping postings neither infra nor discipline-tagged)."""
    ids = sorted(ids)
    if not ids:
        return []
    rows: dict[int, Any] = {}
    tags: dict[int, dict[str, list[str]]] = defaultdict(lambda: {"discipline": [], "market": []})
    places: dict[int, list[RolePlace]] = defaultdict(list)
    cols = (
        P.c.id,
        P.c.title,
        P.c.url,
        P.c.first_seen,
        P.c.closed_at,
        P.c.baseline,
        P.c.infra,
        P.c.requisition_id,
    )
    row_stmt = (
        select(*cols, B.c.company, B.c.name)
        .join(B, B.c.id == P.c.board_id)
        .where(P.c.id.in_(bindparam("ids", expanding=True)))
    )
    tag_stmt = (
        select(T.c.posting_id, T.c.kind, T.c.value)
        .where(T.c.posting_id.in_(bindparam("ids", expanding=True)), T.c.kind.in_(("discipline", "market")))
        .order_by(T.c.id)
    )
    place_stmt = (
        select(PL.c.posting_id, PL.c.city, PL.c.region, PL.c.country, PL.c.remote)
        .where(PL.c.posting_id.in_(bindparam("ids", expanding=True)))
        .order_by(PL.c.id)
    )
    for chunk in _chunks(ids):
        for r in conn.execute(row_stmt, {"ids": chunk}):
            rows[r.id] = r
        for pid, kind, value in conn.execute(tag_stmt, {"ids": chunk}):
            tags[pid][kind].append(value)
        for pid, city, region, country, remote in conn.execute(place_stmt, {"ids": chunk}):
            places[pid].append(RolePlace(city, region, country, bool(remote)))
    reopens = _reopens(conn, ids, reopen_after)
    out = []
    for pid, r in rows.items():
        t = tags.get(pid, {"discipline": [], "market": []})
        if not (r.infra or t["discipline"]):
            continue
        out.append(
            RoleRecord(
                posting_id=pid,
                company=r.company,
                board=r.name,
                title=r.title,
                url=r.url,
                first_seen=r.first_seen,
                closed_at=r.closed_at,
                baseline=bool(r.baseline),
                infra=bool(r.infra),
                disciplines=tuple(dict.fromkeys(t["discipline"])),
                markets=tuple(dict.fromkeys(t["market"])),
                places=tuple(places.get(pid, ())),
                requisition_id=r.requisition_id,
                reopens=reopens.get(pid, ()),
            )
        )
    return out


def _reopens(
    conn: Connection, ids: Sequence[int], after: datetime | None
) -> dict[int, tuple[tuple[datetime, datetime], ...]]:
    """Earlier (closed, reopened) periods of postings that were reopened after `after` (or ever, if None).
    Without a reopening after a time, a posting's state at that time follows from `closed_at` alone."""
    stmt = select(E.c.posting_id).where(E.c.kind == "reopened")
    if after is not None:
        stmt = stmt.where(E.c.at > after)
    wanted = set(conn.execute(stmt).scalars()) & set(ids)
    out: dict[int, tuple[tuple[datetime, datetime], ...]] = {}
    for chunk in _chunks(sorted(wanted)):
        events = conn.execute(
            select(E.c.posting_id, E.c.at, E.c.kind)
            .where(E.c.posting_id.in_(chunk), E.c.kind.in_(("closed", "reopened")))
            .order_by(E.c.posting_id, E.c.at, E.c.id)
        )
        open_close: dict[int, datetime] = {}
        spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        for pid, at, kind in events:
            if kind == "closed":
                open_close[pid] = at
            elif pid in open_close:
                spans[pid].append((open_close.pop(pid), at))
        out.update({pid: tuple(s) for pid, s in spans.items()})
    return out


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
        record = _role_record(r, places.get(r.id, []), tags.get(r.id, {}))
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
            select(*P.c, B.c.company, B.c.ats, B.c.name).join(B, B.c.id == P.c.board_id).where(P.c.id == pid)
        ).one()
        places, tags = _places_and_tags(conn, [pid])
        versions = conn.execute(select(V).where(V.c.posting_id == pid).order_by(V.c.at, V.c.id)).all()
        events = conn.execute(
            select(E.c.at, E.c.kind, E.c.detail).where(E.c.posting_id == pid).order_by(E.c.at, E.c.id)
        ).all()
    posting = _role_record(row, places.get(pid, []), tags.get(pid, {}))
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
