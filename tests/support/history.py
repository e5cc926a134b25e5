"""Build a store's history by hand for report, mail and scheduler tests: each call records one board's fetch
(through `store.record_fetch`, the real write path) with a tiny stand-in classifier, so these tests do not
depend on the real classifier's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from infrasignal.config import Config, parse_config
from infrasignal.crawl import BoardFetch
from infrasignal.model import Place
from infrasignal.model import Posting as ParsedPosting
from infrasignal.store import open_store, record_fetch, sync_boards

MARKETS = {"Tokyo": "Tokyo", "London": "London", "Sydney": "Sydney", "Ashburn": "Northern Virginia"}
DISCIPLINES = {
    "electrical": "electrical",
    "mechanical": "mechanical",
    "energy": "energy",
    "contracts": "contracts",
}
INFRA_WORDS = ("data center", "electrical", "mechanical", "energy", "contracts", "site")


@dataclass
class Tags:
    """The shape `store.write_classification` reads from a classifier's result."""

    infra: bool
    places: list[Place] = field(default_factory=list)
    disciplines: list[str] = field(default_factory=list)
    markets: list[str] = field(default_factory=list)
    covered_markets: list[str] = field(default_factory=list)
    unresolved_locations: bool = False
    evidence: list[Any] = field(default_factory=list)


def classify(p: ParsedPosting) -> Tags:
    title = p.title.lower()
    city, _, country = (p.locations[0] if p.locations else "").partition(", ")
    market = MARKETS.get(city)
    return Tags(
        infra=any(w in title for w in INFRA_WORDS),
        places=[Place(city=city or None, country=country or None)],
        disciplines=[d for word, d in DISCIPLINES.items() if word in title],
        markets=[market] if market else [],
    )


def job(external_id: int, title: str, location: str, url: str | None = None) -> ParsedPosting:
    return ParsedPosting(
        external_id=str(external_id),
        title=title,
        url=url if url is not None else f"https://jobs.example.com/{external_id}",
        locations=[location],
    )


def make_config(tmp_path: Path, *companies: str, extra: dict[str, Any] | None = None) -> Config:
    data: dict[str, Any] = {
        "storage": {"database": str(tmp_path / "history.db")},
        "boards": [{"company": c, "ats": "greenhouse", "token": c.lower()} for c in companies],
    }
    data.update(extra or {})
    return parse_config(data, tmp_path / "config.toml")


class History:
    """A database with boards from `cfg`, written fetch by fetch."""

    def __init__(self, cfg: Config, created: datetime) -> None:
        self.cfg = cfg
        self.db = open_store(cfg.database_url)
        self.ids = sync_boards(self.db, cfg.boards, created)

    def fetch(self, board: str, at: datetime, *postings: ParsedPosting) -> None:
        result = BoardFetch(board=board, status="ok", postings=list(postings), complete=True)
        record_fetch(self.db, self.ids[board], result, self.cfg.history, at, classify)

    def fail(self, board: str, at: datetime, error: str = "HTTP 500 from the board") -> None:
        result = BoardFetch(board=board, status="failed", complete=False, error=error, http_status=500)
        record_fetch(self.db, self.ids[board], result, self.cfg.history, at, classify)


EVIL_TITLE = "<script>alert(1)</script> Data Center Electrician"
EVIL_URL = "javascript:alert(2)"
W46_DAY = datetime(2026, 11, 10, 6)
W47_DAYS = (datetime(2026, 11, 17, 6), datetime(2026, 11, 18, 6))


def week47(tmp_path: Path, extra: dict[str, Any] | None = None) -> History:
    """Acme and Beta: baselined in week 46; in week 47 Acme opens two roles in Tokyo (a new market; one
    with a malicious title and URL) and closes one in London, Beta fails once and then opens one in
    Sydney."""
    h = History(make_config(tmp_path, "Acme", "Beta", extra=extra), datetime(2026, 11, 9))
    london, london2 = (
        job(1, "Data Center Electrical Engineer", "London, GB"),
        job(5, "Contracts Manager", "London, GB"),
    )
    software = job(2, "Software Engineer", "San Francisco, US")
    tokyo = job(3, "Data Center Mechanical Engineer", "Tokyo, JP")
    evil = job(4, EVIL_TITLE, "Tokyo, JP", url=EVIL_URL)
    sydney, sydney2 = job(10, "Energy Lead", "Sydney, AU"), job(11, "Site Energy Manager", "Sydney, AU")
    h.fetch("Acme", W46_DAY, london, software, london2)
    h.fetch("Beta", W46_DAY, sydney)
    h.fetch("Acme", W47_DAYS[0], london, software, london2, tokyo, evil)
    h.fail("Beta", W47_DAYS[0])
    h.fetch("Acme", W47_DAYS[1], software, london2, tokyo, evil)
    h.fetch("Beta", W47_DAYS[1], sydney, sydney2)
    return h
