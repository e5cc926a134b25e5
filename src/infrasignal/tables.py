"""The database schema as SQLModel tables. Times are stored as naive UTC.

Identity of a posting is (board_id, external_id). Each observed content change is a `PostingVersion`;
every lifecycle step (baseline, new, changed, closed, reopened) is an `Event` with its time, so any past
state can be rebuilt ("as of" queries, diffs, signals for a past date).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def when(nullable: bool = False, **kwargs: Any) -> Any:
    """A naive-UTC timestamp column (explicit type: newer SQLModel would demand aware datetimes)."""
    if nullable:
        kwargs.setdefault("default", None)
    return Field(sa_type=DateTime(timezone=False), nullable=nullable, **kwargs)


class SchemaMeta(SQLModel, table=True):
    __tablename__ = "schema_meta"
    key: str = Field(primary_key=True)
    value: str


class Board(SQLModel, table=True):
    __tablename__ = "board"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)  # the config label (company, or `name` when set)
    company: str
    ats: str
    token: str | None = None
    url: str | None = None
    created_at: datetime = when()
    baseline_at: datetime | None = when(nullable=True)  # first successful fetch: its postings are not "new"
    last_success_at: datetime | None = when(nullable=True)
    last_error_at: datetime | None = when(nullable=True)
    last_error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    suspect_since: datetime | None = when(
        nullable=True
    )  # quarantine: a suspect drop waiting for confirmation
    suspect_reason: str | None = None
    # distributed scrapes (PostgreSQL): the shared round that last recorded this board; a board already
    # recorded in the current round is skipped by the other workers (schema v2)
    fetched_round: int | None = None
    # when a fetch last listed the board's postings (schema v8); with last_success_at, a later "not
    # modified" answer among them, it says when each posting was last seen (seen.py)
    listed_at: datetime | None = when(nullable=True)


class Fetch(SQLModel, table=True):
    __tablename__ = "fetch"
    __table_args__ = (Index("ix_fetch_board_at", "board_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    board_id: int = Field(foreign_key="board.id")
    at: datetime = when()  # observation time (`--as-of` for backfills)
    status: str  # ok | not_modified | failed
    rule: str  # which closure rule applied: baseline, complete, not_modified, failed, incomplete, ...
    http_status: int | None = None
    error: str | None = None
    found: int = 0
    new: int = 0
    changed: int = 0
    closed: int = 0
    reopened: int = 0
    pages: int = 0
    requests: int = 0
    duration: float = 0.0
    complete: bool = True
    etag: str | None = None


class Posting(SQLModel, table=True):
    __tablename__ = "posting"
    __table_args__ = (
        UniqueConstraint("board_id", "external_id", name="uq_posting_board_external"),
        Index("ix_posting_status_first_seen", "status", "first_seen"),
        # a board's open postings (304 refresh, closures): without it SQLite may walk every open posting
        Index("ix_posting_board_status", "board_id", "status"),
        # `roles --infra` (open infra, newest first) and `signals` (the open infra roles to count): covering
        # for signals, whose reads would otherwise walk each posting's description to reach later columns
        Index(
            "ix_posting_infra_roles",
            "status",
            "infra",
            "first_seen",
            "board_id",
            "baseline",
            "requisition_id",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    board_id: int = Field(foreign_key="board.id", index=True)
    external_id: str
    title: str
    department: str = ""
    team: str = ""
    url: str = ""
    location: str = ""  # raw location strings joined with " | "
    description: str = ""
    content_hash: str
    description_hash: str
    list_hash: str | None = None  # hash of the list entry before detail merge; None: detail still needed
    requisition_id: str | None = None
    remote: bool | None = None
    posted_at: datetime | None = when(nullable=True)
    first_seen: datetime = when()
    last_seen: datetime = when()
    closed_at: datetime | None = when(nullable=True)
    status: str = "open"  # open | closed
    baseline: bool = False  # first seen in the board's baseline fetch: never reported as new
    infra: bool = Field(default=False, index=True)
    unresolved_locations: bool = False
    classified_hash: str | None = None  # content_hash + rules version when last classified


class PostingVersion(SQLModel, table=True):
    __tablename__ = "posting_version"
    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    at: datetime = when()
    changed: str  # comma-separated changed fields; "created" for the first version
    title: str
    department: str = ""
    location: str = ""
    description_hash: str = ""


class Event(SQLModel, table=True):
    __tablename__ = "event"
    # A window's closures and reopenings: (at, kind) ranges whose posting ids are read from the index itself.
    __table_args__ = (Index("ix_event_at_kind_posting", "at", "kind", "posting_id"),)
    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    board_id: int = Field(foreign_key="board.id", index=True)
    at: datetime = when()
    kind: str  # baseline | new | changed | closed | reopened
    detail: str = ""


class PostingPlace(SQLModel, table=True):
    __tablename__ = "posting_place"
    __table_args__ = (Index("ix_place_city", "city"), Index("ix_place_country", "country"))
    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id", index=True)
    city: str | None = None
    region: str | None = None
    country: str | None = None
    remote: bool = False


class PostingTag(SQLModel, table=True):
    __tablename__ = "posting_tag"
    __table_args__ = (
        Index("ix_tag_kind_value", "kind", "value"),
        # A posting's tags of one kind: without it the signal queries walk every tag of that kind per posting.
        # It also serves every lookup by posting (no index on posting_id alone).
        Index("ix_tag_posting_kind", "posting_id", "kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    posting_id: int = Field(foreign_key="posting.id")
    kind: str  # discipline | market | covered_market
    value: str
    evidence: str = ""


class SitePresence(SQLModel, table=True):
    """A summary kept by the store for `signals` (presence.py): for each board, site (a market, or a city
    with its country) and group of roles there (discipline or none, infra flag, and for cities whether the
    role had a market), the earliest posting and the earliest baseline posting. "Has this company hired
    here before?" then reads a few rows instead of every posting the company ever had (schema v6)."""

    __tablename__ = "site_presence"
    __table_args__ = (Index("ix_site_presence_site", "board_id", "market", "city"),)  # a board's site
    id: int | None = Field(default=None, primary_key=True)
    board_id: int = Field(foreign_key="board.id")
    market: str | None = None
    city: str | None = None
    country: str | None = None
    discipline: str | None = None
    infra: bool = False
    has_market: bool = False
    posting_id: int = Field(foreign_key="posting.id")
    first_seen: datetime = when()
    baseline: bool = False


class SentReport(SQLModel, table=True):
    __tablename__ = "sent_report"
    __table_args__ = (UniqueConstraint("period", "recipients", name="uq_sent_report_period_to"),)
    id: int | None = Field(default=None, primary_key=True)
    period: str  # e.g. 2026-W47
    recipients: str  # sorted, comma-separated
    message_id: str
    status: str = "pending"  # pending (being sent, or the run died mid-send) | sent | failed
    attempts: int = 0  # SMTP attempts over all runs
    deliveries: int = 0  # times the server accepted it (more than 1 only through `--force`)
    subject: str = ""
    last_error: str | None = None  # the last failure, or recipients the server refused
    created_at: datetime = when()
    sent_at: datetime | None = when(nullable=True)
