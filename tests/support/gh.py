"""Build Greenhouse-shaped board bodies for multi-day tests (the real field names and quirks)."""

from __future__ import annotations

import html
from typing import Any


def gh_job(
    job_id: int, title: str, location: str, department: str = "Compute", content: str = "<p>Build.</p>"
) -> dict[str, Any]:
    return {
        "absolute_url": f"https://job-boards.greenhouse.io/acme/jobs/{job_id}",
        "data_compliance": [],
        "internal_job_id": job_id // 10,
        "location": {"name": location},
        "metadata": None,
        "id": job_id,
        "updated_at": "2026-11-10T10:00:00-05:00",
        "requisition_id": str(job_id),
        "title": title,
        "company_name": "Acme",
        "first_published": "2026-11-01T10:00:00-05:00",
        "language": "en",
        "content": html.escape(content),
        "departments": [{"id": 1, "name": department, "child_ids": [], "parent_id": None}],
        "offices": [],
    }


def gh_board(*jobs: dict[str, Any]) -> dict[str, Any]:
    return {"jobs": list(jobs), "meta": {"total": len(jobs)}}
