"""Typed values that travel between steps: the ranking (`Ranking`, `RankRow`, `MetricScore`).

They read and write the ranking JSON that `curate rank --json` has always written, key for key:
`Ranking.from_json(path_or_dict).to_json()` gives back the same dict (keys a file lacked stay absent,
keys we do not know are kept), so every ranking file written before this type existed still loads.
Invalid input raises a one-line `CurateError` naming the file and the fix.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from curate.errors import CurateError

_INTERNAL = ("extra", "absent")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class _Json:
    """Dataclass <-> dict with known keys in field order, unknown keys kept in `extra`, and keys the
    input lacked remembered in `absent` so that writing gives back what was read."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _keys(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in _INTERNAL]  # type: ignore[arg-type]

    @classmethod
    def _split(cls, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
        keys = cls._keys()
        known = {k: data[k] for k in keys if k in data}
        extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in keys}
        absent = frozenset(k for k in keys if k not in data and k not in cls.REQUIRED)
        return known, extra, absent

    def given(self, key: str, default: Any = None) -> Any:
        """A known field's value as the input gave it; `default` where the input lacked the key."""
        return default if key in self.absent else getattr(self, key)  # type: ignore[attr-defined]

    def _dump(self, convert: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self._keys():
            if k in self.absent:  # type: ignore[attr-defined]
                continue
            out[k] = convert[k] if k in convert else copy.deepcopy(getattr(self, k))
        out.update(copy.deepcopy(self.extra))  # type: ignore[attr-defined]
        return out


@dataclass
class MetricScore(_Json):
    """One metric's verdict on one source: alignment to the target and the source's diversity, each
    with a 95% bootstrap CI."""

    alignment: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    pairs: int = 0
    """Units the alignment averages (batch pairs for task2vec)."""
    diversity: float = math.nan
    diversity_ci_low: float = math.nan
    diversity_ci_high: float = math.nan
    used: int = 0
    """Records of the source the metric used."""
    batches: int | None = None
    """Batches the source took (task2vec with adaptive batches); absent in older files."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    absent: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    REQUIRED: ClassVar[tuple[str, ...]] = ("alignment",)

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "ranking") -> "MetricScore":
        if not isinstance(data, dict) or not _number(data.get("alignment")):
            raise CurateError(f"{where} has no numeric alignment")
        known, extra, absent = cls._split(data)
        return cls(**known, extra=extra, absent=absent)

    def to_json(self) -> dict[str, Any]:
        out = self._dump({})
        if out.get("batches", 0) is None and "batches" not in self.extra:
            del out["batches"]  # only adaptive batching reports it
        return out


@dataclass
class RankRow(_Json):
    """One ranked source. The top-level alignment/CI/diversity are the primary metric's."""

    source: str
    alignment: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    diversity: float = math.nan
    records: int | None = None
    tokens: int | None = None
    license: str = ""
    kind: str = ""
    formal_lang: str | None = None
    fingerprint: str = ""
    alignments: dict[str, MetricScore] = field(default_factory=dict)
    """Every metric's score, by metric name."""
    rank: int = 0
    """1 = most aligned under the primary metric."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    absent: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    REQUIRED: ClassVar[tuple[str, ...]] = ("source", "alignment")

    @classmethod
    def from_json(cls, data: Any, where: str = "ranking", i: int = 1) -> "RankRow":
        if not isinstance(data, dict) or any(k not in data for k in cls.REQUIRED):
            raise CurateError(f"{where}: result {i} lacks source or alignment")
        if not _number(data["alignment"]):
            raise CurateError(f"{where}: result {i} ({data['source']}) has a non-numeric alignment")
        known, extra, absent = cls._split(data)
        scores = known.get("alignments", {})
        if not isinstance(scores, dict):
            raise CurateError(f"{where}: result {i} ({data['source']}) has alignments that are not an object")
        known["alignments"] = {m: MetricScore.from_json(s, f"{where}: result {i} ({data['source']}) metric {m!r}")
                               for m, s in scores.items()}
        return cls(**known, extra=extra, absent=absent)

    def to_json(self) -> dict[str, Any]:
        return self._dump({"alignments": {m: s.to_json() for m, s in self.alignments.items()}})


@dataclass
class Ranking(_Json):
    """Sources ranked by alignment to a target: what `curate.rank.rank` returns and `--json` writes.

    `complete` is False while a ranking is being written source by source (and in what an interrupted
    run leaves); such a file holds every row finished so far, ranked among themselves."""

    target: str
    target_records: int | None = None
    target_fingerprint: str = ""
    primary_metric: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    """The RankConfig, with `sources` and each metric's full config under `metrics`."""
    versions: dict[str, str] = field(default_factory=dict)
    excluded: list[dict[str, str]] = field(default_factory=list)
    """Sources left out of the default candidates, each with why."""
    notes: list[str] = field(default_factory=list)
    results: list[RankRow] = field(default_factory=list)
    """Rows in rank order."""
    agreement: dict[str, float] = field(default_factory=dict)
    """Spearman ρ between each pair of metrics' alignments."""
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    """False for a partial ranking (written as it goes, or left by an interrupt). Files from before
    this key existed were always complete."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    absent: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    REQUIRED: ClassVar[tuple[str, ...]] = ("target", "results")

    # -- reading and writing
    @classmethod
    def from_json(cls, source: "dict[str, Any] | str | Path | Ranking") -> "Ranking":
        """From a dict or the path of a JSON file, validated; one-line CurateErrors otherwise."""
        if isinstance(source, Ranking):
            return copy.deepcopy(source)
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise CurateError(f"ranking file {path} not found")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError as exc:
                raise CurateError(f"ranking file {path} is not UTF-8 text") from exc
            except json.JSONDecodeError as exc:
                raise CurateError(f"ranking file {path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
            where = str(path)
        else:
            data, where = source, "ranking"
        if not isinstance(data, dict) or any(k not in data for k in cls.REQUIRED):
            raise CurateError(f"{where} is not a curate ranking (needs keys {', '.join(cls.REQUIRED)}; "
                              "write one with `curate rank --json`)")
        complete = data.get("complete", True)
        if not isinstance(complete, bool):
            raise CurateError(f"{where}: 'complete' must be true or false, got {complete!r}")
        results = data["results"]
        if not isinstance(results, list) or (complete and not results):
            raise CurateError(f"{where} ranks no sources")
        known, extra, absent = cls._split(data)
        known["results"] = [RankRow.from_json(r, where, i) for i, r in enumerate(results, 1)]
        return cls(**known, extra=extra, absent=absent)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able dict (`json.dumps` it, or `write`)."""
        out = self._dump({"results": [r.to_json() for r in self.results]})
        if "complete" in self.absent and not self.complete:
            out["complete"] = False  # a partial ranking always says so
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False, default=str)

    def write(self, path: str | Path) -> None:
        """Write the JSON atomically (a reader never sees half a file)."""
        from curate.cache import atomic_write_bytes

        try:
            atomic_write_bytes(Path(path), self.dumps().encode("utf-8"))
        except OSError as exc:
            raise CurateError(f"cannot write {path}: {exc.strerror or exc}") from exc

    # -- reading the table
    @property
    def sources(self) -> list[str]:
        """Sources in rank order."""
        return [r.source for r in self.results]

    def row(self, source: str) -> RankRow:
        for r in self.results:
            if r.source == source:
                return r
        raise CurateError(f"source {source!r} is not in the ranking of {self.target!r}")

    @property
    def metrics(self) -> list[str]:
        """Metric names, primary first."""
        names = list((self.config.get("metrics") or {}))
        if not names and self.results:
            names = list(self.results[0].alignments)
        if self.primary_metric in names:
            names.remove(self.primary_metric)
            names.insert(0, self.primary_metric)
        return names


__all__ = ["MetricScore", "RankRow", "Ranking"]
