"""Pure signal detection: what a company's job boards say about where it is building, as of a time.

Input is a list of `RoleRecord`s (plain data the store's loader builds, see `infrasignal.history`), a time
`as_of` and the start of the window `since`; output is a list of `Signal`s, strongest first. The window
loader (`roles_history.load_window`) gives records only for the roles a signal can cite, and stands in for
the others with `Presence` (where a company had roles before) and `Counted` (which roles were open at the
window's start and end). Nothing here touches the database, so the same records give the same signals
anywhere (CLI, report, tests).

Everything is computed as of `as_of`: a posting first seen later does not exist yet, and a posting closed
later was still open then, so a past `as_of` gives what would have been reported at that time.

Kinds (DESIGN.md):
- `new_location`: a company's first infrastructure role in a data-center market or a city where it never
  had one before the window (open or closed roles count as "had one").
- `new_discipline`: the first role of a discipline in a site (the market, or the city when the role has no
  market) for a company that already had roles there.
- `surge`: open infra roles of a company in a site grew by at least `surge_min` and `surge_pct` percent.
- `closed`: infra roles of a company closed in a site within the window (a pull-back when none is left).

Postings of a board's baseline (its first fetch) count as "had one" but never raise a signal themselves.
Copies of one role (same company and requisition id, as Greenhouse posts one job per city) count as one role.
Reads [signals] (`SignalsConfig`: surge thresholds).
"""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from infrasignal.config import SignalsConfig
from infrasignal.timeutil import iso

KINDS = ("new_location", "new_discipline", "surge", "closed")
MAX_TITLES = 3  # titles quoted in a summary before "(+N more)"
REGION_COUNTRIES = {"US", "CA"}  # countries where a city needs its state to be unambiguous


@dataclass(frozen=True, slots=True)
class RolePlace:
    """Where a posting is based (a row of `posting_place`)."""

    city: str | None = None
    region: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    remote: bool = False


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """One stored posting with what signal detection needs. `closed_at` is its latest closure (None while
    open); `reopens` lists earlier closures that ended with a reopening, as (closed, reopened) pairs.

    `sites`, `location_keys` and `role_key` follow from the other fields and are computed when the record is
    built, once: every rule of a detection asks for them again."""

    posting_id: int
    company: str
    board: str
    title: str
    url: str
    first_seen: datetime
    closed_at: datetime | None = None
    baseline: bool = False
    infra: bool = False
    disciplines: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()  # markets where the role is based (not the ones it only covers)
    places: tuple[RolePlace, ...] = ()
    requisition_id: str | None = None
    reopens: tuple[tuple[datetime, datetime], ...] = ()
    # where the role counts for disciplines, surges and closures: its markets, else its on-site cities
    sites: dict[SiteKey, RolePlace | str] = field(init=False, repr=False, compare=False)
    # every market and every on-site city of the role, for `new_location`
    location_keys: dict[SiteKey, RolePlace | str] = field(init=False, repr=False, compare=False)
    # copies of one role share a requisition id within a company
    role_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built for every record of a window (thousands): the comprehensions run only when there is
        # something to map, and the cities are those of `city_places`.
        markets: dict[SiteKey, RolePlace | str] = (
            {market_key(m): m for m in self.markets} if self.markets else {}
        )
        cities: dict[SiteKey, RolePlace | str] = (
            {city_key_of(p.city, p.country): p for p in self.places if p.city and not p.remote}
            if self.places
            else {}
        )
        set_derived = object.__setattr__  # the record is frozen
        set_derived(self, "sites", markets or cities)
        set_derived(self, "location_keys", markets | cities)
        set_derived(self, "role_key", role_key_of(self.posting_id, self.requisition_id))

    def closed_as_of(self, t: datetime) -> datetime | None:
        """When the posting closed, if it was closed at time t; None if it was open (or unborn)."""
        return closed_as_of(self.closed_at, self.reopens, t)

    def open_at(self, t: datetime) -> bool:
        return self.first_seen <= t and self.closed_as_of(t) is None


