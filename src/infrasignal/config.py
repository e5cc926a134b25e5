"""Load and validate `config.toml` into typed, frozen sections (msgspec structs).

Reads the file named by `--config`, else `$INFRASIGNAL_CONFIG`, else `./config.toml`. Every mistake (an
unknown key, a wrong type, an unknown `ats`, a board without the key its source needs) becomes one
`ConfigError` line naming the key and the board; the CLI prints it and exits 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import msgspec

DEFAULT_CONFIG = "config.toml"
ENV_CONFIG = "INFRASIGNAL_CONFIG"


class ConfigError(Exception):
    """A user mistake in the config file: one line, shown without a traceback."""


class KeyProblem(ValueError):
    """A check of a section's own (`__post_init__`) failed on one of its keys. msgspec reports such a failure
    at the section; the key, kept here, completes the location in the message."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key


# Constrained values: msgspec checks the bounds while converting, and names them when one is broken.
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=10)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
ByteCount = Annotated[int, msgspec.Meta(ge=1024)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Delay = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A config section: unknown keys are mistakes, and a loaded config is never changed in place
    (`msgspec.structs.replace` makes a changed copy)."""


class StorageConfig(_Strict, frozen=True):
    database: str = "infrasignal.db"


class FetchConfig(_Strict, frozen=True):
    concurrency: Limit = 8
    per_host: Limit = 2
    timeout: Seconds = 20.0
    connect_timeout: Seconds = 10.0
    retries: Retries = 3
    backoff: Delay = 0.5  # first retry delay in seconds, doubled each time, with jitter
    max_retry_after: Delay = 60.0  # a longer Retry-After fails the board instead of stalling
    max_bytes: ByteCount = 50_000_000
    user_agent: str = "infrasignal/0.1 (+https://github.com/infrasignal/infrasignal)"
    robots: bool = True  # obey robots.txt for HTML careers pages


class HistoryConfig(_Strict, frozen=True):
    suspect_min_board: AtLeastOne = 10  # boards at least this big are checked for sudden drops
    suspect_drop_fraction: Fraction = 0.5  # losing more than this fraction is suspect


class ClassifyConfig(_Strict, frozen=True):
    rules_file: str | None = None  # extra discipline rules (TOML), relative to the config file
    markets_file: str | None = None  # extra or overriding market table (TOML), relative to the config file


class SignalsConfig(_Strict, frozen=True):
    surge_min: AtLeastOne = 3  # open infra roles in a market grew by at least this many ...
    surge_pct: Delay = 50.0  # ... and by at least this percentage within the window


class EmailConfig(_Strict, frozen=True):
    host: str = "localhost"
    port: Port = 25
    security: Literal["none", "starttls", "tls"] = "none"
    from_addr: str = msgspec.field(default="infrasignal@localhost", name="from")
    to: list[str] = msgspec.field(default_factory=list)
    username_env: str | None = None  # names of environment variables, never the secrets themselves
    password_env: str | None = None
    timeout: Seconds = 30.0
    retries: Retries = 3  # temporary failures (4xx, dropped connection) retried this often
    backoff: Delay = 5.0  # seconds before the first retry, doubled each time
    # {period}, {signals}, {new}, {closed} and {open} are filled in
    subject: str = "infrasignal {period}: {signals} signals, {new} new and {closed} closed infra roles"

    def __post_init__(self) -> None:
        if not self.to:  # the default section is built on import: no email module for that
            return
        from email.utils import parseaddr

        for addr in self.to:
            if "@" not in parseaddr(addr)[1]:
                raise KeyProblem("to", f"not an email address: {addr!r}")


class ScheduleConfig(_Strict, frozen=True):
    """Cron expressions (5 fields) for `infrasignal run`; checked when the daemon starts (scheduler.py)."""

    scrape: str = "0 6 * * *"
    report: str = "0 8 * * mon"
    timezone: str = "UTC"


class BoardConfig(_Strict, frozen=True):
    company: NonEmpty
    ats: str
    token: str | None = None  # the board's slug / token / account, as the ATS names it
    url: str | None = None  # careers-site URL, for sources addressed by URL (workday, jsonld, html)
    base_url: str | None = None  # replaces scheme and host of the ATS API (tests, proxies), path kept
    name: str | None = None  # a unique label when one company has several boards
    enabled: bool = True
    params: dict[str, Any] = msgspec.field(default_factory=dict)  # source-specific query options (amazon)
    selectors: dict[str, str] = msgspec.field(default_factory=dict)  # CSS selectors for the `html` source

    def __post_init__(self) -> None:
        from infrasignal.sources import source_names

        ats = self.ats.strip().lower()
        if ats not in source_names():
            raise KeyProblem("ats", f"unknown ATS {self.ats!r} (known: {', '.join(sorted(source_names()))})")
        msgspec.structs.force_setattr(self, "ats", ats)  # frozen, but not yet handed to anyone

    @property
    def label(self) -> str:
        """The board's unique name in the store and in reports."""
        return self.name or self.company


class Config(_Strict, frozen=True):
    # Section defaults are shared instances: the sections are frozen, so sharing is safe.
    storage: StorageConfig = StorageConfig()
    fetch: FetchConfig = FetchConfig()
    history: HistoryConfig = HistoryConfig()
    classify: ClassifyConfig = ClassifyConfig()
    signals: SignalsConfig = SignalsConfig()
    email: EmailConfig = EmailConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    boards: list[BoardConfig] = msgspec.field(default_factory=list)
    path: Path | None = (
        None  # the file it came from (set by parse_config, not a key); relative paths resolve here
    )

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


S = TypeVar("S", bound="_Strict")
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>.*)`)?$", re.S)
_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]|\[\.\.\.\]")
_FIELD = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<key>[^`]+)`$")


def _problem(exc: msgspec.ValidationError) -> tuple[list[int | str], str]:
    """msgspec's one failure as (location, message): `Expected `int` >= 1 - at `$.fetch.concurrency``
    becomes (["fetch", "concurrency"], "expected int >= 1")."""
    m = _AT.match(str(exc))
    msg, path = (m["msg"], m["path"] or "") if m else (str(exc), "")
    loc: list[int | str] = []
    for step in _STEP.finditer(path):
        loc.append(int(step["index"]) if step["index"] else step["key"] or "[...]")
    field = _FIELD.match(msg)
    if field:
        loc.append(field["key"])
        return loc, "unknown key" if field["what"] == "contains unknown" else "missing required key"
    if isinstance(exc.__cause__, KeyProblem):
        loc.append(exc.__cause__.key)
        return loc, str(exc.__cause__)
    msg = msg.replace("`", "")
    if msg.startswith("Invalid enum value") and (choices := _choices(loc)):
        msg = msg.replace("Invalid enum value", "invalid value") + f" (one of: {', '.join(choices)})"
    return loc, msg[:1].lower() + msg[1:]


