"""`curate ingest`: files -> records -> a dataset folder under --out, registered as a catalog source.

Tabular files (jsonl/json/parquet/csv) are read with an explicit field mapping. Readers for
source trees (Lean, Isabelle, code, text) plug in through `formal.readers` when present.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from curate import catalog, load, outdir
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
    skip_bad_rows: bool = False
    """Tabular input: skip (count and report) malformed rows and unreadable files instead of stopping."""
    holds: tuple[str, ...] = ()
    """Eval item sets (or target names) this dataset contains: rankings against those targets leave it out."""
    workers: int = 1
    """Source trees: read files in this many processes (same records, same order as one process)."""


@dataclass
class IngestResult:
    out: Path
    records: int
    by_kind: Counter
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(where, why) for every part that did not become a record."""
    registry: Path | None = None


LEGACY_FILES = (RECORDS_FILE, SKIPPED_FILE)
"""What an ingest folder held before output markers existed (such a folder is replaced, not refused)."""


def check_out(out: Path, inputs: list[Path] = ()) -> Path:
    """Refuse an output folder that is a file, holds files an earlier ingest did not write, holds or sits in an
    input, or is unwritable — before anything is read. Returns it absolute."""
    return outdir.check(out, "ingest", inputs=list(inputs), legacy=LEGACY_FILES)


def check_writable(out: Path) -> None:
    outdir.check(out, "ingest", legacy=LEGACY_FILES)


MAX_LINE_BYTES = 64 * 2**20
"""A jsonl line longer than this is refused (or skipped with --skip-bad-rows) instead of read."""


def _bad_line(path: Path, lineno: int, why: str, skipped: list | None) -> None:
    if skipped is None:
        raise CurateError(f"{path}:{lineno}: {why} (fix the line, or pass --skip-bad-rows to skip such rows)")
    skipped.append((f"{path}:{lineno}", why))


def read_jsonl(path: Path, skipped: list[tuple[str, str]] | None = None):
    """(line number, object) per non-blank line. A bad line (not UTF-8, malformed, not an object, over
    MAX_LINE_BYTES) raises one line naming file, line and column — or, given `skipped`, is listed there."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise CurateError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                size = len(raw)
                while (more := fh.readline(MAX_LINE_BYTES)) and not more.endswith(b"\n"):
                    size += len(more)
                size += len(more)
                _bad_line(path, lineno, f"line of {size / 2**20:.0f} MB, over the {MAX_LINE_BYTES >> 20} MB limit",
                          skipped)
                continue
            if b"\0" in raw:
                _bad_line(path, lineno, "binary data (NUL bytes), not JSON text", skipped)
                continue
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                _bad_line(path, lineno, f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                          skipped)
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                _bad_line(path, lineno, f"malformed JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})",
                          skipped)
                continue
            if not isinstance(obj, dict):
                _bad_line(path, lineno, f"expected a JSON object, got {type(obj).__name__}", skipped)
                continue
            yield lineno, obj


def rows(path: Path, skipped: list[tuple[str, str]] | None = None):
    """Rows of one tabular file: jsonl (and JSON Lines named .json) line by line, others via curate.load."""
    kind = load.FILE_TYPES.get(path.suffix.lower())
    if kind == "json":
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip()
        if not head.startswith(b"\xef\xbb\xbf[") and not head.startswith(b"["):
            kind = "jsonl"
    if kind == "jsonl":
        return read_jsonl(path, skipped)
    return load.read_rows(path)


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
        try:
            for n, row in rows(path, skipped if opts.skip_bad_rows else None):
                try:
                    rec = load.to_record(spec, row, f"{path}:{n}", path.stem, n, report)
                except CurateError as exc:
                    if not opts.skip_bad_rows:
                        raise
                    skipped.append((f"{path}:{n}", str(exc)))
                    continue
                if rec is not None:
                    records.append(rec)
        except CurateError as exc:
            if not opts.skip_bad_rows:
                raise
            skipped.append((str(path), f"unreadable file: {exc}"))
        if report.skipped:
            skipped += [(str(path), f"{why} ({count} rows)") for why, count in report.skipped.items()]
    return records, skipped


def write_records(records: list[Record], out: Path, skipped: list[tuple[str, str]] | None = None) -> None:
    """Write `records.jsonl` and `skipped.jsonl` (every skipped part; empty when none was) into `out`,
    replacing only an earlier ingest's files (see curate.outdir)."""
    out = check_out(out)
    tmp = outdir.new_tmp(out)
    try:
        with open(tmp / RECORDS_FILE, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r.to_row(), ensure_ascii=False) + "\n")
        with open(tmp / SKIPPED_FILE, "w", encoding="utf-8") as fh:
            for where, why in skipped or []:
                fh.write(json.dumps({"where": where, "why": why}, ensure_ascii=False) + "\n")
    except OSError as exc:
        outdir.shutil.rmtree(tmp, ignore_errors=True)
        raise CurateError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    except BaseException:
        outdir.shutil.rmtree(tmp, ignore_errors=True)
        raise
    outdir.install(tmp, out, "ingest", legacy=LEGACY_FILES)


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
        holds=catalog.check_holds(opts.holds),
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
    records, skipped = (read_paths(paths, kind=opts.kind, source=opts.name, on_file=on_file, workers=opts.workers)
                        if paths else ([], []))
    if opts.lean_repo:
        if not opts.commit:
            raise CurateError("--lean-repo needs --commit SHA")
        try:
            more, more_skipped = trace_records(opts.lean_repo, opts.commit, opts.name)
        except leandojo.TracingUnavailable as exc:
            raise CurateError(str(exc)) from exc
        records, skipped = records + more, skipped + more_skipped
    return records, skipped


def _utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut at the end of the sample
    return True


def _explain_tabular(paths: list[Path]) -> None:
    """A data file given by name that auto-detection cannot read: say what it is and what to pass."""
    try:
        from formal import detect
        from formal.source import is_binary
    except ImportError:
        return
    for p in paths:
        if not p.is_file() or p.suffix.lower() not in load.FILE_TYPES or detect.reader_for(p) is not None:
            continue
        try:
            with open(p, "rb") as fh:
                head = fh.read(8192)
        except OSError as exc:
            raise CurateError(f"cannot read {p}: {exc.strerror or exc}") from exc
        if p.suffix.lower() in (".jsonl", ".json", ".csv") and (is_binary(head) or not _utf8(head)):
            raise CurateError(f"{p}: binary data, not {p.suffix[1:]} text (is it the right file?)")
        raise CurateError(f"{p}: a table of records; say which fields hold the text with --informal-field and/or "
                          "--formal-field (it is not a LeanDojo benchmark file, the only table read without them)")


def ingest(paths: list[Path], opts: IngestOptions, on_file: OnFile | None = None) -> IngestResult:
    """`on_file(done, total, path)` is called as source files are read (for a progress bar)."""
    if opts.name in catalog.BUILTIN:
        raise CurateError(f"{opts.name!r} is a built-in source name; choose another --name")
    catalog.check_holds(opts.holds)  # an unknown item set fails before any work
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise CurateError(f"{p}: no such file or folder")
    out = check_out(opts.out, paths)  # before reading anything
    if opts.kind == "auto":
        _explain_tabular(paths)
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
    write_records(records, out, skipped)
    reg = catalog.register(registration(opts, out, records))
    return IngestResult(out=out, records=len(records), by_kind=Counter(r.kind for r in records),
                        skipped=skipped, registry=reg)


__all__ = ["IngestOptions", "IngestResult", "ingest", "COLUMNS", "KINDS"]
