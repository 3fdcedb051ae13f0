"""The paper's experiment: does alignment to the target predict the fine-tuned target loss?

For each source — and a top-aligned mix and a random mix of the same sources — at one token
budget: the alignment under each metric and the target CE after a LoRA fine-tune. Reports
Pearson r, r² and Spearman ρ per metric, a table, JSON, Markdown and a scatter plot.

Resumable: alignments, mixes and every finished fine-tune are written under the output folder as
they finish and reused on rerun when their inputs match.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from curate import load, metrics as metric_registry, probe
from curate.cache import atomic_write_bytes
from curate.errors import CurateError
from curate.stats import pearson, spearman
from curate.types import Ranking
from train.lora import LoraTrainConfig, mix_spec, train_lora



@dataclass
class ConfirmConfig:
    target: str = "proofnet"
    """Eval set: alignment target and fine-tune evaluation set."""
    sources: list[str] | None = None
    """Sources to fine-tune on; None = rank's default candidates for the target."""
    metrics: list[str] = field(default_factory=lambda: list(metric_registry.REGISTRY))
    """Alignment metrics; the first one that is available orders the top-aligned mix."""
    budget: int = 8192
    """Training tokens per fine-tune (every source and mix gets the same)."""
    seed: int = 0
    probe: str = probe.DEFAULT_PROBE
    """Model for alignment metrics (Task2Vec's probe, token counts)."""
    mixes: bool = True
    """Also build and fine-tune a top-aligned mix and a random mix of the same sources (`curate mix`)."""
    mix_strategy: str = "top-k"
    """`curate mix` strategy of the top-aligned mix (top-k fills the budget from the best source down);
    the comparison mix is always `random` over the same sources."""
    mix_margin: float = 1.25
    """Mix token budget = budget × margin, so every fine-tune can fill its budget."""
    train_missing: bool = True
    """Fine-tune datasets without a finished run; False reports only what has finished so far
    (the rest is listed in the notes) — for a look at a long run while it goes on."""
    train: LoraTrainConfig = field(default_factory=LoraTrainConfig)
    """LoRA settings (its budget and seed are overridden by the fields above)."""


def _write(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, default=str, ensure_ascii=False).encode("utf-8"))


