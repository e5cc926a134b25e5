"""`signals`, `diff` and `history` as a user runs them (CliRunner on the real app, a real loopback board
server, two scrapes with `--as-of`): JSON shapes, tables, and one-line errors with the right exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from support.boardserver import BoardServer
from support.fakeclassify import use_fake_classifier
from support.gh import gh_board, gh_job

_register()
runner = CliRunner()
DAY1, DAY2 = "2026-11-16T06:00:00Z", "2026-11-17T06:00:00Z"
SIGNAL_KEYS = {
    "kind",
    "company",
    "country",
    "city",
    "market",
    "discipline",
    "first_seen",
    "summary",
    "postings",
    "score",
}


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "240"})  # wide tables: no folded cells
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config(board_server: BoardServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store with two days of Acme: baseline, then a new market, a new discipline and a changed title."""
    use_fake_classifier(monkeypatch)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[storage]
database = "t.db"
[fetch]
retries = 0
[[boards]]
company = "Acme"
ats = "greenhouse"
token = "acme"
base_url = "{board_server.base_url}"
""",
        encoding="utf-8",
    )
    ops = gh_job(100, "Data Center Operations Lead", "Sydney, Australia")
    contracts = gh_job(110, "Contracts Manager", "London, UK")
    board_server.route("GET", "/v1/boards/acme/jobs", gh_board(ops, contracts))
    assert run("scrape", "--config", str(path), "--as-of", DAY1)[0] == 0
    board_server.route(
        "GET",
        "/v1/boards/acme/jobs",
        gh_board(
            ops,
            gh_job(110, "Senior Contracts Manager", "London, UK"),
            gh_job(120, "Data Center Electrical Engineer", "Tokyo, Japan"),
            gh_job(130, "Energy Development Lead, APAC", "Sydney, Australia"),
        ),
    )
    assert run("scrape", "--config", str(path), "--as-of", DAY2)[0] == 0
    return str(path)


def as_json(*args: str) -> Any:
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_signals_json_has_the_documented_fields_strongest_first(config: str) -> None:
    signals = as_json("signals", "--config", config, "--as-of", DAY2)
    assert [(s["kind"], s["market"], s["discipline"]) for s in signals] == [
        ("new_location", "Tokyo", None),
        ("new_discipline", "Sydney", "energy"),
    ]
    for s in signals:
        assert set(s) >= SIGNAL_KEYS
        assert all({"title", "url", "first_seen"} <= set(p) for p in s["postings"])
    assert signals[0]["summary"] == (
        "Acme: first data-center role in Tokyo, Japan: Data Center Electrical Engineer (first seen 2026-11-17)"
    )
    assert signals[0]["postings"][0]["url"] == "https://job-boards.greenhouse.io/acme/jobs/120"
    assert signals[0]["score"] >= signals[1]["score"]


def test_signals_as_of_the_baseline_day_and_a_short_window(config: str) -> None:
    assert as_json("signals", "--config", config, "--as-of", DAY1) == []
    assert as_json("signals", "--config", config, "--as-of", DAY2, "--since", "2026-11-17T05:00:00Z") != []
    assert as_json("signals", "--config", config, "--as-of", "2026-11-18T06:00:00Z", "--since", "12h") == []


def test_signals_table(config: str) -> None:
    code, out, _ = run("signals", "--config", config, "--as-of", DAY2, "--format", "table")
    assert code == 0 and "2 signals" in out and "new_location" in out and "Tokyo, Japan" in out


def test_diff_json_groups_by_company_and_market(config: str) -> None:
    d = as_json("diff", "--config", config, "--from", DAY1, "--to", DAY2)
    assert d["from"] == DAY1 and d["to"] == DAY2
    assert d["counts"] == {"opened": 2, "reopened": 0, "closed": 0, "changed": 1, "baseline": 0}
    groups = {(g["company"], g["market"]): g for g in d["groups"]}
    assert [e["title"] for e in groups[("Acme", "Tokyo")]["opened"]] == ["Data Center Electrical Engineer"]
    [changed] = groups[("Acme", "London")]["changed"]
    assert changed["changes"] == {"title": {"from": "Contracts Manager", "to": "Senior Contracts Manager"}}
    week = as_json("diff", "--config", config, "--since", "7d", "--to", DAY2)
    assert week["groups"] == d["groups"] and week["counts"]["baseline"] == 2  # day 1 is in this window
    infra = as_json("diff", "--config", config, "--since", "7d", "--to", DAY2, "--infra")
    assert infra["counts"]["opened"] == 2 and infra["counts"]["changed"] == 0


def test_diff_table(config: str) -> None:
    code, out, _ = run("diff", "--config", config, "--since", "2d", "--to", DAY2, "--format", "table")
    assert code == 0 and "2 opened" in out and "Senior Contracts Manager" in out


def test_history_by_url_id_and_external_id(config: str) -> None:
    url = "https://job-boards.greenhouse.io/acme/jobs/110"
    story = as_json("history", url, "--config", config)
    assert set(story) == {"posting", "versions", "events"}
    assert story["posting"]["title"] == "Senior Contracts Manager"
    assert [v["changed"] for v in story["versions"]] == [["created"], ["title"]]
    assert [e["kind"] for e in story["events"]] == ["baseline", "changed"]
    assert as_json("history", "110", "--config", config) == story
    assert as_json("history", str(story["posting"]["id"]), "--config", config) == story
    code, out, _ = run("history", url, "--config", config, "--format", "table")
    assert code == 0 and "Contracts Manager -> Senior Contracts Manager" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["signals", "--since", "forever"], 2, "--since: not a span or a time"),
        (["signals", "--as-of", "yesterday"], 2, "--as-of: not an ISO 8601 time"),
        (["signals", "--format", "csv"], 2, "--format"),
        (["signals", "--since", "2030-01-01", "--as-of", DAY2], 2, "the window is empty"),
        (["diff", "--since", "7d", "--from", DAY1], 2, "either --since or --from"),
        (["diff", "--from", DAY2, "--to", DAY1], 2, "the window is empty"),
        (["diff", "--to", "soon"], 2, "--to: not an ISO 8601 time"),
        (["history", "https://nowhere.example/jobs/1"], 1, "no stored posting"),
        (["history", "999999"], 1, "no stored posting"),
    ],
)
def test_errors_are_one_line_with_exit_codes(config: str, args: list[str], code: int, message: str) -> None:
    got, out, err = run(*args, "--config", config)
    assert got == code and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("signals", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "no such config file" in err
