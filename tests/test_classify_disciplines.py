"""Infra and discipline rules (classify/disciplines.py + data/rules.toml): positive and negative cases per
discipline and for infra, evidence contents, the description cap, and a user rules file that adds,
edits and switches off rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrasignal.classify import DISCIPLINES
from infrasignal.classify.disciplines import (
    Rule,
    RulesError,
    RuleSet,
    Settings,
    load_rules,
    normalize,
    rules_from_documents,
)

RULES = load_rules()


def tags(title: str, department: str = "", description: str = "") -> tuple[bool, list[str]]:
    infra, disciplines, _ = RULES.match(title, department, description)
    return infra, disciplines


# --- infra -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "department"),
    [
        ("Data Center Facility Operations Lead", "Compute"),
        ("Technical Program Manager, Data Center Infrastructure", "Technical Program Management "),
        ("Capacity Engineer, Compute", "Compute"),
        ("Transaction Manager", "Compute"),
        ("Director, Compute Infrastructure Procurement ", "Finance"),
        ("Commercial Counsel, Colo & Networks", "Legal"),
        ("Critical Environment Technician", "Cloud Operations + Innovation"),
        ("Data Center Controls Tech,, Andrews, Texas", ""),
        ("SkillBridge - Critical Facilities Engineer, Data Center - Cohort Q1' 2027", ""),
        ("Senior Network Engineer", "Data Center Business"),
        ("Wiring Technician", "Manufacturing"),
        ("Site Engineer II", "Operations"),
        ("Datacentre Technician", ""),
    ],
)
def test_physical_infrastructure_roles_are_infra(title: str, department: str) -> None:
    assert tags(title, department)[0] is True


@pytest.mark.parametrize(
    ("title", "department"),
    [
        ("Senior Software Engineer, Infrastructure ", "Software Engineering - Infrastructure"),
        ("Infrastructure Engineer, Sandboxing", "Software Engineering - Infrastructure"),
        ("ML Infrastructure Engineer, Safeguards", "AI Research & Engineering"),
        ("Head of Infrastructure Accounting ", "Finance"),
        ("Accounting Manager- Capital Assets", "Finance"),
        ("Site Reliability Engineer, Data Center Fabric", ""),
        ("Engineering Manager, Networking", "Software Engineering - Infrastructure"),
        ("Network Engineer, Production Networking", "Software Engineering - Infrastructure"),
        ("Sales Capacity & Territory Planning Lead", "Sales"),
        ("Capacity Planning Manager, Support", "Product Management, Support, & Operations"),
        ("Deal Desk Manager", "Sales"),
        ("Contracts Manager", "Legal"),
        ("Enterprise Account Executive, Data Center Solutions", "Sales"),
        ("Security Risk & Compliance, Cloud & Data Centers", "Security"),
        ("Platform Hardware Security", "Security"),
        ("Data Center Recruiter", "HR"),
        ("[Contract, Part-time] Workplace Coordinator - Japan", "People"),
        ("Area Manager, Fulfillment Center", "Operations"),
        ("", ""),
    ],
)
def test_lookalikes_are_not_infra(title: str, department: str) -> None:
    assert tags(title, department) == (False, [])


def test_site_reliability_is_vetoed_whatever_else_matches() -> None:
    infra, _, evidence = RULES.match("Site Reliability Engineer, Data Center Power", "Data Center Operations")
    assert infra is False
    assert any(e.rule == "infra-veto-title-sre" and e.weight < 0 for e in evidence)


# --- disciplines -------------------------------------------------------------------------------------

POSITIVE = {
    "electrical": [("Data Center Electrical Engineer", "Compute"), ("Substation Design Engineer", "")],
    "mechanical": [
        ("Data Center Mechanical Engineer", ""),
        ("Mechanical Engineer, Liquid Cooling", "Infrastructure"),
    ],
    "energy": [("Energy Lead, APAC", "Compute"), ("Senior Utility Interconnection Manager", "AWS Energy")],
    "contracts": [
        ("Commercial Counsel, Datacenters & Construction", "Legal"),
        ("Data Center Leasing Manager", ""),
    ],
    "construction": [("Data Center Construction Manager", ""), ("Commissioning Manager, Data Center", "")],
    "operations": [("Data Center Technician - Quincy, WA", ""), ("Critical Facilities Engineer II", "")],
    "sourcing": [
        ("Director, Compute Infrastructure Procurement", "Finance"),
        ("Data Center Procurement Manager", ""),
    ],
    "site": [("Data Center Site Selection Manager", "Compute"), ("Site Acquisition Manager", "Real Estate")],
    "capacity": [("Capacity Engineer, Compute", "Compute"), ("Data Center Capacity Planning Manager", "")],
}

NEGATIVE = {
    # an infra role that must not get the discipline
    "electrical": ("Strategic Sourcing Manager, Electrical Equipment", "Supply Chain"),
    "mechanical": ("Data Center Electrical Engineer", ""),
    "energy": ("Procurement Manager, Power Equipment", "Infrastructure"),
    "contracts": ("Data Center Technician", ""),
    "construction": ("Design Manager, Electrical", "Global Design & Construction"),
    "operations": ("Compute Capacity Strategy & Operations", "Compute"),
    "sourcing": ("Data Center Operations Manager", ""),
    "site": ("Site Engineer I", "Operations"),
    "capacity": ("Data Center Technician", ""),
}


@pytest.mark.parametrize(
    ("discipline", "title", "department"), [(d, t, dep) for d, cases in POSITIVE.items() for t, dep in cases]
)
def test_discipline_positive(discipline: str, title: str, department: str) -> None:
    infra, disciplines = tags(title, department)
    assert infra and discipline in disciplines


@pytest.mark.parametrize(
    ("discipline", "title", "department"), [(d, t, dep) for d, (t, dep) in NEGATIVE.items()]
)
def test_discipline_negative(discipline: str, title: str, department: str) -> None:
    infra, disciplines = tags(title, department)
    assert infra and discipline not in disciplines


def test_disciplines_only_for_infra_roles_and_in_canonical_order() -> None:
    assert tags("Electrical Engineer, Battery Systems", "Hardware Engineering") == (False, [])
    infra, disciplines = tags(
        "Procurement Manager, Power & Energy Equipment Construction", "Data Center Supply Chain"
    )
    assert infra
    assert disciplines == [d for d in DISCIPLINES if d in disciplines]


def test_site_reliability_never_gives_site() -> None:
    _, disciplines = tags("Site Reliability Engineer, Data Center Site Selection Tools", "Data Centers")
    assert "site" not in disciplines


# --- description ---------------------------------------------------------------------------------------

DC_CONTRACTS = (
    "Negotiate colocation agreements, data center lease agreements and power purchase agreements with "
    "developers and utilities."
)


def test_contracts_manager_is_infra_only_with_data_center_content() -> None:
    assert tags("Contracts Manager", "Legal", DC_CONTRACTS) == (True, ["contracts"])
    generic = "Review, draft and negotiate commercial and procurement contracts with customers and vendors."
    assert tags("Contracts Manager", "Legal", generic) == (False, [])


def test_description_cannot_outweigh_a_software_title() -> None:
    heavy = " ".join([DC_CONTRACTS, "data centers megawatts substations chillers construction"] * 5)
    assert tags("Software Engineer, Infrastructure", "", heavy) == (False, [])


def test_description_alone_is_capped() -> None:
    rules = RuleSet(
        [
            Rule("t", "infra", "description", 0.6, ("data center",)),
            Rule("u", "infra", "description", 0.6, ("colocation",)),
        ],
        Settings(infra_threshold=1.0, description_cap=0.9),
    )
    assert rules.match("Program Manager", "", "data center colocation")[0] is False
    assert rules.match("Program Manager", "", "data center data center")[0] is False


# --- evidence --------------------------------------------------------------------------------------------


def test_evidence_names_rule_field_words_and_weight() -> None:
    infra, disciplines, evidence = RULES.match("Data Center Electrical Engineer", "Compute", DC_CONTRACTS)
    assert infra and disciplines == ["electrical"]
    by_tag = {(e.tag, e.field, e.text) for e in evidence}
    assert ("infra", "title", "data center") in by_tag
    assert ("infra", "department", "compute") in by_tag
    assert ("electrical", "title", "electrical") in by_tag
    assert {e.tag for e in evidence} <= {"infra", "electrical"}
    title_rule = next(e for e in evidence if e.tag == "infra" and e.text == "data center")
    assert title_rule.rule == "infra-title-data-center" and title_rule.weight > 0


def test_wildcard_evidence_shows_the_whole_word() -> None:
    _, _, evidence = RULES.match("Commercial Counsel, Datacenters & Construction", "Legal")
    assert any(e.text == "datacenters" for e in evidence)


def test_not_infra_still_explains_why() -> None:
    infra, disciplines, evidence = RULES.match("Head of Infrastructure Accounting", "Finance")
    assert (infra, disciplines) == (False, [])
    assert any(e.tag == "infra" and e.text == "accounting" and e.weight < 0 for e in evidence)


def test_words_match_whole_words_only() -> None:
    assert normalize("Data-Center & Colo, Zürich") == " data center colo zurich "
    assert tags("Metadata Centers Analyst")[0] is False
    assert tags("Upstream Compute Analyst Deal")[0] is False


# --- user rules file ---------------------------------------------------------------------------------------


def test_user_file_adds_edits_and_disables_rules(tmp_path: Path) -> None:
    extra = tmp_path / "rules.toml"
    extra.write_text(
        """
