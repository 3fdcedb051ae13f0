"""`curate audit` and `curate targets`: a contamination report of candidate sources against a target, and the
list of named targets with the sources that hold their items.

The audit checks every record of every source against every target item with the decontamination index
(`curate.mix.decontam`) and keeps each (record, item) pair once, with its strongest match kind: known (a
listed item-level overlap), exact (an equal normalised side), canonical / near (the formal statement up to
renaming, notation and hypothesis order; near = within the edit-distance threshold), ngram (a shared window).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from curate import catalog, load
from curate.errors import CurateError
from curate.mix.decontam import KINDS, ContaminationIndex


@dataclass
class AuditConfig:
    target: str = "proofnet"
    """Catalog name of the eval set whose items are looked for."""
    sources: list[str] | None = None
    """Sources to audit; None = every available local source but the target (splits of a source audited whole
    only once), including those known to hold the target's items."""
    ngram: int = 13
    """N-gram window in normalised tokens (as `curate mix`)."""
    min_ngram: int = 8
    """Shortest n-gram window; target sides with fewer tokens match only whole (as `curate mix`)."""
    formal: bool = True
    """Also match formal statements by canonical form (exact and near)."""
    near: float = 0.1
    """Near canonical match: at most this fraction of the statement's canonical tokens edited (0 = exact only)."""
    near_min_tokens: int = 12
    """Statements shorter than this many canonical tokens match only exactly."""


@dataclass
class AuditPair:
    """One candidate record that overlaps one target item."""

    source: str
    record_id: str
    target_id: str
    kind: str
    side: str
    target_side: str
    window: int
    distance: int
    text: str
    """What matched: the shared window, the equal side or the canonical statement (cut to 300 characters)."""


@dataclass
class SourceAudit:
    source: str
    records: int
    flagged: int
    """Records overlapping at least one target item."""
    by_kind: dict[str, int]
    """Flagged records by their strongest match kind."""
    items: int
    """Distinct target items found in this source."""
    holds: list[str] = field(default_factory=list)
    """The target's item sets this source is catalogued as holding (a full overlap is expected)."""


@dataclass
class AuditReport:
    target: str
    target_records: int
    config: dict[str, Any]
    sources: list[SourceAudit]
    pairs: list[AuditPair]
    notes: list[str]

    @property
    def flagged(self) -> int:
        return sum(s.flagged for s in self.sources)

    def to_json(self) -> dict[str, Any]:
        by_kind = Counter()
        for s in self.sources:
            by_kind.update(s.by_kind)
        return {"target": self.target, "target_records": self.target_records, "config": self.config,
                "totals": {"records": sum(s.records for s in self.sources), "flagged": self.flagged,
                           "by_kind": {k: by_kind.get(k, 0) for k in KINDS},
                           "items": len({p.target_id for p in self.pairs})},
                "sources": [asdict(s) for s in self.sources], "pairs": [asdict(p) for p in self.pairs],
                "notes": self.notes}


def default_sources(target: str) -> list[str]:
    names = [n for n, s in catalog.all_specs().items() if n != target and not s.is_hub and load.available(s)]
    return catalog.drop_parts(names)[0]


