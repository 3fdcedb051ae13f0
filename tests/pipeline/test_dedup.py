"""Global dedup (signatures per shard, resolution over all shards) against the one-pass Deduplicator."""

from __future__ import annotations

import random

import numpy as np
import pytest

from curate.mix.dedup import Deduplicator
from curate.pipeline.dedup import STATUS, Signer, resolve

WORDS = [f"w{i}" for i in range(300)]


def corpus(n: int, seed: int) -> list[str]:
    """Random texts with planted exact copies, case/punctuation copies, near copies and chains."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        r = rng.random()
        if texts and r < 0.15:
            texts.append(rng.choice(texts))  # exact
        elif texts and r < 0.25:
            texts.append(rng.choice(texts).upper() + " !")  # exact after normalisation
        elif texts and r < 0.45 and any(texts):
            words = rng.choice([t for t in texts if t]).split()
            i = rng.randrange(len(words))
            words[i] = rng.choice(WORDS)  # one word changed: a near duplicate (or not, for short texts)
            texts.append(" ".join(words))
        elif r < 0.48:
            texts.append("")  # no tokens: exact dedup only
        else:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))))
    return texts


def one_pass(texts: list[str], near: bool = True):
    d = Deduplicator(near=near)
    keys = [f"s/{i}" for i in range(len(texts))]
    return [d.check(k, t) for k, t in zip(keys, texts)]


def sharded(texts: list[str], shard: int, near: bool = True):
    signer = Signer(near=near)
    parts = [signer.keys(texts[i:i + shard]) for i in range(0, len(texts), shard)]
    sigs = np.concatenate([p.signatures for p in parts])
    res = resolve(np.concatenate([p.digests for p in parts]), np.concatenate([p.has_signature for p in parts]),
                  np.concatenate([p.bands for p in parts]), lambda idx: sigs[idx], signer.threshold, signer.b,
                  signer.r)
    out = []
    for i in range(len(texts)):
        s = int(res.status[i])
        out.append(None if s == 0 else (STATUS[s], f"s/{res.kept_of[i]}",
                                       1.0 if s == 1 else round(float(res.similarity[i]), 4)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shard", [1, 7, 10_000])
def test_same_verdicts_as_the_one_pass_deduplicator(seed, shard):
    texts = corpus(400, seed)
    want = [None if d is None else (d.reason, d.kept, d.similarity) for d in one_pass(texts)]
    got = sharded(texts, shard)
    assert got == want
    assert sum(g is not None and g[0] == "near_duplicate" for g in got) > 5  # the test exercises near dups


def test_exact_only():
    texts = corpus(300, 5)
    want = [None if d is None else (d.reason, d.kept, d.similarity) for d in one_pass(texts, near=False)]
    assert sharded(texts, 13, near=False) == want


def test_duplicate_pair_in_different_shards_is_found():
    base = " ".join(f"w{i}" for i in range(60))
    near = base.replace("w30", "zz")
    texts = [base] + [f"filler {i} " + " ".join(WORDS[i:i + 20]) for i in range(50)] + [near]
    got = sharded(texts, shard=10)  # first copy in shard 0, second in shard 5
    assert got[-1][0] == "near_duplicate" and got[-1][1] == "s/0" and got[-1][2] >= 0.8
    assert all(g is None for g in got[:-1])


def test_normaliser_strips_exactly_unicode_punctuation_and_dollar():
    """tokens() (ASCII fast path, one regex elsewhere) is the spec: NFKC, casefold, P* and `$` to spaces,
    then word runs and single symbols."""
    import random
    import re
    import sys
    import unicodedata

    from curate.mix.text import tokens

    def spec(text):
        text = unicodedata.normalize("NFKC", text).casefold()
        text = "".join(" " if ch == "$" or unicodedata.category(ch).startswith("P") else ch for ch in text)
        return re.findall(r"\w+|[^\w\s]", text)

    every = "".join(chr(c) for c in range(0x20, sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    texts = [every, "$x$ ∀ε>0, ‹a›_b", "ﬁ① İß ǅ a\u0301 x\x1cy \x00", "Plain ASCII_text, with $math$ + x^2=y."]
    rng = random.Random(0)
    texts += ["".join(rng.choice(every) if rng.random() < 0.4 else rng.choice(" _$ab1.,+=\u0301\u00a0")
                      for _ in range(rng.randrange(40))) for _ in range(2000)]
    for text in texts:
        assert tokens(text) == spec(text)


def test_tokens_of_parts_joined_by_whitespace_are_the_parts_tokens():
    """What lets a record's sides be normalised once: no token and no NFKC composition crosses whitespace."""
    import sys
    import unicodedata

    from curate.mix.text import joined, tokens

    marks = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))
             or unicodedata.category(chr(c)) in ("Mn", "Mc", "Me") or 0x1100 <= c <= 0x11FF]
    for sep in (" ", "\n", "\u3000"):
        for m in marks[::7]:
            a, b = f"x{m}", f"{m}y"
            assert tokens(a + sep + b) == tokens(a) + tokens(b) == joined([a, tokens(b)])


SIGN_TEXTS = ["a", "a b c d e", "a b c d e f", "ℝ → ℕ ∀ x ∈ S café", "x x x x x x x x x x", "\x00 ﬁ İ \x00",
              "∑ " * 70]


