"""Data-center markets: which market a resolved place is in, and which markets a job description says the
role covers.

The table is `data/markets.toml` (its header documents the format), extended or overridden by the user's
file of the same format (`load_market_table(extra_file)`).

- `markets_for(places)`: a place is in a market when its country and (folded) city are a member of it and
  its region, when both are known, matches ("Quincy, WA" is in Quincy; Quincy, MA is not); city-states
  (`whole_country`) take every place in the country; `regions` take every place in a region. Remote places
  are in no market.
- `covered_in(description)`: markets a description names as areas the role covers ("manage our hubs in
  Frankfurt, Amsterdam, Paris and Dublin", "covering the FLAP-D markets", "sites across Tokyo and Osaka").
  A sentence counts only when it also has a covering cue (hubs, sites, campuses, data centers, markets,
  regions, facilities, portfolio, cover/span/oversee...); a mention tied to where the person works ("based
  in Tokyo", "our London office", "headquartered in San Francisco") never counts, and neither do member
  towns whose names are ordinary words (`ambiguous_words`). Names match as written (case-sensitive), with
  or without accents.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from infrasignal.classify import Market
from infrasignal.classify.gazetteer import fold
from infrasignal.model import Place

MARKETS_FILE = Path(__file__).parent / "data" / "markets.toml"
MACRO_REGIONS = ("AMER", "EMEA", "APAC")

# A sentence counts when it names sites (strong cue), or names markets or regions (weak cue) in a
# description about physical infrastructure, or names a group of markets ("FLAP-D").
_STRONG_CUE = re.compile(
    r"\b(?:hubs?|sites?|campus(?:es)?|data[\s-]?cent(?:er|re)s?|DCs|facilit(?:y|ies)|colocation|colo|"
    r"availability\s+zones?|footprint|build[\s-]?outs?|deployments?|clusters?|capacity|construction|"
    r"substations?|power|energy|interconnection)\b",
    re.IGNORECASE,
)
_WEAK_CUE = re.compile(
    r"\b(?:markets?|metros?|regions?|portfolio|cover(?:s|ing|age)?|span(?:s|ning)?|oversee(?:s|ing)?|"
    r"responsib\w+\s+for|territor(?:y|ies)|locations)\b",
    re.IGNORECASE,
)
_INFRA_CONTEXT = re.compile(
    r"\b(?:data[\s-]?cent(?:er|re)s?|colocation|critical\s+(?:facilities|infrastructure|environments?)|"
    r"mission[\s-]critical|MEP|substations?|switchgear|UPS|megawatts?|MW|gigawatts?|GW|hyperscale\w*)\b"
)
# What comes right before a list of places and says that is where the person sits, not what they cover.
_BASED_BEFORE = re.compile(
    r"\b(?:based|located|headquartered|relocat\w*|commut\w*|live|living|reside|residing|offices?|HQ|"
    r"work(?:ing)?\s+(?:from|in|out\s+of)|join\s+(?:us|our\s+team))\b(?:\s+[^\s.,;:!?]+){0,5}\s*$",
    re.IGNORECASE,
)
_BASED_AFTER = re.compile(
    r"^(?:-based|\s+(?:offices?|HQ|headquarters|based|-based|team|teammates|Times|time)\b)", re.IGNORECASE
)
# One item of a list of places, with its separator, at the end of a text ("London, ", "Paris and ").
_LIST_ITEM_BEFORE = re.compile(
    r"[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|am|de|del|la|le|di|upon|on))*\s*(?:\([^()]*\)\s*)?"
    r"(?:,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+|\s*/\s*)$"
)
# The same, at the start of a text (", Paris", " and Dublin").
_LIST_ITEM_AFTER = re.compile(
    r"(?:\s*\([^()]*\))?(?:,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+|\s*/\s*)[A-Z][\w'’.-]*"
    r"(?:\s+(?:[A-Z][\w'’.-]*|am|de|del|la|le|di|upon|on))*"
)
_PART_SEPARATORS = re.compile(r"\s*(?:\||;|\s/\s|\n)\s*")
_PARENTHESES = re.compile(r"\([^()]*\)")
_REMOTE = re.compile(r"\b(?:remote|virtual|work from home|anywhere)\b", re.IGNORECASE)
_WORD_CHAR = re.compile(r"[\w-]").match
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+|\s+[•·▪]\s+")


@dataclass(slots=True)
class _MarketEntry:
    market: Market
    aliases: list[str] = field(default_factory=list)
    cities: list[tuple[str, str | None, str]] = field(default_factory=list)  # (city, region, country)
    regions: list[str] = field(default_factory=list)
    whole_country: bool = False


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _parse_member(text: str, country: str, region: str | None) -> tuple[str, str | None, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) >= 3:
        return parts[0], parts[1] or None, parts[2].upper()
    if len(parts) == 2:
        return parts[0], parts[1] or None, country
    return parts[0], region, country


def _entries(data: dict[str, Any], source: str) -> list[tuple[str, _MarketEntry | None]]:
    out: list[tuple[str, _MarketEntry | None]] = []
    for raw in data.get("market", []):
        name = str(raw.get("name", "")).strip()
        if not name:
            raise ValueError(f"{source}: a [[market]] has no name")
        if raw.get("disabled"):
            out.append((name, None))
            continue
        missing = [k for k in ("country", "macro_region", "sub_region") if not raw.get(k)]
        if missing:
            raise ValueError(f"{source}: market {name!r} lacks {', '.join(missing)}")
        macro = str(raw["macro_region"]).upper()
        if macro not in MACRO_REGIONS:
            raise ValueError(
                f"{source}: market {name!r}: macro_region must be one of {', '.join(MACRO_REGIONS)}"
            )
        country = str(raw["country"]).upper()
        region = raw.get("region")
        entry = _MarketEntry(
            market=Market(name=name, country=country, macro_region=macro, sub_region=str(raw["sub_region"])),
            aliases=[str(a) for a in raw.get("aliases", [])],
            cities=[_parse_member(str(c), country, region) for c in raw.get("cities", [])],
            regions=[str(r) for r in raw.get("regions", [])],
            whole_country=bool(raw.get("whole_country", False)),
        )
        out.append((name, entry))
    return out


class MarketTable:
    """The market table; lookups by name or alias, places -> markets, description -> covered markets."""

    def __init__(
        self,
        entries: Iterable[_MarketEntry],
        groups: dict[str, list[str]] | None = None,
        ambiguous_words: Iterable[str] = (),
    ) -> None:
        self._entries = list(entries)
        self._by_key: dict[str, _MarketEntry] = {}
        self._member: dict[tuple[str, str], list[tuple[str | None, str]]] = {}
        self._whole_country: dict[str, str] = {}
        self._region: dict[tuple[str, str], str] = {}
        self._city_key: dict[str, _MarketEntry] = {}
        # later entries (the user's file) win: index them first, keep the first claim of every key
        for entry in reversed(self._entries):
            self._by_key.setdefault(fold(entry.market.name), entry)
        for entry in reversed(self._entries):
            name = entry.market.name
            for alias in entry.aliases:
                self._by_key.setdefault(fold(alias), entry)
            for city, region, country in entry.cities:
                self._member.setdefault((country, fold(city)), []).append((region, name))
                self._city_key.setdefault(fold(city), entry)
            for region in entry.regions:
                self._region.setdefault((entry.market.country, region.upper()), name)
            if entry.whole_country:
                self._whole_country.setdefault(entry.market.country, name)
        self._groups = {
            g: [m for m in members if fold(m) in self._by_key] for g, members in (groups or {}).items()
        }
        self._mentions = self._build_mentions(set(ambiguous_words))
        self._places_memo: dict[tuple[Place, ...], list[str]] = {}
        self._covered_memo = lru_cache(maxsize=4096)(self._covered_uncached)

    # ------------------------------------------------------------------ lookups

    def market(self, name_or_alias: str) -> Market | None:
        """A market by name or alias ("NoVA", "Frankfurt am Main"), case- and accent-insensitive; else by a
        member city ("Ashburn", "Santa Clara")."""
        key = fold(name_or_alias)
        entry = self._by_key.get(key) or self._city_key.get(key)
        return entry.market if entry else None

    def markets(self) -> list[Market]:
        return [e.market for e in self._entries]

    # ------------------------------------------------------------------ places

    def markets_for(self, places: Iterable[Place]) -> list[str]:
        """Names of the markets the places are in, in order, without repeats."""
        key = tuple(places)
        cached = self._places_memo.get(key)
        if cached is None:
            cached = self._markets_for(key)
            if len(self._places_memo) < 100_000:
                self._places_memo[key] = cached
        return list(cached)

    def _markets_for(self, places: tuple[Place, ...]) -> list[str]:
        found: list[str] = []
        for place in places:
            name = self.market_of(place)
            if name is not None and name not in found:
                found.append(name)
        return found

    def market_of(self, place: Place) -> str | None:
        if place.remote or not place.country:
            return None
        if place.city:
            for region, name in self._member.get((place.country, fold(place.city)), ()):
                if region is None or place.region is None or region.upper() == place.region.upper():
                    return name
        if place.region:
            by_region = self._region.get((place.country, place.region.upper()))
            if by_region is not None:
                return by_region
        return self._whole_country.get(place.country) if place.city else None

    def markets_named(self, locations: Iterable[str]) -> list[str]:
        """Markets whose name or alias is a whole location part: "Northern Virginia", "Silicon Valley",
        "Bay Area", "DFW", "NoVA (Hybrid)". Such areas resolve to a region or to nothing as places, so the
        classifier adds these to `markets_for(places)`. Parts with a comma ("London, ON") or a remote
        marker are left to the places."""
        found: list[str] = []
        for location in locations:
            for part in _PART_SEPARATORS.split(location):
                text = _PARENTHESES.sub(" ", part).strip()
                if not text or "," in text or _REMOTE.search(text):
                    continue
                entry = self._by_key.get(fold(text))
                if entry is not None and entry.market.name not in found:
                    found.append(entry.market.name)
        return found

    # ------------------------------------------------------------------ descriptions

    def _build_mentions(self, ambiguous: set[str]) -> ahocorasick.Automaton | None:
        self._mention_to: dict[str, list[str]] = {}
        self._group_forms: set[str] = set()

        level: dict[str, int] = {}

        def add(text: str, markets: list[str], rank: int) -> None:
            """A name (rank 0) means its market only; an alias (1) or a member town (2) is dropped where a
            form of higher rank already names another market ("Dublin" is the Irish market, not the Ohio
            suburb of Columbus)."""
            for form in {text, _strip_accents(text)}:
                if level.get(form, rank) < rank:
                    continue
                level[form] = rank
                targets = self._mention_to.setdefault(form, [])
                targets.extend(m for m in markets if m not in targets)

        for entry in self._entries:
            add(entry.market.name, [entry.market.name], 0)
        for entry in self._entries:
            for alias in entry.aliases:
                if alias not in ambiguous:
                    add(alias, [entry.market.name], 1)
        for entry in self._entries:
            for city, _, _ in entry.cities:
                if city not in ambiguous and len(city) > 3:
                    add(city, [entry.market.name], 2)
        for group, members in self._groups.items():
            add(group, [self._by_key[fold(m)].market.name for m in members], 0)
            self._group_forms.add(group)
        if not self._mention_to:
            return None
        automaton = ahocorasick.Automaton()
        for form in self._mention_to:
            automaton.add_word(form, form)
        automaton.make_automaton()
        return automaton

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, form) of the market names in a text, whole words only, leftmost-longest."""
        if self._mentions is None:
            return []
        hits: list[tuple[int, int, str]] = []
        for last, form in self._mentions.iter(text):
            start, end = last - len(form) + 1, last + 1
            if (start > 0 and _WORD_CHAR(text[start - 1])) or (end < len(text) and _WORD_CHAR(text[end])):
                continue
            hits.append((start, end, form))
        hits.sort(key=lambda h: (h[0], h[0] - h[1]))
        chosen: list[tuple[int, int, str]] = []
        for hit in hits:
            if not chosen or hit[0] >= chosen[-1][1]:
                chosen.append(hit)
        return chosen

    def covered_in(self, description: str) -> list[str]:
        """Markets the description names as areas the role covers (see the module docstring)."""
        if not description or self._mentions is None:
            return []
        return list(self._covered_memo(description))

    def _covered_uncached(self, description: str) -> tuple[str, ...]:
        hits = self.mentions(description)
        if not hits:
            return ()
        infra_context = bool(_INFRA_CONTEXT.search(description))
        found: list[str] = []
        sentence_start = 0
        for boundary in [*(m.start() for m in _SENTENCE.finditer(description)), len(description)]:
            in_sentence = [h for h in hits if sentence_start <= h[0] < boundary]
            if in_sentence:
                sentence = description[sentence_start:boundary]
                shifted = [(a - sentence_start, b - sentence_start, f) for a, b, f in in_sentence]
                for name in self._covered_sentence(sentence, shifted, infra_context):
                    if name not in found:
                        found.append(name)
            sentence_start = boundary
        return tuple(found)

    def _covered_sentence(
        self, sentence: str, hits: list[tuple[int, int, str]], infra_context: bool
    ) -> list[str]:
        if not _STRONG_CUE.search(sentence):
            group = any(form in self._group_forms for _, _, form in hits)
            if not ((infra_context or group) and _WEAK_CUE.search(sentence)):
                return []
        found: list[str] = []
        for start, end, form in hits:
            if _based_here(sentence, start, end):
                continue
            for name in self._mention_to[form]:
                if name not in found:
                    found.append(name)
        return found


