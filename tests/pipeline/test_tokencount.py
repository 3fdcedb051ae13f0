"""PieceCounter gives the tokenizer's own counts (tiny byte-level BPE here; the real probe where pulled)."""

import random
import sys
import unicodedata

import pytest

from curate.pipeline import tokencount

TRICKY = ["", " ", "  ", "\n\n", "a  b", "a \n b", "it's", "IT'S", "we're we've I'm you'll he'd", "'s'", "''s",
          "x\u00a0y", "x\u2003 y", "\u3000\u3000a", "é", "naïve café", "ℝ → ℕ", "∀ x ∈ S, f x = 0", "①②3", "٣٤",
          "α₁ + β²", "x\x1cy", "\x00\x7f", "tab\tsep\r\nline", "\u0301a", "a\u0301", "日本語 テキスト", "$\\frac{1}{2}$",
          "theorem foo (h : a ≤ b) : a < b + 1 := by\n  linarith", "<|endoftext|> x", "a<|im_start|>b", "\U0001F600 ok",
          "\U0001FAE8"]


def _random_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    pool = [chr(c) for c in range(0x3000) if unicodedata.category(chr(c)) not in ("Cs",)]
    alpha = " \t\n\r\x0b\x0c\x1c\x85\u00a0'sStTrevmld0123456789abcXYZ!?.,;:()[]{}<>$\\^_`|~"
    return ["".join(rng.choice(pool) if rng.random() < 0.3 else rng.choice(alpha) for _ in range(rng.randrange(0, 60)))
            for _ in range(n)]


def _check(tok) -> None:
    from curate import tokens

    texts = TRICKY + _random_texts(0, 3000)
    c = tokencount.counter(tok)
    assert c is not None
    want = tokens.encoded_lengths(texts, tok)
    assert c.counts(texts) == want
    assert c.counts(texts) == want  # from the caches
    assert tokens.lengths(texts, tok) == want
    assert c.split("\ud800") is None and c.split("<|endoftext|>") is None and c.split("\U0001FAE8") is None


def test_counts_equal_the_tokenizer_tiny(tiny_byte_bpe):
    _check(tiny_byte_bpe)


def test_cached_parts_count_the_same_in_every_context(tiny_byte_bpe):
    """Counts cached per space-separated part are reused only where a piece must end before that space: texts
    joining the same parts with every kind of space run, counted cold and then from the cache, equal the
    tokenizer's counts."""
    from curate import tokens

    rng = random.Random(3)
    parts = ["a", "it's", "'s", "x^2", "$x$", "(h", ":", "ℝ", "naïve", "①", "\u00a0y", "é\u0301", "12", "a\nb", "\n",
             "\t", "", "<|endoftext|>", "\U0001F600", "tab\tsep", "x\x1c"]
    seps = [" ", " ", " ", "  ", " \n", "\n ", " \t", "\u00a0 ", " \u3000", "   "]
    texts = ["".join(rng.choice(parts) + rng.choice(seps) for _ in range(rng.randrange(1, 12))).rstrip(" ")
             for _ in range(3000)]
    c = tokencount.counter(tiny_byte_bpe)
    want = tokens.encoded_lengths(texts, tiny_byte_bpe)
    assert c.counts(texts) == want
    assert c.counts(texts[::-1]) == want[::-1]
    assert c._after and all(p and p[0] not in tokencount._WS and p[-1] not in tokencount._WS for p in c._after)
    assert all(p == "" or p[-1] not in tokencount._WS for p in c._first)


def test_other_tokenizers_are_encoded(tiny_byte_bpe):
    """A tokenizer left with truncation (or padding) set by an earlier call is encoded while it is set, and
    counted again once it is not; other kinds of tokenizer are always encoded."""
    from curate import tokens

    text = ["a b c d e f g h i j k l"]
    assert tokencount.counter(tiny_byte_bpe) is not None
    tiny_byte_bpe._tokenizer.enable_truncation(8)
    try:
        assert tokencount.counter(tiny_byte_bpe) is None
        assert tokens.lengths(text, tiny_byte_bpe) == tokens.encoded_lengths(text, tiny_byte_bpe) != [8]
    finally:
        tiny_byte_bpe._tokenizer.no_truncation()
    tiny_byte_bpe.pad_token = "<|endoftext|>"
    tiny_byte_bpe(["a", "a b c"], padding=True)  # transformers leaves padding set on the backend
    assert tokencount.counter(tiny_byte_bpe) is None and tokens.lengths(text, tiny_byte_bpe)[0] > 8
    tiny_byte_bpe._tokenizer.no_padding()
    assert tokencount.counter(tiny_byte_bpe) is not None
    assert tokencount._make(object()) is None


def _real_probe():
    from curate import probe, tokens
    from curate.errors import CurateError

    try:
        return tokens.tokenizer_for(probe.resolve("smollm2"))
    except (CurateError, OSError):
        pytest.skip("the smollm2 probe is not pulled")


@pytest.mark.slow
def test_counts_equal_the_probe_tokenizer():
    _check(_real_probe())


@pytest.mark.slow
@pytest.mark.skipif(unicodedata.unidata_version not in tokencount.CHECKED_UNICODE,
                    reason="classes checked for another Unicode version; non-ASCII text is encoded there")
def test_every_code_point_splits_as_the_tokenizer():
    """Every code point the counter accepts, in contexts that show its class (letter, number, White_Space,
    other, the literal space and the contractions), is cut where the probe's pre-tokenizer cuts (~1 min)."""
    tok = _real_probe()
    c = tokencount.counter(tok)
    pre = tok._tokenizer.pre_tokenizer
    byte = tokencount._byte_chars()
    bad = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        x = f"a{ch}1{ch}-{ch} {ch}\t{ch}{ch}x {ch}'s{ch}"
        pieces = c.split(x)
        if pieces is None:
            continue
        if ["".join(byte[b] for b in p.encode("utf-8")) for p in pieces] != [p for p, _ in pre.pre_tokenize_str(x)]:
            bad.append(hex(cp))
    assert not bad, bad[:20]


@pytest.mark.skipif(unicodedata.unidata_version not in tokencount.CHECKED_UNICODE, reason="other Unicode version")
def test_bmp_regex_split_equals_the_translation_split(tiny_byte_bpe):
    """Text within the BMP is split by a regex with explicit code-point classes, other text by translating each
    character to an ASCII stand-in: the same pieces wherever both apply."""
    from itertools import accumulate

    def by_translation(text):
        ends = list(accumulate(map(len, tokencount._PIECE.findall(text.translate(tokencount._CLASS_OF)))))
        return list(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))

    c = tokencount.counter(tiny_byte_bpe)
    every = [chr(cp) for cp in range(128, 0x10000, 3) if unicodedata.category(chr(cp)) not in ("Cn", "Cs")]
    rng = random.Random(5)
    texts = [t for t in TRICKY + _random_texts(1, 3000) if not t.isascii() and max(t) <= "\uffff"]
    texts += ["".join(rng.choice(every) if rng.random() < 0.5 else rng.choice(" \t'sd1a-\u00a0\u3000\x1c")
                      for _ in range(rng.randrange(1, 40))) for _ in range(4000)]
    split = 0
    for t in texts:
        got = c.split(t)
        if got is not None:
            assert got == by_translation(t), repr(t)
            split += 1
        else:  # an added token, or a code point this Unicode database leaves unassigned
            assert "<|" in t or any(unicodedata.category(ch) in ("Cn", "Cs") for ch in t), repr(t)
    assert split > 4000
