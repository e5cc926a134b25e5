"""Markets: the shipped table, places -> markets, the user's override file, and markets a description says
the role covers (with no false positives on real boilerplate)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from infrasignal.classify import Market
from infrasignal.classify.markets import MarketTable, load_market_table
from infrasignal.classify.places import PlaceResolver, load_place_resolver
from infrasignal.model import Place

CORPUS = Path("/work/shared/corpus/anthropic-2026-01")

ISSUE_MARKETS = [
    "Northern Virginia", "Dallas", "Phoenix", "Silicon Valley", "Chicago", "Atlanta", "Columbus",
    "Portland/Hillsboro", "Quincy", "Abilene", "Memphis", "Omaha/Council Bluffs", "Frankfurt", "London",
    "Amsterdam", "Paris", "Dublin", "Madrid", "Milan", "Stockholm", "Oslo", "Warsaw", "Zurich", "Sydney",
    "Melbourne", "Tokyo", "Osaka", "Singapore", "Johor", "Mumbai", "Seoul", "Hong Kong", "Jakarta",
    "Sao Paulo", "Querétaro", "Toronto", "Montreal",
]  # fmt: skip


@pytest.fixture(scope="module")
def table() -> MarketTable:
    return load_market_table(None)


@pytest.fixture(scope="module")
def resolver() -> PlaceResolver:
    return load_place_resolver()


def markets_of(table: MarketTable, resolver: PlaceResolver, *locations: str) -> list[str]:
    places, _ = resolver.resolve_all(list(locations), [])
    return table.markets_for(places)


def test_the_table_has_the_issue_markets_with_regions(table: MarketTable) -> None:
    names = {m.name for m in table.markets()}
    assert set(ISSUE_MARKETS) <= names
    for m in table.markets():
        assert m.macro_region in ("AMER", "EMEA", "APAC"), m
        assert len(m.country) == 2 and m.country.isupper(), m
        assert m.sub_region, m
    assert table.market("Frankfurt") == Market("Frankfurt", "DE", "EMEA", "Central Europe")
    assert table.market("Madrid") == Market("Madrid", "ES", "EMEA", "Southern Europe")
    assert table.market("Stockholm") == Market("Stockholm", "SE", "EMEA", "Northern Europe")
    assert table.market("Tokyo") == Market("Tokyo", "JP", "APAC", "East Asia")
    assert table.market("Northern Virginia") == Market("Northern Virginia", "US", "AMER", "US East")


def test_lookup_by_name_alias_or_member_town(table: MarketTable) -> None:
    nova = table.market("Northern Virginia")
    assert nova is not None
    for text in ("northern virginia", "NoVA", "nova", "Ashburn", "Loudoun County"):
        assert table.market(text) == nova, text
    frankfurt = table.market("Frankfurt")
    assert table.market("Frankfurt am Main") == frankfurt
    assert table.market("Zürich") == table.market("zurich") == table.market("Zurich")
    assert table.market("Bay Area") == table.market("Santa Clara") == table.market("Silicon Valley")
    assert table.market("Council Bluffs") == table.market("Omaha") == table.market("omaha/council bluffs")
    assert table.market("New Albany") == table.market("Columbus")
    assert table.market("Slough") == table.market("London")
    assert table.market("Atlantis") is None


def test_places_map_to_markets_by_member_town_and_country(
    table: MarketTable, resolver: PlaceResolver
) -> None:
    for town in (
        "Ashburn",
        "Sterling",
        "Leesburg",
        "Manassas",
        "Reston",
        "Herndon",
        "Chantilly",
        "Dulles",
        "Arlington",
    ):
        assert markets_of(table, resolver, f"{town}, VA") == ["Northern Virginia"], town
    for town in ("San Jose", "Santa Clara", "Sunnyvale", "Palo Alto", "Mountain View", "Milpitas", "Fremont"):
        assert markets_of(table, resolver, f"{town}, CA") == ["Silicon Valley"], town
    assert markets_of(table, resolver, "London, UK") == ["London"]
    assert markets_of(table, resolver, "Slough, United Kingdom") == ["London"]
    assert markets_of(table, resolver, "Quincy, WA") == ["Quincy"]
    assert markets_of(table, resolver, "New Albany, OH") == ["Columbus"]
    assert markets_of(table, resolver, "Papillion, NE") == ["Omaha/Council Bluffs"]
    assert markets_of(table, resolver, "Council Bluffs, IA") == ["Omaha/Council Bluffs"]
    assert markets_of(table, resolver, "Hillsboro, OR") == ["Portland/Hillsboro"]
    assert markets_of(table, resolver, "Abilene, TX") == ["Abilene"]
    assert markets_of(table, resolver, "Ellendale, ND") == ["Ellendale"]
    assert markets_of(table, resolver, "Cheyenne, WY") == ["Cheyenne"]
    assert markets_of(table, resolver, "Narvik, Norway") == ["Narvik"]
    assert markets_of(table, resolver, "Frankfurt am Main") == ["Frankfurt"]
    assert markets_of(table, resolver, "Zürich, CH") == ["Zurich"]
    assert markets_of(table, resolver, "Tokyo, Japan") == ["Tokyo"]
    assert markets_of(table, resolver, "東京") == ["Tokyo"]
    assert markets_of(table, resolver, "Sydney, Australia") == ["Sydney"]
    assert markets_of(table, resolver, "Fab 10N/X, Singapore") == ["Singapore"]
    assert markets_of(table, resolver, "Dublin, IE") == ["Dublin"]
    assert markets_of(table, resolver, "Santiago de Querétaro, Mexico") == ["Querétaro"]
    assert markets_of(table, resolver, "Sao Paulo, Brazil") == ["Sao Paulo"]
    assert markets_of(table, resolver, "Montreal, QC") == ["Montreal"]


def test_same_named_towns_elsewhere_are_not_in_the_market(
    table: MarketTable, resolver: PlaceResolver
) -> None:
    assert markets_of(table, resolver, "Quincy, MA") == []
    assert markets_of(table, resolver, "Arlington, TX") == ["Dallas"]
    assert markets_of(table, resolver, "Washington, DC") == []  # offices, not the Northern Virginia market
    assert markets_of(table, resolver, "Sterling, IL") == []
    assert markets_of(table, resolver, "Dublin, OH") == ["Columbus"]  # a Columbus suburb, not Ireland
    assert markets_of(table, resolver, "Portland, ME") == []
    assert markets_of(table, resolver, "Sydney, NS") == []
    assert markets_of(table, resolver, "London, ON") == []
    assert markets_of(table, resolver, "Paris, TX") == []


def test_remote_unresolved_and_non_market_places(table: MarketTable, resolver: PlaceResolver) -> None:
    assert markets_of(table, resolver, "Remote-Friendly, United States") == []
    assert markets_of(table, resolver, "US - Remote") == []
    assert markets_of(table, resolver, "2 Locations") == []
    assert markets_of(table, resolver, "San Francisco, CA") == []  # offices, not a data-center market
    assert table.markets_for([Place(None, None, "SG")]) == []  # a country alone names no city
    assert table.markets_for([Place(None, "01", "MY")]) == ["Johor"]  # a whole region
    assert table.markets_for([Place("Singapore", None, "SG", remote=True)]) == []


def test_several_places_keep_order_without_repeats(table: MarketTable, resolver: PlaceResolver) -> None:
    found = markets_of(
        table,
        resolver,
        "San Jose, CA; Englewood, CO; Miami, FL; Atlanta, GA; Chicago, IL; Secaucus, NJ; Dallas, TX; Ashburn, VA; Seattle, WA",
        "Sterling, VA",
    )
    assert found == [
        "Silicon Valley",
        "Denver",
        "Miami",
        "Atlanta",
        "Chicago",
        "New York/New Jersey",
        "Dallas",
        "Northern Virginia",
        "Seattle",
    ]


def test_markets_named_as_a_location(table: MarketTable) -> None:
    assert table.markets_named(["Northern Virginia"]) == ["Northern Virginia"]
    assert table.markets_named(["Bay Area | Silicon Valley (Hybrid)"]) == ["Silicon Valley"]
    assert table.markets_named(["DFW; Frankfurt am Main", "NoVA"]) == [
        "Dallas",
        "Frankfurt",
        "Northern Virginia",
    ]
    # a part with a comma or a remote marker is left to the places
    assert table.markets_named(["London, ON", "Remote - NoVA", "Ashburn"]) == []


# ------------------------------------------------------------------ user file


def test_user_file_adds_replaces_and_disables(tmp_path: Path, resolver: PlaceResolver) -> None:
    extra = tmp_path / "markets.toml"
    extra.write_text(
        """
