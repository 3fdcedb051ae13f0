"""Global deduplication: per-record keys computed shard by shard, duplicates resolved over all shards.

Map side (`Signer`, runs on workers): for every record the SHA-256 of its normalised text (exact
duplicates), its MinHash signature (datasketch, word shingles; near duplicates) and one 64-bit key
per LSH band. Reduce side (`resolve`, runs once on compact arrays): records that share a digest or
a band key are candidates; candidates are confirmed as datasketch's MinHashLSH would (some band
equal, estimated Jaccard >= threshold) and resolved in global priority order (rank order of the
sources, then record order): a record is removed if it duplicates an earlier record that was kept,
and names the earliest such record. This is exactly the one-pass `curate.mix.dedup.Deduplicator`
over the concatenated records, so the survivors do not depend on how the corpus was sharded or how
many workers signed it.
"""

from __future__ import annotations

import hashlib
from operator import methodcaller
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

KEPT = 0
STATUS = {1: "exact_duplicate", 2: "near_duplicate"}
"""The removal reasons (curate.mix.dedup.EXACT / NEAR; not imported, so workers need not import the mix)."""
_digest = methodcaller("digest")
_BAND_MIX = np.random.default_rng(20250801).integers(1, 2**63, size=64, dtype=np.uint64) | np.uint64(1)


@dataclass
class Keys:
    """Dedup keys of one batch, aligned with its rows."""

    digests: np.ndarray
    """(n,) S32: SHA-256 of the normalised text."""
    signatures: np.ndarray
    """(n, num_perm) uint32 MinHash values (zeros where `has_signature` is False)."""
    has_signature: np.ndarray
    """(n,) bool: near dedup applies (near dedup on and the text has at least one token)."""
    bands: np.ndarray
    """(n, b) uint64: one key per LSH band (a hash of the band's values)."""

    @staticmethod
    def concat(parts: list["Keys"], signer: "Signer") -> "Keys":
        if not parts:
            return signer.keys_from_tokens([])
        return Keys(*(np.concatenate([getattr(k, f) for k in parts]) for f in
                      ("digests", "signatures", "has_signature", "bands")))


class Signer:
    """Computes `Keys` for texts; the same parameters as `curate.mix.dedup.Deduplicator`.

    Signatures are datasketch's (`MinHash(num_perm, seed)`, its default "affine32" scheme, SHA-1 of each
    shingle's UTF-8 bytes), computed for a whole batch at once with numpy: the same values as
    `MinHash.update_batch` per record (`signature` is that reference)."""

    chunk = 256
    """Records whose shingles are permuted in one numpy call (bounds that call's memory)."""

    def __init__(self, near: bool = True, threshold: float = 0.8, num_perm: int = 128, shingle: int = 5,
                 seed: int = 1):
        from datasketch import MinHash, MinHashLSH

        self.near, self.threshold, self.num_perm, self.shingle, self.seed = near, threshold, num_perm, shingle, seed
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.b, self.r = lsh.b, lsh.r
        proto = MinHash(num_perm=num_perm, seed=seed)
        self._minhash = MinHash
        self._perms, self._scheme = proto.permutations, proto.scheme
        if self._scheme != "affine32":
            raise RuntimeError(f"datasketch's default MinHash scheme is {self._scheme!r}; expected affine32")
        self._a = np.ascontiguousarray(self._perms[0], dtype=np.uint32)
        self._b = np.ascontiguousarray(self._perms[1], dtype=np.uint32)

    def signature(self, toks: list[str]) -> np.ndarray:
        """One record's signature with datasketch itself (the reference for `keys`)."""
        m = self._minhash(num_perm=self.num_perm, seed=self.seed, permutations=self._perms, scheme=self._scheme)
        m.update_batch(self._shingles(toks))
        return m.hashvalues

    def _shingles(self, toks: list[str]) -> list[bytes]:
        """UTF-8 bytes of each word `shingle`-gram (the whole text if shorter), in order, repeats kept (they do
        not change a minimum)."""
        k = self.shingle
        return [" ".join(toks[i:i + k]).encode("utf-8") for i in range(max(1, len(toks) - k + 1))]

    def keys(self, texts: list[str]) -> Keys:
        from curate.mix.text import tokens

        return self.keys_from_tokens([tokens(t) for t in texts])

    def keys_from_tokens(self, toks_list: list[list[str]]) -> Keys:
        """`Keys` of texts given as their normalised tokens (`curate.mix.text.tokens`)."""
        n = len(toks_list)
        sha256, sha1 = hashlib.sha256, hashlib.sha1
        digests = np.empty(n, dtype="S32")
        sigs = np.zeros((n, self.num_perm), dtype=np.uint32)
        has = np.zeros(n, dtype=bool)
        for i, toks in enumerate(toks_list):
            digests[i] = sha256(" ".join(toks).encode("utf-8")).digest()
        if self.near:
            has[:] = [bool(t) for t in toks_list]
            rows = np.flatnonzero(has)
            for lo in range(0, len(rows), self.chunk):
                part = rows[lo: lo + self.chunk]
                counts, raw = [], []
                for i in part:
                    grams = self._shingles(toks_list[i])
                    counts.append(len(grams))
                    raw.extend(map(_digest, map(sha1, grams)))
                hv = np.frombuffer(b"".join(raw), dtype="<u4")[::5].astype(np.uint32)  # sha1_hash32
                hv ^= hv >> np.uint32(16)  # datasketch's _fmix (MurmurHash3 finalizer, 32 bits)
                hv *= np.uint32(0x85EBCA6B)
                hv ^= hv >> np.uint32(13)
                hv *= np.uint32(0xC2B2AE35)
                hv ^= hv >> np.uint32(16)
                phv = self._a[:, None] * hv  # (num_perm, shingles): each record's shingles contiguous
                phv += self._b[:, None]
                offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
                sigs[part] = np.minimum.reduceat(phv, offsets, axis=1).T
        return Keys(digests, sigs, has, self.band_keys(sigs))

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        bands = sigs[:, : self.b * self.r].reshape(len(sigs), self.b, self.r).astype(np.uint64)
        with np.errstate(over="ignore"):
            h = (bands * _BAND_MIX[: self.r]).sum(axis=2, dtype=np.uint64)
            h ^= h >> np.uint64(29)
        return h


