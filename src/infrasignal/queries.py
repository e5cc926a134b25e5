"""Read-side queries over the store: roles with their tags, board health, and the events of a window.
SQL in, plain dicts out (the JSON contract of DESIGN.md); no printing here. Reads go through `reader.py`,
so on SQLite these queries never import SQLAlchemy; `db` is a `reader.Reader`, or a SQLAlchemy Engine or
Connection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infrasignal.reader import Reader, as_time, reading
from infrasignal.seen import LAST_SEEN_SQL
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


# The posting columns a role record shows (not the description), then its board's.
ROLE_COLUMNS = (
    "id",
    "external_id",
    "title",
    "url",
    "department",
    "location",
    "status",
    "first_seen",
    "last_seen",
    "closed_at",
    "posted_at",
    "infra",
    "unresolved_locations",
    "requisition_id",
)
# `last_seen` by the rule of seen.py (a not-modified answer is recorded on the board, not in each posting).
_SELECT_ROLE = (
    ", ".join(f"({LAST_SEEN_SQL})" if c == "last_seen" else f"p.{c}" for c in ROLE_COLUMNS)
    + ", b.company, b.ats, b.name"
)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def role_conditions(f: RoleFilter) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions over `posting p JOIN board b` for the filter, and their parameters."""
    conds: list[str] = []
    params: dict[str, Any] = {"yes": True}
    if f.status != "all":
        conds.append("p.status = :status")
        params["status"] = f.status
    if f.company:
        conds.append("lower(b.company) = :company")
        params["company"] = f.company.strip().lower()
    if f.since is not None:
        conds.append("p.first_seen >= :since")
        params["since"] = f.since
    if f.infra:
        conds.append("p.infra = :yes")
    if f.city:
        # Postings the classifier could not place fall back to the raw location text.
        conds.append(
            "(EXISTS (SELECT 1 FROM posting_place pl WHERE pl.posting_id = p.id AND lower(pl.city) = :city)"
            " OR (NOT EXISTS (SELECT 1 FROM posting_place pl WHERE pl.posting_id = p.id)"
            " AND lower(p.location) LIKE :city_text ESCAPE '\\'))"
        )
        params["city"] = f.city.strip().lower()
        params["city_text"] = f"%{_escape_like(f.city.strip().lower())}%"
    if f.country:
        conds.append(
            "EXISTS (SELECT 1 FROM posting_place pl WHERE pl.posting_id = p.id AND lower(pl.country) = :country)"
        )
        params["country"] = f.country.strip().lower()
    if f.market:
        conds.append(
            "EXISTS (SELECT 1 FROM posting_tag t WHERE t.posting_id = p.id AND t.kind IN :market_kinds"
            " AND lower(t.value) = :market)"
        )
        params["market_kinds"] = ["market", "covered_market"] if f.include_covered else ["market"]
        params["market"] = f.market.strip().lower()
    wanted = [d.strip().lower() for d in f.disciplines if d.strip()]
    if wanted:
        conds.append(
            "EXISTS (SELECT 1 FROM posting_tag t WHERE t.posting_id = p.id AND t.kind = 'discipline'"
            " AND t.value IN :disciplines)"
        )
        params["disciplines"] = wanted
    return conds, params


def roles(db: Any, f: RoleFilter) -> list[dict[str, Any]]:
    """Postings matching the filter, newest first, in the JSON shape of DESIGN.md."""
    conds, params = role_conditions(f)
    with reading(db) as r:
        # Without statistics SQLite may walk every open posting by (status, first_seen) and read each row's
        # infra flag; the infra index gives the same order, and only the infra roles.
        hint = "INDEXED BY ix_posting_infra_roles " if r.sqlite and f.infra and f.status != "all" else ""
        sql = f"SELECT {_SELECT_ROLE} FROM posting p {hint}JOIN board b ON b.id = p.board_id"
        return _roles(r, f, sql, conds, params)


