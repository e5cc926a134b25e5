"""Places: raw location strings (verbatim shapes from real boards) -> Place(city, region, country, remote),
the gazetteer index and its on-disk cache."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from infrasignal.classify import gazetteer
from infrasignal.classify.places import PlaceResolver, load_place_resolver, split_parts
from infrasignal.model import Place

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "anthropic-2026-01"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/corpus/anthropic-2026-01")


@pytest.fixture(scope="module")
def resolver() -> PlaceResolver:
    return load_place_resolver()


def P(city: str | None, region: str | None, country: str | None, remote: bool = False) -> Place:
    return Place(city, region, country, remote)


ONE_PLACE = [
    ("Dublin, IE", P("Dublin", None, "IE")),
    ("Zürich, CH", P("Zürich", None, "CH")),
    ("Zurich, Switzerland", P("Zürich", None, "CH")),
    ("London, UK", P("London", "ENG", "GB")),
    ("London, United Kingdom", P("London", "ENG", "GB")),
    ("US - Remote", P(None, None, "US", True)),
    ("Remote (Canada)", P(None, None, "CA", True)),
    ("Remote (US)", P(None, None, "US", True)),
    ("Remote", P(None, None, None, True)),
    ("Remote-Friendly, United States", P(None, None, "US", True)),
    ("Virtual Location - Arizona", P(None, "AZ", "US", True)),
    ("Hobart (TAS)", P("Hobart", "TAS", "AU")),
    ("Uxbridge, UK (ZUK131)", P("Uxbridge", "ENG", "GB")),
    ("US, WA, Seattle", P("Seattle", "WA", "US")),
    ("US, CA, Santa Clara", P("Santa Clara", "CA", "US")),
    ("United States, Washington, Redmond", P("Redmond", "WA", "US")),
    ("Seattle, Washington, USA", P("Seattle", "WA", "US")),
    ("Redmond, WA, US", P("Redmond", "WA", "US")),
    ("China, Shanghai", P("Shanghai", None, "CN")),
    ("Israel, Yokneam", P("Yoqne‘am ‘Illit", None, "IL")),
    ("Sydney, New South Wales, Australia", P("Sydney", "NSW", "AU")),
    ("Sydney, Australia", P("Sydney", "NSW", "AU")),
    ("Sydney", P("Sydney", "NSW", "AU")),
    ("Sydney, NS", P("Sydney", "NS", "CA")),
    ("Frankfurt am Main", P("Frankfurt am Main", "HE", "DE")),
    ("Frankfurt, Germany", P("Frankfurt am Main", "HE", "DE")),
    ("München", P("Munich", "BY", "DE")),
    ("Munich, Germany", P("Munich", "BY", "DE")),
    ("東京", P("Tokyo", None, "JP")),
    ("Tokyo, Japan", P("Tokyo", None, "JP")),
    ("Ontario, CAN", P(None, "ON", "CA")),
    ("Ontario, CA", P(None, "ON", "CA")),
    ("Washington, DC", P("Washington", "DC", "US")),
    ("New York City, NY", P("New York City", "NY", "US")),
    ("New York, NY (HQ)", P("New York City", "NY", "US")),
    ("Bangalore, India", P("Bengaluru", "KA", "IN")),
    ("Bengaluru, KA, India", P("Bengaluru", "KA", "IN")),
    ("Santa Clara, CALIFORNIA, United States", P("Santa Clara", "CA", "US")),
    ("Austin, TX, United States", P("Austin", "TX", "US")),
    ("Seoul, South Korea", P("Seoul", None, "KR")),
    ("Singapore", P("Singapore", None, "SG")),
    ("Singapore, Singapore", P("Singapore", None, "SG")),
    ("Fab 10N/X, Singapore", P("Singapore", None, "SG")),
    ("Hiroshima - Fab 15, Japan", P("Hiroshima", None, "JP")),
    ("Paris, France", P("Paris", None, "FR")),
    ("Paris", P("Paris", None, "FR")),
    ("Palo Alto, CA", P("Palo Alto", "CA", "US")),
    ("Narvik, Norway", P("Narvik", None, "NO")),
    ("Arvada, CO - US", P("Arvada", "CO", "US")),
    ("Krakow, Poland", P("Kraków", None, "PL")),
    ("Regensburg Maximilianstraße 9", P("Regensburg", "BY", "DE")),
    ("Bucharest, 6A Dimitrie Pompeiu Blvd", P("Bucharest", None, "RO")),
    ("Cherry Hill Township, NJ", P("Cherry Hill", "NJ", "US")),
    ("Franklin Park, IL, United States", P("Franklin Park", "IL", "US")),
    ("Atlanta, Georgia", P("Atlanta", "GA", "US")),
    ("Madras", P("Chennai", "TN", "IN")),
    ("Bombay", P("Mumbai", "MH", "IN")),
    ("Sao Paulo, Brazil", P("São Paulo", None, "BR")),
    ("Mumbai", P("Mumbai", "MH", "IN")),
    ("Tokyo", P("Tokyo", None, "JP")),
    ("Osaka", P("Osaka", None, "JP")),
    ("Hybrid - London", P("London", "ENG", "GB")),
    ("London (Hybrid)", P("London", "ENG", "GB")),
    ("Greater London, England, United Kingdom", P("London", "ENG", "GB")),
    ("San Francisco Bay Area", P("San Francisco", "CA", "US")),
    ("Dallas-Fort Worth", P("Dallas", "TX", "US")),
    ("Dallas/Fort Worth, TX", P("Dallas", "TX", "US")),
    ("New York Metropolitan Area", P("New York City", "NY", "US")),
    ("Montréal, Québec, Canada", P("Montréal", "QC", "CA")),
    ("Toronto, ON, Canada", P("Toronto", "ON", "CA")),
    ("Milano, Italy", P("Milan", None, "IT")),
    ("Warszawa", P("Warsaw", None, "PL")),
    ("Virginia, MN", P("Virginia", "MN", "US")),
    ("Remote - EMEA", P(None, None, None, True)),
    # country or region only
    ("Northern Virginia", P(None, "VA", "US")),
    ("Northern Virginia, VA", P(None, "VA", "US")),
    ("California", P(None, "CA", "US")),
    ("California, United States", P(None, "CA", "US")),
    ("Virginia, USA", P(None, "VA", "US")),
    ("TX, United States", P(None, "TX", "US")),
    ("US, MD", P(None, "MD", "US")),
    ("US", P(None, None, "US")),
    ("Japan", P(None, None, "JP")),
    ("United Kingdom Offsite (ZUK99)", P(None, None, "GB")),
]

# Small data-center towns: resolved in the right state, not the larger namesake elsewhere.
DATA_CENTER_TOWNS = [
    ("Ashburn, VA", "Ashburn", "VA"),
    ("Sterling, VA", "Sterling", "VA"),
    ("Sterling, VA, United States", "Sterling", "VA"),
    ("Leesburg, VA", "Leesburg", "VA"),
    ("Manassas, VA", "Manassas", "VA"),
    ("Chester, VA", "Chester", "VA"),
    ("Dulles, VA", "Dulles", "VA"),
    ("Quincy, WA", "Quincy", "WA"),
    ("New Albany, OH", "New Albany", "OH"),
    ("Council Bluffs, IA", "Council Bluffs", "IA"),
    ("Papillion, NE", "Papillion", "NE"),
    ("Abilene, TX", "Abilene", "TX"),
    ("Afton, TX", "Afton", "TX"),
    ("Ellendale, ND", "Ellendale", "ND"),
    ("Hillsboro, OR", "Hillsboro", "OR"),
    ("Cheyenne, WY", "Cheyenne", "WY"),
    ("Caledonia, MI", "Caledonia", "MI"),
    ("Umatilla, OR", "Umatilla", "OR"),
    ("Moncks Corner, SC", "Moncks Corner", "SC"),
    ("Mesa, AZ", "Mesa", "AZ"),
    ("Reno, NV", "Reno", "NV"),
    ("LaGrange, GA", "LaGrange", "GA"),
    ("Trenton, OH", "Trenton", "OH"),
    ("Andrews, TX", "Andrews", "TX"),
    ("Elk Grove Village, IL", "Elk Grove Village", "IL"),
    ("Secaucus, NJ", "Secaucus", "NJ"),
]


@pytest.mark.parametrize(("raw", "expected"), ONE_PLACE)
def test_one_place(resolver: PlaceResolver, raw: str, expected: Place) -> None:
    assert resolver.resolve_all([raw], []) == ([expected], False)


@pytest.mark.parametrize(("raw", "city", "state"), DATA_CENTER_TOWNS)
def test_data_center_towns(resolver: PlaceResolver, raw: str, city: str, state: str) -> None:
    assert resolver.resolve_all([raw], []) == ([P(city, state, "US")], False)


def test_multi_place_strings_split_and_deduplicate(resolver: PlaceResolver) -> None:
    sf, ny, sea, dc = (
        P("San Francisco", "CA", "US"),
        P("New York City", "NY", "US"),
        P("Seattle", "WA", "US"),
        P("Washington", "DC", "US"),
    )
    remote = P(None, None, None, True)
    cases = {
        "San Francisco, CA | New York City, NY": [sf, ny],
        "New York City, NY; San Francisco, CA | New York City, NY": [ny, sf],
        "San Francisco, CA, New York City, NY, Seattle, WA": [sf, ny, sea],
        "Seattle, San Francisco, New York City": [sea, sf, ny],
        "Remote-Friendly (Travel-Required) | San Francisco, CA | Seattle, WA | New York City, NY": [
            remote,
            sf,
            sea,
            ny,
        ],
        "Remote-Friendly (Travel-Required) |  Washington, DC": [remote, dc],
        "Remote-Friendly (Travel Required) | San Francisco, CA": [remote, sf],
        "London, UK; Ontario, CA; Remote-Friendly, United States; San Francisco, CA": [
            P("London", "ENG", "GB"),
            P(None, "ON", "CA"),
            P(None, None, "US", True),
            sf,
        ],
        "Los Angeles, CA / New York, NY / Sunnyvale, CA / San Francisco, CA": [
            P("Los Angeles", "CA", "US"),
            ny,
            P("Sunnyvale", "CA", "US"),
            sf,
        ],
        "San Jose, CA; Elk Grove Village, IL; Dallas, TX; Ashburn, VA": [
            P("San Jose", "CA", "US"),
            P("Elk Grove Village", "IL", "US"),
            P("Dallas", "TX", "US"),
            P("Ashburn", "VA", "US"),
        ],
    }
    for raw, expected in cases.items():
        assert resolver.resolve_all([raw], []) == (expected, False), raw


def test_placeholders_are_unresolved_and_invent_nothing(resolver: PlaceResolver) -> None:
    assert resolver.resolve_all(["2 Locations"], []) == ([], True)
    assert resolver.resolve_all(["Multiple Locations"], []) == ([], True)
    assert resolver.resolve_all(["United States, Multiple Locations, Multiple Locations"], []) == (
        [P(None, None, "US")],
        True,
    )
    # a name the gazetteer does not know: the country is kept, the city is not invented
    assert resolver.resolve_all(["Xqzzyville, Germany"], []) == ([P(None, None, "DE")], True)
    assert resolver.resolve_all(["Xqzzyville"], []) == ([], True)
    # areas that are no place: nothing invented from one of their words (Valley AL, Bay PH, Apac UG)
    for area in ("Silicon Valley", "Bay Area", "APAC", "EMEA", "Europe"):
        assert resolver.resolve_all([area], []) == ([], True), area
    # one bad part does not hide the good ones
    places, unresolved = resolver.resolve_all(["2 Locations", "Tokyo, Japan"], [])
    assert places == [P("Tokyo", None, "JP")] and unresolved


def test_structured_places_are_normalised_and_merged(resolver: PlaceResolver) -> None:
    structured = [
        Place("San Francisco", "California", "United States"),
        Place("Narvik", None, "Norway"),
        Place("Tokyo", None, "jp"),
        Place("zurich", None, "CH"),
        Place("Hamlet Nobody Knows", "Somewhere", "USA"),
    ]
    places, unresolved = resolver.resolve_all(["San Francisco, CA"], structured)
    assert places == [
        P("San Francisco", "CA", "US"),
        P("Narvik", None, "NO"),
        P("Tokyo", None, "JP"),
        P("Zürich", None, "CH"),
        P("Hamlet Nobody Knows", "Somewhere", "US"),
    ]
    assert not unresolved
    # a placeholder string settled by the structured places the ATS gave
    assert resolver.resolve_all(["2 Locations"], [Place("Sydney", None, "AU")]) == (
        [P("Sydney", "NSW", "AU")],
        False,
    )


def test_disambiguation_by_country_region_then_population(resolver: PlaceResolver) -> None:
    assert resolver.resolve("Sydney") == [P("Sydney", "NSW", "AU")]
    assert resolver.resolve("Sydney, NS") == [P("Sydney", "NS", "CA")]
    assert resolver.resolve("Sydney, Nova Scotia, Canada") == [P("Sydney", "NS", "CA")]
    assert resolver.resolve("London") == [P("London", "ENG", "GB")]
    assert resolver.resolve("London, ON") == [P("London", "ON", "CA")]
    assert resolver.resolve("Dublin") == [P("Dublin", None, "IE")]
    assert resolver.resolve("Dublin, OH") == [P("Dublin", "OH", "US")]
    assert resolver.resolve("Paris, TX") == [P("Paris", "TX", "US")]
    assert resolver.resolve("Quincy, MA") == [P("Quincy", "MA", "US")]
    assert resolver.resolve("Portland, OR") == [P("Portland", "OR", "US")]
    assert resolver.resolve("Portland, ME") == [P("Portland", "ME", "US")]
    assert resolver.resolve("Columbus, OH") == [P("Columbus", "OH", "US")]
    assert resolver.resolve("Columbus, GA") == [P("Columbus", "GA", "US")]
    assert resolver.resolve("Washington") == [P("Washington", "DC", "US")]
    assert resolver.resolve("Georgia") == [P(None, None, "GE")]
    # a two-letter code that is a US state and a country: the state, when the town is there
    assert resolver.resolve("Richmond, CA") == [P("Richmond", "CA", "US")]
    assert resolver.resolve("Salem, IN") == [P("Salem", "IN", "US")]
    assert resolver.resolve("Bella Vista, PA") == [P("Bella Vista", "PA", "US")]
    assert resolver.resolve("Québec, CA") == [P("Québec", "QC", "CA")]
    assert resolver.resolve("Buenos Aires, AR") == [P("Buenos Aires", None, "AR")]
    assert resolver.resolve("Munich, DE") == [P("Munich", "BY", "DE")]
    assert resolver.resolve("Greenwood, WA") == [P("Greenwood", "WA", "US")]
    assert resolver.resolve("Perth, WA") == [P("Perth", "WA", "AU")]
    # a place's own name beats a bigger place's alternate name, unless it is a village
    assert resolver.resolve("New Delhi, India") == [P("New Delhi", "DL", "IN")]
    assert resolver.resolve("Algoma, WI") == [P("Algoma", "WI", "US")]


def test_resolve_country(resolver: PlaceResolver) -> None:
    cases = {
        "Japan": "JP",
        "jp": "JP",
        "UK": "GB",
        "United Kingdom": "GB",
        "CAN": "CA",
        "USA": "US",
        "U.S.": "US",
        "United States of America": "US",
        "South Korea": "KR",
        "Korea, Republic of": "KR",
        "the Netherlands": "NL",
        "Türkiye": "TR",
        "Czechia": "CZ",
        "Deutschland": "DE",
    }
    for text, code in cases.items():
        assert resolver.resolve_country(text) == code, text
    assert resolver.resolve_country("Atlantis") is None
    assert resolver.resolve_country("") is None


def test_canonical_city_is_one_form_for_every_spelling(resolver: PlaceResolver) -> None:
    assert resolver.canonical_city("Zurich") == resolver.canonical_city("Zürich") == "Zürich"
    assert resolver.canonical_city("zürich") == "Zürich"
    assert resolver.canonical_city("München") == resolver.canonical_city("munich") == "Munich"
    assert resolver.canonical_city("Bangalore") == "Bengaluru"
    assert resolver.canonical_city("NYC") == "New York City"
    assert resolver.canonical_city("Sydney", "CA") == "Sydney"
    assert resolver.canonical_city("Xqzzyville") is None


def test_split_parts() -> None:
    assert split_parts("A, B | C; D / E") == ["A, B", "C", "D", "E"]
    assert split_parts("  ") == []
    assert split_parts("Fab 10N/X, Singapore") == ["Fab 10N/X, Singapore"]


def test_every_corpus_location_resolves(resolver: PlaceResolver) -> None:
    jobs = CORPUS / "jobs.json"
    if not jobs.exists():
        pytest.skip("shared corpus absent")
    locations = {job["location"] for job in json.loads(jobs.read_text())}
    for location in locations:
        places, unresolved = resolver.resolve_all([location], [])
        assert places and not unresolved, location
        assert all(p.country or p.remote for p in places), location


def test_gazetteer_round_trip_on_a_sample(resolver: PlaceResolver) -> None:
    """ "City, Country", "City, CC" and "City, ST" for a fixed random sample of GeoNames places come back as
    the same place (a measure of the reading rules over the whole gazetteer, not only hand-picked strings)."""
    import random

    with gazetteer._cities_file().open(encoding="utf-8") as fh:
        cities = list(json.load(fh).values())
    rng = random.Random(7)
    abroad = rng.sample([c for c in cities if c["population"] >= 50_000 and c["countrycode"] != "US"], 300)
    us = rng.sample([c for c in cities if c["countrycode"] == "US" and c["population"] >= 5_000], 300)
    cases = [(f"{c['name']}, {resolver.country_name(c['countrycode'])}", c, None) for c in abroad]
    cases += [(f"{c['name']}, {c['admin1code']}", c, c["admin1code"]) for c in us]
    wrong = []
    for raw, c, region in cases:
        places = resolver.resolve(raw)
        ok = (
            len(places) == 1
            and places[0].country == c["countrycode"]
            and gazetteer.fold(places[0].city or "") == gazetteer.fold(c["name"])
            and (region is None or places[0].region == region)
        )
        if not ok:
            wrong.append((raw, places))
    assert len(wrong) / len(cases) <= 0.01, wrong


def test_memoised_resolution_is_fast(resolver: PlaceResolver) -> None:
    import time

    strings = [s for s, _ in ONE_PLACE]
    for s in strings:
        resolver.resolve_all([s], [])
    n = 20_000
    start = time.perf_counter()
    for i in range(n):
        resolver.resolve_all([strings[i % len(strings)]], [])
    rate = n / (time.perf_counter() - start)
    assert rate > 50_000, rate


# ------------------------------------------------------------------ index cache


@pytest.fixture
def small_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 15000-population dataset without alternate names: same code paths, a fraction of the build time."""
    monkeypatch.setattr(gazetteer, "CITY_DATASET", 15000)
    monkeypatch.setattr(gazetteer, "ALT_NAMES_MIN_POPULATION", 10**9)


