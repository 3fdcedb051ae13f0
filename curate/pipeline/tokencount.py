"""Exact token counts of byte-level BPE tokenizers (GPT-2 style, as SmolLM2's), without encoding every text.

Such a tokenizer splits a text into pieces with one regex (`ByteLevel` pre-tokenizer) and runs BPE on each
piece alone, so a text's count is the sum of its pieces' counts. `PieceCounter` splits with the same
regex (Python `re`: over ASCII with ASCII classes; over other text within the Basic Multilingual Plane with
the classes spelled out as BMP code-point ranges from `unicodedata` — letter, number, White_Space —, which
`re` checks as bitmaps; text beyond the BMP is first translated character by character to an ASCII
stand-in of the same class) and keeps each piece's count; a piece seen before costs one dict lookup. Texts it cannot vouch for go to the tokenizer itself:
- any text holding an added token's content (the tokenizer splits those out first);
- non-ASCII texts holding a code point that this Python's Unicode database leaves unassigned (the
  tokenizer's regex library may know it), or any non-ASCII text when that database is not the one the
  classes were checked against (`CHECKED_UNICODE`: every code point in the contexts of
  `tests/pipeline/test_tokencount.py::test_every_code_point_splits_as_the_tokenizer`).
`counter(tokenizer)` returns None for any other kind of tokenizer; the caller then encodes.

Most texts are not split by the regex at all: a text is first cut at its spaces (`str.split(" ")`, C speed).
A piece holds a space only as its first character or inside a run of whitespace, so where the characters on
both sides of a space are not whitespace a piece ends before it and the next begins with it: the count of
each such part (with the space before it) is the same wherever it occurs, and is cached. A text whose parts
are all cached costs one `split` and one dict lookup a part (token counts of a shard ~1.6x faster here);
a part with whitespace at either end (a double space, a space next to a newline) sends its text to the regex.
"""

from __future__ import annotations

import json
import re
import unicodedata
from itertools import accumulate, islice
from typing import Any

from curate.mix.text import class_ranges, within_bmp

CHECKED_UNICODE = ("14.0.0",)
"""Unicode database versions whose letter/number classes were checked against the tokenizer's regex."""
MAX_PIECES = 500_000
"""Cached piece counts kept at most (the cache is cleared when full, so memory stays bounded)."""
MAX_PARTS = 500_000
"""Cached counts of space-separated parts kept at most (cleared when full, as the piece cache)."""
MAX_PART_CHARS = 64
"""Longer parts are counted but not cached (a long run without spaces rarely repeats)."""
WHITE_SPACE = (0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
               0x202F, 0x205F, 0x3000)
"""Unicode White_Space (the regex's `\\s`)."""
_WS = frozenset(map(chr, WHITE_SPACE))


_PIECE = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\t-\r A-Za-z0-9]+|[\t-\r ]+(?![^\t-\r ])"
                    r"|[\t-\r ]+")
"""The ByteLevel regex `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+` on ASCII text
(`\\s` there is White_Space: tab to carriage return and space, in ASCII)."""
_UNSAFE = ("Cn", "Cs")


class _ClassOf(dict):
    """str.translate table to one ASCII character of the same regex class: letters -> `a`, numbers -> `0`,
    other White_Space -> tab (whitespace, but not the literal space the regex's ` ?` means), anything else
    -> `-`; ASCII stays itself (the contractions and the space are literal). One character each, so a
    piece of the translated text is the piece of the original at the same offsets."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if cp < 128:
            v = ch
        elif cp in WHITE_SPACE:
            v = "\t"
        else:
            v = {"L": "a", "N": "0"}.get(unicodedata.category(ch)[0], "-")
        self[cp] = v
        return v


_CLASS_OF = _ClassOf()
_BMP: tuple[re.Pattern, re.Pattern] | None = None


def _bmp_patterns() -> tuple[re.Pattern, re.Pattern]:
    """(the ByteLevel regex for text within the BMP, a search for its code points `split` must not vouch for),
    built once per process. Classes hold BMP code points only, so `re` tests them as bitmaps (with non-BMP
    ranges it scans them one by one, ~5x slower than the translation)."""
    global _BMP
    if _BMP is None:
        cls: dict[str, list[int]] = {"L": [], "N": [], "U": []}
        category = unicodedata.category
        for cp in range(128, 0x10000):
            c = category(chr(cp))
            if c[0] in "LN":
                cls[c[0]].append(cp)
            elif c in _UNSAFE:
                cls["U"].append(cp)

        let, num = "A-Za-z" + class_ranges(cls["L"]), "0-9" + class_ranges(cls["N"])
        ws = class_ranges(list(WHITE_SPACE))
        piece = re.compile(rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{let}]+| ?[{num}]+| ?[^{ws}{let}{num}]+|[{ws}]+(?![^{ws}])"
                           rf"|[{ws}]+")
        _BMP = (piece, re.compile(f"[{class_ranges(cls['U'])}]"))
    return _BMP


def _byte_chars() -> list[str]:
    """GPT-2's bytes_to_unicode: the character ByteLevel maps each byte to."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in bs}
    n = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + n)
            n += 1
    return [chars[b] for b in range(256)]


