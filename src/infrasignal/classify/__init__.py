"""The classifier: where a role is based (places), which data-center markets it is in or covers, whether it
is physical-infrastructure work and in which disciplines, each tag with its evidence. Pure: no I/O besides
loading the shipped data files (and the on-disk cache of the gazetteer index).

    clf = load_classifier()
    c = clf.classify("Data Center Electrical Engineer", "Compute", ["Tokyo, Japan"], description)
    c.infra, c.disciplines, c.places, c.markets, c.covered_markets, c.evidence

Parts: `places.py` (raw location strings -> places, on a GeoNames gazetteer), `markets.py` (places and
description phrases -> markets), `disciplines.py` (weighted title/department/description rules).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from infrasignal.model import Place

DISCIPLINES = (
    "electrical",
    "mechanical",
    "energy",
    "contracts",
    "construction",
    "operations",
    "sourcing",
    "site",
    "capacity",
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a tag was given: the rule, the field it matched in, and the words that matched."""

    tag: str  # "infra", a discipline, or "market:<name>" / "covered:<name>"
    rule: str
    field: str  # title | department | description | location
    text: str
    weight: float = 0.0


@dataclass(frozen=True, slots=True)
class Market:
    name: str
    country: str  # ISO2
    macro_region: str  # AMER | EMEA | APAC
    sub_region: str


@dataclass(slots=True)
class Classification:
    infra: bool = False
    disciplines: list[str] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    markets: list[str] = field(default_factory=list)
    covered_markets: list[str] = field(default_factory=list)
    unresolved_locations: bool = False
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "infra": self.infra,
            "disciplines": list(self.disciplines),
            "locations": [asdict(p) for p in self.places],
            "markets": list(self.markets),
            "covered_markets": list(self.covered_markets),
            "unresolved_locations": self.unresolved_locations,
            "evidence": [asdict(e) for e in self.evidence],
        }


class Classifier:
    """Places + markets + disciplines, built once from the shipped data (and the user's extra files)."""

    def __init__(self, places: Any, markets: Any, rules: Any) -> None:
        self._places = places  # places.PlaceResolver
        self._markets = markets  # markets.MarketTable
        self._rules = rules  # disciplines.RuleSet
        # Boards list the same few locations over and over: where a posting is (places, whether some
        # location is unresolved, markets it is in, their evidence) is worked out once per distinct
        # (locations, structured places). Bounded; the cached values are immutable.
        self._where = lru_cache(maxsize=65_536)(self._where_uncached)

    def classify(
        self,
        title: str,
        department: str = "",
        locations: list[str] | tuple[str, ...] = (),
        description: str = "",
        places: list[Place] | tuple[Place, ...] = (),
    ) -> Classification:
        resolved, unresolved, based, based_evidence = self._where(tuple(locations), tuple(places))
        covered = [m for m in self._markets.covered_in(description) if m not in based]
        infra, disciplines, evidence = self._rules.match(title, department, description)
        evidence += based_evidence
        evidence += [Evidence(f"covered:{m}", "covered markets", "description", m) for m in covered]
        return Classification(
            infra=infra,
            disciplines=disciplines,
            places=list(resolved),
            markets=list(based),
            covered_markets=covered,
            unresolved_locations=unresolved,
            evidence=evidence,
        )

    def _where_uncached(
        self, locations: tuple[str, ...], places: tuple[Place, ...]
    ) -> tuple[tuple[Place, ...], bool, tuple[str, ...], tuple[Evidence, ...]]:
        """(places, unresolved, markets the posting is in, their evidence) of a posting's locations."""
        resolved, unresolved = self._places.resolve_all(list(locations), list(places))
        based = self._markets.markets_for(resolved)
        # An area named as a location ("Northern Virginia", "Bay Area") is a market but no place.
        based += [m for m in self._markets.markets_named(locations) if m not in based]
        evidence = tuple(Evidence(f"market:{m}", "market table", "location", m) for m in based)
        return tuple(resolved), unresolved, tuple(based), evidence

    def places(self, raw_location: str) -> list[Place]:
        return self._places.resolve_all([raw_location], [])[0]

    def resolve_country(self, text: str) -> str | None:
        return self._places.resolve_country(text)

    def market(self, name_or_alias: str) -> Market | None:
        return self._markets.market(name_or_alias)

    def markets(self) -> list[Market]:
        return self._markets.markets()


@lru_cache(maxsize=8)
def load_classifier(rules_file: Path | None = None, markets_file: Path | None = None) -> Classifier:
    """The classifier with the shipped data, extended or overridden by the user's files (cached)."""
    from infrasignal.classify.disciplines import load_rules
    from infrasignal.classify.markets import load_market_table
    from infrasignal.classify.places import load_place_resolver

    return Classifier(load_place_resolver(), load_market_table(markets_file), load_rules(rules_file))


__all__ = [
    "DISCIPLINES",
    "Classification",
    "Classifier",
    "Evidence",
    "Market",
    "load_classifier",
]
