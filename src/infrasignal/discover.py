"""Find the job boards a careers page uses, as `[[boards]]` config entries (pure: a URL and its HTML in).

Recognised anywhere in the page (links, iframes, script src, inline scripts, JSON with escaped slashes)
and in the page's own URL:
- Greenhouse: boards.greenhouse.io/{token}, job-boards[.eu].greenhouse.io/{token}, the embed
  `.../embed/job_board[/js]?for={token}`, boards-api.greenhouse.io/v1/boards/{token}
- Lever: jobs.lever.co/{site}, jobs.eu.lever.co/{site} (params.region = "eu"), api[.eu].lever.co/v0/postings/{site}
- Ashby: jobs.ashbyhq.com/{board}, api.ashbyhq.com/posting-api/job-board/{board}
- Workday: {tenant}.wd{N}.myworkdayjobs.com/[{locale}/]{site}[/job/...] -> url of the careers site
- SmartRecruiters: jobs.smartrecruiters.com/{company}[/...], careers.smartrecruiters.com/{company},
  api.smartrecruiters.com/v1/companies/{company}
- Workable: apply.workable.com/{account}/, apply.workable.com/api/v{1,3}/.../accounts/{account}
- Amazon: an amazon.jobs search URL -> an amazon board with its query as params
- schema.org JobPosting JSON-LD on the page itself -> a `jsonld` board for the page (only when no ATS
  board was found: the JSON-LD on an ATS-hosted page is that ATS's board).
Each entry is checked against its source's config rules; entries a source would reject are dropped.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?(?:/[^\s"'<>\\`)]*)?""")
LOCALE = re.compile(r"^[a-z]{2}-[A-Z]{2}$")
WORKDAY_HOST = re.compile(r"^([a-z0-9-]+)\.(wd\d+)\.myworkdayjobs\.com$", re.IGNORECASE)
SKIP_SEGMENTS = {
    "smartrecruiters": {"oneclick-ui", "sr-jobs", "external-referrals", "api", "static", "job-widget"},
    "workable": {"j", "api", "careers", "assets", "static", "privacy"},
    "greenhouse": {"embed", "v1", "assets", "static"},
    "lever": {"assets", "static", "v0"},
    "ashby": {"api", "assets", "static"},
}


@dataclass(frozen=True)
class Found:
    """One board found on a page: the config entry and the URL that gave it away."""

    entry: dict[str, Any]
    evidence: str

    @property
    def key(self) -> tuple[str, str]:
        return self.entry["ats"], str(self.entry.get("token") or self.entry.get("url")).lower()


def discover(url: str, page: str, company: str | None = None) -> list[dict[str, Any]]:
    """The `[[boards]]` entries (BoardConfig fields) for the boards `page` (fetched from `url`) uses."""
    return [found.entry for found in find_boards(url, page, company)]


def find_boards(url: str, page: str, company: str | None = None, also: Sequence[str] = ()) -> list[Found]:
    """Boards recognised in the page URL (and `also`: e.g. the URL before redirects) and the page, first
    seen first, each once, validated."""
    name = company or guess_company(page)
    found: dict[tuple[str, str], Found] = {}
    for candidate in [*also, url, *page_urls(page)]:
        entry = board_for_url(candidate)
        if entry is None:
            continue
        label = company or entry.pop("company", None) or name or _default_company(entry)
        item = Found({"company": label, **entry}, candidate)
        found.setdefault(item.key, item)
    if not found and _has_job_posting(page):
        item = Found({"company": name or urlsplit(url).hostname or url, "ats": "jsonld", "url": url}, url)
        found[item.key] = item
    valid = [f for f in found.values() if _valid(f.entry)]
    return _named(valid)


def page_urls(page: str) -> list[str]:
    """Every absolute or protocol-relative URL in the page text (entities and `\\/` undone)."""
    text = html.unescape(page.replace("\\/", "/"))
    out: list[str] = []
    for match in URL.finditer(text):
        value = match.group(0).rstrip(".,;")
        out.append("https:" + value if value.startswith("//") else value)
    return out


