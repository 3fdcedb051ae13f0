"""The driver's side of a run: shard results spilled to a work folder, compact columns kept in memory.

Each shard's surviving rows go to one Parquet file, its MinHash signatures and LSH band keys to flat
files on disk; in memory stay only compact per-record columns (source index and row, tokens, digest,
id: about 65 bytes a record), in global priority order (sources in rank order, records in source order). The
global dedup reads them (and the signatures of candidate pairs only); the selection and the writer
read rows back from the spill by position.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from curate.pipeline import dedup
from curate.pipeline.steps import ShardResult

_SHIFT = 40  # global key = source index << 40 | row


class Corpus:
    def __init__(self, work: Path, sources: list[str], num_perm: int):
        self.work, self.sources, self.num_perm = Path(work), list(sources), num_perm
        self._src = {s: i for i, s in enumerate(self.sources)}
        self._parts: dict[str, list[Any]] = {k: [] for k in ("gkey", "tokens", "digests", "has", "ids")}
        self._shard_start: list[int] = []
        self._shard_path: list[Path] = []
        self._sig_path = self.work / "signatures.u32"
        self._sig_fh = open(self._sig_path, "wb")
        self._band_fh: list[Any] = []  # one file per LSH band (opened at the first shard, when b is known)
        self.n = 0
        self._cached: tuple[int, Any] | None = None

    # ------------------------------------------------------------------ map results in
    def add(self, res: ShardResult) -> None:
        import pyarrow.parquet as pq

        if res.path:  # the worker wrote the rows (Shared.spill); res.table holds id, tokens, _row
            path = Path(res.path)
        else:
            path = self.work / f"shard-{len(self._shard_path):06d}.parquet"
            pq.write_table(res.table, path)
        rows = res.table.column("_row").to_numpy()
        src = self._src[res.source]
        p = self._parts
        p["gkey"].append((np.int64(src) << _SHIFT) | rows.astype(np.int64))
        p["tokens"].append(res.table.column("tokens").to_numpy().astype(np.int64))
        p["digests"].append(res.keys.digests)
        p["has"].append(res.keys.has_signature)
        if not self._band_fh:
            self._band_fh = [open(self._band_path(k), "wb") for k in range(res.keys.bands.shape[1])]
        for k, fh in enumerate(self._band_fh):
            fh.write(np.ascontiguousarray(res.keys.bands[:, k], dtype=np.uint64).tobytes())
        p["ids"].append(res.table.column("id").combine_chunks())
        self._sig_fh.write(np.ascontiguousarray(res.keys.signatures, dtype=np.uint32).tobytes())
        self._shard_start.append(self.n)
        self._shard_path.append(path)
        self.n += res.table.num_rows

    def finish(self, b: int) -> None:
        import pyarrow as pa

        self._sig_fh.close()
        for fh in self._band_fh:
            fh.close()
        self.b = b
        p = self._parts
        self.gkey = np.concatenate(p["gkey"]) if p["gkey"] else np.zeros(0, np.int64)
        self.tokens = np.concatenate(p["tokens"]) if p["tokens"] else np.zeros(0, np.int64)
        self.digests = np.concatenate(p["digests"]) if p["digests"] else np.zeros(0, "S32")
        self.has = np.concatenate(p["has"]) if p["has"] else np.zeros(0, bool)
        self.ids = pa.chunked_array(p["ids"], pa.string()) if p["ids"] else pa.chunked_array([], pa.string())
        self._parts = {}
        assert np.all(np.diff(self.gkey) > 0), "shard results out of order"
        self._starts = np.asarray(self._shard_start, dtype=np.int64)
        self._sig_fd = os.open(self._sig_path, os.O_RDONLY)

    def signatures(self, idx: np.ndarray) -> np.ndarray:
        """The MinHash rows of records `idx`, read from the spill row by row (a memory map would keep every
        page it touched resident: about a third of the file for the candidates of a typical corpus)."""
        size = 4 * self.num_perm
        out = np.empty((len(idx), self.num_perm), dtype=np.uint32)
        raw = out.view(np.uint8).reshape(len(idx), size)
        for k, i in enumerate(idx):
            raw[k] = np.frombuffer(os.pread(self._sig_fd, size, int(i) * size), dtype=np.uint8)
        return out

    def close(self) -> None:
        if getattr(self, "_sig_fd", None) is not None:
            os.close(self._sig_fd)
            self._sig_fd = None
        for fh in (self._sig_fh, *self._band_fh):
            if not fh.closed:
                fh.close()

    def resolve(self, signer: dedup.Signer) -> dedup.Resolution:
        return dedup.resolve(self.digests, self.has, [lambda k=k: self.band(k) for k in range(self.b)],
                             self.signatures, signer.threshold, signer.b, signer.r)

    def _band_path(self, k: int) -> Path:
        return self.work / f"band-{k:02d}.u64"

    def band(self, k: int) -> np.ndarray:
        """LSH band k's key of every record (read from the spill; one band in memory at a time)."""
        if not self.n:
            return np.zeros(0, np.uint64)
        return np.fromfile(self._band_path(k), dtype=np.uint64)

    def pool(self, positions: np.ndarray):
        """The records at `positions` (ascending) as a columnar `curate.mix.strategies.Pool`."""
        from curate.mix.strategies import Pool

        g = self.gkey[positions]
        return Pool(list(self.sources), (g >> _SHIFT).astype(np.int32), g & ((1 << _SHIFT) - 1),
                    self.tokens[positions])

    # ------------------------------------------------------------------ lookups
    def source_of(self, pos: int) -> str:
        return self.sources[int(self.gkey[pos] >> _SHIFT)]

    def row_of(self, pos: int) -> int:
        return int(self.gkey[pos] & ((1 << _SHIFT) - 1))

    def position(self, source: str, row: int) -> int:
        key = (self._src[source] << _SHIFT) | row
        pos = int(np.searchsorted(self.gkey, key))
        if pos >= self.n or self.gkey[pos] != key:
            raise KeyError((source, row))
        return pos

    def record_id(self, pos: int) -> str:
        return self.ids[pos].as_py()

    def _shard(self, pos: int) -> tuple[int, int]:
        k = int(np.searchsorted(self._starts, pos, side="right") - 1)
        return k, pos - int(self._starts[k])

    def _table(self, k: int):
        import pyarrow.parquet as pq

        if self._cached is None or self._cached[0] != k:
            self._cached = (k, pq.read_table(self._shard_path[k]))
        return self._cached[1]

    def text(self, pos: int) -> str:
        k, off = self._shard(pos)
        return self._table(k).column("text")[off].as_py()

    def rows(self, positions: Iterable[int], columns: list[str]) -> dict[int, dict[str, Any]]:
        """Rows (only `columns`) at the given positions, read shard by shard."""
        out: dict[int, dict[str, Any]] = {}
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for pos in positions:
            k, off = self._shard(pos)
            by_shard.setdefault(k, []).append((pos, off))
        for k in sorted(by_shard):
            table = self._table(k).select(columns)
            offs = [off for _, off in by_shard[k]]
            for (pos, _), row in zip(by_shard[k], table.take(offs).to_pylist()):
                out[pos] = row
        return out
