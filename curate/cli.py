"""The `curate` command line: options in, one library call, its result to `curate.render`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console

from curate import progress, render, settings
from curate.errors import CurateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Curate fine-tuning data for autoformalization by alignment to an eval set.")
models_app = typer.Typer(add_completion=False, invoke_without_command=True, help="List and pull probe models.")
app.add_typer(models_app, name="models")

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
STATE: dict[str, Any] = {"seed": 0, "verbose": False}


def _non_finite(obj: Any, where: str = "") -> list[str]:
    """Paths (a.b[3].c) of NaN/inf floats in a JSON-able value."""
    if isinstance(obj, float):
        return [] if obj == obj and obj not in (float("inf"), float("-inf")) else [where or "(top)"]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _non_finite(v, f"{where}[{i}]")]
    return []


def _nulled(obj: Any) -> Any:
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _nulled(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nulled(v) for v in obj]
    return obj


def write_json(path: Path, data: Any) -> list[str]:
    """Write valid JSON atomically (parents created); a one-line error if the folder is unwritable.
    NaN/inf (which JSON cannot hold) are written as null; returns their paths so the caller can say so."""
    from curate.cache import atomic_write_bytes

    if hasattr(data, "to_json"):
        data = data.to_json()
    bad = _non_finite(data)
    if bad:
        data = _nulled(data)
    try:
        atomic_write_bytes(Path(path), json.dumps(data, indent=2, ensure_ascii=False, default=str,
                                                  allow_nan=False).encode("utf-8"))
    except OSError as exc:
        raise CurateError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return bad


# ----------------------------------------------------------------------------- checks before any work
def check_count(flag: str, value: Optional[float], minimum: float = 1, what: str = "at least") -> None:
    """Nonsense numbers fail before anything is loaded (None = the default, left to the library)."""
    if value is not None and value < minimum:
        raise CurateError(f"{flag} must be {what} {minimum:g}, got {value:g}")


def check_positive(flag: str, value: Optional[float]) -> None:
    if value is not None and not value > 0:
        raise CurateError(f"{flag} must be positive, got {value:g}")


def check_output_file(flag: str, path: Optional[Path]) -> None:
    """The file can be written: not a folder, and its nearest existing parent is a writable folder."""
    if path is None:
        return
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    if path.is_dir():
        raise CurateError(f"{flag} {path} is a folder; give a file name")
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CurateError(f"cannot write {flag} {path}: {probe} is not a writable folder")


def check_output_folder(flag: str, path: Optional[Path]) -> None:
    if path is None:
        return
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    if path.exists() and not path.is_dir():
        raise CurateError(f"{flag} {path} is a file, not a folder")
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise CurateError(f"cannot write {flag} {path}: {probe} is not a writable folder")


def looks_like_path(name: str) -> bool:
    """A model/encoder argument meant as a local folder (hub ids are `name` or `org/name`)."""
    return (name.startswith(("/", "./", "../", "~", ".\\")) or name in (".", "..") or name.count("/") > 1
            or name.endswith("/") or os.sep != "/" and os.sep in name)


def check_local(flag: str, name: Optional[str], folder: bool = True) -> None:
    """A path-looking argument that does not exist is a one-line error, not a hub lookup."""
    if name and looks_like_path(str(name)) and not Path(os.path.expanduser(str(name))).exists():
        raise CurateError(f"{flag} {name}: no such {'folder' if folder else 'file'}")


def check_existing(flag: str, path: Optional[Path], folder: bool = True) -> None:
    if path is not None and not Path(path).exists():
        raise CurateError(f"{flag} {path}: no such {'folder' if folder else 'file'}")


def not_numbers(bad: list[str], why: str = "") -> None:
    """After writing: NaN/inf found (written as null) is an error that names the fields."""
    if bad:
        raise CurateError(f"the output has values that are not numbers ({', '.join(bad[:4])}"
                          f"{' ...' if len(bad) > 4 else ''}); they are written as null{why}")


def wrote(*paths: Any) -> None:
    """Say where results went (stdout, after the table)."""
    shown = [str(p) for p in paths if p]
    if shown:
        console.print(f"wrote {', '.join(shown)}", highlight=False, soft_wrap=True)


@app.callback()
def main_options(
    ctx: typer.Context,
    data_home: Optional[Path] = typer.Option(None, "--data-home", help="Folder of datasets (else $CURATE_DATA_HOME)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache and registrations (else $CURATE_CACHE)."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random draw."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or notes on stderr (errors still)."),
    log_json: bool = typer.Option(False, "--log-json",
                                  help="Progress as JSON lines on stderr (one event per line) instead of bars/lines."),
) -> None:
    settings.set_data_home(data_home)
    settings.set_cache_dir(cache_dir)
    STATE["seed"], STATE["verbose"] = seed, verbose
    sink = progress.make_sink("quiet" if quiet else "json" if log_json else "auto")
    STATE["sink"] = sink
    ctx.with_resource(progress.use(sink))
    if sink is not None and hasattr(sink, "close"):
        ctx.call_on_close(sink.close)


def say(msg: str) -> None:
    """A progress note (stderr; silenced by --quiet, an event with --log-json)."""
    progress.note(msg)


# ----------------------------------------------------------------------------- sources
@app.command()
def sources(
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the listing as JSON."),
    probe_name: str = typer.Option("smollm2", "--probe", help="Tokenizer used to count tokens."),
) -> None:
    """List catalog sources: role, kind, language, availability, records, tokens, license."""
    check_output_file("--json", json_path)
    check_local("--probe", probe_name)
    from curate import artefacts, catalog, load

    rows = []
    for name, spec in catalog.all_specs().items():
        row = {"name": name, "role": spec.role, "kind": spec.kind, "formal_lang": spec.formal_lang,
               "location": spec.location(), "available": load.available(spec), "records": None,
               "tokens": None, "skipped": {}, "license": spec.license, "description": spec.description}
        if row["available"] and not spec.is_hub:
            try:
                facts = artefacts.facts(name, probe_name)  # cached by the source's files: no loading on reruns
                row["records"], row["skipped"], row["tokens"] = facts.records, facts.skipped, facts.tokens
            except CurateError as exc:
                row["available"], row["error"] = False, str(exc)
        rows.append(row)
    render.sources(rows, settings.data_home(), console)
    if json_path:
        bad = write_json(json_path, {"data_home": str(settings.data_home()), "sources": rows})
        wrote(json_path)
        not_numbers(bad)


# ----------------------------------------------------------------------------- targets / audit
@app.command()
def targets(json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the listing as JSON.")) -> None:
    """List named targets: items, language, item sets, and the sources that hold their items."""
    from curate import audit as audit_mod

    check_output_file("--json", json_path)
    rows = audit_mod.targets()
    audit_mod.render_targets(rows, console)
    if json_path:
        write_json(json_path, {"targets": rows})
        wrote(json_path)


@app.command()
def audit(
    target: str = typer.Option("proofnet", "--target", help="Eval set whose items are looked for."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Source to audit (repeat); default: all local."),
    near: float = typer.Option(0.1, "--near", help="Near formal match: edits as a fraction of the statement (0 = exact)."),
    no_formal: bool = typer.Option(False, "--no-formal", help="N-grams and exact sides only (no canonical forms)."),
    ngram: int = typer.Option(13, "--ngram", help="N-gram window (normalised tokens)."),
    min_ngram: int = typer.Option(8, "--min-ngram", help="Shortest window; shorter target sides match only whole."),
    pairs: int = typer.Option(20, "--pairs", help="Matched pairs printed (the JSON has all)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report (every pair) as JSON."),
) -> None:
    """Contamination report: every overlap between sources and the target's items (exact, canonical, n-gram)."""
    from curate import audit as audit_mod

    check_output_file("--json", json_path)
    cfg = audit_mod.AuditConfig(target=target, sources=source or None, ngram=ngram, min_ngram=min_ngram,
                                formal=not no_formal, near=near)
    with console.status("auditing") as status:
        report = audit_mod.audit(cfg, on_source=lambda n, d, t: status.update(f"auditing {n} ({d}/{t})"))
    audit_mod.render_audit(report, console, pairs=pairs)
    if json_path:
        write_json(json_path, report)
        wrote(json_path)