def _choices(loc: list[int | str]) -> list[str]:
    """The allowed values of the `Literal` key at `loc`, or [] if it is not one."""
    kind: Any = Config
    for step in loc:
        while get_origin(kind) is Annotated or type(None) in get_args(kind):
            kind = next(a for a in get_args(kind) if a is not type(None))
        if isinstance(step, int):
            kind = get_args(kind)[0] if get_args(kind) else None
        elif isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            fields = {f.encode_name: f.type for f in msgspec.structs.fields(kind)}
            kind = fields.get(step)
        else:
            return []
    return [str(v) for v in get_args(kind)] if get_origin(kind) is Literal else []


def _where(loc: list[int | str], data: dict[str, Any]) -> str:
    """Render an error location as `boards[2] (Anthropic).token`."""
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
        elif item == "[...]" and parts:
            parts[-1] += item
            node = None
        else:
            parts.append(item)
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed TOML document; raise ConfigError with one line on the first problem."""
    where = str(path) if path else "config"
    if "path" in data:  # the file's own location is not a setting
        raise ConfigError(f"{where}: path: unknown key")
    config = validate(Config, data, where)
    config = msgspec.structs.replace(config, path=path)
    _check_boards(config, where)
    return config


def validate(section: type[S], data: Any, where: str = "config") -> S:
    """`data` (parsed TOML) as a `section`, or ConfigError with one line naming the key at fault."""
    try:
        return msgspec.convert(data, section)
    except msgspec.ValidationError as exc:
        loc, msg = _problem(exc)
        raise ConfigError(f"{where}: {_where(loc, data)}: {msg}") from None


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
