"""`curate bench`: a model (optionally with a LoRA adapter) on a target — CE/perplexity, few-shot
autoformalization scored by BLEU/chrF, and a Lean typecheck rate when a REPL is configured."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from curate import catalog, load, probe
from curate.errors import CurateError
from train.evaluate import EvalConfig, cached_base_eval, evaluate
from train.generate import GenConfig, generate, lean_repl_command, prompt_prefix, query, text_scores, typechecks


@dataclass
class BenchConfig:
    model: str | None = None
    """Base model (built-in name, folder, hub id); None = the adapter run's model."""
    adapter: str | None = None
    """A `curate train` output folder whose adapter is applied."""
    target: str = "proofnet"
    eval: EvalConfig = field(default_factory=EvalConfig)
    gen: GenConfig = field(default_factory=GenConfig)
    lean_repl: str | None = None
    """Lean REPL command (else $CURATE_LEAN_REPL); without one the typecheck rate is "not available"."""


def run_bench(config: BenchConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = log or (lambda _m: None)
    if config.model is None and config.adapter is None:
        raise CurateError("pass --model, --adapter, or both")
    tspec = catalog.get(config.target)
    shot_source = config.gen.shot_source or tspec.shots or "proofnet-valid"
    if shot_source == config.target or catalog.held_by(tspec, shot_source):
        raise CurateError(f"the few-shot source {shot_source!r} holds the target's items; pass another --shot-source")
    not_shots = [i for _, i in catalog.item_overlaps(tspec, shot_source)]  # the target's problems under other ids
    if config.adapter:
        from train.lora import load_adapter

        model, tokenizer = load_adapter(Path(config.adapter), config.model)
    else:
        model, tokenizer = probe.load(config.model)
    target_ds = load.load_source(config.target)

    t0 = time.time()
    if config.adapter:
        ev = evaluate(model, tokenizer, target_ds, config.eval)
    else:
        ev = cached_base_eval(model, tokenizer, probe.model_id(config.model), target_ds,
                              load.fingerprint(target_ds), config.eval)
    say(f"CE {ev.ce:.4f} on {config.target} ({time.time() - t0:.0f}s)")

    shots = [r for r in load.load_source(shot_source) if r["informal"] and r["formal"]
             and not any(catalog.id_matches(r["id"], i) for i in not_shots)][: config.gen.shots]
    items = [r for r in target_ds if r["informal"] and r["formal"]][: config.gen.limit]
    prefix = prompt_prefix(shots)
    t0 = time.time()
    hyps = generate(model, tokenizer, [prefix + query(r["informal"]) for r in items], config.gen,
                    progress=lambda d, n: say(f"generated {d}/{n}"))
    refs = [r["formal"].strip() for r in items]
    scores = text_scores(hyps, refs)
    gen_seconds = time.time() - t0

    repl = lean_repl_command(config.lean_repl)
    if tspec.formal_lang not in (None, "lean4"):
        typecheck: dict[str, Any] = {"available": False, "rate": None,
                                     "reason": f"not available: the target is {tspec.formal_lang}, the REPL checks Lean 4"}
    elif repl is None:
        typecheck = {"available": False, "rate": None,
                     "reason": "not available: no Lean REPL (set --lean-repl or CURATE_LEAN_REPL)"}
    else:
        ok = [typechecks(h, repl) for h in hyps]
        typecheck = {"available": True, "rate": sum(ok) / max(len(ok), 1), "checked": len(ok), "passed": sum(ok)}
    return {
        "model": config.model, "adapter": config.adapter, "target": config.target,
        "ce": ev.ce, "perplexity": ev.perplexity, "eval_tokens": ev.tokens, "eval_items": ev.items,
        "generation": {"items": len(items), "shots": len(shots), "shot_source": shot_source,
                       "bleu": scores["bleu"], "chrf": scores["chrf"],
                       "seconds": gen_seconds},
        "typecheck": typecheck,
        "samples": [{"id": r["id"], "reference": ref, "generated": h} for r, ref, h in zip(items, refs, hyps)],
        "config": asdict(config),
    }
