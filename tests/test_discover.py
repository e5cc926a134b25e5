"""Board discovery: saved careers pages of each kind, board URLs themselves, the TOML it prints (valid config),
and the `infrasignal discover` command with --file and against a loopback server."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infrasignal.cli.app import _register, app
from infrasignal.config import parse_config
from infrasignal.discover import board_for_url, discover, find_boards, guess_company, to_toml
from support.boardserver import BoardServer

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "discover"
URL = "https://www.example.com/careers"

_register()
runner = CliRunner()


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("greenhouse_embed.html", [{"company": "CoreWeave", "ats": "greenhouse", "token": "coreweave"}]),
        ("greenhouse_links.html", [{"company": "Anthropic", "ats": "greenhouse", "token": "anthropic"}]),
        ("ashby.html", [{"company": "Lambda", "ats": "ashby", "token": "lambda"}]),
        (
            "workday.html",
            [
                {
                    "company": "Meridian Data Centers",
                    "ats": "workday",
                    "url": "https://meridiandc.wd5.myworkdayjobs.com/Meridian_Careers",
                }
            ],
        ),
        (
            "smartrecruiters.html",
            [{"company": "Nordlys Data Centres", "ats": "smartrecruiters", "token": "NordlysDataCentres"}],
        ),
        ("workable.html", [{"company": "Helio Compute", "ats": "workable", "token": "helio-compute"}]),
        ("jsonld.html", [{"company": "Coldstream Data Centers", "ats": "jsonld", "url": URL}]),
        ("none.html", []),
    ],
)
def test_saved_pages(name: str, expected: list[dict[str, Any]]) -> None:
    assert discover(URL, page(name)) == expected


def test_lever_pages_with_an_eu_board() -> None:
    entries = discover(URL, page("lever.html"))
    assert entries == [
        {
            "company": "Lattice Compute",
            "ats": "lever",
            "token": "lattice-compute",
            "name": "Lattice Compute (lever lattice-compute)",
        },
        {
            "company": "Lattice Compute",
            "ats": "lever",
            "token": "nordic-gpu",
            "params": {"region": "eu"},
            "name": "Lattice Compute (lever nordic-gpu)",
        },
    ]


def test_a_page_using_several_boards_names_each() -> None:
    found = find_boards(URL, page("multi.html"))
    assert [(f.entry["ats"], f.entry.get("token") or f.entry.get("url")) for f in found] == [
        ("greenhouse", "northwindcloud"),
        ("workday", "https://northwind.wd1.myworkdayjobs.com/DataCenterCareers"),
        ("ashby", "Northwind Research"),  # URL-encoded space in an inline script
    ]
    assert len({f.entry["name"] for f in found}) == 3
    assert found[0].evidence.startswith("https://job-boards.greenhouse.io/embed/job_board?for=northwindcloud")


def test_company_option_wins() -> None:
    assert discover(URL, page("ashby.html"), company="Lambda Labs")[0]["company"] == "Lambda Labs"


@pytest.mark.parametrize(
    ("url", "entry"),
    [
        ("https://boards.greenhouse.io/anthropic", {"ats": "greenhouse", "token": "anthropic"}),
        ("https://job-boards.eu.greenhouse.io/helsing/jobs/123", {"ats": "greenhouse", "token": "helsing"}),
        ("https://boards.greenhouse.io/embed/job_board?for=xai&b=x", {"ats": "greenhouse", "token": "xai"}),
        (
            "https://boards-api.greenhouse.io/v1/boards/togetherai/jobs",
            {"ats": "greenhouse", "token": "togetherai"},
        ),
        ("https://jobs.lever.co/palantir/ac97", {"ats": "lever", "token": "palantir"}),
        ("https://api.lever.co/v0/postings/palantir?mode=json", {"ats": "lever", "token": "palantir"}),
        ("https://jobs.ashbyhq.com/openai/8fb1615c", {"ats": "ashby", "token": "openai"}),
        ("https://api.ashbyhq.com/posting-api/job-board/Crusoe", {"ats": "ashby", "token": "Crusoe"}),
        (
            "https://equinix.wd1.myworkdayjobs.com/en-US/External/job/Ashburn-VA/x_JR-1",
            {"ats": "workday", "url": "https://equinix.wd1.myworkdayjobs.com/External"},
        ),
        (
            "https://nvidia.wd5.myworkdayjobs.com/wday/cxs/nvidia/NVIDIAExternalCareerSite/jobs",
            {"ats": "workday", "url": "https://nvidia.wd5.myworkdayjobs.com/NVIDIAExternalCareerSite"},
        ),
        (
            "https://jobs.smartrecruiters.com/Visa/744000133907678-sr-manager",
            {"ats": "smartrecruiters", "token": "Visa"},
        ),
        (
            "https://api.smartrecruiters.com/v1/companies/BoschGroup/postings",
            {"ats": "smartrecruiters", "token": "BoschGroup"},
        ),
        ("https://apply.workable.com/huggingface/", {"ats": "workable", "token": "huggingface"}),
        (
            "https://apply.workable.com/api/v1/widget/accounts/kroo?details=true",
            {"ats": "workable", "token": "kroo"},
        ),
        (
            "https://www.amazon.jobs/en/search?base_query=data+center&category[]=Data+Center+Operations&offset=10",
            {
                "ats": "amazon",
                "company": "Amazon",
                "params": {"base_query": "data center", "category": ["Data Center Operations"]},
            },
        ),
    ],
)
def test_board_urls(url: str, entry: dict[str, Any]) -> None:
    assert board_for_url(url) == entry


@pytest.mark.parametrize(
    "url",
    [
        "https://apply.workable.com/j/C4CA4238A0/apply",
        "https://boards.greenhouse.io/",
        "https://jobs.smartrecruiters.com/oneclick-ui/company/x",
        "https://www.myworkdayjobs.com/",
        "https://meridiandc.wd5.myworkdayjobs.com/en-US",
        "https://www.amazon.jobs/en/teams/aws",
        "https://www.linkedin.com/company/x/jobs",
    ],
)
def test_urls_that_are_not_boards(url: str) -> None:
    assert board_for_url(url) is None


def test_the_url_itself_is_a_board() -> None:
    assert discover("https://jobs.lever.co/palantir", "<html><title>Palantir</title></html>") == [
        {"company": "Palantir", "ats": "lever", "token": "palantir"}
    ]


def test_jsonld_on_an_ats_page_is_that_ats() -> None:
    html = page("jsonld.html")
    assert discover("https://jobs.lever.co/lattice-compute/2f0b", html)[0]["ats"] == "lever"


def test_escaped_urls_in_scripts() -> None:
    html = '<script>var c = {"board":"https:\\/\\/jobs.ashbyhq.com\\/cohere"};</script>'
    assert discover(URL, html, company="Cohere") == [{"company": "Cohere", "ats": "ashby", "token": "cohere"}]


def test_guess_company() -> None:
    assert guess_company("<title>Careers | Northwind Cloud</title>") == "Northwind Cloud"
    assert guess_company("<title>Jobs at Anthropic</title>") == "Anthropic"
    assert guess_company("<title>Careers</title>") is None


def test_toml_output_is_a_valid_config() -> None:
    found = [f for name in sorted(PAGES.glob("*.html")) for f in find_boards(URL, name.read_text())]
    text = to_toml([f.entry for f in found], [f.evidence for f in found])
    assert text.count("[[boards]]") == len(found) == 12
    assert "# found: https://boards.greenhouse.io/embed/job_board/js?for=coreweave" in text
    data = tomllib.loads(text)
    names = {b["company"] for b in data["boards"]}
    for b in data["boards"]:  # several pages name the same company: keep the entries apart
        if b.get("name") is None and sum(x["company"] == b["company"] for x in data["boards"]) > 1:
            b["name"] = f"{b['company']} {b.get('token') or b.get('url')}"
    config = parse_config(data)
    assert len(config.boards) == 12 and "Lambda" in names
    eu = next(b for b in config.boards if b.token == "nordic-gpu")
    assert eu.params == {"region": "eu"}


# ---------------------------------------------------------------------------------------- the command


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_with_a_saved_page() -> None:
    code, out, err = run("discover", URL, "--file", str(PAGES / "workday.html"))
    assert code == 0
    assert out.startswith(
        "[[boards]]\n# found: https://meridiandc.wd5.myworkdayjobs.com/en-US/Meridian_Careers\n"
    )
    assert 'url = "https://meridiandc.wd5.myworkdayjobs.com/Meridian_Careers"' in out
    assert "1 board(s) found" in err
    assert tomllib.loads(out)["boards"][0]["ats"] == "workday"


def test_cli_json_and_company() -> None:
    code, out, _ = run(
        "discover", URL, "--file", str(PAGES / "ashby.html"), "--company", "Lambda Labs", "-f", "json"
    )
    assert code == 0
    assert json.loads(out) == [
        {
            "company": "Lambda Labs",
            "ats": "ashby",
            "token": "lambda",
            "evidence": "https://jobs.ashbyhq.com/lambda/embed?version=2",
        }
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["discover", "careers.example.com"], 2, "error: not an http(s) URL: 'careers.example.com'"),
        (
            ["discover", URL, "--file", "/nonexistent/page.html"],
            2,
            "error: --file: cannot read /nonexistent/page.html",
        ),
        (
            ["discover", URL, "--file", str(PAGES / "none.html")],
            1,
            f"error: no job board recognised on {URL}",
        ),
        (["discover", URL, "--file", str(PAGES / "none.html"), "-f", "yaml"], 2, "error: --format: 'yaml'"),
    ],
)
def test_cli_errors(args: list[str], code: int, message: str) -> None:
    got, out, err = run(*args)
    assert got == code and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_cli_fetches_through_the_engine(
    board_server: BoardServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.toml here: default fetch settings
    board_server.serve_file("/careers", PAGES / "greenhouse_embed.html", content_type="text/html")
    code, out, _ = run("discover", board_server.url("/careers"))
    assert code == 0 and 'token = "coreweave"' in out
    assert [r.path for r in board_server.requests] == ["/robots.txt", "/careers"]
    assert board_server.requests[1].headers["user-agent"].startswith("infrasignal/")


def test_cli_uses_the_configs_fetch_settings(board_server: BoardServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[fetch]\nuser_agent = "analyst-bot/1.0 (+mailto:a@example.com)"\nretries = 0\n')
    board_server.serve_file("/careers", PAGES / "workable.html", content_type="text/html")
    code, out, _ = run("discover", board_server.url("/careers"), "--config", str(config))
    assert code == 0 and 'token = "helio-compute"' in out
    assert board_server.requests[-1].headers["user-agent"] == "analyst-bot/1.0 (+mailto:a@example.com)"


def test_cli_fetch_failure_exits_1(board_server: BoardServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[fetch]\nretries = 0\n")
    code, out, err = run("discover", board_server.url("/careers"), "--config", str(config))  # 404
    assert code == 1 and out == ""
    assert err == f"error: HTTP 404 from {board_server.url('/careers')}\n"


def test_cli_robots_disallow_exits_1(board_server: BoardServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[fetch]\nretries = 0\n")
    board_server.route("GET", "/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    board_server.serve_file("/careers", PAGES / "ashby.html", content_type="text/html")
    code, _, err = run("discover", board_server.url("/careers"), "--config", str(config))
    assert code == 1 and err == "error: robots.txt of 127.0.0.1 disallows /careers\n"


def test_starter_watchlist_covers_operators_with_evidence() -> None:
    path = Path(__file__).resolve().parents[1] / "src" / "infrasignal" / "starter_config.toml"
    config = parse_config(tomllib.loads(path.read_text(encoding="utf-8")), path)
    assert {b.ats for b in config.boards} >= {"greenhouse", "lever", "ashby", "workday", "amazon", "workable"}
    text = path.read_text(encoding="utf-8")
    operators = text.split("Data-center operators and hyperscalers", 1)[1]
    for board in config.boards:  # every operator entry states its evidence right below it
        if f'company = "{board.company}"' not in operators:
            continue
        block = operators.split(f'company = "{board.company}"', 1)[1].split("[[boards]]", 1)[0]
        assert "# [" in block, board.company
