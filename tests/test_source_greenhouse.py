"""Greenhouse parsing, pure: bundled fixtures, hand-made bodies for each quirk, and the real captured samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infrasignal.config import BoardConfig
from infrasignal.model import Page, ParseError, Posting
from infrasignal.sources import get_source
from infrasignal.sources.greenhouse import SOURCE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "greenhouse" / "anthropic"
REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ats-samples"


def board(**kw: Any) -> BoardConfig:
    fields: dict[str, Any] = {"company": "Anthropic", "ats": "greenhouse", "token": "anthropic", **kw}
    return BoardConfig(**fields)


def parse(body: bytes | str | Any, b: BoardConfig | None = None) -> Page:
    b = b or board()
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return SOURCE.parse_page(b, SOURCE.first_request(b), body, 0)


def day(n: int) -> Page:
    return parse((FIXTURES / f"day{n}.json").read_bytes())


def by_title(page: Page, title: str) -> Posting:
    [posting] = [p for p in page.postings if p.title == title]
    return posting


def minimal(**fields: Any) -> dict[str, Any]:
    job = {"id": 1, "title": "Engineer", "absolute_url": "https://example.com/1", "location": {"name": "X"}}
    job.update(fields)
    return job


def test_registered_under_its_name() -> None:
    assert get_source("greenhouse") is SOURCE


def test_first_request_is_whole_board_with_content_and_conditional() -> None:
    req = SOURCE.first_request(board())
    assert req.url == "https://boards-api.greenhouse.io/v1/boards/anthropic/jobs"
    assert req.params == {"content": "true"}
    assert req.method == "GET"
    assert req.conditional is True


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001/v1/boards/anthropic/jobs"),
        ("http://127.0.0.1:8001/", "http://127.0.0.1:8001/v1/boards/anthropic/jobs"),
        ("http://127.0.0.1:8001/gh", "http://127.0.0.1:8001/gh/v1/boards/anthropic/jobs"),
    ],
)
def test_base_url_replaces_host_and_keeps_path(base_url: str, expected: str) -> None:
    assert SOURCE.first_request(board(base_url=base_url)).url == expected


def test_day1_fixture_parses_every_job_with_total() -> None:
    page = day(1)
    assert len(page.postings) == 16
    assert page.total == 16
    assert page.next is None and page.truncated is False
    assert len({p.external_id for p in page.postings}) == 16
    assert all(p.url and p.title and p.external_id.isdigit() for p in page.postings)


def test_fields_of_an_infra_role() -> None:
    p = by_title(day(1), "Data Center Electrical Engineer")
    assert p.external_id == "5401110008"
    assert p.url == "https://job-boards.greenhouse.io/anthropic/jobs/5401110008"
    assert p.locations == ["Tokyo, Japan"]  # the office "Tokyo, Tokyo, Japan" adds nothing
    assert p.department == "Compute"
    assert p.remote is False
    assert p.requisition_id == "4541110008"
    assert p.posted_at == datetime(2026, 9, 1, 1, 2, 44, tzinfo=UTC)  # -04:00 converted to UTC
    assert p.updated_at == datetime(2026, 9, 2, 7, 11, 9, tzinfo=UTC)
    assert "medium-voltage switchgear" in p.description


def test_entity_escaped_content_is_unescaped_exactly_once() -> None:
    p = by_title(day(1), "Commercial Counsel, Datacenters & Construction")
    assert "build-to-suit & construction agreements" in p.description  # `&amp;amp;` in the body
    assert "Anthropic's compute expansion" in p.description  # `&amp;#39;`
    for leftover in ("&amp;", "&lt;", "&quot;", "<p>", "<h2>", "&#39;"):
        assert leftover not in p.description
    assert p.description.startswith("About Anthropic\n")  # the board intro is part of every post
    assert "\n\n" not in p.description


def test_titles_are_trimmed() -> None:
    titles = {p.title for p in day(1).postings}
    assert "Software Engineer, Infrastructure" in titles  # trailing space in the body
    assert "Solutions Architect, Applied AI (Industries)" in titles  # leading space


def test_multi_location_strings_are_kept_raw_for_the_classifier() -> None:
    page = day(1)
    tpm = by_title(page, "Technical Program Manager, Data Center Infrastructure")
    assert tpm.locations == ["Remote-Friendly (Travel-Required) | San Francisco, CA | Seattle, WA"]
    assert tpm.remote is True  # "Location Type" = Remote
    devrel = by_title(page, "Developer Relations Lead")
    assert devrel.locations == ["London, UK; Ontario, CA; Remote-Friendly, United States; San Francisco, CA"]
    assert by_title(page, "Account Executive, Public Sector").locations == ["Dublin, IE"]
    assert by_title(page, "Research Engineer, Interpretability").locations == ["Zürich, CH"]


def test_null_location_falls_back_to_office_and_missing_url_to_canonical() -> None:
    p = by_title(day(1), "Executive Assistant, Compute")
    assert p.locations == ["San Francisco, California, United States"]
    assert p.url == "https://job-boards.greenhouse.io/anthropic/jobs/5333330008"


def test_same_role_in_two_cities_shares_requisition_id() -> None:
    copies = [p for p in day(1).postings if p.title == "Data Center Hardware Operations Lead"]
    assert [p.locations for p in copies] == [["Washington, DC"], ["Seattle, WA"]]
    assert copies[0].requisition_id == copies[1].requisition_id == "4502760008"
    assert copies[0].external_id != copies[1].external_id


def test_metadata_null_and_missing_departments_and_offices() -> None:
    page = day(1)
    research = by_title(page, "Research Engineer, Interpretability")  # metadata: null
    assert research.remote is None
    assert research.department == "Research"
    coordinator = by_title(page, "Recruiting Coordinator")  # no departments / offices keys, value null
    assert coordinator.department == ""
    assert coordinator.remote is None
    assert coordinator.locations == ["New York City, NY; San Francisco, CA"]


def test_description_names_the_markets_a_contracts_role_covers() -> None:
    p = by_title(day(1), "Contracts Manager")
    assert "Frankfurt, Amsterdam, Paris and Dublin" in p.description
    assert p.department == "Legal"


def test_day2_adds_removes_and_changes_postings() -> None:
    one = {p.external_id: p for p in day(1).postings}
    two = {p.external_id: p for p in day(2).postings}
    assert {two[i].title for i in two.keys() - one.keys()} == {
        "Data Center Mechanical Engineer",
        "Energy Development Lead, APAC",
        "Data Center Construction Manager",
    }
    assert {one[i].title for i in one.keys() - two.keys()} == {
        "Capacity Engineer, Compute",
        "Research Engineer, Interpretability",
    }
    changed = [i for i in one.keys() & two.keys() if one[i].content_hash() != two[i].content_hash()]
    assert changed == ["5377310008"]
    assert (one["5377310008"].title, two["5377310008"].title) == (
        "Energy Procurement Lead",
        "Energy Procurement Lead, EMEA",
    )
    assert "Nordics" in two["5377310008"].description
    assert day(2).total == 17


def test_several_departments_are_joined_and_bad_entries_ignored() -> None:
    job = minimal(departments=[{"name": "Compute "}, "junk", {"name": "Finance"}, {"name": None}])
    assert parse({"jobs": [job]}).postings[0].department == "Compute, Finance"


def test_office_in_another_city_is_added_and_junk_is_ignored() -> None:
    job = minimal(
        location={"name": "London, UK"},
        offices=[
            {"name": "London", "location": "London, England, United Kingdom"},
            {"name": "Dublin, IE", "location": None},
            None,
            {"name": None, "location": None},
        ],
    )
    assert parse({"jobs": [job]}).postings[0].locations == ["London, UK", "Dublin, IE"]


def test_bad_fields_degrade_to_empty_values() -> None:
    job = {
        "id": "77",
        "title": 42.5,
        "absolute_url": None,
        "location": None,
        "content": None,
        "departments": None,
        "offices": None,
        "metadata": None,
        "internal_job_id": None,
        "first_published": "not a date",
    }
    [p] = parse({"jobs": [job], "meta": {"total": "many"}}).postings
    assert (p.external_id, p.title, p.locations, p.description, p.department) == ("77", "42.5", [], "", "")
    assert p.url == "https://job-boards.greenhouse.io/anthropic/jobs/77"
    assert p.requisition_id is None and p.posted_at is None and p.remote is None


def test_total_is_none_without_meta() -> None:
    page = parse({"jobs": [minimal()]})
    assert page.total is None and len(page.postings) == 1


def test_empty_board_is_a_valid_empty_page() -> None:
    page = parse({"jobs": [], "meta": {"total": 0}})
    assert page.postings == [] and page.total == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "greenhouse: body is not valid JSON"),
        (b"", "greenhouse: body is not valid JSON"),
        ([{"id": 1}], "greenhouse: response: expected dict, got list"),
        ({"status": 404, "error": "Job not found"}, "greenhouse: `jobs` is missing"),
        ({"jobs": {"id": 1}}, "greenhouse: `jobs`: expected list, got dict"),
        ({"jobs": [{"id": 1, "title": "A"}, "oops"]}, "greenhouse: jobs[1]: expected dict, got str"),
        ({"jobs": [{"id": 1}, {"title": "No id"}]}, "greenhouse: jobs[1] has no `id`"),
        ({"jobs": [{"id": None}]}, "greenhouse: jobs[0] has no `id`"),
        ({"jobs": [{"id": True}]}, "greenhouse: jobs[0] has no `id`"),
        ({"jobs": [{"id": " "}]}, "greenhouse: jobs[0] has no `id`"),
    ],
)
def test_malformed_bodies_fail_the_page_with_one_line(body: Any, message: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(body)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


# The real captured samples, parsed where they lie (never copied). Two were stored as the bare `jobs` array
# by the repository they came from; those are put back into the documented envelope here.
REAL_SAMPLES = [
    ("greenhouse_anthropic_content_true_record_from_doc.json", False),
    ("greenhouse_anthropic_jobs_array.json", True),
    ("greenhouse_codepath_jobs_list_2024.json", False),
    ("greenhouse_stripe.json", False),
]


@pytest.mark.parametrize(("name", "bare_array"), REAL_SAMPLES)
def test_real_captured_sample(name: str, bare_array: bool) -> None:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    data = json.loads(path.read_bytes())
    if bare_array:
        data = {"jobs": data, "meta": {"total": len(data)}}
    page = parse(data, board(token=name.split("_")[1]))
    assert page.postings and len(page.postings) == len(data["jobs"])
    for job, p in zip(data["jobs"], page.postings, strict=True):
        assert p.external_id == str(job["id"])
        assert p.title and p.title == p.title.strip()
        assert p.url.startswith("https://")
        assert p.locations
        assert p.posted_at is None or p.posted_at.tzinfo is not None
        assert p.requisition_id == str(job["internal_job_id"])
        if job.get("content"):
            assert p.description and "&lt;" not in p.description and "<" not in p.description


def test_real_samples_specific_quirks() -> None:
    stripe = REAL / "greenhouse_stripe.json"
    sydney = REAL / "greenhouse_anthropic_content_true_record_from_doc.json"
    if not (stripe.exists() and sydney.exists()):
        pytest.skip(f"real samples not available in {REAL}")
    page = parse(stripe.read_bytes(), board(token="stripe"))
    assert page.total == 524
    assert page.postings[0].url == "https://stripe.com/jobs/search?gh_jid=7954688"  # employer's own domain
    assert page.postings[0].locations == ["San Francisco, CA", "US"]  # office without an address: its name
    assert page.postings[0].description.startswith("Who we are\nAbout Stripe\n")
    [p] = parse(sydney.read_bytes()).postings
    assert p.locations == ["Sydney, Australia"]
    assert p.remote is None  # "Location Type" present but null
    assert p.department == "Sales"
    assert p.description.startswith("About Anthropic")
