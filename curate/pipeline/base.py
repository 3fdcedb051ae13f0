"""Steps over record batches, and the one place where records are accounted for.

A batch is a list of record rows (dicts with `curate.records.COLUMNS` plus whatever columns
earlier steps added, such as `text` and `tokens`). A `Step` maps one batch to the rows it keeps
and the rows it removes, each removal with a reason; it sees one shard at a time and holds no
state across batches, so the same steps run in one process, in worker processes or as Ray tasks.
Steps that must see the whole corpus (duplicate clustering, the budget cut) are global: they run on
compact per-record data (signatures, token counts, ids), see `curate.pipeline.dedup`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

Row = dict[str, Any]


@dataclass
class Removed:
    """One record a step took out, with why (`detail` goes to removed.jsonl after source/id/reason)."""

    source: str
    id: str
    reason: str
    row: int
    """Row index of the record in its source (the order key of removed.jsonl)."""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "id": self.id, "reason": self.reason, **self.detail}


class Step:
    """A map step: `process(rows)` -> (rows kept, removals). Subclasses set `name` and `reasons`."""

    name = "step"
    reasons: tuple[str, ...] = ()
    """Every reason this step may remove a record for."""

    def process(self, rows: list[Row]) -> tuple[list[Row], list[Removed]]:
        raise NotImplementedError

    def __call__(self, rows: list[Row]) -> tuple[list[Row], list[Removed]]:
        kept, removed = self.process(rows)
        bad = {r.reason for r in removed} - set(self.reasons)
        if bad:
            raise RuntimeError(f"step {self.name} removed records for undeclared reasons {sorted(bad)}")
        if len(kept) + len(removed) != len(rows):
            raise RuntimeError(f"step {self.name}: {len(rows)} rows in, {len(kept)} kept + {len(removed)} removed")
        return kept, removed


def run_steps(steps: Iterable[Step], rows: list[Row]) -> tuple[list[Row], list[Removed]]:
    """Run map steps one after another over one batch; removals in row order."""
    removed: list[Removed] = []
    for step in steps:
        rows, gone = step(rows)
        removed += gone
    removed.sort(key=lambda r: r.row)
    return rows, removed


class Accounts:
    """Per source: records in, out, and removed by reason; `check()` is the conservation law."""

    def __init__(self, reasons: Iterable[str]):
        self.reasons = tuple(reasons)
        self.sources: dict[str, dict[str, Any]] = {}

    def open(self, source: str) -> dict[str, Any]:
        return self.sources.setdefault(source, {"in": 0, "out": 0, "removed": {r: 0 for r in self.reasons}})

    def add_in(self, source: str, n: int) -> None:
        self.open(source)["in"] += n

    def add_out(self, source: str, n: int = 1) -> None:
        self.open(source)["out"] += n

    def remove(self, source: str, reason: str, n: int = 1) -> None:
        if reason not in self.reasons:
            raise RuntimeError(f"unknown removal reason {reason!r}")
        self.open(source)["removed"][reason] += n

    def check(self) -> None:
        """Raise if any source's records in != records out + records removed (by reason)."""
        check_conservation(self.sources)


def check_conservation(sources: dict[str, dict[str, Any]]) -> None:
    """Raise if any source's records in != records out + records removed (by reason)."""
    for name, s in sources.items():
        removed = sum(s["removed"].values())
        if s["in"] != s["out"] + removed:
            raise RuntimeError(f"mix accounting bug: source {name!r} has {s['in']} records in but "
                               f"{s['out']} out + {removed} removed {s['removed']}")
