"""Infra and discipline tags from a posting's title, department and description, with evidence.

The rules live in a data file (`data/rules.toml`, format documented in its header): weighted phrases on
the title (strong), the department (medium) and the description (weak), each supporting one tag ("infra"
or one of DISCIPLINES), and negative rules that subtract from a tag or veto it outright. A posting is
infra when its infra score reaches the threshold and no infra veto matched; disciplines are given only to
infra postings, each when its own score reaches the discipline threshold.

Phrases are matched on whole words. In the title and department, text and phrases are lower-cased,
accents dropped, and every run of characters that is not a letter or digit becomes one space ("Data-Center
& Colo" -> "data center colo"), so "data center" never matches inside "metadata centers". Descriptions are
long, so they are only lower-cased, and a phrase's words may be joined by a space or a hyphen there. A
trailing `*` matches a word prefix ("datacenter*" also matches "datacenters"), a leading `*` a word suffix.
All phrases of a field are compiled once into one Aho-Corasick automaton, so matching costs the same for
20 rules or 2,000. In the title and department a rule counts once; in the description each distinct
phrase counts, up to `description_cap` per tag.

A user file of the same format ([classify] rules_file in config.toml) adds rules, replaces shipped rules
of the same name (fields given override the shipped ones), turns them off (`enabled = false`) and
overrides settings. Pure: the only I/O is reading the two files.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick

from infrasignal.classify import DISCIPLINES, Evidence

FIELDS = ("title", "department", "description")
TAGS = ("infra", *DISCIPLINES)
SHIPPED_RULES = Path(__file__).with_name("data") / "rules.toml"

_NON_WORD = re.compile(r"[\W_]+")
_COMBINING = re.compile(r"[\u0300-\u036f]")  # accents left as separate marks by NFKD
_RULE_KEYS = {"name", "tag", "field", "weight", "patterns", "veto", "enabled", "note"}
_SETTING_KEYS = {"infra_threshold", "discipline_threshold", "description_cap"}


class RulesError(ValueError):
    """A rules file that cannot be used; the message is one line naming the file and the rule."""


def normalize(text: str) -> str:
    """Lower-case `text`, drop accents ("Técnico" -> "tecnico"), turn every run of non-word characters
    into one space, and pad it with spaces so a phrase " data center " matches whole words only."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


@dataclass(frozen=True, slots=True)
class Rule:
    """Phrases in one field supporting (weight > 0) or opposing (weight < 0, or veto) one tag."""

    name: str
    tag: str
    field: str
    weight: float
    patterns: tuple[str, ...]
    veto: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    infra_threshold: float = 1.0
    discipline_threshold: float = 1.0
    description_cap: float = 1.0  # the most the description can add to any one tag


class Hit(NamedTuple):
    """A rule that matched in one field, with the words that matched (normalised). A named tuple: sets of
    hits are cache keys, and tuples hash and compare in C."""

    rule: int
    field: str
    text: str


@dataclass(slots=True)
class _Score:
    total: float = 0.0
    description: float = 0.0
    vetoed: bool = False
    hits: list[Hit] = field(default_factory=list)


