"""Multi-day scenarios over a real loopback server and a real SQLite file: versions and events of postings,
failures that close nothing, quarantine confirmed by a second empty day, the diff between two days, and the
signals an analyst expects (new market, new discipline, surge, pull-back), also as of a past day.

Postings are tagged by the small fake classifier in support/fakeclassify.py, so these tests do not depend on
the real classifier's rules. In `gh_job`, jobs whose ids share all but the last digit are copies of one role.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from infrasignal.config import Config, HistoryConfig, SignalsConfig, parse_config
from infrasignal.history import diff_between, load_roles_history, posting_history, signals_at
from infrasignal.model import Posting
from infrasignal.queries import RoleFilter, boards_health, roles
from infrasignal.reader import open_sqlite_reader
from infrasignal.scrape import scrape
from infrasignal.signals import detect_signals
from infrasignal.store import open_store, record_fetch, sync_boards
from support.boardserver import BoardServer, Fault
from support.fakeclassify import CITIES, classify, use_fake_classifier
from support.gh import gh_board, gh_job

DAY = [datetime(2026, 11, 16, 6) + timedelta(days=i) for i in range(5)]
WEEK = timedelta(days=7)
PATH_A, PATH_B = "/v1/boards/acme/jobs", "/v1/boards/beta/jobs"


@pytest.fixture(autouse=True)
def fake_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_classifier(monkeypatch)


def setup(tmp_path: Path, server: BoardServer, **fetch: Any) -> tuple[Config, Engine]:
    cfg = parse_config(
        {
            "storage": {"database": str(tmp_path / "t.db")},
            "fetch": {"retries": 1, "backoff": 0.01, "timeout": 2.0} | fetch,
            "boards": [
                {"company": "Acme", "ats": "greenhouse", "token": "acme", "base_url": server.base_url},
                {"company": "Beta", "ats": "greenhouse", "token": "beta", "base_url": server.base_url},
            ],
        },
        tmp_path / "config.toml",
    )
    return cfg, open_store(cfg.database_url)


def summaries(db: Engine, as_of: datetime, since: timedelta = WEEK) -> list[str]:
    return [s.summary for s in signals_at(db, as_of, since)]


def assert_windowed_equals_full(db: Engine, as_of: datetime, since: timedelta = WEEK) -> None:
    """The window's signals (candidates, counted roles and `site_presence`) equal those detected over
    every stored role, read through SQLAlchemy and, on SQLite, through the stdlib reader the CLI uses."""
    full = [s.to_dict() for s in detect_signals(load_roles_history(db, as_of), as_of, since)]
    assert [s.to_dict() for s in signals_at(db, as_of, since)] == full
    reader = open_sqlite_reader(db.url.render_as_string(hide_password=False))
    if db.dialect.name == "sqlite":
        assert reader is not None
        assert [s.to_dict() for s in signals_at(reader, as_of, since)] == full
        reader.close()


def test_versions_events_and_diff_of_new_changed_removed_and_reopened(
    board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = setup(tmp_path, board_server)
    tokyo = gh_job(100, "Data Center Electrical Engineer", "Tokyo, Japan")
    contracts = gh_job(110, "Contracts Manager", "London, UK")
    ops = gh_job(120, "Data Center Operations Lead", "Sydney, Australia")
    board_server.route("GET", PATH_A, gh_board(tokyo, contracts, ops))
    board_server.route("GET", PATH_B, gh_board())
    scrape(cfg, db, cfg.boards, DAY[0])

    senior = gh_job(110, "Senior Contracts Manager", "London, UK | Dublin, IE")
    mech = gh_job(130, "Data Center Mechanical Engineer", "Tokyo, Japan")
    board_server.route("GET", PATH_A, gh_board(tokyo, senior, mech))  # ops removed
    scrape(cfg, db, cfg.boards, DAY[1])
    board_server.route("GET", PATH_A, gh_board(tokyo, senior, mech, ops))  # ops back
    day3 = scrape(cfg, db, cfg.boards, DAY[2])
    assert (day3[0].new, day3[0].reopened, day3[0].closed) == (0, 1, 0)

    story = posting_history(db, "https://job-boards.greenhouse.io/acme/jobs/110")
    assert [v["changed"] for v in story["versions"]] == [["created"], ["title", "location"]]
    assert story["versions"][1]["diff"] == {
        "title": {"from": "Contracts Manager", "to": "Senior Contracts Manager"},
        "location": {"from": "London, UK", "to": "London, UK | Dublin, IE"},
    }
    assert [(e["kind"], e["at"]) for e in story["events"]] == [
        ("baseline", "2026-11-16T06:00:00Z"),
        ("changed", "2026-11-17T06:00:00Z"),
    ]
    back = posting_history(db, "120")  # an external id (no posting has id 120)
    assert [e["kind"] for e in back["events"]] == ["baseline", "closed", "reopened"]
    assert back["posting"]["first_seen"] == "2026-11-16T06:00:00Z" and back["posting"]["status"] == "open"
    assert posting_history(db, back["posting"]["id"])["posting"]["external_id"] == "120"

    d = diff_between(db, DAY[0], DAY[1])
    assert d["counts"] == {"opened": 1, "reopened": 0, "closed": 1, "changed": 1, "baseline": 0}
    groups = {(g["company"], g["market"]): g for g in d["groups"]}
    assert [e["title"] for e in groups[("Acme", "Tokyo")]["opened"]] == ["Data Center Mechanical Engineer"]
    assert [e["title"] for e in groups[("Acme", "Sydney")]["closed"]] == ["Data Center Operations Lead"]
    [changed] = groups[("Acme", "London")]["changed"]
    assert changed["changed_fields"] == ["title", "location"]
    assert changed["changes"]["title"] == {"from": "Contracts Manager", "to": "Senior Contracts Manager"}
    d23 = diff_between(db, DAY[1], DAY[2])
    assert d23["counts"]["reopened"] == 1 and d23["counts"]["opened"] == 0 and d23["counts"]["closed"] == 0
    # Closed and back within one window: not closed at its end.
    d13 = diff_between(db, DAY[0], DAY[2])
    assert d13["counts"]["closed"] == 0 and d13["counts"]["reopened"] == 1
    assert diff_between(db, DAY[0] - timedelta(days=1), DAY[0])["counts"]["baseline"] == 3


def test_diff_lists_copies_of_one_role_once_with_all_their_places(
    board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = setup(tmp_path, board_server)
    board_server.route("GET", PATH_A, gh_board(gh_job(100, "Data Center Technician", "Quincy, WA")))
    board_server.route("GET", PATH_B, gh_board())
    scrape(cfg, db, cfg.boards, DAY[0])
    copies = [gh_job(301, "Data Center Electrical Engineer", c) for c in ("Tokyo, Japan", "Osaka, Japan")]
    copies[1]["id"] = 302  # same internal job id (30): one role posted in two cities
    board_server.route("GET", PATH_A, gh_board(gh_job(100, "Data Center Technician", "Quincy, WA"), *copies))
    scrape(cfg, db, cfg.boards, DAY[1])
    d = diff_between(db, DAY[0], DAY[1], infra_only=True)
    assert d["counts"]["opened"] == 1
    [group] = d["groups"]
    [entry] = group["opened"]
    assert len(entry["copies"]) == 2 and entry["location"] == "Tokyo, Japan | Osaka, Japan"
    assert [p["city"] for p in entry["locations"]] == ["Tokyo", "Osaka"] and entry["markets"] == [
        "Tokyo",
        "Osaka",
    ]
    [signal] = signals_at(db, DAY[1], WEEK)
    assert signal.kind == "new_location" and len(signal.postings) == 1


FAULTS = {
    "http 500": lambda server: server.fault(PATH_A, Fault.status(500), Fault.status(500)),
    "timeout": lambda server: server.fault(PATH_A, Fault.hang(1.5), Fault.hang(1.5)),
    "truncated json": lambda server: server.route(
        "GET", PATH_A, b'{"jobs": [{"id": 100, "title": "Data Center'
    ),
    "truncated body": lambda server: server.fault(PATH_A, Fault.truncate(), Fault.truncate()),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_board_failing_on_day_two_closes_nothing_and_raises_no_signal(
    fault: str, board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = setup(tmp_path, board_server, timeout=0.5)
    jobs = [gh_job(100 + 10 * i, f"Data Center Technician {i}", "Quincy, WA") for i in range(3)]
    board_server.route("GET", PATH_A, gh_board(*jobs))
    board_server.route("GET", PATH_B, gh_board())
    scrape(cfg, db, cfg.boards, DAY[0])
    FAULTS[fault](board_server)
    [acme, _] = scrape(cfg, db, cfg.boards, DAY[1])
    assert acme.status == "failed" and acme.closed == 0
    assert diff_between(db, DAY[0], DAY[1])["counts"]["closed"] == 0
    assert summaries(db, DAY[1]) == []
    board_server.route("GET", PATH_A, gh_board(*jobs))  # the board is back, whole
    scrape(cfg, db, cfg.boards, DAY[2])
    assert summaries(db, DAY[2]) == [] and diff_between(db, DAY[0], DAY[2])["counts"]["closed"] == 0


def test_an_empty_board_is_quarantined_and_a_second_empty_day_confirms_the_pull_back(
    board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = setup(tmp_path, board_server)
    jobs = [
        gh_job(100, "Critical Facilities Engineer", "Quincy, WA"),
        gh_job(110, "Data Center Technician", "Quincy, WA"),
    ]
    board_server.route("GET", PATH_A, gh_board(*jobs))
    board_server.route("GET", PATH_B, gh_board())
    scrape(cfg, db, cfg.boards, DAY[0])
    board_server.route("GET", PATH_A, gh_board())
    [acme, _] = scrape(cfg, db, cfg.boards, DAY[1])
    assert (acme.rule, acme.closed) == ("suspect", 0)
    assert {h["board"]: h["quarantined"] for h in boards_health(db)} == {"Acme": True, "Beta": False}
    assert summaries(db, DAY[1]) == []
    [acme, _] = scrape(cfg, db, cfg.boards, DAY[2])
    assert (acme.rule, acme.closed) == ("confirmed", 2)
    assert summaries(db, DAY[2]) == [
        "Acme: 2 data-center roles closed in Quincy, WA, United States, none left open: "
        "Critical Facilities Engineer; Data Center Technician (closed 2026-11-17)"
    ]
    assert diff_between(db, DAY[0], DAY[2])["counts"]["closed"] == 2


def test_a_confirmed_drop_dates_each_closure_by_when_the_posting_went(
    board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = setup(tmp_path, board_server)
    jobs = [gh_job(100 + 10 * i, f"Data Center Technician {i}", "Quincy, WA") for i in range(12)]
    board_server.route("GET", PATH_B, gh_board())
    board_server.route("GET", PATH_A, gh_board(*jobs))
    scrape(cfg, db, cfg.boards, DAY[0])
    board_server.route("GET", PATH_A, gh_board(*jobs[:5]))  # 7 of 12 gone at once: suspect
    assert scrape(cfg, db, cfg.boards, DAY[1])[0].rule == "suspect"
    board_server.route("GET", PATH_A, gh_board(*jobs[:4]))  # still gone, and job 4 (listed on day 2) too
    [acme, _] = scrape(cfg, db, cfg.boards, DAY[2])
    assert (acme.rule, acme.closed) == ("confirmed", 8)
    closed = {posting_history(db, str(100 + 10 * i))["posting"]["closed_at"] for i in range(5, 12)}
    assert closed == {"2026-11-17T06:00:00Z"}  # went on day 2, when the drop was first seen
    job4 = posting_history(db, "140")
    assert job4["posting"]["closed_at"] == "2026-11-18T06:00:00Z"  # it was still listed on day 2
    assert job4["posting"]["last_seen"] == "2026-11-17T06:00:00Z"
    assert [e["kind"] for e in job4["events"]] == ["baseline", "closed"]


def test_a_posting_seen_by_an_unchanged_answer_keeps_that_sighting_when_it_goes(
    board_server: BoardServer, tmp_path: Path
) -> None:
    """A not-modified answer is recorded on the board (seen.py); a posting that then goes was last seen at
    that answer, not at the fetch that last listed it."""
    cfg, db = setup(tmp_path, board_server)
    jobs = [gh_job(100, "Data Center Technician", "Quincy, WA"), gh_job(110, "Site Lead", "Quincy, WA")]
    board_server.route("GET", PATH_A, gh_board(*jobs), etag='"v1"')
    board_server.route("GET", PATH_B, gh_board())
    scrape(cfg, db, cfg.boards, DAY[0])
    assert scrape(cfg, db, cfg.boards, DAY[1])[0].status == "not_modified"  # a 304
    assert posting_history(db, "100")["posting"]["last_seen"] == "2026-11-17T06:00:00Z"
    board_server.route("GET", PATH_A, gh_board(jobs[0]), etag='"v2"')  # 110 goes
    [acme, _] = scrape(cfg, db, cfg.boards, DAY[2])
    assert (acme.rule, acme.closed) == ("complete", 1)
    gone = posting_history(db, "110")["posting"]
    assert (gone["last_seen"], gone["closed_at"]) == ("2026-11-17T06:00:00Z", "2026-11-18T06:00:00Z")
    assert posting_history(db, "100")["posting"]["last_seen"] == "2026-11-18T06:00:00Z"
    board_server.route("GET", PATH_A, gh_board(jobs[0]), etag='"v2"')
    scrape(cfg, db, cfg.boards, DAY[3])  # another 304: only what the last listing saw is seen again
    seen = {r["external_id"]: r["last_seen"] for r in roles(db, RoleFilter(status="all"))}
    assert seen == {"100": "2026-11-19T06:00:00Z", "110": "2026-11-17T06:00:00Z"}


def test_signals_for_a_new_market_a_new_discipline_a_surge_and_a_pull_back(
    board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = setup(tmp_path, board_server)
    day1 = [
        gh_job(100, "Data Center Facility Operations Lead", "Sydney, Australia"),
        gh_job(110, "Data Center Electrical Engineer", "Frankfurt, Germany"),
        gh_job(120, "Data Center Electrical Engineer II", "Frankfurt, Germany"),
        gh_job(130, "Critical Facilities Engineer", "Quincy, WA"),
        gh_job(140, "Data Center Technician", "Quincy, WA"),
        gh_job(150, "Software Engineer", "Tokyo, Japan"),
    ]
    board_server.route("GET", PATH_A, gh_board(*day1))
    board_server.route("GET", PATH_B, gh_board(gh_job(500, "Data Center Site Lead", "Ashburn, VA")))
    scrape(cfg, db, cfg.boards, DAY[0])
    assert summaries(db, DAY[0]) == []  # a baseline is never news

    day2 = [
        *day1[:3],
        day1[5],
        gh_job(200, "Data Center Electrical Engineer", "Tokyo, Japan"),
        gh_job(210, "Energy Development Lead, APAC", "Sydney, Australia"),
        gh_job(220, "Data Center Electrical Lead", "Frankfurt, Germany"),
        gh_job(230, "Data Center Electrical Engineer III", "Frankfurt, Germany"),
        gh_job(231, "Data Center Electrical Engineer III", "Frankfurt, Germany"),  # a copy: same role
        gh_job(240, "Data Center Electrical Engineer IV", "Frankfurt, Germany"),
    ]  # 130 and 140 (Quincy) are gone: a pull-back
    board_server.route("GET", PATH_A, gh_board(*day2))
    scrape(cfg, db, cfg.boards, DAY[1])
    on_day2 = signals_at(db, DAY[1], WEEK)
    assert [(s.kind, s.market, s.discipline) for s in on_day2] == [
        ("new_location", "Tokyo", None),
        ("surge", "Frankfurt", None),
        ("new_discipline", "Sydney", "energy"),
        ("closed", "Quincy", None),
    ]
    assert on_day2[0].summary == (
        "Acme: first data-center role in Tokyo, Japan: Data Center Electrical Engineer (first seen 2026-11-17)"
    )
    assert on_day2[1].detail | {} == {"before": 2, "after": 5, "growth": 3, "growth_pct": 150.0}
    assert len(on_day2[1].postings) == 3  # the copy of role 23x counts once
    assert "(had operations)" in on_day2[2].summary
    assert on_day2[3].detail == {"still_open": 0} and len(on_day2[3].postings) == 2
    assert_windowed_equals_full(db, DAY[1])

    # Day 3: Tokyo's role closes, Quincy comes back (reopened), Beta opens in a new market.
    board_server.route("GET", PATH_A, gh_board(*[j for j in day2 if j["id"] != 200], day1[3], day1[4]))
    board_server.route(
        "GET",
        PATH_B,
        gh_board(
            gh_job(500, "Data Center Site Lead", "Ashburn, VA"), gh_job(510, "Site Manager", "Dublin, IE")
        ),
    )
    scrape(cfg, db, cfg.boards, DAY[2])
    on_day3 = summaries(db, DAY[2], timedelta(days=1))
    assert on_day3 == [
        "Beta: first data-center role in Dublin, Ireland: Site Manager (first seen 2026-11-18)",
        "Acme: 1 data-center role closed in Tokyo, Japan, none left open: "
        "Data Center Electrical Engineer (closed 2026-11-18)",
    ]
    # As of day 2, the store still says what it said on day 2.
    assert [s.to_dict() for s in signals_at(db, DAY[1], WEEK)] == [s.to_dict() for s in on_day2]
    for as_of in DAY[:3]:
        for days in (1, 2, 7):
            assert_windowed_equals_full(db, as_of, timedelta(days=days))


def test_windowed_loading_gives_the_same_signals_as_the_full_history(tmp_path: Path) -> None:
    """Random multi-day histories (new, removed, reopened, copied roles over several companies): for every
    day and window, the loader's windowed records give exactly the signals of the full history."""
    for seed in range(3):
        db = open_store(f"sqlite:///{tmp_path}/r{seed}.db")
        _random_history(db, random.Random(seed), days=12)
        for as_of in [datetime(2026, 11, 1, 6) + timedelta(days=d, hours=3 * (d % 2)) for d in range(13)]:
            for window in (timedelta(days=2), timedelta(days=7)):
                full = detect_signals(
                    load_roles_history(db, as_of), as_of, window, SignalsConfig(surge_min=2)
                )
                windowed = signals_at(db, as_of, window, SignalsConfig(surge_min=2))
                assert [s.to_dict() for s in windowed] == [s.to_dict() for s in full], (seed, as_of, window)


