"""A hand-built `ReportData` for rendering tests (no database): signals, new / closed roles in several
companies and markets, open counts, data gaps, and a malicious title and URL from a "job board"."""

from __future__ import annotations

from datetime import datetime

from infrasignal.periods import week
from infrasignal.report import DataGap, Evidence, OpenCount, ReportData, RoleChange, SignalItem

EVIL_TITLE = "<script>alert(1)</script> Data Center Electrician"
EVIL_URL = "javascript:alert(2)"


def sample_report() -> ReportData:
    period = week("2026-W47")
    return ReportData(
        period=period,
        generated_at=datetime(2026, 11, 23, 8, 0),
        signals=[
            SignalItem(
                kind="new_location",
                company="Anthropic",
                summary="Anthropic's first infrastructure role in Tokyo",
                market="Tokyo",
                city="Tokyo",
                country="JP",
                discipline="electrical",
                first_seen="2026-11-17T06:00:00Z",
                score=0.9,
                evidence=(
                    Evidence(
                        "Data Center Electrical Engineer",
                        "https://example.com/jobs/1",
                        "2026-11-17T06:00:00Z",
                    ),
                    Evidence(EVIL_TITLE, EVIL_URL, "2026-11-17T06:00:00Z"),
                ),
            ),
            SignalItem(
                kind="surge",
                company="OpenAI",
                summary="Open infra roles in Sydney grew from 2 to 6",
                market="Sydney",
                country="AU",
                first_seen="2026-11-18T06:00:00Z",
                score=0.7,
                evidence=(Evidence("Energy Lead", "https://example.com/jobs/2"),),
            ),
        ],
        opened=[
            RoleChange(
                "Anthropic",
                "Data Center Electrical Engineer",
                "new",
                "2026-11-17T06:00:00Z",
                "Tokyo",
                "https://example.com/jobs/1",
                "Tokyo, JP",
                ("electrical",),
            ),
            RoleChange(
                "Anthropic", EVIL_TITLE, "new", "2026-11-17T06:00:00Z", "Tokyo", EVIL_URL, "Tokyo, JP"
            ),
            RoleChange(
                "OpenAI",
                "Energy Lead",
                "new",
                "2026-11-18T06:00:00Z",
                "Sydney",
                "https://example.com/jobs/2",
                "Sydney, AU",
                ("energy",),
            ),
            RoleChange(
                "OpenAI",
                "Site Selection Manager",
                "reopened",
                "2026-11-18T06:00:00Z",
                None,
                "https://example.com/jobs/3",
                "Remote (US)",
                ("site",),
            ),
        ],
        closed=[
            RoleChange(
                "Lattice Compute",
                "Contracts Manager",
                "closed",
                "2026-11-19T06:00:00Z",
                "London",
                "https://example.com/jobs/4",
                "London, GB",
                ("contracts",),
            ),
        ],
        open_roles=[
            OpenCount("Anthropic", "Tokyo", 2, 0),
            OpenCount("Anthropic", "London", 3, 3),
            OpenCount("OpenAI", "Sydney", 6, 2),
            OpenCount("OpenAI", None, 1, 1),
            OpenCount("Lattice Compute", "London", 1, 2),
            OpenCount("Newco", "Dallas", 4, None),
        ],
        open_total=17,
        open_change=5,
        gaps=[
            DataGap(
                "Beta",
                "Beta",
                "failed",
                "HTTP 500 from https://boards-api.greenhouse.io/v1/boards/beta/jobs",
                "2026-11-18T06:00:00Z",
                failures=2,
                fetches=7,
            ),
            DataGap(
                "Gamma",
                "Gamma",
                "quarantined",
                "board lost 12 of 20 postings at once",
                "2026-11-19T06:00:00Z",
            ),
        ],
        boards=5,
        new_boards=["Newco"],
    )
