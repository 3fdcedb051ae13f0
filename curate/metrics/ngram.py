"""Hashed unigram + bigram features (DSIR-style) and the n-gram alignment metric built on them.

`hashed_features` is the public featuriser (also used by `curate mix --strategy select`): text is
NFKC-normalised and lower-cased, split into word/punctuation tokens, and every unigram and
adjacent bigram is hashed into `n_buckets` with a keyed BLAKE2b hash (stable across processes and
machines, unlike Python's salted `hash()`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import numpy as np

from curate.artefacts import fingerprint_of
from curate.metrics._sample import draw_pairs, same_sample, sample_texts, small_sample_notes, stable_seed
from curate.metrics.base import AlignmentMetric, Estimate, Prepared
from curate.stats import bootstrap_pairs_ci, centred_ci, resample_counts

_TOKEN = re.compile(r"\w+|[^\w\s]+")
_MASK64 = (1 << 64) - 1
_BIGRAM_MUL = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio odd constant: mixes the first token's hash


def normalize(text: str) -> str:
    """NFKC, lower case, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def tokenize(text: str) -> list[str]:
    """Word / punctuation-run tokens of the normalised text (like NLTK's WordPunctTokenizer)."""
    return _TOKEN.findall(normalize(text))


@lru_cache(maxsize=1 << 20)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8, key=b"curate-ngram").digest(), "little")


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (uint64 arithmetic wraps), so bigram buckets are not correlated with unigrams'."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def bucket_ids(text: str, n_buckets: int = 10_000, bigrams: bool = True) -> np.ndarray:
    """Bucket index of every unigram (then every bigram) of one text, as int64."""
    hashes = np.fromiter((_token_hash(t) for t in tokenize(text)), dtype=np.uint64)
    if hashes.size == 0:
        return np.zeros(0, dtype=np.int64)
    parts = [hashes]
    if bigrams and hashes.size > 1:
        with np.errstate(over="ignore"):
            parts.append(_splitmix(hashes[:-1] * _BIGRAM_MUL + hashes[1:]))
    return (np.concatenate(parts) % np.uint64(n_buckets)).astype(np.int64)


def hashed_features(texts: Iterable[str], n_buckets: int = 10_000, bigrams: bool = True,
                    dtype: type = np.float32) -> np.ndarray:
    """Counts of hashed unigrams (+ bigrams) per text: an array of shape (len(texts), n_buckets).

    Deterministic across processes. Memory is len(texts) × n_buckets × itemsize (40 MB for
    1,000 texts at the defaults); featurise in chunks for very large corpora.
    """
    if n_buckets < 1:
        raise ValueError("n_buckets must be >= 1")
    texts = list(texts)
    out = np.zeros((len(texts), n_buckets), dtype=dtype)
    for i, text in enumerate(texts):
        ids = bucket_ids(text, n_buckets, bigrams)
        if ids.size:
            out[i] = np.bincount(ids, minlength=n_buckets)
    return out


# ----------------------------------------------------------------------------- the metric
def _entropy_terms(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Row sums of p·log2(p/m), with 0·log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log2(p / m), 0.0)
    return t.sum(axis=-1)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Base-2 Jensen–Shannon divergence (in [0, 1]) between rows of count arrays p and q (normalised here)."""
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    m = 0.5 * (p + q)
    return np.clip(0.5 * _entropy_terms(p, m) + 0.5 * _entropy_terms(q, m), 0.0, 1.0)


@dataclass
class NgramConfig:
    """DSIR-style n-gram alignment: 1 − Jensen–Shannon divergence (base 2) between the hashed
    unigram+bigram distributions of the source and target samples (all tokens of a sample pooled).

    JSD rather than DSIR's log-likelihood ratio or the cosine of the pooled distributions: JSD is
    bounded in [0, 1], symmetric, exactly 1 for a set against itself and needs no smoothing of
    empty buckets. Against proofnet the cosine gives the same order of the shared-data sources
    (benchmarks/RESULTS.md). The CI comes from resampling the examples of both samples.
    """

    n_examples: int = 1000
    """Examples sampled per dataset (all of them when the dataset is smaller)."""
    n_buckets: int = 10_000
    """Hash buckets for unigrams + bigrams (DSIR uses 10,000)."""
    n_boot: int = 300
    """Bootstrap resamples of the examples for the 95% CI (each is a (n_boot × examples) @
    (examples × buckets) product, so this is the cost knob)."""
    n_pairs: int = 2048
    """Example pairs sampled for diversity (mean JSD between two examples' n-gram distributions)."""
    seed: int = 0
    """Seed for the bootstrap and pair sampling (the example sample uses prepare's seed)."""


class NgramMetric(AlignmentMetric):
    name = "ngram"
    Config = NgramConfig
    config: NgramConfig

    def prepare(self, name: str, dataset, seed: int) -> Prepared:
        idx, texts = sample_texts(dataset, self.config.n_examples, seed)
        x = hashed_features(texts, self.config.n_buckets)
        notes = small_sample_notes(dataset, self.config.n_examples)
        empty = int((x.sum(axis=1) == 0).sum())
        if empty:
            notes.append(f"{empty} sampled texts have no tokens")
        return Prepared(name=name, fingerprint=fingerprint_of(dataset), records=len(dataset), used=len(idx),
                        data={"idx": idx, "x": x}, notes=notes)

    def alignment(self, source: Prepared, target: Prepared) -> Estimate:
        """1 − JSD of the pooled n-gram distributions; CI by resampling the examples of both samples."""
        xs, xt = source.data["x"], target.data["x"]
        point = 1.0 - float(jensen_shannon(xs.sum(axis=0, dtype=np.float64), xt.sum(axis=0, dtype=np.float64)))
        rng = np.random.default_rng(stable_seed("ngram-boot", self.config.seed, source.fingerprint, target.fingerprint))
        ws = resample_counts(source.used, self.config.n_boot, rng).astype(np.float32)
        wt = ws if same_sample(source, target) else resample_counts(target.used, self.config.n_boot, rng).astype(np.float32)
        reps = 1.0 - jensen_shannon((ws @ xs).astype(np.float64), (wt @ xt).astype(np.float64))
        lo, hi = centred_ci(point, reps)
        return Estimate(point, lo, hi, source.used * target.used)

    def diversity(self, prepared: Prepared) -> Estimate:
        """Mean JSD between the n-gram distributions of two different examples (sampled pairs)."""
        rng = np.random.default_rng(stable_seed("ngram-div", self.config.seed, prepared.fingerprint))
        i, j = draw_pairs(prepared.used, prepared.used, self.config.n_pairs, rng, distinct=True)
        if i.size == 0:
            return Estimate(float("nan"), float("nan"), float("nan"), 0)
        x = prepared.data["x"]
        d = np.concatenate([jensen_shannon(x[i[k:k + 256]].astype(np.float64), x[j[k:k + 256]].astype(np.float64))
                            for k in range(0, i.size, 256)])
        lo, hi = bootstrap_pairs_ci(d, i, j, prepared.used, prepared.used, same=True, n_boot=1000,
                                    seed=stable_seed("ngram-div-boot", self.config.seed, prepared.fingerprint))
        return Estimate(float(d.mean()), lo, hi, int(d.size))
