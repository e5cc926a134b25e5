"""Signal detection over plain records (no database): each kind, dedup of role copies, baseline silence,
thresholds, and answers "as of" a past time."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import count

from infrasignal.config import SignalsConfig
from infrasignal.signals import (
    Counted,
    RolePlace,
    RoleRecord,
    Signal,
    city_key,
    city_places,
    country_name,
    detect_signals,
    market_key,
    place_text,
)

OLD = datetime(2026, 9, 1, 6)  # long before the window
START = datetime(2026, 11, 13, 6)
D1 = datetime(2026, 11, 16, 6)
D2 = datetime(2026, 11, 17, 6)
NOW = datetime(2026, 11, 20, 6)
WEEK = timedelta(days=7)

TOKYO = RolePlace("Tokyo", None, "JP")
OSAKA = RolePlace("Osaka", None, "JP")
SYDNEY = RolePlace("Sydney", "NSW", "AU")
FRANKFURT = RolePlace("Frankfurt", "Hesse", "DE")
QUINCY = RolePlace("Quincy", "WA", "US")
NARVIK = RolePlace("Narvik", None, "NO")
MARKET = {
    "Tokyo": "Tokyo",
    "Osaka": "Osaka",
    "Sydney": "Sydney",
    "Frankfurt": "Frankfurt",
    "Quincy": "Quincy",
}

_ids = count(1)


def role(
    title: str,
    where: RolePlace | tuple[RolePlace, ...],
    first_seen: datetime = OLD,
    *,
    company: str = "Anthropic",
    disciplines: tuple[str, ...] = (),
    closed_at: datetime | None = None,
    baseline: bool = False,
    infra: bool = True,
    req: str | None = None,
    reopens: tuple[tuple[datetime, datetime], ...] = (),
) -> RoleRecord:
    places = where if isinstance(where, tuple) else (where,)
    pid = next(_ids)
    markets = tuple(dict.fromkeys(MARKET[p.city] for p in places if p.city in MARKET and not p.remote))
    return RoleRecord(
        posting_id=pid,
        company=company,
        board=company,
        title=title,
        url=f"https://jobs.example/{pid}",
        first_seen=first_seen,
        closed_at=closed_at,
        baseline=baseline,
        infra=infra,
        disciplines=disciplines,
        markets=markets,
        places=places,
        requisition_id=req,
        reopens=reopens,
    )


def kinds(signals: list[Signal]) -> list[tuple[str, str | None, str | None]]:
    return [(s.kind, s.market or s.city, s.discipline) for s in signals]


def test_first_role_in_a_new_market_is_a_new_location_with_a_readable_summary() -> None:
    records = [
        role("Data Center Facility Operations Lead", SYDNEY, disciplines=("operations",)),
        role(
            "Data Center Electrical Engineer", TOKYO, datetime(2026, 11, 20, 2), disciplines=("electrical",)
        ),
    ]
    [signal] = detect_signals(records, NOW, WEEK)
    assert signal.kind == "new_location"
    assert signal.summary == (
        "Anthropic: first data-center role in Tokyo, Japan: Data Center Electrical Engineer "
        "(first seen 2026-11-20)"
    )
    d = signal.to_dict()
    assert {k: d[k] for k in ("kind", "company", "country", "city", "market", "discipline")} == {
        "kind": "new_location",
        "company": "Anthropic",
        "country": "JP",
        "city": "Tokyo",
        "market": "Tokyo",
        "discipline": None,
    }
    assert d["first_seen"] == "2026-11-20T02:00:00Z" and d["score"] > 0
    assert d["postings"] == [
        {
            "id": records[1].posting_id,
            "title": "Data Center Electrical Engineer",
            "url": records[1].url,
            "first_seen": "2026-11-20T02:00:00Z",
            "closed_at": None,
            "board": "Anthropic",
        }
    ]


def test_an_earlier_closed_role_counts_as_having_been_there() -> None:
    records = [
        role(
            "Data Center Electrical Engineer",
            TOKYO,
            disciplines=("electrical",),
            closed_at=datetime(2026, 10, 1),
        ),
        role("Senior Electrical Engineer, Data Centers", TOKYO, D1, disciplines=("electrical",)),
    ]
    assert detect_signals(records, NOW, WEEK) == []


def test_a_new_city_outside_any_market_is_a_new_location() -> None:
    records = [role("Data Center Operations Lead", NARVIK, D2, company="OpenAI", disciplines=("operations",))]
    [signal] = detect_signals(records, NOW, WEEK)
    assert (signal.kind, signal.city, signal.country, signal.market) == ("new_location", "Narvik", "NO", None)
    assert "first data-center role in Narvik, Norway" in signal.summary


def test_baseline_postings_raise_nothing_but_count_as_presence() -> None:
    # A board added during the window: its baseline postings are not news.
    baseline = [
        role(
            "Data Center Electrical Engineer",
            TOKYO,
            D1,
            company="Lattice",
            baseline=True,
            disciplines=("electrical",),
        ),
        role(
            "Critical Facilities Engineer",
            QUINCY,
            D1,
            company="Lattice",
            baseline=True,
            disciplines=("operations",),
        ),
        role("Energy Lead", SYDNEY, D1, company="Lattice", baseline=True, disciplines=("energy",)),
    ]
    assert detect_signals(baseline, NOW, WEEK) == []
    # A later role in a baseline market with a baseline discipline is not news either...
    same = role("Electrical Engineer II", TOKYO, D2, company="Lattice", disciplines=("electrical",))
    assert detect_signals([*baseline, same], NOW, WEEK) == []
    # ... but a new discipline there is.
    new = role("Mechanical Engineer", TOKYO, D2, company="Lattice", disciplines=("mechanical",))
    assert kinds(detect_signals([*baseline, new], NOW, WEEK)) == [("new_discipline", "Tokyo", "mechanical")]


def test_first_role_of_a_discipline_in_a_market_is_a_new_discipline() -> None:
    records = [
        role("Data Center Facility Operations Lead", SYDNEY, disciplines=("operations",)),
        role("Energy Development Lead, APAC", SYDNEY, D2, disciplines=("energy",)),
    ]
    [signal] = detect_signals(records, NOW, WEEK)
    assert (signal.kind, signal.market, signal.discipline, signal.city) == (
        "new_discipline",
        "Sydney",
        "energy",
        "Sydney",
    )
    assert signal.summary == (
        "Anthropic: first energy role in Sydney, Australia (had operations): Energy Development Lead, APAC "
        "(first seen 2026-11-17)"
    )


def test_a_new_market_is_one_new_location_not_also_new_disciplines_or_a_surge() -> None:
    records = [
        role("Data Center Construction Manager", OSAKA, D1, disciplines=("construction",)),
        role("Data Center Electrical Engineer", OSAKA, D1, disciplines=("electrical",)),
        role("Data Center Mechanical Engineer", OSAKA, D2, disciplines=("mechanical",)),
    ]
    [signal] = detect_signals(records, NOW, WEEK)
    assert signal.kind == "new_location" and len(signal.postings) == 3
    assert signal.summary.startswith("Anthropic: first data-center roles in Osaka, Japan: ")
    assert signal.first_seen == D1


def test_non_infra_roles_never_trigger_but_a_remote_role_is_no_location() -> None:
    records = [
        role("Contracts Manager", TOKYO, D1, disciplines=("contracts",), infra=False),
        role("Energy Policy Lead", RolePlace("Sydney", None, "AU", remote=True), D1, disciplines=("energy",)),
    ]
    assert detect_signals(records, NOW, WEEK) == []


def test_surge_needs_both_the_minimum_and_the_percentage() -> None:
    before = [role(f"Electrical Engineer {i}", FRANKFURT, disciplines=("electrical",)) for i in range(2)]
    fresh = [
        role(f"Mechanical Engineer {i}", FRANKFURT, D1 + timedelta(hours=i), disciplines=("electrical",))
        for i in range(3)
    ]
    [surge] = detect_signals(before + fresh, NOW, WEEK)
    assert (surge.kind, surge.market, surge.detail["before"], surge.detail["after"]) == (
        "surge",
        "Frankfurt",
        2,
        5,
    )
    assert surge.detail["growth_pct"] == 150.0 and len(surge.postings) == 3
    assert "grew from 2 to 5 (+3, +150%) since 2026-11-13" in surge.summary
    assert detect_signals(before + fresh, NOW, WEEK, SignalsConfig(surge_min=4)) == []
    assert detect_signals(before + fresh, NOW, WEEK, SignalsConfig(surge_pct=200)) == []
    many = [role(f"Engineer {i}", FRANKFURT, disciplines=("electrical",)) for i in range(10)]
    assert detect_signals(many + fresh, NOW, WEEK) == []  # 10 -> 13 is only +30%


def test_closed_roles_are_grouped_per_market_and_a_full_pull_back_scores_higher() -> None:
    closing = datetime(2026, 11, 18, 6)
    gone = [
        role(
            "Critical Facilities Engineer",
            QUINCY,
            company="Lattice",
            disciplines=("operations",),
            closed_at=closing,
        ),
        role(
            "Data Center Technician",
            QUINCY,
            company="Lattice",
            disciplines=("operations",),
            closed_at=closing,
        ),
        role("Electrical Engineer", TOKYO, company="Lattice", disciplines=("electrical",), closed_at=closing),
        role("Old role", FRANKFURT, company="Lattice", closed_at=datetime(2026, 10, 1)),  # before the window
    ]
    still = role("Data Center Mechanical Engineer", TOKYO, company="Lattice", disciplines=("mechanical",))
    signals = detect_signals([*gone, still], NOW, WEEK)
    assert kinds(signals) == [("closed", "Quincy", None), ("closed", "Tokyo", None)]
    quincy, tokyo = signals
    assert quincy.score > tokyo.score
    assert quincy.summary == (
        "Lattice: 2 data-center roles closed in Quincy, WA, United States, none left open: "
        "Critical Facilities Engineer; Data Center Technician (closed 2026-11-18)"
    )
    assert tokyo.detail["still_open"] == 1 and "1 still open" in tokyo.summary
    assert [p["closed_at"] for p in quincy.to_dict()["postings"]] == ["2026-11-18T06:00:00Z"] * 2


def test_copies_of_one_role_count_once() -> None:
    # Greenhouse posts one job per city: same requisition id.
    copies = [
        role("Data Center Electrical Engineer", TOKYO, D1, req="R1", disciplines=("electrical",)),
        role("Data Center Electrical Engineer", OSAKA, D1, req="R1", disciplines=("electrical",)),
    ]
    [signal] = detect_signals(copies, NOW, WEEK)  # one role, two new markets: one signal naming both
    assert signal.kind == "new_location" and len(signal.postings) == 1
    assert (
        {p.city for p in signal.places} == {"Tokyo", "Osaka"}
        and signal.country == "JP"
        and signal.city is None
    )
    assert "first data-center role in Osaka, Japan and Tokyo, Japan:" in signal.summary
    # Three copies in one market are one role: no surge from 1 to "4".
    base = [role("Site Lead", FRANKFURT, disciplines=("site",))]
    same_city = [
        role("Electrical Engineer", FRANKFURT, D1 + timedelta(hours=i), req="R2", disciplines=("site",))
        for i in range(3)
    ]
    assert detect_signals(base + same_city, NOW, WEEK) == []
    distinct = [
        role(
            "Electrical Engineer", FRANKFURT, D1 + timedelta(hours=i), req=f"R{i + 3}", disciplines=("site",)
        )
        for i in range(3)
    ]
    assert kinds(detect_signals(base + distinct, NOW, WEEK)) == [("surge", "Frankfurt", None)]


def test_a_role_still_open_in_another_copy_is_not_closed_there() -> None:
    closing = datetime(2026, 11, 18)
    records = [
        role("Hardware Operations Lead", QUINCY, req="R9", disciplines=("operations",), closed_at=closing),
        role("Hardware Operations Lead", QUINCY, req="R9", disciplines=("operations",)),
    ]
    assert detect_signals(records, NOW, WEEK) == []


def test_as_of_a_past_time_gives_the_past_answer() -> None:
    closing = datetime(2026, 11, 19, 6)
    records = [
        role("Data Center Facility Operations Lead", SYDNEY, disciplines=("operations",), closed_at=closing),
        role("Energy Development Lead, APAC", SYDNEY, D2, disciplines=("energy",)),
        role(
            "Data Center Electrical Engineer", TOKYO, datetime(2026, 11, 19, 7), disciplines=("electrical",)
        ),
    ]
    now = detect_signals(records, NOW, WEEK)
    assert kinds(now) == [
        ("new_location", "Tokyo", None),
        ("new_discipline", "Sydney", "energy"),
        ("closed", "Sydney", None),
    ]
    # On the 18th the Tokyo role did not exist yet and the Sydney role was still open.
    then = detect_signals(records, datetime(2026, 11, 18, 6), WEEK)
    assert kinds(then) == [("new_discipline", "Sydney", "energy")]
    # Before the window opened nothing had happened.
    assert detect_signals(records, D1, timedelta(days=1)) == []
    # The window can be given as a start time too.
    assert [s.summary for s in detect_signals(records, NOW, START)] == [s.summary for s in now]


def test_a_reopened_role_was_closed_only_between_its_closure_and_its_return() -> None:
    closed, back = datetime(2026, 11, 15, 6), datetime(2026, 11, 18, 6)
    records = [
        role(
            "Critical Facilities Engineer",
            QUINCY,
            company="Lattice",
            disciplines=("operations",),
            reopens=((closed, back),),
        ),
    ]
    assert detect_signals(records, NOW, WEEK) == []  # back again: nothing closed
    [signal] = detect_signals(records, datetime(2026, 11, 16, 6), WEEK)
    assert signal.kind == "closed" and signal.first_seen == closed


def test_strongest_first_and_companies_apart() -> None:
    closing = datetime(2026, 11, 18)
    records = [
        role("Site Lead", SYDNEY, company="OpenAI", disciplines=("site",), closed_at=closing),
        role("Data Center Facility Operations Lead", SYDNEY, disciplines=("operations",)),
        role("Energy Lead", SYDNEY, D2, disciplines=("energy",)),
        role("Data Center Electrical Engineer", TOKYO, D2, disciplines=("electrical",)),
    ]
    signals = detect_signals(records, NOW, WEEK)
    assert [s.kind for s in signals] == ["new_location", "new_discipline", "closed"]
    assert [s.company for s in signals] == ["Anthropic", "Anthropic", "OpenAI"]
    assert signals == sorted(signals, key=lambda s: -s.score)


def test_place_text_names_countries_and_us_states() -> None:
    assert place_text(TOKYO) == "Tokyo, Japan"
    assert place_text(QUINCY) == "Quincy, WA, United States"
    assert place_text(RolePlace("Singapore", None, "SG")) == "Singapore"
    assert place_text(RolePlace("Atlantis", None, "ZZ")) == "Atlantis, ZZ"


def test_a_record_knows_its_sites_location_keys_and_role_key_and_replace_recomputes_them() -> None:
    remote = RolePlace("Tokyo", None, "JP", remote=True)
    r = role("Electrical Engineer", (TOKYO, OSAKA, remote), req="R-1")
    assert r.markets == ("Tokyo", "Osaka")
    assert list(r.sites) == [("market", "tokyo"), ("market", "osaka")]  # where it counts: its markets
    assert list(r.location_keys) == [*r.sites, ("city", "tokyo", "JP"), ("city", "osaka", "JP")]
    assert r.role_key == "req:R-1"
    moved = replace(r, markets=(), places=(SYDNEY,), requisition_id=None)
    assert moved.sites == moved.location_keys == {("city", "sydney", "AU"): SYDNEY}  # no market: its cities
    assert moved.role_key == f"posting:{r.posting_id}"
    assert moved == replace(moved)  # derived attributes take no part in equality


def test_country_names_are_pycountrys_read_without_importing_it() -> None:
    import pycountry

    for c in pycountry.countries:
        assert country_name(c.alpha_2) == (getattr(c, "common_name", None) or c.name)
        assert country_name(c.alpha_2.lower()) == country_name(c.alpha_2)
    assert country_name("ZZ") == "ZZ"
    assert country_name(None) == ""
    code = "import sys; from infrasignal.signals import country_name; "
    code += "print(country_name('KR'), 'pycountry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["South", "Korea", "False"]  # importing pycountry costs 10 ms of `signals`


def counted_of(records: list[RoleRecord], start: datetime, end: datetime) -> dict[str, Counted]:
    """What the window loader gives for these records (roles that only count), by casefolded company."""
    out: dict[str, Counted] = {}
    for r in records:
        markets = {market_key(m): None for m in r.markets}
        cities = {city_key(p): None for p in city_places(r)}
        out.setdefault(r.company.casefold(), Counted()).add(
            r.posting_id,
            r.requisition_id,
            markets,
            cities,
            r.first_seen,
            r.closed_at,
            r.baseline,
            r.reopens,
            start,
            end,
        )
    return out


def test_roles_that_only_count_give_the_signals_of_their_records() -> None:
    """Roles open during the window that no rule can cite, given as `Counted` instead of records: a surge
    counts them before and after, a closure as still open (a copy keeps the role going), and the first-role
    rules as sites held before."""
    counting = [
        role("Data Center Electrician", FRANKFURT),  # open throughout: part of the surge's base
        role("Data Center Technician", FRANKFURT, req="R-7"),  # a copy of the role closed below
        role("Data Center Engineer", QUINCY, baseline=True),  # Quincy was held before the window
        role("Data Center Planner", TOKYO, closed_at=NOW + timedelta(days=1)),  # still open at the end
    ]
    cited = [
        *(role(f"Data Center Engineer {i}", FRANKFURT, D1) for i in range(4)),
        role("Data Center Technician", FRANKFURT, closed_at=D2, req="R-7"),
        role("Data Center Operator", TOKYO, closed_at=D2),
        role("Electrical Lead", QUINCY, D1, disciplines=("electrical",)),
    ]
    cfg = SignalsConfig(surge_min=2)
    full = [s.to_dict() for s in detect_signals([*cited, *counting], NOW, WEEK, cfg)]
    counted = counted_of(counting, NOW - WEEK, NOW)
    assert [s.to_dict() for s in detect_signals(cited, NOW, WEEK, cfg, counted=counted)] == full
    assert [s.to_dict() for s in detect_signals(cited, NOW, WEEK, cfg)] != full  # they do count
    assert {(s["kind"], s["market"]) for s in full} == {
        ("surge", "Frankfurt"),
        ("closed", "Tokyo"),
        ("new_discipline", "Quincy"),
    }
