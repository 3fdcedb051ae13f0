"""Task2Vec: the diagonal Fisher information of a probe LM on a batch, as the batch's embedding.

alignment(S, T) = 1 − mean over batch pairs of the Task2Vec distance between Fisher embeddings
(Chawla et al. 2501.08496), estimated the way the developers' guide requires: labels drawn from the
model's own predictive distribution at the position they are scored, padding masked, per-sequence
squared gradients (never the square of a mini-batch mean), distinct batches, eval mode, fp32.

Two scopes:
- `head` (default): the trunk is frozen and run once under no_grad; the Fisher of an untied copy
  of the output head has a closed form. For a softmax linear head W (V × d), hidden states h_t and
  predictive distributions p_t, the per-sequence gradient is g = Σ_t (e_{y_t} − p_t) h_tᵀ and, with
  y_t ~ p_t independent, E[g²][v, j] = Σ_t p_tv (1 − p_tv) h_tj² (cross terms vanish). Its mean
  over j (one value per vocabulary row) is Σ_t p_tv (1 − p_tv) ‖h_t‖² / d, computed exactly.
- `body`: Fisher of the Linear layers of chosen transformer blocks from per-sequence squared
  gradients with sampled labels, one batched backward: hooks keep each layer's input x and output
  gradient δ, and grad_n = Σ_t δ_{n,t} x_{n,t}ᵀ per sequence. Reduced to one value per output row.

Embeddings are normalised by the number of real tokens and cached per batch (`curate.cache`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate import batching, coefficients, load, probe, progress, tokens
from curate.artefacts import fingerprint_of
from curate.cache import Cache
from curate.errors import CurateError
from curate.metrics.base import AlignmentMetric, Estimate, Prepared

PRECISIONS = ("fp32", "bf16")

CACHE_VERSION = 1


@dataclass
class Config:
    probe: str = probe.DEFAULT_PROBE
    """Probe model: a built-in name (smollm2), a local model folder, or a hub id."""
    scope: str = "head"
    """'head': exact Fisher of the output head on frozen features (fast). 'body': Fisher of
    transformer blocks from per-sequence gradients with sampled labels (faithful, ~3-4× slower)."""
    batches: int = 4
    """Batches per dataset (K). Alignment averages K×K cross pairs; the CI resamples batches."""
    batch_size: int = 32
    """Sequences per batch."""
    max_length: int = 128
    """Tokens per sequence (longer texts are truncated)."""
    head_epochs: int = 0
    """Head scope: epochs of fine-tuning the untied head copy on the batch's cached features
    (next-token CE, Adam) before the Fisher, Task2Vec's step. 0 by measurement (benchmarks/RESULTS.md,
    "Task2Vec"): with lr 1e-3, E = 0/1/3 gave proofnet-valid − gsm8k alignment gaps to ProofNet of
    0.570/0.527/0.467 (fine-tuning narrows the separation), and each epoch costs ~0.65 of the trunk
    pass, which would break the head ≤ 1.5× forward budget."""
    head_lr: float = 1e-3
    """Head scope: learning rate of that fine-tuning."""
    layers: list[int] | None = None
    """Body scope: indices of the transformer blocks whose Linear weights enter the Fisher
    (negative counts from the end); None = every block."""
    distance: str = "task2vec"
    """'task2vec': each pair rescaled e1/(e1+e2), e2/(e1+e2), then 1 − cosine. 'cosine': plain."""
    whole_set: bool = False
    """The paper's variant: one large batch (batches × batch_size records) per dataset. Its
    alignment averages a single pair, so its CI is degenerate and diversity is undefined."""
    use_cache: bool = True
    """Read cached batch embeddings (they are always written); False recomputes."""
    seed: int = 0
    """Seed of the bootstrap CIs (batch draws and label sampling use the seed passed to prepare)."""
    n_boot: int = 2000
    """Bootstrap resamples for the 95% CIs."""
    micro_batch: int = 8
    """Sequences per forward pass (sorted by length, each padded to its own longest); results do
    not depend on it, only time and memory do."""
    token_chunk: int = 1024
    """Head scope: tokens per logits chunk (bounds memory: chunk × vocabulary floats)."""
    device: str = "auto"
    """Where the probe runs: 'auto' (the first CUDA GPU when there is one, else the CPU), 'cpu',
    'cuda' or 'cuda:N'. Embeddings agree across devices to float32 rounding (sampled labels are
    drawn on the CPU either way), so one cache serves both."""
    precision: str = "fp32"
    """The probe trunk's forward pass: 'fp32', or 'bf16' (autocast; the head Fisher, gradients and
    every accumulator stay fp32). fp32 stays the default by measurement (benchmarks/RESULTS.md,
    "Ranking speed": on the default ranking bf16 keeps the order but moves alignments by up to 0.17 of
    their CI half-width, over the 0.1 bar); bf16 embeddings are cached apart from fp32 ones."""
    threads: int | None = None
    """CPU threads for the probe (torch.set_num_threads); None = picked from the cores this process
    may use and the load average, so a shared machine is not oversubscribed, and picked again before
    every batch as the load changes (`probe.pick_threads`)."""


@dataclass
class Embeddings:
    """What `prepare` keeps: one Fisher embedding per batch, and how they were made."""

    matrix: np.ndarray
    """(batches, dim) float32."""
    tokens: list[int]
    """Real tokens per batch."""
    rows: list[list[int]]
    """Dataset row indices of each batch."""
    key: dict[str, Any] = field(default_factory=dict)
    """The embedding config shared by every batch (cache key less fingerprint, rows, batch)."""


# ---------------------------------------------------------------------------- features

def _micro_batches(batch: batching.Batch, size: int):
    """Length-sorted slices of `batch`, each trimmed to its own longest sequence."""
    lengths = batch.attention_mask.sum(1)
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        longest = max(1, int(lengths[idx].max()))
        yield batch.input_ids[idx, :longest], batch.attention_mask[idx, :longest]


def autocast(model, precision: str = "fp32"):
    """The forward-pass context for `precision` on the model's device (nothing for fp32). One region
    around all micro-batches, so the weights are cast once per batch."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    device = next(model.parameters()).device.type
    return torch.autocast(device_type=device, dtype=torch.bfloat16)


