"""Global deduplication: per-record keys computed shard by shard, duplicates resolved over all shards.

Map side (`Signer`, runs on workers): for every record the SHA-256 of its normalised text (exact
duplicates), its MinHash signature (datasketch's affine32 permutations over word shingles hashed with
`shingle_hash`; near duplicates) and one 64-bit key per LSH band. Reduce side (`resolve`, runs once on compact arrays): records that share a digest or
a band key are candidates; candidates are confirmed as datasketch's MinHashLSH would (some band
equal, estimated Jaccard >= threshold) and resolved in global priority order (rank order of the
sources, then record order): a record is removed if it duplicates an earlier record that was kept,
and names the earliest such record. This is exactly the one-pass `curate.mix.dedup.Deduplicator`
over the concatenated records, so the survivors do not depend on how the corpus was sharded or how
many workers signed it.

Bands and rows are datasketch's optimum for `threshold` with the false-negative weight `recall_weight`
(`MinHashLSH(threshold, num_perm, weights=(1 - w, w))`): 0.99 gives 18 bands x 7 rows at 0.8 / 128
permutations, where a pair at Jaccard 0.92 (one word changed in a 120-word text) shares no band with
probability ~7e-7 (9 x 13, datasketch's even weights, misses ~3% of them). More bands only add candidates;
each is still confirmed by its estimated Jaccard >= threshold, so precision stays.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

KEPT = 0
STATUS = {1: "exact_duplicate", 2: "near_duplicate"}
"""The removal reasons (curate.mix.dedup.EXACT / NEAR; not imported, so workers need not import the mix)."""

# ----------------------------------------------------------------------------- the shingle hash
# A shingle is `k` consecutive normalised tokens (no token holds a space). Its 32-bit hash, the same in every
# process and on every machine (fixed constants, no salted `hash`):
#   word(w)  = fmix64(sum_t (byte_t + 1) * P^t + len(w) * Q)          over the UTF-8 bytes of w
#   H(w_1..w_k) = fold32(fmix64(k + sum_j C_j * word(w_j)))            all mod 2^64
# Polynomial word hashes let a whole batch be hashed with numpy prefix sums over the joined bytes (no Python
# work per token or per shingle); `shingle_hash` is the same function one shingle at a time (the reference
# `Signer.signature` passes it to datasketch as its `hashfunc`).
_M64 = (1 << 64) - 1


def _const(label: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(label, digest_size=8).digest(), "little") | 1  # odd


_P, _Q = _const(b"curate-shingle-P"), _const(b"curate-shingle-Q")
_P_INV = pow(_P, -1, 1 << 64)
MAX_SHINGLE = 64
_C = [_const(b"curate-shingle-C%d" % j) for j in range(MAX_SHINGLE)]
_C_NP = np.array(_C, dtype=np.uint64)
_KEEP_POWERS = 1 << 20
"""Entries of the power tables a Signer keeps between batches (16 bytes each)."""


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place on a uint64 array."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def word_hash(word: bytes) -> int:
    """64-bit hash of one token's UTF-8 bytes (see the comment above)."""
    h, pw = 0, 1
    for b in word:
        h = (h + (b + 1) * pw) & _M64
        pw = (pw * _P) & _M64
    return _fmix64_int((h + len(word) * _Q) & _M64)


def shingle_hash(shingle: bytes) -> int:
    """32-bit hash of one shingle, its tokens' UTF-8 bytes joined by single spaces (datasketch `hashfunc`)."""
    words = shingle.split(b" ")
    h = len(words)
    for c, w in zip(_C, words):
        h += c * word_hash(w)
    h = _fmix64_int(h & _M64)
    return (h ^ (h >> 32)) & 0xFFFFFFFF


RECALL_WEIGHT = 0.99
"""Default false-negative weight of the LSH parameter choice (see the module docstring)."""


