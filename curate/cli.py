"""The `curate` command line: options in, one library call, rich rendering out."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from curate import settings
from curate.errors import CurateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Curate fine-tuning data for autoformalization by alignment to an eval set.")
models_app = typer.Typer(add_completion=False, invoke_without_command=True, help="List and pull probe models.")
app.add_typer(models_app, name="models")

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
STATE: dict[str, Any] = {"seed": 0, "verbose": False}


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (parents created); a one-line error if the folder is unwritable."""
    from curate.cache import atomic_write_bytes

    try:
        atomic_write_bytes(Path(path), json.dumps(data, indent=2, ensure_ascii=False, default=str).encode("utf-8"))
    except OSError as exc:
        raise CurateError(f"cannot write {path}: {exc.strerror or exc}") from exc


@app.callback()
def main_options(
    data_home: Optional[Path] = typer.Option(None, "--data-home", help="Folder of datasets (else $CURATE_DATA_HOME)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache and registrations (else $CURATE_CACHE)."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random draw."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
) -> None:
    settings.set_data_home(data_home)
    settings.set_cache_dir(cache_dir)
    STATE["seed"], STATE["verbose"] = seed, verbose


# ----------------------------------------------------------------------------- sources
@app.command()
def sources(
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the listing as JSON."),
    probe_name: str = typer.Option("smollm2", "--probe", help="Tokenizer used to count tokens."),
) -> None:
    """List catalog sources: role, kind, language, availability, records, tokens, license."""
    from curate import catalog, load, tokens

    tok = tokens.maybe_tokenizer(probe_name)
    rows = []
    for name, spec in catalog.all_specs().items():
        row = {"name": name, "role": spec.role, "kind": spec.kind, "formal_lang": spec.formal_lang,
               "location": spec.location(), "available": load.available(spec), "records": None,
               "tokens": None, "skipped": {}, "license": spec.license, "description": spec.description}
        if row["available"] and not spec.is_hub:
            try:
                ds, report = load.load_with_report(spec)
                row["records"], row["skipped"] = len(ds), dict(report.skipped)
                if tok is not None:
                    row["tokens"] = sum(tokens.record_lengths(ds, tok, load.fingerprint(ds), probe_name))
            except CurateError as exc:
                row["available"], row["error"] = False, str(exc)
        rows.append(row)
    table = Table(title=f"sources (data home: {settings.data_home()})")
    for col in ("name", "role", "kind", "lang", "available", "records", "tokens", "license"):
        table.add_column(col, justify="right" if col in ("records", "tokens") else "left")
    for r in rows:
        avail = "yes" if r["available"] else ("hub" if r["location"].startswith("hub:") else "no")
        table.add_row(r["name"], r["role"], r["kind"], r["formal_lang"] or "", avail,
                      "" if r["records"] is None else str(r["records"]),
                      "" if r["tokens"] is None else str(r["tokens"]), r["license"][:28])
    console.print(table)
    if tok is None:
        console.print("tokens need the probe tokenizer: run `curate models pull smollm2`")
    for r in rows:
        if r["skipped"]:
            console.print(f"{r['name']}: skipped {r['skipped']}")
        if r.get("error"):
            console.print(f"{r['name']}: {r['error']}")
    if json_path:
        write_json(json_path, {"data_home": str(settings.data_home()), "sources": rows})


# ----------------------------------------------------------------------------- models
@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List built-in and cached models (run without a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from curate import probe

    table = Table(title=f"models (cache: {probe.models_dir()})")
    for col in ("name", "state", "path", "description"):
        table.add_column(col)
    for row in probe.list_models():
        table.add_row(row["name"], row["state"], row["path"], row["description"])
    console.print(table)
    console.print("Any local HF model folder or (online) hub id also works wherever a model is asked for.")


@models_app.command("pull")
def models_pull(name: str = typer.Argument("smollm2"), force: bool = typer.Option(False, "--force")) -> None:
    """Convert a built-in model once into a plain safetensors folder in the cache."""
    from curate import probe

    with console.status(f"pulling {name} (converting once; later loads take under a second)"):
        path = probe.pull(name, force=force)
    console.print(f"{name}: ready at {path}")


# ----------------------------------------------------------------------------- ingest
@app.command()
def ingest(
    paths: List[Path] = typer.Argument(..., help="Files or folders to read."),
    out: Path = typer.Option(..., "--out", help="Output dataset folder."),
    name: str = typer.Option(..., "--name", help="Catalog name to register."),
    kind: str = typer.Option("auto", "--kind", help="auto|lean|isabelle|code|text|pairs (pairs = tabular files)."),
    informal_field: Optional[str] = typer.Option(None, "--informal-field", help="Field (or {template}) for informal text."),
    formal_field: Optional[str] = typer.Option(None, "--formal-field", help="Field (or {template}) for formal text."),
    id_field: Optional[str] = typer.Option(None, "--id-field"),
    split_field: Optional[str] = typer.Option(None, "--split-field"),
    formal_lang: Optional[str] = typer.Option(None, "--formal-lang", help="lean4, lean3, isabelle, python, ..."),
    license: str = typer.Option("unknown", "--license"),
) -> None:
    """Read files into records, write a dataset folder and register it as a source."""
    from curate.ingest import IngestOptions, ingest as run_ingest

    if informal_field or formal_field:
        kind = "pairs"  # a field mapping means tabular input
    opts = IngestOptions(name=name, out=out, kind=kind, informal_field=informal_field, formal_field=formal_field,
                         id_field=id_field, split_field=split_field, formal_lang=formal_lang, license=license)
    result = run_ingest(paths, opts)
    console.print(f"{name}: {result.records} records -> {result.out} ({dict(result.by_kind)}); registered in {result.registry}")
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} parts:")
        for where, why in result.skipped[:50]:
            console.print(f"  {where}: {why}")
        if len(result.skipped) > 50:
            console.print(f"  ... and {len(result.skipped) - 50} more")


# ----------------------------------------------------------------------------- rank
def fmt(x: Optional[float], digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def render_ranking(result: dict) -> None:
    metrics = list(result["config"]["metrics"])
    table = Table(title=f"alignment to {result['target']} ({result['target_records']} records)")
    table.add_column("rank", justify="right")
    table.add_column("source")
    for m in metrics:
        table.add_column(f"{m} alignment [95% CI]", justify="right")
    table.add_column(f"{metrics[0]} diversity", justify="right")
    for col in ("records", "tokens", "license"):
        table.add_column(col, justify="right" if col != "license" else "left")
    for r in result["results"]:
        cells = [f"{a['alignment']:.4f} [{a['ci_low']:.4f}, {a['ci_high']:.4f}]"
                 for a in (r["alignments"][m] for m in metrics)]
        table.add_row(str(r["rank"]), r["source"], *cells, fmt(r["diversity"]), str(r["records"]),
                      "" if r["tokens"] is None else str(r["tokens"]), r["license"][:24])
    console.print(table)
    if result.get("agreement"):
        agree = Table(title="Spearman agreement between metrics")
        agree.add_column("metrics")
        agree.add_column("rho", justify="right")
        for pair, rho in result["agreement"].items():
            agree.add_row(pair.replace("~", " vs "), fmt(rho, 3))
        console.print(agree)
    for ex in result.get("excluded", []):
        console.print(f"[dim]left out {ex['source']}: {ex['reason']}[/dim]")
    for note in result.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")


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
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the ranking JSON here."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the ranking CSV here."),
) -> None:
    """Rank candidate sources by alignment to the target, with 95% CIs."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from curate import metrics as metric_registry
    from curate.rank import RankConfig, rank as run_rank

    config = RankConfig(target=target, sources=source or None, metrics=metric_registry.names(metric),
                        seed=STATE["seed"], probe=probe_name)
    options = {"batches": batches, "batch_size": batch_size, "max_length": max_length, "scope": scope,
               "whole_set": whole_set or None, "use_cache": False if no_cache else None, "seed": STATE["seed"]}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task("ranking", total=None)
        state = {"first": True}

        def on_step(msg: str) -> None:
            if not state["first"]:
                progress.advance(task)
            state["first"] = False
            progress.update(task, description=msg)

        result = run_rank(config, options, on_step=on_step, steps=lambda n: progress.update(task, total=n))
        progress.advance(task)
    render_ranking(result)
    if json_path:
        write_json(json_path, result)
    if csv_path:
        write_csv(csv_path, result)


def write_csv(path: Path, result: dict) -> None:
    import csv
    import io

    from curate.cache import atomic_write_bytes

    metrics = list(result["config"]["metrics"])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rank", "source", *[f"{m}_{k}" for m in metrics for k in ("alignment", "ci_low", "ci_high", "diversity")],
                "records", "tokens", "license"])
    for r in result["results"]:
        w.writerow([r["rank"], r["source"],
                    *[r["alignments"][m][k] for m in metrics for k in ("alignment", "ci_low", "ci_high", "diversity")],
                    r["records"], r["tokens"], r["license"]])
    try:
        atomic_write_bytes(Path(path), buf.getvalue().encode("utf-8"))
    except OSError as exc:
        raise CurateError(f"cannot write {path}: {exc.strerror or exc}") from exc


# ----------------------------------------------------------------------------- entry point
def main(argv: Optional[list[str]] = None) -> int:
    """Console entry: user errors print one line and exit 1; usage errors exit 2."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in args or "-v" in args or os.environ.get("CURATE_VERBOSE") == "1"
    try:
        command.main(args=args, prog_name="curate", standalone_mode=False)
    except CurateError as exc:
        if verbose:
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except NoArgsIsHelpError as exc:
        exc.show()
        return 0
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted; finished work is cached and a rerun resumes from it")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
