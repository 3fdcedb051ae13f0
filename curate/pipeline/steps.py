"""The mix's map steps (render and count tokens, decontaminate) and the per-shard task that runs them.

A shard task gets a batch of records of one source and the shared state (decontamination index,
tokenizer, dedup parameters, built once by the driver and shipped to every worker once); it
returns a `ShardResult`: the surviving rows as an Arrow table, their dedup keys and token counts,
and every removal with its reason.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from curate.pipeline.base import Removed, Row, Step, run_steps
from curate.pipeline.dedup import Keys, Signer
from curate.records import COLUMNS, DEFAULT_RENDER, render

CONTAMINATION = "contamination"
CHUNK = 2048
"""Records of a shard that go through the steps together."""


class Render(Step):
    """Adds `text` (the model text), `tokens` (its length under the mix's tokenizer) and `_toks` (the
    normalised tokens of each side, `curate.mix.text`, computed once for decontamination and dedup)."""

    name = "render"

    def __init__(self, tokenizer: Any, chunk: int = 1024):
        self.tokenizer, self.chunk = tokenizer, chunk

    def process(self, rows: list[Row]) -> tuple[list[Row], list[Removed]]:
        from curate.mix.text import tokens
        from curate.tokens import lengths

        texts = [render(r) for r in rows]
        counts: list[int] = []
        for i in range(0, len(texts), self.chunk):
            counts += lengths(texts[i:i + self.chunk], self.tokenizer)
        for row, text, n in zip(rows, texts, counts):
            row["text"], row["tokens"] = text, n
            row["_toks"] = {"informal": tokens(row.get("informal")), "formal": tokens(row.get("formal"))}
        return rows, []


def render_tokens(row: Row) -> list[str]:
    """Normalised tokens of `render(row)` from the side tokens in `row["_toks"]`: render joins the stripped
    sides with literals that are whitespace at every join, so its tokens are the parts' tokens joined."""
    from curate.mix.text import joined, tokens

    if not _DEFAULT_TEMPLATES:
        return tokens(row["text"])
    inf, frm = row["_toks"]["informal"], row["_toks"]["formal"]
    if row.get("kind") == "pair" and row.get("informal") and row.get("formal"):
        return joined([_PAIR[0], inf, _PAIR[1], frm])
    return inf + frm


_PAIR = ("informal statement ", " formal statement ")
_DEFAULT_TEMPLATES = (DEFAULT_RENDER.pair_template == f"{_PAIR[0]}{{informal}}{_PAIR[1]}{{formal}}"
                      and DEFAULT_RENDER.separator.isspace())
"""Whether render's templates are the ones `render_tokens` knows; otherwise it normalises the text."""


class Decontaminate(Step):
    """Removes records that overlap the eval sets (`curate.mix.decontam.ContaminationIndex`)."""

    name = "decontaminate"
    reasons = (CONTAMINATION,)

    def __init__(self, index: Any):
        self.index = index

    def process(self, rows: list[Row]) -> tuple[list[Row], list[Removed]]:
        kept, removed = [], []
        for row, hit in zip(rows, self.index.match_batch(rows, [r["_toks"] for r in rows])):
            if hit is None:
                kept.append(row)
            else:
                removed.append(Removed(row["source"], row["id"], CONTAMINATION, row["_row"], hit.to_json()))
        return kept, removed


@dataclass
class Shared:
    """What every shard task needs, built once on the driver."""

    index: Any
    """ContaminationIndex over the eval sets."""
    tokenizer: Any
    signer: Signer
    extra_steps: list[Step] = field(default_factory=list)
    """Further map steps after decontamination (tests use this to inject faults)."""
    spill: str | None = None
    """Folder (absolute) where each task writes its surviving rows, `shard-<n>.parquet`, when the
    workers see the driver's disk; then only compact columns travel back. None = the rows travel back."""


@dataclass
class ShardTask:
    shard: int
    source: str
    rows: list[Row]
    """Records (COLUMNS) of one source, in order, each with `_row` (its index in the source)."""


@dataclass
class ShardResult:
    shard: int
    source: str
    n_in: int
    candidate_tokens: int
    """Tokens of every record in the shard (removed ones included)."""
    table: Any
    """pyarrow Table of the surviving rows: COLUMNS, text, tokens, _row."""
    keys: Keys
    removed: list[Removed]
    path: str | None = None
    """Where the task wrote `table` (see `Shared.spill`); `table` then holds only id, tokens and _row."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a shard's rows and token lists hold no cycles and live until the
    shard is done, so collections would only walk them again and again (3-7% of a shard's CPU, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_shard(shared: Shared, task: ShardTask) -> ShardResult:
    with collector_paused():
        return _run_shard(shared, task)


def _run_shard(shared: Shared, task: ShardTask) -> ShardResult:
    import pyarrow as pa

    steps: list[Step] = [Render(shared.tokenizer), Decontaminate(shared.index), *shared.extra_steps]
    n_in = len(task.rows)
    rows, removed, parts, candidate_tokens = [], [], [], 0
    for lo in range(0, n_in, CHUNK):  # steps per chunk: token lists of one chunk held at a time
        chunk = task.rows[lo:lo + CHUNK]
        kept, gone = run_steps(steps, chunk)
        candidate_tokens += sum(r["tokens"] for r in chunk)
        parts.append(shared.signer.keys_from_tokens([render_tokens(r) for r in kept]))
        for r in chunk:
            del r["_toks"]
        rows += kept
        removed += gone  # chunks in row order: removals stay in row order
    keys = Keys.concat(parts, shared.signer)
    cols: dict[str, Any] = {c: pa.array([r[c] for r in rows], pa.string()) for c in (*COLUMNS, "text")}
    cols["tokens"] = pa.array(np.array([r["tokens"] for r in rows], dtype=np.int64))
    cols["_row"] = pa.array(np.array([r["_row"] for r in rows], dtype=np.int64))
    table, path = pa.table(cols), None
    if shared.spill:
        import pyarrow.parquet as pq

        path = f"{shared.spill}/shard-{task.shard:06d}.parquet"
        pq.write_table(table, path)
        table = table.select(["id", "tokens", "_row"])
    return ShardResult(task.shard, task.source, n_in, candidate_tokens, table, keys, removed, path)