def role_key_of(posting_id: int, requisition_id: str | None) -> str:
    """`RoleRecord.role_key`: copies of one role share a requisition id within a company."""
    return f"req:{requisition_id}" if requisition_id else f"posting:{posting_id}"


def closed_as_of(
    closed_at: datetime | None, reopens: tuple[tuple[datetime, datetime], ...], t: datetime
) -> datetime | None:
    """`RoleRecord.closed_as_of` of a posting with this latest closure and these reopened closures."""
    if closed_at is not None and closed_at <= t:
        return closed_at
    for closed, reopened in reopens:
        if closed <= t < reopened:
            return closed
    return None


@dataclass(slots=True)
class Counted:
    """A company's roles that only count, given in place of their records: roles that neither appeared,
    closed nor reopened in the window, so no rule cites them; they only make up the open roles of a site
    (`surge`, `closed`) and the sites the company was at before (`new_location`, `new_discipline`). Per
    site, the role keys open at the window's start and at its end; the location keys and sites of those
    known before the window. `add` a role with what its `RoleRecord` would hold."""

    at_start: dict[SiteKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    at_end: dict[SiteKey, set[str]] = field(default_factory=lambda: defaultdict(set))
    locations: set[SiteKey] = field(default_factory=set)
    sites: set[SiteKey] = field(default_factory=set)

    def add(
        self,
        posting_id: int,
        requisition_id: str | None,
        markets: Collection[SiteKey],
        cities: Collection[SiteKey],
        first_seen: datetime,
        closed_at: datetime | None,
        baseline: bool,
        reopens: tuple[tuple[datetime, datetime], ...],
        start: datetime,
        end: datetime,
    ) -> None:
        """Count an infra role with these market and on-site city keys in the window (start, end]; the
        same rules as `_Window.before`, `_Window.open_at_start` and `RoleRecord.open_at`."""
        role_key = role_key_of(posting_id, requisition_id)
        sites = markets or cities
        if baseline or first_seen <= start:
            self.locations.update(markets)
            self.locations.update(cities)
            self.sites.update(sites)
            if closed_as_of(closed_at, reopens, start) is None:
                for k in sites:
                    self.at_start[k].add(role_key)
        if first_seen <= end and closed_as_of(closed_at, reopens, end) is None:
            for k in sites:
                self.at_end[k].add(role_key)


_NOTHING_COUNTED = Counted()  # never changed: the rules only read it


@dataclass(frozen=True, slots=True)
class Evidence:
    """A posting that supports a signal (one per role: the copy in the signal's place)."""

    posting_id: int
    title: str
    url: str
    first_seen: datetime
    closed_at: datetime | None = None
    board: str = ""
    copies: int = 1  # postings of the same role in this place

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.posting_id,
            "title": self.title,
            "url": self.url,
            "first_seen": iso(self.first_seen),
            "closed_at": iso(self.closed_at),
            "board": self.board,
        }


@dataclass(slots=True)
class Signal:
    kind: str
    company: str
    score: float
    first_seen: datetime  # when the signal's first evidence appeared (for `closed`: the first closure)
    summary: str
    postings: list[Evidence]
    country: str | None = None
    city: str | None = None
    region: str | None = None
    market: str | None = None
    discipline: str | None = None
    places: list[RolePlace] = field(default_factory=list)  # every city the signal is about
    detail: dict[str, Any] = field(default_factory=dict)  # kind-specific numbers (before/after, still_open)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "company": self.company,
            "country": self.country,
            "city": self.city,
            "region": self.region,
            "market": self.market,
            "discipline": self.discipline,
            "first_seen": iso(self.first_seen),
            "score": self.score,
            "summary": self.summary,
            "roles": len(self.postings),
            "places": [{"city": p.city, "region": p.region, "country": p.country} for p in self.places],
            "postings": [e.to_dict() for e in self.postings],
            "detail": dict(self.detail),
        }


