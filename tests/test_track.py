"""The pure closure rules of DESIGN.md: failures close nothing, suspect drops wait for confirmation,
incomplete fetches close nothing, reopen keeps identity, the first fetch is a baseline."""

from __future__ import annotations

from datetime import datetime

from infrasignal.config import HistoryConfig
from infrasignal.model import Posting
from infrasignal.track import BoardState, StoredPosting, description_hash, plan_fetch

T1 = datetime(2026, 11, 16, 6)
T2 = datetime(2026, 11, 17, 6)
RULES = HistoryConfig()
SETTLED = BoardState(baseline_at=T1, suspect_since=None, suspect_reason=None)


def posting(i: int, title: str = "Role", description: str = "d") -> Posting:
    return Posting(
        external_id=str(i),
        title=f"{title} {i}",
        url=f"https://x/{i}",
        locations=["Tokyo, Japan"],
        description=description,
    )


def stored(p: Posting, status: str = "open") -> StoredPosting:
    return StoredPosting(
        p.external_id, status, p.title, p.location, p.department, description_hash(p.description)
    )


def board_of(n: int) -> dict[str, StoredPosting]:
    return {str(i): stored(posting(i)) for i in range(n)}


def test_first_fetch_is_baseline() -> None:
    plan = plan_fetch({}, [posting(1)], True, BoardState(None, None, None), RULES, T1)
    assert plan.baseline and [p.external_id for p in plan.new] == ["1"]


def test_new_changed_unchanged_and_closed() -> None:
    db = board_of(3)
    fetched = [posting(0), posting(1, title="Senior Role"), posting(7)]
    plan = plan_fetch(db, fetched, True, SETTLED, RULES, T2)
    assert plan.rule == "complete" and not plan.baseline
    assert [p.external_id for p in plan.new] == ["7"]
    assert [(p.external_id, f) for p, f in plan.changed] == [("1", ["title"])]
    assert [p.external_id for p in plan.unchanged] == ["0"]
    assert plan.close == ["2"] and plan.closed_at == T2


def test_description_change_is_a_version() -> None:
    db = board_of(1)
    plan = plan_fetch(db, [posting(0, description="new text")], True, SETTLED, RULES, T2)
    assert [f for _, f in plan.changed] == [["description"]]


def test_failed_fetch_changes_nothing_and_keeps_quarantine() -> None:
    state = BoardState(T1, T1, "lost 6 of 10")
    plan = plan_fetch(board_of(5), None, False, state, RULES, T2)
    assert plan.rule == "failed" and not plan.close and not plan.new
    assert plan.suspect_since == T1


def test_incomplete_fetch_closes_nothing() -> None:
    plan = plan_fetch(board_of(5), [posting(0)], False, SETTLED, RULES, T2)
    assert plan.rule == "incomplete" and plan.close == []


def test_empty_board_is_suspect_then_confirmed_dated_when_it_went() -> None:
    db = board_of(3)
    plan = plan_fetch(db, [], True, SETTLED, RULES, T2)
    assert plan.rule == "suspect" and plan.close == [] and plan.suspect_since == T2
    t3 = datetime(2026, 11, 18, 6)
    again = plan_fetch(db, [], True, BoardState(T1, T2, plan.suspect_reason), RULES, t3)
    assert again.rule == "confirmed" and sorted(again.close) == ["0", "1", "2"] and again.closed_at == T2
    assert again.suspect_since is None


def test_suspect_drop_cleared_when_postings_come_back() -> None:
    db = board_of(10)
    half = [posting(i) for i in range(4)]
    plan = plan_fetch(db, half, True, SETTLED, RULES, T2)
    assert plan.rule == "suspect" and "lost 6 of 10" in (plan.suspect_reason or "")
    back = plan_fetch(
        db, [posting(i) for i in range(10)], True, BoardState(T1, T2, plan.suspect_reason), RULES, T2
    )
    assert back.rule == "complete" and back.close == [] and back.suspect_since is None


def test_small_board_losing_half_is_an_ordinary_closure() -> None:
    plan = plan_fetch(board_of(4), [posting(0)], True, SETTLED, RULES, T2)
    assert plan.rule == "complete" and sorted(plan.close) == ["1", "2", "3"]


def test_thresholds_are_configurable() -> None:
    rules = HistoryConfig(suspect_min_board=3, suspect_drop_fraction=0.5)
    plan = plan_fetch(board_of(4), [posting(0)], True, SETTLED, rules, T2)
    assert plan.rule == "suspect"


def test_closed_posting_that_returns_is_reopened_not_new() -> None:
    db = board_of(2)
    db["1"] = stored(posting(1), status="closed")
    plan = plan_fetch(db, [posting(0), posting(1)], True, SETTLED, RULES, T2)
    assert plan.new == [] and [p.external_id for p, _ in plan.reopened] == ["1"]


def test_source_marked_closed_counts_as_not_listed() -> None:
    gone = posting(1)
    gone.closed = True
    plan = plan_fetch(board_of(2), [posting(0), gone], True, SETTLED, RULES, T2)
    assert plan.close == ["1"]


def test_posting_whose_detail_was_skipped_keeps_its_stored_detail() -> None:
    # Stored with the detail merged (three real cities); today the list entry is unchanged, so the crawler
    # skipped the detail and hands over the list version ("3 Locations") still marked needs_detail.
    full = Posting(
        external_id="w1",
        title="Critical Facilities Engineer",
        url="u",
        locations=["Ashburn, VA", "Dallas, TX", "Chicago, IL"],
    )
    old = StoredPosting("w1", "open", full.title, full.location, "", description_hash(""), list_hash="L1")
    listed = Posting(
        external_id="w1",
        title="Critical Facilities Engineer",
        url="u",
        locations=["3 Locations"],
        needs_detail=True,
    )
    plan = plan_fetch({"w1": old}, [listed], True, SETTLED, RULES, T2, list_hashes={"w1": "L1"})
    assert plan.changed == [] and [p.external_id for p in plan.unchanged] == ["w1"]
    # the list entry itself changed: its detail should have been fetched; if it was not, it is a change
    plan = plan_fetch({"w1": old}, [listed], True, SETTLED, RULES, T2, list_hashes={"w1": "L2"})
    assert [f for _, f in plan.changed] == [["location"]]
