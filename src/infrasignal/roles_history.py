"""Role records for signal detection, read from the store (`signals.RoleRecord`s), and the signals of a
window. Database reads only, through `reader.py` (no SQLAlchemy import on SQLite, so `infrasignal signals`
starts fast); the decisions live in `signals.py` (pure).

- `load_roles_history(db, as_of, since=None)`: without `since`, every infra or discipline-tagged posting
  first seen by `as_of`. With `since`, only what the window (since, as_of] can need: postings first seen,
  closed or reopened in it; for the companies and sites they touch, a representative of each earlier
  presence (from the `site_presence` summary, presence.py); and where roles closed or surged, the other
  roles open during the window, counted (`signals.Counted`: role keys open at the window's start and end
  per site) rather than built as records. The signals are the same as over the full history (a test
  checks it), at a cost that follows the window's activity rather than the size of the history.
- `signals_at(db, as_of, since, cfg)`: both steps together.

`db` is a `reader.Reader`, or a SQLAlchemy Engine or Connection.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from infrasignal.config import SignalsConfig
from infrasignal.reader import Reader, as_time, reading
from infrasignal.signals import (
    Counted,
    Presence,
    RolePlace,
    RoleRecord,
    Signal,
    SiteKey,
    city_key_of,
    detect_signals,
    market_key,
)
from infrasignal.timeutil import naive_utc

CHUNK = 900  # ids per IN (...) list: under every database's bound-parameter limit
FLAGS = {"yes": True, "no": False}


def signals_at(
    db: Any, as_of: datetime, since: datetime | timedelta, cfg: SignalsConfig | None = None
) -> list[Signal]:
    """The signals of the window (since, as_of] from the store, strongest first."""
    as_of = naive_utc(as_of)
    start = as_of - since if isinstance(since, timedelta) else naive_utc(since)
    cfg = cfg or SignalsConfig()
    with _collector_paused():
        records, presence, counted = load_window(db, as_of, start, surge_min=cfg.surge_min)
        found = detect_signals(records, as_of, start, cfg, presence, counted)
        # Freed now, by reference counting: the collector, resumed, walks only the signals (it would walk
        # every record of the window once more, 8 ms on a 1M-posting store, if they were still alive).
        del records, presence, counted
    return found


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block. A window's records and signals are tens of
    thousands of objects without reference cycles; while they are built, the collector would walk them, and
    every object the program made before, again and again (26 ms of `signals` on a 1M-posting store)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_roles_history(db: Any, as_of: datetime) -> list[RoleRecord]:
    """Role records of every infra posting and posting with a discipline tag first seen by `as_of`."""
    with reading(db) as r:
        return _records(r, _all_ids(r, naive_utc(as_of)), reopen_after=None)


def load_window(
    db: Any, as_of: datetime, since: datetime, surge_min: int = 1
) -> tuple[list[RoleRecord], list[Presence], dict[str, Counted]]:
    """What signals for the window (since, as_of] need, for surges of at least `surge_min` roles (the
    `[signals]` setting; 1 serves any setting): the candidates' role records, earlier presence, and the
    roles that only count (by casefolded company), the arguments of `detect_signals`."""
    as_of, since = naive_utc(as_of), naive_utc(since)
    with reading(db) as r:
        candidates = _records(r, _window_ids(r, since, as_of), reopen_after=since)
        if not candidates:
            return [], [], {}
        presence, counted = _context(r, candidates, since, as_of, surge_min)
        return candidates, presence, counted


def _all_ids(r: Reader, as_of: datetime) -> set[int]:
    sql = """
        SELECT id FROM posting WHERE infra = :yes AND first_seen <= :as_of
        UNION
        SELECT t.posting_id FROM posting_tag t JOIN posting p ON p.id = t.posting_id
        WHERE t.kind = 'discipline' AND p.first_seen <= :as_of
    """
    return {pid for (pid,) in r.rows(sql, FLAGS | {"as_of": as_of})}


def _window_ids(r: Reader, since: datetime, as_of: datetime) -> set[int]:
    """Postings first seen in the window, and infra postings closed or reopened in it."""
    return {pid for (pid,) in r.rows(_window_sql(r.sqlite), FLAGS | {"since": since, "as_of": as_of})}


# Both halves read only indexes: a posting's row holds its description before the flags, so reading a flag
# from the row walks the whole description. `infra IN (...)` lets SQLite range over (status, infra,
# first_seen); the index hint checks a closed role's infra flag by seeking the infra index. A role closed
# or reopened in the window was first seen before it, so `first_seen` needs no check there.
_WINDOW = """
    SELECT p.id FROM posting p
    WHERE p.status IN ('open', 'closed') AND p.infra IN (:yes, :no)
      AND p.first_seen > :since AND p.first_seen <= :as_of
      AND (p.infra = :yes OR EXISTS (
            SELECT 1 FROM posting_tag t WHERE t.posting_id = p.id AND t.kind = 'discipline'))
    UNION
    SELECT e.posting_id FROM event e
    WHERE e.at > :since AND e.at <= :as_of AND e.kind IN ('closed', 'reopened')
      AND EXISTS (SELECT 1 FROM posting p {infra_index} WHERE p.infra = :yes AND p.id = e.posting_id)