def lsh_params(threshold: float, num_perm: int, recall_weight: float = RECALL_WEIGHT) -> tuple[int, int]:
    """(bands, rows) of datasketch's `MinHashLSH(threshold, num_perm, weights=(1 - w, w))`."""
    from datasketch import MinHashLSH

    if not 0 <= recall_weight <= 1:
        raise ValueError(f"recall weight must be in [0, 1], got {recall_weight}")
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(1.0 - recall_weight, recall_weight))
    return lsh.b, lsh.r


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

    Signatures are datasketch's (`MinHash(num_perm, seed, hashfunc=shingle_hash)`, its default "affine32"
    permutations), computed for a whole batch at once with numpy: the same values as `MinHash.update_batch`
    per record (`signature` is that reference)."""

    chunk = 8_192
    """Shingles hashed and permuted in one numpy pass (at least one record's): the (num_perm, shingles) array
    of a pass, 4 MB at 128 permutations, stays in this CPU's cache (of 4k-64k shingles, 8k was fastest here;
    ~40% faster than passes of 256 records, whose array outgrew the cache)."""

    def __init__(self, near: bool = True, threshold: float = 0.8, num_perm: int = 128, shingle: int = 5,
                 seed: int = 1, recall_weight: float = RECALL_WEIGHT):
        from datasketch import MinHash

        if not 1 <= shingle <= MAX_SHINGLE:
            raise ValueError(f"shingle must be in [1, {MAX_SHINGLE}], got {shingle}")
        self.near, self.threshold, self.num_perm, self.shingle, self.seed = near, threshold, num_perm, shingle, seed
        self.b, self.r = lsh_params(threshold, num_perm, recall_weight)
        proto = MinHash(num_perm=num_perm, seed=seed)
        self._minhash = MinHash
        self._perms, self._scheme = proto.permutations, proto.scheme
        if self._scheme != "affine32":
            raise RuntimeError(f"datasketch's default MinHash scheme is {self._scheme!r}; expected affine32")
        self._a = np.ascontiguousarray(self._perms[0], dtype=np.uint32)
        self._b = np.ascontiguousarray(self._perms[1], dtype=np.uint32)
        self._pow = np.ones(1, dtype=np.uint64)  # P^t and P^-t mod 2^64, grown on demand
        self._ipow = np.ones(1, dtype=np.uint64)

    def signature(self, toks: list[str]) -> np.ndarray:
        """One record's signature with datasketch itself (the reference for `keys`)."""
        m = self._minhash(num_perm=self.num_perm, seed=self.seed, permutations=self._perms, scheme=self._scheme,
                          hashfunc=shingle_hash)
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

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """P^t and P^-t mod 2^64 for t < n (kept for the next call up to `_KEEP_POWERS` entries)."""
        if len(self._pow) >= n:
            return self._pow[:n], self._ipow[:n]
        m = max(n, min(2 * len(self._pow), _KEEP_POWERS))
        pw, ipw = np.full(m, _P, dtype=np.uint64), np.full(m, _P_INV, dtype=np.uint64)
        pw[0] = ipw[0] = 1
        with np.errstate(over="ignore"):
            pw, ipw = np.cumprod(pw, dtype=np.uint64), np.cumprod(ipw, dtype=np.uint64)
        if m <= _KEEP_POWERS:
            self._pow, self._ipow = pw, ipw
        return pw[:n], ipw[:n]

    def shingle_hashes(self, joined: list[bytes], lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, counts): `shingle_hash` of every shingle of every text, texts in order and each text's
        shingles contiguous, and how many each text has. `joined[i]`: text i's tokens' UTF-8 bytes joined by
        spaces; `lengths[i]`: its token count (at least 1)."""
        k = self.shingle
        buf = np.frombuffer(b" ".join(joined), dtype=np.uint8)
        n = len(buf)
        pw, ipw = self._powers(n)
        with np.errstate(over="ignore"):
            pref = np.cumsum((buf.astype(np.uint64) + np.uint64(1)) * pw, dtype=np.uint64)
            word = buf != 32
            starts = np.flatnonzero(word & np.concatenate([[True], ~word[:-1]]))  # every word's [start, end)
            ends = np.flatnonzero(word & np.concatenate([~word[1:], [True]])) + 1
            if len(starts) != int(np.sum(lengths)):
                raise ValueError("shingle_hashes: tokens must be non-empty and hold no space")
            before = pref[np.maximum(starts - 1, 0)]
            before[starts == 0] = 0
            w = (pref[ends - 1] - before) * ipw[starts] + (ends - starts).astype(np.uint64) * np.uint64(_Q)
            w = _fmix64(w)
            lens = np.asarray(lengths, dtype=np.int64)
            first = np.concatenate([[0], np.cumsum(lens)[:-1]])  # each text's first word
            counts = np.maximum(lens - k + 1, 1)
            at = np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
            size = np.repeat(np.minimum(lens, k), counts)  # words in each shingle (k, or the whole short text)
            h = size.astype(np.uint64)
            wpad = np.concatenate([w, np.zeros(k, dtype=np.uint64)])
            for j in range(k):
                h += np.where(size > j, _C_NP[j] * wpad[at + j], np.uint64(0))
            h = _fmix64(h)
            hv = (h ^ (h >> np.uint64(32))).astype(np.uint32)
        return hv, counts

    def keys_from_tokens(self, toks_list: list[list[str]]) -> Keys:
        """`Keys` of texts given as their normalised tokens (`curate.mix.text.tokens`)."""
        n = len(toks_list)
        sha256 = hashlib.sha256
        digests = np.empty(n, dtype="S32")
        sigs = np.zeros((n, self.num_perm), dtype=np.uint32)
        has = np.zeros(n, dtype=bool)
        joined = [" ".join(toks).encode("utf-8") for toks in toks_list]
        for i, j in enumerate(joined):
            digests[i] = sha256(j).digest()
        if self.near:
            lens = np.fromiter(map(len, toks_list), dtype=np.int64, count=n)
            has[:] = lens > 0
            rows = np.flatnonzero(has)
            ends = np.cumsum(np.maximum(lens[rows] - self.shingle + 1, 1))  # shingles up to each record
            lo = 0
            while lo < len(rows):
                hi = max(lo + 1, int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + self.chunk, "right")))
                part, lo = rows[lo:hi], hi
                hv, counts = self.shingle_hashes([joined[i] for i in part], lens[part])
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


def _exact_groups(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(records whose digest an earlier record has, ascending; that earliest record, for each): as
    `np.unique(digests, return_index=True, return_inverse=True)` gives, in ~24 bytes a record at the peak
    instead of ~70: the records are sorted by their digests' first 8 bytes, and only those sharing a prefix
    with another (the duplicates, and any prefix collisions) are grouped on their whole digest."""
    n = len(digests)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    prefix = np.ascontiguousarray(np.ascontiguousarray(digests).view(np.uint8).reshape(n, -1)[:, :8]).view("<u8")
    prefix = prefix.reshape(-1)
    order = np.argsort(prefix, kind="stable")
    prefix = prefix[order]
    eq = prefix[1:] == prefix[:-1]
    del prefix
    shared = np.zeros(n, dtype=bool)
    shared[1:] |= eq
    shared[:-1] |= eq
    del eq
    members = np.sort(order[shared])
    del order, shared
    _, first, inverse = np.unique(digests[members], return_index=True, return_inverse=True)
    rep = members[first[inverse.reshape(-1)]]
    later = rep != members
    return members[later], rep[later]


