"""Alignment metrics behind one interface (see `base.AlignmentMetric`).

Registry entries are "module:Class" strings so that importing a cheap metric never imports torch.
"""

from __future__ import annotations

import importlib

from curate.errors import CurateError
from curate.metrics.base import AlignmentMetric, Estimate, Prepared

REGISTRY: dict[str, str] = {
    "task2vec": "curate.metrics.task2vec:Task2VecMetric",
    "gzip": "curate.metrics.gzip:GzipMetric",
    "embed": "curate.metrics.embed:EmbedMetric",
    "ngram": "curate.metrics.ngram:NgramMetric",
}
DEFAULT_METRIC = "task2vec"


def names(spec: str) -> list[str]:
    """'all' -> every metric; 'a,b' -> [a, b]."""
    wanted = list(REGISTRY) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    for name in wanted:
        if name not in REGISTRY:
            raise CurateError(f"unknown metric {name!r}; choose from {', '.join(REGISTRY)} or all")
    return wanted


def metric_class(name: str) -> type[AlignmentMetric]:
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["AlignmentMetric", "Estimate", "Prepared", "REGISTRY", "DEFAULT_METRIC", "names", "metric_class"]