def final_hidden(model, batch: batching.Batch, micro_batch: int = 8, precision: str = "fp32"):
    """Final hidden states (after the last norm) of every real token, (T, d) fp32, and each token's
    next token id (-100 where the sequence ends), computed under no_grad."""
    import torch

    hs, nxt = [], []
    with torch.no_grad(), autocast(model, precision):
        for ids, mask in _micro_batches(batch, micro_batch):
            h = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            real = mask.bool()
            hs.append(h[real].float())
            following = torch.full_like(ids, -100)
            following[:, :-1] = torch.where(mask[:, 1:].bool(), ids[:, 1:], -100)
            nxt.append(following[real])
    return torch.cat(hs), torch.cat(nxt)


def untied_head(model):
    """A detached fp32 copy (weight V × d, bias or None) of the output head."""
    head = model.get_output_embeddings()
    w = head.weight.detach().float().clone()
    b = head.bias.detach().float().clone() if getattr(head, "bias", None) is not None else None
    return w, b


def finetune_head(w, b, h, nxt, epochs: int, lr: float, token_chunk: int = 1024):
    """Task2Vec's step: fit the head copy to next tokens on cached features (deterministic)."""
    import torch

    if epochs <= 0:
        return w, b
    w = w.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True) if b is not None else None
    opt = torch.optim.Adam([p for p in (w, b) if p is not None], lr=lr)
    keep = nxt >= 0
    h, nxt = h[keep], nxt[keep]
    with torch.enable_grad():
        for _ in range(epochs):
            for start in range(0, h.shape[0], token_chunk):
                logits = h[start:start + token_chunk] @ w.T
                if b is not None:
                    logits = logits + b
                loss = torch.nn.functional.cross_entropy(logits, nxt[start:start + token_chunk])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return w.detach(), (b.detach() if b is not None else None)


