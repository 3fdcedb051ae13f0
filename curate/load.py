"""SourceSpec -> a `datasets.Dataset` of records (local jsonl/json/parquet/csv files, or the hub).

Every row that does not become a record is counted with its reason; nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from curate import catalog, settings
from curate.catalog import SourceSpec
from curate.errors import CurateError
from curate.records import COLUMNS, KINDS, Record, render

T = TypeVar("T")
FILE_TYPES = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
DEFAULT_MAX_RECORDS = 20000
"""Hub sources loaded whole into memory (`load_source`) stop after this many records unless
`--max-records` (`set_max_records`) says otherwise; the mix streams sources and reads them whole."""
_MAX_RECORDS: dict[str, int | None] = {}


def set_max_records(n: int | None) -> None:
    """`--max-records`: read at most n records of any source (None = the default rule above)."""
    if n is not None and n < 1:
        raise CurateError(f"--max-records must be at least 1, got {n}")
    _MAX_RECORDS["n"] = n


def max_records(spec: SourceSpec | None = None, whole: bool = True) -> int | None:
    """The record cap in force for `spec` (None = no cap). `whole`: the caller holds the source in memory."""
    n = _MAX_RECORDS.get("n")
    if n is not None:
        return n
    return DEFAULT_MAX_RECORDS if whole and spec is not None and spec.is_hub else None


def _doc_comment(text: str) -> str:
    text = text.strip()
    if text.startswith("/--"):
        text = text[3:]
    elif text.startswith("/-"):
        text = text[2:]
    if text.endswith("-/"):
        text = text[:-2]
    return text.strip()


def _before_proof(text: str) -> str:
    return text.split("\\begin{proof}", 1)[0].strip()


CLEANERS = {"doc_comment": _doc_comment, "before_proof": _before_proof}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\?)?\}")


class MissingField(Exception):
    pass


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_as_text(v) for v in value.values() if _as_text(v))
    if isinstance(value, (list, tuple)):
        return "\n".join(_as_text(v) for v in value if _as_text(v))
    return str(value)


def fill(template: str, row: dict[str, Any], file_stem: str = "") -> str:
    """Apply a field template: a bare name, or text with {field} / {field?} placeholders."""
    if "{" not in template:
        template = "{" + template + "}"

    def sub(m: re.Match) -> str:
        name, optional = m.group(1), m.group(2)
        if name == "__file__":
            return file_stem
        if name not in row:
            if optional:
                return ""
            raise MissingField(name)
        return _as_text(row[name])

    return _PLACEHOLDER.sub(sub, template)


def read_jsonl(path: Path, start: int = 0, stop: int | None = None, first: int = 1) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; one-line errors that name file and line.
    `start`/`stop`: only the whole lines in that byte range, the first of them line `first` (a shard)."""
    with open(path, "rb") as fh:
        if start:
            fh.seek(start)
        for lineno, raw in enumerate(fh, first):
            if stop is not None:
                if start >= stop:
                    break
                start += len(raw)
            try:
                line = raw.decode("utf-8").rstrip("\r\n")  # else an error at the line's end reads "column 1"
            except UnicodeDecodeError as exc:
                raise CurateError(f"{path}:{lineno}: not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})") from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CurateError(f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(obj, dict):
                raise CurateError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def read_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """Rows of one data file, with 1-based row numbers (line numbers for jsonl)."""
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind == "jsonl":
        yield from read_jsonl(path)
        return
    if kind == "json":
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CurateError(f"{path}: not valid UTF-8 (byte offset {exc.start})") from exc
        stripped = text.lstrip()
        if not stripped.startswith("["):  # JSON Lines with a .json name
            yield from read_jsonl(path)
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CurateError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
        for i, obj in enumerate(data, 1):
            if not isinstance(obj, dict):
                raise CurateError(f"{path}: item {i} is not a JSON object")
            yield i, obj
        return
    if kind == "parquet":  # streamed batch by batch, never read whole
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            i = 0
            for batch in pf.iter_batches(batch_size=4096):
                for row in batch.to_pylist():
                    i += 1
                    yield i, row
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) for corrupt files
            raise CurateError(f"{path}: cannot read as parquet ({str(exc).splitlines()[0][:200]})") from exc
        return
    if kind == "csv":
        import datasets

        try:
            ds = datasets.load_dataset(kind, data_files=str(path), split="train",
                                       cache_dir=str(settings.cache_dir() / "hf-datasets"))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise CurateError(f"{path}: cannot read as {kind} ({str(exc).splitlines()[0][:200]})") from exc
        for i, row in enumerate(ds, 1):
            yield i, row
        return
    raise CurateError(f"{path}: unsupported file type {path.suffix!r} (use jsonl, json, parquet or csv)")


