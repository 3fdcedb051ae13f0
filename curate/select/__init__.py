"""Per-record scorers behind one interface (`RecordScorer`): how close each candidate sits to the target.

- `ngram`: hashed n-gram importance (DSIR-style), `curate.select.ngram`;
- `gzip`: 1 − mean NCD to target items (ZIP-FIT-like), `curate.select.gzip`;
- `cover`: round-robin coverage of the target's items, each taking its nearest record by NCD, `curate.select.coverage`;
- `task2vec`: the record's exact head-Fisher embedding vs the target's batch embeddings, `curate.select.task2vec`;
- `PrefilterScorer`: a cheap scorer over all records, an expensive one over the best few thousand;
- `diverse_order`: defer near copies of records already taken;
- `audit`: scores.parquet beside the mix.
"""

from __future__ import annotations

from typing import Any

from curate.select.base import RecordScorer, best_first
from curate.select.coverage import CoverageScorer, CoverScoreConfig, round_robin
from curate.select.diversity import diverse_order
from curate.select.gzip import GzipScoreConfig, GzipScorer
from curate.select.ngram import NgramScoreConfig, NgramScorer, importance_scores
from curate.select.prefilter import PrefilterScorer
from curate.select.task2vec import Task2VecScoreConfig, Task2VecScorer

SCORERS = {"ngram": (NgramScorer, NgramScoreConfig), "gzip": (GzipScorer, GzipScoreConfig),
           "cover": (CoverageScorer, CoverScoreConfig),
           "task2vec": (Task2VecScorer, Task2VecScoreConfig)}


def make_scorer(name: str, **options: Any) -> RecordScorer:
    """A scorer by name, its config fields from `options` (unknown fields are an error)."""
    from dataclasses import fields

    from curate.errors import CurateError

    if name not in SCORERS:
        raise CurateError(f"unknown record scorer {name!r}; choose from {', '.join(SCORERS)}")
    cls, cfg = SCORERS[name]
    known = {f.name for f in fields(cfg)}
    bad = sorted(set(options) - known)
    if bad:
        raise CurateError(f"record scorer {name} has no option {', '.join(bad)}")
    return cls(cfg(**options))


__all__ = ["RecordScorer", "best_first", "diverse_order", "GzipScorer", "GzipScoreConfig", "CoverageScorer",
           "CoverScoreConfig", "round_robin", "NgramScorer",
           "NgramScoreConfig", "importance_scores", "PrefilterScorer", "Task2VecScorer", "Task2VecScoreConfig",
           "SCORERS", "make_scorer"]