def test_cold_build_then_warm_load_give_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_dataset: None
) -> None:
    monkeypatch.setenv("INFRASIGNAL_CACHE_DIR", str(tmp_path / "cache"))
    cold, how = gazetteer.load_index()
    assert how == "built"
    files = list((tmp_path / "cache").glob("places-*.marshal"))
    assert len(files) == 1 and not list((tmp_path / "cache").glob("*.tmp"))
    warm, how = gazetteer.load_index()
    assert how == "cache"
    strings = [
        "Sydney",
        "Sydney, NS",
        "Munich",
        "Tokyo, Japan",
        "US, WA, Seattle",
        "Ontario, CAN",
        "2 Locations",
    ]
    for s in strings:
        assert PlaceResolver(cold).resolve_all([s], []) == PlaceResolver(warm).resolve_all([s], []), s
    assert PlaceResolver(warm).resolve("Zürich, CH") == [P("Zürich", None, "CH")]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty index cache directory of the test's own."""
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("INFRASIGNAL_CACHE_DIR", str(folder))
    return folder


def test_stale_and_corrupt_cache_files_are_rebuilt(cache: Path, small_dataset: None) -> None:
    old = cache / "places-0000000000000000.marshal"
    old.write_bytes(b"old version")
    unused = time.time() - (gazetteer.STALE_AFTER_DAYS + 1) * 86_400
    os.utime(old, (unused, unused))
    gazetteer.cache_path().write_bytes(b"\x00garbage")
    _, how = gazetteer.load_index()
    assert how == "built"
    assert [p.name for p in cache.iterdir()] == [gazetteer.cache_path().name]
    assert gazetteer.load_index()[1] == "cache"


