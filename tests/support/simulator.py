"""A board simulator: N synthetic careers boards of the real ATS shapes served over loopback HTTP, with
per-board fault injection and a record of every request. Used by the reliability suite and `make bench`.

    sim = Simulator(seed=7, hosts=2)
    boards = sim.add_boards("greenhouse", 3, postings=40) + sim.add_boards("lever", 2, postings=60)
    with sim:
        config = sim.write_config(tmp_path, fetch={"retries": 1})
        sim.fault(boards[0], Fault.status(503, times=2), Fault.reset())
        sim.set_day(2)                       # every board's content moves to day 2 (churn + edits)
        ...
        sim.max_in_flight_by_host            # what the server saw, per host:port

Shapes, at the real API paths (each board's `base_url` replaces the ATS host):
- Greenhouse  GET  /v1/boards/{token}/jobs?content=true   -> {"jobs": [...], "meta": {"total": N}}
- Lever       GET  /v0/postings/{site}?mode=json&skip=S&limit=L -> a bare array (skip/limit paging)
- Ashby       GET  /posting-api/job-board/{board}          -> {"apiVersion": "1", "jobs": [...]}
- Workday     POST /wday/cxs/{tenant}/{site}/jobs {"limit": <=20, "offset": N} -> {"total": N on the first
              page only (0 later), "jobPostings": [...]}; GET /wday/cxs/{tenant}/{site}{externalPath} is
              the detail; a limit over 20 is an HTTP 400, as on the real API.

Content is deterministic from (seed, board, day): each board has `postings` slots; from day 2 on, each slot
is replaced by a new posting with probability `churn` per day and its title edited with probability
`edits`. Titles mix data-center / power / construction roles with ordinary ones (and software
"infrastructure" decoys); locations are real cities in the formats each ATS uses. Whole-board GET
responses carry an ETag and answer 304 to a matching If-None-Match (per board, `etag=False` turns it off).

Faults (`Fault.*`, queued per board; each applies to requests for its `page` (None: any list page; detail
requests only with `detail=True`) and is used up after `times` requests (None: never)): latency, HTTP
status (429 with Retry-After, 500, 503, 404, ...), connection reset, a hang past the client's timeout,
truncated JSON, a body cut short mid-transfer, invalid JSON (an HTML error page), a hand-made body, a missing
page (404), an empty page, and the content faults `empty` (the board lists nothing) and `halve` (just over half the
postings vanish at once).

Requests in flight are counted overall and per host (each listener is its own host:port), from the
moment a request is read until just before its last byte is written, so the server never counts more than
the client has outstanding. Everything is thread-safe; only loopback addresses are used.

Run standalone (for benchmarks), serving until stdin closes:
    python tests/support/simulator.py --boards 1000 --postings 100 --seed 7 --hosts 1
It prints one JSON line `{"urls": [...]}` (one base URL per host) once listening.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import select
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ATS_KINDS = ("greenhouse", "lever", "ashby", "workday")
WORKDAY_PAGE_LIMIT = 20
EPOCH = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

# --- realistic vocabulary ------------------------------------------------------------------------------

INFRA_TITLES = [
    "Data Center Electrical Engineer",
    "Critical Facilities Engineer",
    "Data Center Construction Manager",
    "Mechanical Engineer, Data Center Cooling",
    "Energy Procurement Lead",
    "Power Systems Engineer",
    "Capacity Planning Manager, Data Centers",
    "Site Selection Manager",
    "Data Center Operations Technician",
    "Contracts Manager, Data Center Infrastructure",
    "Hardware Sourcing Manager",
    "Commissioning Engineer",
    "Data Center Site Lead",
    "Electrical Design Engineer, Hyperscale",
    "Utility Interconnection Manager",
    "Construction Project Manager, Compute Infrastructure",
    "Supply Chain Manager, Data Center Equipment",
    "Physical Security Manager, Data Centers",
]
OTHER_TITLES = [
    "Software Engineer, Backend",
    "Research Scientist, Alignment",
    "Account Executive, Enterprise",
    "Product Designer",
    "Technical Recruiter",
    "Infrastructure Engineer, Kubernetes",
    "Site Reliability Engineer",
    "Machine Learning Engineer",
    "Product Manager, API",
    "Security Engineer",
    "Solutions Architect",
    "Finance Manager",
    "Legal Counsel, Commercial",
    "Data Scientist",
    "People Partner",
    "Developer Advocate",
    "Customer Success Manager",
    "Research Engineer, Pretraining",
    "Network Engineer",
    "Executive Assistant",
]
INFRA_DEPARTMENTS = ["Data Center Infrastructure", "Compute", "Supply Chain", "Energy", "Infrastructure"]
OTHER_DEPARTMENTS = ["Engineering", "Research", "Sales", "Product", "People", "Finance", "Legal", "Security"]
INFRA_SHARE = 0.18

# (city, region, country name, ISO2, weight)
CITIES: list[tuple[str, str, str, str, int]] = [
    ("San Francisco", "CA", "United States", "US", 22),
    ("New York City", "NY", "United States", "US", 12),
    ("Seattle", "WA", "United States", "US", 8),
    ("Ashburn", "VA", "United States", "US", 4),
    ("Dallas", "TX", "United States", "US", 4),
    ("Phoenix", "AZ", "United States", "US", 3),
    ("Quincy", "WA", "United States", "US", 1),
    ("Austin", "TX", "United States", "US", 3),
    ("London", "England", "United Kingdom", "GB", 10),
    ("Dublin", "Leinster", "Ireland", "IE", 4),
    ("Frankfurt", "Hesse", "Germany", "DE", 2),
    ("Amsterdam", "North Holland", "Netherlands", "NL", 2),
    ("Paris", "Ile-de-France", "France", "FR", 3),
    ("Zurich", "Zurich", "Switzerland", "CH", 2),
    ("Sydney", "New South Wales", "Australia", "AU", 3),
    ("Melbourne", "Victoria", "Australia", "AU", 1),
    ("Tokyo", "Tokyo", "Japan", "JP", 4),
    ("Osaka", "Osaka", "Japan", "JP", 1),
    ("Singapore", "Singapore", "Singapore", "SG", 3),
    ("Bengaluru", "Karnataka", "India", "IN", 3),
    ("Toronto", "ON", "Canada", "CA", 3),
    ("Seoul", "Seoul", "South Korea", "KR", 1),
]
_CITY_WEIGHTS = [c[4] for c in CITIES]

PARAGRAPHS = [
    "You will own the design review of medium- and high-voltage distribution for new data hall builds, "
    "working with utilities, general contractors and our capacity planning team.",
    "We are building the compute that trains frontier models. This team plans, builds and runs the "
    "physical infrastructure behind it: power, cooling, space and the supply chain that fills it.",
    "Partner with engineering, finance and legal to negotiate colocation, power purchase and "
    "construction contracts across our hubs.",
    "Drive commissioning from level 1 through integrated systems testing, and hand over live halls to "
    "operations with complete documentation.",
    "Build and ship the services that our research and product teams rely on every day, in Python, Go "
    "and Rust, with a strong bias for simple, well-tested code.",
    "Help customers adopt our API: run technical discovery, design solutions and turn what you learn "
    "into product feedback.",
    "Strong written communication; you can explain trade-offs to engineers and executives alike.",
    "Experience with switchgear, UPS, generators, chillers and CRAH units in mission-critical "
    "facilities is a strong plus.",
    "We offer competitive compensation, equity, generous leave and a hybrid working model.",
    "Five or more years of relevant experience, or an equivalent combination of education and work.",
]
BULLETS = [
    "Own vendor selection and performance for critical equipment",
    "Model power and cooling capacity against the compute roadmap",
    "Write clear design documents and review others'",
    "Travel to sites up to 30% of the time",
    "Mentor engineers and raise the bar for the team",
    "Ship features end to end with product and design",
]


# --- faults ----------------------------------------------------------------------------------------------

CONTENT_FAULTS = frozenset({"empty", "halve"})


@dataclass
class Fault:
    """One misbehaviour of a board. `page`: only requests for this list page (0-based; None: any list
    page). `detail`: applies to detail requests instead of list pages. `times`: how many requests it
    affects before it is used up (None: every request while it is set)."""

    kind: str
    seconds: float = 0.0
    status_code: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    page: int | None = None
    detail: bool = False
    times: int | None = None
    data: bytes = b""

    @classmethod
    def latency(cls, seconds: float, **kw: Any) -> Fault:
        """Wait, then answer normally."""
        return cls("latency", seconds=seconds, **kw)

    @classmethod
    def status(cls, code: int, retry_after: str | float | None = None, **kw: Any) -> Fault:
        """Answer with this HTTP status (429 / 500 / 503 / 404 ...), optionally with Retry-After."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls("status", status_code=code, headers=headers, **kw)

    @classmethod
    def reset(cls, **kw: Any) -> Fault:
        """Abort the connection with a TCP reset instead of answering."""
        return cls("reset", **kw)

    @classmethod
    def hang(cls, seconds: float = 30.0, **kw: Any) -> Fault:
        """Say nothing until the client gives up (or `seconds` pass), then reset."""
        return cls("hang", seconds=seconds, **kw)

    @classmethod
    def truncated_json(cls, **kw: Any) -> Fault:
        """A complete HTTP 200 whose JSON body is cut in half."""
        return cls("truncated_json", **kw)

    @classmethod
    def short_body(cls, **kw: Any) -> Fault:
        """Declare the full Content-Length, send half the body, then reset (a transfer cut short)."""
        return cls("short_body", **kw)

    @classmethod
    def invalid_json(cls, **kw: Any) -> Fault:
        """HTTP 200 with an HTML error page instead of JSON."""
        return cls("invalid_json", **kw)

    @classmethod
    def body(cls, data: bytes, content_type: str = "application/json", **kw: Any) -> Fault:
        """HTTP 200 with exactly these bytes (no ETag): hostile or hand-made bodies."""
        return cls("body", headers={"Content-Type": content_type}, data=data, **kw)

    @classmethod
    def missing_page(cls, page: int = 1, **kw: Any) -> Fault:
        """This page of a paginated board answers 404."""
        return cls("missing_page", page=page, **kw)

    @classmethod
    def empty_page(cls, page: int = 1, **kw: Any) -> Fault:
        """This page lists no postings (the rest of the board is still there)."""
        return cls("empty_page", page=page, **kw)

    @classmethod
    def empty(cls, **kw: Any) -> Fault:
        """The whole board suddenly lists nothing (valid body)."""
        return cls("empty", **kw)

    @classmethod
    def halve(cls, **kw: Any) -> Fault:
        """Just over half the board's postings vanish at once (valid body): (n-1)//2 are kept."""
        return cls("halve", **kw)


