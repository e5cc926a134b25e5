"""The classifier measured against the labeled evaluation set (tests/data/eval_postings.jsonl): fails when
infra precision or recall drops below 0.95 or place exact-match below 0.97 (thresholds in
classify/evaluate.py, as the classifier issue states)."""

from __future__ import annotations

from collections import Counter

import pytest

from infrasignal.classify import DISCIPLINES
from infrasignal.classify.evaluate import (
    INFRA_PRECISION_MIN,
    INFRA_RECALL_MIN,
    PLACE_EXACT_MIN,
    Report,
    evaluate,
    load_eval_set,
    load_parts,
    places_match,
)
from infrasignal.model import Place

RECORDS = load_eval_set()


@pytest.fixture(scope="module")
def report() -> Report:
    match, classifier = load_parts()
    return evaluate(RECORDS, match, classifier)


def test_eval_set_is_big_varied_and_well_formed() -> None:
    assert len(RECORDS) >= 300
    assert len({r["id"] for r in RECORDS}) == len(RECORDS)
    infra = sum(r["infra"] for r in RECORDS)
    assert 0.3 < infra / len(RECORDS) < 0.7  # both classes well represented
    companies = Counter(r["company"] for r in RECORDS)
    assert len(companies) >= 30
    for r in RECORDS:
        assert set(r["disciplines"]) <= set(DISCIPLINES), r["id"]
        assert r["infra"] or not r["disciplines"], r["id"]  # disciplines only on infra roles
        assert isinstance(r["locations"], list) and isinstance(r["places"], list), r["id"]
    for d in DISCIPLINES:
        assert sum(d in r["disciplines"] for r in RECORDS) >= 8, d


def test_infra_precision_and_recall(report: Report) -> None:
    misses = [m for m in report.misses if m.what == "infra"]
    assert report.infra.precision >= INFRA_PRECISION_MIN, misses
    assert report.infra.recall >= INFRA_RECALL_MIN, misses


def test_disciplines_are_mostly_right(report: Report) -> None:
    # not a stated target: a floor that catches a broken rules file
    for d, pr in report.disciplines.items():
        assert pr.precision >= 0.8 and pr.recall >= 0.8, (d, pr)


def test_place_exact_match(report: Report) -> None:
    if not report.place_checked:
        pytest.skip("places.py / markets.py not available")
    misses = [m for m in report.misses if m.what == "places"]
    assert report.place_accuracy is not None
    assert report.place_accuracy >= PLACE_EXACT_MIN, misses


def test_place_comparison_rules() -> None:
    expected = [{"city": "Munich", "country": "DE"}, {"city": "Ashburn", "region": "VA", "country": "US"}]
    got = [Place("Ashburn", "Virginia", "US"), Place("München", "Bavaria", "DE")]
    assert places_match(expected, got)
    assert not places_match(expected, got[:1])
    assert not places_match(
        [{"city": "Ashburn", "region": "VA", "country": "US"}], [Place("Ashburn", "IL", "US")]
    )
    assert places_match([{"country": "US", "remote": True}], [Place(country="US", remote=True)])
    assert not places_match([{"country": "US", "remote": True}], [Place(country="US")])
    assert places_match([], [])


def test_market_exact_match(report: Report) -> None:
    # Labels follow markets.toml's convention: a market is a cluster of data-center sites, so company
    # offices in San Francisco or Washington, DC are not in Silicon Valley or Northern Virginia.
    if not report.place_checked:
        pytest.skip("places.py / markets.py not available")
    misses = [m for m in report.misses if m.what == "markets"]
    assert report.market_accuracy is not None
    assert report.market_accuracy >= 0.95, misses
