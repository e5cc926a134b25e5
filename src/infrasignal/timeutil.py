"""Parsing and printing times the way the CLI contract says: ISO 8601 in, ISO 8601 UTC out, and spans like
`7d`. Stored times are naive UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: datetime) -> datetime:
    """Aware or naive-UTC datetime -> naive UTC, the form stored in the database."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def parse_time(value: str) -> datetime:
    """ISO 8601 date or datetime -> naive UTC. A date or a naive time is taken as UTC."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 time: {value!r} (e.g. 2026-11-20 or 2026-11-20T06:00:00Z)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_span(value: str) -> timedelta:
    """`7d`, `24h`, `2w`, `90m` -> timedelta."""
    m = _SPAN.match(value)
    if not m:
        raise ValueError(f"not a time span: {value!r} (use e.g. 7d, 24h, 2w)")
    return timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})


def since_time(since: str, as_of: datetime) -> datetime:
    """`--since` as a span before `as_of`, or an absolute ISO time."""
    try:
        return as_of - parse_span(since)
    except ValueError:
        try:
            return parse_time(since)
        except ValueError:
            raise ValueError(
                f"--since: not a span or a time: {since!r} (use e.g. 7d or 2026-11-01)"
            ) from None


def iso(value: datetime | None) -> str | None:
    """Naive-UTC (or aware) datetime -> `2026-11-20T06:00:00Z`."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"  # seconds: the fraction is cut, not rounded