# --- boards and postings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimPosting:
    """One synthetic posting, independent of the ATS shape it is rendered in."""

    slot: int
    gen: int
    edit: int
    uid: str  # stable random id of (board, slot, gen)
    number: int  # stable numeric id of (board, slot, gen)
    title: str
    infra: bool
    department: str
    cities: tuple[tuple[str, str, str, str], ...]  # (city, region, country name, ISO2)
    remote: bool
    paragraphs: tuple[int, ...]
    bullets: tuple[int, ...]
    created: datetime


@dataclass(eq=False)
class SimBoard:
    """A synthetic board: which ATS it imitates, its key, size, host and current day."""

    ats: str
    token: str
    company: str
    postings: int
    index: int
    seed: int
    host: int = 0
    etag: bool = True
    churn: float = 0.1
    edits: float = 0.05
    day: int = 1
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    site: str = "External"  # Workday site name

    @property
    def label(self) -> str:
        return self.company

    def slot_state(self, slot: int, day: int) -> tuple[int, int]:
        """(generation, edit count) of a slot on `day`: replacements and title edits so far."""
        gen = edit = 0
        for d in range(2, day + 1):
            r = random.Random(f"{self.seed}/{self.token}/{slot}/{d}")
            if r.random() < self.churn:
                gen, edit = gen + 1, 0
            elif r.random() < self.edits:
                edit += 1
        return gen, edit

    def listing(self, day: int | None = None) -> list[SimPosting]:
        """The postings the board lists on `day` (default: its current day), before content faults."""
        day = self.day if day is None else day
        return [make_posting(self, slot, *self.slot_state(slot, day)) for slot in range(self.postings)]

    def external_id(self, p: SimPosting) -> str:
        """The id infrasignal's source for this ATS derives from the rendered posting."""
        if self.ats == "greenhouse":
            return str(p.number)
        if self.ats == "workday":
            return workday_path(p)
        return p.uid

    def expected(self, day: int | None = None) -> dict[str, str]:
        """external id -> title, as a correct scrape of `day` would store them."""
        return {self.external_id(p): p.title for p in self.listing(day)}


