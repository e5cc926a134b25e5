"""Load and validate `config.toml` into typed models.

Reads the file named by `--config`, else `$INFRASIGNAL_CONFIG`, else `./config.toml`. Every mistake (an
unknown key, a wrong type, an unknown `ats`, a board without the key its source needs) becomes one
`ConfigError` line naming the key and the board; the CLI prints it and exits 2.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG = "config.toml"
ENV_CONFIG = "INFRASIGNAL_CONFIG"


class ConfigError(Exception):
    """A user mistake in the config file: one line, shown without a traceback."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Strict):
    database: str = "infrasignal.db"


class FetchConfig(_Strict):
    concurrency: int = Field(8, ge=1, le=1000)
    per_host: int = Field(2, ge=1, le=1000)
    timeout: float = Field(20.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    backoff: float = Field(0.5, ge=0)  # first retry delay in seconds, doubled each time, with jitter
    max_retry_after: float = Field(60.0, ge=0)  # a longer Retry-After fails the board instead of stalling
    max_bytes: int = Field(50_000_000, ge=1024)
    user_agent: str = "infrasignal/0.1 (+https://github.com/infrasignal/infrasignal)"
    robots: bool = True  # obey robots.txt for HTML careers pages


class HistoryConfig(_Strict):
    suspect_min_board: int = Field(10, ge=1)  # boards at least this big are checked for sudden drops
    suspect_drop_fraction: float = Field(0.5, gt=0, le=1)  # losing more than this fraction is suspect


class ClassifyConfig(_Strict):
    rules_file: str | None = None  # extra discipline rules (TOML), relative to the config file
    markets_file: str | None = None  # extra or overriding market table (TOML), relative to the config file


class SignalsConfig(_Strict):
    surge_min: int = Field(3, ge=1)  # open infra roles in a market grew by at least this many ...
    surge_pct: float = Field(50.0, ge=0)  # ... and by at least this percentage within the window


class EmailConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    from_addr: str = Field("infrasignal@localhost", alias="from")
    to: list[str] = Field(default_factory=list)
    username_env: str | None = None  # names of environment variables, never the secrets themselves
    password_env: str | None = None
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(3, ge=0, le=10)  # temporary failures (4xx, dropped connection) retried this often
    backoff: float = Field(5.0, ge=0)  # seconds before the first retry, doubled each time
    # {period}, {signals}, {new}, {closed} and {open} are filled in
    subject: str = "infrasignal {period}: {signals} signals, {new} new and {closed} closed infra roles"

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        from email.utils import parseaddr

        for addr in value:
            if "@" not in parseaddr(addr)[1]:
                raise ValueError(f"not an email address: {addr!r}")
        return value


class ScheduleConfig(_Strict):
    """Cron expressions (5 fields) for `infrasignal run`; checked when the daemon starts (scheduler.py)."""

    scrape: str = "0 6 * * *"
    report: str = "0 8 * * mon"
    timezone: str = "UTC"


class BoardConfig(_Strict):
    company: str = Field(min_length=1)
    ats: str
    token: str | None = None  # the board's slug / token / account, as the ATS names it
    url: str | None = None  # careers-site URL, for sources addressed by URL (workday, jsonld, html)
    base_url: str | None = None  # replaces scheme and host of the ATS API (tests, proxies), path kept
    name: str | None = None  # a unique label when one company has several boards
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)  # source-specific query options (e.g. amazon)
    selectors: dict[str, str] = Field(default_factory=dict)  # CSS selectors for the `html` source

    @field_validator("ats")
    @classmethod
    def _known_ats(cls, value: str) -> str:
        from infrasignal.sources import source_names

        value = value.strip().lower()
        if value not in source_names():
            raise ValueError(f"unknown ATS {value!r} (known: {', '.join(sorted(source_names()))})")
        return value

    @property
    def label(self) -> str:
        """The board's unique name in the store and in reports."""
        return self.name or self.company


class Config(_Strict):
    # Section defaults are shared instances: the models are frozen, so sharing is safe.
    storage: StorageConfig = StorageConfig()
    fetch: FetchConfig = FetchConfig()
    history: HistoryConfig = HistoryConfig()
    classify: ClassifyConfig = ClassifyConfig()
    signals: SignalsConfig = SignalsConfig()
    email: EmailConfig = EmailConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    boards: list[BoardConfig] = Field(default_factory=list)
    path: Path | None = Field(None, exclude=True)  # the file it came from; relative paths resolve here

    def resolve_path(self, value: str) -> Path:
        """A path written in the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return p

    @property
    def database_url(self) -> str:
        db = self.storage.database
        if "://" in db:
            return db
        return f"sqlite:///{self.resolve_path(db)}"


def config_path(explicit: str | Path | None) -> Path:
    """Which config file to read: --config, else $INFRASIGNAL_CONFIG, else ./config.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    return Path(env) if env else Path(DEFAULT_CONFIG)


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """Render a pydantic error location as `boards[2] (Anthropic).token`."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = ""
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                company = node[item].get("company")
                label = f" ({company})" if company else ""
            parts[-1] = f"{parts[-1]}[{item}]{label}" if parts else f"[{item}]"
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document; raise ConfigError with one line on the first problem."""
    where = str(path) if path else "config"
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _where(tuple(err["loc"]), data)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "missing required key"
        raise ConfigError(f"{where}: {key}: {msg}") from None
    config = config.model_copy(update={"path": path})
    _check_boards(config, where)
    return config


def _check_boards(config: Config, where: str) -> None:
    from infrasignal.sources import get_source

    seen: set[str] = set()
    for i, board in enumerate(config.boards):
        problem = get_source(board.ats).check_board(board)
        if problem:
            raise ConfigError(f"{where}: boards[{i}] ({board.company}): {problem}")
        if board.label.lower() in seen:
            raise ConfigError(
                f"{where}: boards[{i}] ({board.company}): duplicate board name; set `name` to tell them apart"
            )
        seen.add(board.label.lower())


def load_config(explicit: str | Path | None = None) -> Config:
    path = config_path(explicit)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file (run `infrasignal init` to write one)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(data, path.resolve())
