"""LoRA fine-tuning of a causal LM on records under a token budget, with target CE before and after.

The happy path (`train_lora`) reads top to bottom: pick records in a seeded order until the token
budget is reached, pack them into fixed-length sequences, evaluate the base model on the target
(cached), train LoRA adapters with a short accelerate loop, evaluate again, write the adapter,
`metrics.json` and a loss-curve PNG. The same code runs on a CPU, one GPU or several
(`accelerate launch -m curate.cli train ...`; on CPUs `torchrun --nproc_per_node N -m curate.cli train ...`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from curate import load, probe
from curate.catalog import SourceSpec
from curate.errors import CurateError
from curate.records import render
from train.evaluate import EvalConfig, EvalResult, cached_base_eval, evaluate


@dataclass
class LoraTrainConfig:
    """Everything that determines a fine-tune (and therefore its cache key)."""

    model: str = probe.DEFAULT_PROBE
    """Base model: a built-in name (smollm2), a local model folder, or a hub id."""
    budget: int = 8192
    """Training tokens (model tokenizer) per epoch; records are taken in a seeded order until reached,
    the last one truncated to fit."""
    epochs: int = 2
    """Passes over the selected tokens."""
    r: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = 0.05
    """Dropout on the LoRA input."""
    target_modules: str = "all-linear"
    """Modules to adapt: "all-linear" (every linear layer but the output head) or a comma list of names."""
    lr: float = 5e-4
    """AdamW learning rate (constant; no warmup at this scale)."""
    weight_decay: float = 0.0
    batch_size: int = 8
    """Sequences per optimizer step (per process)."""
    max_length: int = 256
    """Tokens per training sequence."""
    packing: bool = True
    """Concatenate records (each followed by EOS) into full `max_length` sequences; otherwise one record
    per sequence, truncated, padded per batch. Padding is masked from the loss by the attention mask."""
    max_grad_norm: float = 1.0
    seed: int = 0
    """Seeds record order, batch order and LoRA initialisation."""
    mixed_precision: str = "no"
    """accelerate mixed precision: no, fp16 or bf16 (GPU)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """How the target is scored before and after."""

    def key(self) -> dict[str, Any]:
        """JSON-able identity of the run (for reuse of finished runs)."""
        return {**asdict(self), "model": probe.model_id(self.model)}


def mix_spec(folder: Path, name: str | None = None) -> SourceSpec:
    """A SourceSpec reading a `curate mix` output folder (its data.jsonl of records)."""
    folder = Path(folder).expanduser().resolve()
    if not (folder / "data.jsonl").exists():
        raise CurateError(f"{folder} is not a mix folder (no data.jsonl)")
    return SourceSpec(name=name or f"mix:{folder.name}", kind="text", license="mixed", path=str(folder),
                      files=("data.jsonl",),
                      fields={"id": "id", "informal": "{informal?}", "formal": "{formal?}", "kind": "kind",
                              "formal_lang": "{formal_lang?}", "split": "{split?}"})


def select_tokens(ds, tokenizer, budget: int, seed: int, eos: bool = True) -> tuple[list[list[int]], int, int]:
    """Token ids of records taken in a seeded order until `budget` tokens: (chunks, tokens, records).

    Each record is rendered (`curate.records.render`) and followed by EOS; the last one is cut to fit.
    """
    import numpy as np

    if budget <= 0:
        raise CurateError(f"--budget must be positive, got {budget}")
    order = np.random.default_rng(seed).permutation(len(ds))
    chunks, used = [], 0
    eos_ids = [tokenizer.eos_token_id] if eos and tokenizer.eos_token_id is not None else []
    for i in order:
        text = render(ds[int(i)])
        if not text.strip():
            continue
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + eos_ids
        ids = ids[: budget - used]
        chunks.append(ids)
        used += len(ids)
        if used >= budget:
            break
    if len(chunks) == 0:
        raise CurateError("no training text: every record renders empty")
    return chunks, used, len(chunks)


def make_sequences(chunks: list[list[int]], max_length: int, packing: bool) -> list[list[int]]:
    """Packed `max_length` blocks of the concatenated chunks (last block shorter), or one per chunk."""
    if packing:
        stream = [t for c in chunks for t in c]
        return [stream[i:i + max_length] for i in range(0, len(stream), max_length) if len(stream[i:i + max_length]) > 1]
    return [c[:max_length] for c in chunks if len(c) > 1]


