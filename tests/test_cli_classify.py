"""`infrasignal classify` and `infrasignal reclassify` as a user runs them (typer's CliRunner on the real
app): JSON output with evidence, the table, a missing description file (exit 2), a user rules file from
the config, and re-tagging a small real SQLite store after the rules change."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.config import load_config
from infrasignal.crawl import BoardFetch
from infrasignal.model import Posting
from infrasignal.store import open_store, record_fetch, sync_boards
from infrasignal.tables import Posting as PostingRow
from infrasignal.tables import PostingPlace, PostingTag

_register()
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def no_ambient_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder so a developer's ./config.toml never leaks into the tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INFRASIGNAL_CONFIG", raising=False)


def test_classify_json_has_tags_places_and_evidence(tmp_path: Path) -> None:
    desc = tmp_path / "d.html"
    desc.write_text(
        "<p>Negotiate <b>colocation</b> agreements and data center leases; manage our hubs in "
        "Frankfurt, Amsterdam, Paris and Dublin.</p>",
        encoding="utf-8",
    )
    code, out, err = run(
        "classify",
        "--title", "Data Center Contracts Manager",
        "--department", "Compute",
        "--location", "London, UK",
        "--description-file", str(desc),
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["infra"] is True
    assert data["disciplines"] == ["contracts"]
    assert [(p["city"], p["country"]) for p in data["locations"]] == [("London", "GB")]
    assert "London" in data["markets"]
    rules = {(e["tag"], e["field"], e["text"]) for e in data["evidence"]}
    assert ("infra", "title", "data center") in rules
    assert ("contracts", "title", "contracts") in rules
    assert any(e["field"] == "description" for e in data["evidence"])
    assert set(data) >= {"infra", "disciplines", "locations", "markets", "covered_markets", "evidence"}


def test_classify_not_infra_shows_negative_evidence() -> None:
    code, out, _ = run("classify", "--title", "Senior Software Engineer, Infrastructure", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["infra"] is False and data["disciplines"] == []
    assert any(e["tag"] == "infra" and e["weight"] < 0 for e in data["evidence"])


def test_classify_table() -> None:
    code, out, _ = run(
        "classify",
        "--title",
        "Data Center Electrical Engineer",
        "--location",
        "Tokyo, Japan",
        "--format",
        "table",
    )
    assert code == 0
    assert "electrical" in out and "Tokyo" in out and "evidence" in out


def test_missing_description_file_is_one_line_exit_2(tmp_path: Path) -> None:
    code, out, err = run("classify", "--title", "X", "--description-file", str(tmp_path / "nope.txt"))
    assert code == 2
    assert err.startswith("error: --description-file") and err.count("\n") == 1
    assert out == ""


def test_classify_uses_rules_file_from_config(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "my_rules.toml").write_text(
        '[[rule]]\nname = "mine"\ntag = "infra"\nfield = "title"\nweight = 2.0\npatterns = ["immersion"]\n',
        encoding="utf-8",
    )
    cfg = folder / "config.toml"
    cfg.write_text('[classify]\nrules_file = "my_rules.toml"\n', encoding="utf-8")
    code, out, _ = run(
        "classify", "--title", "Immersion Specialist", "--config", str(cfg), "--format", "json"
    )
    assert code == 0 and json.loads(out)["infra"] is True
    code, out, _ = run("classify", "--title", "Immersion Specialist", "--format", "json")
    assert code == 0 and json.loads(out)["infra"] is False


def test_bad_rules_file_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[[rule]]\nname = "x"\ntag = "nope"\n', encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[classify]\nrules_file = "bad.toml"\n', encoding="utf-8")
    code, _, err = run("classify", "--title", "X", "--config", str(cfg))
    assert code == 2 and err.startswith("error:")


def _store(tmp_path: Path) -> tuple[Path, object]:
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(
        '[storage]\ndatabase = "t.db"\n[[boards]]\ncompany = "Acme"\nats = "greenhouse"\ntoken = "acme"\n',
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    db = open_store(cfg.database_url)
    ids = sync_boards(db, cfg.boards)
    postings = [
        Posting("1", "Data Center Electrical Engineer", "u1", ["Tokyo, Japan"], department="Compute"),
        Posting("2", "Immersion Specialist", "u2", ["Sydney, Australia", "Melbourne, Australia"]),
        Posting("3", "Software Engineer", "u3", ["San Francisco, CA"], department="Engineering"),
    ]
    fetch = BoardFetch(board="Acme", status="ok", postings=postings, complete=True, http_status=200)
    record_fetch(db, ids["Acme"], fetch, cfg.history, datetime(2026, 1, 5, 6))  # stored untagged
    return cfg_path, db


def test_reclassify_retags_every_stored_posting(tmp_path: Path) -> None:
    cfg_path, db = _store(tmp_path)
    code, out, err = run("reclassify", "--config", str(cfg_path), "--format", "json")
    assert code == 0, err
    [summary] = json.loads(out)
    assert summary["postings"] == 3 and summary["infra"] == 1 and summary["infra_changed"] == 1
    assert summary["per_second"] > 0
    with db.begin() as conn:  # type: ignore[attr-defined]
        infra = {
            r.external_id: r.infra for r in conn.execute(select(PostingRow.external_id, PostingRow.infra))
        }
        tags = {(r.kind, r.value) for r in conn.execute(select(PostingTag.kind, PostingTag.value))}
        places = {(r.city, r.country) for r in conn.execute(select(PostingPlace.city, PostingPlace.country))}
    assert infra == {"1": True, "2": False, "3": False}
    assert ("discipline", "electrical") in tags and ("market", "Tokyo") in tags
    assert {("Tokyo", "JP"), ("Sydney", "AU"), ("Melbourne", "AU"), ("San Francisco", "US")} <= places

    # the user adds a rule: reclassify picks it up, and the locations split back into two places
    (tmp_path / "my_rules.toml").write_text(
        '[[rule]]\nname = "mine"\ntag = "infra"\nfield = "title"\nweight = 2.0\npatterns = ["immersion"]\n'
        '[[rule]]\nname = "mine-mech"\ntag = "mechanical"\nfield = "title"\nweight = 1.0\npatterns = ["immersion"]\n',
        encoding="utf-8",
    )
    with cfg_path.open("a", encoding="utf-8") as fh:
        fh.write('[classify]\nrules_file = "my_rules.toml"\n')
    code, out, err = run("reclassify", "--config", str(cfg_path), "--format", "json")
    assert code == 0, err
    [summary] = json.loads(out)
    assert summary["infra"] == 2 and summary["infra_changed"] == 1 and summary["rewritten"] == 1
    with db.begin() as conn:  # type: ignore[attr-defined]
        row = conn.execute(select(PostingRow.id, PostingRow.infra).where(PostingRow.external_id == "2")).one()
        tags = {
            r.value for r in conn.execute(select(PostingTag.value).where(PostingTag.posting_id == row.id))
        }
    assert row.infra is True and {"mechanical", "Sydney", "Melbourne"} <= tags


def test_reclassify_in_small_batches_matches_one_batch(tmp_path: Path) -> None:
    from infrasignal.classify import load_classifier
    from infrasignal.cli.classify import reclassify_store

    _, db = _store(tmp_path)
    one = reclassify_store(db, load_classifier(), batch=1)
    assert (one["postings"], one["rewritten"], one["infra"]) == (3, 3, 1)
    # nothing changed: every posting compares equal to what write_classification stored, none rewritten
    again = reclassify_store(db, load_classifier(), batch=1000)
    assert (again["postings"], again["rewritten"], again["infra"], again["infra_changed"]) == (3, 0, 1, 0)


def test_reclassify_needs_a_config(tmp_path: Path) -> None:
    code, _, err = run("reclassify", "--config", str(tmp_path / "absent.toml"))
    assert code == 2 and err.startswith("error:")
