"""Compression alignment: 1 − normalised compression distance (NCD) over sampled example pairs.

NCD(x, y) = (C(x·y) − min(C(x), C(y))) / max(C(x), C(y)), with C the length of a raw DEFLATE
stream (zlib with negative wbits: no gzip/zlib header or checksum, which would otherwise add a
constant ~18 bytes to every length and bias NCD upward for short texts). Each text is compressed
once; only the sampled concatenations are compressed per comparison.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from curate.artefacts import fingerprint_of
from curate.metrics._sample import draw_pairs, sample_texts, small_sample_notes, stable_seed
from curate.metrics.base import AlignmentMetric, Estimate, Prepared
from curate.stats import bootstrap_pairs_ci


def compressed_size(data: bytes, level: int = 9) -> int:
    """Bytes of the raw DEFLATE stream of `data` (no header, no checksum)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(c.compress(data)) + len(c.flush())


@dataclass
class GzipConfig:
    n_examples: int = 1000
    """Examples sampled per dataset (all of them when the dataset is smaller)."""
    n_pairs: int = 4096
    """(source, target) example pairs sampled per comparison, instead of all n_s × n_t. The CI is
    bounded below by the finite example samples, not the pairs: proofnet vs gsm8k has half-width
    0.0032 / 0.0025 / 0.0022 / 0.0022 at 1,024 / 4,096 / 16,384 / 65,536 pairs, so 4,096 is within
    ~15% of that floor at a quarter of the cost of 16,384 (benchmarks/RESULTS.md)."""
    max_chars: int = 300
    """Each text is cut to this many characters. NCD falls with text length, so cutting every text to
    a common length (about ProofNet's median, 307) makes it compare content rather than length:
    against proofnet, gsm8k vs self-instruct-human is within the CIs at 2,000 characters and
    separated by ~2.7 CI half-widths at 300 (benchmarks/RESULTS.md)."""
    level: int = 9
    """zlib compression level."""
    n_boot: int = 1000
    """Bootstrap resamples of the examples for the 95% CI."""
    seed: int = 0
    """Seed for pair sampling and the bootstrap (the example sample uses prepare's seed)."""


class GzipMetric(AlignmentMetric):
    name = "gzip"
    Config = GzipConfig
    config: GzipConfig

    def prepare(self, name: str, dataset, seed: int) -> Prepared:
        idx, texts = sample_texts(dataset, self.config.n_examples, seed)
        blobs = [t[: self.config.max_chars].encode("utf-8") for t in texts]
        sizes = np.array([compressed_size(b, self.config.level) for b in blobs], dtype=np.float64)
        notes = small_sample_notes(dataset, self.config.n_examples)
        return Prepared(name=name, fingerprint=fingerprint_of(dataset), records=len(dataset), used=len(idx),
                        data={"idx": idx, "blobs": blobs, "sizes": sizes}, notes=notes)

    def _ncd(self, a: Prepared, b: Prepared, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        ba, bb = a.data["blobs"], b.data["blobs"]
        joint = np.array([compressed_size(ba[x] + b"\n" + bb[y], self.config.level) for x, y in zip(i, j)],
                         dtype=np.float64)
        ca, cb = a.data["sizes"][i], b.data["sizes"][j]
        return (joint - np.minimum(ca, cb)) / np.maximum(np.maximum(ca, cb), 1.0)

    def _estimate(self, a: Prepared, b: Prepared, same: bool) -> Estimate:
        rng = np.random.default_rng(stable_seed("gzip", self.config.seed, a.fingerprint, b.fingerprint, same))
        i, j = draw_pairs(a.used, b.used, self.config.n_pairs, rng, distinct=same)
        if i.size == 0:
            return Estimate(float("nan"), float("nan"), float("nan"), 0)
        ncd = self._ncd(a, b, i, j)
        lo, hi = bootstrap_pairs_ci(ncd, i, j, a.used, b.used, same=same, n_boot=self.config.n_boot,
                                    seed=stable_seed("gzip-boot", self.config.seed, a.fingerprint, b.fingerprint))
        return Estimate(float(ncd.mean()), lo, hi, int(ncd.size))

    def alignment(self, source: Prepared, target: Prepared) -> Estimate:
        """1 − mean NCD over (source, target) pairs drawn independently. A set against itself includes
        identical pairs at their natural rate (as Task2Vec's K × K cross pairs include each batch with
        itself), so nothing can align to a set better than the set itself; `diversity` skips them."""
        d = self._estimate(source, target, same=False)
        return Estimate(1.0 - d.value, 1.0 - d.ci_high, 1.0 - d.ci_low, d.n)

    def diversity(self, prepared: Prepared) -> Estimate:
        """Mean NCD between two different examples of the sample."""
        return self._estimate(prepared, prepared, same=True)
