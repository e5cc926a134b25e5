"""The weekly report (pure): a plain `ReportData` in, text or HTML out, through the Jinja2 templates in
`templates/`. Nothing here reads the database (`reportdata.py` does) or sends mail (`mail.py` does).

Sections, most important first: signals with evidence links; new and closed infra roles grouped by company
and market; open infra roles per market (bars) and per company x market with the change over the period;
coverage, i.e. the boards that failed or were quarantined ("data gaps", so a gap is never read as a
closure). Every value that came from a job board is escaped in HTML, stripped of control characters in
text, and linked only when it is an http(s) URL.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import Any

import jinja2

from infrasignal.periods import Period

NO_MARKET = "Other / no market"
BAR_COLOUR = "#1f6feb"  # the HTML bars' colour (the browser test looks for it)
BAR_COLOUR_BEFORE = "#9ab7e8"
TEXT_BAR_WIDTH = 30

SIGNAL_KINDS = {
    "new_location": "New location",
    "new_discipline": "New discipline",
    "surge": "Surge",
    "closed": "Roles closed",
}
GAP_PROBLEMS = {
    "failed": "fetch failed",
    "quarantined": "quarantined",
    "incomplete": "listed incompletely",
    "not_fetched": "not fetched",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    title: str
    url: str = ""
    first_seen: str | None = None


@dataclass(frozen=True, slots=True)
class SignalItem:
    kind: str  # new_location | new_discipline | surge | closed
    company: str
    summary: str
    market: str | None = None
    city: str | None = None
    country: str | None = None
    discipline: str | None = None
    first_seen: str | None = None
    score: float = 0.0
    evidence: tuple[Evidence, ...] = ()

    @property
    def kind_label(self) -> str:
        return SIGNAL_KINDS.get(self.kind, self.kind.replace("_", " ").capitalize())


@dataclass(frozen=True, slots=True)
class RoleChange:
    """One infra role that opened (new or reopened) or closed in the period."""

    company: str
    title: str
    event: str  # new | reopened | closed
    at: str | None = None  # ISO 8601 UTC
    market: str | None = None
    url: str = ""
    where: str = ""
    disciplines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenCount:
    """Open infra roles of one company in one market at the period's end, and at its start (None when the
    company's board was first fetched within the period, so there is nothing to compare with)."""

    company: str
    market: str | None
    open: int
    before: int | None = None

    @property
    def change(self) -> int | None:
        return None if self.before is None else self.open - self.before


@dataclass(frozen=True, slots=True)
class DataGap:
    board: str
    company: str
    problem: str  # failed | quarantined | incomplete | not_fetched
    detail: str = ""
    at: str | None = None  # last failure, or since when quarantined
    failures: int = 0
    fetches: int = 0

    @property
    def problem_label(self) -> str:
        return GAP_PROBLEMS.get(self.problem, self.problem)


@dataclass(slots=True)
class ReportData:
    period: Period
    generated_at: datetime
    signals: list[SignalItem] = field(default_factory=list)
    opened: list[RoleChange] = field(default_factory=list)
    closed: list[RoleChange] = field(default_factory=list)
    open_roles: list[OpenCount] = field(default_factory=list)
    open_total: int = 0  # distinct open infra roles at the end (a role in two markets counts once)
    open_change: int | None = None  # change over the period, on boards fetched before it began
    gaps: list[DataGap] = field(default_factory=list)
    boards: int = 0  # boards covered by the report
    new_boards: list[str] = field(default_factory=list)  # first fetched in the period: roles not "new"


@dataclass(frozen=True, slots=True)
class MarketBar:
    market: str
    open: int
    before: int | None
    width: int  # percent of the widest bar, 0..100
    before_width: int | None

    @property
    def change(self) -> int | None:
        return None if self.before is None else self.open - self.before


# ---- pure helpers the templates use ---------------------------------------------------------------------


def group_changes(changes: Iterable[RoleChange]) -> list[tuple[str, list[tuple[str, list[RoleChange]]]]]:
    """[(company, [(market, roles)])], companies and markets alphabetical, "no market" last."""
    ordered = sorted(changes, key=lambda c: (c.company.lower(), _market_key(c.market), c.title.lower()))
    out = []
    for company, in_company in groupby(ordered, key=lambda c: c.company):
        markets = [(m or NO_MARKET, list(rs)) for m, rs in groupby(in_company, key=lambda c: c.market)]
        out.append((company, markets))
    return out


