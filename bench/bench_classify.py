"""Classifier throughput on one core: postings per second for title + department + location (the
issue's target: >= 20,000/s), and, for reference, with the description too.

    .venv/bin/python bench/bench_classify.py [--postings 50000] [--seed 7]

Times are CPU time of this process (time.process_time), so other load on the machine skews them less.
Postings are random combinations of real titles, departments and location strings (the labeled
evaluation set and the Anthropic corpus when it is present), so most combinations are distinct. Uses the
full `load_classifier()` (places + markets + disciplines) when those modules exist, else the discipline
rules alone (and says so).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

EVAL_SET = ROOT / "tests" / "data" / "eval_postings.jsonl"
CORPUS = ROOT.parent / "shared" / "corpus" / "anthropic-2026-01"


def pools() -> tuple[list[str], list[str], list[str], list[tuple[str, str, str, str]]]:
    """Distinct titles, departments, location strings, and (title, dept, location, description) postings."""
    titles: set[str] = set()
    departments: set[str] = set()
    locations: set[str] = set()
    described: list[tuple[str, str, str, str]] = []
    for line in EVAL_SET.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        titles.add(rec["title"])
        departments.add(rec["department"])
        locations.update(rec["locations"])
    if (CORPUS / "jobs.json").exists():
        from infrasignal.sources.base import html_to_text

        for job in json.loads((CORPUS / "jobs.json").read_text(encoding="utf-8")):
            titles.add(job["title"])
            departments.add(job["team"])
            locations.add(job["location"])
            path = CORPUS / "descriptions" / f"{job['id']}.html"
            if path.exists():
                text = html_to_text(path.read_text(encoding="utf-8"))
                described.append((job["title"], job["team"], job["location"], text))
    return sorted(titles), sorted(departments), sorted(locations), described


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} postings/s  ({n:,} in {seconds:.2f} s, {seconds / n * 1e6:.1f} µs each)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postings", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    t0 = time.process_time()
    from infrasignal.classify.disciplines import load_rules

    rules = load_rules()
    t_rules = time.process_time() - t0
    clf: Any = None
    try:
        from infrasignal.classify import load_classifier

        t0 = time.process_time()
        clf = load_classifier()
        t_clf = time.process_time() - t0
    except ImportError as exc:
        print(f"places/markets not available ({exc}); measuring the discipline rules only")

    titles, departments, locations, described = pools()
    rng = random.Random(args.seed)
    postings = [
        (rng.choice(titles), rng.choice(departments), rng.choice(locations)) for _ in range(args.postings)
    ]
    distinct = len(set(postings))
    print(
        f"{len(rules)} rules loaded in {t_rules * 1000:.0f} ms"
        + (f"; full classifier in {t_clf * 1000:.0f} ms" if clf is not None else "")
    )
    print(
        f"{args.postings:,} postings from {len(titles)} titles x {len(departments)} departments x "
        f"{len(locations)} locations ({distinct:,} distinct)\n"
    )

    t0 = time.process_time()
    for title, dept, _ in postings:
        rules.match(title, dept, "")
    print("disciplines, title + department:        ", rate(len(postings), time.process_time() - t0))

    if clf is not None:
        t0 = time.process_time()
        for title, dept, loc in postings:
            clf.classify(title, dept, [loc])
        print("full classify, title + dept + location: ", rate(len(postings), time.process_time() - t0))

    if described:
        rounds = max(1, 5000 // len(described))
        t0 = time.process_time()
        for _ in range(rounds):
            for title, dept, loc, desc in described:
                if clf is not None:
                    clf.classify(title, dept, [loc], desc)
                else:
                    rules.match(title, dept, desc)
        n = rounds * len(described)
        avg = sum(len(d[3]) for d in described) // len(described)
        print(f"with description (avg {avg:,} chars):     ", rate(n, time.process_time() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
