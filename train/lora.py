"""LoRA fine-tuning of a causal LM on records under a token budget, with target CE before and after.

The happy path (`train_lora`) reads top to bottom: check the settings and the output folder, pick
records in a seeded order until the token budget is reached, pack them into fixed-length sequences,
evaluate the base model on the target (cached), train LoRA adapters with a short accelerate loop,
evaluate again, write the adapter, `metrics.json` and a loss-curve PNG. The same code runs on a CPU,
one GPU or several (`accelerate launch -m curate.cli train ...`; on CPUs
`torchrun --nproc_per_node N -m curate.cli train ...`).

Memory: the loss never holds a whole batch's logits (`train.loss`: head + CE over chunks of tokens)
and, by default, each layer's activations are recomputed in the backward pass (activation
checkpointing: the same gradients, about a third more training compute), and large freed blocks go
back to the OS instead of piling up in the C heap (`train.heap`); peak resident memory of
a default run is measured by benchmarks/train_memory.py (numbers in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from curate import load, probe
from curate.catalog import SourceSpec
from curate.errors import CurateError
from curate.records import render
from train import heap
from train.evaluate import EvalConfig, EvalResult, cached_base_eval, evaluate
from train.loss import DEFAULT_CHUNK, make_loss_module

RUN_FILES = ("adapter", "metrics.json", "loss.png")
"""What a train run folder holds (also how folders written before output markers are recognised)."""
EXECUTION_FIELDS = ("grad_checkpointing", "loss_chunk", "mmap_threshold", "resident_cap")
"""LoraTrainConfig fields that change memory and time, not the result (left out of `key()`)."""


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
    grad_checkpointing: bool = True
    """Recompute each layer's activations in the backward pass instead of keeping them all: the same
    gradients (dropout draws are replayed), about a third more training compute, and the activation
    memory of one layer instead of every layer (for SmolLM2 at 8 × 256 tokens, every layer's would be
    several GB)."""
    loss_chunk: int = DEFAULT_CHUNK
    """Tokens per chunk of output-head logits in the loss (memory bound; the whole batch's logits are
    never held)."""
    mmap_threshold: int = heap.DEFAULT_MMAP_THRESHOLD
    """Bytes from which the C allocator gives a block its own pages, returned to the OS when freed
    (glibc `M_MMAP_THRESHOLD`, set for the rest of the process; 0 = leave the allocator alone).
    Without it freed activations stay resident in the heap (one default step of SmolLM2 peaked at
    4.0 GiB; `train.heap`, benchmarks/RESULTS.md "Training memory")."""
    resident_cap: int = 0
    """Bytes of resident memory above which free heap pages are handed back (malloc_trim) before each
    layer runs in training (0 = never; `train.heap.cap_resident`)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """How the target is scored before and after."""

    def key(self) -> dict[str, Any]:
        """JSON-able identity of the run (for reuse of finished runs): what decides the result, not the
        memory/time settings."""
        d = {k: v for k, v in asdict(self).items() if k not in EXECUTION_FIELDS}
        return {**d, "eval": self.eval.key(), "model": probe.model_id(self.model)}

    def validate(self) -> None:
        """One-line `CurateError` for settings that cannot work, before anything is loaded: numbers out of
        range, and a model that is neither pulled, a model folder, nor (offline) in the hub cache."""
        for name, low in (("budget", 1), ("epochs", 1), ("r", 1), ("batch_size", 1), ("max_length", 2),
                          ("loss_chunk", 1), ("mmap_threshold", 0), ("resident_cap", 0)):
            if getattr(self, name) < low:
                raise CurateError(f"{_FLAGS.get(name, name)} must be at least {low}, got {getattr(self, name)}")
        for name in ("lr", "alpha"):
            if not getattr(self, name) > 0:
                raise CurateError(f"{_FLAGS[name]} must be positive, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise CurateError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise CurateError("weight decay and max grad norm must not be negative")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise CurateError(f"--mixed-precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        self.eval.validate()
        check_model(self.model)


_FLAGS = {"budget": "--budget", "epochs": "--epochs", "r": "--lora-r", "alpha": "--lora-alpha", "lr": "--lr",
          "batch_size": "--batch-size", "max_length": "--max-length", "loss_chunk": "loss chunk"}


def looks_like_path(name: str) -> bool:
    """A model argument meant as a local folder (hub ids are `name` or `org/name`)."""
    return (name.startswith(("/", "./", "../", "~")) or name in (".", "..") or name.count("/") > 1
            or name.endswith("/") or (os.sep != "/" and os.sep in name))


def check_model(model: str, flag: str = "--model") -> None:
    """Fail in one line, without loading anything, on a model that cannot load: a path-looking name
    that does not exist ("no such folder"), a folder without config.json, a built-in not pulled yet,
    or (offline) a hub id that is not in the hub cache."""
    if model not in probe.BUILTIN_MODELS and looks_like_path(model) and not Path(model).expanduser().exists():
        raise CurateError(f"{flag} {model}: no such folder (give a model folder, a built-in name such as "
                          f"{probe.DEFAULT_PROBE}, or a hub id)")
    probe.resolve(model)


def check_run_folder(out: Path | str, inputs: Sequence[Path | str] = ()) -> Path:
    """Refuse (one line, nothing changed) an `--out` that is a file, unwritable, holds or is inside one of
    `inputs`, or is a non-empty folder holding files no earlier `curate train` wrote; returns it absolute.
    An earlier run folder is replaced (see `curate.outdir`)."""
    from curate import outdir

    return outdir.check(out, "train", inputs=inputs, legacy=RUN_FILES)


@contextmanager
def _quiet_peft_deprecations() -> Iterator[None]:
    """peft reads `model.is_gradient_checkpointing`, which transformers 5 deprecates with a FutureWarning
    on every LoRA wrap/load; that warning is theirs, not the user's to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


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
               target_name: str = "target", log: Callable[[str], None] | None = None,
               inputs: Sequence[Path | str] = ()) -> dict[str, Any]:
    """Fine-tune, evaluate before/after, write `out/adapter`, `out/metrics.json`, `out/loss.png`.

    Settings and `out` are checked before anything loads (`LoraTrainConfig.validate`, `check_run_folder`:
    a non-empty `out` must hold an earlier train run, which is replaced; `inputs` are folders the data
    came from, which `out` must not hold or sit in). Progress goes to `curate.progress` (eval items,
    train steps) and `log` (one line per step and per eval).
    """
    config.validate()
    out = check_run_folder(out, inputs)
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from peft import LoraConfig, get_peft_model

    from curate import outdir, progress as events
    from train.plots import loss_curve

    say = log or (lambda _m: None)
    rss: dict[str, float] = {}
    heap.limit_retention(config.mmap_threshold)
    # cpu=True without CUDA lets torchrun / accelerate launch spread a CPU run over processes (gloo).
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    model, tokenizer = probe.load(config.model)

    chunks, used, n_records = select_tokens(train_ds, tokenizer, config.budget, config.seed)
    sequences = make_sequences(chunks, config.max_length, config.packing)
    say(f"{train_name}: {used} tokens from {n_records} records -> {len(sequences)} sequences")
    rss["load"] = peak_rss_mib()

    target_fp = load.fingerprint(target_ds)
    before, eval_before_s = None, None
    if accelerator.is_main_process:
        t0 = time.time()
        before = cached_base_eval(model.to(accelerator.device), tokenizer, probe.model_id(config.model),
                                  target_ds, target_fp, config.eval, name=f"{target_name} (base)")
        eval_before_s = time.time() - t0
        say(f"base eval on {target_name}: CE {before.ce:.4f} ({eval_before_s:.0f}s, cached after the first time)")
    rss["base_eval"] = peak_rss_mib()
    heap.release()  # the eval's free heap pages, before training allocates its own

    if config.grad_checkpointing:
        # non-reentrant checkpoints; RNG (dropout) is replayed in the recompute, so gradients are unchanged
        enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5
        if enable is not None:
            enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    torch.manual_seed(config.seed)  # LoRA A matrices are random-initialised
    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=_lora_targets(config.target_modules), task_type="CAUSAL_LM")
    with _quiet_peft_deprecations():
        model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    loader = torch.utils.data.DataLoader(sequences, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(config.seed))
    # The model and its chunked loss as one module, so DDP (several processes) sees one forward per step.
    step_loss = make_loss_module(model, config.loss_chunk)
    step_loss, optimizer, loader = accelerator.prepare(step_loss, optimizer, loader)
    cap_hooks = heap.cap_resident(model, config.resident_cap)

    losses: list[float] = []
    t0 = time.time()
    step_loss.train()
    with events.task(f"train: {train_name}", total=config.epochs * len(loader), unit="steps") as task:
        for epoch in range(config.epochs):
            for batch in loader:
                loss = step_loss(**batch)
                accelerator.backward(loss)
                if config.max_grad_norm:
                    accelerator.clip_grad_norm_(step_loss.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
                losses.append(float(accelerator.reduce(loss.detach(), reduction="mean")))
                task.advance(epoch=epoch + 1, loss=f"{losses[-1]:.4f}")
                say(f"epoch {epoch + 1} step {len(losses)}: loss {losses[-1]:.4f}")
    train_seconds = time.time() - t0
    for hook in cap_hooks:
        hook.remove()
    rss["train"] = peak_rss_mib()
    heap.release()

    accelerator.wait_for_everyone()
    result: dict[str, Any] = {}
    if accelerator.is_main_process:
        # eval precision: config.eval
        peft_model = accelerator.unwrap_model(step_loss, keep_fp32_wrapper=False).lm
        t0 = time.time()
        after = evaluate(peft_model, tokenizer, target_ds, config.eval, name=f"{target_name} (tuned)")
        eval_after_s = time.time() - t0
        rss["tuned_eval"] = peak_rss_mib()
        say(f"tuned eval on {target_name}: CE {after.ce:.4f} ({eval_after_s:.0f}s)")
        result = {
            "train": train_name, "target": target_name, "target_fingerprint": target_fp,
            "model": config.model, "model_id": probe.model_id(config.model),
            "eval_ce_before": before.ce, "eval_ce_after": after.ce,
            "eval_ppl_before": before.perplexity, "eval_ppl_after": after.perplexity,
            "eval_tokens": after.tokens, "eval_items": after.items,
            "train_tokens": used, "train_records": n_records, "train_sequences": len(sequences),
            "train_loss": losses, "train_seconds": train_seconds, "trainable_params": trainable,
            "eval_seconds_before": eval_before_s, "eval_seconds_after": eval_after_s,
            "peak_rss_mib": rss,
            "processes": accelerator.num_processes, "device": str(accelerator.device),
            "seed": config.seed, "config": asdict(config), "key": config.key(),
            "train_fingerprint": load.fingerprint(train_ds),
        }
        from curate.cache import atomic_write_bytes

        # Everything is written into a temporary folder and moved in at the end (an earlier run's
        # files are replaced, a user's are never touched; an interrupted run leaves the old one whole).
        tmp = outdir.new_tmp(out)
        try:
            with _quiet_peft_deprecations():
                peft_model.save_pretrained(tmp / "adapter")
            loss_curve(losses, tmp / "loss.png", title=f"{train_name}: LoRA train loss "
                       f"(eval CE {before.ce:.3f} -> {after.ce:.3f})",
                       steps_per_epoch=math.ceil(len(sequences) / config.batch_size / accelerator.num_processes))
            atomic_write_bytes(tmp / "metrics.json", json.dumps(result, indent=2, default=str).encode("utf-8"))
        except BaseException:
            outdir.shutil.rmtree(tmp, ignore_errors=True)
            raise
        outdir.install(tmp, out, "train", legacy=RUN_FILES)
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
    with _quiet_peft_deprecations():
        tuned = PeftModel.from_pretrained(base, str(run / "adapter"))
    tuned.eval()
    return tuned, tokenizer


def reload_eval(run: Path, target_ds, config: EvalConfig | None = None) -> EvalResult:
    """Target CE of a saved run's adapter (checks that what was saved is what was measured)."""
    model, tokenizer = load_adapter(run)
    return evaluate(model, tokenizer, target_ds, config or EvalConfig())