# ----------------------------------------------------------------------------- models
@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List built-in and cached models (run without a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from curate import probe

    render.models(probe.list_models(), probe.models_dir(), console)


@models_app.command("pull")
def models_pull(name: str = typer.Argument("smollm2"), force: bool = typer.Option(False, "--force")) -> None:
    """Convert a built-in model once into a plain safetensors folder in the cache."""
    from curate import probe

    if force or not (probe.pulled_path(name) / "config.json").exists():
        os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF conversion's tqdm bar (read when tqdm is imported)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # per-tensor bars are noise in a log; our task says what runs
    with progress.task(f"pulling {name} (converting once; later loads take under a second)", unit="steps"):
        path = probe.pull(name, force=force)
    console.print(f"{name}: ready at {path}")


# ----------------------------------------------------------------------------- ingest
@app.command()
def ingest(
    paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders to read."),
    out: Path = typer.Option(..., "--out", help="Output dataset folder."),
    name: str = typer.Option(..., "--name", help="Catalog name to register."),
    kind: str = typer.Option("auto", "--kind", help="auto|lean|isabelle|code|text|leandojo|pairs (pairs = tabular files; auto picks a reader per file extension)."),
    informal_field: Optional[str] = typer.Option(None, "--informal-field", help="Field (or {template}) for informal text."),
    formal_field: Optional[str] = typer.Option(None, "--formal-field", help="Field (or {template}) for formal text."),
    id_field: Optional[str] = typer.Option(None, "--id-field"),
    split_field: Optional[str] = typer.Option(None, "--split-field"),
    formal_lang: Optional[str] = typer.Option(None, "--formal-lang", help="lean4, lean3, isabelle, python, ..."),
    license: str = typer.Option("unknown", "--license"),
    lean_repo: Optional[str] = typer.Option(None, "--lean-repo", help="Trace this Lean Git repo with lean-dojo (needs the lean extra, a Lean toolchain, network)."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Commit SHA for --lean-repo."),
    holds: Optional[List[str]] = typer.Option(None, "--holds", help="This dataset contains a target's items (an item set or a target name; repeatable): rankings against it leave it out."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows",
                                       help="Tables: skip malformed rows (counted, listed in skipped.jsonl) instead of stopping."),
    workers: int = typer.Option(1, "--workers", help="Source trees: read files in N processes (same records, same order)."),
) -> None:
    """Read files into records, write a dataset folder and register it as a source."""
    from curate.ingest import IngestOptions, ingest as run_ingest

    if informal_field or formal_field:
        kind = "pairs"  # a field mapping means tabular input
    if not paths and not lean_repo:
        raise CurateError("give files or folders to read (or --lean-repo URL --commit SHA)")
    if workers < 1:
        raise CurateError(f"--workers must be at least 1, got {workers}")
    STATE["resume"] = f"{out} was left as it was; rerun the same command"
    opts = IngestOptions(name=name, out=out, kind=kind, informal_field=informal_field, formal_field=formal_field,
                         id_field=id_field, split_field=split_field, formal_lang=formal_lang, license=license,
                         lean_repo=lean_repo, commit=commit, holds=tuple(holds or ()), skip_bad_rows=skip_bad_rows,
                         workers=workers)
    with progress.task("ingest: reading", unit="files") as task:
        def on_file(done: int, total: int, path: Path) -> None:
            task.done = done
            task.update(total=total, file=path.name or None)

        result = run_ingest(list(paths or []), opts, on_file=on_file)
    console.print(f"{name}: {result.records} records -> {result.out} ({dict(result.by_kind)}); registered in "
                  f"{result.registry}", highlight=False, soft_wrap=True)
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} parts:")
        for where, why in result.skipped[:50]:
            console.print(f"  {where}: {why}", highlight=False, soft_wrap=True)
        if len(result.skipped) > 50:
            console.print(f"  ... and {len(result.skipped) - 50} more")
    wrote(result.out / "records.jsonl", f"{result.out / 'skipped.jsonl'} ({len(result.skipped)} skipped parts)")


# ----------------------------------------------------------------------------- rank
@app.command()
def rank(
    target: str = typer.Option("proofnet", "--target", help="Eval set to align to."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Candidate source (repeat); default: all available."),
    metric: str = typer.Option("task2vec", "--metric", help="task2vec|gzip|embed|ngram|all, or a comma list."),
    batches: Optional[int] = typer.Option(None, "--batches", help="Task2Vec: batches per dataset (K)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Task2Vec: sequences per batch."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Task2Vec: tokens per sequence."),
    scope: Optional[str] = typer.Option(None, "--scope", help="Task2Vec: head (fast, exact) or body."),
    whole_set: bool = typer.Option(False, "--whole-set", help="Task2Vec: the paper's one-large-batch variant."),
    probe_name: str = typer.Option("smollm2", "--probe", help="Probe model: smollm2, a folder, or a hub id."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute embeddings instead of reading the cache."),
    encoder: Optional[str] = typer.Option(None, "--encoder",
                                          help="embed: sentence-encoder folder or hub id (default: the offline MiniLM)."),
    device: Optional[str] = typer.Option(None, "--device",
                                         help="Task2Vec and embed: auto (a CUDA GPU if any), cpu, cuda or cuda:N."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Task2Vec: the probe's forward pass, fp32 (default) or bf16."),
    adaptive: bool = typer.Option(False, "--adaptive", help="Task2Vec: start every source at 2 batches and add batches only where a CI overlaps a neighbour's, up to --batches."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Task2Vec: CPU threads (default: the cores other jobs leave free; also $CURATE_THREADS)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the ranking JSON here."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the ranking CSV here."),
) -> None:
    """Rank candidate sources by alignment to the target, with 95% CIs.

    With --json/--csv the files are written as each source's row is final (`"complete": false` until the
    end), so an interrupted run leaves a usable partial ranking; rerunning the same command fills in the
    rest from the embedding cache."""
    check_count("--batches", batches)
    check_count("--batch-size", batch_size)
    if max_length is not None and max_length < MIN_MAX_LENGTH:
        raise CurateError(f"--max-length must be at least {MIN_MAX_LENGTH}, got {max_length}: shorter sequences hold "
                          "little more than the pair template ('informal statement …'), so every source looks alike "
                          "(default 128)")
    check_count("--threads", threads)
    check_output_file("--json", json_path)
    check_output_file("--csv", csv_path)
    check_local("--probe", probe_name)
    check_local("--encoder", encoder)

    from curate import metrics as metric_registry
    from curate.rank import RankConfig, rank as run_rank

    config = RankConfig(target=target, sources=source or None, metrics=metric_registry.names(metric),
                        seed=STATE["seed"], probe=probe_name, adaptive=adaptive)
    options = {"task2vec.batches": batches, "task2vec.batch_size": batch_size, "task2vec.max_length": max_length,
               "task2vec.scope": scope, "task2vec.whole_set": whole_set or None, "embed.encoder": encoder,
               "use_cache": False if no_cache else None, "seed": STATE["seed"], "device": device,
               "task2vec.precision": precision, "task2vec.threads": threads}
    from curate import catalog, probe

    for name in [target, *(source or [])]:
        catalog.get(name)  # unknown names first: the cheapest check and the likeliest typo
    for m in config.metrics:  # option errors (a bad --device, ...) before any loading
        metric_registry.metric_class(m).from_options({**options, "probe": probe_name})
    if "task2vec" in config.metrics:
        probe.resolve(probe_name)  # "not pulled" / an offline hub id: before any data is read
    outputs = [p for p in (json_path, csv_path) if p]
    partial = PartialRanking(json_path, csv_path)
    if outputs:
        STATE["resume"] = (f"the sources finished so far are in {', '.join(map(str, partial.paths()))} "
                           f"(complete: false); rerun the same command to fill in the rest from the cache")
    extra: dict[str, Any] = {}
    if partial.param(run_rank):
        extra[partial.param(run_rank)] = partial
    with progress.task("ranking", unit="steps") as task:
        def on_step(msg: str) -> None:
            if task.detail.get("at") is not None:
                task.advance(at=msg)
            else:
                task.update(at=msg)

        try:
            result = run_rank(config, options, on_step=on_step, steps=lambda n: task.update(total=n), **extra)
        except KeyboardInterrupt as exc:
            done = getattr(exc, "ranking", None)
            rows = getattr(done, "results", None) if not isinstance(done, dict) else done.get("results")
            if outputs and rows:
                partial(done)  # the rows finished before the interrupt
            raise
        task.advance()
    data = result.to_json() if hasattr(result, "to_json") else dict(result)
    data["complete"] = True
    undefined = undefined_diversity(data)
    render.ranking(data, console)
    bad = [b for b in partial.write(data) if not b.startswith(tuple(undefined))]
    wrote(*outputs)
    not_numbers(bad)


def undefined_diversity(data: dict) -> list[str]:
    """Diversity is a mean over pairs of a source's own batches/examples: a source with one has none, and
    its diversity is undefined (NaN). Say so in the notes; the JSON holds null there. Returns the JSON
    paths (prefixes) covered by the explanation."""
    covered = []
    for i, r in enumerate(data.get("results", [])):
        for m, a in r.get("alignments", {}).items():
            d = a.get("diversity")
            if isinstance(d, float) and d != d:
                note = (f"{m}/{r['source']}: diversity undefined ({a.get('used', '?')} records, too few to "
                        f"form a pair within the source); written as null")
                if note not in data["notes"]:
                    data["notes"].append(note)
                covered += [f"results[{i}].alignments.{m}.diversity"]
                if m == data.get("primary_metric"):
                    covered.append(f"results[{i}].diversity")
    return covered


MIN_MAX_LENGTH = 8


class PartialRanking:
    """Writes the ranking so far (`complete: false`) to --json/--csv each time rank() reports one."""

    NAMES = ("on_partial", "on_row", "on_result")

    def __init__(self, json_path: Optional[Path], csv_path: Optional[Path]):
        self.json_path, self.csv_path = json_path, csv_path
        # A complete ranking already at a path is kept until this run completes: partial rows go beside it.
        self.partial_json = _beside_if_complete(json_path, _json_is_complete)
        self.partial_csv = _beside_if_complete(csv_path, _csv_is_complete)

    def paths(self) -> list[Path]:
        """Where an interrupted run leaves its rows."""
        return [p for p in (self.partial_json or self.json_path, self.partial_csv or self.csv_path) if p]

    def param(self, fn: Any) -> Optional[str]:
        """The keyword of `fn` that takes the ranking-so-far callback, if it has one and we write files."""
        import inspect

        if not (self.json_path or self.csv_path):
            return None
        params = inspect.signature(fn).parameters
        return next((n for n in self.NAMES if n in params), None)

    def __call__(self, ranking: Any) -> None:
        data = ranking.to_json() if hasattr(ranking, "to_json") else dict(ranking)
        data.setdefault("complete", False)
        self.write(data)

    def write(self, data: dict) -> list[str]:
        done = bool(data.get("complete"))
        bad: list[str] = []
        if self.json_path:
            bad = write_json(self.json_path if done or not self.partial_json else self.partial_json, data)
        if self.csv_path:
            write_csv(self.csv_path if done or not self.partial_csv else self.partial_csv, data)
        if done:
            for p in (self.partial_json, self.partial_csv):
                if p:
                    p.unlink(missing_ok=True)
        return bad


def _beside_if_complete(path: Optional[Path], complete: Callable[[Path], bool]) -> Optional[Path]:
    if path is None or not path.is_file() or not complete(path):
        return None
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _json_is_complete(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("complete") is True
    except (OSError, ValueError, AttributeError):
        return False


def _csv_is_complete(path: Path) -> bool:
    try:
        rows = path.read_text(encoding="utf-8").splitlines()[1:]
    except (OSError, UnicodeDecodeError):
        return False
    return bool(rows) and all(r.endswith(",true") for r in rows)


def write_csv(path: Path, result: dict) -> None:
    import csv
    import io

    from curate.cache import atomic_write_bytes

    metrics = list(result["config"]["metrics"])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rank", "source", *[f"{m}_{k}" for m in metrics for k in ("alignment", "ci_low", "ci_high", "diversity")],
                "records", "tokens", "license", "complete"])
    complete = "true" if result.get("complete", True) else "false"
    for r in result["results"]:
        w.writerow([r.get("rank"), r["source"],
                    *[r.get("alignments", {}).get(m, {}).get(k) for m in metrics
                      for k in ("alignment", "ci_low", "ci_high", "diversity")],
                    r.get("records"), r.get("tokens"), r.get("license"), complete])
    try:
        atomic_write_bytes(Path(path), buf.getvalue().encode("utf-8"))
    except OSError as exc:
        raise CurateError(f"cannot write {path}: {exc.strerror or exc}") from exc


# ----------------------------------------------------------------------------- train / confirm / bench
def _train_config(model: str, budget: int, epochs: int, lr: float, r: int, alpha: int, target_modules: str,
                  batch_size: int, max_length: int, packing: bool, formal_only: bool, mixed_precision: str,
                  mmap_threshold: Optional[float] = None, resident_cap: Optional[float] = None):
    from train.evaluate import EvalConfig
    from train.lora import LoraTrainConfig

    heap = {k: int(v * 2**20) for k, v in (("mmap_threshold", mmap_threshold), ("resident_cap", resident_cap))
            if v is not None}  # MiB on the command line, bytes in the config
    return LoraTrainConfig(model=model, budget=budget, epochs=epochs, lr=lr, r=r, alpha=alpha,
                           target_modules=target_modules, batch_size=batch_size, max_length=max_length,
                           packing=packing, seed=STATE["seed"], mixed_precision=mixed_precision,
                           eval=EvalConfig(formal_only=formal_only), **heap)


MMAP_THRESHOLD_HELP = ("MiB from which a freed block goes straight back to the OS (glibc M_MMAP_THRESHOLD); "
                       "0 = glibc's own. Memory vs step time: benchmarks/RESULTS.md, Training memory.")
RESIDENT_CAP_HELP = ("MiB of resident memory above which free heap pages are handed back before each layer "
                     "in training; 0 = never.")


def check_heap_options(mmap_threshold: Optional[float], resident_cap: Optional[float]) -> None:
    for flag, v in (("--mmap-threshold", mmap_threshold), ("--resident-cap", resident_cap)):
        if v is not None and not v >= 0:
            raise CurateError(f"{flag} must be 0 or more MiB, got {v}")


def _say(msg: str) -> None:
    progress.note(msg)


def check_train_numbers(budget: float, epochs: float, lr: float, r: float, alpha: Optional[float] = None,
                        batch_size: Optional[float] = None, max_length: Optional[float] = None,
                        mixed_precision: str = "no") -> None:
    check_count("--budget", budget)
    check_count("--epochs", epochs)
    check_positive("--lr", lr)
    check_count("--lora-r", r)
    check_positive("--lora-alpha", alpha)
    check_count("--batch-size", batch_size)
    check_count("--max-length", max_length, 2)
    if mixed_precision not in ("no", "fp16", "bf16"):
        raise CurateError(f"--mixed-precision must be no, fp16 or bf16, got {mixed_precision!r}")


@app.command()
def train(
    mix: Optional[Path] = typer.Option(None, "--mix", help="A `curate mix` output folder to train on."),
    source: Optional[str] = typer.Option(None, "--source", help="A catalog source to train on."),
    model: str = typer.Option("smollm2", "--model", help="Base model: smollm2, a folder, or a hub id."),
    target: str = typer.Option("proofnet", "--target", help="Eval set scored before and after."),
    budget: int = typer.Option(8192, "--budget", help="Training tokens (model tokenizer)."),
    out: Path = typer.Option(..., "--out", help="Run folder: adapter/, metrics.json, loss.png."),
    epochs: int = typer.Option(2, "--epochs"),
    lr: float = typer.Option(5e-4, "--lr"),
    r: int = typer.Option(16, "--lora-r", help="LoRA rank."),
    alpha: int = typer.Option(32, "--lora-alpha", help="LoRA alpha."),
    target_modules: str = typer.Option("all-linear", "--target-modules", help="all-linear or a comma list."),
    batch_size: int = typer.Option(8, "--batch-size"),
    max_length: int = typer.Option(256, "--max-length"),
    packing: bool = typer.Option(True, "--packing/--no-packing", help="Pack records into full sequences."),
    formal_only: bool = typer.Option(False, "--formal-only", help="Score only the formal side given the informal."),
    mixed_precision: str = typer.Option("no", "--mixed-precision", help="no|fp16|bf16 (GPU)."),
    mmap_threshold: Optional[float] = typer.Option(None, "--mmap-threshold", metavar="MIB", help=MMAP_THRESHOLD_HELP),
    resident_cap: Optional[float] = typer.Option(None, "--resident-cap", metavar="MIB", help=RESIDENT_CAP_HELP),
) -> None:
    """LoRA fine-tune on a source or a mix; target CE before and after. Multi-GPU:
    `accelerate launch -m curate.cli train ...`."""
    if (mix is None) == (source is None):
        raise CurateError("pass exactly one of --mix DIR or --source NAME")
    check_train_numbers(budget=budget, epochs=epochs, lr=lr, r=r, alpha=alpha, batch_size=batch_size,
                        max_length=max_length, mixed_precision=mixed_precision)
    check_heap_options(mmap_threshold, resident_cap)
    check_existing("--mix", mix)
    check_local("--model", model)
    check_output_folder("--out", out)
    from curate import catalog, probe

    for name in [target, *([source] if source else [])]:
        catalog.get(name)  # unknown names before any loading
    STATE["resume"] = f"{out} was left as it was (an earlier run in it stays whole); rerun the same command to train again"

    probe.resolve(model)  # "not pulled" / offline hub id: before any data is read

    from curate import load
    from train.lora import check_run_folder, mix_spec, train_lora

    inputs = [mix] if mix is not None else []
    check_run_folder(out, inputs)  # a foreign non-empty --out is refused before anything loads
    spec = mix_spec(mix) if mix is not None else source
    train_ds, target_ds = load.load_source(spec), load.load_source(target)
    cfg = _train_config(model, budget, epochs, lr, r, alpha, target_modules, batch_size, max_length, packing,
                        formal_only, mixed_precision, mmap_threshold, resident_cap)
    name = source or f"mix:{Path(mix).name}"
    res = train_lora(train_ds, target_ds, cfg, out, train_name=name, target_name=target, log=_say,
                     inputs=inputs)
    if res:
        console.print(f"{name}: {res['train_tokens']} tokens, {len(res['train_loss'])} steps in "
                      f"{res['train_seconds']:.0f}s; {target} CE {res['eval_ce_before']:.4f} -> "
                      f"{res['eval_ce_after']:.4f} (ppl {res['eval_ppl_before']:.2f} -> {res['eval_ppl_after']:.2f})")
        console.print(f"wrote {out}/metrics.json, {out}/loss.png, {out}/adapter/")


@app.command()
def confirm(
    target: str = typer.Option("proofnet", "--target"),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Source (repeat); default: all candidates."),
    budget: int = typer.Option(8192, "--budget", help="Training tokens per fine-tune."),
    out: Path = typer.Option(..., "--out", help="Folder for runs, report.json, report.md, scatter.png."),
    metric: str = typer.Option("all", "--metric", help="all (those installed) or a comma list."),
    model: str = typer.Option("smollm2", "--model", help="Model fine-tuned."),
    probe_name: str = typer.Option("smollm2", "--probe", help="Probe for the alignment metrics."),
    no_mix: bool = typer.Option(False, "--no-mix", help="Skip the top-aligned and random mixes."),
    epochs: int = typer.Option(2, "--epochs"),
    lr: float = typer.Option(5e-4, "--lr"),
    r: int = typer.Option(16, "--lora-r", help="LoRA rank (alpha = 2 r)."),
    formal_only: bool = typer.Option(False, "--formal-only", help="Score only the formal side given the informal."),
    mmap_threshold: Optional[float] = typer.Option(None, "--mmap-threshold", metavar="MIB", help=MMAP_THRESHOLD_HELP),
    resident_cap: Optional[float] = typer.Option(None, "--resident-cap", metavar="MIB", help=RESIDENT_CAP_HELP),
) -> None:
    """The paper's experiment: alignment vs fine-tuned target CE per source (resumable)."""
    check_train_numbers(budget=budget, epochs=epochs, lr=lr, r=r)
    check_heap_options(mmap_threshold, resident_cap)
    check_local("--model", model)
    check_local("--probe", probe_name)
    check_output_folder("--out", out)
    STATE["resume"] = f"finished fine-tunes are kept in {out}; rerun the same command to reuse them"
    from curate import catalog, probe

    for name in [target, *(source or [])]:
        catalog.get(name)

    probe.resolve(model)
    from curate import metrics as metric_registry
    from train.confirm import ConfirmConfig, run_confirm

    tcfg = _train_config(model, budget, epochs, lr, r, 2 * r, "all-linear", 8, 256, True, formal_only, "no",
                         mmap_threshold, resident_cap)
    cfg = ConfirmConfig(target=target, sources=source or None, metrics=metric_registry.names(metric),
                        budget=budget, seed=STATE["seed"], probe=probe_name, mixes=not no_mix, train=tcfg)
    report = run_confirm(cfg, out, strict_metrics=metric != "all", log=_say)
    render.confirm(report, console)
    console.print(f"wrote {out}/report.json, {out}/report.md, {out}/scatter.png")


@app.command()
def bench(
    model: Optional[str] = typer.Option(None, "--model", help="Base model (default: the adapter run's model)."),
    adapter: Optional[Path] = typer.Option(None, "--adapter", help="A `curate train` run folder."),
    target: str = typer.Option("proofnet", "--target"),
    limit: int = typer.Option(20, "--limit", help="Items to formalize by generation."),
    shots: int = typer.Option(3, "--shots", help="Few-shot examples in the prompt."),
    shot_source: Optional[str] = typer.Option(None, "--shot-source", help="Source of the few-shot examples (default: the target's, see `curate targets`)."),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens"),
    lean_repl: Optional[str] = typer.Option(None, "--lean-repl", help="Lean REPL command (else $CURATE_LEAN_REPL)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results JSON here."),
) -> None:
    """CE/perplexity on the target, few-shot autoformalization BLEU/chrF, Lean typecheck rate."""
    check_count("--limit", limit, 0)
    check_count("--shots", shots, 0)
    check_count("--max-new-tokens", max_new_tokens)
    check_local("--model", model)
    check_existing("--adapter", adapter)
    check_output_file("--json", json_path)
    from train.bench import BenchConfig, run_bench
    from train.generate import GenConfig

    cfg = BenchConfig(model=model, adapter=str(adapter) if adapter else None, target=target, lean_repl=lean_repl,
                      gen=GenConfig(shots=shots, shot_source=shot_source, limit=limit, max_new_tokens=max_new_tokens))
    res = run_bench(cfg, log=_say)
    render.bench(res, f"bench on {target}: {model or 'base of'} {adapter or ''}".strip(), console)
    if json_path:
        bad = write_json(json_path, res)
        wrote(json_path)
        not_numbers(bad)


# ----------------------------------------------------------------------------- mix
def parse_amount(text: str, what: str) -> float:
    """'200000', '200k', '1.5M' -> a number (k = 1e3, M = 1e6, G = 1e9)."""
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}.get(text.strip()[-1:].lower(), 1)
    try:
        return float(text.strip()[:-1] if mult != 1 else text) * mult
    except ValueError:
        raise CurateError(f"{what} must be a number such as 200000, 200k or 1.5M, got {text!r}") from None


@app.command()
def mix(
    out: Path = typer.Option(..., "--out", help="Output folder (data.jsonl, data.parquet, manifest.json, MIX.md)."),
    budget: str = typer.Option(..., "--budget", help="Token budget, e.g. 200000, 200k, 1.5M."),
    ranking: Optional[Path] = typer.Option(None, "--ranking", help="Ranking JSON from `curate rank --json`."),
    target: Optional[str] = typer.Option(None, "--target", help="Without --ranking: rank against this target first."),
    source: Optional[List[str]] = typer.Option(None, "--source", help="Without --ranking: sources to rank (repeat)."),
    metric: str = typer.Option("task2vec", "--metric", help="Without --ranking: the metric to rank with."),
    strategy: str = typer.Option("cover", "--strategy", help="cover (default: each target item takes its nearest records in turn, by compression distance; README) | gzip | top-k | proportional | select | random | task2vec | task2vec-pre | hybrid."),
    k: Optional[int] = typer.Option(None, "--k", help="top-k: sources to use (default 3); proportional/select: only the k best."),
    temperature: float = typer.Option(0.1, "--temperature", help="proportional: softmax(alignment / temperature)."),
    cap: Optional[str] = typer.Option(None, "--cap", help="Per-source cap: a fraction of the budget (<= 1) or tokens."),
    ngram: int = typer.Option(13, "--ngram", help="Decontamination n-gram window (normalised tokens)."),
    min_ngram: int = typer.Option(8, "--min-ngram", help="Shortest window; shorter eval texts match whole."),
    eval_set: Optional[List[str]] = typer.Option(None, "--eval-set", help="Also decontaminate against (repeat)."),
    no_near_dedup: bool = typer.Option(False, "--no-near-dedup", help="Only exact deduplication."),
    near_threshold: float = typer.Option(0.8, "--near-threshold", help="MinHash Jaccard threshold for near duplicates."),
    near_formal: float = typer.Option(0.1, "--near-formal", help="Decontamination: formal statements within this fraction of canonical-token edits of a target's are copies (0 = equal only)."),
    probe_name: str = typer.Option("smollm2", "--probe", help="Model whose tokenizer counts tokens, and the probe of the task2vec record scorers."),
    engine: str = typer.Option("local", "--engine", help="local | ray: where the per-shard steps run (same output)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (local) or CPUs of a local Ray."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="A running Ray cluster (else a local Ray)."),
    output_shards: int = typer.Option(1, "--output-shards", help="Split the output into N Parquet/jsonl shards."),
    max_records: Optional[int] = typer.Option(None, "--max-records", help="Read at most N records of each source."),
) -> None:
    """Build the fine-tuning mix: top-aligned data under a token budget, deduplicated and decontaminated."""
    from curate.mix import MixConfig, build_mix

    if ranking is None and target is None:
        raise CurateError("give --ranking r.json, or --target (and --source ...) to rank first")
    check_local("--probe", probe_name)
    check_count("--k", k)
    check_positive("--temperature", temperature)
    check_count("--ngram", ngram)
    check_count("--min-ngram", min_ngram)
    from curate import catalog

    for name in [*([target] if target else []), *(source or []), *(eval_set or [])]:
        catalog.get(name)
    amount = parse_amount(budget, "--budget")
    if amount <= 0 or amount != int(amount):
        raise CurateError(f"--budget must be a positive whole number of tokens, got {budget!r}")
    config = MixConfig(ranking=ranking, budget=int(amount), strategy=strategy, out=out, seed=STATE["seed"], k=k,
                       temperature=temperature, cap=parse_amount(cap, "--cap") if cap else None,
                       tokenizer=probe_name, ngram=ngram, min_ngram=min_ngram, eval_sets=list(eval_set or []),
                       near_dedup=not no_near_dedup, near_threshold=near_threshold, formal_near=near_formal, target=target,
                       sources=list(source) if source else None, metric=metric, engine=engine, workers=workers,
                       ray_address=ray_address, output_shards=output_shards, max_records=max_records)
    check_output_folder("--out", out)
    STATE["resume"] = f"{out} was left as it was (an earlier mix in it stays whole); rerun the same command"
    with progress.task("mix: building", unit="steps"):
        result = build_mix(config)
    render.mix(result.manifest, config.strategy, config.budget, result.out, console)
    wrote(f"{result.out}/ (data.jsonl, data.parquet, manifest.json, removed.jsonl, MIX.md)")


# ----------------------------------------------------------------------------- entry point
INTERRUPTED: dict[str, Any] = {"signal": None}
RESUME_HINT = "finished work is cached; rerun the same command to resume from it"


def _on_signal(signum: int, _frame: Any) -> None:
    """SIGINT/SIGTERM: remember which, and unwind as Ctrl-C does (`finally` blocks and temp-file cleanup run)."""
    import signal

    INTERRUPTED["signal"] = signal.Signals(signum).name
    raise KeyboardInterrupt


def _install_signals() -> dict:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass
    return old


def _error(msg: str, code: int) -> int:
    sink = STATE.get("sink")
    if hasattr(sink, "error"):
        sink.error(msg, code)  # --log-json: the error as an event too
    err_console.print(f"[red]error:[/red] {msg}", highlight=False, soft_wrap=True)
    return code


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry: user errors print one line and exit 1; usage errors exit 2; SIGINT/SIGTERM exit 130
    with one line on how to resume."""
    import signal

    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args or os.environ.get("CURATE_VERBOSE") == "1"
    INTERRUPTED["signal"] = None
    STATE["resume"] = RESUME_HINT
    STATE["sink"] = None
    old = _install_signals()
    code = 0
    try:
        # typer (0.29) turns KeyboardInterrupt inside a command into a *returned* 130, so both paths are checked
        rv = command.main(args=args, prog_name="curate", standalone_mode=False)
        code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    except CurateError as exc:
        if verbose:
            raise
        code = _error(str(exc), 1)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = 130
    except NoArgsIsHelpError as exc:
        exc.show()
        code = 0
    except ClickException as exc:
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if code == 130 or INTERRUPTED["signal"]:
        how = INTERRUPTED["signal"] or "SIGINT"
        msg = f"interrupted ({how}): {STATE['resume']}"
        if hasattr(STATE.get("sink"), "error"):
            STATE["sink"].error(msg, 130)
        err_console.print(msg, highlight=False, soft_wrap=True)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