def collate(batch: list[list[int]]) -> dict[str, Any]:
    """Right-pad to the longest sequence; labels are -100 wherever the attention mask is 0."""
    import torch

    width = max(len(s) for s in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for b, s in enumerate(batch):
        ids[b, : len(s)] = torch.tensor(s)
        mask[b, : len(s)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _lora_targets(spec: str) -> str | list[str]:
    return spec if spec == "all-linear" else [s.strip() for s in spec.split(",") if s.strip()]


def train_lora(train_ds, target_ds, config: LoraTrainConfig, out: Path, train_name: str = "train",
               target_name: str = "target", log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tune, evaluate before/after, write `out/adapter`, `out/metrics.json`, `out/loss.png`."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from peft import LoraConfig, get_peft_model

    from train.plots import loss_curve

    say = log or (lambda _m: None)
    out = Path(out)
    # cpu=True without CUDA lets torchrun / accelerate launch spread a CPU run over processes (gloo).
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    model, tokenizer = probe.load(config.model)

    chunks, used, n_records = select_tokens(train_ds, tokenizer, config.budget, config.seed)
    sequences = make_sequences(chunks, config.max_length, config.packing)
    say(f"{train_name}: {used} tokens from {n_records} records -> {len(sequences)} sequences")

    target_fp = load.fingerprint(target_ds)
    before = None
    if accelerator.is_main_process:
        t0 = time.time()
        before = cached_base_eval(model.to(accelerator.device), tokenizer, probe.model_id(config.model),
                                  target_ds, target_fp, config.eval)
        say(f"base eval on {target_name}: CE {before.ce:.4f} ({time.time() - t0:.0f}s, cached after the first time)")

    torch.manual_seed(config.seed)  # LoRA A matrices are random-initialised
    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=_lora_targets(config.target_modules), task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    loader = torch.utils.data.DataLoader(sequences, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(config.seed))
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    losses: list[float] = []
    t0 = time.time()
    model.train()
    for epoch in range(config.epochs):
        for batch in loader:
            loss = model(**batch).loss
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(accelerator.reduce(loss.detach(), reduction="mean")))
            say(f"epoch {epoch + 1} step {len(losses)}: loss {losses[-1]:.4f}")
    train_seconds = time.time() - t0

    accelerator.wait_for_everyone()
    result: dict[str, Any] = {}
    if accelerator.is_main_process:
        peft_model = accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # eval precision: config.eval
        t0 = time.time()
        after = evaluate(peft_model, tokenizer, target_ds, config.eval)
        say(f"tuned eval on {target_name}: CE {after.ce:.4f} ({time.time() - t0:.0f}s)")
        out.mkdir(parents=True, exist_ok=True)
        peft_model.save_pretrained(out / "adapter")
        result = {
            "train": train_name, "target": target_name, "target_fingerprint": target_fp,
            "model": config.model, "model_id": probe.model_id(config.model),
            "eval_ce_before": before.ce, "eval_ce_after": after.ce,
            "eval_ppl_before": before.perplexity, "eval_ppl_after": after.perplexity,
            "eval_tokens": after.tokens, "eval_items": after.items,
            "train_tokens": used, "train_records": n_records, "train_sequences": len(sequences),
            "train_loss": losses, "train_seconds": train_seconds, "trainable_params": trainable,
            "processes": accelerator.num_processes, "device": str(accelerator.device),
            "seed": config.seed, "config": asdict(config), "key": config.key(),
            "train_fingerprint": load.fingerprint(train_ds),
        }
        from curate.cache import atomic_write_bytes

        loss_curve(losses, out / "loss.png", title=f"{train_name}: LoRA train loss "
                   f"(eval CE {before.ce:.3f} -> {after.ce:.3f})", steps_per_epoch=math.ceil(len(sequences) / config.batch_size / accelerator.num_processes))
        atomic_write_bytes(out / "metrics.json", json.dumps(result, indent=2, default=str).encode("utf-8"))
    accelerator.wait_for_everyone()
    return result


def load_adapter(run: Path, model: str | None = None):
    """(peft model, tokenizer) from a run folder written by `train_lora` (base model from metrics.json)."""
    from peft import PeftModel

    run = Path(run)
    if not (run / "adapter").exists():
        raise CurateError(f"{run} is not a train run (no adapter/ folder)")
    if model is None:
        meta = run / "metrics.json"
        if not meta.exists():
            raise CurateError(f"{run} has no metrics.json; pass --model")
        model = json.loads(meta.read_text())["model"]
    base, tokenizer = probe.load(model)
    tuned = PeftModel.from_pretrained(base, str(run / "adapter"))
    tuned.eval()
    return tuned, tokenizer


def reload_eval(run: Path, target_ds, config: EvalConfig | None = None) -> EvalResult:
    """Target CE of a saved run's adapter (checks that what was saved is what was measured)."""
    model, tokenizer = load_adapter(run)
    return evaluate(model, tokenizer, target_ds, config or EvalConfig())