_POSTING_CACHE: dict[tuple[int, str, int, int, int], SimPosting] = {}
_POSTING_LOCK = threading.Lock()


def make_posting(board: SimBoard, slot: int, gen: int, edit: int) -> SimPosting:
    key = (board.seed, board.token, slot, gen, edit)
    cached = _POSTING_CACHE.get(key)
    if cached is not None:
        return cached
    r = random.Random(f"{board.seed}/{board.token}/{slot}/gen{gen}")
    infra = r.random() < INFRA_SHARE
    title = r.choice(INFRA_TITLES if infra else OTHER_TITLES)
    if edit:
        title = ("Senior " + title) if edit % 2 else (title + " II")
    n_cities = 1 if r.random() < 0.85 else r.choice((2, 3))
    cities = tuple(dict.fromkeys(c[:4] for c in r.choices(CITIES, _CITY_WEIGHTS, k=n_cities)))
    posting = SimPosting(
        slot=slot,
        gen=gen,
        edit=edit,
        uid=str(uuid.UUID(int=r.getrandbits(128), version=4)),
        number=4_000_000 + board.index * 100_000 + slot * 50 + gen,
        title=title,
        infra=infra,
        department=r.choice(INFRA_DEPARTMENTS if infra else OTHER_DEPARTMENTS),
        cities=cities,
        remote=r.random() < 0.08,
        paragraphs=tuple(r.sample(range(len(PARAGRAPHS)), 3)),
        bullets=tuple(r.sample(range(len(BULLETS)), 3)),
        created=EPOCH - timedelta(days=r.randint(0, 120), minutes=r.randint(0, 1440)),
    )
    with _POSTING_LOCK:
        if len(_POSTING_CACHE) > 400_000:
            _POSTING_CACHE.clear()
        _POSTING_CACHE[key] = posting
    return posting


