"""Raw location strings -> places `Place(city, region, country, remote)`, on the gazetteer of `gazetteer.py`.

    resolver = load_place_resolver()
    resolver.resolve_all(["Remote-Friendly (Travel-Required) | San Francisco, CA"], [])
    -> ([Place(None, None, None, True), Place("San Francisco", "CA", "US", False)], False)

What a string may look like (see `shared/reference/ats-formats.md` section 10): several places joined by
"|", ";" or " / ", or a comma list of "City, ST" pairs; one place as "City", "City, ST", "City, Region,
Country", "Country, Region, City" (Workday, Amazon), "City - Site, Country", "City (REGION)", "City, CC
(SITE CODE)"; remote markers ("Remote-Friendly (Travel-Required)", "US - Remote", "Remote (Canada)",
"Virtual Location - Arizona"); placeholders ("2 Locations", "Multiple Locations").

How a place is read: the part is cut into tokens (commas, " - ", parenthesised hints); every way of reading
the tokens as country / region / city is scored (a city found by its GeoNames name beats one found by an
alternate name; a country or region token left unused that contradicts the reading costs a lot) and the
best wins. Among same-named cities the country and region given narrow the choice, then the population
decides ("Sydney" is Sydney AU, "Sydney, NS" is Sydney CA). A comma list whose every token is a city
("Seattle, San Francisco, New York City") is several places.

Conventions of the result
- `city`: the GeoNames name ("Munich", "Zürich", "Bengaluru", "New York City", "Frankfurt am Main",
  "Washington"); use `canonical_city` to map a user's spelling ("Zurich", "München") to it.
- `region`: ISO 3166-2 code suffix ("VA", "NSW", "ON", "KA", "ENG", "BY") where the gazetteer knows it
  (US, CA, AU, IN, DE, GB), else None.
- `country`: ISO 3166-1 alpha-2. `remote`: the string says remote/virtual; country only when stated.
- No city is invented: a placeholder or a city missing from the gazetteer sets `unresolved`; a country or
  region alone gives a place without a city ("TX, United States" -> region TX, country US).
- Areas that are no place ("EMEA", "APAC", "Silicon Valley", "Bay Area") give no place and set
  `unresolved`; market names used as locations are `MarketTable.markets_named`'s business. Words of a longer
  name are tried ("Cherry Hill Township" -> Cherry Hill, "Greater London" -> London, "Northern Virginia" ->
  region VA) but never a small town from its last word ("Silicon Valley" is not Valley, Alabama).
- A two-letter code that is both a US state and a country ("CA", "IN", "PA", "DE") is the state when the town
  is there ("Richmond, CA" is California, "Salem, IN" Indiana, "London, CA" London, California), else the
  country ("Québec, CA", "Munich, DE"). Exception, Anthropic's usage: when the other token names a province
  or state of that country and no town of it, the region wins ("Ontario, CA" is Ontario, Canada).
- A region name alone is the region unless a city of 100,000+ has that name ("California" is the state,
  "New York" and "Washington" are the cities).

Everything is memoised per distinct string, so a typical posting costs a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from infrasignal.classify.gazetteer import (
    REGION_NAMES_WITHOUT_COUNTRY,
    REGION_WITHOUT_COUNTRY,
    CityRecord,
    Index,
    fold,
    load_index,
)
from infrasignal.model import Place

# A city found by an alternate name wins over a same-named place found by its GeoNames name only when it is
# this many times larger ("Madras" -> Chennai, not Madras, Oregon; "Sterling" -> Sterling VA, not Stirling).
ALTERNATE_NAME_FACTOR = 100
# ... and only over a place smaller than this ("New Delhi" is New Delhi, not Delhi).
ALTERNATE_NAME_MAX_PRIMARY = 15_000
# A town named at the start of an address-like token must be at least this large to be believed.
ADDRESS_TOWN_POPULATION = 10_000
# A city this large wins over a region of the same name ("New York", "Washington", "Quebec"); a smaller one
# does not ("California", "Virginia").
BIG_CITY_POPULATION = 100_000
# A town found from some of the words of a longer name must be at least this large (by its own name).
SHORTENED_TOWN_POPULATION = 5_000
# Countries that are one city: a string naming only the country is that city.
CITY_STATES = {"SG", "HK", "MO", "MC", "GI", "VA"}

_PART_SEPARATORS = re.compile(r"\s*(?:\||;|\s/\s|\n)\s*")
_TOKEN_SEPARATORS = re.compile(r"\s*(?:,|\s[-–—]\s|^[-–—]\s|\s[-–—]$)\s*")
_PARENTHESES = re.compile(r"\(([^()]*)\)")
_PLACEHOLDER = re.compile(
    r"^(?:\d+\s+(?:locations?|sites?|offices?)|multiple(?:\s+locations?)?|various(?:\s+locations?)?|"
    r"several\s+locations?|many\s+locations?|tbd|to be determined|n/?a|none|unknown|other|"
    r"see (?:job )?description|location flexible|flexible)$",
    re.IGNORECASE,
)
_REMOTE = re.compile(
    r"\b(?:remote(?:[\s-]*(?:friendly|first|eligible|ok|only))?|virtual(?:\s+location)?|"
    r"work\s+from\s+home|wfh|telecommute|anywhere)\b",
    re.IGNORECASE,
)
# Words that say nothing about where: dropped from tokens before reading them.
_NOISE = re.compile(
    r"\b(?:travel[\s-]*required|hybrid|on[\s-]?site|in[\s-]?office|office|hq|headquarters|"
    r"flexible|preferred|based)\b",
    re.IGNORECASE,
)
_HAS_DIGIT = re.compile(r"\d")
_MUNICIPALITY = re.compile(r"(?:township|twp\.?|borough|village|city|town|municipality)", re.IGNORECASE)
# Areas larger than a country: understood, but no place ("Remote - EMEA").
_MACRO_REGION = re.compile(
    r"^(?:emea|apac|apj|amer|americas|latam|north america|south america|latin america|europe|asia|"
    r"asia pacific|asia-pacific|middle east|africa|oceania|nordics|dach|benelux|global|worldwide|"
    r"international|eu|uk&i|ukí)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    key: str
    country: str | None  # ISO2 when the token names a country
    regions: tuple[tuple[str, str, str], ...]  # (country, iso code, geonames admin1) it may name
    is_code: bool  # a short upper-case code ("CA", "NSW"), not a name

    @property
    def noise(self) -> bool:
        """Site codes and street addresses ("Fab 15", "6A Dimitrie Pompeiu Blvd"): never a place."""
        return bool(_HAS_DIGIT.search(self.text))


@dataclass(frozen=True, slots=True)
class _Reading:
    score: float
    places: tuple[Place, ...]
    unresolved: bool


class PlaceResolver:
    """Resolves location strings and structured places; built on a gazetteer `Index`."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._string = lru_cache(maxsize=65_536)(self._resolve_string)
        self._structured = lru_cache(maxsize=16_384)(self._normalise_place)
        self._city_cache = lru_cache(maxsize=65_536)(self._find_city)
        self._token_cache = lru_cache(maxsize=65_536)(self._token)

    # ------------------------------------------------------------------ public API

    def resolve_all(self, locations: Sequence[str], structured: Sequence[Place]) -> tuple[list[Place], bool]:
        """Places of a posting's raw location strings and structured ATS places, deduplicated, in order;
        and whether some location could not be resolved (a placeholder like "2 Locations", or a name the
        gazetteer does not know). Structured places with a city settle a placeholder: the ATS said where."""
        places: list[Place] = []
        unresolved = False
        for location in locations:
            found, missing = self._string(location)
            places.extend(found)
            unresolved = unresolved or missing
        structured_cities = False
        for place in structured:
            normalised = self._structured(place)
            places.append(normalised)
            structured_cities = structured_cities or normalised.city is not None
        if structured_cities:
            unresolved = False
        return dedupe(places), unresolved

    def resolve(self, location: str) -> list[Place]:
        """Places of one raw location string."""
        return list(self._string(location)[0])

    def resolve_country(self, text: str | None) -> str | None:
        """ISO 3166-1 alpha-2 of a country name or code ("Japan", "jp", "UK", "CAN", "USA", "South Korea")."""
        if not text:
            return None
        key = fold(text)
        code = self.index.countries.get(key)
        if code is None and key.startswith("the "):
            code = self.index.countries.get(key[4:])
        return code

    def country_name(self, code: str) -> str | None:
        """Common English name of an ISO2 code ("KR" -> "South Korea")."""
        return self.index.country_names.get(code.upper())

    def canonical_city(self, text: str, country: str | None = None) -> str | None:
        """The canonical (GeoNames) name a user's spelling of a city resolves to ("Zurich", "München",
        "Bangalore", "NYC" -> "Zürich", "Munich", "Bengaluru", "New York City"), or None."""
        code = self.resolve_country(country) if country else None
        found = self._city_cache(fold(text), code, None)
        return found[0][0] if found else None

    # ------------------------------------------------------------------ strings

    def _resolve_string(self, location: str) -> tuple[tuple[Place, ...], bool]:
        places: list[Place] = []
        unresolved = False
        for part in split_parts(location):
            found, missing = self._resolve_part(part)
            places.extend(found)
            unresolved = unresolved or missing
        return tuple(dedupe(places)), unresolved

    def _resolve_part(self, part: str) -> tuple[list[Place], bool]:
        text = part.strip()
        if not text:
            return [], False
        if _PLACEHOLDER.match(text):
            return [], True
        hints: list[str] = []
        remote = False
        for inner in _PARENTHESES.findall(text):
            if _REMOTE.search(inner):
                remote = True
            elif self._is_country_or_region(inner):
                hints.append(inner.strip())
        text = _PARENTHESES.sub(" ", text)
        if _REMOTE.search(text):
            remote = True
            text = _REMOTE.sub(" ", text)
        unresolved = False
        macro = False
        tokens: list[_Token] = []
        for raw in [*_TOKEN_SEPARATORS.split(text), *hints]:
            cleaned = _NOISE.sub(" ", raw).strip(" -–—,.")
            cleaned = re.sub(r"\s+", " ", cleaned)
            if not cleaned:
                continue
            if _PLACEHOLDER.match(cleaned):
                unresolved = True
                continue
            if _MACRO_REGION.match(cleaned):
                macro = True
                continue
            tokens.append(self._token_cache(cleaned))
        if not tokens:
            if remote:
                return [Place(remote=True)], unresolved
            return [], unresolved or macro

        pairs = self._city_region_pairs(tokens)
        if pairs is not None:
            places: list[Place] = []
            for pair in pairs:
                reading = self._read(pair, remote)
                places.extend(reading.places)
                unresolved = unresolved or reading.unresolved
            return places, unresolved

        reading = self._read(tokens, remote)
        return list(reading.places), unresolved or reading.unresolved

    def _city_region_pairs(self, tokens: list[_Token]) -> list[list[_Token]] | None:
        """Split "San Francisco, CA, New York City, NY, Seattle, WA" (city-state pairs) and "Seattle, San
        Francisco, New York City" (cities only) into one token list per place; None for one place."""
        if len(tokens) >= 4 and len(tokens) % 2 == 0:
            codes = tokens[1::2]
            if all(t.is_code and any(r[0] == "US" for r in t.regions) for t in codes):
                return [tokens[i : i + 2] for i in range(0, len(tokens), 2)]
        if len(tokens) >= 2 and all(
            t.country is None
            and not t.regions
            and not t.noise
            and self._city_cache(t.key, None, None) is not None
            for t in tokens
        ):
            return [[t] for t in tokens]
        return None

    # ------------------------------------------------------------------ reading tokens

    def _token(self, text: str) -> _Token:
        key = fold(text)
        country = self.index.countries.get(key)
        regions = tuple(self.index.regions.get(key, ()))
        is_code = text.isupper() and len(text) <= 3 and text.isalpha()
        token = _Token(text, key, country, regions, is_code)
        if country is None and not regions and (token.noise or self._city_cache(key, None, None) is None):
            shorter = self._shorten(text, token.noise)
            if shorter is not None:
                return self._token(shorter)
        return token

    def _shorten(self, text: str, address: bool) -> str | None:
        """The longest run of leading (then trailing) words that names a place: "Regensburg Maximilianstraße
        9" -> "Regensburg", "Cherry Hill Township" -> "Cherry Hill", "United Kingdom Offsite" -> "United
        Kingdom", "Greater London" -> "London", "Dallas-Fort Worth" -> "Dallas", "Northern Virginia" ->
        "Virginia". A town found this way must be of some size (a word of a longer name is too often the
        name of some hamlet: "Bay Area" is not Bay, Arkansas)."""
        words = [w for w in re.split(r"\s+|(?<=\w)[-/](?=\w)", text) if w]
        prefixes = [" ".join(words[:n]) for n in range(len(words) - 1, 0, -1)]
        suffixes = [" ".join(words[n:]) for n in range(1, len(words))]
        for candidate in prefixes + suffixes:
            key = fold(candidate)
            if len(key) < 3 or _HAS_DIGIT.search(candidate):
                continue
            if key in self.index.countries:
                return candidate
            if not address and any(
                r[0] in REGION_NAMES_WITHOUT_COUNTRY for r in self.index.regions.get(key, ())
            ):
                return candidate
            found = self._city_cache(key, None, None)
            if found is None:
                continue
            (_, _, _, population), primary = found
            if address:
                # in an address ("Regensburg Maximilianstraße 9") only a town of some size, by its own name
                if primary and population >= ADDRESS_TOWN_POPULATION:
                    return candidate
            elif population >= BIG_CITY_POPULATION or (
                # a single word of a longer name is too often a town somewhere ("Silicon Valley" is not
                # Valley AL, "Bay Area" not Bay PH): a smaller town only as the first words of the name
                # or before a word like "Township"
                primary
                and population >= SHORTENED_TOWN_POPULATION
                and candidate in prefixes
                and (" " in candidate or _MUNICIPALITY.fullmatch(text[len(candidate) :].strip()) is not None)
            ):
                return candidate
        return None

    def _is_country_or_region(self, text: str) -> bool:
        key = fold(text)
        return key in self.index.countries or key in self.index.regions

    def _read(self, tokens: list[_Token], remote: bool) -> _Reading:
        special = self._province_of_ambiguous_code(tokens, remote)
        if special is not None:
            return special
        readings: list[_Reading] = []
        n = len(tokens)
        country_options: list[tuple[int, str] | None] = [None]
        country_options += [(i, t.country) for i, t in enumerate(tokens) if t.country]
        for country_option in country_options:
            ci, cc = country_option if country_option else (-1, None)
            region_options: list[tuple[int, tuple[str, str, str]] | None] = [None]
            for j, t in enumerate(tokens):
                if j == ci:
                    continue
                for candidate in t.regions:
                    if cc is not None:
                        if candidate[0] == cc:
                            region_options.append((j, candidate))
                    elif candidate[0] in (
                        REGION_WITHOUT_COUNTRY if t.is_code else REGION_NAMES_WITHOUT_COUNTRY
                    ):
                        region_options.append((j, candidate))
            for region_option in region_options:
                region: tuple[str, str, str] | None
                rj, region = region_option if region_option else (-1, None)
                country = cc or (region[0] if region else None)
                admin1 = region[2] if region else None
                score: float = (3 if ci >= 0 else 0) + (2 if rj >= 0 else 0)
                if region is not None and cc is None:
                    # "Greenwood, WA" is Washington before Western Australia; "Richmond, CA" California
                    # before Canada, "Salem, IN" Indiana before India (a code both a state and a country)
                    score += (
                        0.1 * (len(REGION_WITHOUT_COUNTRY) - REGION_WITHOUT_COUNTRY.index(region[0]))
                        if (region[0] in REGION_WITHOUT_COUNTRY)
                        else 0
                    )
                    if region[0] == "US" and tokens[rj].is_code and tokens[rj].country:
                        score += 1.5
                city: CityRecord | None = None
                city_index = -1
                for k, t in enumerate(tokens):
                    if k in (ci, rj) or t.noise:
                        continue
                    found = self._city_of(t, country, admin1 or None)
                    if found is not None:
                        city, primary = found
                        city_index = k
                        score += 10 if primary else 9
                        break
                used = {ci, rj, city_index}
                for k, t in enumerate(tokens):
                    if k in used or t.noise:
                        continue
                    # an unused token: a country or region that was not read as one contradicts this
                    # reading (unless it repeats it: "Northern Virginia, VA"); an unknown word is a place
                    # the gazetteer lacks
                    if (t.country is not None and t.country == country) or (
                        region is not None and any(r[:2] == region[:2] for r in t.regions)
                    ):
                        used.add(k)
                        continue
                    score -= 8 if (t.country or t.regions) else 4
                score -= 0 if ci in (-1, n - 1, 0) else 1  # countries come first or last
                places, unresolved = self._places_of(city, country, region, remote, tokens, used)
                readings.append(_Reading(score, places, unresolved))
        # ties go to the first reading: no country before a country token, cities in token order
        return max(readings, key=lambda r: r.score)

    def _places_of(
        self,
        city: CityRecord | None,
        country: str | None,
        region: tuple[str, str, str] | None,
        remote: bool,
        tokens: list[_Token],
        used: set[int],
    ) -> tuple[tuple[Place, ...], bool]:
        if city is not None:
            name, cc, admin1, _ = city
            return (Place(name, self.index.region_code(cc, admin1), cc, remote),), False
        leftovers = [t for k, t in enumerate(tokens) if k not in used and not t.noise]
        if country in CITY_STATES and not region:
            # "Fab 10N/X, Singapore": a site in the city-state
            found = self._city_cache(fold(self.index.country_names.get(country, "")), country, None)
            if found is not None:
                return (Place(found[0][0], None, country, remote),), False
        if country is None and region is None:
            return ((Place(remote=True),) if remote else ()), bool(leftovers) or not remote
        return (Place(None, region[1] if region else None, country, remote),), bool(leftovers)

    def _province_of_ambiguous_code(self, tokens: list[_Token], remote: bool) -> _Reading | None:
        """ "Ontario, CA": CA is California or Canada; Ontario is a province of Canada, so Canada."""
        if len(tokens) != 2:
            return None
        name, code = tokens
        if not (code.is_code and code.country and any(r[0] == "US" for r in code.regions)):
            return None
        if self._city_cache(name.key, code.country, None) is not None:
            return None  # "Québec, CA", "Buenos Aires, AR": the city of that country
        for region in name.regions:
            if region[0] == code.country and not name.is_code:
                return _Reading(100, (Place(None, region[1], code.country, remote),), False)
        return None

    # ------------------------------------------------------------------ cities

    def _city_of(
        self, token: _Token, country: str | None, admin1: str | None
    ) -> tuple[CityRecord, bool] | None:
        """The city a token names, in the country / region read from the other tokens. Without a country, a
        token that names a country or a region may be a city only there: "Singapore" is Singapore SG,
        "Washington" Washington DC, but "Arizona" is not Arizona in Honduras."""
        found = self._city_in(token, country, admin1)
        if (
            found is not None
            and not admin1
            and not token.is_code
            and found[0][3] < BIG_CITY_POPULATION
            and any(r[0] in REGION_NAMES_WITHOUT_COUNTRY and country in (None, r[0]) for r in token.regions)
        ):
            # "California", "Virginia, USA": the state, not California MD or Virginia MN
            return None
        return found

    def _city_in(
        self, token: _Token, country: str | None, admin1: str | None
    ) -> tuple[CityRecord, bool] | None:
        if country is not None or (token.country is None and not token.regions):
            return self._city_cache(token.key, country, admin1)
        countries = [token.country] if token.country else []
        allowed = REGION_WITHOUT_COUNTRY if token.is_code else REGION_NAMES_WITHOUT_COUNTRY
        countries += [r[0] for r in token.regions if r[0] in allowed]
        if not countries:  # "Tokyo" also names a prefecture, but of no country read without a country
            return self._city_cache(token.key, None, admin1)
        for candidate in dict.fromkeys(countries):
            found = self._city_cache(token.key, candidate, admin1)
            if found is not None:
                return found
        return None

    def _find_city(self, key: str, country: str | None, admin1: str | None) -> tuple[CityRecord, bool] | None:
        """The best city named `key` (folded) in the country / GeoNames admin-1 region given; and whether
        it was found by its GeoNames name (True) or an alternate name."""
        primary, alternate = self.index.cities(key)
        best_primary = _first(primary, country, admin1)
        best_alternate = _first(alternate, country, admin1)
        if best_primary is not None and (
            best_alternate is None
            or best_primary[3] >= ALTERNATE_NAME_MAX_PRIMARY
            or best_alternate[3] <= ALTERNATE_NAME_FACTOR * max(best_primary[3], 1)
        ):
            return best_primary, True
        if best_alternate is not None:
            return best_alternate, False
        return None

    # ------------------------------------------------------------------ structured places

    def _normalise_place(self, place: Place) -> Place:
        country = None
        if place.country:
            country = self.resolve_country(place.country) or (
                place.country.upper() if len(place.country) == 2 else None
            )
        region: tuple[str, str, str] | None = None
        if place.region:
            candidates = self.index.regions.get(fold(place.region), [])
            region = next((r for r in candidates if country is None or r[0] == country), None)
            if region is not None and country is None and region[0] in REGION_WITHOUT_COUNTRY:
                country = region[0]
        city_name = place.city.strip() if place.city else None
        if city_name:
            found = self._city_cache(fold(city_name), country, region[2] if region and region[2] else None)
            if found is None and region is not None:
                found = self._city_cache(fold(city_name), country, None)
            if found is not None and (country is not None or region is not None or found[1]):
                name, cc, admin1, _ = found[0]
                return Place(name, self.index.region_code(cc, admin1), cc, place.remote)
        region_code = region[1] if region else (place.region.strip() if place.region else None)
        return Place(city_name or None, region_code, country, place.remote)


