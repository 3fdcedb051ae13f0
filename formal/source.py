"""Decoded source text shared by the readers: bytes -> text with issues, offsets -> line numbers."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field


@dataclass
class Issue:
    """Something a reader could not read (or only partly), at a 1-based line."""

    line: int
    why: str


@dataclass
class SourceText:
    """A file's text as the readers see it; every offset in a record's meta indexes `text`."""

    text: str
    issues: list[Issue] = field(default_factory=list)
    _starts: list[int] | None = None

    def line_of(self, offset: int) -> int:
        """1-based line number of a character offset."""
        if self._starts is None:
            self._starts = line_starts(self.text)
        return bisect_right(self._starts, offset)


def line_starts(text: str) -> list[int]:
    starts = [0]
    i = text.find("\n")
    while i != -1:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def is_binary(data: bytes) -> bool:
    """NUL bytes in the first 8 KiB mark a binary file (as git does)."""
    return b"\0" in data[:8192]


def decode(data: bytes) -> SourceText:
    """UTF-8 text (BOM dropped); invalid bytes become U+FFFD and are reported once with their first line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return SourceText(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        line = data.count(b"\n", 0, exc.start) + 1
        bad = text.count("\ufffd")
        return SourceText(text, [Issue(line, f"{bad} invalid UTF-8 byte sequence(s) replaced by U+FFFD "
                                             f"(first at this line); the rest of the file was read")])
