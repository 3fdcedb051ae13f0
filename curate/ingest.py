"""`curate ingest`: files -> records -> a dataset folder under --out, registered as a catalog source.

Tabular files (jsonl/json/parquet/csv) are read with an explicit field mapping. Readers for
source trees (Lean, Isabelle, code, text) plug in through `formal.readers` when present.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from curate import catalog, load
from curate.catalog import SourceSpec
from curate.errors import CurateError
from curate.records import COLUMNS, KINDS, Record

RECORDS_FILE = "records.jsonl"
SKIPPED_FILE = "skipped.jsonl"


@dataclass
class IngestOptions:
    name: str
    """Catalog name to register the result under."""
    out: Path
    """Output folder (written atomically; an existing folder is replaced only on success)."""
    kind: str = "pairs"
    """pairs (tabular files with a field mapping), or a reader kind: auto, lean, isabelle, code, text."""
    informal_field: str | None = None
    formal_field: str | None = None
    id_field: str | None = None
    split_field: str | None = None
    record_kind: str | None = None
    """Kind given to tabular records: pair when both fields are mapped, else informal/formal."""
    formal_lang: str | None = None
    license: str = "unknown"
    lean_repo: str | None = None
    """Git URL of a Lean repository to trace with lean-dojo (the `lean` extra; needs a toolchain and network)."""
    commit: str | None = None
    """Commit of `lean_repo` to trace."""


@dataclass
class IngestResult:
    out: Path
    records: int
    by_kind: Counter
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(where, why) for every part that did not become a record."""
    registry: Path | None = None


def check_writable(out: Path) -> None:
    parent = out.parent if not out.exists() else out
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".curate-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise CurateError(f"cannot write to {out}: {exc.strerror or exc}") from exc


def read_tabular(paths: list[Path], opts: IngestOptions) -> tuple[list[Record], list[tuple[str, str]]]:
    if not opts.informal_field and not opts.formal_field:
        raise CurateError("tabular ingest needs --informal-field and/or --formal-field")
    kind = opts.record_kind or ("pair" if opts.informal_field and opts.formal_field else
                                "informal" if opts.informal_field else "formal")
    fields = {k: v for k, v in (("informal", opts.informal_field), ("formal", opts.formal_field),
                                ("id", opts.id_field), ("split", opts.split_field)) if v}
    records: list[Record] = []
    skipped: list[tuple[str, str]] = []
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in load.FILE_TYPES and q.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise CurateError(f"{p}: no such file or folder")
    if not files:
        raise CurateError(f"no jsonl/json/parquet/csv files in {', '.join(map(str, paths))}")
    for path in files:
        spec = SourceSpec(name=opts.name, kind=kind, license=opts.license, formal_lang=opts.formal_lang,
                          path=str(path.resolve()), fields=fields)
        report = load.LoadReport(opts.name)
        for n, row in load.read_rows(path):
            rec = load.to_record(spec, row, f"{path}:{n}", path.stem, n, report)
            if rec is None:
                continue
            records.append(rec)
        if report.skipped:
            skipped += [(str(path), f"{why} ({count} rows)") for why, count in report.skipped.items()]
    return records, skipped


def write_records(records: list[Record], out: Path, skipped: list[tuple[str, str]] | None = None) -> None:
    """Write `records.jsonl` (and `skipped.jsonl`: every skipped part) into `out` atomically."""
    check_writable(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with open(tmp / RECORDS_FILE, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r.to_row(), ensure_ascii=False) + "\n")
        if skipped:
            with open(tmp / SKIPPED_FILE, "w", encoding="utf-8") as fh:
                for where, why in skipped:
                    fh.write(json.dumps({"where": where, "why": why}, ensure_ascii=False) + "\n")
        if out.exists():
            backup = out.with_name(f".{out.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(out, backup)
            os.replace(tmp, out)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def registration(opts: IngestOptions, out: Path, records: list[Record]) -> SourceSpec:
    kinds = {r.kind for r in records}
    langs = {r.formal_lang for r in records if r.formal_lang}
    return SourceSpec(
        name=opts.name, kind=kinds.pop() if len(kinds) == 1 else "text", license=opts.license,
        formal_lang=langs.pop() if len(langs) == 1 else opts.formal_lang, path=str(out.resolve()),
        files=(RECORDS_FILE,),
        fields={"id": "id", "informal": "{informal?}", "formal": "{formal?}", "split": "{split?}",
                "kind": "kind", "formal_lang": "{formal_lang?}", "meta": "{meta?}"},
        description=f"ingested with `curate ingest` ({len(records)} records)",
    )


READER_KINDS = ("auto", "lean", "isabelle", "code", "text", "leandojo")
OnFile = Callable[[int, int, Path], None]
"""Progress callback: (files done, files total, current file)."""


def read_formal(paths: list[Path], opts: IngestOptions, on_file: OnFile | None = None
                ) -> tuple[list[Record], list[tuple[str, str]]]:
    """Source trees through `formal.readers`, plus a lean-dojo trace when `lean_repo` is set."""
    if opts.kind not in READER_KINDS:
        raise CurateError(f"unknown --kind {opts.kind!r}; use pairs or one of {', '.join(READER_KINDS)}")
    try:
        from formal import leandojo
        from formal.readers import read_paths, trace_records
    except ImportError as exc:
        raise CurateError(f"--kind {opts.kind} needs the formal readers, which failed to import: {exc}") from exc
    records, skipped = read_paths(paths, kind=opts.kind, source=opts.name, on_file=on_file) if paths else ([], [])
    if opts.lean_repo:
        if not opts.commit:
            raise CurateError("--lean-repo needs --commit SHA")
        try:
            more, more_skipped = trace_records(opts.lean_repo, opts.commit, opts.name)
        except leandojo.TracingUnavailable as exc:
            raise CurateError(str(exc)) from exc
        records, skipped = records + more, skipped + more_skipped
    return records, skipped


def ingest(paths: list[Path], opts: IngestOptions, on_file: OnFile | None = None) -> IngestResult:
    """`on_file(done, total, path)` is called as source files are read (for a progress bar)."""
    if opts.name in catalog.BUILTIN:
        raise CurateError(f"{opts.name!r} is a built-in source name; choose another --name")
    check_writable(opts.out)
    if opts.kind == "pairs":
        records, skipped = read_tabular(paths, opts)
    else:
        records, skipped = read_formal(paths, opts, on_file)
    if not records:
        why = "; ".join(f"{w}: {r}" for w, r in skipped[:3])
        raise CurateError(f"no records found in {', '.join(map(str, paths))}" + (f" ({why})" if why else ""))
    seen: Counter = Counter()
    for r in records:
        r.source = opts.name
        seen[r.id] += 1
        if seen[r.id] > 1:
            r.id = f"{r.id}#{seen[r.id]}"
    write_records(records, opts.out, skipped)
    reg = catalog.register(registration(opts, opts.out, records))
    return IngestResult(out=opts.out, records=len(records), by_kind=Counter(r.kind for r in records),
                        skipped=skipped, registry=reg)


__all__ = ["IngestOptions", "IngestResult", "ingest", "COLUMNS", "KINDS"]
