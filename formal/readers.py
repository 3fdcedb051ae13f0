"""Files and folders -> records, one reader per kind, every skipped part reported as (file:line, why).

Record shapes (meta always has `file`, `line`, `start`, `end`; `source_text[start:end]` is the
record's formal side (declarations, code), its informal side (LaTeX/Markdown/plain text), or the
whole comment or cartouche a Lean module doc / Isabelle `text` record was taken from; offsets
index the decoded text: UTF-8 with a BOM dropped and invalid bytes replaced by U+FFFD):
- Lean / Isabelle declaration with a docstring (Lean) or a `text ‹…›` right before it
  (Isabelle): kind `pair`, informal = that text, formal = the statement; otherwise kind `formal`.
  Meta: name, full_name, decl_kind, namespace/theory, attributes, modifiers, proof, ...
- Lean module docs (`/-! … -/`) and Isabelle `text` blocks not attached to a declaration: `text`.
- Python function/class with a docstring: kind `code` (informal = docstring, formal = code).
- LaTeX/Markdown theorem-like blocks and numbered problems: `informal`; plain paragraphs: `text`.
- LeanDojo benchmark theorems: `formal` (formal = initial goal, meta.proof = tactics).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from curate.records import Record
from formal import code as code_reader
from formal import detect, isabelle, lean, leandojo, text as text_reader
from formal.source import Issue, SourceText, decode, is_binary

SKIP_DIRS = frozenset({".git", ".lake", "lake-packages", "_build", "build", "__pycache__", "node_modules", ".venv",
                       "venv", ".tox", ".mypy_cache", ".pytest_cache", ".hg", ".svn"})


@dataclass
class ReadConfig:
    max_file_bytes: int = 64 * 2**20
    """Larger source files are skipped (reported) instead of read."""
    max_json_bytes: int = 2 * 2**30
    """Limit for LeanDojo benchmark files (read whole with `json`, so memory is a few times this)."""
    max_item_chars: int = 200_000
    """Items (statements, code, text) longer than this are skipped (reported)."""
    module_docs: bool = True
    """Keep Lean module docs (`/-! … -/`) as `text` records."""
    leandojo_granularity: str = "theorem"
    """LeanDojo benchmark items: one per `theorem`, or one per traced `tactic`."""
    code: code_reader.CodeConfig = field(default_factory=code_reader.CodeConfig)
    text: text_reader.TextConfig = field(default_factory=text_reader.TextConfig)


@dataclass
class ReadReport:
    records: list[Record] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    files: Counter = field(default_factory=Counter)
    """Files read per reader kind."""


def collect_files(paths: list[Path], kind: str, skipped: list[tuple[str, str]]) -> list[tuple[Path, str, str]]:
    """(file, reader kind, id prefix) for every readable file; folders are walked (hidden/build dirs left out)."""
    if kind not in ("auto",) + detect.READER_KINDS:
        raise ValueError(f"unknown reader kind {kind!r}; use auto or one of {', '.join(detect.READER_KINDS)}")
    out: list[tuple[Path, str, str]] = []
    for p in paths:
        if p.is_dir():
            unread: Counter = Counter()
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]) or not f.is_file():
                    continue
                if kind == "auto":
                    r = detect.reader_for(f)
                else:
                    r = kind if detect.reader_for(f) == kind or f.suffix.lower() in _SUFFIXES[kind] else None
                if r is None:
                    unread[f.suffix.lower() or "(no extension)"] += 1
                    continue
                out.append((f, r, rel.as_posix()))
            if unread:
                what = ", ".join(f"{ext} {n}" for ext, n in unread.most_common())
                skipped.append((str(p), f"{sum(unread.values())} files with no reader ({what})"))
        elif p.is_file():
            r = detect.reader_for(p, kind)
            if r is None:
                skipped.append((str(p), f"no reader for '{p.suffix or p.name}' files (use --kind)"))
            else:
                out.append((p, r, p.name))
        else:
            skipped.append((str(p), "no such file or folder"))
    return out


_SUFFIXES = {"lean": {".lean"}, "isabelle": {".thy"}, "code": {".py"}, "text": {".md", ".markdown", ".tex", ".txt"},
             "leandojo": {".json", ".jsonl"}}


def read_paths(paths: list[Path], kind: str = "auto", source: str = "ingest",
               on_file: Callable[[int, int, Path], None] | None = None,
               config: ReadConfig | None = None, workers: int = 1) -> tuple[list[Record], list[tuple[str, str]]]:
    """Read files/folders into records; returns (records, [(where, why) for every skipped part])."""
    report = read_report(paths, kind, source, on_file, config, workers)
    return report.records, report.skipped


def read_report(paths: list[Path], kind: str = "auto", source: str = "ingest",
                on_file: Callable[[int, int, Path], None] | None = None,
                config: ReadConfig | None = None, workers: int = 1) -> ReadReport:
    """`workers` > 1 reads files in that many processes; records and skips come back in the serial order."""
    config = config or ReadConfig()
    report = ReadReport()
    files = collect_files([Path(p) for p in paths], kind, report.skipped)
    for n, ((path, reader, rel), (recs, skipped)) in enumerate(zip(files, _read_all(files, source, config, workers))):
        if on_file:
            on_file(n, len(files), path)
        report.records += recs
        report.skipped += skipped
        report.files[reader] += 1
    if on_file:
        on_file(len(files), len(files), Path())
    return report


def _read_one(job: tuple[Path, str, str, str, ReadConfig]) -> tuple[list[Record], list[tuple[str, str]]]:
    path, reader, source, rel, config = job
    return read_file(path, reader, source, rel, config)


def _read_all(files: list[tuple[Path, str, str]], source: str, config: ReadConfig, workers: int):
    """Each file's (records, skipped), lazily and in file order; files spread over `workers` processes."""
    jobs = ((path, reader, source, rel, config) for path, reader, rel in files)
    if workers <= 1 or len(files) < 2:
        yield from map(_read_one, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(files))) as pool:
        yield from pool.map(_read_one, jobs, chunksize=max(1, min(64, len(files) // (workers * 8))))


def read_file(path: Path, reader: str, source: str, rel: str, config: ReadConfig) -> tuple[list[Record], list[tuple[str, str]]]:
    """One file; never raises for bad content (binary, huge, non-UTF-8, truncated, reader bugs)."""
    try:
        size = path.stat().st_size
        limit = config.max_json_bytes if reader == "leandojo" else config.max_file_bytes
        if size > limit:
            return [], [(str(path), f"{size} bytes is over the {limit}-byte limit; file skipped")]
        data = path.read_bytes()
    except OSError as exc:
        return [], [(str(path), f"cannot read: {exc.strerror or exc}")]
    if is_binary(data):
        return [], [(str(path), "binary file (NUL bytes); skipped")]
    src = decode(data)
    try:
        recs, issues = READERS[reader](src, source, rel, config)
    except RecursionError:
        return [], [(str(path), f"{reader} reader: input nested too deeply; file skipped")]
    except Exception as exc:  # a reader bug must not stop a whole ingest; report it loudly instead
        return [], [(str(path), f"{reader} reader failed ({type(exc).__name__}: {exc}); file skipped")]
    kept = []
    skipped = [(f"{path}:{i.line}", i.why) for i in sorted(src.issues + issues, key=lambda i: i.line)]
    for r in recs:
        size = max(len(r.formal or ""), len(r.informal or ""))
        if size > config.max_item_chars:
            skipped.append((f"{path}:{r.meta.get('line', 1)}", f"{r.meta.get('decl_kind', r.kind)} of {size} characters "
                                                              f"is over the {config.max_item_chars} limit; skipped"))
        else:
            kept.append(r)
    return kept, skipped


def _lean(src: SourceText, source: str, rel: str, config: ReadConfig) -> tuple[list[Record], list[Issue]]:
    parsed = lean.parse_lean(src.text)
    recs = []
    for d in parsed.decls:
        ident = d.full_name or f"{d.kind.replace(' ', '_')}@L{d.line}"
        meta = {"name": d.name, "full_name": d.full_name, "decl_kind": d.kind, "file": rel, "line": d.line,
                "start": d.start, "end": d.end, "namespace": d.namespace, "attributes": d.attributes,
                "modifiers": d.modifiers, "proof": d.proof, "opens": d.opens, "variables": d.variables}
        if d.termination:
            meta["termination"] = d.termination
        if d.name_derived:  # not in the source: Lean 4's own name for an anonymous instance
            meta["name_derived"] = True
        recs.append(Record(id=f"{rel}:{ident}", source=source, kind="pair" if d.docstring else "formal",
                           informal=d.docstring, formal=d.statement, formal_lang=parsed.lang, meta=meta))
    if config.module_docs:
        for m in parsed.module_docs:
            if m.text:
                recs.append(Record(id=f"{rel}:module_doc@L{m.line}", source=source, kind="text", informal=m.text,
                                   formal_lang=parsed.lang, meta={"decl_kind": "module_doc", "file": rel,
                                                                  "line": m.line, "start": m.start, "end": m.end}))
    return recs, parsed.issues


def _isabelle(src: SourceText, source: str, rel: str, config: ReadConfig) -> tuple[list[Record], list[Issue]]:
    parsed = isabelle.parse_isabelle(src.text)
    recs = []
    attached = set()
    for d in parsed.decls:
        ident = d.full_name or f"{d.kind}@L{d.line}"
        if d.context_start is not None:
            attached.add(d.context_start)
        meta = {"name": d.name, "full_name": d.full_name, "decl_kind": d.kind, "file": rel, "line": d.line,
                "start": d.start, "end": d.end, "theory": parsed.theory, "locale": d.locale, "fixes": d.fixes,
                "assumes": d.assumes, "shows": d.shows, "attributes": d.attributes, "proof": d.proof,
                "proof_closed": d.proof_closed, "comment": d.comment}
        meta.update({k: v for k, v in (("options", d.options), ("modifiers", d.modifiers)) if v})
        recs.append(Record(id=f"{rel}:{ident}", source=source, kind="pair" if d.context else "formal",
                           informal=d.context, formal=d.statement, formal_lang="isabelle", meta=meta))
    for cmd, txt, start, end, line in parsed.texts:
        if cmd in ("text", "txt") and start not in attached and txt:
            recs.append(Record(id=f"{rel}:text@L{line}", source=source, kind="text", informal=txt,
                               formal_lang="isabelle", meta={"decl_kind": cmd, "file": rel, "line": line,
                                                             "start": start, "end": end}))
    return recs, parsed.issues


def _code(src: SourceText, source: str, rel: str, config: ReadConfig) -> tuple[list[Record], list[Issue]]:
    items, issues = code_reader.parse_python(src.text, config.code)
    recs = [Record(id=f"{rel}:{it.qualname}", source=source, kind="code", informal=it.docstring, formal=it.code,
                   formal_lang="python", meta={"name": it.name, "full_name": it.qualname, "decl_kind": it.kind,
                                               "file": rel, "line": it.line, "start": it.start, "end": it.end})
            for it in items]
    return recs, issues


def _text(src: SourceText, source: str, rel: str, config: ReadConfig) -> tuple[list[Record], list[Issue]]:
    is_tex = rel.lower().endswith(".tex") or "\\begin{" in src.text[:100_000]
    items, issues = (text_reader.parse_latex if is_tex else text_reader.parse_markdown)(src.text, config.text)
    recs = [] if is_tex else _fenced_formal(src, source, rel, config, issues)
    for it in items:
        meta = {"decl_kind": it.kind, "file": rel, "line": it.line, "start": it.start, "end": it.end}
        meta.update({k: v for k, v in (("title", it.title), ("label", it.label), ("proof", it.proof)) if v})
        recs.append(Record(id=f"{rel}:{it.kind}@L{it.line}", source=source,
                           kind="text" if it.kind == "paragraph" else "informal", informal=it.text,
                           formal_lang="latex" if is_tex else None, meta=meta))
    return recs, issues


def _fenced_formal(src: SourceText, source: str, rel: str, config: ReadConfig, issues: list[Issue]) -> list[Record]:
    """Lean / Isabelle declarations in fenced Markdown code blocks (```lean, ```isabelle), offsets into the file."""
    recs: list[Record] = []
    for lang, a, b in text_reader.fenced_blocks(src.text):
        reader = {"lean": _lean, "lean4": _lean, "lean3": _lean, "isabelle": _isabelle, "isar": _isabelle}.get(lang)
        if reader is None:
            continue
        first_line = src.line_of(a)
        block = SourceText(src.text[a:b])
        more, block_issues = reader(block, source, rel, replace(config, module_docs=False))
        for r in more:
            r.meta.update(start=r.meta["start"] + a, end=r.meta["end"] + a, line=r.meta["line"] + first_line - 1,
                          fenced=lang)
            r.id = f"{rel}:L{r.meta['line']}:{r.id.split(':', 1)[1]}"
        issues += [Issue(i.line + first_line - 1, i.why) for i in block_issues]
        recs += more
    return recs


def _leandojo(src: SourceText, source: str, rel: str, config: ReadConfig) -> tuple[list[Record], list[Issue]]:
    items, issues = leandojo.read_benchmark(src.text, config.leandojo_granularity)
    return records_from_dojo(items, source, rel), issues


def records_from_dojo(items: list[leandojo.DojoItem], source: str, rel: str) -> list[Record]:
    recs = []
    for it in items:
        step = it.meta.get("step")
        ident = f"{it.file_path}:{it.full_name}" + (f"#{step}" if step is not None else "")
        start = it.meta.get("start") or [None]
        recs.append(Record(id=ident, source=source, kind="formal", formal=it.formal,
                           formal_lang=leandojo.lean_lang(it.meta.get("url")),
                           meta={**it.meta, "proof": it.proof, "benchmark_file": rel, "line": start[0]}))
    return recs


READERS: dict[str, Callable[[SourceText, str, str, ReadConfig], tuple[list[Record], list[Issue]]]] = {
    "lean": _lean, "isabelle": _isabelle, "code": _code, "text": _text, "leandojo": _leandojo,
}


def trace_records(url: str, commit: str, source: str, config: ReadConfig | None = None) -> tuple[list[Record], list[tuple[str, str]]]:
    """Records from tracing a Lean repository with lean-dojo (raises leandojo.TracingUnavailable)."""
    config = config or ReadConfig()
    items, issues = leandojo.trace_repo(url, commit, config.leandojo_granularity)
    return records_from_dojo(items, source, f"{url}@{commit}"), [(f"{url}@{commit}:{i.line}", i.why) for i in issues]
