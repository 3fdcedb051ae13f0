"""Rank candidate sources by alignment to a target eval set, under one or more metrics."""

from __future__ import annotations

import contextlib
import functools
import platform
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from curate import __version__, artefacts, catalog, load, metrics, probe, progress, sourcepool
from curate.errors import CurateError
from curate.stats import spearman
from curate.types import MetricScore, RankRow, Ranking


@dataclass
class RankConfig:
    target: str = "proofnet"
    """Catalog name of the eval set to align to."""
    sources: list[str] | None = None
    """Candidate sources; None = every available catalog source that holds none of the target's items."""
    metrics: list[str] = field(default_factory=lambda: [metrics.DEFAULT_METRIC])
    """Metrics to compute; the first one orders the table."""
    seed: int = 0
    """Seed for every sample drawn."""
    probe: str = probe.DEFAULT_PROBE
    """Model whose tokenizer counts tokens (and, for task2vec, whose Fisher embeds batches)."""
    adaptive: bool = False
    """Task2Vec: embed every source with `start_batches` batches first, then add batches (doubling,
    up to task2vec's `batches`) only to sources whose alignment CI overlaps a neighbour's in the
    ranking. Each row reports the batches it took. Off by default: with fewer batches the alignments
    are not today's (benchmarks/RESULTS.md, "Ranking speed", has the time saved and the agreement)."""
    start_batches: int = 2
    """Task2Vec with `adaptive`: batches every source starts with."""


RowCallback = Callable[[Ranking], None]


def candidate_sources(target: str) -> tuple[list[str], list[dict[str, str]]]:
    """Default candidates for `target`, and what was left out with why."""
    tspec = catalog.get(target)
    chosen, excluded = [], []
    for name, spec in catalog.all_specs().items():
        if name == target:
            continue
        overlap = set(spec.holds) & set(tspec.holds)
        if overlap:
            excluded.append({"source": name, "reason": f"holds the target's own items ({', '.join(sorted(overlap))})"})
        elif spec.is_hub:
            excluded.append({"source": name, "reason": "hub dataset (pass --source to include it when online)"})
        elif not load.available(spec):
            excluded.append({"source": name, "reason": f"data not found at {spec.location()}"})
        else:
            chosen.append(name)
    chosen, parts = catalog.drop_parts(chosen)
    return chosen, excluded + parts


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of what the numbers depend on (read from package metadata: nothing is imported)."""
    from importlib import metadata

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"curate": __version__, "python": platform.python_version(), "torch": version("torch"),
            "transformers": version("transformers"), "datasets": version("datasets")}


def _score(a, d, used: int, batches: int | None = None) -> MetricScore:
    return MetricScore(alignment=a.value, ci_low=a.ci_low, ci_high=a.ci_high, pairs=a.n, diversity=d.value,
                       diversity_ci_low=d.ci_low, diversity_ci_high=d.ci_high, used=used, batches=batches)


def _overlaps(a: MetricScore, b: MetricScore) -> bool:
    return not (a.ci_low > b.ci_high or a.ci_high < b.ci_low)


class _BatchMeter:
    """The shared 'task2vec: batches' progress task: advanced per computed batch, with the expected
    time left at this machine's measured rate (a note after the first batch, `eta_s` in the detail)."""

    def __init__(self, task: progress.Task, metric):
        self.task, self.metric = task, metric

    def advance(self, n: int = 1, **detail: Any) -> None:
        secs = self.metric.batch_seconds
        left = max(0, (self.task.total or 0) - self.task.done - n)
        if secs:
            detail["eta_s"] = round(sum(secs) / len(secs) * left, 1)
        self.task.advance(n, **detail)
        if self.task.done == 1 and secs:
            progress.note(f"task2vec: the first batch took {secs[0]:.1f}s; {left} more to embed, "
                          f"about {_duration(secs[0] * left)} at this rate")

    def __getattr__(self, attr: str):
        return getattr(self.task, attr)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def rank(config: RankConfig, metric_options: dict[str, Any] | None = None,
         on_step: Callable[[str], None] | None = None, steps: Callable[[int], None] | None = None,
         on_row: RowCallback | None = None) -> Ranking:
    """Compute the ranking (see README, "Ranking JSON"; `.to_json()` gives the dict).

    `on_row(partial)` is called with the ranking so far (rows finished, ranked among themselves,
    `complete=False`) each time a source's row is final, and once more with the complete ranking;
    with `adaptive`, rows are final only after the refinement, so it is called after every update.
    An interrupt (KeyboardInterrupt) carries the partial ranking as `exc.ranking`: the batch in
    flight is discarded, every finished batch is in the cache, and a rerun computes only the rest.
    Progress goes through `curate.progress` (steps, per-batch source and batch i/K, expected time)."""
    step = on_step or (lambda _msg: None)
    excluded: list[dict[str, str]] = []
    if config.sources:
        names = catalog.named_sources(config.target, config.sources)
    else:
        names, excluded = candidate_sources(config.target)
        if not names:
            raise CurateError(f"no available candidate sources for target {config.target!r}; check the data home")
    metric_objs = {m: metrics.metric_class(m).from_options({**(metric_options or {}), "probe": config.probe})
                   for m in config.metrics}
    adaptive = config.adaptive and "task2vec" in metric_objs
    if adaptive:
        t2v_cfg = metric_objs["task2vec"].config
        if t2v_cfg.whole_set:
            raise CurateError("adaptive batches need batch pairs; they do not apply to the whole-set variant")
        if config.start_batches < 2:
            raise CurateError(f"adaptive batches start from at least 2 batches, got {config.start_batches}")
    if steps:
        steps(len(metric_objs) * (len(names) + 1))

    state: dict[str, Any] = {"rows": {}, "notes": catalog.overlap_notes(config.target, names), "target": None}
    try:
        return _rank(config, names, excluded, metric_objs, adaptive, step, on_row, state)
    except KeyboardInterrupt as exc:
        exc.ranking = _assemble(config, names, excluded, metric_objs, state, complete=False)  # type: ignore[attr-defined]
        raise