class PieceCounter:
    """Token counts (no special tokens) of a byte-level BPE tokenizer; see the module docstring."""

    def __init__(self, backend: Any, added: list[str]):
        self.backend, self.model = backend, backend.model
        self._added = re.compile("|".join(map(re.escape, sorted(added, key=len, reverse=True)))) if added else None
        self._byte = _byte_chars()
        self._cache: dict[str, int] = {}
        self._first: dict[str, int] = {}  # a text's part before its first space -> its count
        self._after: dict[str, int] = {}  # a later part -> the count of " " + part
        self._unicode_ok = unicodedata.unidata_version in CHECKED_UNICODE

    def _count(self, pieces: list[str]) -> int:
        cache = self._cache
        try:
            return sum(map(cache.__getitem__, pieces))
        except KeyError:
            pass
        counts = list(map(cache.get, pieces))
        if None in counts:
            if len(cache) > MAX_PIECES:
                cache.clear()
            for j, p in enumerate(pieces):
                if counts[j] is None:
                    c = cache.get(p)
                    if c is None:
                        c = cache[p] = len(self.model.tokenize("".join([self._byte[b] for b in p.encode("utf-8")])))
                    counts[j] = c
        return sum(counts)

    def split(self, text: str) -> list[str] | None:
        """The pieces the tokenizer's pre-tokenizer cuts `text` into, or None where `counts` would encode it."""
        if self._added is not None and self._added.search(text):
            return None
        if text.isascii():
            return _PIECE.findall(text)
        if self._unicode_ok and within_bmp(text):
            piece, unsafe = _bmp_patterns()
            return None if unsafe.search(text) else piece.findall(text)
        if not self._safe(text):
            return None
        ends = list(accumulate(map(len, _PIECE.findall(text.translate(_CLASS_OF)))))
        return list(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))

    def _safe(self, text: str) -> bool:
        category = unicodedata.category
        return self._unicode_ok and not any(ord(ch) > 127 and category(ch) in _UNSAFE for ch in set(text))

    def count(self, text: str) -> int | None:
        """Tokens of `text`, or None where the tokenizer must encode it (see the module docstring)."""
        if self._added is not None and self._added.search(text):
            return None
        parts = text.split(" ")
        try:
            return self._first[parts[0]] + sum(map(self._after.__getitem__, islice(parts, 1, None)))
        except KeyError:
            return self._count_parts(text, parts)

    def _count_parts(self, text: str, parts: list[str]) -> int | None:
        """`count` where some part is not cached: each missing part counted alone (and cached if its ends are
        not whitespace), or the whole text split by the regex if a part has whitespace at an end."""
        if len(self._first) + len(self._after) > MAX_PARTS:
            self._first.clear()
            self._after.clear()
        ws, total, only = _WS, 0, len(parts) == 1
        for i, part in enumerate(parts):
            cache = self._after if i else self._first
            n = cache.get(part)
            if n is None:
                clean = (not part or part[-1] not in ws) if i == 0 else \
                    (part != "" and part[0] not in ws and part[-1] not in ws)
                if not clean and not only:  # pieces may span this space: split the text as a whole
                    pieces = self.split(text)
                    return None if pieces is None else self._count(pieces)
                pieces = self.split(" " + part if i else part)
                if pieces is None:
                    return None
                n = self._count(pieces)
                if clean and len(part) <= MAX_PART_CHARS:
                    cache[part] = n
            total += n
        return total

    def counts(self, texts: list[str]) -> list[int]:
        out: list[int | None] = [None] * len(texts)
        slow: list[int] = []
        for i, text in enumerate(texts):
            n = self.count(text)
            if n is None:
                slow.append(i)
            else:
                out[i] = n
        if slow:
            for i, e in zip(slow, self.backend.encode_batch_fast([texts[i] for i in slow], add_special_tokens=False)):
                out[i] = len(e)
        return out  # type: ignore[return-value]


_COUNTERS: dict[int, tuple[Any, PieceCounter | None]] = {}


def counter(tokenizer: Any) -> PieceCounter | None:
    """A PieceCounter for `tokenizer` (a transformers fast tokenizer), or None if it is not a plain byte-level
    BPE (normaliser none, ByteLevel pre-tokenizer with its regex and no prefix space, BPE without dropout)
    or has truncation or padding set now (an earlier padded or truncated call leaves them set on the backend;
    the tokenizer's own call, which sets them as it needs, then counts). One per tokenizer object, kept for
    the process (its caches)."""
    hit = _COUNTERS.get(id(tokenizer))
    if hit is not None and hit[0] is tokenizer:
        made = hit[1]
    else:
        made = _make(tokenizer)
        if len(_COUNTERS) > 8:
            _COUNTERS.clear()
        _COUNTERS[id(tokenizer)] = (tokenizer, made)
    if made is None or made.backend.truncation is not None or made.backend.padding is not None:
        return None
    return made


def _make(tokenizer: Any) -> PieceCounter | None:
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast") or not hasattr(backend, "model"):
        return None
    try:
        cfg = json.loads(backend.to_str())
    except Exception:  # a tokenizer that cannot describe itself: encode as usual
        return None
    pre, model = cfg.get("pre_tokenizer") or {}, cfg.get("model") or {}
    if cfg.get("normalizer") is not None or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True) \
            or pre.get("add_prefix_space") or model.get("type") != "BPE" or model.get("dropout") is not None:
        return None
    return PieceCounter(backend, [a["content"] for a in cfg.get("added_tokens") or [] if a.get("content")])
