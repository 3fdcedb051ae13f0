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

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate import batching, coefficients, load, probe, tokens
from curate.cache import Cache
from curate.errors import CurateError
from curate.metrics.base import AlignmentMetric, Estimate, Prepared

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


def final_hidden(model, batch: batching.Batch, micro_batch: int = 8):
    """Final hidden states (after the last norm) of every real token, (T, d) fp32, and each token's
    next token id (-100 where the sequence ends), computed under no_grad."""
    import torch

    hs, nxt = [], []
    with torch.no_grad():
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
                   micro_batch: int = 8, token_chunk: int = 1024):
    """Head-scope embedding of one batch: (V,) fp32, per real token."""
    h, nxt = final_hidden(model, batch, micro_batch)
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
                   micro_batch: int = 8):
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

class Task2VecMetric(AlignmentMetric):
    """Task2Vec alignment/diversity over K distinct batches per dataset, cached per batch."""

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
        self._model = None
        self.device = probe.resolve_device(c.device, "task2vec")
        self.cache = Cache("task2vec", enabled=c.use_cache)

    def model(self):
        """The probe, loaded once per metric instance on first use."""
        if self._model is None:
            self._model, _ = probe.load(self.config.probe)
            self._model.to(self.device).eval()
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
        return key

    def plan(self, records: int, seed: int) -> batching.BatchPlan:
        c = self.config
        if c.whole_set:
            plan = batching.draw(records, 1, c.batches * c.batch_size, seed)
            plan.notes.append(f"whole-set variant: one batch of {plan.used} records; the alignment CI is "
                              "degenerate (a single pair) and diversity is undefined")
            return plan
        return batching.draw(records, c.batches, c.batch_size, seed)

    def embed(self, batch: batching.Batch, seed: int):
        """One batch's Fisher embedding, (dim,) fp32 on the CPU."""
        c = self.config
        batch = batching.Batch(batch.input_ids.to(self.device), batch.attention_mask.to(self.device))
        if c.scope == "head":
            vec = head_embedding(self.model(), batch, c.head_epochs, c.head_lr, c.micro_batch, c.token_chunk)
        else:
            vec = body_embedding(self.model(), batch, c.layers, seed, c.micro_batch)
        return vec.cpu()

    def prepare(self, name: str, dataset, seed: int) -> Prepared:
        import torch

        fp = load.fingerprint(dataset)
        plan = self.plan(len(dataset), seed)
        base = self.embedding_key()
        keys = [{**base, "fingerprint": fp, "seed": seed, "batch": i, "rows": rows} for i, rows in enumerate(plan.rows)]
        entries = [self.cache.get_tensor(k) for k in keys]
        missing = [i for i, e in enumerate(entries) if e is None]
        if missing:
            tok = tokens.tokenizer_for(self.config.probe)
            wanted = [r for i in missing for r in plan.rows[i]]
            seqs = dict(zip(wanted, batching.tokenize(load.texts(dataset.select(wanted)), tok, self.config.max_length)))
            for i in missing:  # each batch is written as soon as it is done: an interrupted run resumes
                batch = batching.collate([seqs[r] for r in plan.rows[i]], batching.pad_id(tok))
                vec = self.embed(batch, seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
                entries[i] = {"embedding": vec.float().contiguous(), "tokens": batch.tokens, "key": keys[i]}
                self.cache.put_tensor(keys[i], entries[i])
        matrix = torch.stack([e["embedding"] for e in entries]).numpy().astype(np.float32)
        data = Embeddings(matrix=matrix, tokens=[int(e["tokens"]) for e in entries], rows=plan.rows, key=base)
        return Prepared(name=name, fingerprint=fp, records=len(dataset), used=plan.used, data=data, notes=plan.notes)

    def _check(self, *prepared: Prepared) -> None:
        widths = {p.data.matrix.shape[1] for p in prepared}
        keys = {str(sorted(p.data.key.items())) for p in prepared}
        if len(widths) > 1 or len(keys) > 1:
            raise CurateError("task2vec: datasets were embedded with different probes or settings; re-prepare them")

    def alignment(self, source: Prepared, target: Prepared) -> Estimate:
        self._check(source, target)
        c = self.config
        return coefficients.alignment(source.data.matrix, target.data.matrix, c.distance, c.n_boot, c.seed)

    def diversity(self, prepared: Prepared) -> Estimate:
        c = self.config
        return coefficients.diversity(prepared.data.matrix, c.distance, c.n_boot, c.seed)


__all__ = ["Config", "Task2VecMetric", "Embeddings", "head_embedding", "body_embedding", "final_hidden",
           "untied_head", "finetune_head", "head_fisher_from_features", "blocks"]

