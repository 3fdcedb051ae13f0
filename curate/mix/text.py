"""Text normalisation shared by decontamination and deduplication.

NFKC, case-folded; every Unicode punctuation character (category P*: `_`, brackets, braces,
backslashes, quotes, ...) and the TeX math delimiter `$` become spaces; the rest splits into word
tokens (`\\w+`) and single symbol characters (`→`, `∀`, `=`, `+`, ...). Case, whitespace and
punctuation changes therefore leave the token sequence unchanged, while math symbols still count.

Tokens of texts joined by whitespace are the tokens of the parts joined (NFKC composes nothing
across a whitespace character, and no token spans one), so a record's sides are normalised once and
their token lists reused for the joined pair and the rendered text (`joined`).
"""

from __future__ import annotations

import re
import sys
import unicodedata

_ASCII_SPLIT = str.maketrans({c: " " if c == "$" or unicodedata.category(c).startswith("P") or c.isspace()
                              else c.lower() if c.isalnum() else f" {c} " for c in map(chr, range(128))})
"""ASCII text to its tokens separated by whitespace: punctuation and `$` to a space, letters lowered, any other
character that is neither word nor space (`+`, `=`, `<`, `^`, control characters) spaced out on its own; then
`str.split()` gives the tokens of `\\w+|[^\\w\\s]` (`_` is punctuation; `\\s` and `split` agree on ASCII)."""
_UNICODE_TOKEN: tuple[re.Pattern, re.Pattern] | None = None


def class_ranges(cps: list[int]) -> str:
    """A regex character-class body for the sorted code points `cps`, as ranges."""
    out, start = [], cps[0]
    for prev, cur in zip(cps, cps[1:] + [-1]):
        if cur != prev + 1:
            out.append(re.escape(chr(start)) + ("" if prev == start else "-" + re.escape(chr(prev))))
            start = cur
    return "".join(out)


def _unicode_token() -> tuple[re.Pattern, re.Pattern]:
    """`\\w+|[^\\w\\s]` with punctuation and `$` treated as spaces, in one pattern: word runs without `_`
    (the only punctuation character `\\w` matches), single characters that are neither word, space,
    punctuation nor `$`. Two versions: for any text, and for text within the Basic Multilingual Plane,
    whose class holds BMP ranges only (`re` tests those as a bitmap: ~10% faster on the corpus texts)."""
    global _UNICODE_TOKEN
    if _UNICODE_TOKEN is None:
        punct = [c for c in range(sys.maxunicode + 1) if chr(c) == "$" or unicodedata.category(chr(c)).startswith("P")]
        bmp = [c for c in punct if c < 0x10000]
        _UNICODE_TOKEN = (re.compile(r"[^\W_]+|[^\w\s" + class_ranges(punct) + "]"),
                          re.compile(r"[^\W_]+|[^\w\s" + class_ranges(bmp) + "]"))
    return _UNICODE_TOKEN


def tokens(text: str | None) -> list[str]:
    """Normalised tokens of `text` (empty for None)."""
    if not text:
        return []
    if text.isascii():  # NFKC is the identity and casefold is lower() on ASCII; ~1.5x faster than the regex
        return text.translate(_ASCII_SPLIT).split()
    text = unicodedata.normalize("NFKC", text).casefold()
    anywhere, bmp = _unicode_token()
    return (bmp if within_bmp(text) else anywhere).findall(text)


def within_bmp(text: str) -> bool:
    """Whether every character of `text` lies in the Basic Multilingual Plane (lone surrogates included):
    exactly then UTF-16 takes 2 bytes a character. Several times faster than `max(text) <= "\\uffff"`."""
    return len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text)


def normalize(text: str | None) -> str:
    """The normalised text: tokens joined by single spaces."""
    return " ".join(tokens(text))


def joined(parts: list[list[str] | str]) -> list[str]:
    """Tokens of literal strings and token lists joined by whitespace, in order (`joined(["a b", toks])` is
    `tokens("a b " + text)` where `toks = tokens(text)`)."""
    out: list[str] = []
    for p in parts:
        out += tokens(p) if isinstance(p, str) else p
    return out
