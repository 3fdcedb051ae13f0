"""Tiny synthetic records datasets for the metric tests: two clearly different "languages"."""

from __future__ import annotations

import random

import pytest

MATH = ["Prove that for every natural number {a}, the sum {a} + {b} is at least {b}.",
        "Let $x$ be a real number with $x^2 = {a}$. Show that $|x| = \\sqrt{{{a}}}$.",
        "Suppose $f$ is continuous on $[0, {a}]$. Prove that $f$ attains its maximum.",
        "Show that {a} divides {c}, where $n = {b}$ is prime.",
        "theorem t_{a} (n : ℕ) (h : n > {b}) : n * {a} ≥ {b} := by omega"]
COOKING = ["Preheat the oven to {a}0 degrees and bake the bread for {b} minutes.",
           "Chop {a} onions, fry them in butter, then add {b} cups of stock.",
           "Whisk {a} eggs with sugar until fluffy; fold in {b} grams of flour.",
           "Serve the soup warm with a slice of lemon and {a} leaves of basil.",
           "Let the dough rest for {b} hours in a cool place before shaping it."]


def make_dataset(name: str, templates: list[str], n: int, seed: int = 0):
    import datasets

    from curate.records import COLUMNS, Record

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        text = rng.choice(templates).format(a=a, b=b, c=a * b)
        rows.append(Record(id=f"{name}:{i}", source=name, kind="informal", informal=text).to_row())
    return datasets.Dataset.from_list(rows, features=datasets.Features({c: datasets.Value("string") for c in COLUMNS}))


@pytest.fixture(scope="session")
def math_ds():
    return make_dataset("math-toy", MATH, 40, seed=1)


@pytest.fixture(scope="session")
def math2_ds():
    """Same distribution as math_ds, different draws."""
    return make_dataset("math-toy-2", MATH, 40, seed=2)


@pytest.fixture(scope="session")
def cooking_ds():
    return make_dataset("cooking-toy", COOKING, 40, seed=3)
