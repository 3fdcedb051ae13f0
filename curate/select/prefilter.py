"""A cheap scorer over every record, then an expensive one over only the best `keep` of them.

Order: the re-scored records by the expensive score, then the rest by the cheap score. Both score
arrays are reported (the expensive one is NaN where a record was not re-scored).
"""

from __future__ import annotations

import numpy as np

from curate.select.base import RecordScorer, best_first


class PrefilterScorer(RecordScorer):
    def __init__(self, cheap: RecordScorer, fine: RecordScorer, keep: int = 1024):
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.cheap, self.fine, self.keep = cheap, fine, keep
        self.name = f"{fine.name}-pre"

    def rank(self, texts, target_texts):
        texts = list(texts)
        cheap = self.cheap.score(texts, target_texts)
        kept = sorted(best_first(cheap)[: self.keep])
        fine = np.full(len(texts), np.nan)
        if kept:
            fine[kept] = self.fine.score([texts[i] for i in kept], target_texts)
        rest = [i for i in best_first(cheap) if np.isnan(fine[i])]
        scored = [i for i in best_first(fine) if not np.isnan(fine[i])]
        return scored + rest, {self.cheap.name: cheap, self.fine.name: fine}

    def score(self, texts, target_texts) -> np.ndarray:
        return self.rank(texts, target_texts)[1][self.fine.name]