TITLES = [
    "Data Center Electrical Engineer",
    "Data Center Mechanical Engineer",
    "Energy Lead",
    "Data Center Construction Manager",
    "Data Center Technician",
    "Site Selection Lead",
    "Capacity Planner",
    "Software Engineer",
    "Recruiter",
]


def _random_history(db: Engine, rng: random.Random, days: int) -> None:
    from infrasignal.config import BoardConfig

    boards = [BoardConfig(company=c, ats="greenhouse", token=c.lower()) for c in ("Acme", "Beta", "Gamma")]
    ids = sync_boards(db, boards)
    cities = sorted(CITIES)
    live: dict[str, dict[str, Posting]] = {b.label: {} for b in boards}
    gone: dict[str, dict[str, Posting]] = {b.label: {} for b in boards}
    serial = 0
    for day in range(days):
        at = datetime(2026, 11, 1, 6) + timedelta(days=day)
        for b in boards:
            now, old = live[b.label], gone[b.label]
            for _ in range(rng.randint(0, 4) if day else 6):
                serial += 1
                req = (
                    str(serial)
                    if rng.random() < 0.8
                    else (rng.choice(list(now.values())).requisition_id if now else None)
                )
                locs = [f"{c}, X" for c in rng.sample(cities, rng.choice((1, 1, 1, 2)))]
                p = Posting(
                    str(serial), rng.choice(TITLES), f"https://x/{serial}", locations=locs, requisition_id=req
                )
                now[p.external_id] = p
            for eid in [e for e in now if rng.random() < 0.15]:
                old[eid] = now.pop(eid)
            for eid in [e for e in old if rng.random() < 0.2]:
                now[eid] = old.pop(eid)
            fetch = SimpleNamespace(
                status="ok", postings=list(now.values()), complete=True, error=None, http_status=200,
                etag=None, last_modified=None, body_hash=None, pages=1, requests=1, duration=0.0,
            )  # fmt: skip
            record_fetch(db, ids[b.label], fetch, HistoryConfig(suspect_min_board=1000), at, classify)