def _first(records: Iterable[CityRecord], country: str | None, admin1: str | None) -> CityRecord | None:
    for record in records:
        if (country is None or record[1] == country) and (not admin1 or record[2] == admin1):
            return record
    return None


def split_parts(location: str) -> list[str]:
    """One raw location string -> the parts that each name one place (or one list of "City, ST" pairs)."""
    return [p for p in _PART_SEPARATORS.split(location.strip()) if p.strip()]


def dedupe(places: Iterable[Place]) -> list[Place]:
    """Drop repeats (same city and country, or same region and country without a city, and remote flag),
    and a place without a city whose country (and region) a more precise non-remote place already gives."""
    seen: set[tuple[str | None, str | None, str | None, bool]] = set()
    unique: list[Place] = []
    for place in places:
        key = (
            (fold(place.city) if place.city else None),
            None if place.city else place.region,
            place.country,
            place.remote,
        )
        if key not in seen:
            seen.add(key)
            unique.append(place)
    precise = [p for p in unique if not p.remote and p.city]
    return [
        p
        for p in unique
        if p.city
        or p.remote
        or not any(q.country == p.country and (p.region is None or q.region == p.region) for q in precise)
    ]


@lru_cache(maxsize=1)
def load_place_resolver() -> PlaceResolver:
    """The process-wide resolver (the index comes from the on-disk cache, or is built and cached)."""
    return PlaceResolver(load_index()[0])


__all__ = ["PlaceResolver", "dedupe", "load_place_resolver", "split_parts"]
