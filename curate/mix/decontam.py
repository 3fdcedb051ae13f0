"""Decontamination: flag candidate records that copy an eval (target) item.

Four ways a record matches, strongest first (`Match.kind`):
- `known`: the catalog lists the record as one of the target's problems held under another item set
  (`catalog.ITEM_OVERLAPS`: ProofNet's Putnam exercises are PutnamBench problems);
- `exact`: one side, normalised (`curate.mix.text`: case, whitespace, punctuation), equals a target side;
- `canonical` / `near`: on the formal side, the statement's canonical form (`formal.canonical`: declaration
  name dropped, variables and hypotheses renamed, notation unified, hypotheses sorted) equals a target
  statement's, or is within `near` × its length in token edits;
- `ngram`: a shared window of normalised tokens, on either side or on both joined.

N-gram windows: both sides of every target item (informal and formal), and for pairs the two joined
(informal then formal, so windows may span the boundary), are indexed; the same three texts of every
candidate record are checked against the whole index (so a Lean statement pasted into a text field is still
caught, and a short pair edited on both sides still shares a window across the join).
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

import itertools
from dataclasses import dataclass

import numpy as np

from curate.mix.text import tokens
from formal import canonical as canon

SIDES = ("informal", "formal")
KINDS = ("known", "exact", "canonical", "near", "ngram")
"""Match kinds, strongest first."""


@dataclass(frozen=True)
class Match:
    """Why a record is contaminated: which target item it copies, and how."""

    target_id: str
    target_side: str
    side: str
    """The candidate's side that matched (informal, formal, pair, or id for a known copy)."""
    window: int
    """N-gram window width in tokens (0 for a whole-side or formal match)."""
    ngram: str
    """The matched text: the shared window, the equal side, or the canonical statement."""
    kind: str = "ngram"
    """known | exact | canonical | near | ngram (see the module docstring)."""
    distance: int = 0
    """near: edit distance in canonical tokens."""

    def to_json(self) -> dict:
        return {"target_id": self.target_id, "target_side": self.target_side, "side": self.side,
                "window": self.window, "ngram": self.ngram, "kind": self.kind, "distance": self.distance}


