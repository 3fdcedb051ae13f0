"""One interface for every alignment metric (Task2Vec, gzip, sentence embeddings, n-grams).

A metric `prepare`s a seeded sample of one dataset once (embeddings, compressed lengths, feature
counts, ...), then compares prepared datasets: `alignment(source, target)` and `diversity(d)`, each
an `Estimate` with a 95% CI. Ranking N sources prepares the target once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar


@dataclass
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int
    """How many units (batch pairs, example pairs, ...) the estimate averages over."""

    def to_json(self) -> dict[str, float | int]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass
class Prepared:
    """What a metric keeps about one dataset sample."""

    name: str
    fingerprint: str
    records: int
    """Records the sample was drawn from (the whole dataset)."""
    used: int
    """Records actually used by the metric."""
    data: Any = None
    notes: list[str] = field(default_factory=list)


class AlignmentMetric(ABC):
    """Implementations set `name` and take a dataclass config whose fields document themselves."""

    name: ClassVar[str]
    Config: ClassVar[type]
    """The metric's dataclass config."""
    config: Any

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.Config()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "AlignmentMetric":
        """Build from CLI options, taking the keys that the metric's Config has (None = default).
        A key "metric.field" reaches only that metric ("task2vec.max_length"); a plain "field" reaches
        every metric with such a field."""
        known = {f.name for f in fields(cls.Config)}
        picked = {}
        for key, value in options.items():
            metric, _, name = key.rpartition(".")
            if value is not None and name in known and metric in ("", cls.name):
                picked[name] = value
        return cls(cls.Config(**picked))

    @abstractmethod
    def prepare(self, name: str, dataset, seed: int) -> Prepared:
        """Sample and featurise a records dataset (deterministic given `seed`)."""

    @abstractmethod
    def alignment(self, source: Prepared, target: Prepared) -> Estimate:
        """Similarity of source to target in [0, 1]-ish, higher = more aligned, with a 95% CI."""

    @abstractmethod
    def diversity(self, prepared: Prepared) -> Estimate:
        """Expected distance between two samples of the same dataset, with a 95% CI."""

    def records_job(self, seed: int, batches: tuple[int | None, ...] = (None,)):
        """A picklable `job(name, dataset)` that takes from a source's records, in the process that read
        them (`curate.sourcepool`), all that `prepare` will need, into the cache; None (the default):
        `prepare` reads the records itself, so they are read and held in the ranking's process."""
        return None

    def describe(self) -> dict[str, Any]:
        """The full config, for JSON outputs and cache keys."""
        cfg = asdict(self.config) if is_dataclass(self.config) else dict(self.config or {})
        return {"metric": self.name, **cfg}
