"""The map steps' fast paths give exactly what the plain per-record code gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from curate.mix.decontam import ContaminationIndex
from curate.mix.text import tokens
from curate.pipeline.dedup import Signer
from curate.pipeline.steps import render_tokens
from curate.records import Record, render

TARGET = [
    {"id": "t1", "informal": "Let G be a finite group and H a subgroup of index two; prove that H is normal in G.",
     "formal": "theorem idx_two {G : Type*} [Group G] (H : Subgroup G) (h : H.index = 2) : H.Normal :="},
    {"id": "t2", "informal": "Prove that the square root of two is irrational, using unique factorisation.",
     "formal": "theorem sqrt_two_irrational : Irrational (Real.sqrt 2) :="},
    {"id": "t3", "informal": "Short item.", "formal": None},
]
WORDS = "let prove that the group subgroup finite index two normal square root of irrational real is a be".split()


def rows(n: int, seed: int) -> list[dict]:
    """Random records, some carrying target windows on either side, across the join, or whole sides."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        inf = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40)))
        frm = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 20)))
        r = rng.random()
        t = rng.choice(TARGET)
        if r < 0.1:
            inf += " " + t["informal"]
        elif r < 0.15 and t["formal"]:
            frm = t["formal"]
        elif r < 0.2:  # a window split across the informal/formal join
            w = t["informal"].split()
            inf, frm = inf + " " + " ".join(w[:5]), " ".join(w[5:9]) + " " + frm
        elif r < 0.25:
            inf = t["informal"].upper()
        out.append({"id": f"r{i}", "source": "s", "kind": rng.choice(["pair", "informal", "formal"]),
                    "informal": inf or None, "formal": frm or None})
    return out


def test_match_batch_equals_match_row_by_row():
    idx = ContaminationIndex(13, 8)
    for t in TARGET:
        idx.add_record(t)
    batch = rows(600, 0)
    toks = [{"informal": tokens(r["informal"]), "formal": tokens(r["formal"])} for r in batch]
    got = idx.match_batch(batch, toks)
    want = [idx.match(r) for r in batch]
    assert got == want
    assert sum(g is not None for g in got) > 60 and any(g is not None and g.side == "pair" for g in got)
    assert not idx.may_share_window([(["nothing", "here"] * 10,)]).any()


def test_render_tokens_are_the_rendered_texts_tokens():
    for r in rows(300, 1) + [{"id": "x", "source": "s", "kind": "pair", "informal": "  ", "formal": "a b"},
                             {"id": "y", "source": "s", "kind": "pair", "informal": "ℝ→ℕ", "formal": "\u0301x"}]:
        r["text"] = render(r)
        r["_toks"] = {"informal": tokens(r["informal"]), "formal": tokens(r["formal"])}
        assert render_tokens(r) == tokens(r["text"])


def datasketch_signature(toks: list[str], num_perm: int = 128, k: int = 5) -> np.ndarray:
    """The signature as the one-pass Deduplicator computes it (datasketch, deduplicated shingles)."""
    from datasketch import MinHash

    from curate.pipeline.dedup import shingle_hash

    grams = [" ".join(toks[i:i + k]) for i in range(max(1, len(toks) - k + 1))]
    m = MinHash(num_perm=num_perm, seed=1, hashfunc=shingle_hash)
    m.update_batch([g.encode("utf-8") for g in dict.fromkeys(grams)])
    return m.hashvalues


@pytest.mark.parametrize("num_perm", [128, 64])
def test_batch_signatures_equal_datasketch(num_perm):
    rng = random.Random(2)
    texts = ["", "a", "a b c d e", "a b c d e f", "ℝ → ℕ ∀ x ∈ S café", "x x x x x x x x x x"]
    texts += [" ".join(rng.choice(WORDS + ["ε", "∑", "naïve"]) for _ in range(rng.randint(1, 200))) for _ in range(700)]
    toks = [tokens(t) for t in texts]
    signer = Signer(num_perm=num_perm)
    keys = signer.keys_from_tokens(toks)  # 706 records: several numpy chunks
    for i, t in enumerate(toks):
        assert keys.has_signature[i] == bool(t)
        if t:
            assert np.array_equal(keys.signatures[i], datasketch_signature(t, num_perm)), texts[i]
    assert np.array_equal(keys.digests, signer.keys(texts).digests)


def test_load_row_is_the_records_row():
    from curate.load import _row

    rec = Record(id="a", source="s", kind="pair", informal="x", formal="y", formal_lang="lean4", split="test",
                 meta={"b": 1, "a": [1, 2], "é": "ü"})
    assert _row(rec) == rec.to_row() and list(_row(rec)) == list(rec.to_row())


def test_bmp_token_pattern_agrees_with_the_full_one():
    """`text.tokens` uses a BMP-only pattern for BMP text: the same tokens as the full pattern for every BMP
    code point, in and between words; text beyond the BMP takes the full pattern (astral punctuation is a space)."""
    import unicodedata

    from curate.mix import text

    anywhere, bmp = text._unicode_token()
    for c in range(0x80, 0x10000):
        s = unicodedata.normalize("NFKC", f"a{chr(c)}b {chr(c)} é").casefold()
        if text.within_bmp(s):
            assert bmp.findall(s) == anywhere.findall(s), hex(c)
    assert not text.within_bmp("é\U00010100") and text.within_bmp("é\ud800")
    assert tokens("é\U00010100b") == ["é", "b"]  # U+10100 AEGEAN WORD SEPARATOR LINE is punctuation (Po)


def test_ascii_tokens_are_the_regex_tokens():
    """ASCII text is tokenised by one translation and `split`: the tokens of the definition (`\\w+|[^\\w\\s]`
    over the lowered text with punctuation and `$` as spaces), for every ASCII character in and between words."""
    import random
    import re
    import unicodedata

    punct = {c: " " for c in map(chr, range(128)) if c == "$" or unicodedata.category(c).startswith("P")}

    def reference(s):
        return re.findall(r"\w+|[^\w\s]", s.lower().translate(str.maketrans(punct)))

    texts = [f"a{chr(c)}B {chr(c)}1{chr(c)}{chr(c)} x{chr(c)}" for c in range(128)]
    rng = random.Random(0)
    texts += ["".join(rng.choice([chr(c) for c in range(128)]) for _ in range(rng.randrange(60))) for _ in range(3000)]
    for t in texts:
        assert tokens(t) == reference(t), repr(t)


def test_window_precheck_sees_a_window_across_the_two_sides():
    idx = ContaminationIndex(13, 8)
    for t in TARGET:
        idx.add_record(t)
    words = tokens(TARGET[1]["informal"])
    assert idx.may_share_window([(["x"] * 3 + words[:4], words[4:9] + ["y"])])[0]
    assert not idx.may_share_window([(["x"] * 3 + words[:4], ["y"] + words[4:9])])[0]
