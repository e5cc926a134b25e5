"""A tiny stand-in for the real classifier, so history and signal tests do not depend on its exact rules.

It knows a handful of cities (with their data-center market) and a few title words per discipline:

    from support.fakeclassify import use_fake_classifier
    use_fake_classifier(monkeypatch)      # scrape() now tags postings with it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from infrasignal.model import Place
from infrasignal.model import Posting as ParsedPosting

# city -> (region, ISO2 country, market or None)
CITIES: dict[str, tuple[str | None, str, str | None]] = {
    "Tokyo": (None, "JP", "Tokyo"),
    "Osaka": (None, "JP", "Osaka"),
    "Sydney": ("NSW", "AU", "Sydney"),
    "Singapore": (None, "SG", "Singapore"),
    "Frankfurt": ("Hesse", "DE", "Frankfurt"),
    "Amsterdam": (None, "NL", "Amsterdam"),
    "London": ("England", "GB", "London"),
    "Dublin": (None, "IE", "Dublin"),
    "Ashburn": ("VA", "US", "Northern Virginia"),
    "Sterling": ("VA", "US", "Northern Virginia"),
    "Quincy": ("WA", "US", "Quincy"),
    "Abilene": ("TX", "US", "Abilene"),
    "Narvik": (None, "NO", None),
    "San Francisco": ("CA", "US", None),
    "Seattle": ("WA", "US", None),
}

DISCIPLINES = {
    "electrical": ("electrical",),
    "mechanical": ("mechanical", "cooling"),
    "energy": ("energy", "power"),
    "construction": ("construction",),
    "operations": ("operations", "technician", "facilities"),
    "site": ("site",),
    "capacity": ("capacity",),
    "contracts": ("contracts",),
    "sourcing": ("sourcing", "procurement"),
}
INFRA_WORDS = ("data center", "datacenter", "critical facilities", "energy", "power", "site", "capacity")


@dataclass
class FakeClassification:
    places: list[Place] = field(default_factory=list)
    disciplines: list[str] = field(default_factory=list)
    markets: list[str] = field(default_factory=list)
    covered_markets: list[str] = field(default_factory=list)
    infra: bool = False
    unresolved_locations: bool = False
    evidence: list[Any] = field(default_factory=list)


def classify(p: ParsedPosting) -> FakeClassification:
    title = p.title.lower()
    places: list[Place] = []
    markets: list[str] = []
    for raw in p.locations:
        for part in raw.split("|"):
            city = part.split(",")[0].strip()
            if city in CITIES:
                region, country, market = CITIES[city]
                place = Place(city, region, country)
                if place not in places:
                    places.append(place)
                if market and market not in markets:
                    markets.append(market)
    infra = any(w in title for w in INFRA_WORDS) and "software" not in title
    disciplines = [d for d, words in DISCIPLINES.items() if infra and any(w in title for w in words)]
    return FakeClassification(places=places, disciplines=disciplines, markets=markets, infra=infra)


def use_fake_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `infrasignal.scrape` classify with `classify` above instead of the real classifier."""
    import infrasignal.scrape

    monkeypatch.setattr(infrasignal.scrape, "make_classifier", lambda config: classify)
