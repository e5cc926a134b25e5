"""The fast paths of parsing give exactly what the general ones give, so stored descriptions, hashes and
classifications do not change: plain-markup HTML to text against lexbor, escape-only unescaping against
html.unescape, printable-text sanitising against the regular expressions, one-string content hashes
against part-by-part hashing. Checked on generated input (hypothesis) and on the captured fixtures."""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from infrasignal.model import _CONTROL, _CONTROL_LINES, Posting, clean_text
from infrasignal.sources._plainhtml import plain_html_to_text
from infrasignal.sources.base import html_to_text, lexbor_html_to_text, unescape_html

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# --- HTML to text ------------------------------------------------------------------------------------------

BLOCKS = ["p", "div", "li", "ul", "ol", "h2", "h3", "section", "blockquote"]
INLINES = ["b", "strong", "em", "i", "span", "a", "u", "sub"]
OTHERS = ["table", "tr", "td", "pre", "script", "style", "img", "hr", "font", "br", "BR", "P"]
WORDS = ["Tokyo", "data", "center", "  ", "\n", "\t", "\xa0", "é", "日本", "\r\n", "\x0c", "x"]
REFERENCES = ["&amp;", "&lt;", "&nbsp;", "&#39;", "&#x27;", "&eacute;", "&rsquo;", "&bogus;", "&amp", "&",
              "&#0;", "&#128;", "&#xD800;", "&#x110000;", "&#65;", "&notin;", "&#x1F600;"]  # fmt: skip
STRAYS = ["<", " < ", "<!-- note -->", "<!DOCTYPE html>", "</>", "<3", "\x00", "\ud800"]
ATTRIBUTES = ["", ' class="intro"', " href='https://x.example/a?b=1&c=2'", " data-x=y", ' title="a>b"',
              ' id="a"title="b"', " /", "/"]  # fmt: skip

text = st.lists(st.sampled_from(WORDS + REFERENCES[:7]), max_size=4).map("".join)


