"""Read-side queries over the store: roles with their tags, and board health. Pure SQL in, plain dicts out
(the JSON contract of DESIGN.md); no printing here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_, select

from infrasignal.tables import Board, Fetch, Posting, PostingPlace, PostingTag
from infrasignal.timeutil import iso


@dataclass(slots=True)
class RoleFilter:
    city: str | None = None
    country: str | None = None  # ISO2 (the CLI resolves names first)
    market: str | None = None  # canonical market name (the CLI resolves aliases first)
    include_covered: bool = False
    company: str | None = None
    disciplines: list[str] = field(default_factory=list)
    infra: bool = False
    status: str = "open"  # open | closed | all
    since: datetime | None = None  # first seen at or after
    limit: int | None = None


def _like(column: Any, value: str) -> Any:
    return func.lower(column) == value.strip().lower()


def role_conditions(f: RoleFilter) -> list[Any]:
    conds: list[Any] = []
    if f.status != "all":
        conds.append(Posting.status == f.status)
    if f.company:
        conds.append(func.lower(Board.company) == f.company.strip().lower())
    if f.since is not None:
        conds.append(Posting.first_seen >= f.since)
    if f.infra:
        conds.append(Posting.infra.is_(True))
    no_places = ~exists().where(PostingPlace.posting_id == Posting.id)
    if f.city:
        city_match = exists().where(PostingPlace.posting_id == Posting.id, _like(PostingPlace.city, f.city))
        # Postings the classifier could not place fall back to the raw location text.
        raw = and_(no_places, Posting.location.ilike(f"%{f.city.strip()}%"))
        conds.append(or_(city_match, raw))
    if f.country:
        country_match = exists().where(
            PostingPlace.posting_id == Posting.id, _like(PostingPlace.country, f.country)
        )
        conds.append(country_match)
    if f.market:
        kinds = ["market", "covered_market"] if f.include_covered else ["market"]
        conds.append(
            exists().where(
                PostingTag.posting_id == Posting.id,
                PostingTag.kind.in_(kinds),
                _like(PostingTag.value, f.market),
            )
        )
    for_disc = [d.strip().lower() for d in f.disciplines if d.strip()]
    if for_disc:
        conds.append(
            exists().where(
                PostingTag.posting_id == Posting.id,
                PostingTag.kind == "discipline",
                PostingTag.value.in_(for_disc),
            )
        )
    return conds


def roles(db: Engine, f: RoleFilter) -> list[dict[str, Any]]:
    """Postings matching the filter, newest first, in the JSON shape of DESIGN.md."""
    stmt = (
        select(*Posting.__table__.c, Board.company, Board.ats, Board.name)
        .join(Board, Board.id == Posting.board_id)
        .where(*role_conditions(f))
        .order_by(Posting.first_seen.desc(), Posting.id.desc())
    )
    if f.limit:
        stmt = stmt.limit(f.limit)
    with db.connect() as conn:
        rows = conn.execute(stmt).all()
        ids = [r.id for r in rows]
        places, tags = _places_and_tags(conn, ids)
    return [_role_record(r, places.get(r.id, []), tags.get(r.id, {})) for r in rows]


def _places_and_tags(
    conn: Any, ids: Sequence[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, dict[str, list[str]]]]:
    places: dict[int, list[dict[str, Any]]] = defaultdict(list)
    tags: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        for p in conn.execute(
            select(PostingPlace).where(PostingPlace.posting_id.in_(chunk)).order_by(PostingPlace.id)
        ):
            places[p.posting_id].append(
                {"city": p.city, "region": p.region, "country": p.country, "remote": bool(p.remote)}
            )
        for t in conn.execute(
            select(PostingTag.posting_id, PostingTag.kind, PostingTag.value)
            .where(PostingTag.posting_id.in_(chunk))
            .order_by(PostingTag.id)
        ):
            tags[t.posting_id][t.kind].append(t.value)
    return places, tags


def _role_record(r: Any, places: list[dict[str, Any]], tags: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "id": r.id,
        "company": r.company,
        "board": r.name,
        "ats": r.ats,
        "external_id": r.external_id,
        "title": r.title,
        "url": r.url,
        "department": r.department,
        "location": r.location,
        "status": r.status,
        "first_seen": iso(r.first_seen),
        "last_seen": iso(r.last_seen),
        "closed_at": iso(r.closed_at),
        "posted_at": iso(r.posted_at),
        "infra": bool(r.infra),
        "disciplines": list(tags.get("discipline", [])),
        "markets": list(tags.get("market", [])),
        "covered_markets": list(tags.get("covered_market", [])),
        "locations": places,
        "unresolved_locations": bool(r.unresolved_locations),
        "requisition_id": r.requisition_id,
    }


def boards_health(db: Engine) -> list[dict[str, Any]]:
    """Each board: last success, last error, open postings, quarantine, last fetch rule."""
    open_counts = (
        select(Posting.board_id, func.count().label("n"))
        .where(Posting.status == "open")
        .group_by(Posting.board_id)
        .subquery()
    )
    last_fetch = (
        select(Fetch.board_id, func.max(Fetch.id).label("last_id")).group_by(Fetch.board_id).subquery()
    )
    stmt = (
        select(
            *Board.__table__.c,
            func.coalesce(open_counts.c.n, 0).label("open"),
            Fetch.status,
            Fetch.rule,
            Fetch.at,
        )
        .outerjoin(open_counts, open_counts.c.board_id == Board.id)
        .outerjoin(last_fetch, last_fetch.c.board_id == Board.id)
        .outerjoin(Fetch, Fetch.id == last_fetch.c.last_id)
        .order_by(Board.name)
    )
    with db.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "board": r.name,
            "company": r.company,
            "ats": r.ats,
            "token": r.token or r.url,
            "open": int(r.open),
            "last_fetch_at": iso(r.at),
            "last_status": r.status,
            "last_rule": r.rule,
            "last_success_at": iso(r.last_success_at),
            "last_error_at": iso(r.last_error_at),
            "last_error": r.last_error,
            "baseline_at": iso(r.baseline_at),
            "quarantined": r.suspect_since is not None,
            "quarantine_reason": r.suspect_reason,
        }
        for r in rows
    ]


def events_between(
    db: Engine, start: datetime, end: datetime, kinds: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Lifecycle events (new, changed, closed, reopened; baseline only when asked) with start < at <= end."""
    from infrasignal.tables import Event

    kinds = list(kinds or ("new", "changed", "closed", "reopened"))
    stmt = (
        select(Event.at, Event.kind, Event.detail, *Posting.__table__.c, Board.company, Board.ats, Board.name)
        .join(Posting, Posting.id == Event.posting_id)
        .join(Board, Board.id == Event.board_id)
        .where(Event.at > start, Event.at <= end, Event.kind.in_(kinds))
        .order_by(Board.company, Event.kind, Posting.title)
    )
    with db.connect() as conn:
        rows = conn.execute(stmt).all()
        places, tags = _places_and_tags(conn, [r.id for r in rows])
    out = []
    for r in rows:
        record = _role_record(r, places.get(r.id, []), tags.get(r.id, {}))
        record.update(event=r.kind, event_at=iso(r.at), changed_fields=r.detail)
        out.append(record)
    return out