@contextmanager
def postgres_store() -> Iterator[Engine]:
    """A store in a fresh schema of a reachable PostgreSQL server (else the test is skipped)."""
    from support.pg import find_server, fresh_schema

    server, why = find_server()
    if server is None:
        pytest.skip(why)
    with fresh_schema(server) as url:
        db = open_store(url)
        try:
            yield db
        finally:
            db.dispose()


@pytest.mark.postgres
def test_windowed_loading_matches_the_full_history_on_postgresql() -> None:
    """The loader's SQL (CTE, CROSS JOIN, grouped sites) on PostgreSQL, when a server is reachable."""
    with postgres_store() as db:
        _random_history(db, random.Random(5), days=9)
        for as_of in [datetime(2026, 11, 1, 6) + timedelta(days=d) for d in range(10)]:
            low = SignalsConfig(surge_min=1)
            full = detect_signals(load_roles_history(db, as_of), as_of, WEEK, low)
            assert [s.to_dict() for s in signals_at(db, as_of, WEEK, low)] == [s.to_dict() for s in full]
        assert diff_between(db, datetime(2026, 11, 1), datetime(2026, 11, 9))["counts"]["opened"] > 0


def _seen_again_then_gone(db: Engine) -> dict[str, str]:
    """Acme lists jobs 1 and 2, answers "not modified", then lists 1 alone: each job's `last_seen`."""
    from infrasignal.config import BoardConfig

    [acme] = [BoardConfig(company="Acme", ats="greenhouse", token="acme")]
    board_id = sync_boards(db, [acme])["Acme"]
    jobs = [
        Posting("1", "Site Lead", "https://x/1", locations=["Quincy, WA"]),
        Posting("2", "Electrician", "https://x/2"),
    ]
    for at, status, listed in ((DAY[0], "ok", jobs), (DAY[1], "not_modified", []), (DAY[2], "ok", jobs[:1])):
        fetch = SimpleNamespace(
            status=status, postings=listed, complete=True, error=None, http_status=200, etag=None,
            last_modified=None, body_hash=None, pages=1, requests=1, duration=0.0,
        )  # fmt: skip
        record_fetch(db, board_id, fetch, HistoryConfig(), at, classify)
    seen = {r["external_id"]: r["last_seen"] for r in roles(db, RoleFilter(status="all"))}
    assert seen == {eid: posting_history(db, eid)["posting"]["last_seen"] for eid in seen}
    return seen


@pytest.mark.postgres
def test_the_last_sighting_rule_on_postgresql() -> None:
    """seen.py's rule and the store's hand-over of a board's unchanged time, on PostgreSQL."""
    with postgres_store() as db:
        assert _seen_again_then_gone(db) == {"1": "2026-11-18T06:00:00Z", "2": "2026-11-17T06:00:00Z"}


def test_the_last_sighting_rule_through_the_store(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path}/seen.db")
    assert _seen_again_then_gone(db) == {"1": "2026-11-18T06:00:00Z", "2": "2026-11-17T06:00:00Z"}
