"""Task2Vec per record: the record's own exact head-Fisher embedding against the target's batch embeddings.

The per-sequence head Fisher is already a sum over the record's tokens (Σ_t p_tv(1 − p_tv)‖h_t‖²/d,
`curate.metrics.task2vec.head_fisher_from_features`), so a record is embedded exactly like a batch of
one: trunk under no_grad on an untied head copy, padding masked, fp32, per real token. The target is
embedded as the metric embeds it (K seeded batches, `head_embedding`). A record's score is
1 − mean over the K target batches of the same normalised Task2Vec distance the ranking uses.

Records are run in length-sorted micro-batches (each padded to its own longest; the mask alone marks
padding, so scores do not depend on the micro-batch size) on the GPU when there is one. Scores are
cached per record, keyed by the record's text hash, the probe, the settings and the target embedding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from curate import batching, coefficients, probe
from curate.cache import Cache, key_hash
from curate.metrics import task2vec as t2v
from curate.select.base import RecordScorer

CACHE_VERSION = 1


@dataclass
class Task2VecScoreConfig:
    probe: str = probe.DEFAULT_PROBE
    """Probe model (as for the task2vec metric)."""
    max_length: int = 128
    """Tokens per record (longer records are truncated), as the ranking uses."""
    batches: int = 4
    """Target batches (K) the record is compared with."""
    batch_size: int = 32
    """Target items per target batch."""
    distance: str = "task2vec"
    """'task2vec' (normalised, as the ranking) or 'cosine'."""
    micro_batch: int = 16
    """Records per forward pass; scores do not depend on it, only time and memory do."""
    chunk: int = 256
    """Records scored (and cached) per step."""
    token_chunk: int = 1024
    """Tokens per logits chunk in the head Fisher."""
    device: str = "auto"
    """'auto' (the first CUDA GPU when there is one), 'cpu', 'cuda' or 'cuda:N'."""
    precision: str = "fp32"
    """The probe trunk's forward pass, for the records and the target: 'fp32', or 'bf16' (autocast; the
    head Fisher stays fp32), as `curate rank --precision`. bf16 scores are cached apart from fp32 ones."""
    seed: int = 0
    """Seed of the target batch draw."""
    use_cache: bool = True
    """Read cached record scores (they are always written)."""


class Task2VecScorer(RecordScorer):
    name = "task2vec"

    def __init__(self, config: Task2VecScoreConfig | None = None, model=None, tokenizer=None,
                 model_name: str | None = None, log: Callable[[str], None] | None = None):
        """`model`/`tokenizer` override the probe (tests); `model_name` then names them in cache keys."""
        self.config = c = config or Task2VecScoreConfig()
        if c.distance not in coefficients.DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(coefficients.DISTANCES)}")
        if c.precision not in t2v.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(t2v.PRECISIONS)}")
        self._model, self._tok = model, tokenizer
        self._model_id = model_name or (probe.model_id(c.probe) if model is None else f"object:{id(model)}")
        self.device = probe.resolve_device(c.device, "task2vec")
        self.cache = Cache("select-task2vec", enabled=c.use_cache and (model is None or model_name is not None))
        self.log = log or (lambda _m: None)
        self.computed = 0
        """Records embedded by the last `score` call (the rest came from the cache)."""

    # -------------------------------------------------------------- model
    def model(self):
        if self._model is None:
            self._model, _ = probe.load(self.config.probe)
        self._model.to(self.device).eval()
        return self._model

    def tokenizer(self):
        if self._tok is None:
            from curate import tokens
            self._tok = tokens.tokenizer_for(self.config.probe)
        return self._tok

    # -------------------------------------------------------------- embeddings
    def target_embeddings(self, target_texts: Sequence[str]) -> np.ndarray:
        """(K, V) head-Fisher embeddings of K seeded target batches (as the task2vec metric makes them),
        cached by the target's texts and the settings."""
        import torch

        c = self.config
        key = {"v": CACHE_VERSION, "kind": "target", "probe": self._model_id, "max_length": c.max_length,
               "batches": c.batches, "batch_size": c.batch_size, "seed": c.seed,
               "texts": hashlib.sha256("\0".join(target_texts).encode("utf-8")).hexdigest()}
        if c.precision != "fp32":  # fp32 keys are those written before precision existed
            key["precision"] = c.precision
        hit = self.cache.get_tensor(key)
        if hit is not None:
            return hit["embeddings"].numpy()
        tok, model = self.tokenizer(), self.model()
        plan = batching.draw(len(target_texts), c.batches, c.batch_size, c.seed)
        out = []
        for rows in plan.rows:
            seqs = batching.tokenize([target_texts[r] for r in rows], tok, c.max_length)
            b = batching.collate(seqs, batching.pad_id(tok))
            b = batching.Batch(b.input_ids.to(self.device), b.attention_mask.to(self.device))
            out.append(t2v.head_embedding(model, b, 0, 1e-3, c.micro_batch, c.token_chunk, c.precision).cpu().numpy())
        emb = np.stack(out).astype(np.float32)
        self.cache.put_tensor(key, {"embeddings": torch.from_numpy(emb)})
        return emb

    def record_embeddings(self, seqs: list[list[int]]):
        """(n, V) fp32 exact head-Fisher embedding of each token sequence, per real token."""
        import torch

        c, model = self.config, self.model()
        w, b = t2v.untied_head(model)
        pad = batching.pad_id(self.tokenizer())
        out = torch.zeros(len(seqs), w.shape[0], dtype=torch.float32)
        order = sorted(range(len(seqs)), key=lambda i: (-len(seqs[i]), i))
        order = [i for i in order if seqs[i]]
        for start in range(0, len(order), c.micro_batch):
            idx = order[start:start + c.micro_batch]
            batch = batching.collate([seqs[i] for i in idx], pad)
            batch = batching.Batch(batch.input_ids.to(self.device), batch.attention_mask.to(self.device))
            # idx is already length-sorted, so final_hidden keeps this order: tokens of idx[0], idx[1], ...
            h, _ = t2v.final_hidden(model, batch, micro_batch=len(idx), precision=c.precision)
            for i, piece in zip(idx, torch.split(h, [len(seqs[i]) for i in idx])):
                out[i] = (t2v.head_fisher_from_features(w, b, piece, c.token_chunk) / piece.shape[0]).cpu()
        return out

    # -------------------------------------------------------------- scores
    def _key(self, target_hash: str) -> dict[str, Any]:
        c = self.config
        key = {"v": CACHE_VERSION, "probe": self._model_id, "max_length": c.max_length, "distance": c.distance,
               "target": target_hash}
        if c.precision != "fp32":
            key["precision"] = c.precision
        return key

    def score(self, texts, target_texts) -> np.ndarray:
        c = self.config
        texts, target_texts = list(texts), list(target_texts)
        target = self.target_embeddings(target_texts)
        base = self._key(key_hash({"emb": hashlib.sha256(target.tobytes()).hexdigest()}))
        keys = [{**base, "record": hashlib.sha256(t.encode("utf-8")).hexdigest()} for t in texts]
        out = np.full(len(texts), np.nan)
        missing = []
        for i, k in enumerate(keys):
            hit = self.cache.get_json(k)
            if hit is None:
                missing.append(i)
            else:
                out[i] = np.nan if hit is None or hit == "nan" else float(hit)
        self.computed = len(missing)
        tok = self.tokenizer()
        for start in range(0, len(missing), c.chunk):
            idx = missing[start:start + c.chunk]
            seqs = batching.tokenize([texts[i] for i in idx], tok, c.max_length)
            emb = self.record_embeddings(seqs).numpy()
            dist = coefficients.distance_matrix(emb, target, c.distance).mean(axis=1)
            for j, i in enumerate(idx):
                value = float(1.0 - dist[j]) if seqs[j] else float("nan")
                out[i] = value
                self.cache.put_json(keys[i], "nan" if np.isnan(value) else value)
            self.log(f"task2vec scores: {min(start + c.chunk, len(missing))}/{len(missing)} records embedded")
        return out
