"""Gather a `report.ReportData` for one period from the store (read-only): the signals of the window
(`history.signals_at`), the infra roles that opened and closed (`history.diff_between`), open infra roles
per company and market at the start and end of the window (rebuilt from the event history), and the data
gaps (the `fetch` table: failed, incomplete or quarantined fetches, and boards not fetched at all).

Reads [signals] (thresholds) and the configured boards (which boards the report covers).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from infrasignal.config import Config
from infrasignal.periods import Period
from infrasignal.report import DataGap, Evidence, OpenCount, ReportData, RoleChange, SignalItem
from infrasignal.tables import Board, Event, Fetch, Posting, PostingTag
from infrasignal.timeutil import iso

P = Posting.__table__
T = PostingTag.__table__
E = Event.__table__
OPENING = ("baseline", "new", "reopened")
LIFECYCLE = (*OPENING, "closed")


def gather(db: Engine, cfg: Config, period: Period, now: datetime) -> ReportData:
    """Everything the report shows for `period`, as plain data."""
    boards = _boards(db, cfg)
    stored = {b.name for b in boards.values()}
    never = [b for b in cfg.boards if b.enabled and b.label not in stored]
    companies = {b.company.casefold() for b in boards.values()}

    def covered(company: str) -> bool:  # boards dropped from the config are left out of the report
        return not cfg.boards or company.casefold() in companies

    opened, closed = _changes(db, period)
    counts, total, change = _open_counts(db, period, boards)
    return ReportData(
        period=period,
        generated_at=now,
        signals=[s for s in _signals(db, cfg, period) if covered(s.company)],
        opened=[r for r in opened if covered(r.company)],
        closed=[r for r in closed if covered(r.company)],
        open_roles=counts,
        open_total=total,
        open_change=change,
        gaps=_gaps(db, period, boards)
        + [DataGap(b.label, b.company, "not_fetched", "never fetched") for b in never],
        boards=len(boards) + len(never),
        new_boards=sorted(
            b.name for b in boards.values() if b.baseline_at and period.start < b.baseline_at <= period.end
        ),
    )


@dataclass(frozen=True, slots=True)
class _Board:
    id: int
    name: str
    company: str
    created_at: datetime
    baseline_at: datetime | None
    suspect_since: datetime | None
    suspect_reason: str | None


def _boards(db: Engine, cfg: Config) -> dict[int, _Board]:
    """The boards the report covers: the enabled boards of the config (all stored boards when the config
    lists none, e.g. a database copied for reporting only)."""
    wanted = {b.label for b in cfg.boards if b.enabled}
    with db.connect() as conn:
        rows = conn.execute(
            select(
                Board.id,
                Board.name,
                Board.company,
                Board.created_at,
                Board.baseline_at,
                Board.suspect_since,
                Board.suspect_reason,
            )
        ).all()
    return {r.id: _Board(*r) for r in rows if not wanted or r.name in wanted}


def _signals(db: Engine, cfg: Config, period: Period) -> list[SignalItem]:
    from infrasignal.history import signals_at

    out = []
    for signal in signals_at(db, period.end, period.start, cfg.signals):
        d: dict[str, Any] = signal.to_dict()
        out.append(
            SignalItem(
                kind=str(d.get("kind") or ""),
                company=str(d.get("company") or ""),
                summary=str(d.get("summary") or ""),
                market=d.get("market"),
                city=d.get("city"),
                country=d.get("country"),
                discipline=d.get("discipline"),
                first_seen=d.get("first_seen"),
                score=float(d.get("score") or 0.0),
                evidence=tuple(
                    Evidence(str(p.get("title") or ""), str(p.get("url") or ""), p.get("first_seen"))
                    for p in d.get("postings") or []
                ),
            )
        )
    return out


def _changes(db: Engine, period: Period) -> tuple[list[RoleChange], list[RoleChange]]:
    """Infra roles opened (new or reopened) and closed in the window; copies of one role are one entry."""
    from infrasignal.history import diff_between

    diff = diff_between(db, period.start, period.end, infra_only=True)
    opened: list[RoleChange] = []
    closed: list[RoleChange] = []
    for group in diff["groups"]:
        market = group.get("market")
        opened += [_role_change(e, "new", market) for e in group.get("opened", [])]
        opened += [_role_change(e, "reopened", market) for e in group.get("reopened", [])]
        closed += [_role_change(e, "closed", market) for e in group.get("closed", [])]
    return opened, closed


def _role_change(e: dict[str, Any], event: str, market: str | None) -> RoleChange:
    return RoleChange(
        company=str(e.get("company") or ""),
        title=str(e.get("title") or ""),
        event=event,
        at=e.get("at"),
        market=market,
        url=str(e.get("url") or ""),
        where=_where(e),
        disciplines=tuple(e.get("disciplines") or ()),
    )


def _where(r: dict[str, Any]) -> str:
    places = r.get("locations") or []
    parts = []
    for p in places:
        text = ", ".join(x for x in (p.get("city"), p.get("country")) if x)
        parts.append(
            f"Remote ({text})" if p.get("remote") and text else ("Remote" if p.get("remote") else text)
        )
    return "; ".join(x for x in parts if x) or str(r.get("location") or "")


def _open_counts(
    db: Engine, period: Period, boards: dict[int, _Board]
) -> tuple[list[OpenCount], int, int | None]:
    """Open infra roles per (company, market) at the end and at the start of the period, rebuilt from the
    lifecycle events (a posting is open at T when its last baseline / new / reopened / closed event at or
    before T is not a closing). Boards first fetched within the period have nothing to compare with."""
    with db.connect() as conn:
        postings = {
            r.id: r.board_id
            for r in conn.execute(select(P.c.id, P.c.board_id).where(P.c.infra.is_(True)))
            if r.board_id in boards
        }
        markets: dict[int, list[str]] = defaultdict(list)
        for t in conn.execute(select(T.c.posting_id, T.c.value).where(T.c.kind == "market")):
            if t.posting_id in postings:
                markets[t.posting_id].append(t.value)
        events = conn.execute(
            select(E.c.posting_id, E.c.at, E.c.kind)
            .where(E.c.at <= period.end, E.c.kind.in_(LIFECYCLE))
            .order_by(E.c.at, E.c.id)
        ).all()
    at_end: dict[int, bool] = {}
    at_start: dict[int, bool] = {}
    for e in events:
        if e.posting_id not in postings:
            continue
        at_end[e.posting_id] = e.kind in OPENING
        if e.at <= period.start:
            at_start[e.posting_id] = e.kind in OPENING
    fresh = {bid for bid, b in boards.items() if b.baseline_at is None or b.baseline_at > period.start}
    now_counts: dict[tuple[str, str | None], int] = defaultdict(int)
    before_counts: dict[tuple[str, str | None], int] = defaultdict(int)
    unknown: set[tuple[str, str | None]] = set()
    total = total_before = total_now_known = 0
    for pid, board_id in postings.items():
        company = boards[board_id].company
        names: list[str | None] = list(dict.fromkeys(markets.get(pid, [])))
        keys = [(company, m) for m in names or [None]]
        is_fresh = board_id in fresh
        if at_end.get(pid):
            total += 1
            total_now_known += 0 if is_fresh else 1
            for k in keys:
                now_counts[k] += 1
        for k in keys:
            if is_fresh:
                unknown.add(k)
            elif at_start.get(pid):
                before_counts[k] += 1
        if at_start.get(pid) and not is_fresh:
            total_before += 1
    counts = [
        OpenCount(
            company, market, n, None if (company, market) in unknown else before_counts[(company, market)]
        )
        for (company, market), n in now_counts.items()
    ]
    counts += [
        OpenCount(company, market, 0, n)
        for (company, market), n in before_counts.items()
        if n and (company, market) not in now_counts
    ]
    change = total_now_known - total_before if len(fresh) < len(boards) else None
    return counts, total, change


def _gaps(db: Engine, period: Period, boards: dict[int, _Board]) -> list[DataGap]:
    """Boards whose data for the period cannot be trusted in full."""
    with db.connect() as conn:
        fetches = conn.execute(
            select(Fetch.board_id, Fetch.at, Fetch.status, Fetch.rule, Fetch.error)
            .where(Fetch.at > period.start, Fetch.at <= period.end)
            .order_by(Fetch.at, Fetch.id)
        ).all()
    by_board: dict[int, list[Any]] = defaultdict(list)
    for f in fetches:
        by_board[f.board_id].append(f)
    gaps = []
    for bid, b in sorted(boards.items(), key=lambda kv: kv[1].name.lower()):
        mine = by_board.get(bid, [])
        failed = [f for f in mine if f.status == "failed"]
        incomplete = [f for f in mine if f.rule == "incomplete"]
        suspect = [f for f in mine if f.rule == "suspect"]
        if (b.suspect_since is not None and b.suspect_since <= period.end) or suspect:
            since = b.suspect_since or suspect[0].at
            reason = b.suspect_reason or "a sudden drop in postings, waiting for the next fetch to confirm"
            gaps.append(DataGap(b.name, b.company, "quarantined", reason, iso(since), len(failed), len(mine)))
        elif failed:
            last = failed[-1]
            gaps.append(
                DataGap(b.name, b.company, "failed", last.error or "", iso(last.at), len(failed), len(mine))
            )
        elif incomplete:
            detail = "the board could not be listed in full; nothing was closed on it"
            gaps.append(
                DataGap(b.name, b.company, "incomplete", detail, iso(incomplete[-1].at), 0, len(mine))
            )
        elif not mine and b.created_at <= period.end:
            gaps.append(DataGap(b.name, b.company, "not_fetched", "no fetch in this period", None, 0, 0))
    return gaps
