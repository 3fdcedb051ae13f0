"""The example-level strategies through `strategies.choose` and `build_mix`: budget, seeds, scores.parquet."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from tinymodels import FIXTURES, char_tokenizer, tiny_llama

from curate import select
from curate.mix import MixConfig, build_mix
from curate.mix import strategies as st

FIX = FIXTURES / "mix"
TARGET = [json.loads(x) for x in (FIX / "target.jsonl").read_text(encoding="utf-8").splitlines()]
TARGET_TEXTS = [f"{r['informal']} {r['formal']}" for r in TARGET]
ON = "prove that every finite group field series converges abelian identity element theorem".split()
OFF = "cake flour sugar oven bake butter egg milk bus coat umbrella".split()


def make_pool(n: int = 60, seed: int = 1):
    rng = random.Random(seed)
    texts, pool = [], []
    for i in range(n):
        words = ON if i % 3 == 0 else OFF
        text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 30)))
        src = ("a", "b", "c")[i % 3 if i % 2 else (i // 2) % 3]
        pool.append(st.Candidate(src, i, tokens=len(text.split())))
        texts.append(text)
    return pool, texts


def context(pool, texts, budget: int, seed: int = 0, **kw) -> st.SelectContext:
    index = {id(c): t for c, t in zip(pool, texts)}
    scorer = select.Task2VecScorer(select.Task2VecScoreConfig(device="cpu", use_cache=False, batches=2, batch_size=2),
                                   model=tiny_llama(vocab_size=128), tokenizer=char_tokenizer())
    return st.SelectContext(ranked=["a", "b", "c"], alignments={"a": 0.9, "b": 0.85, "c": 0.5}, budget=budget,
                            seed=seed, text=lambda c: index[id(c)], target_texts=lambda: TARGET_TEXTS,
                            scorers={"task2vec": scorer}, prefilter_keep=12, **kw)


@pytest.mark.parametrize("strategy", st.STRATEGIES)
@pytest.mark.parametrize("budget", [37, 150, 400])
def test_budget_holds_to_within_one_record(strategy, budget):
    pool, texts = make_pool()
    sel = st.choose(strategy, pool, context(pool, texts, budget))
    total = sum(c.tokens for c in sel.taken)
    assert total <= budget
    over = [c.tokens for c, why in sel.skipped if why == st.OVER_BUDGET]
    assert not over or budget - total < min(over)  # stops short by less than the smallest record left out
    ids = [id(c) for c in sel.taken] + [id(c) for c, _ in sel.skipped]
    assert len(set(ids)) == len(ids) and len(ids) <= len(pool)  # each candidate at most once
    if strategy in st.RECORD_STRATEGIES:
        assert sel.scores and all(s.shape == (len(pool),) for s in sel.scores.values())


@pytest.mark.parametrize("strategy", st.RECORD_STRATEGIES)
def test_record_strategies_take_target_like_records_first(strategy):
    pool, texts = make_pool()
    sel = st.choose(strategy, pool, context(pool, texts, 100))
    on = [i % 3 == 0 for i in range(len(pool))]
    if strategy == "hybrid":  # within each source, on-topic records come first
        for src in "abc":
            got = [on[c.index] for c in sel.taken if c.source == src]
            assert got == sorted(got, reverse=True), src
    else:
        assert all(on[c.index] for c in sel.taken), strategy


@pytest.mark.parametrize("strategy", st.STRATEGIES)
def test_a_seed_reproduces_the_selection(strategy):
    pool, texts = make_pool()
    picks = [[(c.source, c.index, c.score) for c in st.choose(strategy, pool, context(pool, texts, 200, seed=s)).taken]
             for s in (3, 3)]
    assert picks[0] == picks[1]


def test_diversity_defers_near_copies():
    pool, texts = make_pool()
    for k in (0, 3, 6, 9):  # near copies of a target-like record: the four best under gzip
        texts[k] = TARGET_TEXTS[0] + f" (version {k})"
        pool[k].tokens = 10
    for div, expect_copies in ((0.7, False), (1.0, True)):
        sel = st.choose("gzip", pool, context(pool, texts, 60, diversity=div))
        near = {0, 3, 6, 9} & {c.index for c in sel.taken}
        assert (len(near) > 1) == expect_copies, (div, near)
        assert (sel.deferred > 0) == (not expect_copies)


def test_hybrid_shares_follow_the_ranking():
    pool, texts = make_pool(300)
    sel = st.choose("hybrid", pool, context(pool, texts, 1500, scorer="ngram"))
    w = st.softmax_weights({"a": 0.9, "b": 0.85, "c": 0.5}, 0.1)
    assert sel.weights == pytest.approx(w)
    total = sum(c.tokens for c in sel.taken)
    for src in "abc":
        share = sum(c.tokens for c in sel.taken if c.source == src) / total
        assert share == pytest.approx(w[src], abs=0.05)


# ----------------------------------------------------------------------------- build_mix: output and scores.parquet
def register(name, path):
    from curate import catalog
    from curate.catalog import SourceSpec

    catalog.register(SourceSpec(name=name, path=str(path), kind="pair", formal_lang="lean4", license="test",
                                fields={"id": "id", "informal": "informal", "formal": "formal"}))


@pytest.fixture()
def sources(isolated_cache):
    for name in ("target", "a", "b", "c"):
        register(f"mix-{name}", FIX / f"{name}.jsonl")
    return isolated_cache


@pytest.mark.parametrize("strategy", ["select", "gzip", "cover", "hybrid"])
def test_build_mix_is_byte_identical_per_seed_and_writes_scores(sources, tmp_path, strategy):
    import pyarrow.parquet as pq

    tok = char_tokenizer()
    outs = [build_mix(MixConfig(ranking=FIX / "ranking.json", budget=1200, strategy=strategy, seed=5, tokenizer=tok,
                                out=tmp_path / f"m{i}")).out for i in range(2)]
    for name in ("data.jsonl", "data.parquet", "scores.parquet", "manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    table = pq.read_table(outs[0] / "scores.parquet").to_pylist()
    data = [json.loads(x) for x in (outs[0] / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    taken = sorted((r for r in table if r["taken"]), key=lambda r: r["position"])
    assert [(r["source"], r["id"]) for r in taken] == [(r["source"], r["id"]) for r in data]
    m = json.loads((outs[0] / "manifest.json").read_text())
    assert len(table) == sum(s["in"] - s["removed"]["contamination"] - s["removed"]["exact_duplicate"]
                             - s["removed"]["near_duplicate"] for s in m["sources"].values())
    scorer = {"select": "ngram", "hybrid": "ngram", "cover": "cover"}.get(strategy, "gzip")
    assert all(r[scorer] is not None for r in table)
    assert "scores.parquet" in m["files"]


@pytest.mark.parametrize("strategy", ["gzip", "cover", "hybrid"])
def test_cli_accepts_the_new_strategy_names(sources, tmp_path, strategy):
    from curate.cli import main

    char_tokenizer(save_dir=tmp_path / "tok")
    tiny_llama(vocab_size=128).save_pretrained(tmp_path / "tok")
    code = main(["--cache-dir", str(sources), "mix", "--ranking", str(FIX / "ranking.json"), "--budget", "800",
                 "--out", str(tmp_path / "cli"), "--strategy", strategy, "--probe", str(tmp_path / "tok")])
    assert code in (0, None)
    assert (tmp_path / "cli" / "scores.parquet").exists()
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text())["config"]["strategy"] == strategy


def test_cli_default_strategy_is_cover(sources, tmp_path):
    """`curate mix` without --strategy covers the target's items (the strategy benchmarks/peers.py picked)."""
    from curate.cli import main

    char_tokenizer(save_dir=tmp_path / "tok")
    tiny_llama(vocab_size=128).save_pretrained(tmp_path / "tok")
    code = main(["--cache-dir", str(sources), "mix", "--ranking", str(FIX / "ranking.json"), "--budget", "800",
                 "--out", str(tmp_path / "cli"), "--probe", str(tmp_path / "tok")])
    assert code in (0, None)
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text())["config"]["strategy"] == "cover"
    assert (tmp_path / "cli" / "scores.parquet").exists()


