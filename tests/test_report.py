"""The report renderer is pure: a hand-built ReportData in, text and HTML out. Sections come in order of
importance, every board value is escaped (HTML) or stripped of control characters (text), links are
http(s) only, the HTML needs nothing external, and the market bars are drawn."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest

from infrasignal import periods
from infrasignal.report import (
    BAR_COLOUR,
    OpenCount,
    ReportData,
    RoleChange,
    group_changes,
    market_bars,
    render_html,
    render_text,
    subject,
)
from support.reportsample import EVIL_TITLE, EVIL_URL, sample_report

TEXT_SECTIONS = [
    "SIGNALS",
    "NEW INFRA ROLES",
    "CLOSED INFRA ROLES",
    "OPEN INFRA ROLES BY MARKET",
    "DATA GAPS",
]
HTML_SECTIONS = [
    "Signals",
    "New infra roles",
    "Closed infra roles",
    "Open infra roles by market",
    "Data gaps",
]


def positions(text: str, markers: list[str]) -> list[int]:
    found = [text.find(m) for m in markers]
    assert -1 not in found, dict(zip(markers, found, strict=True))
    return found


def test_sections_come_in_order_of_importance() -> None:
    data = sample_report()
    text = render_text(data)
    assert positions(text, TEXT_SECTIONS) == sorted(positions(text, TEXT_SECTIONS))
    html = render_html(data)
    heads = [f">{h}</h2>" for h in HTML_SECTIONS]
    assert positions(html, heads) == sorted(positions(html, heads))
    # within a section: signals strongest first as given, roles grouped by company then market
    assert text.index("New location · Anthropic") < text.index("Surge · OpenAI")
    new = text[text.index("NEW INFRA ROLES") : text.index("CLOSED INFRA ROLES")]
    assert new.index("Anthropic\n  Tokyo") < new.index("OpenAI\n  Sydney") < new.index("Other / no market")


def test_html_escapes_board_values_and_drops_unsafe_links() -> None:
    html = render_html(sample_report())
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Data Center Electrician" in html
    assert "javascript:" not in html
    assert 'href="https://example.com/jobs/1"' in html


def test_text_keeps_titles_readable_but_strips_control_characters() -> None:
    data = sample_report()
    sneaky = RoleChange(
        "Acme", "Site Lead\x1b[2J\x1b]0;owned\x07 \u202eevil\nsecond line", "new", None, "Tokyo"
    )
    text = render_text(replace(data, opened=[*data.opened, sneaky]))
    assert EVIL_TITLE in text  # text/plain: shown as written, nothing interprets it
    assert EVIL_URL not in text
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "Site Lead[2J]0;owned evil second line" in text


def test_html_is_self_contained_for_mail_clients() -> None:
    html = render_html(sample_report())
    for forbidden in ("<script", "<style", "<link", "<img", "<iframe", "url(", "@import", " src="):
        assert forbidden not in html.lower(), forbidden
    assert re.search(r"<(?:div|td|table|p)\b[^>]*\bclass=", html) is None  # inline CSS only


def test_bars_are_drawn_relative_to_the_largest_market() -> None:
    data = sample_report()
    bars = {b.market: b for b in market_bars(data.open_roles)}
    assert bars["Sydney"].width == 100 and bars["Tokyo"].width == 33
    assert bars["Dallas"].change is None  # a board first fetched in the period: nothing to compare with
    assert bars["London"].before == 5 and bars["London"].change == -1
    html = render_html(data)
    assert f'width="100%" height="14" style="width:100%;height:14px;background:{BAR_COLOUR}' in html
    assert f'width="33%" height="14" style="width:33%;height:14px;background:{BAR_COLOUR}' in html
    text = render_text(data)
    assert re.search(r"Sydney\s+6 █{30} \+4", text)
    assert re.search(r"Tokyo\s+2 █{10}\s+\+2", text)


def test_company_table_and_gaps() -> None:
    text = render_text(sample_report())
    assert re.search(r"Anthropic\s+London\s+3\s+±0", text)
    assert re.search(r"Newco\s+Dallas\s+4\s+–", text)
    gaps = text[text.index("DATA GAPS") :]
    assert "Beta: fetch failed (2 of 7 fetches failed) · last 2026-11-18" in gaps
    assert "Gamma: quarantined · since 2026-11-19" in gaps
    assert "a gap is not a closure" in gaps


def test_empty_period_says_so() -> None:
    data = ReportData(periods.week("2026-W01"), datetime(2026, 1, 5, 8), boards=3)
    text = render_text(data)
    assert "No new signals in this period." in text
    assert "None: every board was fetched successfully" in text
    assert "No open infrastructure roles." in render_html(data)


def test_grouping_and_subject() -> None:
    roles = [
        RoleChange("beta", "b", "new", market=None),
        RoleChange("Acme", "z", "new", market="Tokyo"),
        RoleChange("Acme", "a", "new", market="London"),
    ]
    groups = group_changes(roles)
    assert [(c, [m for m, _ in ms]) for c, ms in groups] == [
        ("Acme", ["London", "Tokyo"]),
        ("beta", ["Other / no market"]),
    ]
    data = replace(sample_report(), open_roles=[OpenCount("A", "X", 1, 1)])
    assert (
        subject(data, "weekly {period}: {signals}/{new}/{closed} {unknown}")
        == "weekly 2026-W47: 2/4/1 {unknown}"
    )


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-W47", datetime(2026, 11, 16), datetime(2026, 11, 23)),
        ("2026w1", datetime(2025, 12, 29), datetime(2026, 1, 5)),
        ("2020-W53", datetime(2020, 12, 28), datetime(2021, 1, 4)),
    ],
)
def test_iso_weeks(text: str, start: datetime, end: datetime) -> None:
    p = periods.week(text)
    assert (p.start, p.end) == (start, end) and p.is_week


def test_period_choice() -> None:
    now = datetime(2026, 11, 25, 9)  # a Wednesday in W48
    assert periods.choose(None, None, None, now).key == "2026-W47"
    assert (
        periods.choose(None, None, datetime(2026, 11, 23), now).key == "2026-W47"
    )  # a week ends at Monday 00:00
    span = periods.choose("7d", None, datetime(2026, 11, 20, 8), now)
    assert span.key == "2026-11-13T08:00Z/2026-11-20T08:00Z" and not span.is_week
    with pytest.raises(ValueError, match="2025 has no ISO week 53"):
        periods.choose(None, "2025-W53", None, now)
    with pytest.raises(ValueError, match="either --since or --week"):
        periods.choose("7d", "2026-W47", None, now)
    with pytest.raises(ValueError, match="--as-of does not go with --week"):
        periods.choose(None, "2026-W47", now, now)