def workday_path(p: SimPosting) -> str:
    city = p.cities[0][0].replace(" ", "-")
    slug = "".join(ch if ch.isalnum() else "-" for ch in p.title).strip("-")
    return f"/job/{city}/{slug}_R{p.number}"


def _description_html(p: SimPosting) -> str:
    paras = "".join(f"<p>{html.escape(PARAGRAPHS[i])}</p>" for i in p.paragraphs)
    items = "".join(f"<li>{html.escape(BULLETS[i])}</li>" for i in p.bullets)
    return f"{paras}<h3>What you will do</h3><ul>{items}</ul>"


def _description_plain(p: SimPosting) -> str:
    return "\n\n".join(PARAGRAPHS[i] for i in p.paragraphs)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _loc_text(c: tuple[str, str, str, str], style: str) -> str:
    city, region, country, iso2 = c
    if style == "greenhouse":
        return f"{city}, {region}" if iso2 == "US" else f"{city}, {country}"
    if style == "workday":
        return f"{city}, {country}"
    return f"{city}, {country}" if iso2 != "US" else f"{city}, {region}"


def render_greenhouse(board: SimBoard, p: SimPosting) -> dict[str, Any]:
    names = [_loc_text(c, "greenhouse") for c in p.cities]
    location = "Remote - " + p.cities[0][2] if p.remote else " | ".join(names)
    return {
        "absolute_url": f"https://job-boards.greenhouse.io/{board.token}/jobs/{p.number}",
        "data_compliance": [{"type": "gdpr", "requires_consent": False, "retention_period": None}],
        "internal_job_id": p.number // 10,
        "location": {"name": location},
        "metadata": [{"id": 1, "name": "Location Type", "value": "Remote" if p.remote else "On-Site"}],
        "id": p.number,
        "updated_at": _iso(p.created + timedelta(days=p.edit)),
        "requisition_id": f"R{p.number}",
        "title": p.title,
        "company_name": board.company,
        "first_published": _iso(p.created),
        "language": "en",
        "content": html.escape(_description_html(p)),
        "departments": [
            {"id": 10 + len(p.department), "name": p.department, "child_ids": [], "parent_id": None}
        ],
        "offices": [
            {
                "id": 100 + i,
                "name": c[0],
                "location": f"{c[0]}, {c[1]}, {c[2]}",
                "child_ids": [],
                "parent_id": None,
            }
            for i, c in enumerate(p.cities)
        ],
    }


def render_lever(board: SimBoard, p: SimPosting) -> dict[str, Any]:
    first = p.cities[0]
    return {
        "additionalPlain": "We offer competitive compensation and equity.\n",
        "additional": "<div>We offer competitive compensation and equity.</div>",
        "categories": {
            "commitment": "Full-time",
            "department": p.department,
            "location": first[0],
            "team": p.department,
            "allLocations": [c[0] for c in p.cities],
        },
        "createdAt": int(p.created.timestamp() * 1000),
        "descriptionPlain": _description_plain(p),
        "description": "".join(f"<div>{html.escape(PARAGRAPHS[i])}</div>" for i in p.paragraphs),
        "id": p.uid,
        "lists": [
            {
                "text": "What you will do",
                "content": "".join(f"<li>{html.escape(BULLETS[i])}</li>" for i in p.bullets),
            }
        ],
        "text": p.title,
        "country": first[3],
        "workplaceType": "remote" if p.remote else "on-site",
        "hostedUrl": f"https://jobs.lever.co/{board.token}/{p.uid}",
        "applyUrl": f"https://jobs.lever.co/{board.token}/{p.uid}/apply",
    }


def _ashby_address(c: tuple[str, str, str, str]) -> dict[str, Any]:
    return {"postalAddress": {"addressLocality": c[0], "addressRegion": c[1], "addressCountry": c[2]}}