def head_fisher_from_features(w, b, h, token_chunk: int = 1024):
    """Exact expected Fisher of the head, mean over each vocabulary row: (V,) fp32, summed over tokens."""
    import torch

    d = w.shape[1] + (1 if b is not None else 0)
    sq = (h * h).sum(1) + (1.0 if b is not None else 0.0)  # ‖h_t‖² (+1 for the bias input)
    out = torch.zeros(w.shape[0], dtype=torch.float32, device=w.device)
    with torch.no_grad():
        for start in range(0, h.shape[0], token_chunk):
            logits = h[start:start + token_chunk] @ w.T
            if b is not None:
                logits = logits + b
            p = torch.softmax(logits, dim=-1)
            out += sq[start:start + token_chunk] @ (p * (1.0 - p))
    return out / d


def head_embedding(model, batch: batching.Batch, epochs: int = 0, lr: float = 1e-3,
                   micro_batch: int = 8, token_chunk: int = 1024, precision: str = "fp32"):
    """Head-scope embedding of one batch: (V,) fp32, per real token (the trunk runs at `precision`)."""
    h, nxt = final_hidden(model, batch, micro_batch, precision)
    w, b = untied_head(model)
    w, b = finetune_head(w, b, h, nxt, epochs, lr, token_chunk)
    return head_fisher_from_features(w, b, h, token_chunk) / max(1, h.shape[0])


# ---------------------------------------------------------------------------- body

def blocks(model):
    """The transformer's block list (Llama `layers`, GPT-2 `h`, ...)."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    for _, child in model.base_model.named_children():
        if isinstance(child, torch.nn.ModuleList) and (n is None or len(child) == n):
            return child
    raise CurateError(f"cannot find the transformer blocks of {type(model).__name__}")


def _linear_layers(block):
    """(name, module, conv1d) for every Linear-like weight of a block (GPT-2 uses Conv1D)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    return [(name, m, isinstance(m, Conv1D)) for name, m in block.named_modules()
            if isinstance(m, (torch.nn.Linear, Conv1D))]


def sample_labels(probs, generator):
    """One label per row of `probs` (inverse CDF: one uniform per row, far cheaper than multinomial)."""
    import torch

    cdf = probs.cumsum(-1)
    # uniforms come from the (CPU) generator whatever the device, so labels do not depend on it
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=cdf.dtype).to(cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=probs.shape[1] - 1)


def per_sequence_row_sq(x, g, has_bias: bool = False):
    """For a Linear layer with inputs x (n, T, in) and output gradients g (n, T, out): the mean over
    each output row of the squared per-sequence weight gradient G_n = Σ_t g_{n,t} x_{n,t}ᵀ (and bias
    gradient), (n, out). With T < in·out/(in+out) it goes through the T × T Gram matrix of x
    (‖G_n[o]‖² = g_{n,:,o}ᵀ (x_n x_nᵀ) g_{n,:,o}) instead of building G_n."""
    import torch

    n, t, d_in = x.shape
    d_out = g.shape[-1]
    if t * (d_in + d_out) < d_in * d_out:
        gram = torch.bmm(x, x.transpose(1, 2))  # (n, T, T)
        row = (g * torch.bmm(gram, g)).sum(1)
    else:
        gs = torch.bmm(g.transpose(1, 2), x)  # (n, out, in)
        row = (gs * gs).sum(-1)
    width = d_in
    if has_bias:
        row = row + g.sum(1) ** 2
        width += 1
    return row / width


