"""A fast path for `base.html_to_text` on the markup job boards mostly send: well-nested paragraphs, lists,
headings, divs and inline emphasis or links, with the common character references.

`plain_html_to_text(fragment)` returns exactly what `html_to_text` returns through lexbor (visible text,
one line per block element, whitespace collapsed per line) or None when the fragment is not in the subset
it handles, and the caller then parses it with lexbor. The subset is chosen so that an HTML parser builds
the tree the tags spell out, with nothing implied, moved or dropped: only the tags in ALLOWED, each end tag
closing the element opened last, no block or list item opened where the parser would first close an open
paragraph, list item or heading, no comments, doctypes or stray "<", and only character references the
parser decodes the same way in any context (the named ones with their semicolon, numeric ones of ordinary
characters). Then the text is the text between the tags, decoded, with a line break after each block
element, as lexbor gives after `html_to_text` inserts one there. tests/test_plainhtml.py checks the two
paths against each other on generated fragments and real descriptions.
"""

from __future__ import annotations

import re
from html.entities import html5

BLOCK = frozenset({"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"})
BLOCK |= {"blockquote"}
INLINE = frozenset({"a", "b", "i", "u", "em", "strong", "span", "small", "sub", "sup"})
ALLOWED = BLOCK | INLINE | {"br"}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

# A start or end tag: "/" or "", the name, the attributes (each preceded by whitespace; values quoted or
# plain), and "/" or "" before ">". Anything else that starts with "<" is left in the text, and refused.
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9]*)"
    r"((?:\s+[^\s\"'<>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)"
    r"\s*(/?)>"
)
_REFERENCE = re.compile(r"&(?:([A-Za-z][A-Za-z0-9]*);|#([0-9]{1,7});|#[xX]([0-9A-Fa-f]{1,6});)")
_AMPERSAND_OK = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]*;|#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};)")


class _Refused(Exception):
    """The fragment is outside the subset: lexbor must parse it."""


def plain_html_to_text(fragment: str) -> str | None:
    """`html_to_text(fragment)` for fragments in the subset described above; None for the others."""
    try:
        raw = _text(fragment)
    except _Refused:
        return None
    return "\n".join(filter(None, [" ".join(line.split()) for line in raw.splitlines()]))


def _text(fragment: str) -> str:
    if "\x00" in fragment or (not fragment.isascii() and _unencodable(fragment)):
        raise _Refused  # the parser drops NULs; lexbor cannot take a lone surrogate
    parts = _TAG.split(fragment)  # text, then the 4 groups of a tag, then text, ...
    texts = parts[0::5]
    for i, text in enumerate(texts):
        if "<" in text:
            raise _Refused
        if "&" in text:
            texts[i] = _decode(text)
    merged: list[str] = [""] * (2 * len(texts) - 1)  # texts, with what each tag adds between them
    merged[0::2] = texts
    merged[1::2] = _breaks(parts[1::5], parts[2::5], parts[3::5], parts[4::5])
    return "".join(merged)


def _breaks(
    closing: list[str], names: list[str], attributes: list[str], self_closing: list[str]
) -> list[str]:
    """What each tag adds to the text ("\n" after a block element or at a <br>, else ""), checking that the
    tags are in the subset."""
    out: list[str] = []
    stack: list[str] = []
    for end, name, attrs, void in zip(closing, names, attributes, self_closing, strict=True):
        name = name.lower()
        if end:
            # Only allowed names are ever opened; "</br>" (read as "<br>") never matches either.
            if attrs or void or not stack or stack.pop() != name:
                raise _Refused  # an implied end tag, or an end tag the parser would ignore
            out.append("\n" if name in BLOCK else "")
        elif name == "br":
            out.append("\n")
        elif name in BLOCK:
            if void or "p" in stack:  # "<p/>" opens; every block start tag closes an open paragraph
                raise _Refused
            if name in _HEADINGS and stack and stack[-1] in _HEADINGS:
                raise _Refused
            if name == "li" and "li" in stack:
                for open_name in reversed(stack):  # an open list item not in a nested list is closed
                    if open_name == "li":
                        raise _Refused
                    if open_name in ("ul", "ol"):
                        break
            stack.append(name)
            out.append("")
        elif name in INLINE:
            if void or (name == "a" and "a" in stack):  # nested links are split apart
                raise _Refused
            stack.append(name)
            out.append("")
        else:
            raise _Refused
    if stack:  # elements left open end at the end of the body
        raise _Refused
    return out


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _decode(text: str) -> str:
    if text.count("&") != len(_AMPERSAND_OK.findall(text)):
        raise _Refused  # a bare "&" or a reference without its semicolon
    return _REFERENCE.sub(_reference, text)


def _reference(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        value = html5.get(name + ";")
        if value is None:
            raise _Refused
        return value
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    # ordinary characters only: no controls, C1 range, surrogates or noncharacters (the parser maps or
    # replaces those in ways of its own)
    if code in (0x09, 0x0A) or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFDCF:
        return chr(code)
    if 0xFDF0 <= code <= 0x10FFFF and (code & 0xFFFE) != 0xFFFE:
        return chr(code)
    raise _Refused


__all__ = ["ALLOWED", "plain_html_to_text"]
