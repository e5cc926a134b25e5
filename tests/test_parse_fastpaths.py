"""The fast paths of parsing give exactly what the general ones give, so stored descriptions, hashes and
classifications do not change: escape-only unescaping against html.unescape, printable-text sanitising
against the regular expressions, one-string content hashes against part-by-part hashing. Checked on
generated input (hypothesis)."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from infrasignal.model import _CONTROL, _CONTROL_LINES, Posting, clean_text
from infrasignal.sources.base import unescape_html

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

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
