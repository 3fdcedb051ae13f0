"""Every example-level metric (gzip, embed, ngram) behind the one AlignmentMetric interface."""

from __future__ import annotations

import math

import pytest

from curate import metrics
from curate.metrics.base import AlignmentMetric, Estimate

MINE = ["gzip", "embed", "ngram"]
SMALL = {"gzip": {"n_examples": 32, "n_pairs": 512, "n_boot": 300},
         "embed": {"n_examples": 32, "n_boot": 300, "use_cache": False},
         "ngram": {"n_examples": 32, "n_buckets": 2048, "n_boot": 200, "n_pairs": 256}}


def small(name: str, **extra) -> AlignmentMetric:
    # unknown CLI options (task2vec's probe, batches, scope, ...) must be accepted and ignored
    return metrics.metric_class(name).from_options({"probe": "smollm2", "batches": 8, "scope": "head",
                                                    "whole_set": None, **SMALL[name], **extra})


def check_ci(e: Estimate, strict: bool = True) -> None:
    assert all(math.isfinite(v) for v in (e.value, e.ci_low, e.ci_high))
    assert e.ci_low <= e.value <= e.ci_high
    if strict:
        assert e.ci_high > e.ci_low
    assert e.n > 0


@pytest.mark.parametrize("name", MINE)
def test_from_options_takes_known_fields_and_ignores_the_rest(name):
    m = small(name, seed=7)
    assert m.config.seed == 7 and m.config.n_examples == 32
    assert m.describe()["metric"] == name


def test_options_named_for_one_metric_reach_only_that_metric():
    options = {"task2vec.max_length": 64, "task2vec.batch_size": 5, "embed.encoder": "some/encoder",
               "use_cache": False, "device": "cpu", "max_length": None, "seed": 3}
    t2v = metrics.metric_class("task2vec").from_options(options)
    emb = metrics.metric_class("embed").from_options(options)
    gz = metrics.metric_class("gzip").from_options(options)
    assert (t2v.config.max_length, t2v.config.batch_size, t2v.config.use_cache) == (64, 5, False)
    assert (emb.config.max_length, emb.config.batch_size, emb.config.encoder) == (128, 32, "some/encoder")
    assert not emb.config.use_cache and gz.config.seed == 3  # plain keys reach every metric that has them
    assert t2v.config.device == emb.config.device == "cpu"


@pytest.mark.parametrize("name", MINE)
def test_a_set_against_itself_is_top(name, math_ds, math2_ds, cooking_ds):
    m = small(name)
    target = m.prepare("math-toy", math_ds, 0)
    scores = {n: m.alignment(m.prepare(n, ds, 0), target).value
              for n, ds in [("self", math_ds), ("same-distribution", math2_ds), ("cooking", cooking_ds)]}
    assert scores["self"] >= scores["same-distribution"] > scores["cooking"], scores
    assert scores["self"] == max(scores.values())


@pytest.mark.parametrize("name", MINE)
def test_every_estimate_has_a_real_ci(name, math_ds, cooking_ds):
    m = small(name)
    s, t = m.prepare("cooking-toy", cooking_ds, 0), m.prepare("math-toy", math_ds, 0)
    check_ci(m.alignment(s, t))
    check_ci(m.diversity(s))
    check_ci(m.alignment(t, t), strict=False)  # may be exactly 1 for a set against itself


@pytest.mark.parametrize("name", MINE)
def test_deterministic_under_a_seed(name, math_ds, cooking_ds):
    def run(seed: int) -> tuple:
        m = small(name, n_examples=16, seed=seed)
        s, t = m.prepare("cooking-toy", cooking_ds, seed), m.prepare("math-toy", math_ds, seed)
        a, d = m.alignment(s, t), m.diversity(s)
        return (list(s.data["idx"]), a.value, a.ci_low, a.ci_high, d.value, d.ci_low, d.ci_high)

    first = run(0)
    assert run(0) == first
    other = run(1)
    assert other[0] != first[0]  # another seed draws another sample of 16 of the 40 records
    assert other[1:] != first[1:]


