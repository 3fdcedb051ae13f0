"""Autoformalization by generation: few-shot prompt (informal -> formal statement), greedy decode,
BLEU/chrF against the reference, and an optional Lean typecheck through a REPL subprocess."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, Callable

from curate.records import DEFAULT_RENDER

LEAN_HEADER = "import Mathlib\nopen Real Nat Topology\nopen scoped BigOperators\n"


@dataclass
class GenConfig:
    shots: int = 3
    """Worked examples in the prompt (taken in order from `shot_source`)."""
    shot_source: str | None = None
    """Catalog source of the few-shot examples (holding none of the target's items); None = the target's
    `shots` in the catalog (`curate targets`), else proofnet-valid."""
    limit: int = 20
    """Target items to formalize (the first N in dataset order); generation is slow on a CPU."""
    max_new_tokens: int = 96
    batch_size: int = 4
    """Prompts decoded together (left-padded)."""


def prompt_prefix(shots: list[dict[str, Any]]) -> str:
    """The rendered worked examples, one per paragraph."""
    t = DEFAULT_RENDER.pair_template
    return "".join(t.format(informal=s["informal"].strip(), formal=s["formal"].strip()) + "\n\n" for s in shots)


def query(informal: str) -> str:
    """The open pair whose formal side the model writes."""
    head = DEFAULT_RENDER.pair_template.split("{formal}", 1)[0]
    return head.format(informal=informal.strip()).rstrip()


def clean_output(text: str) -> str:
    """The generated statement: up to the first blank line or the next example."""
    for stop in ("\n\n", DEFAULT_RENDER.pair_template.split("{informal}", 1)[0].strip()):
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text.strip()


def generate(model, tokenizer, prompts: list[str], config: GenConfig,
             progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Greedy continuations of `prompts`, cleaned with `clean_output`."""
    import torch

    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only batched generation needs left padding
    outs: list[str] = []
    try:
        for start in range(0, len(prompts), config.batch_size):
            chunk = prompts[start:start + config.batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.inference_mode():
                gen = model.generate(**enc, max_new_tokens=config.max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            outs += [clean_output(t) for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
            if progress:
                progress(len(outs), len(prompts))
    finally:
        tokenizer.padding_side = side
    return outs


def text_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu)."""
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score}


def lean_repl_command(explicit: str | None = None) -> list[str] | None:
    """The Lean REPL command from --lean-repl or $CURATE_LEAN_REPL (None = not configured)."""
    cmd = explicit or os.environ.get("CURATE_LEAN_REPL")
    return shlex.split(cmd) if cmd else None


def typechecks(statement: str, repl: list[str], header: str = LEAN_HEADER, timeout: float = 300.0) -> bool:
    """Whether `statement := by sorry` elaborates, asked of a REPL speaking the leanprover-community/repl
    JSON protocol (one {"cmd": ...} on stdin, a JSON reply with "messages" on stdout)."""
    body = statement.rstrip()
    body = body + (" by sorry" if body.endswith(":=") else " := by sorry")
    try:
        proc = subprocess.run(repl, input=json.dumps({"cmd": header + "\n" + body}) + "\n\n", text=True,
                              capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    try:
        reply = json.loads(proc.stdout.strip().split("\n\n")[0])
    except ValueError:
        return False
    return proc.returncode == 0 and not any(m.get("severity") == "error" for m in reply.get("messages", []))
