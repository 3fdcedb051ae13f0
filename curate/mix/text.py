"""Text normalisation shared by decontamination and deduplication.

NFKC, case-folded; every Unicode punctuation character (category P*: `_`, brackets, braces,
backslashes, quotes, ...) and the TeX math delimiter `$` become spaces; the rest splits into word
tokens (`\\w+`) and single symbol characters (`→`, `∀`, `=`, `+`, ...). Case, whitespace and
punctuation changes therefore leave the token sequence unchanged, while math symbols still count.
"""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"\w+|[^\w\s]")


class _PunctTable(dict):
    """str.translate table: codepoint -> space for punctuation and `$`, itself otherwise (filled lazily)."""

    def __missing__(self, cp: int) -> int:
        ch = chr(cp)
        self[cp] = v = 32 if ch == "$" or unicodedata.category(ch).startswith("P") else cp
        return v


_PUNCT = _PunctTable()


def _strip_punct(text: str) -> str:
    return text.translate(_PUNCT)


def tokens(text: str | None) -> list[str]:
    """Normalised tokens of `text` (empty for None)."""
    if not text:
        return []
    return _TOKEN.findall(_strip_punct(unicodedata.normalize("NFKC", text).casefold()))


def normalize(text: str | None) -> str:
    """The normalised text: tokens joined by single spaces."""
    return " ".join(tokens(text))
