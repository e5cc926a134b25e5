"""`scrape` end to end over a real loopback server and a real SQLite file: baseline, new / unchanged /
changed / removed postings, failures that close nothing, ETag 304, idempotence, suspect drops."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from infrasignal.config import parse_config
from infrasignal.queries import RoleFilter, boards_health, events_between, roles
from infrasignal.scrape import scrape
from infrasignal.store import open_store
from infrasignal.tables import Event, Posting, PostingVersion
from support.boardserver import BoardServer, Fault
from support.gh import gh_board, gh_job

DAY1, DAY2, DAY3 = datetime(2026, 11, 16, 6), datetime(2026, 11, 17, 6), datetime(2026, 11, 18, 6)
PATH_A, PATH_B = "/v1/boards/acme/jobs", "/v1/boards/beta/jobs"


def config(tmp_path: Path, server: BoardServer):  # type: ignore[no-untyped-def]
    cfg = parse_config(
        {
            "storage": {"database": str(tmp_path / "t.db")},
            "fetch": {"retries": 1, "backoff": 0.01, "timeout": 2.0},
            "boards": [
                {"company": "Acme", "ats": "greenhouse", "token": "acme", "base_url": server.base_url},
                {"company": "Beta", "ats": "greenhouse", "token": "beta", "base_url": server.base_url},
            ],
        },
        tmp_path / "config.toml",
    )
    return cfg, open_store(cfg.database_url)


def by_id(db, board_label: str) -> dict[str, Posting]:  # type: ignore[no-untyped-def]
    return {r["external_id"]: r for r in roles(db, RoleFilter(status="all", company=board_label))}


def test_two_days_new_changed_removed_and_failing_board(board_server: BoardServer, tmp_path: Path) -> None:
    cfg, db = config(tmp_path, board_server)
    a1 = gh_board(
        gh_job(101, "Data Center Electrical Engineer", "Tokyo, Japan"),
        gh_job(102, "Contracts Manager", "London, UK"),
        gh_job(103, "Software Engineer", "San Francisco, CA"),
    )
    board_server.route("GET", PATH_A, a1)
    board_server.route("GET", PATH_B, gh_board(gh_job(201, "Site Lead", "Sydney, Australia")))
    day1 = scrape(cfg, db, cfg.boards, DAY1)
    assert [(s.status, s.rule, s.found, s.new, s.baseline) for s in day1] == [
        ("ok", "complete", 3, 0, True),
        ("ok", "complete", 1, 0, True),
    ]

    a2 = gh_board(
        gh_job(101, "Data Center Electrical Engineer", "Tokyo, Japan"),
        gh_job(102, "Senior Contracts Manager", "London, UK"),
        gh_job(104, "Data Center Mechanical Engineer", "Tokyo, Japan"),
    )
    board_server.route("GET", PATH_A, a2)
    board_server.fault(PATH_B, Fault.status(500), Fault.status(500))  # retries=1: both attempts fail
    day2 = scrape(cfg, db, cfg.boards, DAY2)
    assert (day2[0].new, day2[0].changed, day2[0].closed) == (1, 1, 1)
    assert day2[1].status == "failed" and "500" in (day2[1].error or "")

    acme = by_id(db, "Acme")
    assert acme["103"]["status"] == "closed" and acme["103"]["closed_at"] == "2026-11-17T06:00:00Z"
    assert acme["104"]["first_seen"] == "2026-11-17T06:00:00Z"
    assert acme["102"]["title"] == "Senior Contracts Manager"
    assert (
        acme["101"]["first_seen"] == "2026-11-16T06:00:00Z"
        and acme["101"]["last_seen"] == "2026-11-17T06:00:00Z"
    )
    beta = by_id(db, "Beta")
    assert beta["201"]["status"] == "open"  # the failed fetch closed nothing

    events = {(e["event"], e["external_id"]) for e in events_between(db, DAY1, DAY2)}
    assert events == {("new", "104"), ("changed", "102"), ("closed", "103")}
    with db.connect() as conn:
        versions = conn.execute(select(PostingVersion.changed).order_by(PostingVersion.id)).scalars().all()
    assert versions.count("created") == 5 and "title" in versions

    health = {h["board"]: h for h in boards_health(db)}
    assert health["Beta"]["last_status"] == "failed" and health["Beta"]["open"] == 1
    assert "500" in health["Beta"]["last_error"]


def test_unchanged_rescrape_is_idempotent_and_uses_etag(board_server: BoardServer, tmp_path: Path) -> None:
    cfg, db = config(tmp_path, board_server)
    body = gh_board(
        gh_job(1, "Energy Lead", "Sydney, Australia"), gh_job(2, "Capacity Engineer", "Dublin, IE")
    )
    board_server.route("GET", PATH_A, body, etag='"v1"')
    board_server.route("GET", PATH_B, body)
    scrape(cfg, db, cfg.boards, DAY1)
    with db.connect() as conn:
        events_before = conn.execute(select(func.count()).select_from(Event)).scalar_one()
    second = scrape(cfg, db, cfg.boards, DAY2)
    assert second[0].status == "not_modified" and second[0].found == 2
    # No ETag on board B: the body is byte for byte the same, so nothing is parsed either.
    assert (second[1].status, second[1].rule) == ("not_modified", "unchanged")
    assert (second[1].new, second[1].changed, second[1].closed) == (0, 0, 0)
    assert board_server.requests_to(PATH_A)[-1].headers.get("if-none-match") == '"v1"'
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == events_before
        # Seen again on day 2, by the board's record of the unchanged answer: no posting row was rewritten.
        assert set(conn.execute(select(Posting.last_seen)).scalars()) == {DAY1}
        assert [r["last_seen"] for r in roles(db, RoleFilter(status="all"))] == ["2026-11-17T06:00:00Z"] * 4
        assert set(conn.execute(select(Posting.status)).scalars()) == {"open"}


def test_board_gone_empty_is_quarantined_then_confirmed(board_server: BoardServer, tmp_path: Path) -> None:
    cfg, db = config(tmp_path, board_server)
    board_server.route(
        "GET", PATH_A, gh_board(gh_job(1, "Site Lead", "Quincy, WA"), gh_job(2, "Electrician", "Quincy, WA"))
    )
    board_server.route("GET", PATH_B, gh_board())
    scrape(cfg, db, cfg.boards, DAY1)
    board_server.route("GET", PATH_A, gh_board())
    day2 = scrape(cfg, db, cfg.boards[:1], DAY2)
    assert day2[0].rule == "suspect" and day2[0].closed == 0
    health = {h["board"]: h for h in boards_health(db)}
    assert health["Acme"]["quarantined"] and "no postings" in health["Acme"]["quarantine_reason"]
    assert all(r["status"] == "open" for r in by_id(db, "Acme").values())
    day3 = scrape(cfg, db, cfg.boards[:1], DAY3)
    assert day3[0].rule == "confirmed" and day3[0].closed == 2
    closed = by_id(db, "Acme")
    assert {r["closed_at"] for r in closed.values()} == {"2026-11-17T06:00:00Z"}
    assert not {h["board"]: h for h in boards_health(db)}["Acme"]["quarantined"]


def test_truncated_json_fails_the_board_and_closes_nothing(board_server: BoardServer, tmp_path: Path) -> None:
    cfg, db = config(tmp_path, board_server)
    board_server.route("GET", PATH_A, gh_board(gh_job(1, "Site Lead", "Quincy, WA")))
    board_server.route("GET", PATH_B, gh_board(gh_job(2, "Electrician", "Ashburn, VA")))
    scrape(cfg, db, cfg.boards, DAY1)
    board_server.route("GET", PATH_A, b'{"jobs": [{"id": 1, "title": "Site')
    result = scrape(cfg, db, cfg.boards, DAY2)
    assert result[0].status == "failed" and "JSON" in (result[0].error or "")
    assert result[1].status != "failed"
    assert by_id(db, "Acme")["1"]["status"] == "open"


def test_closed_posting_returns_reopened_with_first_seen_kept(
    board_server: BoardServer, tmp_path: Path
) -> None:
    cfg, db = config(tmp_path, board_server)
    job = gh_job(1, "Site Lead", "Quincy, WA")
    other = gh_job(2, "Electrician", "Quincy, WA")
    board_server.route("GET", PATH_A, gh_board(job, other))
    scrape(cfg, db, cfg.boards[:1], DAY1)
    board_server.route("GET", PATH_A, gh_board(other))
    scrape(cfg, db, cfg.boards[:1], DAY2)
    assert by_id(db, "Acme")["1"]["status"] == "closed"
    board_server.route("GET", PATH_A, gh_board(job, other))
    day3 = scrape(cfg, db, cfg.boards[:1], DAY3)
    assert (day3[0].new, day3[0].reopened) == (0, 1)
    back = by_id(db, "Acme")["1"]
    assert (
        back["status"] == "open"
        and back["first_seen"] == "2026-11-16T06:00:00Z"
        and back["closed_at"] is None
    )
