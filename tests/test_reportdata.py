"""The report's data from a real store (history written through `store.record_fetch`), and `infrasignal
report` as a user runs it: periods, formats, the malicious title escaped end to end."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

from msgspec.structs import replace
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.periods import week
from infrasignal.report import OpenCount
from infrasignal.reportdata import gather
from support.history import EVIL_TITLE, W47_DAYS, History, job, make_config, week47

_register()
runner = CliRunner()
NOW = datetime(2026, 11, 23, 8)


def write_config(h: History, tmp_path: Path, email: str = "") -> Path:
    path = tmp_path / "config.toml"
    boards = "".join(
        f'[[boards]]\ncompany = "{b.company}"\nats = "greenhouse"\ntoken = "{b.token}"\n'
        for b in h.cfg.boards
    )
    path.write_text(f'[storage]\ndatabase = "{h.cfg.storage.database}"\n{email}\n{boards}', encoding="utf-8")
    return path


def test_gather_week(tmp_path: Path) -> None:
    h = week47(tmp_path)
    data = gather(h.db, h.cfg, week("2026-W47"), NOW)
    assert [(s.kind, s.company, s.market) for s in data.signals][:1] == [("new_location", "Acme", "Tokyo")]
    assert EVIL_TITLE in [e.title for e in data.signals[0].evidence]
    assert sorted((r.company, r.market, r.title) for r in data.opened) == [
        ("Acme", "Tokyo", EVIL_TITLE),
        ("Acme", "Tokyo", "Data Center Mechanical Engineer"),
        ("Beta", "Sydney", "Site Energy Manager"),
    ]
    assert [(r.company, r.market, r.title, r.at) for r in data.closed] == [
        ("Acme", "London", "Data Center Electrical Engineer", "2026-11-18T06:00:00Z")
    ]
    assert sorted(data.open_roles, key=lambda c: str(c.market)) == [
        OpenCount("Acme", "London", 1, 2),
        OpenCount("Beta", "Sydney", 2, 1),
        OpenCount("Acme", "Tokyo", 2, 0),
    ]
    assert (data.open_total, data.open_change) == (5, 2)  # the software role is not infra
    assert [(g.board, g.problem, g.failures, g.fetches) for g in data.gaps] == [("Beta", "failed", 1, 2)]
    assert data.boards == 2 and data.new_boards == []


def test_gather_week_of_baseline_counts_nothing_as_new(tmp_path: Path) -> None:
    h = week47(tmp_path)
    data = gather(h.db, h.cfg, week("2026-W46"), NOW)
    assert data.opened == [] and data.signals == []
    assert data.new_boards == ["Acme", "Beta"]
    assert all(c.before is None for c in data.open_roles) and data.open_change is None


def test_gather_gaps_quarantine_and_never_fetched(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, "Big", "Idle", "Ghost", extra={"history": {"suspect_min_board": 4}})
    h = History(cfg, datetime(2026, 11, 1))
    big = [job(i, f"Data Center Technician {i}", "Ashburn, US") for i in range(6)]
    h.fetch("Big", datetime(2026, 11, 10), *big)
    h.fetch("Idle", datetime(2026, 11, 10), job(99, "Site Lead", "Tokyo, JP"))
    h.fetch("Big", W47_DAYS[0], *big[:1])  # lost 5 of 6 at once: quarantined, nothing closed
    data = gather(h.db, h.cfg, week("2026-W47"), NOW)
    gaps = {g.board: g for g in data.gaps}
    assert gaps["Big"].problem == "quarantined" and "5" in gaps["Big"].detail
    assert gaps["Idle"].problem == "not_fetched"
    assert [c.open for c in data.open_roles if c.company == "Big"] == [6]


def test_cli_report_formats(tmp_path: Path) -> None:
    h = week47(tmp_path)
    config = write_config(
        h, tmp_path, '[email]\nfrom = "Infra Signal <signal@example.com>"\nto = ["a@example.com"]'
    )
    result = runner.invoke(app, ["report", "--week", "2026-W47", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "week 2026-W47" in result.stdout and "Data Center Mechanical Engineer" in result.stdout
    out = tmp_path / "r.html"
    result = runner.invoke(
        app, ["report", "--week", "2026-W47", "-f", "html", "-o", str(out), "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    eml = tmp_path / "r.eml"
    result = runner.invoke(
        app, ["report", "--week", "2026-W47", "-f", "eml", "--out", str(eml), "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"].endswith("@example.com>") and msg["To"] == "a@example.com"
    assert "2026-W47" in msg["Subject"]
    html_part = msg.get_body(("html",))
    assert html_part is not None and "&lt;script&gt;" in html_part.get_content()


def test_cli_report_default_period_and_errors(tmp_path: Path) -> None:
    h = week47(tmp_path)
    config = write_config(h, tmp_path)
    result = runner.invoke(app, ["report", "--as-of", "2026-11-25T09:00:00Z", "-c", str(config)])
    assert result.exit_code == 0 and "week 2026-W47" in result.stdout
    result = runner.invoke(
        app, ["report", "--since", "2d", "--as-of", "2026-11-18T07:00:00Z", "-c", str(config)]
    )
    assert result.exit_code == 0 and "2026-11-16 07:00 – 2026-11-18 07:00 UTC" in result.stdout
    for args, message in [
        (["--week", "2026-W99"], "--week: 2026 has no ISO week 99"),
        (["--week", "2026-W47", "--since", "7d"], "either --since or --week"),
        (["--format", "pdf"], "--format: 'pdf' is not one of text, html, eml"),
        (["--force"], "--force only goes with --send"),
        (["--send", "--week", "2026-W47"], "email.to: no recipients"),
    ]:
        result = runner.invoke(app, ["report", *args, "-c", str(config)])
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)


def test_boards_dropped_from_the_config_are_left_out(tmp_path: Path) -> None:
    h = week47(tmp_path)
    only_acme = replace(h.cfg, boards=h.cfg.boards[:1])
    data = gather(h.db, only_acme, week("2026-W47"), NOW)
    assert {r.company for r in data.opened + data.closed} == {"Acme"}
    assert {c.company for c in data.open_roles} == {"Acme"} and data.gaps == [] and data.boards == 1