"""


def _window_sql(sqlite: bool) -> str:
    return _WINDOW.format(infra_index="INDEXED BY ix_posting_infra" if sqlite else "")


def _context(
    r: Reader, candidates: list[RoleRecord], since: datetime, as_of: datetime, surge_min: int
) -> tuple[list[Presence], dict[str, Counted]]:
    """What the window's postings are compared with.

    - For the (company, market) and (company, city) pairs where an infra role appeared: the company's
      earlier presence there (per discipline and infra flag), from `site_presence`.
    - For the pairs where infra roles closed, or where at least `surge_min` appeared or reopened: every
      infra posting open at some time during the window that is not a candidate, counted (`Counted`: the
      role keys open at the window's start and end per site) rather than built as records. Every
      posting a signal can cite is a candidate, read in full (a role open during the window that is
      not one neither appeared, closed nor reopened in it), and earlier disciplines come from the
      presence."""
    prior_pairs: dict[tuple[str, SiteKey], RolePlace | str] = {}
    moved: dict[tuple[str, SiteKey], set[str]] = defaultdict(set)
    count_pairs: set[tuple[str, SiteKey]] = set()
    for c in candidates:
        company = c.company.casefold()
        if not c.infra:
            continue
        if not c.baseline and since < c.first_seen <= as_of:
            prior_pairs.update(((company, k), where) for k, where in c.location_keys.items())
        closed = c.closed_as_of(as_of)
        for k in c.sites:
            moved[(company, k)].add(c.role_key)
            if closed is not None and since < closed:
                count_pairs.add((company, k))
    count_pairs.update(pair for pair, roles in moved.items() if len(roles) >= surge_min)
    boards = {bid: (company, name) for bid, company, name in r.rows("SELECT id, company, name FROM board")}
    known = {c.posting_id for c in candidates}
    return (
        _presence(r, prior_pairs, boards, since, as_of),
        _counted(r, count_pairs, boards, known, since, as_of),
    )


def _presence(
    r: Reader,
    pairs: dict[tuple[str, SiteKey], RolePlace | str],
    boards: dict[int, tuple[str, str]],
    since: datetime,
    as_of: datetime,
) -> list[Presence]:
    """The companies' presence before the window at these (company, site) pairs (presence.py)."""
    by_company: dict[str, list[int]] = defaultdict(list)
    for bid, (company, _) in boards.items():
        by_company[company.casefold()].append(bid)
    markets: list[tuple[Any, ...]] = []
    cities: list[tuple[Any, ...]] = []
    for (company, _), where in pairs.items():
        for bid in by_company.get(company, []):
            if isinstance(where, str):
                markets.append((bid, where))
            else:
                cities.append((bid, where.city, where.country or ""))
    found: dict[tuple[Any, ...], None] = {}  # a company's boards can repeat a presence: one Presence each
    for sql, wanted in ((_PRIOR_MARKETS, markets), (_PRIOR_CITIES, cities)):
        for chunk in _chunks(wanted, CHUNK // 3):
            params = FLAGS | {"sites": chunk, "as_of": as_of, "since": since}
            for bid, market, city, country, discipline, infra, has_market in r.rows(sql, params):
                if market is not None:
                    site, as_site = market_key(market), True
                else:
                    site, as_site = city_key_of(city, country), not has_market
                found[(boards[bid][0], site, discipline, bool(infra), as_site)] = None
    return list(map(Presence._make, found))


# A group was present before the window exactly when its earliest posting was first seen by then, or its
# earliest baseline posting is part of a baseline taken by `as_of` (presence.py keeps both).
_BEFORE = "s.first_seen <= :as_of AND (s.baseline = :yes OR s.first_seen <= :since)"
_PRIOR_MARKETS = f"""
    SELECT DISTINCT s.board_id, s.market, NULL, NULL, s.discipline, s.infra, s.has_market
    FROM :sites AS w CROSS JOIN site_presence s
    WHERE s.board_id = w.column1 AND s.market = w.column2 AND {_BEFORE}
"""
_PRIOR_CITIES = f"""
    SELECT DISTINCT s.board_id, NULL, s.city, s.country, s.discipline, s.infra, s.has_market
    FROM :sites AS w CROSS JOIN site_presence s
    WHERE s.board_id = w.column1 AND s.market IS NULL AND s.city = w.column2
      AND COALESCE(s.country, '') = w.column3 AND {_BEFORE}
      AND (s.infra = :yes OR s.has_market = :no)  -- else it is neither a location nor a site of an infra role
"""


def _counted(
    r: Reader,
    pairs: set[tuple[str, SiteKey]],
    boards: dict[int, tuple[str, str]],
    known: set[int],
    since: datetime,
    as_of: datetime,
) -> dict[str, Counted]:
    """The infra postings open during the window at these (company, site) pairs, other than the `known`
    candidates, counted by casefolded company. No `RoleRecord` per posting: thousands of them on a big
    store, of which the rules would only read the role key, sites and open state."""
    if not pairs:
        return {}
    wanted_sites: dict[str, set[SiteKey]] = defaultdict(set)  # company -> its sites among the pairs
    for company, key in pairs:
        wanted_sites[company].add(key)
    folded = {bid: company.casefold() for bid, (company, _) in boards.items()}
    touched = sorted(bid for bid, company in folded.items() if company in wanted_sites)
    params = FLAGS | {"boards": touched, "as_of": as_of, "since": since}
    facts: dict[int, tuple[Any, ...]] = {}  # a row of each posting, for its own columns
    markets: dict[int, dict[SiteKey, None]] = defaultdict(dict)
    cities: dict[int, dict[SiteKey, None]] = defaultdict(dict)
    keys: dict[Any, SiteKey] = {}  # the key of each market name and (city, country) read, computed once
    wanted: set[int] = set()
    for row in r.rows(_DURING, params):
        board_id, market, city, country, pid, _, _, _, _ = row
        if pid in known:  # a candidate: its record counts it
            continue
        facts[pid] = row
        if market is not None:
            key = keys.get(market) or keys.setdefault(market, market_key(market))
            markets[pid][key] = None
        elif city:  # a place with an empty city name is no site of the role (`RoleRecord.sites`)
            where = (city, country)
            key = keys.get(where) or keys.setdefault(where, city_key_of(city, country))
            cities[pid][key] = None
        else:
            continue
        if key in wanted_sites[folded[board_id]]:
            wanted.add(pid)
    reopens = _reopens(r, sorted(wanted), since)
    out: dict[str, Counted] = {}
    for pid in wanted:
        board_id, _, _, _, _, first_seen, closed_at, baseline, req = facts[pid]
        company = folded[board_id]
        counted = out.get(company) or out.setdefault(company, Counted())
        counted.add(
            pid,
            req,
            markets.get(pid, {}),
            cities.get(pid, {}),
            as_time(first_seen),
            as_time(closed_at),
            bool(baseline),
            reopens.get(pid, ()),
            since,
            as_of,
        )
    return out


# Open during the window: the open infra roles (their index holds every column read: an open role has no
# closed_at), and the roles closed since `as_of` (for a past window; those closed inside it are candidates
# already). First seen by `since`: an infra role first seen in the window is a candidate. `+p.board_id`
# stops the planner from walking every posting of the boards instead; CROSS JOIN keeps SQLite from
# starting at the market tags (on a big store most postings have one).
_DURING = """
    WITH s AS MATERIALIZED (
        SELECT p.id, p.board_id, p.first_seen, NULL AS closed_at, p.baseline, p.requisition_id FROM posting p
        WHERE p.status = 'open' AND p.infra = :yes AND +p.board_id IN :boards AND p.first_seen <= :since
        UNION
        SELECT p.id, p.board_id, p.first_seen, p.closed_at, p.baseline, p.requisition_id
        FROM event e CROSS JOIN posting p
        WHERE e.kind = 'closed' AND e.at > :as_of AND p.id = e.posting_id AND p.infra = :yes
          AND +p.board_id IN :boards AND p.first_seen <= :since
    )
    SELECT s.board_id, t.value, NULL, NULL, s.id, s.first_seen, s.closed_at, s.baseline, s.requisition_id
    FROM s CROSS JOIN posting_tag t WHERE t.posting_id = s.id AND t.kind = 'market'
    UNION ALL
    SELECT s.board_id, NULL, pl.city, pl.country, s.id, s.first_seen, s.closed_at, s.baseline, s.requisition_id
    FROM s CROSS JOIN posting_place pl WHERE pl.posting_id = s.id AND pl.city IS NOT NULL AND pl.remote = :no
"""


def _records(r: Reader, ids: Iterable[int], reopen_after: datetime | None) -> list[RoleRecord]:
    """Build role records for these posting ids (dropping postings neither infra nor discipline-tagged)."""
    ids = sorted(ids)
    if not ids:
        return []
    rows: list[tuple[Any, ...]] = []
    disciplines: dict[int, dict[str, None]] = defaultdict(dict)
    markets: dict[int, dict[str, None]] = defaultdict(dict)
    places: dict[int, list[RolePlace]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows += r.rows(_ROWS, {"ids": chunk})
        for pid, kind, value in r.rows(_TAGS, {"ids": chunk}):
            (disciplines if kind == "discipline" else markets)[pid][value] = None
        for pid, city, region, country, remote in r.rows(_PLACES, {"ids": chunk}):
            places[pid].append(RolePlace(city, region, country, bool(remote)))
    reopens = _reopens(r, ids, reopen_after)
    out = []
    for pid, title, url, first_seen, closed_at, baseline, infra, req, company, board in rows:
        if not (infra or pid in disciplines):
            continue
        out.append(
            RoleRecord(
                posting_id=pid,
                company=company,
                board=board,
                title=title,
                url=url,
                first_seen=as_time(first_seen),
                closed_at=as_time(closed_at),
                baseline=bool(baseline),
                infra=bool(infra),
                disciplines=tuple(disciplines.get(pid, ())),
                markets=tuple(markets.get(pid, ())),
                places=tuple(places.get(pid, ())),
                requisition_id=req,
                reopens=reopens.get(pid, ()),
            )
        )
    return out


_ROWS = """
    SELECT p.id, p.title, p.url, p.first_seen, p.closed_at, p.baseline, p.infra, p.requisition_id,
           b.company, b.name
    FROM posting p JOIN board b ON b.id = p.board_id WHERE p.id IN :ids
"""
_TAGS = """
    SELECT posting_id, kind, value FROM posting_tag
    WHERE posting_id IN :ids AND kind IN ('discipline', 'market') ORDER BY id
"""
_PLACES = (
    "SELECT posting_id, city, region, country, remote FROM posting_place WHERE posting_id IN :ids ORDER BY id"
)


def _reopens(
    r: Reader, ids: Sequence[int], after: datetime | None
) -> dict[int, tuple[tuple[datetime, datetime], ...]]:
    """Earlier (closed, reopened) periods of postings that were reopened after `after` (or ever, if None).
    Without a reopening after a time, a posting's state at that time follows from `closed_at` alone."""
    if after is None:
        reopened = r.rows("SELECT posting_id FROM event WHERE kind = 'reopened'")
    else:
        reopened = r.rows(
            "SELECT posting_id FROM event WHERE kind = 'reopened' AND at > :after", {"after": after}
        )
    wanted = {pid for (pid,) in reopened} & set(ids)
    out: dict[int, tuple[tuple[datetime, datetime], ...]] = {}
    sql = """
        SELECT posting_id, at, kind FROM event
        WHERE posting_id IN :ids AND kind IN ('closed', 'reopened') ORDER BY posting_id, at, id
    """
    for chunk in _chunks(sorted(wanted)):
        open_close: dict[int, datetime] = {}
        spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        for pid, at, kind in r.rows(sql, {"ids": chunk}):
            at = as_time(at)
            if kind == "closed":
                open_close[pid] = at
            elif pid in open_close:
                spans[pid].append((open_close.pop(pid), at))
        out.update({pid: tuple(s) for pid, s in spans.items()})
    return out


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