def body_embedding(model, batch: batching.Batch, layers: list[int] | None = None, seed: int = 0,
                   micro_batch: int = 8, precision: str = "fp32"):
    """Body-scope embedding of one batch: per-output-row mean of the per-sequence squared gradients
    of the chosen blocks' Linear weights (and biases), labels sampled from the model, per real token."""
    import torch

    all_blocks = blocks(model)
    n = len(all_blocks)
    chosen = sorted({i % n for i in (layers if layers is not None else range(n))})
    if not chosen or any(not -n <= i < n for i in (layers or [])):
        raise CurateError(f"layers must index the probe's {n} blocks, got {layers}")
    targets = [(f"{i}.{name}", m, conv) for i in chosen for name, m, conv in _linear_layers(all_blocks[i])]
    device = next(model.parameters()).device
    acc = {name: torch.zeros(m.weight.shape[1] if conv else m.weight.shape[0], device=device)
           for name, m, conv in targets}
    state: dict[str, Any] = {}

    def start_grad(_module, args, kwargs):  # backward needs to reach the lowest chosen block only
        if args:
            return (args[0].detach().requires_grad_(True), *args[1:]), kwargs
        kwargs["hidden_states"] = kwargs["hidden_states"].detach().requires_grad_(True)
        return args, kwargs

    def capture(name: str, has_bias: bool):
        def hook(_module, inputs, output):
            x = inputs[0].detach().float()

            def on_grad(g):
                g = g.float() * state["mask"]
                acc[name] += per_sequence_row_sq(x, g, has_bias).sum(0)

            if output.requires_grad:
                output.register_hook(on_grad)
        return hook

    saved = [(p, p.requires_grad) for p in model.parameters()]
    handles = [all_blocks[chosen[0]].register_forward_pre_hook(start_grad, with_kwargs=True)]
    handles += [m.register_forward_hook(capture(name, m.bias is not None)) for name, m, conv in targets]
    gen = torch.Generator().manual_seed(seed)
    total = 0
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        with torch.enable_grad():
            for ids, mask in _micro_batches(batch, micro_batch):
                state["mask"] = mask.unsqueeze(-1).float()
                with autocast(model, precision):
                    logits = model(input_ids=ids, attention_mask=mask).logits
                real = mask.bool()
                scored = logits[real].float()
                labels = sample_labels(torch.softmax(scored.detach(), -1), gen)
                torch.nn.functional.cross_entropy(scored, labels, reduction="sum").backward()
                total += int(real.sum())
    finally:
        for h in handles:
            h.remove()
        for p, flag in saved:
            p.requires_grad_(flag)
    return torch.cat([acc[name] for name, _, _ in targets]) / max(1, total)


# ---------------------------------------------------------------------------- metric

def _coefficients_code() -> str:
    """A hash of the code behind the coefficients and their CIs: editing it invalidates cached estimates."""
    import hashlib
    from pathlib import Path

    root = Path(coefficients.__file__).parent
    return hashlib.sha256(b"".join((root / f).read_bytes() for f in ("coefficients.py", "stats.py"))).hexdigest()[:16]