@dataclass
class Resolution:
    """Per record (global order): KEPT, 1 (exact) or 2 (near); the record it duplicates; similarity."""

    status: np.ndarray
    kept_of: np.ndarray
    similarity: np.ndarray
    candidate_pairs: int = 0
    """(record, earlier kept record) pairs that share a band key and had their signatures compared."""


def resolve(digests: np.ndarray, has_signature: np.ndarray, bands: np.ndarray | Sequence[Callable[[], np.ndarray]],
            signatures: Callable[[np.ndarray], np.ndarray], threshold: float, b: int, r: int) -> Resolution:
    """Resolve duplicates over all records (arrays in global priority order).

    `bands`: the (n, b) band keys, or one loader per band returning that band's (n,) keys (so only one
    band is in memory at a time). `signatures(idx)` returns the MinHash rows of records `idx` (ascending);
    only candidates are read, so the signatures may live on disk. Memory beyond the inputs: O(n) for one
    band at a time, and O(candidate pairs) for the pairs that share some band key.

    A record j is a near duplicate of the earliest record i < j that was kept, shares some band key with
    it, and passes the check (some band equal, estimated Jaccard >= threshold). Whether a pair passes
    does not depend on what was kept, so every candidate pair is checked at once (numpy); only the walk
    over the pairs that pass, in record order, is sequential: i's verdict is final before j's.
    """
    n = len(digests)
    status = np.zeros(n, dtype=np.int8)
    kept_of = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float64)
    if n == 0:
        return Resolution(status, kept_of, sim)
    compared = 0
    dup, rep_of = _exact_groups(digests)
    is_rep = np.ones(n, dtype=bool)
    is_rep[dup] = False
    kept = is_rep.copy()
    if isinstance(bands, np.ndarray):
        loaders = [(lambda k=k: bands[:, k]) for k in range(bands.shape[1])]
    else:
        loaders = list(bands)

    cand = np.flatnonzero(is_rep & has_signature)
    if len(cand) > 1:
        earlier, later = _band_pairs(cand, loaders, n)
        ok_i, ok_j, ok_sim = _check_pairs(earlier, later, signatures, threshold, b, r)
        if len(ok_j):
            js, first = np.unique(ok_j, return_index=True)  # ok pairs are sorted by (later, earlier)
            ends = np.append(first[1:], len(ok_j))
            for j, a, e in zip(js.tolist(), first.tolist(), ends.tolist()):
                alive = np.flatnonzero(kept[ok_i[a:e]])
                if len(alive):
                    k = a + int(alive[0])
                    status[j], kept_of[j], sim[j] = 2, ok_i[k], ok_sim[k]
                    kept[j] = False
        # the (earlier kept, later) pairs compared: an earlier record's verdict was final before the later one's
        compared = int(np.count_nonzero(kept[earlier]))
    rep_kept = kept[rep_of]
    status[dup] = np.where(rep_kept, 1, 2)
    kept_of[dup] = np.where(rep_kept, rep_of, kept_of[rep_of])
    sim[dup] = np.where(rep_kept, 1.0, sim[rep_of])
    return Resolution(status, kept_of, sim, compared)


