"""Per-record Task2Vec on the real probe (slow): a ProofNet-like record scores above unrelated text."""

from __future__ import annotations

import numpy as np
import pytest

from curate import select

pytestmark = pytest.mark.slow

TARGET = ["informal statement Prove that every finite integral domain is a field. formal statement theorem "
          "t1 (R : Type*) [CommRing R] [IsDomain R] [Finite R] : IsField R :=",
          "informal statement Show that the series of 1/n^2 converges. formal statement theorem t2 : "
          "Summable (fun n : ℕ => 1 / ((n : ℝ) + 1) ^ 2) :=",
          "informal statement Prove that a group of prime order is cyclic. formal statement theorem t3 {G : Type*} "
          "[Group G] [Fintype G] (h : (Fintype.card G).Prime) : IsCyclic G :=",
          "informal statement Let x be a real number with x^2 = 2. Prove that x is irrational. formal statement "
          "theorem t4 (x : ℝ) (h : x ^ 2 = 2) : Irrational x :="]
UNRELATED = ["Preheat the oven to 180 degrees, whisk the butter and sugar until pale, then fold in the flour.",
             "Write a Python function that returns the n-th Fibonacci number using memoization.",
             "Tom has 3 apples and buys 5 more. How many apples does he have now? Answer: 8"]


def test_real_probe_scores_a_target_copy_above_unrelated_text(probe_path, isolated_cache):
    scorer = select.Task2VecScorer(select.Task2VecScoreConfig(probe=str(probe_path), batches=2, batch_size=2, device="cpu"))
    scores = scorer.score([*UNRELATED, TARGET[0]], TARGET)
    assert int(np.argmax(scores)) == len(UNRELATED), scores
    again = select.Task2VecScorer(select.Task2VecScoreConfig(probe=str(probe_path), batches=2, batch_size=2, device="cpu", micro_batch=1,
                                                                use_cache=False))
    np.testing.assert_allclose(again.score([TARGET[0], *UNRELATED], TARGET), np.roll(scores, 1), rtol=1e-4)
