"""The CLI as a user runs it (typer's CliRunner on the real app): init, scrape, roles, boards, errors."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.cli.common import print_json
from support.boardserver import BoardServer, Fault
from support.gh import gh_board, gh_job

_register()
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_config(tmp_path: Path, server: BoardServer, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[storage]
database = "t.db"
[fetch]
retries = 0
timeout = 2.0
[[boards]]
company = "Acme"
ats = "greenhouse"
token = "acme"
base_url = "{server.base_url}"
[[boards]]
company = "Beta"
ats = "greenhouse"
token = "beta"
base_url = "{server.base_url}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def test_init_writes_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    code, _, _ = run("init", str(target))
    assert code == 0 and target.exists() and "anthropic" in target.read_text()
    code, _, err = run("init", str(target))
    assert code == 2 and "already exists" in err


def test_scrape_roles_boards_round_trip(board_server: BoardServer, tmp_path: Path) -> None:
    board_server.route(
        "GET",
        "/v1/boards/acme/jobs",
        gh_board(gh_job(11, "Data Center Electrical Engineer", "Sydney, Australia")),
    )
    board_server.route(
        "GET", "/v1/boards/beta/jobs", gh_board(gh_job(21, "Account Executive", "Tokyo, Japan"))
    )
    cfg = write_config(tmp_path, board_server)
    code, out, _ = run("scrape", "--config", str(cfg), "--as-of", "2026-11-16T06:00:00Z", "--format", "json")
    assert code == 0, out
    summary = json.loads(out)
    assert [s["board"] for s in summary] == ["Acme", "Beta"] and all(s["status"] == "ok" for s in summary)

    code, out, _ = run("roles", "--config", str(cfg), "--city", "Sydney", "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert [r["title"] for r in records] == ["Data Center Electrical Engineer"]
    required = {
        "company",
        "ats",
        "external_id",
        "title",
        "url",
        "department",
        "status",
        "first_seen",
        "last_seen",
        "closed_at",
        "infra",
        "disciplines",
        "markets",
        "locations",
    }
    assert required <= set(records[0])
    assert records[0]["first_seen"] == "2026-11-16T06:00:00Z" and records[0]["status"] == "open"

    code, out, _ = run(
        "roles", "--config", str(cfg), "--company", "beta", "--status", "all", "--format", "csv"
    )
    assert code == 0 and out.splitlines()[0].startswith("company,title") and "Account Executive" in out

    code, out, _ = run("boards", "--config", str(cfg), "--format", "json")
    health = {b["board"]: b for b in json.loads(out)}
    assert health["Acme"]["open"] == 1 and health["Acme"]["last_status"] == "ok"


def test_scrape_exit_1_when_a_board_fails_others_stored(board_server: BoardServer, tmp_path: Path) -> None:
    board_server.route("GET", "/v1/boards/acme/jobs", gh_board(gh_job(11, "Site Lead", "Dublin, IE")))
    board_server.route("GET", "/v1/boards/beta/jobs", gh_board())
    board_server.fault("/v1/boards/beta/jobs", Fault.status(404))
    cfg = write_config(tmp_path, board_server)
    code, out, err = run("scrape", "--config", str(cfg), "--format", "json")
    assert code == 1 and "1 of 2 boards failed" in err
    assert {s["board"]: s["status"] for s in json.loads(out)} == {"Acme": "ok", "Beta": "failed"}
    code, out, _ = run("roles", "--config", str(cfg), "--format", "json")
    assert [r["title"] for r in json.loads(out)] == ["Site Lead"]


def test_board_option_limits_and_unknown_board_is_an_error(board_server: BoardServer, tmp_path: Path) -> None:
    board_server.route("GET", "/v1/boards/acme/jobs", gh_board())
    cfg = write_config(tmp_path, board_server)
    code, out, _ = run("scrape", "--config", str(cfg), "--board", "acme", "--format", "json")
    assert code == 0 and [s["board"] for s in json.loads(out)] == ["Acme"]
    assert board_server.requests_to("/v1/boards/beta/jobs") == []
    code, _, err = run("scrape", "--config", str(cfg), "--board", "nobody")
    assert code == 2 and "nobody" in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            '[[boards]]\ncompany = "Gamma"\nats = "workdayy"\ntoken = "g"',
            "boards[2] (Gamma).ats: unknown ATS",
        ),
        ('[[boards]]\ncompany = "Gamma"\nats = "lever"', "boards[2] (Gamma): missing required key `token`"),
        ("[fetch2]\nx = 1", "fetch2: unknown key"),
    ],
)
def test_config_errors_exit_2_with_one_line(
    board_server: BoardServer, tmp_path: Path, extra: str, needle: str
) -> None:
    cfg = write_config(tmp_path, board_server, extra)
    code, out, err = run("roles", "--config", str(cfg))
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + out


def test_env_var_selects_config(
    board_server: BoardServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path, board_server)
    monkeypatch.setenv("INFRASIGNAL_CONFIG", str(cfg))
    code, out, _ = run("boards", "--format", "json")
    assert code == 0 and {b["board"] for b in json.loads(out)} == {"Acme", "Beta"}


def test_bad_option_values_are_one_line_errors(board_server: BoardServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, board_server)
    for args, needle in [
        (["roles", "--since", "7x"], "--since"),
        (["roles", "--status", "gone"], "--status"),
        (["scrape", "--as-of", "yesterday"], "--as-of"),
        (["roles", "--format", "xml"], "--format"),
    ]:
        code, _, err = run(*args, "--config", str(cfg))
        assert code == 2 and needle in err, (args, err)


def test_missing_config_tells_how_to_make_one(tmp_path: Path) -> None:
    code, _, err = run("roles", "--config", str(tmp_path / "none.toml"))
    assert code == 2 and "infrasignal init" in err


def test_bad_user_rules_file_is_a_config_error_before_any_fetch(
    board_server: BoardServer, tmp_path: Path
) -> None:
    (tmp_path / "rules.toml").write_text(
        "[[rules]]\nname = 'x'\ntag = 'plumbing'\nfield = 'title'\n", encoding="utf-8"
    )
    cfg = write_config(tmp_path, board_server, '[classify]\nrules_file = "rules.toml"')
    code, _, err = run("scrape", "--config", str(cfg))
    assert code == 2 and "[classify]" in err and "rules.toml" in err
    assert len(err.strip().splitlines()) == 1 and board_server.requests == []


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    # print_json documents its one difference: orjson writes 1e-7 where json writes 1e-07
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: "e-" not in repr(f))
    | st.text()
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_json_output_is_what_json_dumps_writes(value: object) -> None:
    """The query commands' JSON (orjson) is byte for byte what json.dumps(indent=2, ensure_ascii=False)
    wrote: floats, non-ASCII and control characters, None, empty lists and objects."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_json(value)
    assert out.getvalue() == json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def test_json_output_examples(capsys: pytest.CaptureFixture[str]) -> None:
    value = [
        {"score": 100.0, "pct": 33.3, "big": 1e16, "city": "São Paulo", "jp": "東京", "none": None},
        {"empty": [], "obj": {}, "ctl": 'a\x00b\x1f\x7f\u2028"\\/', "ok": True, "n": -3},
        [],
    ]
    print_json(value)
    assert capsys.readouterr().out == json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def test_command_signatures_are_evaluated_annotations() -> None:
    """typer reads every command's signature at each start-up; a string annotation costs it a compile and an
    eval there, so command modules do without `from __future__ import annotations`."""
    assert app.registered_commands
    for command in app.registered_commands:
        assert command.callback is not None
        annotations = command.callback.__annotations__
        assert not [k for k, v in annotations.items() if isinstance(v, str)], command.callback.__qualname__