def _band_pairs(cand: np.ndarray, loaders: Sequence[Callable[[], np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of candidates (global positions: earlier < later) sharing a key in some band, each once,
    sorted by (later, earlier)."""
    found = []
    for load in loaders:
        keys = np.asarray(load())
        keys = keys if len(cand) == n else keys[cand]
        order = np.argsort(keys)
        keys = keys[order]
        eq = keys[1:] == keys[:-1]
        multi = np.zeros(len(order), dtype=bool)  # in a group of >= 2 (few): equal to a neighbour on either side
        multi[1:] |= eq
        multi[:-1] |= eq
        del eq
        idx, keys = order[multi], keys[multi]
        del order, multi
        by = np.lexsort((idx, keys))  # groups contiguous, members ascending within each
        idx, keys = idx[by], keys[by]
        new = np.ones(len(idx), dtype=bool)
        new[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(new)
        gid = np.cumsum(new) - 1
        left = (np.append(starts[1:], len(idx)) - starts)[gid] - (np.arange(len(idx)) - starts[gid])  # members at or after
        live = np.flatnonzero(left > 1)
        d = 1
        while len(live):  # the pairs d apart in their group: O(pairs) in all
            found.append(cand[idx[live + d]] * np.int64(n) + cand[idx[live]])
            d += 1
            live = live[left[live] > d]
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    code = np.unique(np.concatenate(found))
    return code % n, code // n


PAIR_CHUNK = 32_768
"""Candidate pairs checked at once (their signatures in memory: at most 2 x 32,768 rows of 512 bytes)."""


def _check_pairs(earlier: np.ndarray, later: np.ndarray, signatures: Callable[[np.ndarray], np.ndarray],
                 threshold: float, b: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs that pass (some band equal and estimated Jaccard >= threshold), in their given order, with
    their estimated Jaccard."""
    keep_i, keep_j, keep_s = [], [], []
    for a in range(0, len(later), PAIR_CHUNK):
        i, j = earlier[a:a + PAIR_CHUNK], later[a:a + PAIR_CHUNK]
        rec = np.unique(np.concatenate([i, j]))
        rows = signatures(rec)
        eq = rows[np.searchsorted(rec, i)] == rows[np.searchsorted(rec, j)]
        sims = np.count_nonzero(eq, axis=1) / float(rows.shape[1])
        band_equal = eq[:, : b * r].reshape(len(i), b, r).all(axis=2).any(axis=1)
        ok = np.flatnonzero(band_equal & (sims >= threshold))
        keep_i.append(i[ok])
        keep_j.append(j[ok])
        keep_s.append(sims[ok])
    if not keep_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(keep_i), np.concatenate(keep_j), np.concatenate(keep_s)