def data_files(spec: SourceSpec) -> list[Path]:
    root = Path(spec.location())
    if root.is_file():
        return [root]
    if not root.exists():
        raise CurateError(
            f"data for source {spec.name!r} not found at {root}; set CURATE_DATA_HOME or --data-home "
            f"to the folder that holds {spec.path!r}"
        )
    files = sorted({p for pattern in spec.files for p in root.glob(pattern) if p.is_file()})
    if not files:
        raise CurateError(f"source {spec.name!r}: no files matching {', '.join(spec.files)} in {root}")
    return files


@dataclass
class LoadReport:
    source: str
    rows: int = 0
    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    filtered: int = 0  # rows outside the spec's `where` (a different split, say): not part of this source


def to_record(spec: SourceSpec, row: dict, where: str, file_stem: str, index: int, report: LoadReport) -> Record | None:
    report.rows += 1
    for key, want in spec.where.items():
        if str(row.get(key)) != want:
            report.filtered += 1
            return None
    values: dict[str, str] = {}
    for key, template in spec.fields.items():
        try:
            values[key] = fill(template, row, file_stem)
        except MissingField as exc:
            raise CurateError(
                f"{where}: mapped field {exc.args[0]!r} missing (row has: {', '.join(sorted(row)) or 'no fields'})"
            ) from None
    informal = values.get("informal") or None
    for name in spec.clean:
        if informal:
            informal = CLEANERS[name](informal) or None
    formal = values.get("formal") or None
    if informal is not None and not informal.strip():
        informal = None
    if formal is not None and not formal.strip():
        formal = None
    if informal is None and formal is None:
        report.skipped["empty text"] += 1
        return None
    kind = values.get("kind") or spec.kind
    if kind not in KINDS:
        raise CurateError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "pair" and (informal is None or formal is None):
        report.skipped["pair with one side empty"] += 1
        return None
    rid = values.get("id") or f"{file_stem}:{index}"
    meta = {"origin": where}
    if values.get("meta"):
        try:
            meta.update(json.loads(values["meta"]))
        except ValueError:
            meta["raw_meta"] = values["meta"]
    return Record(id=rid, source=spec.name, kind=kind, informal=informal, formal=formal,
                  formal_lang=values.get("formal_lang") or spec.formal_lang, split=values.get("split") or None,
                  meta=meta)


def _local_rows(spec: SourceSpec) -> Iterator[tuple[str, str, int, dict]]:
    for path in data_files(spec):
        for n, row in read_rows(path):
            yield f"{path}:{n}", path.stem, n, row


def _hub_rows(spec: SourceSpec, limit: int | None) -> Iterator[tuple[str, str, int, dict]]:
    import datasets

    if settings.hub_offline():
        raise CurateError(
            f"source {spec.name!r} lives on the hub ({spec.hub_id}) and the hub is offline "
            "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE); download it and `curate ingest` the files instead"
        )
    try:
        ds = datasets.load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split, streaming=True)
    except Exception as exc:
        raise CurateError(f"cannot load hub dataset {spec.hub_id}: {str(exc).splitlines()[0][:200]}") from exc
    for i, row in enumerate(ds, 1):
        if limit and i > limit:
            break
        yield f"{spec.hub_id}#{i}", spec.hub_split, i, row