def render_ashby(board: SimBoard, p: SimPosting) -> dict[str, Any]:
    first = p.cities[0]
    return {
        "id": p.uid,
        "title": p.title,
        "department": p.department,
        "team": p.department,
        "employmentType": "FullTime",
        "location": _loc_text(first, "ashby"),
        "secondaryLocations": [
            {"location": _loc_text(c, "ashby"), "address": _ashby_address(c)} for c in p.cities[1:]
        ],
        "publishedAt": _iso(p.created),
        "isListed": True,
        "isRemote": p.remote,
        "workplaceType": "Remote" if p.remote else "OnSite",
        "address": _ashby_address(first),
        "jobUrl": f"https://jobs.ashbyhq.com/{quote(board.token)}/{p.uid}",
        "applyUrl": f"https://jobs.ashbyhq.com/{quote(board.token)}/{p.uid}/application",
        "descriptionHtml": _description_html(p),
        "descriptionPlain": _description_plain(p),
        "shouldDisplayCompensationOnJobPostings": False,
    }


def render_workday_item(board: SimBoard, p: SimPosting) -> dict[str, Any]:
    where = _loc_text(p.cities[0], "workday") if len(p.cities) == 1 else f"{len(p.cities)} Locations"
    return {
        "title": p.title,
        "externalPath": workday_path(p),
        "locationsText": where,
        "postedOn": f"Posted {min(30, (EPOCH - p.created).days)}+ Days Ago",
        "bulletFields": [f"R{p.number}"],
    }


def render_workday_detail(board: SimBoard, p: SimPosting) -> dict[str, Any]:
    first = p.cities[0]
    return {
        "jobPostingInfo": {
            "id": p.uid.replace("-", ""),
            "title": p.title,
            "jobDescription": _description_html(p),
            "location": _loc_text(first, "workday"),
            "additionalLocations": [_loc_text(c, "workday") for c in p.cities[1:]],
            "postedOn": "Posted 30+ Days Ago",
            "startDate": p.created.strftime("%Y-%m-%d"),
            "timeType": "Full time",
            "jobReqId": f"R{p.number}",
            "jobPostingSiteId": board.site,
            "remoteType": "Remote" if p.remote else "On-site",
            "country": {"descriptor": first[2], "id": f"c-{first[3]}"},
            "jobRequisitionLocation": {"descriptor": first[0], "country": {"alpha2Code": first[3]}},
            "canApply": True,
        },
        "hiringOrganization": {"name": board.company},
    }


# --- the HTTP side --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as the server saw it."""

    time: float  # time.monotonic() when it was read
    host: str  # host:port of the listener
    method: str
    path: str
    query: dict[str, str]
    board: str | None  # token of the board it addressed
    page: int | None  # list page index (None for details and unknown paths)
    status: int  # status sent (0: no answer: reset / hang / client gone)
    fault: str | None
    user_agent: str
    if_none_match: str | None


@dataclass(slots=True)
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "send"  # send | reset | hang | short
    seconds: float = 0.0