def window_for(n_tokens: int, ngram: int, min_ngram: int) -> int:
    """The window width used for a target side of `n_tokens` tokens (0 = whole-side match only)."""
    if n_tokens < min_ngram:
        return 0
    return min(ngram, max(min_ngram, n_tokens // 3))


def formal_statements(row: dict) -> list[tuple[str, ...]]:
    """Canonical statements of a row's formal side (none for non-formal languages such as Python)."""
    text = row.get("formal")
    if not text:
        return []
    lang = canon.lang_of(row.get("formal_lang"))
    if lang is None and row.get("formal_lang") is None and any(k in text for k in ("theorem", "lemma")):
        lang = canon.detect_lang(text)
    return canon.statements(text, lang) if lang else []


class ContaminationIndex:
    """An index of target items; `match(row)` says whether a candidate record copies one of them.

    `formal=False` turns the canonical match off (n-grams, exact sides and known copies only); `near` is the
    edit-distance threshold as a fraction of a statement's canonical length (0 = exact canonical forms only),
    applied to statements of at least `near_min_tokens` canonical tokens."""

    def __init__(self, ngram: int = 13, min_ngram: int = 5, formal: bool = True, near: float = 0.1,
                 near_min_tokens: int = 12):
        if min_ngram < 1 or ngram < min_ngram:
            raise ValueError(f"need 1 <= min_ngram <= ngram, got ngram={ngram}, min_ngram={min_ngram}")
        self.ngram, self.min_ngram, self.formal = ngram, min_ngram, formal
        self._vocab: dict[str, int] = {}
        self._windows: dict[int, dict[tuple[int, ...], tuple[str, str]]] = {}
        self._prefix: set[tuple[int, ...]] = set()  # first min_ngram ids of every window: a cheap pre-check
        self._whole: dict[str, tuple[str, str]] = {}
        self._exact: dict[str, tuple[str, str]] = {}
        self._exact_lens: set[int] = set()  # token counts of the `_exact` keys: most texts skip the join
        self._canonical = canon.CanonicalIndex(near=near, min_tokens=near_min_tokens)
        self._known: dict[str, list[tuple[str, str]]] = {}
        self._overlaps_for: set[str] = set()
        self.items = 0
        self.notes: list[str] = []
        self._prefix_hashes: tuple[int, np.ndarray] | None = None

    # ------------------------------------------------------------------ indexing
    def _ids(self, toks: list[str], grow: bool) -> list[int]:
        if grow:
            return [self._vocab.setdefault(t, len(self._vocab)) for t in toks]
        return [self._vocab.get(t, -1) for t in toks]

    def add(self, target_id: str, side: str, text: str | None) -> None:
        toks = tokens(text)
        if not toks:
            return
        self.items += 1
        self._exact.setdefault(" ".join(toks), (target_id, side))
        self._exact_lens.add(len(toks))
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
        """Index both sides of one target item, (for pairs) the two sides joined, and its formal statements."""
        for side in SIDES:
            self.add(row["id"], side, row.get(side))
        if row.get("informal") and row.get("formal"):
            self.add(row["id"], "pair", f"{row['informal']}\n{row['formal']}")
        if self.formal:
            for stmt in formal_statements(row):
                self._canonical.add(row["id"], stmt)

    def add_dataset(self, ds, overlaps: bool = True) -> None:
        """Index every item of a target; with `overlaps`, also its problems that other item sets hold under
        other ids (see `add_overlaps`)."""
        rows = list(ds)
        for row in rows:
            self.add_record(row)
        if overlaps and rows and rows[0].get("source"):
            self.add_overlaps(rows[0]["source"], [r["id"] for r in rows])

    def add_known(self, source: str, item_id: str, target_id: str) -> None:
        """Records of `source` whose id names `item_id` (see `catalog.id_matches`) copy `target_id`."""
        self._known.setdefault(source, []).append((item_id, target_id))

    def add_overlaps(self, target: str, target_ids: list[str] | None = None) -> int:
        """Mark the target's problems held by other item sets (`catalog.ITEM_OVERLAPS`): by id in every
        catalog source holding such a set, and by content (their records are indexed as the target item) from
        the local built-in sources that hold them. Returns how many records were indexed by content."""
        from curate import catalog, load
        from curate.errors import CurateError

        if target in self._overlaps_for:
            return 0
        self._overlaps_for.add(target)
        try:
            tspec = catalog.get(target)
        except CurateError:
            return 0
        ids = target_ids or []

        def resolve(item: str) -> str:
            return next((i for i in ids if catalog.id_matches(i, item)), item)

        indexed = 0
        for name, spec in catalog.all_specs().items():
            pairs = catalog.item_overlaps(tspec, spec)
            if not pairs:
                continue
            for t_item, s_item in pairs:
                self.add_known(name, s_item, resolve(t_item))
            if spec.is_hub or spec.registered or not load.available(spec):
                continue
            want = {s: resolve(t) for t, s in pairs}
            for row in load.load_source(name):
                key = next((s for s in want if catalog.id_matches(row["id"], s)), None)
                if key is not None:
                    self.add_record({**row, "id": want[key]})
                    indexed += 1
        if indexed:
            self.notes.append(f"{target}: {indexed} records of its problems held under other ids indexed too")
        return indexed

    # ------------------------------------------------------------------ matching
    def _ngram_hits(self, text: str | None, side: str, first: bool, toks: list[str] | None = None,
                    windows: bool = True) -> list[Match]:
        """Overlaps of one text (`toks`: its tokens, if already computed); `windows=False` skips the window
        scan (for texts the batch pre-check showed to share no window prefix with the index)."""
        toks = tokens(text) if toks is None else toks
        if not toks:
            return []
        out: list[Match] = []
        seen: set[str] = set()
        if len(toks) in self._exact_lens:  # `_whole` keys are `_exact` keys too
            joined = " ".join(toks)
            hit = self._exact.get(joined)
            if hit is not None:
                out.append(Match(hit[0], hit[1], side, 0, joined, "exact"))
                seen.add(hit[0])
                if first:
                    return out
            hit = self._whole.get(joined)
            if hit is not None and hit[0] not in seen:
                out.append(Match(hit[0], hit[1], side, 0, joined, "exact"))
                seen.add(hit[0])
                if first:
                    return out
        if not windows:
            return out
        ids = self._ids(toks, grow=False)
        m, widths = self.min_ngram, sorted(self._windows)
        for i in range(len(ids) - m + 1):
            if tuple(ids[i:i + m]) not in self._prefix:
                continue
            for w in widths:
                if i + w > len(ids):
                    break
                hit = self._windows[w].get(tuple(ids[i:i + w]))
                if hit is not None and hit[0] not in seen:
                    out.append(Match(hit[0], hit[1], side, w, " ".join(toks[i:i + w])))
                    seen.add(hit[0])
                    if first:
                        return out
        return out

    # -- batch pre-check: which records share a window prefix with the index (a hash superset, then exact)
    def _prefix_keys(self) -> np.ndarray:
        if self._prefix_hashes is None or self._prefix_hashes[0] != len(self._prefix):
            keys = _window_hashes(np.array(sorted(self._prefix), dtype=np.int64).reshape(-1), self.min_ngram,
                                  stride=self.min_ngram) if self._prefix else np.zeros(0, np.uint64)
            self._prefix_hashes = (len(self._prefix), np.unique(keys))
        return self._prefix_hashes[1]

    def may_share_window(self, records: list[tuple[list[str], ...]]) -> np.ndarray:
        """(len(records),) bool: True where some `min_ngram` window of a record's tokens (its parts, such as
        its two sides, concatenated) may be a prefix of an indexed window. Never False where one is (hashes
        of id windows; collisions only add Trues)."""
        m = self.min_ngram
        out = np.zeros(len(records), dtype=bool)
        if not self._prefix or not records:
            return out
        flat: list[str] = []
        ends = np.zeros(len(records), dtype=np.int64)
        for i, parts in enumerate(records):
            for p in parts:
                flat += p
            flat.append("")  # separator: never a token, so id -1
            ends[i] = len(flat)
        ids = np.array(list(map(self._vocab.get, flat, itertools.repeat(-1))), dtype=np.int64)
        if len(ids) < m:
            return out
        bad = np.concatenate([[0], np.cumsum(ids < 0)])
        ok = np.flatnonzero((bad[m:] - bad[:-m]) == 0)  # windows without an unknown token (or separator)
        if not len(ok):
            return out
        h = _window_hashes(ids, m)[ok]
        keys = self._prefix_keys()
        hit = ok[keys[np.minimum(np.searchsorted(keys, h), len(keys) - 1)] == h]
        out[np.searchsorted(ends, hit, side="right")] = True  # the record whose span holds the window start
        return out

    def match_text(self, text: str | None, side: str = "informal") -> Match | None:
        """The first n-gram (or exact) overlap of one text with the index."""
        hits = self._ngram_hits(text, side, first=True)
        return hits[0] if hits else None

    def _known_hit(self, row: dict) -> Match | None:
        known = self._known.get(row.get("source") or "")
        if not known:
            return None
        from curate import catalog

        for item, target_id in known:
            if catalog.id_matches(str(row.get("id", "")), item):
                return Match(target_id, "item", "id", 0, f"{row['source']}/{row['id']} is {item}", "known")
        return None

    def _formal_hits(self, row: dict, first: bool) -> list[Match]:
        if not self.formal or not len(self._canonical):
            return []
        out = []
        for stmt in formal_statements(row):
            hit = self._canonical.match(stmt)
            if hit is not None:
                out.append(Match(hit.item_id, "formal", "formal", 0, " ".join(stmt)[:300], hit.kind, hit.distance))
                if first:
                    return out
        return out

    def match(self, row: dict, toks: dict[str, list[str]] | None = None, windows: bool = True) -> Match | None:
        """The strongest overlap of a record (a dataset row) with the index, or None if clean. `toks`: the
        tokens of its informal and formal sides, if already computed; `windows=False` skips window scans
        (see `match_batch`)."""
        hit = self._known_hit(row)
        if hit is not None:
            return hit
        toks = toks if toks is not None else {side: tokens(row.get(side)) for side in SIDES}
        ngram_hits = []
        for side in SIDES:
            hits = self._ngram_hits(row.get(side), side, True, toks[side], windows)
            if hits and hits[0].kind == "exact":
                return hits[0]
            ngram_hits += hits
        formal = self._formal_hits(row, first=True)
        if formal:
            return formal[0]
        if ngram_hits:
            return ngram_hits[0]
        inf, frm = toks["informal"], toks["formal"]
        if row.get("informal") and row.get("formal") and (windows or len(inf) + len(frm) in self._exact_lens):
            hits = self._ngram_hits(None, "pair", True, inf + frm, windows)  # no window: only an exact hit
            return hits[0] if hits else None
        return None

    def match_batch(self, rows: list[dict], toks: list[dict[str, list[str]]]) -> list[Match | None]:
        """`match` of every row (`toks[i]`: row i's side tokens); window scans only for the rows whose
        joined sides may share a window prefix with the index (one vectorised pre-check for the batch)."""
        scan = self.may_share_window([(t["informal"], t["formal"]) for t in toks])
        return [self.match(row, t, bool(s)) for row, t, s in zip(rows, toks, scan)]

    def match_all(self, row: dict) -> list[Match]:
        """Every target item a record overlaps, each once with its strongest match kind (for `curate audit`)."""
        hits: list[Match] = []
        known = self._known_hit(row)
        if known is not None:
            hits.append(known)
        for side in SIDES:
            hits += self._ngram_hits(row.get(side), side, first=False)
        hits += self._formal_hits(row, first=False)
        if row.get("informal") and row.get("formal"):
            hits += self._ngram_hits(f"{row['informal']}\n{row['formal']}", "pair", first=False)
        best: dict[str, Match] = {}
        for h in hits:
            cur = best.get(h.target_id)
            if cur is None or KINDS.index(h.kind) < KINDS.index(cur.kind):
                best[h.target_id] = h
        return sorted(best.values(), key=lambda h: (KINDS.index(h.kind), h.target_id))


_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


def _window_hashes(ids: np.ndarray, m: int, stride: int = 1) -> np.ndarray:
    """A 64-bit hash of every window of `m` consecutive ids (stride 1: every start; stride m: consecutive
    disjoint windows, for hashing a flat array of m-tuples). Equal windows hash equal."""
    x = ids.astype(np.uint64)
    n = (len(x) - m) // stride + 1
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(m):
            h = h * _HASH_MUL + x[j: j + stride * (n - 1) + 1: stride] + np.uint64(1)
            h ^= h >> np.uint64(31)
    return h