[settings]
infra_threshold = 1.0

[[rule]]
name = "my-immersion"
tag = "infra"
field = "title"
weight = 2.0
patterns = ["immersion tank*"]

[[rule]]
name = "my-immersion-mech"
tag = "mechanical"
field = "title"
weight = 1.0
patterns = ["immersion tank*"]

[[rule]]
name = "infra-neg-title-accounting"
enabled = false

[[rule]]
name = "infra-dept-compute"
weight = 0.0
""",
        encoding="utf-8",
    )
    rules = load_rules(extra)
    assert rules.match("Immersion Tank Specialist", "", "")[:2] == (True, ["mechanical"])
    # the shipped accounting veto is off: an infra title with "accounting" is now infra
    assert rules.match("Data Center Accounting Lead", "", "")[0] is True
    assert RULES.match("Data Center Accounting Lead", "", "")[0] is False
    # an edited weight keeps the rest of the shipped rule
    assert rules.match("Compute Analyst", "Compute", "")[0] is False
    assert RULES.match("Compute Analyst", "Compute", "")[0] is True
    assert len(rules) == len(RULES) + 1  # two added, one disabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[rule]]\nname = "x"\ntag = "plumbing"\nfield = "title"\nweight = 1\npatterns = ["a"]\n',
            "tag 'plumbing'",
        ),
        (
            '[[rule]]\nname = "x"\ntag = "infra"\nfield = "body"\nweight = 1\npatterns = ["a"]\n',
            "field 'body'",
        ),
        ('[[rule]]\nname = "x"\ntag = "infra"\nfield = "title"\npatterns = ["a"]\n', "missing 'weight'"),
        (
            '[[rule]]\nname = "x"\ntag = "infra"\nfield = "title"\nweight = 1\npatterns = ["*"]\n',
            "empty pattern",
        ),
        ('[[rule]]\ntag = "infra"\n', "needs a name"),
        ('[[rule]]\nname = "x"\ncolour = 1\n', "unknown key"),
        ("[oops]\n", "unknown table"),
        ('[[rule]]\nname = "x"\n[[rule]]\nname = "x"\n', "appears twice"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_user_file_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_rules(extra)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_user_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "absent.toml")


def test_rules_from_documents_in_order() -> None:
    base = {"rule": [{"name": "a", "tag": "infra", "field": "title", "weight": 1.0, "patterns": ["rack"]}]}
    over = {"rule": [{"name": "a", "patterns": ["cage"]}], "settings": {"infra_threshold": 0.5}}
    rules = rules_from_documents([(base, "base"), (over, "over")])
    assert rules.settings.infra_threshold == 0.5
    assert rules.match("Cage Technician")[0] is True
    assert rules.match("Rack Technician")[0] is False
