"""Per-record scorers on tiny models and fixtures: target copies score high, padding and batching do not matter."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tinymodels import FIXTURES, char_tokenizer, tiny_gpt2, tiny_llama

from curate import select
from curate.select import task2vec as st2v

TARGET = [json.loads(x) for x in (FIXTURES / "mix" / "target.jsonl").read_text(encoding="utf-8").splitlines()]
TARGET_TEXTS = [f"informal statement {r['informal']} formal statement {r['formal']}" for r in TARGET]
UNRELATED = ["Preheat the oven, then whisk the butter and sugar until pale and fold in the flour.",
             "The bus leaves at seven; bring a coat, an umbrella and something to read.",
             "1234567890 0987654321 1234567890 0987654321 1234567890",
             "Dear Sam, thanks for the lovely dinner party last week, we had a wonderful time!"]
MODELS = {"llama": lambda: tiny_llama(vocab_size=128), "gpt2": lambda: tiny_gpt2(vocab_size=128)}


def t2v_scorer(arch: str, **kw) -> select.Task2VecScorer:
    cfg = select.Task2VecScoreConfig(device="cpu", use_cache=False, batches=2, batch_size=2, **kw)
    return select.Task2VecScorer(cfg, model=MODELS[arch](), tokenizer=char_tokenizer())


SCORERS = {
    "ngram": lambda: select.NgramScorer(),
    "gzip": lambda: select.GzipScorer(),
    "cover": lambda: select.CoverageScorer(),
    "task2vec-llama": lambda: t2v_scorer("llama"),
    "task2vec-gpt2": lambda: t2v_scorer("gpt2"),
    "task2vec-pre": lambda: select.PrefilterScorer(select.NgramScorer(), t2v_scorer("llama"), keep=3),
}


@pytest.mark.parametrize("name", SCORERS)
@pytest.mark.parametrize("item", range(len(TARGET_TEXTS)))
def test_identical_record_scores_above_unrelated_text(name, item):
    texts = [*UNRELATED[:2], TARGET_TEXTS[item], *UNRELATED[2:]]
    order, scores = SCORERS[name]().rank(texts, TARGET_TEXTS)
    assert order[0] == 2, (name, scores)
    for s in scores.values():
        assert s.shape == (len(texts),)


@pytest.mark.parametrize("arch", MODELS)
def test_task2vec_record_scores_do_not_depend_on_padding_or_micro_batch(arch, monkeypatch):
    texts = [*UNRELATED, *TARGET_TEXTS, "x", "theorem foo : 1 + 1 = 2 := by norm_num"]
    model = MODELS[arch]()
    ref = None
    for micro, chunk, pad in ((1, 1, None), (3, 4, 7), (16, 256, 42)):
        if pad is not None:  # a different padding id (never used to find padding)
            monkeypatch.setattr(st2v.batching, "pad_id", lambda _tok, p=pad: p)
        cfg = select.Task2VecScoreConfig(device="cpu", use_cache=False, batches=2, batch_size=2,
                                         micro_batch=micro, chunk=chunk)
        s = select.Task2VecScorer(cfg, model=model, tokenizer=char_tokenizer()).score(texts, TARGET_TEXTS)
        if ref is None:
            ref = s
        np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-8)
    assert np.isfinite(ref).all()


@pytest.mark.parametrize("arch", MODELS)
def test_task2vec_record_embedding_is_a_batch_of_one(arch):
    """A record's embedding equals the metric's head embedding of a batch holding only that record."""
    import torch

    from curate import batching
    from curate.metrics import task2vec as t2v

    scorer = t2v_scorer(arch)
    tok = char_tokenizer()
    seqs = batching.tokenize(TARGET_TEXTS + UNRELATED, tok, 128)
    emb = scorer.record_embeddings(seqs)
    for i, seq in enumerate(seqs):
        one = t2v.head_embedding(scorer.model(), batching.collate([seq], batching.pad_id(tok)))
        torch.testing.assert_close(emb[i], one, rtol=1e-5, atol=1e-10)


def test_task2vec_scores_are_cached_by_record(isolated_cache):
    cfg = select.Task2VecScoreConfig(device="cpu", batches=2, batch_size=2)
    model = tiny_llama(vocab_size=128)
    a = select.Task2VecScorer(cfg, model=model, tokenizer=char_tokenizer(), model_name="tiny")
    first = a.score(UNRELATED, TARGET_TEXTS)
    assert a.computed == len(UNRELATED)
    b = select.Task2VecScorer(cfg, model=model, tokenizer=char_tokenizer(), model_name="tiny")
    again = b.score(UNRELATED[::-1] + ["a new record"], TARGET_TEXTS)
    assert b.computed == 1  # only the new record is embedded
    np.testing.assert_allclose(again[:4], first[::-1], rtol=0, atol=0)


def test_task2vec_bf16_scores_are_close_to_fp32_and_cached_apart(isolated_cache):
    texts = [*UNRELATED, *TARGET_TEXTS]
    model = tiny_llama(vocab_size=128)
    scores = {}
    for precision in ("fp32", "bf16"):
        cfg = select.Task2VecScoreConfig(device="cpu", batches=2, batch_size=2, precision=precision)
        scorer = select.Task2VecScorer(cfg, model=model, tokenizer=char_tokenizer(), model_name="tiny")
        scores[precision] = scorer.score(texts, TARGET_TEXTS)
        assert scorer.computed == len(texts)  # bf16 did not read the fp32 scores from the cache
    assert not np.array_equal(scores["fp32"], scores["bf16"])
    np.testing.assert_allclose(scores["bf16"], scores["fp32"], atol=0.02)
    with pytest.raises(ValueError, match="precision"):
        select.Task2VecScorer(select.Task2VecScoreConfig(device="cpu", precision="fp16"), model=model,
                              tokenizer=char_tokenizer())


@pytest.mark.parametrize("chunk", [1, 3, 512])
def test_ngram_scores_do_not_depend_on_chunk(chunk):
    texts = UNRELATED + TARGET_TEXTS
    ref = select.NgramScorer().score(texts, TARGET_TEXTS)
    np.testing.assert_allclose(select.NgramScorer(select.NgramScoreConfig(chunk=chunk)).score(texts, TARGET_TEXTS),
                               ref, rtol=1e-12)


@pytest.mark.parametrize("workers", [2, 3])
def test_gzip_scores_do_not_depend_on_workers(workers):
    texts = (UNRELATED + TARGET_TEXTS + [""]) * 3
    ref = select.GzipScorer(select.GzipScoreConfig(workers=1)).score(texts, TARGET_TEXTS)
    cfg = select.GzipScoreConfig(workers=workers, min_per_worker=1)
    np.testing.assert_array_equal(select.GzipScorer(cfg).score(texts, TARGET_TEXTS), ref)


@pytest.mark.parametrize("workers", [2, 3])
def test_gzip_distances_do_not_depend_on_workers(workers):
    texts = (UNRELATED + TARGET_TEXTS + [""]) * 3
    ref = select.GzipScorer(select.GzipScoreConfig(workers=1)).distances(texts, TARGET_TEXTS, n_targets=0)
    assert ref.shape == (len(texts), len(TARGET_TEXTS)) and np.isnan(ref[len(UNRELATED) + len(TARGET_TEXTS)]).all()
    cfg = select.GzipScoreConfig(workers=workers, min_per_worker=1)
    np.testing.assert_array_equal(select.GzipScorer(cfg).distances(texts, TARGET_TEXTS, n_targets=0), ref)


def test_gzip_distances_average_to_the_gzip_score():
    texts = UNRELATED + TARGET_TEXTS
    dist = select.GzipScorer().distances(texts, TARGET_TEXTS)
    np.testing.assert_allclose(1 - dist.astype(np.float64).mean(axis=1), select.GzipScorer().score(texts, TARGET_TEXTS),
                               atol=1e-6)


def test_round_robin_gives_each_item_its_nearest_untaken_record_in_turn():
    # rows: records 0-4; columns: target items 0-2
    dist = np.array([[0.10, 0.50, 0.90],
                     [0.20, 0.40, 0.30],
                     [0.90, 0.05, 0.80],
                     [0.70, 0.60, 0.35],
                     [0.95, 0.95, 0.95]], dtype=np.float32)
    # items by nearest distance: 1 (0.05), 0 (0.10), 2 (0.30). Round 1: item 1 -> 2, item 0 -> 0, item 2 -> 1;
    # round 2: item 1 -> 1 taken, 0 taken, 3 (0.60)... nearest untaken of item 1 is 3; item 0 -> 4; item 2 -> none left
    assert select.round_robin(dist) == [2, 0, 1, 3, 4]
    # one record per item, then the rest by the distance to their own nearest item (3: 0.35, 4: 0.95)
    assert select.round_robin(dist, per_item=1) == [2, 0, 1, 3, 4]
    assert select.round_robin(dist[[4, 3, 2, 1, 0]], per_item=1) == [2, 4, 3, 1, 0]


def test_cover_gives_each_target_item_its_nearest_record_before_any_item_a_second():
    groups = ["Prove that every finite group of prime order p is cyclic, generated by any element other than 1.",
              "Prove that every finite group of prime order is abelian and cyclic."]
    calculus = "Show that the integral of sin(x) over [0, pi] equals 2, using the fundamental theorem of calculus."
    texts = [groups[0], groups[0] + " Hence it is simple.", groups[1], groups[1] + " Hence it is simple.",
             UNRELATED[0], calculus.replace("equals 2", "is 2")]
    order, scores = select.CoverageScorer().rank(texts, [groups[0], calculus])
    assert sorted(order[:2]) == [0, 5]  # each item's nearest first: the group copy and the integral variant
    assert sorted(order) == list(range(len(texts))) and set(scores) == {"cover", "gzip"}


def test_round_robin_puts_unscored_records_last():
    dist = np.array([[np.nan, np.nan], [0.5, 0.2], [0.1, 0.9]], dtype=np.float32)
    assert select.round_robin(dist) == [2, 1, 0]


def test_round_robin_without_target_items_keeps_every_record_unscored_in_order():
    assert select.round_robin(np.zeros((3, 0), dtype=np.float32)) == [0, 1, 2]


def test_empty_records_are_scored_nan_and_ranked_last():
    texts = ["", UNRELATED[0], TARGET_TEXTS[0]]
    for name in ("ngram", "gzip", "cover", "task2vec-llama"):
        order, scores = SCORERS[name]().rank(texts, TARGET_TEXTS)
        assert np.isnan(list(scores.values())[0][0]) and order[-1] == 0, name


def test_prefilter_rescores_only_the_best_kept():
    texts = UNRELATED + TARGET_TEXTS
    order, scores = select.PrefilterScorer(select.NgramScorer(), t2v_scorer("llama"), keep=3).rank(texts, TARGET_TEXTS)
    fine = scores["task2vec"]
    kept = np.flatnonzero(~np.isnan(fine))
    assert len(kept) == 3 and set(order[:3]) == set(kept.tolist())
    cheap_top = select.best_first(scores["ngram"])[:3]
    assert set(kept.tolist()) == set(cheap_top)
    assert sorted(order) == list(range(len(texts)))  # nothing dropped


def test_diverse_order_defers_near_copies_and_keeps_everything():
    base = TARGET_TEXTS[0]
    texts = [base, base + " Indeed.", base.replace("field", "Field"), TARGET_TEXTS[1], UNRELATED[0]]
    order, deferred = select.diverse_order(range(5), texts, [10] * 5, tokens_wanted=30, threshold=0.7)
    assert sorted(order) == list(range(5))
    assert order[:3] == [0, 3, 4] and set(deferred) == {1, 2}
    assert select.diverse_order(range(5), texts, [10] * 5, 30, threshold=1.0) == (list(range(5)), [])


def test_make_scorer_rejects_unknown_names_and_options():
    from curate.errors import CurateError

    with pytest.raises(CurateError, match="unknown record scorer"):
        select.make_scorer("bleu")
    with pytest.raises(CurateError, match="no option"):
        select.make_scorer("gzip", levels=3)
