"""The read step of the mix: every source in shards, in order, read on the driver or in the workers.

On the driver (`driver_shards`, the local engine): `load.iter_batches` streams each source; records
travel to the workers. In the workers (`plan` + `run_task` + `Sequencer`, the Ray engine when its
workers see the driver's disk): the driver only plans shards — byte ranges of whole lines of a jsonl
file with the number of their first line (one pass counting newlines), row groups of a Parquet
file, a whole file otherwise, small files packed together — and each worker reads its shard, runs
the map steps and writes what survives. Two things of the serial read need every record of a source
in order: the id of a repeated record (`id#2`, `load.iter_records`) and the source fingerprint (a
running SHA-256 over ids and texts, `load.fingerprint_add`). So a worker returns its shard's raw ids
and writes the fingerprint bytes of its records (`id \\0 text \\1` each, with the raw ids) to the work
folder; the driver's `Sequencer` takes the results in shard order, renames the rare repeated ids,
hashes those bytes (patched where an id was renamed) into the source's running hash and offsets row
numbers — the same ids, rows and fingerprints as the serial read, without a record on the driver.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from curate import catalog, load
from curate.catalog import SourceSpec
from curate.errors import CurateError
from curate.pipeline.steps import Shared, ShardResult, ShardTask, collector_paused, run_shard
from curate.records import render

_BLOCK = 1 << 24  # bytes read at a time when counting lines


# ----------------------------------------------------------------------------- on the driver
def driver_shards(sources: list[str], shard_records: int, max_records: int | None,
                  fingerprints: dict[str, str]) -> Iterator[ShardTask]:
    """Each source in order, streamed in shards of `shard_records`; each row gets `_row`, its index in the
    source. The source fingerprint (ids and texts, as `load.fingerprint`) is taken here."""
    shard = 0
    for name in sources:
        h = hashlib.sha256()
        n = 0
        for batch in load.iter_batches(name, shard_records, max_records):
            for row in batch:
                row["_row"] = n
                n += 1
                load.fingerprint_add(h, row["id"], render(row))
            yield ShardTask(shard, name, batch)
            shard += 1
        fingerprints[name] = h.hexdigest()[:16]


# ----------------------------------------------------------------------------- plan (driver) and read (worker)
@dataclass
class Piece:
    """A part of one data file: jsonl lines [start, stop) by byte offset, Parquet row groups [start, stop),
    or (kind "file") the whole file."""

    path: str
    kind: str
    """jsonl | parquet | file | error (planning failed: `error` is raised when the piece is read, in order)."""
    start: int = 0
    stop: int | None = None
    first: int = 1
    """Number of the piece's first line (jsonl) or row (Parquet) in the file, 1-based."""
    error: str | None = None


@dataclass
class ReadTask:
    shard: int
    spec: SourceSpec
    pieces: list[Piece]
    last: bool = False
    """The source's last shard (the driver closes its fingerprint)."""


@dataclass
class ReadResult:
    """What a worker returns for a `ReadTask`: the steps' result (ids raw, rows numbered within the shard)
    and what the driver needs to number, rename and fingerprint the shard as the serial read would."""

    result: ShardResult
    ids: list[str]
    """Raw id of every record of the shard, in order."""
    lengths: np.ndarray
    """Bytes of each record's fingerprint entry in `fp_path`."""
    fp_path: str
    rows: int
    filtered: int
    skipped: Counter = field(default_factory=Counter)
    last: bool = False


def workers_can_read(spec: SourceSpec, max_records: int | None) -> bool:
    """Local files, read whole: a record cap (`--max-records`) or a hub stream is read on the driver."""
    return not spec.is_hub and max_records is None and load.max_records(spec, whole=False) is None


def plan(spec: SourceSpec, shard_records: int, first_shard: int = 0) -> Iterator[ReadTask]:
    """The source's shards, each of about `shard_records` lines or rows; at least one (a source whose files
    hold no record is reported as the serial read reports it)."""
    shard, pieces, lines = first_shard, [], 0
    for path in load.data_files(spec):  # a missing source fails here, in one line
        for piece, n in _pieces(path, shard_records):
            if lines and lines + n > shard_records:
                yield ReadTask(shard, spec, pieces)
                shard, pieces, lines = shard + 1, [], 0
            pieces.append(piece)
            lines += n
    yield ReadTask(shard, spec, pieces, last=True)