def _roles(
    r: Reader, f: RoleFilter, sql: str, conds: list[str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    sql += " ORDER BY p.first_seen DESC, p.id DESC"
    if f.limit:
        sql += " LIMIT :limit"
        params["limit"] = f.limit
    names = (*ROLE_COLUMNS, "company", "ats", "name")
    rows = [dict(zip(names, row, strict=True)) for row in r.rows(sql, params)]
    places, tags = _places_and_tags(r, [row["id"] for row in rows])
    return [_role_record(row, places.get(row["id"], []), tags.get(row["id"], {})) for row in rows]


def _places_and_tags(
    db: Any, ids: Sequence[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, dict[str, list[str]]]]:
    """Each posting's places and its tags by kind, in stored order."""
    places: dict[int, list[dict[str, Any]]] = defaultdict(list)
    tags: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with reading(db) as r:
        for i in range(0, len(ids), 900):  # under every database's bound-parameter limit
            chunk = list(ids[i : i + 900])
            for pid, city, region, country, remote in r.rows(
                "SELECT posting_id, city, region, country, remote FROM posting_place"
                " WHERE posting_id IN :ids ORDER BY id",
                {"ids": chunk},
            ):
                places[pid].append(
                    {"city": city, "region": region, "country": country, "remote": bool(remote)}
                )
            for pid, kind, value in r.rows(
                "SELECT posting_id, kind, value FROM posting_tag WHERE posting_id IN :ids ORDER BY id",
                {"ids": chunk},
            ):
                tags[pid][kind].append(value)
    return places, tags


def _role_record(
    r: Mapping[str, Any], places: list[dict[str, Any]], tags: dict[str, list[str]]
) -> dict[str, Any]:
    """A role in the JSON shape of DESIGN.md, from a row with the ROLE_COLUMNS and company, ats, name."""
    return {
        "id": r["id"],
        "company": r["company"],
        "board": r["name"],
        "ats": r["ats"],
        "external_id": r["external_id"],
        "title": r["title"],
        "url": r["url"],
        "department": r["department"],
        "location": r["location"],
        "status": r["status"],
        "first_seen": iso(as_time(r["first_seen"])),
        "last_seen": iso(as_time(r["last_seen"])),
        "closed_at": iso(as_time(r["closed_at"])),
        "posted_at": iso(as_time(r["posted_at"])),
        "infra": bool(r["infra"]),
        "disciplines": list(tags.get("discipline", [])),
        "markets": list(tags.get("market", [])),
        "covered_markets": list(tags.get("covered_market", [])),
        "locations": places,
        "unresolved_locations": bool(r["unresolved_locations"]),
        "requisition_id": r["requisition_id"],
    }


def boards_health(db: Any) -> list[dict[str, Any]]:
    """Each board: last success, last error, open postings, quarantine, last fetch rule."""
    # "fetch" is quoted: a reserved word in PostgreSQL
    sql = """
        SELECT b.name, b.company, b.ats, b.token, b.url, b.last_success_at, b.last_error_at, b.last_error,
               b.baseline_at, b.suspect_since, b.suspect_reason,
               (SELECT count(*) FROM posting p WHERE p.board_id = b.id AND p.status = 'open'),
               f.status, f.rule, f.at
        FROM board b
        LEFT JOIN "fetch" f ON f.id = (SELECT max(l.id) FROM "fetch" l WHERE l.board_id = b.id)
        ORDER BY b.name
    """
    with reading(db) as r:
        rows = r.rows(sql)
    return [
        {
            "board": name,
            "company": company,
            "ats": ats,
            "token": token or url,
            "open": int(n_open),
            "last_fetch_at": iso(as_time(fetched_at)),
            "last_status": status,
            "last_rule": rule,
            "last_success_at": iso(as_time(success_at)),
            "last_error_at": iso(as_time(error_at)),
            "last_error": error,
            "baseline_at": iso(as_time(baseline_at)),
            "quarantined": suspect_since is not None,
            "quarantine_reason": suspect_reason,
        }
        for (
            name,
            company,
            ats,
            token,
            url,
            success_at,
            error_at,
            error,
            baseline_at,
            suspect_since,
            suspect_reason,
            n_open,
            status,
            rule,
            fetched_at,
        ) in rows
    ]


def events_between(
    db: Any, start: datetime, end: datetime, kinds: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Lifecycle events (new, changed, closed, reopened; baseline only when asked) with start < at <= end."""
    sql = f"""
        SELECT e.at, e.kind, e.detail, {_SELECT_ROLE}
        FROM event e JOIN posting p ON p.id = e.posting_id JOIN board b ON b.id = e.board_id
        WHERE e.at > :start AND e.at <= :end AND e.kind IN :kinds
        ORDER BY b.company, e.kind, p.title
    """
    names = ("at", "kind", "detail", *ROLE_COLUMNS, "company", "ats", "name")
    params = {"start": start, "end": end, "kinds": list(kinds or ("new", "changed", "closed", "reopened"))}
    with reading(db) as r:
        rows = [dict(zip(names, row, strict=True)) for row in r.rows(sql, params)]
        places, tags = _places_and_tags(r, [row["id"] for row in rows])
    out = []
    for row in rows:
        record = _role_record(row, places.get(row["id"], []), tags.get(row["id"], {}))
        record.update(event=row["kind"], event_at=iso(as_time(row["at"])), changed_fields=row["detail"])
        out.append(record)
    return out
