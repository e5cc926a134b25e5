"""Plain data shared by the pure core: postings as parsed from a board, HTTP requests a source asks for,
and the pages it parses. Nothing here does I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Place:
    """Where a role is based, as the ATS states it in structured form (or as the classifier resolves it)."""

    city: str | None = None
    region: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2 when known
    remote: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickled by calling the class: the default for frozen slots dataclasses looks the fields up again
        # for every object, and parsed boards go to the store's writer process pickled.
        return (Place, (self.city, self.region, self.country, self.remote))


@dataclass(slots=True)
class Posting:
    """One job posting as a board lists it, normalised across ATS. Identity is (board, external_id)."""

    external_id: str
    title: str
    url: str
    locations: list[str] = field(default_factory=list)  # raw location strings, in board order, deduplicated
    department: str = ""
    team: str = ""
    description: str = ""  # plain text
    posted_at: datetime | None = None
    updated_at: datetime | None = None
    remote: bool | None = None
    places: list[Place] = field(default_factory=list)  # structured places when the ATS gives them
    requisition_id: str | None = None  # shared by the copies of one role posted in several cities
    closed: bool = False  # the source itself says the posting has ended (e.g. JSON-LD validThrough)
    needs_detail: bool = False  # list entry lacks data only the detail endpoint has (e.g. "3 Locations")
    detail_ref: str | None = None  # what the source needs to build the detail request

    @property
    def location(self) -> str:
        """All raw locations as one display string."""
        return " | ".join(self.locations)

    def sanitize(self) -> None:
        """Make board text safe to store and print: lone surrogates (invalid UTF-8 escaped into JSON) are
        replaced, and control characters (terminal escapes) removed; descriptions keep their line breaks."""
        self.title = clean_text(self.title)
        self.department = clean_text(self.department)
        self.team = clean_text(self.team)
        self.url = clean_text(self.url)
        self.locations = [clean_text(loc) for loc in self.locations]
        self.description = clean_text(self.description, keep_newlines=True)

    def content_hash(self) -> str:
        """Hash of the fields whose change makes a new version (title, locations, department, description)."""
        # Each part followed by \x1f, hashed as one string (the same bytes as hashing them one by one).
        text = "\x1f".join((self.title, self.location, self.department, self.description)) + "\x1f"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_LINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str, keep_newlines: bool = False) -> str:
    """`value` without lone surrogates, control and bidi-override characters (newlines kept on request)."""
    if not value:
        return value
    # Printable text has no control, format (bidi, zero-width) or surrogate characters, so nothing to
    # remove: skip the regular expression (most board text).
    if keep_newlines:
        if value.replace("\n", " ").isprintable():
            return value
    elif value.isprintable():
        return " ".join(value.split())
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    if keep_newlines:
        return _CONTROL_LINES.sub("", value)
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request a source wants made. `conditional` asks the engine to send the board's stored
    validators (ETag / Last-Modified); only whole-board single requests use it."""

    url: str
    method: str = "GET"
    params: dict[str, str | int] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    conditional: bool = False
    robots: bool = False  # an HTML page: robots.txt must allow it


@dataclass(slots=True)
class Page:
    """What a source parsed out of one response: postings, the next page to fetch (if any), and the total
    the API claims, so the driver can tell a complete board from a partial one."""

    postings: list[Posting]
    next: Request | None = None
    total: int | None = None
    truncated: bool = False  # the API cannot list the whole board (e.g. Workday's 2000 cap)


class ParseError(ValueError):
    """The body is not what this source expects; the board's fetch fails and closes nothing."""
