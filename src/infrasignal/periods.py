"""Report periods (pure): an ISO week (`2026-W47`, Monday 00:00 UTC to the next Monday) or a span ending at
an observation time (`--since 7d --as-of T`). A period's `key` names it in the `sent_report` table, so the
same week is mailed once; its window is (start, end], like `queries.events_between`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from infrasignal.timeutil import since_time

WEEK = timedelta(days=7)
_ISO_WEEK = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


@dataclass(frozen=True, slots=True)
class Period:
    """A report window in naive UTC: events with start < at <= end belong to it."""

    key: str  # "2026-W47", or "2026-11-13T08:00Z/2026-11-20T08:00Z" for a span
    start: datetime
    end: datetime

    @property
    def is_week(self) -> bool:
        return _ISO_WEEK.match(self.key) is not None

    @property
    def label(self) -> str:
        """Human form: `week 2026-W47 (Mon 16 Nov – Mon 23 Nov 2026, UTC)`."""
        span = f"{_day(self.start)} – {_day(self.end)} {self.end.year}"
        if self.is_week:
            return f"week {self.key} ({span}, UTC)"
        return f"{_stamp(self.start)} – {_stamp(self.end)} UTC"

    @property
    def comparison_label(self) -> str:
        """What the "change" column compares with."""
        return "last week" if self.end - self.start == WEEK else f"{_stamp(self.start)} UTC"


def _day(t: datetime) -> str:
    return t.strftime("%a %d %b").replace(" 0", " ")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def _compact(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ")


def week(text: str) -> Period:
    """`2026-W47` -> that ISO week. ValueError (one line) for anything else or a week the year lacks."""
    m = _ISO_WEEK.match(text)
    if not m:
        raise ValueError(f"not an ISO week: {text!r} (e.g. 2026-W47)")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    start = datetime(monday.year, monday.month, monday.day)
    return Period(f"{year}-W{number:02d}", start, start + WEEK)


def week_of(t: datetime) -> Period:
    """The ISO week containing the naive-UTC time `t`."""
    year, number, _ = t.date().isocalendar()
    return week(f"{year}-W{number:02d}")


def last_complete_week(as_of: datetime) -> Period:
    """The most recent ISO week that ended at or before `as_of` (what the Monday report mails)."""
    return week_of(week_of(as_of).start - WEEK)


def span(since: str, as_of: datetime) -> Period:
    """`--since 7d` (or an ISO time) ending at `as_of`."""
    start = since_time(since, as_of)
    if start >= as_of:
        raise ValueError(f"--since {since!r} does not start before --as-of {_stamp(as_of)}")
    return Period(f"{_compact(start)}/{_compact(as_of)}", start, as_of)


def choose(since: str | None, week_text: str | None, as_of: datetime | None, now: datetime) -> Period:
    """The CLI's period: `--week W`, or `--since S` ending at `--as-of` (default now), or by default the
    last complete ISO week before `--as-of` (default now)."""
    if since and week_text:
        raise ValueError("give either --since or --week, not both")
    if week_text:
        if as_of is not None:
            raise ValueError("--as-of does not go with --week (a week ends on its Monday)")
        try:
            return week(week_text)
        except ValueError as exc:
            raise ValueError(f"--week: {exc}") from None
    end = as_of or now
    if since:
        return span(since, end)
    return last_complete_week(end)
