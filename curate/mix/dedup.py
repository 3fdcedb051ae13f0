"""Deduplication in one pass over records in priority order: the first copy is kept.

- exact: the SHA-256 of the normalised rendered text (`curate.mix.text`: case, whitespace and
  punctuation do not count) was seen before;
- near: MinHash (datasketch, each shingle hashed by `curate.pipeline.dedup.shingle_hash`) over word
  `shingle`-grams of the normalised text, LSH candidates confirmed by the estimated Jaccard similarity
  >= `threshold`; bands and rows favour recall (`recall_weight`, see `curate.pipeline.dedup.lsh_params`).
  Texts shorter than a shingle are one shingle. Hashing is seeded and uses no salted
  `hash`, so results are reproducible across processes and machines.

This is the reference the sharded pipeline (`curate.pipeline.dedup`) must agree with, verdict for verdict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from curate.mix.text import tokens

EXACT, NEAR = "exact_duplicate", "near_duplicate"


@dataclass(frozen=True)
class Duplicate:
    reason: str
    """EXACT or NEAR."""
    kept: str
    """Key of the earlier record this one duplicates."""
    similarity: float


class Deduplicator:
    """`check(key, text)` returns a Duplicate, or None and remembers the text as kept."""

    def __init__(self, near: bool = True, threshold: float = 0.8, num_perm: int = 128, shingle: int = 5,
                 seed: int = 1, recall_weight: float = 0.99):
        self.near, self.threshold, self.num_perm, self.shingle = near, threshold, num_perm, shingle
        self._exact: dict[str, str] = {}
        self._order: dict[str, int] = {}
        self._hashes: dict[str, object] = {}
        if near:
            from datasketch import MinHash, MinHashLSH

            self._minhash = MinHash
            proto = MinHash(num_perm=num_perm, seed=seed)
            self._perms, self._scheme = proto.permutations, proto.scheme  # built once, reused
            self._seed = seed
            from curate.pipeline.dedup import lsh_params

            self._lsh = MinHashLSH(num_perm=num_perm, params=lsh_params(threshold, num_perm, recall_weight))

    def _signature(self, toks: list[str]):
        k = self.shingle
        grams = [" ".join(toks[i:i + k]) for i in range(max(1, len(toks) - k + 1))]
        from curate.pipeline.dedup import shingle_hash

        m = self._minhash(num_perm=self.num_perm, seed=self._seed, permutations=self._perms,
                          scheme=self._scheme, hashfunc=shingle_hash)
        m.update_batch([g.encode("utf-8") for g in dict.fromkeys(grams)])
        return m

    def check(self, key: str, text: str) -> Duplicate | None:
        toks = tokens(text)
        digest = hashlib.sha256(" ".join(toks).encode("utf-8")).hexdigest()
        if digest in self._exact:
            return Duplicate(EXACT, self._exact[digest], 1.0)
        sig = None
        if self.near and toks:
            sig = self._signature(toks)
            best: tuple[int, str, float] | None = None
            for other in self._lsh.query(sig):
                sim = float(sig.jaccard(self._hashes[other]))
                if sim >= self.threshold and (best is None or self._order[other] < best[0]):
                    best = (self._order[other], other, sim)
            if best is not None:
                return Duplicate(NEAR, best[1], round(best[2], 4))
        self._exact[digest] = key
        self._order[key] = len(self._order)
        if sig is not None:
            self._hashes[key] = sig
            self._lsh.insert(key, sig)
        return None
