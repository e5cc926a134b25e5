"""Config loading: typed models, one-line errors naming the key and the board, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrasignal.config import ConfigError, config_path, load_config, parse_config

GOOD = """
[storage]
database = "data/x.db"

[fetch]
concurrency = 4

[[boards]]
company = "Anthropic"
ats = "greenhouse"
token = "anthropic"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_is_typed_and_paths_resolve_beside_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.fetch.concurrency == 4 and cfg.fetch.per_host == 2
    assert cfg.boards[0].ats == "greenhouse" and cfg.boards[0].label == "Anthropic"
    assert cfg.database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'x.db'}"


def test_sqlalchemy_url_is_kept() -> None:
    cfg = parse_config({"storage": {"database": "postgresql+psycopg://u@h/db"}})
    assert cfg.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace('token = "anthropic"', 'token = "anthropic"\ntokn = "x"'),
            "boards[0] (Anthropic).tokn: unknown key",
        ),
        (
            GOOD.replace('ats = "greenhouse"', 'ats = "greenhous"'),
            "boards[0] (Anthropic).ats: unknown ATS 'greenhous'",
        ),
        (GOOD.replace('token = "anthropic"', ""), "boards[0] (Anthropic): missing required key `token`"),
        (GOOD.replace("concurrency = 4", 'concurrency = "four"'), "fetch.concurrency:"),
        (GOOD.replace("[fetch]", "[fetchh]"), "fetchh: unknown key"),
        (
            GOOD + '\n[[boards]]\ncompany = "Anthropic"\nats = "lever"\ntoken = "a"\n',
            "boards[1] (Anthropic): duplicate board name",
        ),
        ("[[boards]]\nats = 'lever'\ntoken = 'x'\n", "boards[0].company: missing required key"),
        (GOOD.replace("concurrency = 4", "concurrency = 0"), "fetch.concurrency: expected int >= 1"),
        (GOOD.replace("concurrency = 4", "concurrency = 4.5"), "fetch.concurrency: expected int, got float"),
        (
            GOOD + '[email]\nsecurity = "ssl"\n',
            "email.security: invalid value 'ssl' (one of: none, starttls, tls)",
        ),
        (GOOD + '[email]\nto = "a@example.com"\n', "email.to: expected array, got str"),
        (GOOD + '[email]\nto = ["a@example.com", "analyst"]\n', "email.to: not an email address: 'analyst'"),
        (
            GOOD.replace('token = "anthropic"', 'token = "a"\nselectors = { item = 3 }'),
            "boards[0] (Anthropic).selectors[...]: expected str, got int",
        ),
        (
            GOOD.replace('company = "Anthropic"', 'company = ""'),
            "boards[0].company: expected str of length >= 1",
        ),
        ('path = "elsewhere.toml"\n' + GOOD, "path: unknown key"),
        ("fetch = 3\n", "fetch: expected object, got int"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_mistakes_are_one_line_errors_naming_key_and_board(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert expected in message
    assert "\n" not in message
    assert str(tmp_path) in message


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="infrasignal init"):
        load_config(tmp_path / "nope.toml")


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFRASIGNAL_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(None) == tmp_path / "env.toml"
    assert config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"
    monkeypatch.delenv("INFRASIGNAL_CONFIG")
    assert config_path(None) == Path("config.toml")


def test_starter_config_and_repo_config_are_valid_and_identical() -> None:
    from importlib import resources

    repo = Path(__file__).resolve().parents[1] / "config.toml"
    packaged = resources.files("infrasignal").joinpath("starter_config.toml").read_text(encoding="utf-8")
    assert repo.read_text(encoding="utf-8") == packaged
    cfg = load_config(repo)
    assert {b.ats for b in cfg.boards} >= {"greenhouse", "lever", "ashby"}
    assert len(cfg.boards) >= 10


def test_sections_are_frozen_and_copied_with_changes() -> None:
    from msgspec.structs import replace

    cfg = parse_config({"boards": [{"company": "Acme", "ats": " Greenhouse ", "token": "acme"}]})
    assert cfg.boards[0].ats == "greenhouse"  # normalised while loading
    with pytest.raises(AttributeError):
        cfg.fetch.concurrency = 3  # type: ignore[misc]
    changed = replace(cfg.fetch, concurrency=3)
    assert changed.concurrency == 3 and cfg.fetch.concurrency == 8


def test_a_section_is_validated_on_its_own() -> None:
    from infrasignal.config import EmailConfig, validate

    assert validate(EmailConfig, {"from": "me@example.com", "port": 587}).from_addr == "me@example.com"
    with pytest.raises(ConfigError, match=r"^discovered: port: expected int <= 65535$"):
        validate(EmailConfig, {"port": 70000}, "discovered")