class QuietHTTPServer(ThreadingHTTPServer):
    """A loopback test server: daemon threads, a deep listen backlog, and quiet about clients that hang up
    (the default prints their traceback to sys.stderr, which a CLI test capturing stderr would read)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # a listen backlog for hundreds of concurrent connects (the default is 5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish (killed, timed out, reset) are part of the job; anything else is printed."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Simulator:
    """The board simulator; see the module docstring. Use as a context manager (or start/stop)."""

    def __init__(self, seed: int = 7, hosts: int = 1) -> None:
        self.seed = seed
        self.n_hosts = hosts
        self.boards: list[SimBoard] = []
        self._by_key: dict[tuple[str, str], SimBoard] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers: list[QuietHTTPServer] = []
        self._cache: dict[tuple[Any, ...], tuple[bytes, str]] = {}
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_by_host: dict[str, int] = {}
        self.max_in_flight_by_host: dict[str, int] = {}
        self.record_hits = True

    # boards --------------------------------------------------------------------------------------------

    def add_board(self, ats: str, postings: int = 50, *, token: str | None = None, **kw: Any) -> SimBoard:
        if ats not in ATS_KINDS:
            raise ValueError(f"unknown ATS {ats!r}")
        index = len(self.boards)
        token = token or f"{ats[:2]}{index:04d}"
        board = SimBoard(
            ats=ats,
            token=token,
            company=kw.pop("company", f"Co {ats[:2].upper()}{index:04d}"),
            postings=postings,
            index=index,
            seed=self.seed,
            host=kw.pop("host", index % self.n_hosts),
            **kw,
        )
        key = (ats, token)
        if key in self._by_key:
            raise ValueError(f"duplicate board {key}")
        self.boards.append(board)
        self._by_key[key] = board
        return board

    def add_boards(self, ats: str, count: int, postings: int = 50, **kw: Any) -> list[SimBoard]:
        return [self.add_board(ats, postings, **kw) for _ in range(count)]

    def set_day(self, day: int, boards: Iterable[SimBoard] | None = None) -> None:
        with self._lock:
            for b in self.boards if boards is None else boards:
                b.day = day

    def fault(self, board: SimBoard, *faults: Fault) -> None:
        """Queue faults on a board (they apply in order; a used-up fault is dropped)."""
        with self._lock:
            board.faults.extend(faults)

    def clear_faults(self, board: SimBoard | None = None) -> None:
        with self._lock:
            for b in self.boards if board is None else [board]:
                b.faults.clear()

    def served_ids(self, board: SimBoard) -> dict[str, str]:
        """external id -> title the board lists right now (content faults applied)."""
        content = _content_faults(board)
        return {board.external_id(p): p.title for p in _apply_content(board.listing(), content)}

    # config --------------------------------------------------------------------------------------------

    def base_url(self, host: int = 0) -> str:
        address = self._servers[host].server_address
        return f"http://{address[0]!s}:{address[1]}"

    @property
    def urls(self) -> list[str]:
        return [self.base_url(i) for i in range(len(self._servers))]

    def host_key(self, host: int = 0) -> str:
        return self.base_url(host).removeprefix("http://")

    def board_config(self, board: SimBoard) -> dict[str, Any]:
        """The `[[boards]]` entry that points infrasignal at this simulated board."""
        entry: dict[str, Any] = {
            "company": board.company,
            "ats": board.ats,
            "base_url": self.base_url(board.host),
        }
        if board.ats == "workday":
            entry["url"] = f"https://{board.token}.wd5.myworkdayjobs.com/{board.site}"
        else:
            entry["token"] = board.token
        return entry

    def config_text(
        self,
        database: str | Path,
        fetch: dict[str, Any] | None = None,
        boards: Iterable[SimBoard] | None = None,
        board_params: dict[str, dict[str, Any]] | None = None,
    ) -> str:
        """A config.toml for these boards. `board_params` maps an ATS name to `params` for its boards."""
        lines = ["[storage]", f"database = {json.dumps(str(database))}", "", "[fetch]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in (fetch or {}).items()]
        for b in self.boards if boards is None else boards:
            lines += ["", "[[boards]]"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in self.board_config(b).items()]
            params = (board_params or {}).get(b.ats)
            if params:
                lines.append(
                    "params = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in params.items()) + " }"
                )
        return "\n".join(lines) + "\n"

    def write_config(self, folder: Path, database: str | Path = "sim.db", **kw: Any) -> Path:
        path = folder / "config.toml"
        path.write_text(self.config_text(database, **kw), encoding="utf-8")
        return path

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        for i in range(self.n_hosts):
            handler = type("SimHandler", (_Handler,), {"sim": self, "host_index": i})
            httpd = QuietHTTPServer(("127.0.0.1", 0), handler)
            self._servers.append(httpd)
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # statistics ----------------------------------------------------------------------------------------

    def reset_stats(self) -> None:
        with self._lock:
            self.hits.clear()
            self.max_in_flight = self.in_flight
            self.max_in_flight_by_host = dict(self.in_flight_by_host)

    def hits_for(self, board: SimBoard | None = None, *, page: int | None = None) -> list[Hit]:
        with self._lock:
            return [
                h
                for h in self.hits
                if (board is None or h.board == board.token) and (page is None or h.page == page)
            ]

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.hits)

    def requests_by_host(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for h in self.hits:
                out[h.host] = out.get(h.host, 0) + 1
        return out

    # request handling (called from server threads) --------------------------------------------------

    def _begin(self, host: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            now = self.in_flight_by_host.get(host, 0) + 1
            self.in_flight_by_host[host] = now
            self.max_in_flight_by_host[host] = max(self.max_in_flight_by_host.get(host, 0), now)

    def _end(self, host: str) -> None:
        with self._lock:
            self.in_flight -= 1
            self.in_flight_by_host[host] -= 1

    def _record(self, hit: Hit) -> None:
        if self.record_hits:
            with self._lock:
                self.hits.append(hit)

    def _route(self, method: str, path: str) -> tuple[SimBoard | None, str]:
        """(board, what) for a request path; what is list | detail | unknown."""
        parts = [unquote(p) for p in path.split("/") if p]
        if method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "boards"] and parts[3] == "jobs":
            return self._by_key.get(("greenhouse", parts[2])), "list"
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v0", "postings"]:
            return self._by_key.get(("lever", parts[2])), "list"
        if method == "GET" and len(parts) == 3 and parts[:2] == ["posting-api", "job-board"]:
            return self._by_key.get(("ashby", parts[2])), "list"
        if len(parts) >= 5 and parts[:2] == ["wday", "cxs"]:
            board = self._by_key.get(("workday", parts[2]))
            if board is None or parts[3] != board.site:
                return None, "unknown"
            if method == "POST" and len(parts) == 5 and parts[4] == "jobs":
                return board, "list"
            if method == "GET" and parts[4] == "job":
                return board, "detail"
        return None, "unknown"

    def _take_fault(self, board: SimBoard, page: int | None, detail: bool) -> Fault | None:
        """The first transport fault that applies to this request (consuming one use of it)."""
        with self._lock:
            for fault in board.faults:
                if fault.kind in CONTENT_FAULTS or fault.detail != detail:
                    continue
                if not detail and fault.page is not None and fault.page != page:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        board.faults.remove(fault)
                return fault
        return None

    def answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[_Answer, SimBoard | None, int | None, str | None]:
        """What to send for one request: (answer, board, page index, fault kind)."""
        board, what = self._route(method, path)
        if board is None:
            return (
                _Answer(404, b'{"error": "not found"}', {"Content-Type": "application/json"}),
                None,
                None,
                None,
            )
        page: int | None = None
        window: tuple[int, int | None] = (0, None)
        if what == "list":
            try:
                page, window = self._window(board, query, body)
            except ValueError as exc:
                return _json_answer(400, {"error": str(exc)}), board, None, None
        fault = self._take_fault(board, page, what == "detail")
        kind = fault.kind if fault else None
        if fault is not None:
            early = _fault_answer(fault)
            if early is not None:
                return early, board, page, kind
        if what == "detail":
            return self._detail(board, path), board, None, kind
        assert page is not None
        content = _content_faults(board)
        if fault is not None and fault.kind == "empty_page":
            content = (*content, "empty_page")
        data, etag = self._page_body(board, page, window, content)
        delay = fault.seconds if fault is not None and fault.kind == "latency" else 0.0
        answer = _Answer(200, data, {"Content-Type": "application/json; charset=utf-8"}, seconds=delay)
        if board.etag and board.ats != "workday":
            answer.headers["ETag"] = etag
            sent = {t.strip() for t in headers.get("if-none-match", "").split(",") if t.strip()}
            if etag in sent:
                return _Answer(304, b"", {"ETag": etag}, seconds=delay), board, page, kind
        if fault is not None and fault.kind == "truncated_json":
            answer.body = data[: len(data) // 2]
        elif fault is not None and fault.kind == "short_body":
            answer.action = "short"
        return answer, board, page, kind

    def _window(
        self, board: SimBoard, query: dict[str, str], body: bytes
    ) -> tuple[int, tuple[int, int | None]]:
        """(page index, (offset, limit)) of a list request."""
        if board.ats == "lever":
            skip = int(query.get("skip", "0") or 0)
            limit = int(query["limit"]) if query.get("limit") else None
            return (skip // limit if limit else 0), (skip, limit)
        if board.ats == "workday":
            data = json.loads(body or b"{}")
            limit = int(data.get("limit", WORKDAY_PAGE_LIMIT))
            offset = int(data.get("offset", 0))
            if not 1 <= limit <= WORKDAY_PAGE_LIMIT:
                raise ValueError(f"limit must be between 1 and {WORKDAY_PAGE_LIMIT}")
            return offset // limit, (offset, limit)
        return 0, (0, None)

    def _page_body(
        self, board: SimBoard, page: int, window: tuple[int, int | None], content: tuple[str, ...]
    ) -> tuple[bytes, str]:
        key = (board.ats, board.token, board.day, content, window)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        postings = _apply_content(board.listing(), content)
        offset, limit = window
        total = len(postings)
        chunk = postings[offset : None if limit is None else offset + limit]
        if "empty_page" in content:
            chunk = []
        doc: Any
        if board.ats == "greenhouse":
            doc = {"jobs": [render_greenhouse(board, p) for p in chunk], "meta": {"total": total}}
        elif board.ats == "lever":
            doc = [render_lever(board, p) for p in chunk]
        elif board.ats == "ashby":
            doc = {"apiVersion": "1", "jobs": [render_ashby(board, p) for p in chunk]}
        else:
            doc = {
                "total": total if offset == 0 else 0,
                "jobPostings": [render_workday_item(board, p) for p in chunk],
                "facets": [],
                "userAuthenticated": False,
            }
        data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
        with self._lock:
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = (data, etag)
        return data, etag

    def _detail(self, board: SimBoard, path: str) -> _Answer:
        prefix = f"/wday/cxs/{board.token}/{board.site}"
        wanted = unquote(path)[len(prefix) :]
        for p in board.listing():
            if workday_path(p) == wanted:
                return _json_answer(200, render_workday_detail(board, p))
        return _json_answer(404, {"error": "job not found"})


def _json_answer(status: int, doc: Any) -> _Answer:
    return _Answer(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})


def _content_faults(board: SimBoard) -> tuple[str, ...]:
    return tuple(sorted({f.kind for f in board.faults if f.kind in CONTENT_FAULTS}))


def _apply_content(postings: list[SimPosting], content: tuple[str, ...]) -> list[SimPosting]:
    if "empty" in content:
        return []
    if "halve" in content:
        return postings[: (len(postings) - 1) // 2]
    return postings


def _fault_answer(fault: Fault) -> _Answer | None:
    """The answer a fault gives instead of the board's content, or None when the content is still sent."""
    if fault.kind == "status":
        return _Answer(
            fault.status_code, b'{"error": "injected"}', {"Content-Type": "application/json", **fault.headers}
        )
    if fault.kind == "reset":
        return _Answer(0, action="reset")
    if fault.kind == "hang":
        return _Answer(0, action="hang", seconds=fault.seconds)
    if fault.kind == "invalid_json":
        page = b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>Try later</body></html>"
        return _Answer(200, page, {"Content-Type": "text/html; charset=utf-8"})
    if fault.kind == "missing_page":
        return _json_answer(404, {"error": "page not found"})
    if fault.kind == "body":
        return _Answer(200, fault.data, dict(fault.headers))
    return None


