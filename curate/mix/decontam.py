"""Decontamination: flag candidate records that share an n-gram with any eval (target) item.

Both sides of every target item (informal and formal), and for pairs the two joined (informal then
formal, so windows may span the boundary), are indexed; the same three texts of every candidate
record are checked against the whole index (so a Lean statement pasted into a text field is still
caught, and a short pair edited on both sides still shares a window across the join). Text is normalised first (`curate.mix.text`: case, whitespace, punctuation).

Window per target side, with T = its number of normalised tokens:
- `T >= min_ngram`: every window of w = min(ngram, max(min_ngram, T // 3)) tokens is indexed. A
  long side uses the full `ngram` (13 by default); a shorter side uses a window of about a third of
  its length, so that one edited span of up to T - 2w tokens (at least a third of the side) always
  leaves a whole window intact: copies with a small edit are still caught.
- `T < min_ngram`: too short to be distinctive by containment; only an exactly equal normalised
  side matches.
A candidate matches if any of its windows (of any indexed width) is in the index.
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.mix.text import tokens

SIDES = ("informal", "formal")


@dataclass(frozen=True)
class Match:
    """Why a record is contaminated: the first target window found in it."""

    target_id: str
    target_side: str
    side: str
    """The candidate's side that contains the window."""
    window: int
    """Window width in tokens (0 for a whole-side match)."""
    ngram: str

    def to_json(self) -> dict:
        return {"target_id": self.target_id, "target_side": self.target_side, "side": self.side,
                "window": self.window, "ngram": self.ngram}


def window_for(n_tokens: int, ngram: int, min_ngram: int) -> int:
    """The window width used for a target side of `n_tokens` tokens (0 = whole-side match only)."""
    if n_tokens < min_ngram:
        return 0
    return min(ngram, max(min_ngram, n_tokens // 3))


class ContaminationIndex:
    """An index of target windows; `match(row)` says whether a candidate record overlaps it."""

    def __init__(self, ngram: int = 13, min_ngram: int = 5):
        if min_ngram < 1 or ngram < min_ngram:
            raise ValueError(f"need 1 <= min_ngram <= ngram, got ngram={ngram}, min_ngram={min_ngram}")
        self.ngram, self.min_ngram = ngram, min_ngram
        self._vocab: dict[str, int] = {}
        self._windows: dict[int, dict[tuple[int, ...], tuple[str, str]]] = {}
        self._prefix: set[tuple[int, ...]] = set()  # first min_ngram ids of every window: a cheap pre-check
        self._whole: dict[str, tuple[str, str]] = {}
        self.items = 0

    def _ids(self, toks: list[str], grow: bool) -> list[int]:
        if grow:
            return [self._vocab.setdefault(t, len(self._vocab)) for t in toks]
        return [self._vocab.get(t, -1) for t in toks]

    def add(self, target_id: str, side: str, text: str | None) -> None:
        toks = tokens(text)
        if not toks:
            return
        self.items += 1
        w = window_for(len(toks), self.ngram, self.min_ngram)
        if w == 0:
            self._whole.setdefault(" ".join(toks), (target_id, side))
            return
        ids = self._ids(toks, grow=True)
        table = self._windows.setdefault(w, {})
        for i in range(len(ids) - w + 1):
            gram = tuple(ids[i:i + w])
            table.setdefault(gram, (target_id, side))
            self._prefix.add(gram[: self.min_ngram])

    def add_record(self, row: dict) -> None:
        """Index both sides of one target item, and (for pairs) the two sides joined."""
        for side in SIDES:
            self.add(row["id"], side, row.get(side))
        if row.get("informal") and row.get("formal"):
            self.add(row["id"], "pair", f"{row['informal']}\n{row['formal']}")

    def add_dataset(self, ds) -> None:
        for row in ds:
            self.add_record(row)

    def match_text(self, text: str | None, side: str = "informal") -> Match | None:
        toks = tokens(text)
        if not toks:
            return None
        if self._whole:
            hit = self._whole.get(" ".join(toks))
            if hit is not None:
                return Match(hit[0], hit[1], side, 0, " ".join(toks))
        ids = self._ids(toks, grow=False)
        m, widths = self.min_ngram, sorted(self._windows)
        for i in range(len(ids) - m + 1):
            if tuple(ids[i:i + m]) not in self._prefix:
                continue
            for w in widths:
                if i + w > len(ids):
                    break
                hit = self._windows[w].get(tuple(ids[i:i + w]))
                if hit is not None:
                    return Match(hit[0], hit[1], side, w, " ".join(toks[i:i + w]))
        return None

    def match(self, row: dict) -> Match | None:
        """The first overlap of a record (a dataset row) with the index, or None if clean."""
        for side in SIDES:
            hit = self.match_text(row.get(side), side)
            if hit is not None:
                return hit
        if row.get("informal") and row.get("formal"):
            return self.match_text(f"{row['informal']}\n{row['formal']}", "pair")
        return None
