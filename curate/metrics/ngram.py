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
from functools import lru_cache
from typing import Iterable

import numpy as np

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
