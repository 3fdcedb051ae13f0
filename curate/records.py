"""The one record type that flows through every step, and the one place it becomes model text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("pair", "formal", "informal", "code", "text")

# Column order of a records Dataset; `meta` is stored as a JSON string so Arrow keeps one schema.
COLUMNS = ("id", "source", "kind", "informal", "formal", "formal_lang", "split", "meta")


@dataclass
class Record:
    id: str
    source: str
    kind: str  # one of KINDS
    informal: str | None = None
    formal: str | None = None
    formal_lang: str | None = None  # lean4, lean3, isabelle, python, latex, ...
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["meta"] = json.dumps(self.meta, ensure_ascii=False, sort_keys=True)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Record":
        meta = row.get("meta") or {}
        if isinstance(meta, str):
            meta = json.loads(meta) if meta else {}
        return cls(**{k: row.get(k) for k in COLUMNS if k != "meta"}, meta=meta)


@dataclass
class RenderConfig:
    """How a record becomes model text. Templates see `{informal}` and `{formal}`."""

    pair_template: str = "informal statement {informal} formal statement {formal}"
    """The paper's autoformalization format for informal/formal pairs."""
    separator: str = "\n"
    """Joins informal and formal for non-pair kinds that carry both (e.g. docstring + code)."""


DEFAULT_RENDER = RenderConfig()


def render(record: Record | dict[str, Any], config: RenderConfig = DEFAULT_RENDER) -> str:
    """Model text for one record (a Record or a dataset row)."""
    get = record.get if isinstance(record, dict) else lambda k: getattr(record, k)
    informal, formal, kind = get("informal") or "", get("formal") or "", get("kind")
    if kind == "pair" and informal and formal:
        return config.pair_template.format(informal=informal.strip(), formal=formal.strip())
    return config.separator.join(t.strip() for t in (informal, formal) if t.strip())
