"""scores.parquet: every candidate's per-record scores beside the mix, so a user can see why a record was taken."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def score_rows(pool: Sequence, scores: dict[str, np.ndarray], taken: Sequence, record_id: Callable) -> list[dict]:
    """One row per candidate (pool order): id, source, tokens, taken, position in the mix, score per scorer."""
    position = {id(c): k for k, c in enumerate(taken)}
    rows = []
    for n, c in enumerate(pool):
        row = {"id": record_id(c), "source": c.source, "tokens": int(c.tokens), "taken": id(c) in position,
               "position": position.get(id(c))}
        for name, arr in scores.items():
            v = float(arr[n])
            row[name] = None if np.isnan(v) else v
        rows.append(row)
    return rows


def write_scores(path: Path, rows: list[dict], scorers: Sequence[str]) -> None:
    """Write `score_rows` output as parquet (a score is null where that scorer did not score the record)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field("id", pa.string()), pa.field("source", pa.string()), pa.field("tokens", pa.int64()),
                        pa.field("taken", pa.bool_()), pa.field("position", pa.int64())]
                       + [pa.field(s, pa.float64()) for s in scorers])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