@pytest.mark.parametrize("name", MINE)
def test_small_datasets_use_every_record_and_say_so(name, math_ds):
    p = small(name, n_examples=1000).prepare("math-toy", math_ds, 0)
    assert p.used == p.records == len(math_ds)
    assert any("used all 40 records" in n for n in p.notes)


# ----------------------------------------------------------------------------- real data (../shared/data)
ORDER_SIZE = {"gzip": {"n_examples": 300, "n_pairs": 2048, "n_boot": 300},
              "embed": {"n_examples": 64, "n_boot": 300},
              "ngram": {"n_examples": 300, "n_boot": 100, "n_pairs": 256}}
INSTRUCTION = ["gpteacher-roleplay", "self-instruct-human"]
# The issue asks for gsm8k above instruction text under every metric. Measured, not wished for
# (benchmarks/RESULTS.md): n-gram and embedding similarity put instruction text *above* gsm8k relative
# to proofnet, and so does fine-tuning: LoRA on either instruction set reaches a lower ProofNet CE than
# LoRA on gsm8k in each of 3 seeds (3.329 and 3.348 vs 3.402, sd ≤ 0.01; H100 run,
# benchmarks/results/paper_ft_h100). These strict xfails fail loudly if the metrics' order ever changes.
GSM8K_BELOW_INSTRUCTION = {
    ("ngram", "gpteacher-roleplay"): "1-JSD 0.443 (gsm8k) vs 0.449 at 1000 examples: a tie",
    ("ngram", "self-instruct-human"): "1-JSD 0.443 (gsm8k) vs 0.495 at 1000 examples",
    ("embed", "gpteacher-roleplay"): "MiniLM centroid cosine -0.05 (gsm8k) vs 0.05",
    ("embed", "self-instruct-human"): "MiniLM centroid cosine -0.05 (gsm8k) vs 0.19",
}
NEAR_TIES = {("ngram", "gpteacher-roleplay")}  # inside each other's CIs: either order may come out


def _order_metric(name: str) -> AlignmentMetric:
    return metrics.metric_class(name).from_options(ORDER_SIZE[name])


def _marks(name: str) -> list:
    return [pytest.mark.slow] if name == "embed" else []  # MiniLM on a few hundred real texts: ~half a minute


@pytest.fixture(scope="module")
def proofnet_scores():
    """alignment to proofnet, per metric, computed once per module and metric."""
    from curate import load

    done: dict[str, dict[str, Estimate]] = {}

    def scores(name: str) -> dict[str, Estimate]:
        if name not in done:
            m = _order_metric(name)
            target = m.prepare("proofnet", load.load_source("proofnet"), 0)
            done[name] = {s: m.alignment(m.prepare(s, load.load_source(s), 0), target)
                          for s in ["proofnet", "proofnet-valid", "gsm8k", *INSTRUCTION]}
        return done[name]

    return scores


@pytest.mark.shared_data
@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in MINE])
def test_proofnet_valid_is_most_aligned_to_proofnet(name, proofnet_scores):
    s = proofnet_scores(name)
    for other in ["gsm8k", *INSTRUCTION]:
        assert s["proofnet-valid"].ci_low > s[other].ci_high, {k: v.value for k, v in s.items()}
    for k, e in s.items():
        if k != "proofnet":  # the target against itself may have a point CI (ngram, embed: exactly 1)
            check_ci(e)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in MINE])
def test_the_target_itself_tops_every_source(name, proofnet_scores):
    s = proofnet_scores(name)
    assert s["proofnet"].value == max(e.value for e in s.values()), {k: v.value for k, v in s.items()}


@pytest.mark.shared_data
@pytest.mark.parametrize("name,instruction", [
    pytest.param(n, i, marks=_marks(n) + ([pytest.mark.xfail(strict=(n, i) not in NEAR_TIES,
                                                             reason=GSM8K_BELOW_INSTRUCTION[(n, i)])]
                                            if (n, i) in GSM8K_BELOW_INSTRUCTION else []))
    for n in MINE for i in INSTRUCTION])
def test_gsm8k_is_more_aligned_to_proofnet_than_instruction_text(name, instruction, proofnet_scores):
    s = proofnet_scores(name)
    assert s["gsm8k"].value > s[instruction].value, {k: v.value for k, v in s.items()}