class Task2VecMetric(AlignmentMetric):
    """Task2Vec alignment/diversity over K distinct batches per dataset, cached per batch.

    Each missing batch is computed under a per-entry lock and published write-once (`Cache.compute`),
    so concurrent runs on one cache compute it once and agree; an interrupt discards the batch in
    flight and keeps every finished one. Progress: one `progress` task per dataset with a missing
    batch (or, when `reporter` is set, advances on that shared task), with source and batch i/K."""

    name = "task2vec"
    Config = Config

    def __init__(self, config: Config | None = None):
        super().__init__(config)
        c = self.config
        if c.scope not in ("head", "body"):
            raise CurateError(f"task2vec scope must be 'head' or 'body', got {c.scope!r}")
        if c.distance not in coefficients.DISTANCES:
            raise CurateError(f"task2vec distance must be one of {', '.join(coefficients.DISTANCES)}, got {c.distance!r}")
        for fname in ("batches", "batch_size", "max_length", "micro_batch", "token_chunk", "n_boot"):
            if getattr(c, fname) < 1:
                raise CurateError(f"task2vec {fname} must be at least 1, got {getattr(c, fname)}")
        if c.head_epochs < 0:
            raise CurateError(f"task2vec head_epochs must be >= 0, got {c.head_epochs}")
        if c.precision not in PRECISIONS:
            raise CurateError(f"task2vec precision must be one of {', '.join(PRECISIONS)}, got {c.precision!r}")
        if c.threads is not None and c.threads < 1:
            raise CurateError(f"task2vec threads must be at least 1, got {c.threads}")
        self._model = None
        self._warm: probe.Warm | None = None
        self._device = None
        if c.device != "auto":  # checked now; 'auto' is resolved on first use (no torch import before)
            self._device = probe.resolve_device(c.device, "task2vec")
        self.cache = Cache("task2vec", enabled=c.use_cache)
        self.token_cache = Cache("batch-tokens", enabled=c.use_cache)
        self.estimates = Cache("task2vec-estimates", enabled=c.use_cache)
        self._memo: dict[str, dict[str, Any]] = {}
        self.reporter: progress.Task | None = None
        """A shared progress task to advance per computed batch (set by `curate.rank`)."""
        self.batch_seconds: list[float] = []
        """Wall time of every batch computed by this instance (probe loading not included)."""
        self.batch_threads: list[int] = []
        """CPU threads each of those batches ran with (re-picked before each batch, `probe.set_threads`)."""

    @property
    def device(self):
        if self._device is None:
            self._device = probe.resolve_device(self.config.device, "task2vec")
        return self._device

    def warm_up(self) -> None:
        """Start loading the probe onto its device in the background (`probe.Warm`), so that the
        imports, the weights and the device's start-up overlap the data work; `model()` waits for it."""
        if self._model is None and self._warm is None:
            self._warm = probe.Warm(self.config.probe, self.config.device, "task2vec")

    def model(self):
        """The probe, loaded once per metric instance on first use (or by `warm_up`)."""
        if self._model is None:
            self.warm_up()
            assert self._warm is not None
            model, device = self._warm.get()
            if self._device is None:
                self._device = device
            if self._device.type == "cpu":  # here: torch's thread count is the calling thread's
                probe.set_threads(self.config.threads)
            self._model = model
        return self._model

    def embedding_key(self) -> dict[str, Any]:
        """Everything besides data, rows and batch index that an embedding depends on."""
        c = self.config
        key: dict[str, Any] = {"v": CACHE_VERSION, "probe": probe.model_id(c.probe), "scope": c.scope,
                               "max_length": c.max_length}
        if c.scope == "head":
            key.update(head_epochs=c.head_epochs, head_lr=c.head_lr if c.head_epochs else None)
        else:
            key.update(layers=list(c.layers) if c.layers is not None else None)
        if c.precision != "fp32":  # fp32 keys are those written before precision existed
            key["precision"] = c.precision
        return key

    def plan(self, records: int, seed: int, batches: int | None = None) -> batching.BatchPlan:
        """The batches of a dataset of `records` records (`batches` overrides the config's K)."""
        c = self.config
        k = batches or c.batches
        if c.whole_set:
            plan = batching.draw(records, 1, c.batches * c.batch_size, seed)
            plan.notes.append(f"whole-set variant: one batch of {plan.used} records; the alignment CI is "
                              "degenerate (a single pair) and diversity is undefined")
            return plan
        return batching.draw(records, k, c.batch_size, seed)

    def embed(self, batch: batching.Batch, seed: int):
        """One batch's Fisher embedding, (dim,) fp32 on the CPU."""
        c = self.config
        batch = batching.Batch(batch.input_ids.to(self.device), batch.attention_mask.to(self.device))
        if c.scope == "head":
            vec = head_embedding(self.model(), batch, c.head_epochs, c.head_lr, c.micro_batch, c.token_chunk,
                                 c.precision)
        else:
            vec = body_embedding(self.model(), batch, c.layers, seed, c.micro_batch, c.precision)
        return vec.float().cpu()

    # -- the per-batch cache
    def batch_keys(self, fingerprint: str, plan: batching.BatchPlan, seed: int) -> list[dict[str, Any]]:
        base = self.embedding_key()
        return [{**base, "fingerprint": fingerprint, "seed": seed, "batch": i, "rows": rows}
                for i, rows in enumerate(plan.rows)]

    def _read(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """A cached batch as {"embedding": (dim,) float32 array, "tokens": int}; numpy entries first,
        then those older versions wrote with torch (read only when such a file exists)."""
        from curate.cache import key_hash

        h = key_hash(key)
        if h in self._memo:  # read once per run (pending() and prepare() both ask)
            return self._memo[h]
        hit = self.cache.get(key, ".npz")
        if hit is None and self.cache.enabled and self.cache.path(key, ".pt").exists():
            hit = self.cache.get(key, ".pt")
            if hit is not None:  # migrate it, so later runs read it without importing torch
                hit = {"embedding": hit["embedding"].float().numpy(), "tokens": np.array(int(hit["tokens"]))}
                hit = self.cache.put(key, hit, ".npz")
        if hit is None:
            return None
        self._memo[h] = {"embedding": np.asarray(hit["embedding"], dtype=np.float32), "tokens": int(hit["tokens"])}
        return self._memo[h]

    def pending(self, dataset, seed: int, batches: int | None = None) -> int:
        """How many batches `prepare` would have to compute (the rest are cached)."""
        plan = self.plan(len(dataset), seed, batches)
        return sum(self._read(k) is None for k in self.batch_keys(fingerprint_of(dataset), plan, seed))

    def records_job(self, seed: int, batches: tuple[int | None, ...] = (None,)) -> "BatchTokens | None":
        """What a process that reads a source's records (`curate.sourcepool`) should take from them for
        `prepare`: the token ids of the batches to embed under each K in `batches` (None = the config's).
        None with the cache off (`prepare` then tokenizes the records itself)."""
        return BatchTokens(self.config, seed, tuple(batches)) if self.config.use_cache else None

    def cache_tokens(self, dataset, seed: int, batches: int | None = None) -> None:
        """Write to the cache the token ids of the batches of `dataset` whose embeddings are missing."""
        fp = fingerprint_of(dataset)
        plan = self.plan(len(dataset), seed, batches)
        missing = [i for i, k in enumerate(self.batch_keys(fp, plan, seed)) if self._read(k) is None]
        if missing:
            self._sequences(dataset, fp, plan, missing)

    def _sequences(self, dataset, fingerprint: str, plan: batching.BatchPlan, wanted: list[int]) -> dict[int, list]:
        """Token ids of each wanted batch's records: cached per batch (by fingerprint, tokenizer,
        max_length and rows), so recomputing embeddings (another precision, --no-cache) needs no
        loading, rendering or tokenizing; otherwise rendered and tokenized in one call."""
        c = self.config
        keys = {i: {"v": 1, "fingerprint": fingerprint, "tokenizer": probe.model_id(c.probe),
                    "max_length": c.max_length, "rows": plan.rows[i]} for i in wanted}
        out: dict[int, list] = {}
        for i in wanted:
            hit = self.token_cache.get(keys[i], ".npz")
            if hit is not None:
                ids, lengths = hit["ids"].tolist(), hit["lengths"].tolist()
                bounds = np.cumsum([0, *lengths])
                out[i] = [ids[bounds[j]:bounds[j + 1]] for j in range(len(lengths))]
        todo = [i for i in wanted if i not in out]
        if todo:
            tok = tokens.tokenizer_for(c.probe)
            rows = [r for i in todo for r in plan.rows[i]]
            with progress.task("task2vec: tokenizing", total=len(rows), unit="records"):
                seqs = dict(zip(rows, batching.tokenize(load.texts(dataset.select(rows)), tok, c.max_length)))
            for i in todo:
                out[i] = [seqs[r] for r in plan.rows[i]]
                flat = np.array([t for s in out[i] for t in s], dtype=np.int64)
                self.token_cache.put(keys[i], {"ids": flat, "lengths": np.array([len(s) for s in out[i]])}, ".npz")
        return out

    def prepare(self, name: str, dataset, seed: int, batches: int | None = None) -> Prepared:
        """Embed K distinct batches of `dataset` (`batches` overrides K; batch i is the same for any K
        when the dataset holds K × batch_size records), reading what the cache has."""
        fp = fingerprint_of(dataset)
        plan = self.plan(len(dataset), seed, batches)
        keys = self.batch_keys(fp, plan, seed)
        entries = [self._read(k) for k in keys]
        missing = [i for i, e in enumerate(entries) if e is None]
        if missing:
            seqs = self._sequences(dataset, fp, plan, missing)
            pad = batching.pad_id(tokens.tokenizer_for(self.config.probe))
            own = self.reporter is None
            with (progress.task("task2vec: embedding", total=len(missing), unit="batches", source=name)
                  if own else contextlib.nullcontext(self.reporter)) as task:
                for i in missing:  # each batch is published as soon as it is done: an interrupt loses one
                    entries[i] = self._read(keys[i]) or self._compute(keys[i], seqs[i], pad, seed, i)
                    task.advance(source=name, batch=f"{i + 1}/{len(plan.rows)}")
        matrix = np.stack([e["embedding"] for e in entries]).astype(np.float32)
        data = Embeddings(matrix=matrix, tokens=[int(e["tokens"]) for e in entries], rows=plan.rows,
                          key=self.embedding_key())
        return Prepared(name=name, fingerprint=fp, records=len(dataset), used=plan.used, data=data, notes=plan.notes)

    def _compute(self, key: dict[str, Any], seqs: list, pad: int, seed: int, i: int) -> dict[str, Any]:
        def run():
            self.model()  # a first batch's time is the batch alone, not the probe load
            if self.device.type == "cpu":  # other jobs' load may have changed since the last pick
                self.batch_threads.append(probe.set_threads(self.config.threads, repick=True) if self.batch_seconds
                                          else probe.current_threads())
            t0 = time.perf_counter()
            batch = batching.collate(seqs, pad)
            vec = self.embed(batch, seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
            self.batch_seconds.append(time.perf_counter() - t0)
            return {"embedding": vec.numpy().astype(np.float32), "tokens": np.array(batch.tokens)}

        hit = self.cache.compute(key, run, ".npz")
        return {"embedding": np.asarray(hit["embedding"], dtype=np.float32), "tokens": int(hit["tokens"])}

    def _check(self, *prepared: Prepared) -> None:
        widths = {p.data.matrix.shape[1] for p in prepared}
        keys = {str(sorted(p.data.key.items())) for p in prepared}
        if len(widths) > 1 or len(keys) > 1:
            raise CurateError("task2vec: datasets were embedded with different probes or settings; re-prepare them")

    def _estimate(self, kind: str, fn, *matrices: np.ndarray) -> Estimate:
        """A coefficient with its bootstrap CI, cached by the embeddings' bytes and the settings (the
        2,000 bootstrap resamples are most of a cached ranking's time otherwise)."""
        import hashlib

        c = self.config
        key = {"v": 1, "code": _coefficients_code(), "kind": kind, "distance": c.distance, "n_boot": c.n_boot,
               "seed": c.seed,
               "embeddings": [hashlib.sha256(np.ascontiguousarray(m, dtype=np.float32).tobytes()).hexdigest()
                              + f":{m.shape[0]}x{m.shape[1]}" for m in matrices]}
        hit = self.estimates.get(key)
        if hit is not None:
            return Estimate(float(hit["value"]), float(hit["ci_low"]), float(hit["ci_high"]), int(hit["n"]))
        est = fn(*matrices, c.distance, c.n_boot, c.seed)
        self.estimates.put(key, est.to_json())
        return est

    def alignment(self, source: Prepared, target: Prepared) -> Estimate:
        self._check(source, target)
        return self._estimate("alignment", coefficients.alignment, source.data.matrix, target.data.matrix)

    def diversity(self, prepared: Prepared) -> Estimate:
        return self._estimate("diversity", coefficients.diversity, prepared.data.matrix)


@dataclass(frozen=True)
class BatchTokens:
    """Task2Vec's records job (`Task2VecMetric.records_job`): run where a source's records are held, it
    caches the token ids of the batches to embed, which `prepare` then reads instead of the records."""

    config: Config
    seed: int
    batches: tuple[int | None, ...] = (None,)

    def __call__(self, name: str, dataset) -> None:
        metric = Task2VecMetric(dataclasses.replace(self.config, device="auto"))  # no device needed (nor torch)
        for k in self.batches:
            metric.cache_tokens(dataset, self.seed, k)


__all__ = ["Config", "Task2VecMetric", "BatchTokens", "Embeddings", "head_embedding", "body_embedding", "final_hidden",
           "untied_head", "finetune_head", "head_fisher_from_features", "blocks"]