@dataclass
class Resolution:
    """Per record (global order): KEPT, 1 (exact) or 2 (near); the record it duplicates; similarity."""

    status: np.ndarray
    kept_of: np.ndarray
    similarity: np.ndarray


def resolve(digests: np.ndarray, has_signature: np.ndarray, bands: np.ndarray | Sequence[Callable[[], np.ndarray]],
            signatures: Callable[[np.ndarray], np.ndarray], threshold: float, b: int, r: int) -> Resolution:
    """Resolve duplicates over all records (arrays in global priority order).

    `bands`: the (n, b) band keys, or one loader per band returning that band's (n,) keys (so only one
    band is in memory at a time). `signatures(idx)` returns the MinHash rows of records `idx` (ascending);
    only candidates are read, so the signatures may live on disk. Memory beyond the inputs: O(n) for one
    band at a time, and O(records that share some band key) for the candidate groups.
    """
    n = len(digests)
    status = np.zeros(n, dtype=np.int8)
    kept_of = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float64)
    if n == 0:
        return Resolution(status, kept_of, sim)
    _, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
    rep = first[inverse.reshape(-1)]
    del first, inverse
    is_rep = rep == np.arange(n)
    kept = is_rep.copy()
    if isinstance(bands, np.ndarray):
        loaders = [(lambda k=k: bands[:, k]) for k in range(bands.shape[1])]
    else:
        loaders = list(bands)

    cand = np.flatnonzero(is_rep & has_signature)
    if len(cand) > 1:
        # per band, only the candidates in a group of >= 2 sharing a key: (their index into cand, ascending;
        # their group; group starts; members per group, ascending)
        groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for load in loaders:
            keys = np.asarray(load())[cand]
            order = np.argsort(keys, kind="stable")
            sk = keys[order]
            del keys
            new = np.ones(len(sk), dtype=bool)
            new[1:] = sk[1:] != sk[:-1]
            del sk
            gid_sorted = np.cumsum(new) - 1
            multi = np.bincount(gid_sorted)[gid_sorted] >= 2
            order, new = order[multi], new[multi]
            del gid_sorted, multi
            gid = np.cumsum(new) - 1  # groups renumbered over the kept entries (still contiguous)
            starts = np.concatenate([[0], np.cumsum(np.bincount(gid))]) if len(gid) else np.zeros(1, np.int64)
            members = cand[order]
            by_c = np.argsort(order, kind="stable")
            groups.append((order[by_c], gid[by_c], starts, members))
        involved = np.unique(np.concatenate([g[0] for g in groups])) if groups else np.zeros(0, np.int64)
        for c in involved:
            j = cand[c]
            parts = []
            for cidx, gid, starts, members in groups:
                at = np.searchsorted(cidx, c)
                if at < len(cidx) and cidx[at] == c:
                    g = gid[at]
                    m = members[starts[g]:starts[g + 1]]
                    parts.append(m[: np.searchsorted(m, j)])
            earlier = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
            earlier = earlier[kept[earlier]]
            if not len(earlier):
                continue
            rows = signatures(np.concatenate([earlier, [j]]))
            eq = rows[:-1] == rows[-1]
            sims = np.count_nonzero(eq, axis=1) / float(rows.shape[1])
            band_equal = eq[:, : b * r].reshape(len(earlier), b, r).all(axis=2).any(axis=1)
            ok = np.flatnonzero(band_equal & (sims >= threshold))
            if len(ok):
                status[j], kept_of[j], sim[j] = 2, earlier[ok[0]], sims[ok[0]]
                kept[j] = False
    dup = np.flatnonzero(~is_rep)
    rep_of = rep[dup]
    rep_kept = kept[rep_of]
    status[dup] = np.where(rep_kept, 1, 2)
    kept_of[dup] = np.where(rep_kept, rep_of, kept_of[rep_of])
    sim[dup] = np.where(rep_kept, 1.0, sim[rep_of])
    return Resolution(status, kept_of, sim)