def _market_key(market: str | None) -> tuple[int, str]:
    return (1, "") if market is None else (0, market.lower())


def market_bars(counts: Iterable[OpenCount]) -> list[MarketBar]:
    """Open roles per market (summed over companies), largest first; widths relative to the largest."""
    now: dict[str | None, int] = {}
    before: dict[str | None, int | None] = {}
    for c in counts:
        now[c.market] = now.get(c.market, 0) + c.open
        prev = before.get(c.market, 0)
        before[c.market] = None if prev is None or c.before is None else prev + c.before
    peak = max([*now.values(), *(b for b in before.values() if b is not None)], default=0)
    rows = sorted(now, key=lambda m: (-now[m], *_market_key(m)))
    bars = []
    for m in rows:
        b = before.get(m)
        bars.append(
            MarketBar(m or NO_MARKET, now[m], b, _pct(now[m], peak), None if b is None else _pct(b, peak))
        )
    return bars


def _pct(value: int, peak: int) -> int:
    if peak <= 0 or value <= 0:
        return 0
    return max(1, round(100 * value / peak))


def company_rows(counts: Iterable[OpenCount]) -> list[tuple[str, list[OpenCount]]]:
    """Open counts grouped by company (alphabetical), markets by size within a company."""
    ordered = sorted(counts, key=lambda c: (c.company.lower(), -c.open, *_market_key(c.market)))
    return [(company, list(rows)) for company, rows in groupby(ordered, key=lambda c: c.company)]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def clean(value: Any) -> str:
    """Board text for a terminal: no control or bidi characters (no escape sequences), one line."""
    if value is None:
        return ""
    return _SPACE.sub(" ", _CONTROL.sub("", str(value))).strip()


def safe_url(value: Any) -> str:
    """The URL if it is http(s), else "" (a board must not smuggle in `javascript:` links)."""
    text = clean(value)
    return text if re.match(r"^https?://[^\s\"'<>]+$", text, re.IGNORECASE) else ""


def signed(value: int | None) -> str:
    if value is None:
        return "–"
    return f"+{value}" if value > 0 else ("±0" if value == 0 else str(value))


def day(value: str | None) -> str:
    """`2026-11-17T06:00:00Z` -> `2026-11-17`."""
    return clean(value)[:10]


def fit(value: Any, width: int) -> str:
    """Clean, cut to `width` (with an ellipsis) and pad, for text tables."""
    text = clean(value)
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…"
    return text.ljust(width)


def wrap(value: Any, indent: int = 4, width: int = 100) -> str:
    """Clean and wrap a long line for plain text; continuation lines indented by `indent`."""
    return textwrap.fill(clean(value), width=width, subsequent_indent=" " * indent, break_on_hyphens=False)


def text_bar(width_pct: int) -> str:
    """A bar of block characters; a thin mark for a value too small to fill one cell."""
    if width_pct <= 0:
        return ""
    return "█" * round(TEXT_BAR_WIDTH * width_pct / 100) or "▏"


# ---- rendering ------------------------------------------------------------------------------------------


@cache
def _env(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("infrasignal", "templates"),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        clean=clean, safe_url=safe_url, signed=signed, day=day, fit=fit, text_bar=text_bar, wrap=wrap
    )
    return env


def _context(data: ReportData) -> dict[str, Any]:
    return {
        "d": data,
        "period": data.period,
        "generated": data.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        "opened": group_changes(data.opened),
        "closed": group_changes(data.closed),
        "bars": market_bars(data.open_roles),
        "companies": company_rows(data.open_roles),
        "total_change": data.open_change,
        "bar_colour": BAR_COLOUR,
        "bar_colour_before": BAR_COLOUR_BEFORE,
    }


def render_text(data: ReportData) -> str:
    return _env(False).get_template("report.txt.j2").render(_context(data))


def render_html(data: ReportData) -> str:
    return _env(True).get_template("report.html.j2").render(_context(data))


def subject(data: ReportData, template: str) -> str:
    """The mail subject from the `[email] subject` template: `{period}`, `{signals}`, `{new}`, `{closed}`
    and `{open}` are replaced; any other brace is left as written."""
    values = {
        "period": data.period.key,
        "signals": len(data.signals),
        "new": len(data.opened),
        "closed": len(data.closed),
        "open": data.open_total,
    }
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return clean(text)