def test_another_installations_cache_file_in_use_is_kept(cache: Path, small_dataset: None) -> None:
    # Two virtualenvs sharing ~/.cache/infrasignal have different keys: neither build may delete the
    # other's file, or each would rebuild the index on every start.
    other = cache / "places-1111111111111111.marshal"
    other.write_bytes(b"another installation's index")
    assert gazetteer.load_index()[1] == "built"
    assert sorted(p.name for p in cache.iterdir()) == sorted([other.name, gazetteer.cache_path().name])


def test_unwritable_cache_dir_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_dataset: None
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("INFRASIGNAL_CACHE_DIR", str(blocker / "cache"))
    index, how = gazetteer.load_index()
    assert how == "built-uncached"
    assert PlaceResolver(index).resolve("Tokyo, Japan") == [P("Tokyo", None, "JP")]


def test_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFRASIGNAL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gazetteer.cache_dir() == tmp_path / "infrasignal"


def test_cache_key_changes_with_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    key = gazetteer.cache_key()
    monkeypatch.setattr(gazetteer, "DATA_VERSION", "test-other")
    assert gazetteer.cache_key() != key


def test_fold() -> None:
    assert gazetteer.fold("Zürich") == gazetteer.fold("ZURICH") == "zurich"
    assert gazetteer.fold("St. Louis") == gazetteer.fold("Saint Louis") == "st louis"
    assert gazetteer.fold("Łódź") == "lodz"
    assert gazetteer.fold("Frankfurt/Main") == "frankfurt main"
    assert gazetteer.fold("東京") == "東京"