@st.composite
def well_formed(draw: st.DrawFn, depth: int = 0) -> str:
    """Properly nested markup of the kinds boards send (most of it is in the fast path's subset)."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["text", "text", "block", "inline", "br"] if depth < 3 else ["text"]))
        if kind == "text":
            parts.append(draw(text))
        elif kind == "br":
            parts.append("<br>")
        else:
            name = draw(st.sampled_from(BLOCKS if kind == "block" else INLINES))
            attrs = draw(st.sampled_from(ATTRIBUTES[:3]))
            parts.append(f"<{name}{attrs}>{draw(well_formed(depth + 1))}</{name}>")
    return "".join(parts)


token = st.one_of(
    text,
    st.sampled_from(REFERENCES + STRAYS),
    st.builds(
        lambda end, name, attrs: f"<{'/' if end else ''}{name}{'' if end else attrs}>",
        st.booleans(),
        st.sampled_from(BLOCKS + INLINES + OTHERS),
        st.sampled_from(ATTRIBUTES),
    ),
)
soup = st.lists(token, max_size=14).map("".join)  # anything: mis-nested, stray, unknown


@settings(max_examples=600, deadline=None)
@given(st.one_of(well_formed(), soup))
def test_plain_markup_reader_gives_lexbors_text_or_steps_aside(fragment: str) -> None:
    fast = plain_html_to_text(fragment)
    if fast is not None:
        assert fast == lexbor_html_to_text(fragment)


def test_the_usual_markup_takes_the_fast_path() -> None:
    usual = [
        "<p>Build <b>data center</b> capacity in <a href='https://x.example'>Tokyo</a>.</p>",
        "<h3>What you will do</h3><ul><li>Own &amp; run sites</li><li>Review others&#x27; designs</li></ul>",
        '<div class="content-intro"><h2><strong>About</strong></h2>\n<p>We&rsquo;re hiring.&nbsp;</p></div>',
        "<ul><li>Power<ul><li>UPS</li><li>switchgear</li></ul></li></ul>line<br>break",
    ]
    for fragment in usual:
        assert plain_html_to_text(fragment) == lexbor_html_to_text(fragment), fragment


def test_markup_the_parser_rewrites_is_left_to_lexbor() -> None:
    rewritten = [
        "<p>a<p>b",  # an unclosed paragraph closed by the next one
        "<p>a<div>b</div>c</p>",  # a block inside a paragraph closes it; "</p>" then makes an empty one
        "<ul><li>a<li>b</ul>",
        "<a>x<a>y</a></a>",
        "<b><i>x</b></i>",
        "<p/>x",
        "x </br> y",
        "<table><tr><td>a</td></tr></table>",
        "a < b",
        "AT&T",
        "<!-- c -->x",
    ]
    for fragment in rewritten:
        assert plain_html_to_text(fragment) is None, fragment
        assert html_to_text(fragment) == lexbor_html_to_text(fragment)


def _fixture_descriptions() -> list[str]:
    out = []
    for path in sorted((FIXTURES / "greenhouse").glob("*/*.json")):
        out += [html.unescape(j.get("content") or "") for j in json.loads(path.read_text())["jobs"]]
    for path in sorted((FIXTURES / "ashby").glob("*/*.json")):
        out += [j.get("descriptionHtml") or "" for j in json.loads(path.read_text())["jobs"]]
    for path in sorted((FIXTURES / "lever").glob("*/*.json")):
        for job in json.loads(path.read_text()):
            out += [job.get("description") or ""] + [e.get("content") or "" for e in job.get("lists", [])]
    return [d for d in out if d]


def test_real_descriptions_read_the_same_either_way() -> None:
    descriptions = _fixture_descriptions()
    assert len(descriptions) > 50
    taken = 0
    for fragment in descriptions:
        fast = plain_html_to_text(fragment)
        if fast is not None:
            taken += 1
            assert fast == lexbor_html_to_text(fragment)
        assert html_to_text(fragment) == lexbor_html_to_text(fragment)
    assert taken > len(descriptions) // 2  # the fast path is the common one


# --- unescaping, sanitising, hashing -----------------------------------------------------------------------

ESCAPE_PIECES = ["&", "amp;", "lt;", "gt;", "quot;", "#39;", "#x27;", "#039;", "nbsp;", "lt", "a", ";", "#",
                 "<p>", " ", "\n", "é"]  # fmt: skip
escaped = st.lists(st.sampled_from(ESCAPE_PIECES), max_size=16).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(escaped, st.text(max_size=30), st.builds(html.escape, st.text(max_size=30))))
def test_unescaping_is_html_unescape(value: str) -> None:
    assert unescape_html(value) == html.unescape(value)


def _clean_reference(value: str, keep_newlines: bool) -> str:
    if not value:
        return value
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    if keep_newlines:
        return _CONTROL_LINES.sub("", value)
    return " ".join(_CONTROL.sub(" ", value).split())


TEXT_PIECES = ["a", " ", "  ", "\n", "\t", "\x00", "\x0b", "\x7f", "\x85", "\xa0", "\u200b", "\u202a", "\u2066",
               "\ud800", "é", "日", "\u2028", "\u3000", "\x1c", "\u00ad", "\ufeff"]  # fmt: skip
board_text = st.lists(st.sampled_from(TEXT_PIECES), max_size=12).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(board_text, st.text(max_size=20)), st.booleans())
def test_sanitising_printable_text_is_the_regular_expressions(value: str, keep_newlines: bool) -> None:
    assert clean_text(value, keep_newlines) == _clean_reference(value, keep_newlines)


@settings(max_examples=300, deadline=None)
@given(board_text, board_text, board_text, board_text)
def test_content_hash_is_the_part_by_part_hash(
    title: str, location: str, department: str, description: str
) -> None:
    posting = Posting("1", title, "u", locations=[location], department=department, description=description)
    h = hashlib.sha256()
    for part in (posting.title, posting.location, posting.department, posting.description):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    assert posting.content_hash() == h.hexdigest()[:16]
