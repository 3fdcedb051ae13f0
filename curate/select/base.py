"""One interface for per-record scorers: how close each candidate record sits to the target.

A `RecordScorer` maps candidate texts (and the target's texts) to one float per record, higher =
closer to the target. `rank` turns scores into an order (best first, ties by position, records
without a score last) and names every score array it made, so the mix can write them for audit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np


def best_first(scores: np.ndarray) -> list[int]:
    """Indices by descending score; ties keep index order; NaN (not scored) last, in index order."""
    s = np.asarray(scores, dtype=np.float64)
    key = np.where(np.isnan(s), np.inf, -s)
    return [int(i) for i in np.lexsort((np.arange(s.size), key))]


class RecordScorer(ABC):
    """Scores candidate records against a target, one float per record (higher = more aligned)."""

    name: str = "scorer"

    @abstractmethod
    def score(self, texts: Sequence[str], target_texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) float64 scores; NaN for a record that could not be scored (e.g. empty)."""

    def rank(self, texts: Sequence[str], target_texts: Sequence[str]) -> tuple[list[int], dict[str, np.ndarray]]:
        """(order best first, {score name: scores over all texts})."""
        s = self.score(texts, target_texts)
        return best_first(s), {self.name: s}