# Sites -------------------------------------------------------------------------------------------------------

# A site is where hiring is counted: ("market", name) or ("city", city, country), compared case-insensitively.
SiteKey = tuple[str, ...]


def market_key(name: str) -> SiteKey:
    return ("market", name.casefold())


def city_key(place: RolePlace) -> SiteKey:
    return city_key_of(place.city, place.country)


def city_key_of(city: str | None, country: str | None) -> SiteKey:
    """`city_key` of a place in this city and country, for rows read without building the place."""
    return ("city", (city or "").casefold(), (country or "").upper())


def city_places(r: RoleRecord) -> list[RolePlace]:
    """On-site places with a city (a remote role says nothing about where a company builds)."""
    return [p for p in r.places if p.city and not p.remote]


def same_place_name(city: str | None, market: str) -> bool:
    """`Frankfurt am Main` is in the `Frankfurt` market, `Tokyo` in `Tokyo`."""
    a, b = (city or "").casefold(), market.casefold()
    return bool(a) and (a.startswith(b) or b.startswith(a))


def market_cities(r: RoleRecord, market: str) -> list[RolePlace]:
    """The role's cities that are in `market`: the one city of a one-city role; else those named like the
    market; else those not named like another of its markets (the records do not say which city maps to
    which market, the classifier's table does)."""
    cities = city_places(r)
    if len(cities) <= 1:
        return cities
    named = [p for p in cities if same_place_name(p.city, market)]
    if named:
        return named
    others = [m for m in r.markets if m.casefold() != market.casefold()]
    rest = [p for p in cities if not any(same_place_name(p.city, m) for m in others)]
    return rest or cities


class Presence(NamedTuple):
    """A company had a role at a site before the window, given instead of the role itself (the store's
    `site_presence` summary): what the "first role here" and "new discipline here" rules ask of earlier
    roles, without loading them. `as_site`: the site is where the role counts (`RoleRecord.sites`), not
    only one of its `location_keys` (a city of a role that also has a market). A named tuple: a window
    has thousands, built faster than frozen dataclasses."""

    company: str
    site: SiteKey
    discipline: str | None = None
    infra: bool = False
    as_site: bool = True


# Detection ---------------------------------------------------------------------------------------------------