def _rank(config, names, excluded, metric_objs, adaptive, step, on_row, state) -> Ranking:
    rows: dict[str, RankRow] = state["rows"]
    notes: list[str] = state["notes"]
    t2v = metric_objs.get("task2vec")
    k_max = t2v.config.batches if t2v is not None else None
    k_start = min(config.start_batches, k_max) if adaptive else None
    with progress.task("rank: reading sources", total=len(names) + 1, unit="sources") as t:
        # sources not read before are read in parallel processes when every metric can take what it needs
        # from the records there; meanwhile the probe loads here in the background (nothing is cached)
        jobs = [m.records_job(config.seed, (k_start, k_max) if adaptive and m is t2v else (None,))
                for m in metric_objs.values()]
        facts = sourcepool.gather([config.target, *names], config.probe,
                                  jobs=None if None in jobs else jobs,
                                  on_cold=t2v.warm_up if t2v is not None else None,
                                  on_done=lambda n: t.advance(source=n))
    state["target"] = facts[config.target]
    data = {n: artefacts.LazySource(n, f) for n, f in facts.items()}
    for n, f in facts.items():
        if f.tokens_estimated:
            notes.append(f"{n}: token count estimated from a sample of {artefacts.TOKEN_SAMPLE} records")
        if f.streamed:
            notes.append(f"{n}: {f.records} records, streamed (not held in memory); the drawn batches are read "
                         "in one more streamed pass")

    k = {n: k_start for n in names}
    with contextlib.ExitStack() as stack:
        if t2v is not None:
            pending = t2v.pending(data[config.target], config.seed) + \
                sum(t2v.pending(data[n], config.seed, k[n]) for n in names)
            if pending:
                t2v.warm_up()  # if not started yet: overlaps the target's batch token ids at least
                progress.note(f"task2vec: {pending} batches to embed"
                              f"{' (more if adaptive batching adds some)' if adaptive else ''}")
            task = stack.enter_context(progress.task("task2vec: batches", total=pending, unit="batches"))
            t2v.reporter = _BatchMeter(task, t2v)

        tpreps = {}
        for mname, metric in metric_objs.items():
            step(f"{mname}: preparing target {config.target}")
            tpreps[mname] = metric.prepare(config.target, data[config.target], config.seed)
            notes.extend(f"{mname}/{config.target}: {x}" for x in tpreps[mname].notes)

        def score(name: str, mname: str) -> MetricScore:
            metric = metric_objs[mname]
            if mname == "task2vec" and adaptive:
                sprep = metric.prepare(name, data[name], config.seed, batches=k[name])
            else:
                sprep = metric.prepare(name, data[name], config.seed)
            for x in sprep.notes:
                if f"{mname}/{name}: {x}" not in notes:
                    notes.append(f"{mname}/{name}: {x}")
            a, d = metric.alignment(sprep, tpreps[mname]), metric.diversity(sprep)
            return _score(a, d, sprep.used, batches=len(sprep.data.rows) if mname == "task2vec" and adaptive else None)

        def emit(complete: bool = False) -> None:
            if on_row is not None:
                on_row(_assemble(config, names, excluded, metric_objs, state, complete=complete))

        for name in names:
            f, spec = facts[name], catalog.get(name)
            scores = {}
            for mname in metric_objs:
                step(f"{mname}: {name}")
                scores[mname] = score(name, mname)
            row = RankRow(source=name, alignment=0.0, records=f.records, tokens=f.tokens, license=spec.license,
                          kind=spec.kind, formal_lang=spec.formal_lang, fingerprint=f.fingerprint, alignments=scores)
            if f.tokens_estimated:
                row.extra["tokens_estimated"] = True
            rows[name] = row
            emit()

        if adaptive:
            _refine(names, rows, k, k_max, lambda n: score(n, "task2vec"), t2v, data, config.seed, emit)

        for mname, metric in metric_objs.items():
            td = metric.diversity(tpreps[mname])
            notes.append(f"{mname}: target diversity {td.value:.4f} [{td.ci_low:.4f}, {td.ci_high:.4f}]")
    ranking = _assemble(config, names, excluded, metric_objs, state, complete=True)
    if on_row is not None:
        on_row(ranking)
    return ranking