def _row(rec: Record) -> dict:
    """`rec.to_row()` without `dataclasses.asdict`'s deep copy (the record is not used again)."""
    return {"id": rec.id, "source": rec.source, "kind": rec.kind, "informal": rec.informal, "formal": rec.formal,
            "formal_lang": rec.formal_lang, "split": rec.split,
            "meta": json.dumps(rec.meta, ensure_ascii=False, sort_keys=True)}


class SeenIds:
    """How many times each id has been seen: `add(id)` returns its count so far, 1 the first time.

    Exact, like a `Counter` of the id strings, in about half its memory and with no Python object per id
    (47 bytes an id at 1M 7-character ids, against ~87 for a Counter holding its strings): the ids' bytes
    in one buffer, an open-addressing table of (64-bit hash, offset into the buffer), at most 2/3 full;
    a hash match is confirmed on the bytes, so two ids with equal hashes stay apart; only ids seen more than
    once get a dict entry."""

    def __init__(self, capacity: int = 1 << 12):
        from array import array

        self._array = array
        self._keys = array("Q", bytes(8 * capacity))
        self._offs = array("q", bytes(8 * capacity))
        self._blob = bytearray()
        self._n = 0
        self._more: dict[str, int] = {}

    def __len__(self) -> int:
        return self._n

    def add(self, rid: str) -> int:
        h = (hash(rid) & 0xFFFFFFFFFFFFFFFF) or 1  # 0 marks an empty slot; hash() is fixed within a process
        raw = rid.encode("utf-8", "surrogatepass")
        keys, offs, blob = self._keys, self._offs, self._blob
        mask = len(keys) - 1
        i = h & mask
        while True:
            k = keys[i]
            if k == 0:
                break
            if k == h:
                o = offs[i]
                size = int.from_bytes(blob[o:o + 4], "little")
                if blob[o + 4:o + 4 + size] == raw:
                    c = self._more.get(rid, 1) + 1
                    self._more[rid] = c
                    return c
            i = (i + 1) & mask
        keys[i], offs[i] = h, len(blob)
        blob += len(raw).to_bytes(4, "little")
        blob += raw
        self._n += 1
        if 3 * self._n > 2 * len(keys):
            self._grow()
        return 1

    def _grow(self) -> None:
        old_keys, old_offs = self._keys, self._offs
        size = 2 * len(old_keys)
        keys, offs = self._array("Q", bytes(8 * size)), self._array("q", bytes(8 * size))
        mask = size - 1
        for k, o in zip(old_keys, old_offs):
            if k:
                i = k & mask
                while keys[i]:
                    i = (i + 1) & mask
                keys[i], offs[i] = k, o
        self._keys, self._offs = keys, offs


def unique_id(seen: SeenIds, rid: str) -> str:
    """`rid`, or `rid#n` for its n-th occurrence within a source (n >= 2): how ids stay unique."""
    n = seen.add(rid)
    return rid if n == 1 else f"{rid}#{n}"


def iter_records(spec: SourceSpec, report: LoadReport, limit: int | None = None) -> Iterator[dict]:
    """The source's record rows one at a time, in order (nothing held but the ids seen so far, `SeenIds`).

    Raises CurateError on bad input, and at the end if the source had no records."""
    rows = _hub_rows(spec, limit) if spec.is_hub else _local_rows(spec)
    seen = SeenIds()
    for where, stem, n, row in rows:
        rec = to_record(spec, row, where, stem, n, report)
        if rec is None:
            continue
        rec.id = unique_id(seen, rec.id)  # keep ids unique within a source
        report.records += 1
        yield _row(rec)
        if limit and report.records >= limit:
            break
    if not report.records:
        why = f"; skipped: {dict(report.skipped)}" if report.skipped else ""
        raise CurateError(f"source {spec.name!r} has no records ({report.rows} rows read at {spec.location()}{why})")