def detect_signals(
    records: Iterable[RoleRecord],
    as_of: datetime,
    since: datetime | timedelta,
    cfg: SignalsConfig | None = None,
    presence: Iterable[Presence] = (),
    counted: Mapping[str, Counted] | None = None,
) -> list[Signal]:
    """All signals of the window (since, as_of], strongest first. `records` are the roles; `presence` may
    stand in for roles known before the window that are not among them, and `counted` (by casefolded
    company) for roles that only count (`Counted`)."""
    cfg = cfg or SignalsConfig()
    start = as_of - since if isinstance(since, timedelta) else since
    by_company: dict[str, list[RoleRecord]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in records:
        if r.first_seen <= as_of:  # later postings do not exist yet
            key = r.company.casefold()
            by_company[key].append(r)
            names.setdefault(key, r.company)
    earlier: dict[str, list[Presence]] = defaultdict(list)
    for p in presence:
        earlier[p.company.casefold()].append(p)
    out: list[Signal] = []
    for key, recs in by_company.items():
        w = _Window(
            names[key], recs, start, as_of, earlier.get(key, []), (counted or {}).get(key, _NOTHING_COUNTED)
        )
        located = _new_locations(w)
        new_sites = {k for s in located for k in s.detail["sites"]}
        out += located
        out += _new_disciplines(w, new_sites)
        out += _surges(w, cfg, new_sites)
        out += _closures(w)
    for s in out:
        s.summary = _describe(s, start)
        for internal in ("sites", "roles", "open_roles"):
            s.detail.pop(internal, None)
    return sorted(out, key=lambda s: (-s.score, -s.first_seen.timestamp(), s.company, s.kind, s.summary))


@dataclass(slots=True)
class _Window:
    company: str
    records: list[RoleRecord]
    start: datetime
    end: datetime
    presence: list[Presence]
    counted: Counted

    def fresh(self, r: RoleRecord) -> bool:
        """First seen inside the window, and not part of a board's baseline."""
        return not r.baseline and self.start < r.first_seen <= self.end

    def before(self, r: RoleRecord) -> bool:
        """Known before the window: baseline postings count as always having been there."""
        return r.baseline or r.first_seen <= self.start

    def open_at_start(self, r: RoleRecord) -> bool:
        if r.baseline and r.first_seen > self.start:
            return r.closed_as_of(self.start) is None
        return r.open_at(self.start)


def _new_locations(w: _Window) -> list[Signal]:
    infra = [r for r in w.records if r.infra]
    prior = {k for r in infra if w.before(r) for k in r.location_keys}
    prior.update(p.site for p in w.presence if p.infra)
    prior.update(w.counted.locations)
    found: dict[SiteKey, list[RoleRecord]] = defaultdict(list)
    label: dict[SiteKey, RolePlace | str] = {}
    for r in infra:
        if w.fresh(r):
            for k, where in r.location_keys.items():
                if k not in prior:
                    found[k].append(r)
                    label.setdefault(k, where)
    markets = {k: rs for k, rs in found.items() if k[0] == "market"}
    out: list[Signal] = []
    for k, rs in markets.items():
        name = str(label[k])
        cities = _distinct_places(p for r in rs for p in market_cities(r, name))
        sig = _signal("new_location", w.company, rs, cities, market=name, base=100.0)
        sig.detail["sites"] = {k}
        out.append(sig)
    for k, rs in found.items():
        if k[0] != "city":
            continue
        roles = {r.role_key for r in rs}
        covered = any(
            roles <= {r.role_key for r in mrs}
            for mk, mrs in markets.items()
            if any(k in {city_key(p) for p in market_cities(r, str(label[mk]))} for r in mrs)
        )
        if covered:  # the new market's signal already names this city
            continue
        place = label[k]
        assert isinstance(place, RolePlace)
        in_market = [m for r in rs for m in r.markets]
        base = 60.0 if in_market else 90.0  # a new city in a known market is weaker than a new site
        sig = _signal("new_location", w.company, rs, [place], market=_one(in_market), base=base)
        sig.detail["sites"] = {k}
        out.append(sig)
    return _merge_identical(out)


def _new_disciplines(w: _Window, new_sites: set[SiteKey]) -> list[Signal]:
    prior: dict[SiteKey, set[str]] = defaultdict(set)
    had_site: set[SiteKey] = set()
    for r in w.records:
        if w.before(r):
            had_site.update(r.sites)
            for k in r.sites:
                prior[k].update(r.disciplines)
    for p in w.presence:
        if p.as_site:
            had_site.add(p.site)
            if p.discipline:
                prior[p.site].add(p.discipline)
    had_site.update(w.counted.sites)
    found: dict[tuple[SiteKey, str], list[RoleRecord]] = defaultdict(list)
    label: dict[SiteKey, RolePlace | str] = {}
    for r in w.records:
        if not (r.infra and w.fresh(r)):
            continue
        for k, where in r.sites.items():
            if k in new_sites or k not in had_site:
                continue  # a company's first role in a site is a new_location, not a new discipline
            for d in r.disciplines:
                if d not in prior[k]:
                    found[(k, d)].append(r)
                    label.setdefault(k, where)
    out = []
    for (k, d), rs in found.items():
        market, places = _site_fields(label[k], rs)
        sig = _signal("new_discipline", w.company, rs, places, market=market, discipline=d, base=70.0)
        had = sorted(prior[k])
        sig.detail.update(sites={k}, had_disciplines=had)
        out.append(sig)
    return _merge_identical(out)


def _surges(w: _Window, cfg: SignalsConfig, new_sites: set[SiteKey]) -> list[Signal]:
    before: dict[SiteKey, set[str]] = defaultdict(set)
    after: dict[SiteKey, set[str]] = defaultdict(set)
    grew: dict[SiteKey, list[RoleRecord]] = defaultdict(list)
    label: dict[SiteKey, RolePlace | str] = {}
    for r in w.records:
        if not r.infra:
            continue
        was_open, is_open = w.open_at_start(r), r.open_at(w.end)
        for k, where in r.sites.items():
            label.setdefault(k, where)
            if was_open:
                before[k].add(r.role_key)
            if is_open:
                after[k].add(r.role_key)
                if not was_open:
                    grew[k].append(r)
    out = []
    for k, rs in grew.items():
        before[k].update(w.counted.at_start.get(k, ()))
        after[k].update(w.counted.at_end.get(k, ()))
        b, a = len(before[k]), len(after[k])
        gain = a - b
        if k in new_sites or gain < cfg.surge_min:
            continue
        pct = 100.0 * gain / b if b else None
        if pct is not None and pct < cfg.surge_pct:
            continue
        new_roles = [r for r in rs if r.role_key not in before[k]]
        market, places = _site_fields(label[k], new_roles)
        score = 50.0 + min(5.0 * gain, 30.0) + (min(pct, 300.0) / 20.0 if pct is not None else 15.0)
        sig = _signal("surge", w.company, new_roles, places, market=market, base=score, per_role=0.0)
        sig.detail.update(
            sites={k}, before=b, after=a, growth=gain, growth_pct=round(pct, 1) if pct else None
        )
        out.append(sig)
    return out


def _closures(w: _Window) -> list[Signal]:
    closed: dict[SiteKey, list[RoleRecord]] = defaultdict(list)
    still_open: dict[SiteKey, set[str]] = defaultdict(set)
    label: dict[SiteKey, RolePlace | str] = {}
    times: dict[int, datetime] = {}
    for r in w.records:
        if not r.infra:
            continue
        when = r.closed_as_of(w.end)
        is_open = when is None
        if when is not None and w.start < when <= w.end:
            times[r.posting_id] = when
        for k, where in r.sites.items():
            if is_open:
                still_open[k].add(r.role_key)
            elif r.posting_id in times:
                closed[k].append(r)
                label.setdefault(k, where)
    out = []
    for k, rs in closed.items():
        still_open[k].update(w.counted.at_end.get(k, ()))
        rs = [r for r in rs if r.role_key not in still_open[k]]  # a copy still open: the role goes on
        if not rs:
            continue
        left = len(still_open[k])
        market, places = _site_fields(label[k], rs)
        base = 30.0 + (20.0 if left == 0 else 0.0)  # nothing left open there: a pull-back
        sig = _signal("closed", w.company, rs, places, market=market, base=base, closed=times)
        sig.detail.update(sites={k}, still_open=left, open_roles=still_open[k])
        out.append(sig)
    return _merge_identical(out)


# Building and merging signals -------------------------------------------------------------------------------


def _signal(
    kind: str,
    company: str,
    records: Sequence[RoleRecord],
    places: list[RolePlace],
    market: str | None = None,
    discipline: str | None = None,
    base: float = 50.0,
    per_role: float = 5.0,
    closed: dict[int, datetime] | None = None,
) -> Signal:
    evidence = _evidence(records, closed)
    first = (
        min(e.closed_at or e.first_seen for e in evidence) if closed else min(e.first_seen for e in evidence)
    )
    city, region, country = _place_fields(places)
    score = base + min(per_role * (len(evidence) - 1), 25.0)
    sig = Signal(
        kind=kind,
        company=company,
        score=round(score, 1),
        first_seen=first,
        summary="",
        postings=evidence,
        country=country,
        city=city,
        region=region,
        market=market,
        discipline=discipline,
        places=places,
    )
    sig.detail["roles"] = {r.role_key for r in records}
    return sig


def _evidence(records: Sequence[RoleRecord], closed: dict[int, datetime] | None) -> list[Evidence]:
    """One evidence posting per role: its earliest copy, or for closures the copy that closed last."""
    if len(records) == 1:  # most signals: one role, one copy
        r = records[0]
        closed_at = closed[r.posting_id] if closed is not None else None
        return [Evidence(r.posting_id, r.title.strip(), r.url, r.first_seen, closed_at, r.board, 1)]
    roles: dict[str, dict[int, RoleRecord]] = defaultdict(dict)
    for r in records:
        roles[r.role_key][r.posting_id] = r
    out = []
    for by_id in roles.values():
        copies = list(by_id.values())
        if closed is not None:
            pick = max(copies, key=lambda r: (closed[r.posting_id], -r.posting_id))
            when: datetime | None = closed[pick.posting_id]
        else:
            pick, when = min(copies, key=lambda r: (r.first_seen, r.posting_id)), None
        out.append(
            Evidence(
                pick.posting_id, pick.title.strip(), pick.url, pick.first_seen, when, pick.board, len(copies)
            )
        )
    return sorted(out, key=lambda e: (e.first_seen, e.title, e.posting_id))


def _merge_identical(signals: list[Signal]) -> list[Signal]:
    """One role in several places (Frankfurt and Amsterdam) is one signal naming both places."""
    groups: dict[tuple[Any, ...], list[Signal]] = {}
    for s in signals:
        key = (s.kind, s.discipline, frozenset(s.detail["roles"]))
        groups.setdefault(key, []).append(s)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        group.sort(key=lambda s: (-s.score, s.market or "", s.city or ""))
        head = group[0]
        places = _distinct_places(p for s in group for p in s.places)
        markets = [m for m in dict.fromkeys(s.market for s in group) if m]
        city, region, country = _place_fields(places)
        merged = replace(
            head,
            places=places,
            city=city,
            region=region,
            country=country,
            market=markets[0] if markets else None,
        )
        merged.detail = dict(head.detail)
        merged.detail["sites"] = {k for s in group for k in s.detail["sites"]}
        if len(markets) > 1:
            merged.detail["markets"] = markets
        if head.kind == "closed":
            merged.detail["still_open"] = len({k for s in group for k in s.detail["open_roles"]})
        out.append(merged)
    return out


def _site_fields(where: RolePlace | str, records: Sequence[RoleRecord]) -> tuple[str | None, list[RolePlace]]:
    """(market, places) of a site: a market with the cities its roles name, or one city."""
    if isinstance(where, str):
        key = market_key(where)
        cities = [p for r in records if key in r.sites for p in market_cities(r, where)]  # a role's markets
        return where, _distinct_places(cities)
    return None, [where]


def _distinct_places(places: Iterable[RolePlace]) -> list[RolePlace]:
    seen: dict[SiteKey, RolePlace] = {}
    for p in places:
        seen.setdefault(city_key(p), p)
    return list(seen.values())


def _place_fields(places: Sequence[RolePlace]) -> tuple[str | None, str | None, str | None]:
    """(city, region, country) for the JSON: set when all places agree."""
    if len(places) == 1:
        p = places[0]
        return p.city, p.region, (p.country or "").upper() or None
    cities = {city_key(p) for p in places}
    countries = {(p.country or "").upper() for p in places}
    one = places[0] if len(cities) == 1 else None
    country = countries.pop() if len(countries) == 1 else None
    return (one.city if one else None, one.region if one else None, country or None)


def _one(values: Sequence[str]) -> str | None:
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else None


# Summaries ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def country_name(code: str | None) -> str:
    """`JP` -> `Japan` (pycountry's common name when it has one); unknown codes are returned as given."""
    if not code:
        return ""
    return _country_names().get(code.upper(), code)


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> common name, else name, from pycountry's data file: read directly, as
    importing pycountry costs 10 ms (its version lookup), more than the summaries of a week's signals."""
    spec = importlib.util.find_spec("pycountry")
    data = Path(spec.origin).parent / "databases" / "iso3166-1.json" if spec and spec.origin else None
    if data is None or not data.is_file():  # packaged some other way: ask pycountry itself
        import pycountry

        return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    entries = json.loads(data.read_bytes())["3166-1"]
    return {c["alpha_2"]: c.get("common_name") or c["name"] for c in entries}


def place_text(p: RolePlace) -> str:
    """`Tokyo, Japan`; `Abilene, TX, United States`; `Singapore`."""
    parts = [p.city or ""]
    country = (p.country or "").upper()
    if p.region and country in REGION_COUNTRIES and p.region.casefold() != (p.city or "").casefold():
        parts.append(p.region)
    name = country_name(country)
    if name and name.casefold() != (p.city or "").casefold():
        parts.append(name)
    return ", ".join(x for x in parts if x)


def where_text(places: Sequence[RolePlace], markets: Sequence[str]) -> str:
    cities = [place_text(p) for p in places]
    extra = [m for m in markets if not any(same_place_name(p.city, m) for p in places)]
    if not cities:
        return " and ".join(f"the {m} market" for m in markets) or "an unnamed place"
    text = _join(cities)
    if extra:
        text += f" ({_join(extra)} market{'s' if len(extra) > 1 else ''})"
    return text


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "; ".join(items[:-1]) + " and " + items[-1]


def _titles(evidence: Sequence[Evidence]) -> str:
    titles = [e.title for e in evidence[:MAX_TITLES]]
    more = len(evidence) - MAX_TITLES
    return "; ".join(titles) + (f" (+{more} more)" if more > 0 else "")


def _describe(s: Signal, start: datetime) -> str:
    """A signal's one-line summary, written once its fields are final (after merging)."""
    if s.kind == "surge":
        return _surge_summary(s, start)
    markets = s.detail.get("markets") or ([s.market] if s.market else [])
    if s.kind == "closed":
        return _closed_summary(s, markets)
    return _summary(s, markets)


def _summary(s: Signal, markets: Sequence[str]) -> str:
    where = where_text(s.places, markets)
    day = s.first_seen.date().isoformat()
    plural = "s" if len(s.postings) > 1 else ""
    if s.kind == "new_location":
        what = f"first data-center role{plural} in {where}"
    else:
        had = s.detail.get("had_disciplines") or []
        what = f"first {s.discipline} role{plural} in {where}" + (f" (had {', '.join(had)})" if had else "")
    return f"{s.company}: {what}: {_titles(s.postings)} (first seen {day})"


def _surge_summary(s: Signal, start: datetime) -> str:
    d = s.detail
    where = where_text(s.places, [s.market] if s.market else [])
    pct = f", +{d['growth_pct']:g}%" if d.get("growth_pct") is not None else ""
    return (
        f"{s.company}: open data-center roles in {where} grew from {d['before']} to {d['after']} "
        f"(+{d['growth']}{pct}) since {start.date().isoformat()}: {_titles(s.postings)}"
    )


def _closed_summary(s: Signal, markets: Sequence[str]) -> str:
    where = where_text(s.places, markets)
    n = len(s.postings)
    left = s.detail.get("still_open", 0)
    state = "none left open" if left == 0 else f"{left} still open"
    last = max(e.closed_at or e.first_seen for e in s.postings).date().isoformat()
    return (
        f"{s.company}: {n} data-center role{'s' if n > 1 else ''} closed in {where}, {state}: "
        f"{_titles(s.postings)} (closed {last})"
    )
