"""Pure history rules: given what the store holds for a board and what one fetch returned, decide what is
new, changed, reopened and closed, and which closure rule applied (DESIGN.md, "Closures and failures").

- A failed fetch changes nothing.
- A fetch that is not complete (a page missing, a total not reached, an API cap) closes nothing.
- A suspect fetch (a board that had postings returns none, or loses more than `suspect_drop_fraction` of a
  board of at least `suspect_min_board`) closes nothing and puts the board in quarantine; the next
  successful fetch either clears it (postings are back) or confirms it (closes what is still missing,
  dated when it first went missing).
- The first successful fetch is the baseline: its postings are recorded but are not "new".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from infrasignal.config import HistoryConfig
from infrasignal.model import Posting

# Fields compared to tell which parts of a posting changed; the description is compared by hash.
VERSIONED_FIELDS = ("title", "location", "department", "description")


@dataclass(frozen=True, slots=True)
class StoredPosting:
    external_id: str
    status: str
    title: str
    location: str
    department: str
    description_hash: str
    list_hash: str | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class BoardState:
    baseline_at: datetime | None
    suspect_since: datetime | None
    suspect_reason: str | None


@dataclass(slots=True)
class Plan:
    """What to write for one board fetch."""

    rule: str
    baseline: bool = False
    new: list[Posting] = field(default_factory=list)
    changed: list[tuple[Posting, list[str]]] = field(default_factory=list)
    reopened: list[tuple[Posting, list[str]]] = field(default_factory=list)
    unchanged: list[Posting] = field(default_factory=list)
    close: list[str] = field(default_factory=list)  # external ids
    closed_at: datetime | None = None
    close_now: list[str] = field(default_factory=list)  # closed at this fetch's time (see plan_fetch)
    suspect_since: datetime | None = None  # board quarantine after this fetch (None clears it)
    suspect_reason: str | None = None


def description_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def changed_fields(old: StoredPosting, new: Posting) -> list[str]:
    out = []
    if old.title != new.title:
        out.append("title")
    if old.location != new.location:
        out.append("location")
    if old.department != new.department:
        out.append("department")
    if old.description_hash != description_hash(new.description):
        out.append("description")
    return out


def plan_fetch(
    stored: Mapping[str, StoredPosting],
    postings: list[Posting] | None,
    complete: bool,
    board: BoardState,
    rules: HistoryConfig,
    now: datetime,
    list_hashes: Mapping[str, str] | None = None,
) -> Plan:
    """Decide the effect of one fetch. `postings` is None for a failed fetch (a 304 is handled by the
    store: it only refreshes last_seen). `list_hashes` are the list-entry hashes: a posting whose detail
    was not fetched this time because its list entry did not change keeps its stored detail."""
    if postings is None:
        return Plan(rule="failed", suspect_since=board.suspect_since, suspect_reason=board.suspect_reason)

    plan = Plan(rule="complete", baseline=board.baseline_at is None)
    listed = [p for p in postings if not p.closed]
    seen = {p.external_id for p in listed}
    for posting in listed:
        old = stored.get(posting.external_id)
        if old is None:
            plan.new.append(posting)
            continue
        detail_skipped = (
            posting.needs_detail
            and old.list_hash is not None
            and list_hashes is not None
            and list_hashes.get(posting.external_id) == old.list_hash
        )
        fields = [] if detail_skipped else changed_fields(old, posting)
        if old.status == "closed":
            plan.reopened.append((posting, fields))
        elif fields:
            plan.changed.append((posting, fields))
        else:
            plan.unchanged.append(posting)

    open_before = [eid for eid, s in stored.items() if s.status == "open"]
    missing = [eid for eid in open_before if eid not in seen]
    if not missing:
        return plan
    if not complete:
        plan.rule = "incomplete"
        return plan

    reason = suspect_reason(len(open_before), len(missing), len(seen), rules)
    if reason is None:
        plan.close, plan.closed_at = missing, now
        return plan
    if board.suspect_since is None:
        plan.rule, plan.suspect_since, plan.suspect_reason = "suspect", now, reason
        return plan
    # A second suspect fetch in a row confirms the drop: close what is still missing, dated when it went;
    # a posting the suspect fetch still listed went only now.
    went = board.suspect_since
    listed_then = {eid for eid in missing if _seen_since(stored[eid], went)}
    plan.rule = "confirmed"
    plan.close = [eid for eid in missing if eid not in listed_then]
    plan.closed_at = went
    plan.close_now = [eid for eid in missing if eid in listed_then]
    return plan


def _seen_since(posting: StoredPosting, t: datetime) -> bool:
    return posting.last_seen is not None and posting.last_seen >= t


def suspect_reason(open_before: int, missing: int, listed: int, rules: HistoryConfig) -> str | None:
    """Why a drop is suspect, or None when it is an ordinary closure."""
    if listed == 0 and open_before > 0:
        return f"board returned no postings (had {open_before})"
    if open_before >= rules.suspect_min_board and missing > rules.suspect_drop_fraction * open_before:
        return f"lost {missing} of {open_before} postings at once"
    return None