def _pieces(path: Path, per: int) -> Iterator[tuple[Piece, int]]:
    kind = load.FILE_TYPES.get(path.suffix.lower())
    if kind == "jsonl":
        yield from _jsonl_pieces(path, per)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, ValueError) as exc:
            yield Piece(str(path), "error", error=f"{path}: cannot read as parquet "
                                                  f"({str(exc).splitlines()[0][:200]})"), 0
            return
        start, rows, first = 0, 0, 1
        for g in range(meta.num_row_groups):
            rows += meta.row_group(g).num_rows
            if rows >= per or g == meta.num_row_groups - 1:
                yield Piece(str(path), "parquet", start, g + 1, first), rows
                start, first, rows = g + 1, first + rows, 0
        if meta.num_row_groups == 0:
            yield Piece(str(path), "parquet", 0, 0, 1), 0
    else:  # json arrays, csv, and files read_rows refuses (its error, when the piece is read)
        yield Piece(str(path), "file"), 1


def _jsonl_pieces(path: Path, per: int) -> Iterator[tuple[Piece, int]]:
    """Cut a jsonl file every `per` lines (as `enumerate` over the binary file counts lines)."""
    start, first, lines, pos = 0, 1, 0, 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            i = 0
            while True:
                n = block.count(b"\n", i)
                if lines + n < per:
                    lines += n
                    break
                for _ in range(per - lines):  # the newline that ends this piece's last line
                    i = block.index(b"\n", i) + 1
                yield Piece(str(path), "jsonl", start, pos + i, first), per
                start, first, lines = pos + i, first + per, 0
            pos += len(block)
    if pos > start:  # the rest (its last line may lack a newline)
        yield Piece(str(path), "jsonl", start, None, first), lines + (1 if _ends_without_newline(path) else 0)
    elif first == 1:  # an empty file
        yield Piece(str(path), "jsonl", 0, None, 1), 0


def _ends_without_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _piece_rows(piece: Piece) -> Iterator[tuple[int, dict]]:
    path = Path(piece.path)
    if piece.kind == "error":
        raise CurateError(piece.error)
    if piece.kind == "jsonl":
        yield from load.read_jsonl(path, piece.start, piece.stop, piece.first)
    elif piece.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            i = piece.first - 1
            if piece.stop == piece.start:
                return
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096, row_groups=range(piece.start, piece.stop)):
                for row in batch.to_pylist():
                    i += 1
                    yield i, row
        except (OSError, ValueError) as exc:  # as load.read_rows words it
            raise CurateError(f"{path}: cannot read as parquet ({str(exc).splitlines()[0][:200]})") from exc
    else:
        yield from load.read_rows(path)


def read_records(task: ReadTask, report: load.LoadReport) -> list[dict]:
    """The shard's record rows with raw ids (`load.iter_records` without the renames), `_row` counted from 0."""
    rows = []
    for piece in task.pieces:
        stem = Path(piece.path).stem
        for n, raw in _piece_rows(piece):
            rec = load.to_record(task.spec, raw, f"{piece.path}:{n}", stem, n, report)
            if rec is None:
                continue
            row = load._row(rec)
            row["_row"] = len(rows)
            rows.append(row)
    report.records = len(rows)
    return rows


def run_task(shared: Shared, task: ShardTask | ReadTask) -> ShardResult | ReadResult:
    """The shard function of a mix whose shards are read in the workers (a `ShardTask` was read by the driver)."""
    if isinstance(task, ShardTask):
        return run_shard(shared, task)
    if not shared.spill:
        raise RuntimeError("shards are read in the workers only when they write to the work folder (Shared.spill)")
    report = load.LoadReport(task.spec.name)
    with collector_paused():  # the rows read live until the shard is done (see collector_paused)
        rows = read_records(task, report)
    res = run_shard(shared, ShardTask(task.shard, task.spec.name, rows))  # adds each row's `text`
    ids = [r["id"] for r in rows]
    entries = [b"".join((r["id"].encode("utf-8"), b"\0", r["text"].encode("utf-8"), b"\1")) for r in rows]
    fp_path = f"{shared.spill}/fingerprint-{task.shard:06d}.bin"
    with open(fp_path, "wb") as fh:
        fh.write(b"".join(entries))
    lengths = np.fromiter(map(len, entries), dtype=np.int64, count=len(entries))
    return ReadResult(res, ids, lengths, fp_path, report.rows, report.filtered, report.skipped, task.last)


# ----------------------------------------------------------------------------- the driver, in shard order
@dataclass
class _Source:
    n: int = 0
    seen: load.SeenIds = field(default_factory=load.SeenIds)
    hash: Any = field(default_factory=hashlib.sha256)
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)