class RuleSet:
    """The compiled rules: one automaton per field, built once."""

    def __init__(self, rules: Iterable[Rule], settings: Settings | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.settings = settings or Settings()
        self._automata: dict[str, Any] = {}
        for fld in ("title", "department"):
            keys: dict[str, list[tuple[int, bool, bool]]] = {}
            for i, rule in enumerate(self.rules):
                if rule.field == fld:
                    for pattern in rule.patterns:
                        key, head, tail = _pattern_key(pattern)
                        keys.setdefault(key, []).append((i, head, tail))
            self._automata[fld] = _automaton({k: (k, tuple(v)) for k, v in keys.items()})
        # Descriptions are long: rather than normalising the whole text (a regex pass costing ~0.7 ms
        # on a typical 7,000-character description), match the phrases on the lower-cased text with
        # their words joined by a space or a hyphen, and check the word boundaries of each match.
        desc_keys: dict[str, list[tuple[int, bool, bool]]] = {}
        for i, rule in enumerate(self.rules):
            if rule.field == "description":
                for pattern in rule.patterns:
                    key, head, tail = _pattern_key(pattern)
                    desc_keys.setdefault(key.strip(), []).append((i, head, tail))
        # Each variant maps to (its length, its targets); a target is (rule, leading *, trailing *, id of
        # the (rule, phrase) pair, so a phrase that matches again is skipped by an int lookup).
        variants: dict[str, tuple[int, tuple[tuple[int, bool, bool, int], ...]]] = {}
        pair_ids: dict[tuple[int, str], int] = {}
        for core, targets in desc_keys.items():
            numbered = tuple(
                (rule, head, tail, pair_ids.setdefault((rule, core), len(pair_ids)))
                for rule, head, tail in targets
            )
            for variant in {core, core.replace(" ", "-")}:
                variants[variant] = (len(variant), numbered)
        self._automata["description"] = _automaton(variants)
        # Titles and departments repeat across postings and boards, and so do the sets of rules matched:
        # each is matched, and each set of hits scored, once (bounded caches; the results are immutable).
        self._title_hits = lru_cache(maxsize=16_384)(self._hits_uncached_title)
        self._department_hits = lru_cache(maxsize=4096)(self._hits_uncached_department)
        self._scored = lru_cache(maxsize=16_384)(self._score)

    def __len__(self) -> int:
        return len(self.rules)

    def hits(self, fld: str, text: str) -> list[Hit]:
        """The rules matching in `text` as field `fld`: in the title and department each rule once (its
        first match); in the description each distinct phrase once."""
        automaton = self._automata.get(fld)
        if automaton is None or not text:
            return []
        if fld == "description":
            return self._description_hits(automaton, text)
        norm = normalize(text)
        seen: set[int] = set()
        out: list[Hit] = []
        for end, (phrase, targets) in automaton.iter(norm):
            for rule, head, tail in targets:
                if rule in seen:
                    continue
                seen.add(rule)
                start, stop = end - len(phrase) + 1, end + 1
                if head:  # leading * : extend back to the start of the word
                    start = norm.rfind(" ", 0, start) + 1
                if tail:  # trailing * : extend to the end of the word
                    stop = norm.find(" ", stop)
                out.append(Hit(rule, fld, norm[start:stop].strip()))
        return out

    @staticmethod
    def _description_hits(automaton: Any, text: str) -> list[Hit]:
        low = text.lower()  # no accent folding here: description rules are English, and it costs
        n = len(low)
        seen: set[int] = set()
        out: list[Hit] = []
        for end, (size, targets) in automaton.iter(low):
            start, stop = end - size + 1, end + 1
            word_before = start > 0 and low[start - 1].isalnum()
            word_after = stop < n and low[stop].isalnum()
            for rule, head, tail, pair in targets:
                if (word_before and not head) or (word_after and not tail) or pair in seen:
                    continue
                seen.add(pair)
                a, b = start, stop
                while head and a > 0 and low[a - 1].isalnum():
                    a -= 1
                while tail and b < n and low[b].isalnum():
                    b += 1
                out.append(Hit(rule, "description", low[a:b]))
        return out

    def _hits_uncached_title(self, title: str) -> tuple[Hit, ...]:
        return tuple(self.hits("title", title))

    def _hits_uncached_department(self, department: str) -> tuple[Hit, ...]:
        return tuple(self.hits("department", department))

    def match(
        self, title: str, department: str = "", description: str = ""
    ) -> tuple[bool, list[str], list[Evidence]]:
        """(infra, disciplines in DISCIPLINES order, evidence). Evidence lists the rules behind each given
        tag, and for a posting that is not infra the infra rules that matched (to show why not)."""
        description_hits = tuple(self.hits("description", description))
        hits = self._title_hits(title) + self._department_hits(department) + description_hits
        if not hits:
            return False, [], []
        infra, disciplines, evidence = self._scored(hits)
        return infra, list(disciplines), list(evidence)

    def _score(self, hits: tuple[Hit, ...]) -> tuple[bool, tuple[str, ...], tuple[Evidence, ...]]:
        """Scores of the tags `hits` support -> (infra, disciplines, evidence); see `match`."""
        cap = self.settings.description_cap
        scores: dict[str, _Score] = {}
        for hit in hits:
            rule = self.rules[hit.rule]
            score = scores.get(rule.tag)
            if score is None:
                score = scores[rule.tag] = _Score()
            score.hits.append(hit)
            if rule.veto:
                score.vetoed = True
            elif hit.field == "description" and rule.weight > 0:
                room = cap - score.description
                add = min(rule.weight, room) if room > 0 else 0.0
                score.description += add
                score.total += add
            else:
                score.total += rule.weight
        infra_score = scores.get("infra")
        infra = (
            infra_score is not None
            and not infra_score.vetoed
            and infra_score.total >= self.settings.infra_threshold - 1e-9
        )
        disciplines: list[str] = []
        if infra:
            threshold = self.settings.discipline_threshold - 1e-9
            disciplines = [
                d
                for d in DISCIPLINES
                if (s := scores.get(d)) is not None and not s.vetoed and s.total >= threshold
            ]
        evidence = [self._evidence("infra", h) for h in infra_score.hits] if infra_score else []
        for d in disciplines:
            evidence += [self._evidence(d, h) for h in scores[d].hits]
        return infra, tuple(disciplines), tuple(evidence)

    def _evidence(self, tag: str, hit: Hit) -> Evidence:
        rule = self.rules[hit.rule]
        return Evidence(tag, rule.name, hit.field, hit.text, -1.0 if rule.veto else rule.weight)


def _automaton(entries: dict[str, Any]) -> Any:
    """An Aho-Corasick automaton over `entries` (key -> value), None when there are none."""
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for key, value in entries.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    return automaton


def _pattern_key(pattern: str) -> tuple[str, bool, bool]:
    """A phrase -> (automaton key, leading wildcard, trailing wildcard)."""
    raw = pattern.strip()
    head, tail = raw.startswith("*"), raw.endswith("*")
    core = normalize(raw.strip("*")).strip()
    if not core:
        raise RulesError(f"empty pattern {pattern!r}")
    return ("" if head else " ") + core + ("" if tail else " "), head, tail


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML: {exc}") from exc


def _rule_from(entry: dict[str, Any], where: str) -> Rule:
    name = entry.get("name")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise RulesError(f"{where}: rule {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("name", "tag", "field", "weight", "patterns"):
        if key not in entry:
            raise RulesError(f"{where}: rule {name!r}: missing {key!r}")
    if entry["tag"] not in TAGS:
        raise RulesError(f"{where}: rule {name!r}: tag {entry['tag']!r} is not one of {', '.join(TAGS)}")
    if entry["field"] not in FIELDS:
        raise RulesError(
            f"{where}: rule {name!r}: field {entry['field']!r} is not one of {', '.join(FIELDS)}"
        )
    weight = entry["weight"]
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise RulesError(f"{where}: rule {name!r}: weight must be a number")
    patterns = entry["patterns"]
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise RulesError(f"{where}: rule {name!r}: patterns must be a non-empty list of strings")
    try:
        for p in patterns:
            _pattern_key(p)
    except RulesError as exc:
        raise RulesError(f"{where}: rule {name!r}: {exc}") from None
    return Rule(
        str(name), entry["tag"], entry["field"], float(weight), tuple(patterns), bool(entry.get("veto"))
    )


def _merge(
    base: dict[str, dict[str, Any]],
    origin: dict[str, str],
    settings: dict[str, Any],
    doc: dict[str, Any],
    where: str,
) -> None:
    """Apply one rules document to the rule entries (by name, in order) and the settings."""
    extra = set(doc) - {"settings", "rule"}
    if extra:
        raise RulesError(
            f"{where}: unknown table(s) {', '.join(sorted(extra))} (expected [settings], [[rule]])"
        )
    user_settings = doc.get("settings", {})
    unknown = set(user_settings) - _SETTING_KEYS
    if unknown:
        raise RulesError(f"{where}: [settings]: unknown key(s) {', '.join(sorted(unknown))}")
    settings.update(user_settings)
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise RulesError(f"{where}: `rule` must be an array of tables ([[rule]])")
    names: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise RulesError(f"{where}: every [[rule]] needs a name")
        name = entry["name"]
        if name in names:
            raise RulesError(f"{where}: rule {name!r} appears twice")
        names.add(name)
        origin[name] = where
        if name in base:
            base[name] = base[name] | entry
        else:
            base[name] = dict(entry)


def rules_from_documents(docs: Iterable[tuple[dict[str, Any], str]]) -> RuleSet:
    """A RuleSet from parsed rule documents applied in order (shipped first, then the user's)."""
    entries: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    settings: dict[str, Any] = {}
    for doc, where in docs:
        _merge(entries, origin, settings, doc, where)
    rules = [_rule_from(e, origin[name]) for name, e in entries.items() if e.get("enabled", True)]
    try:
        built = Settings(**{k: float(v) for k, v in settings.items()})
    except (TypeError, ValueError) as exc:
        raise RulesError(f"[settings]: {exc}") from None
    return RuleSet(rules, built)


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    return _read(SHIPPED_RULES)


@lru_cache(maxsize=8)
def load_rules(extra_file: Path | None = None) -> RuleSet:
    """The shipped rules, extended or overridden by the user's file (cached per file)."""
    docs: list[tuple[dict[str, Any], str]] = [(_shipped(), SHIPPED_RULES.name)]
    if extra_file is not None:
        docs.append((_read(Path(extra_file)), str(extra_file)))
    return rules_from_documents(docs)


__all__ = ["FIELDS", "TAGS", "Rule", "RuleSet", "RulesError", "Settings", "load_rules", "normalize"]