def _refine(names, rows, k, k_max, rescore, metric, data, seed, emit) -> None:
    """Adaptive batches: grow (double, up to k_max) every source whose task2vec CI overlaps a
    neighbour's in the current order, until none that can still grow overlaps."""
    while True:
        order = sorted(names, key=lambda n: -rows[n].alignments["task2vec"].alignment)
        grow = []
        for i, n in enumerate(order):
            if k[n] >= k_max:
                continue
            mine = rows[n].alignments["task2vec"]
            nbrs = [order[j] for j in (i - 1, i + 1) if 0 <= j < len(order)]
            if any(_overlaps(mine, rows[m].alignments["task2vec"]) for m in nbrs):
                grow.append(n)
        if not grow:
            return
        for n in grow:
            k[n] = min(k_max, 2 * k[n])
        more = sum(metric.pending(data[n], seed, k[n]) for n in grow)
        metric.reporter.task.update(total=(metric.reporter.task.total or 0) + more)
        for n in grow:
            rows[n].alignments["task2vec"] = rescore(n)
            emit()


def _assemble(config, names, excluded, metric_objs, state, complete: bool) -> Ranking:
    """The Ranking of the rows finished so far (all of them when `complete`)."""
    primary = config.metrics[0]
    done = [state["rows"][n] for n in names if n in state["rows"]]
    results = []
    for row in done:
        p = row.alignments[primary]
        results.append(RankRow(source=row.source, alignment=p.alignment, ci_low=p.ci_low, ci_high=p.ci_high,
                               diversity=p.diversity, records=row.records, tokens=row.tokens, license=row.license,
                               kind=row.kind, formal_lang=row.formal_lang, fingerprint=row.fingerprint,
                               alignments=dict(row.alignments), extra=dict(row.extra)))
    results.sort(key=lambda r: -r.alignment)
    for i, r in enumerate(results, 1):
        r.rank = i
    ms = config.metrics
    agreement = {}
    for i in range(len(ms)):
        for j in range(i + 1, len(ms)):
            x = [r.alignments[ms[i]].alignment for r in results]
            y = [r.alignments[ms[j]].alignment for r in results]
            agreement[f"{ms[i]}~{ms[j]}"] = spearman(x, y)
    target = state.get("target")
    as_dicts = [r.to_json() for r in results]
    return Ranking(
        target=config.target,
        target_records=target.records if target is not None else None,
        target_fingerprint=target.fingerprint if target is not None else "",
        primary_metric=primary,
        config={**asdict(config), "sources": names, "metrics": {m: o.describe() for m, o in metric_objs.items()}},
        versions=dict(versions()),
        excluded=list(excluded or []),
        notes=list(state["notes"]),
        results=results,
        agreement=agreement,
        disagreements=disagreements(as_dicts, ms),
        complete=complete,
    )


def confident_order(a: dict[str, float], b: dict[str, float]) -> int:
    """+1 if estimate a is above b with disjoint 95% CIs, -1 if below, 0 if they overlap."""
    if a["ci_low"] > b["ci_high"]:
        return 1
    if a["ci_high"] < b["ci_low"]:
        return -1
    return 0


def disagreements(results: list[dict], metrics: list[str]) -> list[dict]:
    """Source pairs that one metric puts confidently above the other and another metric confidently
    below (each with disjoint CIs): where the choice of metric changes the answer. In rank order."""
    out = []
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            order = {m: confident_order(a["alignments"][m], b["alignments"][m]) for m in metrics}
            if 1 in order.values() and -1 in order.values():
                out.append({"sources": [a["source"], b["source"]],
                            "higher": {m: (a["source"] if o > 0 else b["source"] if o < 0 else None)
                                       for m, o in order.items()}})
    return out