ambiguous_words = ["Kajaani"]

[groups]
"Nordics" = ["Stockholm", "Oslo", "Kajaani"]

[[market]]
name = "Kajaani"
country = "FI"
macro_region = "EMEA"
sub_region = "Northern Europe"
aliases = ["Kainuu"]
cities = ["Kajaani"]

[[market]]
name = "London"
country = "GB"
macro_region = "EMEA"
sub_region = "British Isles"
cities = ["London", "Docklands"]

[[market]]
name = "Memphis"
disabled = true
""",
        encoding="utf-8",
    )
    table = load_market_table(extra)
    assert table.market("kainuu") == Market("Kajaani", "FI", "EMEA", "Northern Europe")
    assert table.market("London") == Market("London", "GB", "EMEA", "British Isles")
    assert table.market("Memphis") is None
    assert table.market("Frankfurt") is not None  # shipped markets stay
    assert table.markets_for(resolver.resolve_all(["Kajaani, Finland"], [])[0]) == ["Kajaani"]
    # London was replaced: Slough is no longer a member
    assert table.markets_for(resolver.resolve_all(["Slough, UK"], [])[0]) == []
    assert table.covered_in("This role covers our data center sites across the Nordics.") == [
        "Stockholm",
        "Oslo",
        "Kajaani",
    ]
    assert load_market_table(None).market("Memphis") is not None  # the shipped table is untouched


def test_malformed_user_file_is_an_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[market]]\nname = "X"\ncountry = "US"\nmacro_region = "MARS"\nsub_region = "y"\n')
    with pytest.raises(ValueError, match=r"bad\.toml.*macro_region"):
        load_market_table(bad)
    bad.write_text('[[market]]\nname = "X"\n')
    with pytest.raises(ValueError, match=r"lacks country"):
        load_market_table(bad)
    bad.write_text("[[market\n")
    with pytest.raises(ValueError, match=r"bad\.toml"):
        load_market_table(bad)


# ------------------------------------------------------------------ covered markets


COVERED = [
    ("You will manage our hubs in Frankfurt, Amsterdam, Paris and Dublin.", ["Frankfurt", "Amsterdam", "Paris", "Dublin"]),
    ("This role covers the FLAP-D markets.", ["Frankfurt", "London", "Amsterdam", "Paris", "Dublin"]),
    ("Oversee construction at our sites across Tokyo and Osaka.", ["Tokyo", "Osaka"]),
    ("You will travel to our data center campuses in Abilene and Quincy, WA.", ["Abilene", "Quincy"]),
    ("Support new capacity in Northern Virginia (Ashburn) and Phoenix.", ["Northern Virginia", "Phoenix"]),
    ("Lead power procurement for our campuses in NoVA, Dallas, and Zürich.", ["Northern Virginia", "Dallas", "Zurich"]),
    ("Manage site selection across Johor and Singapore.", ["Johor", "Singapore"]),
    (
        "Based in our Dublin office, you'll manage data center sites across Frankfurt and Amsterdam.",
        ["Frankfurt", "Amsterdam"],
    ),
    ("Based in London or Dublin, you will run our facilities across the FLAP-D markets.",
     ["Frankfurt", "London", "Amsterdam", "Paris", "Dublin"]),
]  # fmt: skip

NOT_COVERED = [
    "We have offices in London, Dublin, Tokyo and Sydney.",
    "This role is based in London.",
    "Collaborate closely with teammates across SF and London.",
    "Anthropic is a public benefit corporation headquartered in San Francisco.",
    "This role can be based in San Francisco, New York, or London, with significant travel expected to support opportunities in priority regions.",
    "Note: the team's hub is in San Francisco, so we require all candidates to be based at least 25% in London.",
    "Role-specific policy: For this role, we expect all staff to be able to work from our London office at least 3 days a week.",
    "Sterling candidates will manage critical facilities.",  # an ordinary word, not the town
    "We love Tokyo and Osaka.",  # no covering cue
    "Build and manage the foundational team in Seoul.",
    "Design high-impact presence at conferences in major markets like London, Paris, Tokyo and Singapore.",
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), COVERED)
def test_covered_markets_with_a_cue(table: MarketTable, text: str, expected: list[str]) -> None:
    assert table.covered_in(text) == expected


@pytest.mark.parametrize("text", NOT_COVERED)
def test_no_covered_markets_without_a_cue_or_where_based(table: MarketTable, text: str) -> None:
    assert table.covered_in(text) == []


def test_weak_cues_count_in_an_infrastructure_description(table: MarketTable) -> None:
    sentence = "You will be responsible for the Frankfurt, Amsterdam and Paris markets."
    assert table.covered_in(sentence) == []
    described = "We build and operate data centers. " + sentence
    assert table.covered_in(described) == ["Frankfurt", "Amsterdam", "Paris"]


def _plain(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "\n", path.read_text(encoding="utf-8")))


def test_no_covered_markets_in_real_board_boilerplate(table: MarketTable) -> None:
    """Every description of the Anthropic corpus (office lists, "About Anthropic", policies, travel notes):
    none of those postings covers a data-center market."""
    descriptions = sorted((CORPUS / "descriptions").glob("*.html")) if CORPUS.exists() else []
    if not descriptions:
        pytest.skip("shared corpus absent")
    flagged = {p.name: table.covered_in(_plain(p)) for p in descriptions}
    assert {k: v for k, v in flagged.items() if v} == {}