def _based_here(sentence: str, start: int, end: int) -> bool:
    """Whether the place mentioned at sentence[start:end], with the list of places it belongs to, is where
    the person works ("based in San Francisco, New York, or London", "our Dublin office")."""
    before = sentence[max(0, start - 200) : start]
    while True:
        item = _LIST_ITEM_BEFORE.search(before)
        if item is None or item.start() == len(before):
            break
        before = before[: item.start()]
    if _BASED_BEFORE.search(before):
        return True
    after = sentence[end : end + 200]
    while True:
        item = _LIST_ITEM_AFTER.match(after)
        if item is None or item.end() == 0:
            break
        after = after[item.end() :]
    return bool(_BASED_AFTER.match(after))


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@lru_cache(maxsize=8)
def load_market_table(extra_file: Path | None = None) -> MarketTable:
    """The shipped market table, with the user's file (same format) applied on top: a market of the same
    name is replaced, `disabled = true` removes it, new names are added; `groups` and `ambiguous_words`
    are merged. Raises ValueError (naming the file) on a malformed file."""
    shipped = _read(MARKETS_FILE)
    layers = [(shipped, str(MARKETS_FILE))]
    if extra_file is not None:
        layers.append((_read(Path(extra_file)), str(extra_file)))
    entries: dict[str, _MarketEntry] = {}
    groups: dict[str, list[str]] = {}
    ambiguous: list[str] = []
    for data, source in layers:
        for name, entry in _entries(data, source):
            key = fold(name)
            if entry is None:
                entries.pop(key, None)
            else:
                entries.pop(key, None)  # a replacement goes to the end, after the markets it may shadow
                entries[key] = entry
        groups.update({str(k): [str(m) for m in v] for k, v in data.get("groups", {}).items()})
        ambiguous.extend(str(w) for w in data.get("ambiguous_words", []))
    return MarketTable(entries.values(), groups, ambiguous)


__all__ = ["MARKETS_FILE", "MarketTable", "load_market_table"]