def _read(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def available_metrics(wanted: list[str], strict: bool) -> tuple[list[str], list[str]]:
    """(usable metrics, notes): a metric whose module is not importable is skipped unless `strict`."""
    ok, notes = [], []
    for m in wanted:
        try:
            metric_registry.metric_class(m)
            ok.append(m)
        except (ImportError, AttributeError) as exc:
            if strict:
                raise CurateError(f"metric {m!r} is not available: {exc}") from exc
            notes.append(f"metric {m} skipped: not available ({type(exc).__name__}: {exc})")
    if not ok:
        raise CurateError("no alignment metric is available")
    return ok, notes


def source_alignments(config: ConfirmConfig, sources: list[str], metric: str, out: Path,
                      options: dict[str, Any]) -> Ranking:
    """`curate.rank` of the sources under one metric, saved to out/alignments/<metric>.json."""
    from curate.rank import RankConfig, rank

    path = out / "alignments" / f"{metric}.json"
    want = {"target": config.target, "sources": sources, "seed": config.seed, "probe": config.probe,
            "options": options}
    hit = _read(path)
    if hit and hit.get("request") == want:
        return Ranking.from_json(hit["ranking"])
    ranking = Ranking.from_json(rank(RankConfig(target=config.target, sources=sources, metrics=[metric],
                                                seed=config.seed, probe=config.probe), {**options, "seed": config.seed}))
    _write(path, {"request": want, "ranking": ranking.to_json()})
    return ranking


def merged_ranking(rankings: dict[str, Ranking], primary: str) -> Ranking:
    """One ranking holding every metric's alignments, ordered by `primary`."""
    base = Ranking.from_json(rankings[primary])  # a copy
    for m, rk in rankings.items():
        for r in rk.results:
            base.row(r.source).alignments[m] = r.alignments[m]
    base.config["metrics"] = {m: rk.config["metrics"][m] for m, rk in rankings.items()}
    return base


def build_mixes(config: ConfirmConfig, ranking: Ranking, out: Path, log: Callable[[str], None]) -> tuple[dict[str, Path], list[str]]:
    """The top-aligned and random mixes (folders with data.jsonl); reused when the request matches."""
    try:
        from curate.mix import MixConfig, build_mix
    except ImportError as exc:
        return {}, [f"mixes skipped: curate.mix not available ({exc})"]
    budget = int(config.budget * config.mix_margin)
    folders, notes = {}, []
    order = ranking.sources
    for name, strategy in {"mix-top": config.mix_strategy, "mix-random": "random"}.items():
        folder = out / "mixes" / name
        want = {"strategy": strategy, "budget": budget, "seed": config.seed, "order": order,
                "primary": ranking.primary_metric, "target": config.target, "tokenizer": config.train.model}
        stamp = out / "mixes" / f"{name}.request.json"
        if _read(stamp) == want and (folder / "data.jsonl").exists():
            folders[name] = folder
            continue
        if folder.exists():
            shutil.rmtree(folder)
        log(f"building {name} ({strategy}, {budget} tokens)")
        try:
            result = build_mix(MixConfig(ranking=ranking, budget=budget, strategy=strategy, out=folder,
                                         seed=config.seed, tokenizer=config.train.model))
        except CurateError as exc:
            notes.append(f"{name} not built: {exc}")
            continue
        folder = Path(getattr(result, "out", folder))
        _write(stamp, want)
        folders[name] = folder
    return folders, notes


def mix_alignment(config: ConfirmConfig, metric: str, name: str, ds, out: Path, options: dict[str, Any]) -> dict:
    """Alignment of a mix dataset to the target under one metric (cached by the mix's fingerprint)."""
    fp = load.fingerprint(ds)
    path = out / "alignments" / f"{metric}-{name}.json"
    want = {"fingerprint": fp, "target": config.target, "seed": config.seed, "probe": config.probe,
            "options": options}
    hit = _read(path)
    if hit and hit.get("request") == want:
        return hit["alignment"]
    m = metric_registry.metric_class(metric).from_options({**options, "probe": config.probe, "seed": config.seed})
    tprep = m.prepare(config.target, load.load_source(config.target), config.seed)
    sprep = m.prepare(name, ds, config.seed)
    a = m.alignment(sprep, tprep)
    value = {"alignment": a.value, "ci_low": a.ci_low, "ci_high": a.ci_high, "pairs": a.n}
    _write(path, {"request": want, "alignment": value})
    return value


def finished_run(name: str, ds, tcfg: LoraTrainConfig, out: Path) -> dict | None:
    """The metrics.json of a finished run of `name` with this config and data, if any."""
    hit = _read(out / "runs" / name / "metrics.json")
    if hit and hit.get("key") == json.loads(json.dumps(tcfg.key(), default=str)) \
            and hit.get("train_fingerprint") == load.fingerprint(ds):
        return hit
    return None


def fine_tune(name: str, ds, target_ds, tcfg: LoraTrainConfig, out: Path, target: str,
              log: Callable[[str], None]) -> dict:
    """A finished run's metrics.json when its config and data match; else train now."""
    run = out / "runs" / name
    hit = finished_run(name, ds, tcfg, out)
    if hit is not None:
        log(f"{name}: reusing finished fine-tune (CE {hit['eval_ce_after']:.4f})")
        return hit
    log(f"{name}: fine-tuning on {tcfg.budget} tokens × {tcfg.epochs} epochs")
    return train_lora(ds, target_ds, tcfg, run, train_name=name, target_name=target,
                      log=lambda m: log(f"  {m}"))


def correlations(rows: list[dict], metrics: list[str]) -> dict[str, dict[str, float]]:
    """Pearson r, r² and Spearman ρ of alignment vs fine-tuned CE over the single sources."""
    out = {}
    for m in metrics:
        pts = [(r["alignments"][m]["alignment"], r["eval_ce_after"]) for r in rows
               if r["role"] == "source" and m in r["alignments"]]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        r, rho = _finite(pearson(xs, ys)), _finite(spearman(xs, ys))
        out[m] = {"pearson": r, "r2": None if r is None else r * r, "spearman": rho, "n": len(pts)}
    return out


def _finite(x: float) -> float | None:
    """None for NaN/inf (fewer than two points, or no spread): JSON cannot hold NaN."""
    return x if x == x and abs(x) != float("inf") else None


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


CONFIRM_FILES = ("report.json", "report.md", "scatter.png", "ranking.json", "runs", "alignments", "mixes")
"""What a confirm folder holds (its output marker lists these; older folders are recognised by them)."""


def check_confirm_folder(out: Path | str) -> Path:
    """Refuse (one line, nothing changed) an `out` that is a file, unwritable, or a non-empty folder
    holding files no earlier `curate confirm` wrote; returns it absolute."""
    from curate import outdir

    return outdir.check(out, "confirm", legacy=CONFIRM_FILES)


def _claim(out: Path) -> None:
    """Create `out` with its output marker (so a rerun, or an interrupted run's rerun, is recognised)."""
    from curate import outdir

    out.mkdir(parents=True, exist_ok=True)
    outdir.share(out)
    if outdir.read_marker(out) is None:
        atomic_write_bytes(out / outdir.MARKER, json.dumps({"kind": "confirm", "files": list(CONFIRM_FILES)})
                           .encode("utf-8"))


def report_rows(datasets: dict[str, tuple[str, Any]], results: dict[str, dict], aligns: dict[str, dict]) -> list[dict]:
    """One row per dataset with a finished fine-tune (in dataset order)."""
    rows = []
    for name, (role, _) in datasets.items():
        if name not in results:
            continue
        res = results[name]
        rows.append({"name": name, "role": role, "alignments": aligns.get(name, {}),
                     "eval_ce_before": res["eval_ce_before"], "eval_ce_after": res["eval_ce_after"],
                     "eval_ppl_after": res["eval_ppl_after"], "train_tokens": res["train_tokens"],
                     "train_records": res["train_records"], "train_seconds": res["train_seconds"],
                     "final_train_loss": res["train_loss"][-1] if res["train_loss"] else None})
    return rows


def run_confirm(config: ConfirmConfig, out: Path, metric_options: dict[str, Any] | None = None,
                strict_metrics: bool = False, log: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) the experiment; writes report.json, report.md, scatter.png under `out`.

    The report is written as it goes: after every finished fine-tune, `report.json`/`report.md` hold the
    rows so far with `"complete": false` (and `"pending"`: what is still to run), so an interrupted run
    leaves a usable partial report; a rerun reuses every finished fine-tune, alignment and mix and fills
    in only what is missing. The last write has `"complete": true` and adds the scatter plot.
    """
    from curate import progress as events
    from curate.rank import candidate_sources, versions
    from train.plots import confirm_scatter

    say = log or (lambda _m: None)
    if not config.budget >= 1:
        raise CurateError(f"--budget must be at least 1, got {config.budget}")
    if not config.mix_margin >= 1:
        raise CurateError(f"mix margin must be at least 1, got {config.mix_margin}")
    tcfg = replace(config.train, budget=config.budget, seed=config.seed)
    tcfg.validate()
    out = check_confirm_folder(out)
    options = {k: v for k, v in (metric_options or {}).items() if v is not None}
    sources = list(dict.fromkeys(config.sources or candidate_sources(config.target)[0]))
    if not sources:
        raise CurateError(f"no sources to compare for target {config.target!r}")
    target_ds = load.load_source(config.target)
    datasets = {s: ("source", load.load_source(s)) for s in sources}
    _claim(out)

    notes: list[str] = []
    results: dict[str, dict] = {}
    aligns: dict[str, dict] = {}
    mix_info: dict[str, dict] = {}
    metrics: list[str] = []

    def write_report(complete: bool) -> dict:
        rows = report_rows(datasets, results, aligns)
        stats = correlations(rows, metrics)
        report = {"target": config.target, "complete": complete, "metrics": metrics, "config": asdict(config),
                  "train_config": asdict(tcfg), "rows": rows, "correlations": stats,
                  "mix_comparison": mix_comparison(rows), "mixes": mix_info, "notes": notes,
                  "pending": [n for n in datasets if n not in results], "versions": versions()}
        _write(out / "report.json", report)
        atomic_write_bytes(out / "report.md", markdown(report).encode("utf-8"))
        if complete:
            confirm_scatter(rows, metrics, stats, out / "scatter.png", target=config.target)
        return report

    def run_or_reuse(name: str, ds, task) -> None:
        """Fine-tune (or reuse the finished run); without train_missing, leave unfinished ones out."""
        if config.train_missing:
            results[name] = fine_tune(name, ds, target_ds, tcfg, out, config.target, say)
        elif (hit := finished_run(name, ds, tcfg, out)) is not None:
            results[name] = hit
        else:
            notes.append(f"{name}: no finished fine-tune yet; left out of this report")
            del datasets[name]
        task.advance(dataset=name)
        write_report(complete=False)

    n_runs = len(sources) + (2 if config.mixes else 0)
    with events.task("confirm: fine-tunes", total=n_runs, unit="runs") as task:
        # 1. One fine-tune per source at the same budget (needs no alignment; finished runs are reused).
        for name, (_, ds) in list(datasets.items()):
            run_or_reuse(name, ds, task)

        # 2. Alignment of every source under every metric (rank's machinery, one file per metric).
        wanted, metric_notes = available_metrics(config.metrics, strict_metrics)
        notes += metric_notes
        rankings = {}
        for m in wanted:
            say(f"alignment: {m} over {len(sources)} sources")
            try:
                rankings[m] = source_alignments(config, sources, m, out, options)
            except Exception as exc:  # with metrics="all", one broken metric must not sink the others
                if strict_metrics:
                    raise
                notes.append(f"metric {m} failed: {type(exc).__name__}: {exc}")
                say(notes[-1])
        metrics += [m for m in wanted if m in rankings]
        if not metrics:
            raise CurateError("no alignment metric could be computed: " + "; ".join(notes))
        ranking = merged_ranking(rankings, metrics[0])
        _write(out / "ranking.json", ranking.to_json())
        aligns.update({r.source: {m: s.to_json() for m, s in r.alignments.items()} for r in ranking.results})
        write_report(complete=False)

        # 3. The top-aligned and random mixes: built, aligned (metric computed on the mix itself), fine-tuned.
        if config.mixes:
            folders, mix_notes = build_mixes(config, ranking, out, say)
            notes += mix_notes
            task.update(total=len(sources) + len(folders))
            for name, folder in folders.items():
                ds = load.load_source(mix_spec(folder, name))
                datasets[name] = ("mix", ds)
                manifest = _read(folder / "manifest.json") or {}
                mix_info[name] = {"folder": str(folder), "records": len(ds),
                                  "tokens_by_source": {k: v.get("tokens") for k, v in
                                                       manifest.get("sources", {}).items() if v.get("tokens")}}
                aligns[name] = {}
                for m in metrics:
                    say(f"alignment: {m} of {name}")
                    aligns[name][m] = mix_alignment(config, m, name, ds, out, options)
                run_or_reuse(name, ds, task)

    # 4. Correlations, the mix comparison, report files and the plot.
    return write_report(complete=True)


def mix_comparison(rows: list[dict]) -> dict[str, Any]:
    """Where the top-aligned mix's CE stands against the random mix and each single source."""
    by = {r["name"]: r["eval_ce_after"] for r in rows}
    if "mix-top" not in by:
        return {}
    top = by["mix-top"]
    singles = {r["name"]: r["eval_ce_after"] for r in rows if r["role"] == "source"}
    return {"mix_top_ce": top, "mix_random_ce": by.get("mix-random"),
            "beats_random": None if "mix-random" not in by else top < by["mix-random"],
            "sources_beating_mix_top": sorted(n for n, ce in singles.items() if ce <= top)}


def markdown(report: dict) -> str:
    ms = report["metrics"]
    lines = [f"# confirm: alignment vs fine-tuned CE on {report['target']}", "",
             f"Budget {report['train_config']['budget']} tokens × {report['train_config']['epochs']} epochs, "
             f"model {report['train_config']['model']}, seed {report['train_config']['seed']}.", "",
             "| dataset | role | " + " | ".join(f"{m} alignment" for m in ms) + " | CE before | CE after | ppl after |",
             "|---|---|" + "---:|" * (len(ms) + 3)]
    for r in sorted(report["rows"], key=lambda r: r["eval_ce_after"]):
        cells = [f"{r['alignments'][m]['alignment']:.4f}" if m in r["alignments"] else "" for m in ms]
        lines.append(f"| {r['name']} | {r['role']} | " + " | ".join(cells)
                     + f" | {r['eval_ce_before']:.4f} | {r['eval_ce_after']:.4f} | {r['eval_ppl_after']:.2f} |")
    lines += ["", "| metric | Pearson r | r² | Spearman ρ | n |", "|---|---:|---:|---:|---:|"]
    for m, s in report["correlations"].items():
        lines.append(f"| {m} | {_f(s['pearson'])} | {_f(s['r2'])} | {_f(s['spearman'])} | {s['n']} |")
    mc = report.get("mix_comparison") or {}
    if mc:
        lines += ["", f"Top-aligned mix CE {mc['mix_top_ce']:.4f}; random mix CE "
                  f"{mc['mix_random_ce'] if mc['mix_random_ce'] is None else round(mc['mix_random_ce'], 4)}; "
                  f"single sources at or below the top mix: {', '.join(mc['sources_beating_mix_top']) or 'none'}."]
    for n in report.get("notes", []):
        lines.append(f"- note: {n}")
    return "\n".join(lines) + "\n"
