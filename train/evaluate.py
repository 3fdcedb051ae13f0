"""Cross-entropy and perplexity of a causal LM on a records dataset (the eval target).

Items are tokenized once, sorted by length and cut into micro-batches (bounded in items and padded
tokens) so little compute goes to padding; the output head runs only on the positions that predict
a scored token, in chunks (`train.loss`), so no batch's logits are ever held whole. The loss is a
token-weighted mean over predicted tokens, with padding (by attention mask, never a pad id) and,
optionally, the informal prompt masked out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

from curate.records import DEFAULT_RENDER, render


@dataclass
class EvalConfig:
    batch_size: int = 16
    """Items per forward pass (items are sorted by length first, so batches pad little)."""
    max_length: int = 512
    """Tokens kept per item (longer items are truncated; ProofNet items are far shorter)."""
    autocast: str = "no"
    """Compute dtype of the forward pass: no (float32) or bf16 (autocast; about 2x faster on CPUs with
    AVX512-BF16 and on GPUs, CE within ~0.01). Part of the cache key."""
    limit: int | None = None
    """Score a seeded sample of this many items (None = every item); for quick runs on slow machines."""
    sample_seed: int = 0
    """Seed of that sample (fixed, so every run in a comparison scores the same items)."""
    formal_only: bool = False
    """Score only the formal side of pair records, given the informal prompt (prompt tokens masked).
    Records without both sides are scored whole."""
    batch_tokens: int = 4096
    """At most this many padded tokens per forward pass (memory bound; an item longer than this is
    scored alone). How the work is cut, not what is measured: not part of the cache key."""
    head_chunk: int = 256
    """Scored tokens per chunk of output-head logits (memory bound; 256 × 49k vocabulary = 48 MiB).
    Not part of the cache key."""

    def validate(self) -> None:
        """One-line `CurateError` for settings that cannot work (before any model is loaded)."""
        from curate.errors import CurateError

        if self.autocast not in ("no", "bf16"):
            raise CurateError(f"eval autocast must be no or bf16, got {self.autocast!r}")
        for field_name, low in (("batch_size", 1), ("max_length", 2), ("batch_tokens", 2), ("head_chunk", 1)):
            if getattr(self, field_name) < low:
                raise CurateError(f"eval {field_name} must be at least {low}, got {getattr(self, field_name)}")
        if self.limit is not None and self.limit < 1:
            raise CurateError(f"eval limit must be at least 1 (or none for every item), got {self.limit}")

    def key(self) -> dict[str, Any]:
        """The fields that decide the measured CE (cache keys): not the memory bounds."""
        return {k: v for k, v in asdict(self).items() if k not in EXECUTION_FIELDS}


EXECUTION_FIELDS = ("batch_tokens", "head_chunk")
"""EvalConfig fields that change how the work is cut, not the result (left out of cache keys)."""


@dataclass
class EvalResult:
    ce: float
    """Token-weighted mean cross-entropy (nats per predicted token)."""
    perplexity: float
    tokens: int
    """Predicted tokens scored."""
    items: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def split_prompt(row: dict[str, Any]) -> tuple[str, str]:
    """(prompt, completion) of a record for formal-only scoring: the rendered pair cut before the formal side."""
    informal, formal = (row.get("informal") or "").strip(), (row.get("formal") or "").strip()
    template = DEFAULT_RENDER.pair_template
    if row.get("kind") != "pair" or not informal or not formal or "{formal}" not in template:
        return "", render(row)
    head, tail = template.split("{formal}", 1)
    prompt = head.format(informal=informal).rstrip()
    completion = render(row)[len(prompt):]
    return prompt, completion


def encode_items(ds, tokenizer, config: EvalConfig) -> list[tuple[list[int], int]]:
    """(token ids, number of leading ids not scored) per record, in dataset order.

    No special tokens are added (as in training), so the first token of each item is context only.
    """
    items = []
    for row in ds:
        prompt, completion = split_prompt(row) if config.formal_only else ("", render(row))
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
        c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        ids = (p + c)[: config.max_length]
        # The first token is never predicted; with a prompt, the prompt's tokens are context only.
        items.append((ids, max(len(p), 1)))
    return items


def micro_batches(lengths: list[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Indices sorted by length, cut into batches of at most `batch_size` items and `batch_tokens` padded
    tokens (a single longer item gets a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and (len(batches[-1]) + 1) * lengths[i] <= batch_tokens:
            batches[-1].append(i)  # sorted: the newcomer is the longest, so it sets the padded width
        else:
            batches.append([i])
    return batches


def evaluate(model, tokenizer, ds, config: EvalConfig | None = None,
             progress: Callable[[int, int], None] | None = None, name: str = "target") -> EvalResult:
    """Mean CE and perplexity of `model` on the records `ds` (model is put in eval mode).

    Length-sorted micro-batches; the output head runs only on positions that predict a scored token,
    a chunk of tokens at a time (`train.loss.token_nll`), so no logits for padding or whole batches.
    Progress goes to `curate.progress` (and the optional `progress(done, total)` callback).
    """
    import torch

    from curate import progress as events
    from curate.errors import CurateError
    from train.loss import token_nll

    config = config or EvalConfig()
    config.validate()
    if config.limit is not None and len(ds) > config.limit:
        import numpy as np

        pick = np.random.default_rng(config.sample_seed).choice(len(ds), size=config.limit, replace=False)
        ds = ds.select(sorted(int(i) for i in pick))
    items = [it for it in encode_items(ds, tokenizer, config) if len(it[0]) > it[1]]
    batches = micro_batches([len(ids) for ids, _ in items], config.batch_size, config.batch_tokens)
    device = next(model.parameters()).device
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    count, done = 0, 0
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.autocast == "bf16")
    with torch.inference_mode(), amp, events.task(f"eval: {name}", total=len(items), unit="items") as task:
        for idx in batches:
            batch = [items[i] for i in idx]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.zeros(len(batch), width, dtype=torch.long)
            attention = torch.zeros(len(batch), width, dtype=torch.long)
            scored = torch.zeros(len(batch), width, dtype=torch.bool)
            for b, (ids, skip) in enumerate(batch):
                input_ids[b, : len(ids)] = torch.tensor(ids)
                attention[b, : len(ids)] = 1
                scored[b, skip: len(ids)] = True  # never padding: padding lies past len(ids)
            input_ids, attention, scored = input_ids.to(device), attention.to(device), scored.to(device)
            nll = token_nll(model, input_ids, attention, scored, config.head_chunk)
            total += nll.sum(dtype=torch.float64).cpu()
            count += nll.numel()
            done += len(batch)
            task.advance(len(batch), tokens=count)
            if progress:
                progress(done, len(items))
    if count == 0:
        raise CurateError("nothing to evaluate: every eval item is empty after tokenization")
    ce = float(total) / count
    return EvalResult(ce=ce, perplexity=math.exp(ce), tokens=count, items=len(items))


def base_eval_key(model_id: str, target_fingerprint: str, config: EvalConfig) -> dict[str, Any]:
    """Cache key of a base-model eval: (model, target fingerprint, eval config)."""
    return {"kind": "base-eval", "model": model_id, "target": target_fingerprint, "config": config.key()}


def cached_base_eval(model, tokenizer, model_id: str, ds, target_fingerprint: str,
                     config: EvalConfig, progress: Callable[[int, int], None] | None = None,
                     name: str = "target") -> EvalResult:
    """`evaluate` of an untuned model, computed once per (model, target, config) via `curate.cache`."""
    from curate.cache import Cache

    cache = Cache("train-eval")
    key = base_eval_key(model_id, target_fingerprint, config)
    hit = cache.get_json(key)
    if hit is not None:
        return EvalResult(**hit)
    result = evaluate(model, tokenizer, ds, config, progress, name=name)
    cache.put_json(key, result.to_json())
    return result