def board_for_url(url: str) -> dict[str, Any] | None:
    """The board config (without company) a URL points at, or None."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    segments = [unquote(s) for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)
    if host.endswith("greenhouse.io"):
        return _greenhouse(host, segments, query)
    if host in ("jobs.lever.co", "jobs.eu.lever.co", "api.lever.co", "api.eu.lever.co"):
        if host.startswith("api.") and segments[:2] == ["v0", "postings"]:
            segments = segments[2:]
        token = _segment(segments, "lever")
        region = {"params": {"region": "eu"}} if ".eu." in host else {}
        return {"ats": "lever", "token": token, **region} if token else None
    if host == "jobs.ashbyhq.com":
        token = _segment(segments, "ashby")
        return {"ats": "ashby", "token": token} if token else None
    if host == "api.ashbyhq.com" and segments[:2] == ["posting-api", "job-board"] and len(segments) > 2:
        return {"ats": "ashby", "token": segments[2]}
    if (match := WORKDAY_HOST.match(host)) is not None:
        return _workday(host, match.group(1), segments)
    if host in ("jobs.smartrecruiters.com", "careers.smartrecruiters.com"):
        token = _segment(segments, "smartrecruiters")
        return {"ats": "smartrecruiters", "token": token} if token else None
    if host == "api.smartrecruiters.com" and segments[:2] == ["v1", "companies"] and len(segments) > 2:
        return {"ats": "smartrecruiters", "token": segments[2]}
    if host == "apply.workable.com":
        return _workable(segments)
    if host in ("www.amazon.jobs", "amazon.jobs") and any(s.startswith("search") for s in segments):
        return _amazon(query)
    return None


def _segment(segments: list[str], ats: str) -> str | None:
    """The first path segment when it can be a board name (not a known non-board path)."""
    if not segments or segments[0].lower() in SKIP_SEGMENTS[ats]:
        return None
    token = segments[0]
    return token if re.fullmatch(r"[\w .%-]+", token) else None


def _greenhouse(host: str, segments: list[str], query: dict[str, list[str]]) -> dict[str, Any] | None:
    if host in ("boards-api.greenhouse.io", "api.greenhouse.io", "boards-api.eu.greenhouse.io"):
        ok = segments[:2] == ["v1", "boards"] and len(segments) > 2
        return {"ats": "greenhouse", "token": segments[2]} if ok else None
    if host not in ("boards.greenhouse.io", "job-boards.greenhouse.io", "job-boards.eu.greenhouse.io"):
        return None
    if segments[:1] == ["embed"]:
        token = (query.get("for") or [""])[0].strip()
    else:
        token = _segment(segments, "greenhouse") or ""
    return {"ats": "greenhouse", "token": token} if re.fullmatch(r"[\w-]+", token) else None


def _workday(host: str, tenant: str, segments: list[str]) -> dict[str, Any] | None:
    if segments[:2] == ["wday", "cxs"] and len(segments) > 3:
        site = segments[3]
    else:
        rest = segments[1:] if segments and LOCALE.match(segments[0]) else segments
        site = rest[0] if rest else ""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", site) or site.lower() in ("wday", "job", "login"):
        return None
    return {"ats": "workday", "url": f"https://{host.lower()}/{site}"}


def _workable(segments: list[str]) -> dict[str, Any] | None:
    if segments[:1] == ["api"]:
        account = segments[segments.index("accounts") + 1] if "accounts" in segments[:-1] else None
    else:
        account = _segment(segments, "workable")
    return {"ats": "workable", "token": account} if account else None


def _amazon(query: dict[str, list[str]]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    for key, values in query.items():
        if key in ("offset", "result_limit") or not any(values):
            continue
        name = key.removesuffix("[]")
        params[name] = values if key.endswith("[]") else values[0]
    return {"ats": "amazon", "company": "Amazon", "params": params} if params else None


def _has_job_posting(page: str) -> bool:
    from infrasignal.sources._common import parse_html
    from infrasignal.sources._schemaorg import find_job_postings, json_ld_blocks

    return any(find_job_postings(block) for block in json_ld_blocks(parse_html(page)))


def guess_company(page: str) -> str | None:
    """The company name a page gives: og:site_name, else the <title> part that is not about jobs."""
    from infrasignal.sources._common import node_text, parse_html

    tree = parse_html(page)
    meta = tree.css_first('meta[property="og:site_name"]')
    if meta is not None and (meta.attributes.get("content") or "").strip():
        return " ".join((meta.attributes.get("content") or "").split())
    title = node_text(tree.css_first("title"))
    parts = [p.strip() for p in re.split(r"\s+[|\u2013\u2014:-]\s+|\s+at\s+", title) if p.strip()]
    jobby = re.compile(
        r"\b(careers?|jobs?|open (roles|positions)|join|hiring|vacanc\w*|work)\b", re.IGNORECASE
    )
    names = [p for p in parts if not jobby.search(p)]
    return names[-1] if names else None


def _default_company(entry: dict[str, Any]) -> str:
    if entry.get("token"):
        return str(entry["token"])
    return urlsplit(str(entry.get("url"))).hostname or "?"


def _valid(entry: dict[str, Any]) -> bool:
    from infrasignal.config import BoardConfig, ConfigError, validate
    from infrasignal.sources import get_source

    try:
        board = validate(BoardConfig, entry)
    except ConfigError:
        return False
    return get_source(board.ats).check_board(board) is None


def _named(found: list[Found]) -> list[Found]:
    """Give each entry a unique `name` when one company ends up with several boards."""
    companies = [f.entry["company"].lower() for f in found]
    out = []
    for f in found:
        entry = dict(f.entry)
        if companies.count(entry["company"].lower()) > 1:
            entry["name"] = (
                f"{entry['company']} ({entry['ats']} {entry.get('token') or urlsplit(entry['url']).path.strip('/')})"
            )
        out.append(Found(entry, f.evidence))
    return out


def to_toml(entries: list[dict[str, Any]], evidence: list[str] | None = None) -> str:
    """`[[boards]]` tables to paste into config.toml (one comment line with the evidence each)."""
    blocks = []
    for i, entry in enumerate(entries):
        lines = ["[[boards]]"]
        if evidence:
            lines.append(f"# found: {evidence[i]}")
        for key in ("company", "name", "ats", "token", "url"):
            if entry.get(key):
                lines.append(f"{key} = {_toml(entry[key])}")
        if entry.get("params"):
            inner = ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in entry["params"].items())
            lines.append(f"params = {{ {inner} }}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _toml(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


__all__ = ["Found", "board_for_url", "discover", "find_boards", "guess_company", "page_urls", "to_toml"]