@pytest.mark.parametrize("prefilter", ["gzip", "ngram"])
def test_task2vec_pre_rescores_what_its_prefilter_keeps(prefilter):
    pool, texts = make_pool()
    sel = st.choose("task2vec-pre", pool, context(pool, texts, 150, prefilter=prefilter))
    assert set(sel.scores) == {prefilter, "task2vec"}  # the cheap scorer named is the one that ran
    rescored = np.flatnonzero(~np.isnan(sel.scores["task2vec"]))
    best = np.argsort(-sel.scores[prefilter], kind="stable")[:12]
    assert sorted(rescored) == sorted(best)  # Task2Vec ran on exactly the pre-filter's best prefilter_keep


def test_task2vec_pre_rejects_an_unknown_prefilter():
    pool, texts = make_pool()
    with pytest.raises(st.CurateError, match="prefilter"):
        st.choose("task2vec-pre", pool, context(pool, texts, 150, prefilter="embed"))


def test_build_mix_gives_the_task2vec_record_scorer_its_probe(sources, tmp_path, monkeypatch):
    """`curate mix --probe P --strategy task2vec` scores records with P, not the default probe."""
    from curate.mix import strategies as st

    probe_dir = tmp_path / "probe"
    char_tokenizer(save_dir=probe_dir)
    tiny_llama().save_pretrained(probe_dir)  # a model folder, as `--probe PATH` needs
    seen = {}
    choose = st.choose

    def spy(strategy, pool, ctx):
        seen["scorer"] = st.record_scorer("task2vec", ctx)
        return choose(strategy, pool, ctx)

    monkeypatch.setattr(st, "choose", spy)
    build_mix(MixConfig(ranking=FIX / "ranking.json", budget=1200, strategy="select", tokenizer=str(probe_dir),
                        out=tmp_path / "m"))
    assert seen["scorer"].config.probe == str(probe_dir)
