"""Benchmark of the place resolver: gazetteer index load time (cold build, warm cache), memory, and place
resolutions per second (first sight of a string, and memoised repeats).

    .venv/bin/python bench/bench_places.py [--skip-cold]

Each measurement runs in a fresh subprocess so that module caches do not flatter the figures. The cold build
uses a temporary cache directory (the user's cache is not touched); the warm load reads the user's cache
(built first if absent).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD = textwrap.dedent(
    """
    import json, resource, time
    t0 = time.perf_counter()
    from infrasignal.classify import gazetteer
    t1 = time.perf_counter()
    index, how = gazetteer.load_index()
    t2 = time.perf_counter()
    from infrasignal.classify.places import PlaceResolver
    r = PlaceResolver(index)
    r.resolve_all(["Sydney, Australia"], [])
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"how": how, "import_s": t1 - t0, "load_s": t2 - t1, "first_lookup_s": t3 - t2,
                      "max_rss_mb": rss}))
    """
)

RESOLVE = textwrap.dedent(
    """
    import json, random, time
    from infrasignal.classify.places import load_place_resolver
    r = load_place_resolver()
    strings = json.loads(open(STRINGS).read())
    random.seed(1)
    t = time.perf_counter()
    for s in strings:
        r.resolve_all([s], [])
    first = len(strings) / (time.perf_counter() - t)
    n = 200_000
    picks = [random.choice(strings) for _ in range(n)]
    t = time.perf_counter()
    for s in picks:
        r.resolve_all([s], [])
    memo = n / (time.perf_counter() - t)
    # first sight again, the gazetteer shards now decoded: the cost of reading a new string itself
    for cache in (r._string, r._structured, r._city_cache, r._token_cache):
        cache.cache_clear()
    t = time.perf_counter()
    for s in strings:
        r.resolve_all([s], [])
    logic = len(strings) / (time.perf_counter() - t)
    print(json.dumps({"distinct_strings": len(strings), "first_sight_per_s": first, "memoised_per_s": memo,
                      "first_sight_decoded_per_s": logic}))
    """
)


def _strings() -> list[str]:
    """Location strings in the shapes of real boards: the corpus, the reference samples, and synthetic
    "City, ST" / "City, Country" strings (to measure first-sight cost on many distinct strings)."""
    out: set[str] = set()
    corpus = Path("/work/shared/corpus/anthropic-2026-01/jobs.json")
    if corpus.exists():
        out.update(j["location"] for j in json.loads(corpus.read_text()))
    samples = Path("/work/shared/reference/ats-samples/realworld_titles_locations_infra.json")
    if samples.exists():

        def walk(x: object) -> None:
            if isinstance(x, dict):
                for k, v in x.items():
                    if k == "location" and isinstance(v, str):
                        out.add(v)
                    else:
                        walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(json.loads(samples.read_text()))
    towns = [
        ("Ashburn", "VA"), ("Quincy", "WA"), ("New Albany", "OH"), ("Council Bluffs", "IA"), ("Papillion", "NE"),
        ("Abilene", "TX"), ("Ellendale", "ND"), ("Sterling", "VA"), ("Hillsboro", "OR"), ("Cheyenne", "WY"),
        ("Dallas", "TX"), ("Phoenix", "AZ"), ("Chicago", "IL"), ("Atlanta", "GA"), ("Reno", "NV"),
        ("Santa Clara", "CA"), ("San Jose", "CA"), ("Seattle", "WA"), ("Austin", "TX"), ("Denver", "CO"),
    ]  # fmt: skip
    abroad = [
        ("Tokyo", "Japan"), ("Osaka", "Japan"), ("Sydney", "Australia"), ("Melbourne", "Australia"),
        ("Frankfurt", "Germany"), ("London", "UK"), ("Dublin", "IE"), ("Paris", "France"), ("Zürich", "CH"),
        ("Amsterdam", "Netherlands"), ("Singapore", "Singapore"), ("Seoul", "South Korea"), ("Mumbai", "India"),
        ("Madrid", "Spain"), ("Milan", "Italy"), ("Warsaw", "Poland"), ("Oslo", "Norway"), ("Toronto", "Canada"),
    ]  # fmt: skip
    for city, state in towns:
        out.update(
            {
                f"{city}, {state}",
                f"{city}, {state}, United States",
                f"US, {state}, {city}",
                f"{city}, {state} - US",
            }
        )
    for city, country in abroad:
        out.update({f"{city}, {country}", f"{country}, {city}", f"{city}", f"Remote - {country}"})
    return sorted(out)


def _run(code: str, env: dict[str, str]) -> dict[str, float | str]:
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    result: dict[str, float | str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="do not measure the cold build")
    args = parser.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")

    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            cold = _run(LOAD, {**env, "INFRASIGNAL_CACHE_DIR": tmp})
            warm_tmp = _run(LOAD, {**env, "INFRASIGNAL_CACHE_DIR": tmp})
        print(
            f"index cold build : {cold['load_s']:.2f} s ({cold['how']}), max RSS {cold['max_rss_mb']:.0f} MB"
        )
        print(f"index warm load  : {warm_tmp['load_s'] * 1000:.1f} ms ({warm_tmp['how']})")
    _run(LOAD, env)  # make sure the user's cache exists
    warm = _run(LOAD, env)
    print(
        f"index warm load  : {warm['load_s'] * 1000:.1f} ms ({warm['how']}, user cache); first lookup "
        f"{warm['first_lookup_s'] * 1000:.1f} ms; max RSS {warm['max_rss_mb']:.0f} MB (whole process)"
    )

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(_strings(), fh)
        strings_file = fh.name
    try:
        res = _run(f"STRINGS = {strings_file!r}\n" + RESOLVE, env)
    finally:
        os.unlink(strings_file)
    print(
        f"resolution       : {res['distinct_strings']} distinct strings; first sight in a fresh process "
        f"{res['first_sight_per_s']:,.0f}/s (decodes gazetteer shards as it goes), first sight with shards "
        f"decoded {res['first_sight_decoded_per_s']:,.0f}/s, memoised repeats {res['memoised_per_s']:,.0f}/s"
    )


if __name__ == "__main__":
    main()