def audit(config: AuditConfig, on_source: Callable[[str, int, int], None] | None = None) -> AuditReport:
    """The overlaps of `config.sources` with the target's items. `on_source(name, done, total)` reports progress."""
    if not 0 <= config.near < 1:
        raise CurateError(f"--near must be in [0, 1), got {config.near}")
    if not 1 <= config.min_ngram <= config.ngram:
        raise CurateError(f"need 1 <= min-ngram <= ngram, got ngram={config.ngram}, min-ngram={config.min_ngram}")
    tspec = catalog.get(config.target)
    if config.sources:
        names = catalog.named_sources(config.target, config.sources)
    else:
        names = default_sources(config.target)
    target_ds = load.load_source(tspec)
    index = ContaminationIndex(config.ngram, config.min_ngram, formal=config.formal, near=config.near,
                               near_min_tokens=config.near_min_tokens)
    index.add_dataset(target_ds)
    notes = list(index.notes) + catalog.overlap_notes(config.target, names)
    sources, pairs = [], []
    for i, name in enumerate(names):
        if on_source:
            on_source(name, i, len(names))
        ds = load.load_source(name)
        flagged, by_kind, items = 0, Counter(), set()
        for row in ds:
            hits = index.match_all(row)
            if not hits:
                continue
            flagged += 1
            by_kind[hits[0].kind] += 1
            for h in hits:
                items.add(h.target_id)
                pairs.append(AuditPair(name, row["id"], h.target_id, h.kind, h.side, h.target_side, h.window,
                                       h.distance, h.ngram[:300]))
        sources.append(SourceAudit(name, len(ds), flagged, {k: by_kind.get(k, 0) for k in KINDS}, len(items),
                                   catalog.held_by(tspec, name)))
    if on_source:
        on_source("", len(names), len(names))
    return AuditReport(config.target, len(target_ds), asdict(config) | {"sources": names}, sources, pairs, notes)


# ----------------------------------------------------------------------------- targets
def targets() -> list[dict[str, Any]]:
    """Named targets (and registered datasets): name, items, language, item sets, sources holding them."""
    rows = []
    for spec in catalog.all_specs().values():
        if spec.role != "target" and not spec.registered:
            continue
        items = None
        if not spec.is_hub and load.available(spec):
            try:
                items = len(load.load_source(spec))
            except CurateError:
                items = None
        held_by = sorted({h for s in spec.holds for h in catalog.holders(s)} - {spec.name})
        overlaps = sorted({n for n in catalog.all_specs() if catalog.item_overlaps(spec, n)})
        rows.append({"name": spec.name, "items": items, "formal_lang": spec.formal_lang,
                     "item_sets": list(spec.holds), "held_by": held_by, "item_overlaps": overlaps,
                     "shots": spec.shots, "registered": spec.registered, "hub": spec.is_hub,
                     "description": spec.description})
    return rows


# ----------------------------------------------------------------------------- rendering (rich)
def render_audit(report: AuditReport, console, pairs: int = 20) -> None:
    from rich.table import Table

    table = Table(title=f"overlaps with {report.target} ({report.target_records} items)")
    for col in ("source", "records", "flagged", *KINDS, "items", "holds"):
        table.add_column(col, justify="left" if col in ("source", "holds") else "right")
    for s in report.sources:
        table.add_row(s.source, str(s.records), str(s.flagged), *(str(s.by_kind[k]) for k in KINDS), str(s.items),
                      ", ".join(s.holds))
    console.print(table)
    for n in report.notes:
        console.print(f"note: {n}", markup=False, highlight=False)
    shown = [p for p in report.pairs if not catalog.held_by(report.target, p.source)][:pairs]
    if shown:
        console.print(f"first {len(shown)} of {len(report.pairs)} matched pairs (sources not known to hold the "
                      "target's items; the JSON has every pair):")
        for p in shown:
            how = f"{p.kind}" + (f" d={p.distance}" if p.kind == "near" else "") + (
                f" w={p.window}" if p.kind == "ngram" else "")
            console.print(f"  {p.source}/{p.record_id} ~ {p.target_id} [{how}, {p.side}/{p.target_side}]: "
                          f"{p.text[:100]!r}", markup=False, highlight=False)


def render_targets(rows: list[dict[str, Any]], console) -> None:
    from rich.table import Table

    table = Table(title="targets")
    for col in ("name", "items", "lang", "item sets", "held by (left out of its rankings)", "shares problems with"):
        table.add_column(col, justify="right" if col == "items" else "left")
    for r in rows:
        items = "hub" if r["hub"] else ("" if r["items"] is None else str(r["items"]))
        name = r["name"] + (" (registered)" if r["registered"] else "")
        table.add_row(name, items, r["formal_lang"] or "", ", ".join(r["item_sets"]), ", ".join(r["held_by"]),
                      ", ".join(r["item_overlaps"]))
    console.print(table)
    console.print("Any catalog source works as --target; `curate ingest ... --holds NAME` marks a dataset that "
                  "contains a target's items.")