_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator
    host_index: int
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_GET

    def _handle(self) -> None:
        sim = self.sim
        read_at = time.monotonic()
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = sim.host_key(self.host_index)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        sim._begin(host)
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                sim._end(host)

        status = 0
        kind: str | None = None
        board: SimBoard | None = None
        page: int | None = None
        try:
            answer, board, page, kind = sim.answer(self.command, parts.path, query, headers, body)
            wait = answer.seconds + (board.latency if board is not None else 0.0)
            if wait > 0 and self._client_gone_within(wait):
                self.close_connection = True
                return
            end()  # before the last byte goes out: the server never counts more than the client holds
            if answer.action in ("reset", "hang"):
                self._reset()
                return
            status = answer.status
            data = self._compose(answer)
            if answer.action == "short":
                self.wfile.write(data[: len(data) - len(answer.body) // 2])
                self._reset()
                return
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
        finally:
            end()
            sim._record(
                Hit(
                    read_at,
                    host,
                    self.command,
                    parts.path,
                    query,
                    board.token if board else None,
                    page,
                    status,
                    kind,
                    headers.get("user-agent", ""),
                    headers.get("if-none-match"),
                )
            )

    def _compose(self, answer: _Answer) -> bytes:
        reason = _REASONS.get(answer.status) or self.responses.get(answer.status, ("",))[0]
        lines = [f"HTTP/1.1 {answer.status} {reason}"]
        hdrs = dict(answer.headers)
        hdrs.setdefault("Content-Length", str(len(answer.body)))
        hdrs.setdefault("Server", "infrasignal-simulator")
        if answer.status == 304:
            hdrs["Content-Length"] = "0"
        for k, v in hdrs.items():
            lines.append(f"{k}: {v}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if answer.status == 304 else head + answer.body

    def _client_gone_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as the client closes the connection (or the server stops)."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        waiter = select.poll()  # not select.select: it fails on descriptors numbered 1,024 and above
        waiter.register(sock, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.sim._stopping.is_set():
                return True
            try:
                readable = waiter.poll(min(left, 0.05) * 1000)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    return True
            except (OSError, ValueError):
                return True

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


# --- standalone ---------------------------------------------------------------------------------------------


def bench_simulator(
    boards: int, postings: int, seed: int, hosts: int, kinds: Iterable[str], etag: bool
) -> Simulator:
    """The benchmark's board set: `boards` boards spread evenly over `kinds`."""
    sim = Simulator(seed=seed, hosts=hosts)
    kinds = list(kinds)
    for i in range(boards):
        sim.add_board(kinds[i % len(kinds)], postings, etag=etag)
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve synthetic careers boards on loopback.")
    parser.add_argument("--boards", type=int, default=100)
    parser.add_argument("--postings", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--kinds", default="greenhouse,lever,ashby")
    parser.add_argument("--no-etag", action="store_true")
    parser.add_argument("--warm", action="store_true", help="render every board body before listening")
    args = parser.parse_args(argv)
    sim = bench_simulator(
        args.boards, args.postings, args.seed, args.hosts, args.kinds.split(","), not args.no_etag
    )
    sim.record_hits = False
    sim.start()
    if args.warm:
        for b in sim.boards:
            limit = 100 if b.ats == "lever" else WORKDAY_PAGE_LIMIT if b.ats == "workday" else None
            for offset in range(0, b.postings + 1, limit or b.postings + 1):
                sim._page_body(b, 0, (offset, limit), ())
    print(json.dumps({"urls": sim.urls}), flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