class Sequencer:
    """Turns `ReadResult`s, taken in shard order, into the `ShardResult`s of the serial read: row numbers in
    the source, repeated ids renamed (`id#k`, as `load.iter_records`), the fingerprint into `fingerprints`."""

    def __init__(self, fingerprints: dict[str, str]):
        self.fingerprints = fingerprints
        self._src: dict[str, _Source] = {}

    def take(self, out: ReadResult) -> ShardResult | None:
        """The shard's result as the serial read would give it; None for a shard without records."""
        res = out.result
        s = self._src.get(res.source) or self._src.setdefault(res.source, _Source())
        renames: dict[int, str] = {}
        for i, rid in enumerate(out.ids):
            new = load.unique_id(s.seen, rid)
            if new != rid:
                renames[i] = new
        self._fingerprint(s.hash, out, renames)
        offset = s.n
        s.n += len(out.ids)
        s.rows += out.rows
        s.skipped.update(out.skipped)
        for r in res.removed:
            r.id = renames.get(r.row, r.id)
            r.row += offset
        res.table = _renumber(res.table, renames, offset)
        if renames and res.path:  # the worker wrote the rows with their raw ids
            import pyarrow.parquet as pq

            pq.write_table(_renumber(pq.read_table(res.path), renames, offset), res.path)
        if out.last:
            self._close(res.source)
        return res if res.n_in else None

    def _fingerprint(self, h, out: ReadResult, renames: dict[int, str]) -> None:
        with open(out.fp_path, "rb") as fh:
            data = fh.read()
        os.unlink(out.fp_path)
        if not renames:
            h.update(data)
            return
        view = memoryview(data)
        starts = np.concatenate([[0], np.cumsum(out.lengths)])
        done = 0
        for i in sorted(renames):  # an entry is id \0 text \1: swap the raw id for the new one
            at = int(starts[i])
            h.update(view[done:at])
            h.update(renames[i].encode("utf-8"))
            done = at + len(out.ids[i].encode("utf-8"))
        h.update(view[done:])

    def _close(self, source: str) -> None:
        s = self._src[source]
        if not s.n:  # as load.iter_records reports it
            spec = catalog.get(source)
            why = f"; skipped: {dict(s.skipped)}" if s.skipped else ""
            raise CurateError(f"source {spec.name!r} has no records ({s.rows} rows read at {spec.location()}{why})")
        self.fingerprints[source] = s.hash.hexdigest()[:16]
        del self._src[source]


def _renumber(table, renames: dict[int, str], offset: int):
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = table.column("_row")
    if renames:
        local = rows.to_numpy()
        ids = table.column("id").to_pylist()
        table = table.set_column(table.column_names.index("id"), "id",
                                 pa.array([renames.get(int(r), i) for r, i in zip(local, ids)], pa.string()))
    if offset:
        table = table.set_column(table.column_names.index("_row"), "_row", pc.add(rows, pa.scalar(offset, pa.int64())))
    return table


def worker_tasks(sources: list[str], shard_records: int, max_records: int | None,
                 fingerprints: dict[str, str]) -> Iterator[ShardTask | ReadTask]:
    """Each source's shards in order: planned for the workers to read where they can, else read here."""
    shard = 0
    for name in sources:
        spec = catalog.get(name)
        if workers_can_read(spec, max_records):
            for task in plan(spec, shard_records, shard):
                yield task
                shard = task.shard + 1
        else:
            for task in driver_shards([name], shard_records, max_records, fingerprints):
                task.shard = shard
                yield task
                shard += 1


def map_sources(ex, shared: Shared, sources: list[str], shard_records: int, max_records: int | None,
                fingerprints: dict[str, str], in_workers: bool) -> Iterator[ShardResult]:
    """`run_shard` over every shard of `sources` on executor `ex`, results in shard order (empty shards
    left out); `fingerprints` gets each source's fingerprint. `in_workers`: the workers read the shards
    they can (needs `shared.spill`), else the driver reads them all."""
    if not (in_workers and shared.spill):
        yield from ex.map(run_shard, shared, driver_shards(sources, shard_records, max_records, fingerprints))
        return
    seq = Sequencer(fingerprints)
    tasks = worker_tasks(sources, shard_records, max_records, fingerprints)
    for out in ex.map(run_task, shared, tasks, light=lambda t: isinstance(t, ReadTask)):
        res = seq.take(out) if isinstance(out, ReadResult) else out
        if res is not None:
            yield res