@pytest.mark.parametrize("shingle", [1, 3, 5])
def test_batch_signatures_equal_the_datasketch_reference(shingle):
    """The numpy batch path (prefix sums over the joined bytes) against datasketch's MinHash fed one shingle at
    a time through `shingle_hash` (Python integers): two implementations of one function."""
    from curate.mix.text import tokens

    rng = random.Random(shingle)
    texts = SIGN_TEXTS + [" ".join(rng.choice(WORDS + ["ε", "naïve", "x" * 300]) for _ in range(rng.randint(1, 120)))
                          for _ in range(300)]
    toks = [tokens(t) for t in texts]
    signer = Signer(shingle=shingle)
    signer.chunk = 37  # several numpy batches
    keys = signer.keys_from_tokens(toks)
    assert keys.has_signature.all()
    for i, t in enumerate(toks):
        assert np.array_equal(keys.signatures[i], signer.signature(t)), texts[i]


def test_shingle_hash_ignores_nothing_it_should_see():
    from curate.pipeline.dedup import shingle_hash

    seen = {shingle_hash(s) for s in (b"a b c", b"a c b", b"ab c", b"a bc", b"a b", b"a b c d", b"b a c", b"a b d")}
    assert len(seen) == 8


def test_signatures_are_the_same_in_processes_with_different_hash_seeds():
    """No salted `hash` anywhere: signatures and band keys agree across interpreters."""
    import os
    import subprocess
    import sys

    code = ("import hashlib, sys; from curate.pipeline.dedup import Signer; "
            f"k = Signer().keys({SIGN_TEXTS + corpus(50, 9)!r}); "
            "print(hashlib.sha256(k.signatures.tobytes() + k.bands.tobytes() + k.digests.tobytes()).hexdigest())")
    outs = set()
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())
    import hashlib

    k = Signer().keys(SIGN_TEXTS + corpus(50, 9))
    outs.add(hashlib.sha256(k.signatures.tobytes() + k.bands.tobytes() + k.digests.tobytes()).hexdigest())
    assert len(outs) == 1


def test_tokens_with_a_space_are_refused():
    with pytest.raises(ValueError):
        Signer().keys_from_tokens([["a b", "c"]])


def planted_pairs(n: int, seed: int, words: int = 120) -> list[str]:
    """n pairs: a random `words`-word text, then the same text with one inner word replaced (Jaccard of
    5-word shingles 111/121 ~ 0.917: the benchmark's planted near duplicates at their shortest)."""
    rng = random.Random(seed)
    vocab = [f"v{i}" for i in range(50_000)]
    texts = []
    for _ in range(n):
        a = [rng.choice(vocab) for _ in range(words)]
        b = list(a)
        b[rng.randrange(5, words - 5)] = "changed"
        texts += [" ".join(a), " ".join(b)]
    return texts


def resolved(texts: list[str], **kw):
    signer = Signer(**kw)
    k = signer.keys(texts)
    res = resolve(k.digests, k.has_signature, k.bands, lambda idx: k.signatures[idx], signer.threshold, signer.b,
                  signer.r)
    return signer, res


def test_one_word_changed_in_a_120_word_text_is_always_found():
    texts = planted_pairs(3000, 11)
    signer, res = resolved(texts)
    assert (signer.b, signer.r) == (18, 7)
    second = res.status[1::2]
    assert (second == 2).all(), f"{np.count_nonzero(second != 2)} of 3000 planted pairs missed"
    assert (res.kept_of[1::2] == np.arange(0, len(texts), 2)).all() and (res.status[0::2] == 0).all()
    assert res.candidate_pairs == 3000  # unrelated texts never share a band
    # the same pairs with datasketch's even weights (9 bands x 13 rows) lose some: what the test guards against
    signer, res = resolved(texts, recall_weight=0.5)
    assert (signer.b, signer.r) == (9, 13) and np.count_nonzero(res.status[1::2] != 2) > 10


def test_recall_weight_is_checked():
    with pytest.raises(ValueError):
        Signer(recall_weight=1.5)


def crowded(n: int, seed: int) -> list[str]:
    """Copies of a few 100-word texts, each with 1-2 words changed: large groups share a band key, and near
    duplicates of near duplicates (chains) are everywhere."""
    rng = random.Random(seed)
    bases = [[rng.choice(WORDS) for _ in range(100)] for _ in range(6)]
    texts = []
    for _ in range(n):
        words = list(rng.choice(bases))
        for _ in range(rng.randint(1, 2)):
            words[rng.randrange(100)] = rng.choice(WORDS)
        texts.append(" ".join(words))
    return texts


@pytest.mark.parametrize("chunk", [3, 32_768])
@pytest.mark.parametrize("seed", [0, 1])
def test_large_candidate_groups_give_the_one_pass_verdicts(seed, chunk, monkeypatch):
    from curate.pipeline import dedup

    monkeypatch.setattr(dedup, "PAIR_CHUNK", chunk)  # pairs checked a few at a time, or all at once
    texts = crowded(300, seed)
    want = [None if d is None else (d.reason, d.kept, d.similarity) for d in one_pass(texts)]
    assert sharded(texts, 17) == want
    assert sum(w is not None and w[0] == "near_duplicate" for w in want) > 20


def test_candidate_pairs_counts_each_kept_earlier_record_sharing_a_band_once():
    texts = crowded(200, 3)
    signer, res = resolved(texts)
    k = signer.keys(texts)
    digests = k.digests.tolist()
    first: dict = {}
    for i, d in enumerate(digests):
        first.setdefault(d, i)
    cand = [i for i, d in enumerate(digests) if first[d] == i and k.has_signature[i]]  # no exact copy, signed
    want = 0
    for x, j in enumerate(cand):
        want += sum(1 for i in cand[:x] if res.status[i] == 0 and (k.bands[i] == k.bands[j]).any())
    assert want > 100 and res.candidate_pairs == want