def iter_batches(source: str | SourceSpec, size: int, limit: int | None = None,
                 report: LoadReport | None = None) -> Iterator[list[dict]]:
    """The source's record rows in batches of `size` (the last may be shorter), streamed."""
    spec = catalog.get(source) if isinstance(source, str) else source
    report = report if report is not None else LoadReport(spec.name)
    batch: list[dict] = []
    for row in iter_records(spec, report, limit if limit is not None else max_records(spec, whole=False)):
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_with_report(source: str | SourceSpec, limit: int | None = None):
    """(Dataset of records, LoadReport). Raises CurateError on bad input or an empty result."""
    import datasets

    spec = catalog.get(source) if isinstance(source, str) else source
    report = LoadReport(spec.name)
    records = list(iter_records(spec, report, limit if limit is not None else max_records(spec)))
    features = datasets.Features({c: datasets.Value("string") for c in COLUMNS})
    ds = datasets.Dataset.from_list(records, features=features)
    return ds, report


def reservoir(items: Iterable[T], k: int, seed: int) -> tuple[list[T], int]:
    """(k items drawn uniformly without replacement from a stream of unknown length, in stream order;
    how many items the stream had). Memory holds k items; the draw depends only on `seed` and the stream."""
    rng = random.Random(seed)
    held: list[tuple[int, T]] = []
    n = 0
    for n, item in enumerate(items, 1):
        if n <= k:
            held.append((n, item))
        else:
            j = rng.randrange(n)
            if j < k:
                held[j] = (n, item)
    held.sort(key=lambda x: x[0])
    return [x for _, x in held], n


@dataclass
class StreamSample:
    """A seeded sample of a source read as a stream (for sources too large to hold)."""

    rows: list[dict]
    """Up to `k` record rows, in source order."""
    records: int
    """Exact number of records the stream held (every record was read once)."""
    report: LoadReport


def sample_source(source: str | SourceSpec, k: int, seed: int, limit: int | None = None) -> StreamSample:
    """k records of a source drawn uniformly under `seed` while streaming it (local shards or the hub),
    without holding more than k records; `records` is the exact count, read on the way."""
    spec = catalog.get(source) if isinstance(source, str) else source
    report = LoadReport(spec.name)
    rows, n = reservoir(iter_records(spec, report, limit if limit is not None else max_records(spec, whole=False)),
                        k, seed)
    return StreamSample(rows, n, report)


_CACHE: dict[tuple, tuple] = {}


def load_source(source: str | SourceSpec, limit: int | None = None):
    """The records of a catalog source as a `datasets.Dataset` (memoised per process)."""
    spec = catalog.get(source) if isinstance(source, str) else source
    key = (spec.name, spec.location(), limit, _MAX_RECORDS.get("n"))
    if key not in _CACHE:
        _CACHE[key] = load_with_report(spec, limit)
    return _CACHE[key][0]


def report_for(source: str) -> LoadReport:
    spec = catalog.get(source)
    load_source(spec)
    return _CACHE[(spec.name, spec.location(), None, _MAX_RECORDS.get("n"))][1]


def texts(ds) -> list[str]:
    """Rendered model text of every record."""
    return [render(row) for row in ds]


def fingerprint(ds) -> str:
    """Content hash of a records dataset: ids and rendered texts, in order."""
    h = hashlib.sha256()
    for row in ds:
        fingerprint_add(h, row["id"], render(row))
    return h.hexdigest()[:16]


def fingerprint_add(h, record_id: str, text: str) -> None:
    """Add one record to a running `fingerprint` hash (a sha256; `h.hexdigest()[:16]` at the end)."""
    h.update(record_id.encode("utf-8"))
    h.update(b"\0")
    h.update(text.encode("utf-8"))
    h.update(b"\1")


def available(spec: SourceSpec) -> bool:
    if spec.is_hub:
        return not settings.hub_offline()
    return Path(spec.location()).exists()
