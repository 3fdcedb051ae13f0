"""Token counts with the probe's tokenizer (cached per dataset fingerprint)."""

from __future__ import annotations

from functools import lru_cache

from curate import probe
from curate.cache import Cache
from curate.errors import CurateError
from curate.records import render


@lru_cache(maxsize=4)
def tokenizer_for(model: str = probe.DEFAULT_PROBE):
    """The tokenizer of `model` alone (no weights loaded); pad token set to eos if missing."""
    tok = probe.auto_tokenizer().from_pretrained(probe.resolve(model))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def maybe_tokenizer(model: str = probe.DEFAULT_PROBE):
    try:
        return tokenizer_for(model)
    except CurateError:
        return None


CHUNK = 4096
"""Texts per batched tokenizer call (bounds the memory of one call's token lists)."""


def lengths(texts: list[str], tokenizer) -> list[int]:
    """Tokens per text (no special tokens): counted without encoding for a byte-level BPE tokenizer such as
    SmolLM2's (`curate.pipeline.tokencount`: the same counts, several times faster), else `encoded_lengths`."""
    from curate.pipeline.tokencount import counter

    fast = counter(tokenizer)
    return fast.counts(texts) if fast is not None else encoded_lengths(texts, tokenizer)


def encoded_lengths(texts: list[str], tokenizer) -> list[int]:
    """Tokens per text (no special tokens) by encoding them, in batched calls of CHUNK texts."""
    out: list[int] = []
    for start in range(0, len(texts), CHUNK):
        enc = tokenizer(texts[start:start + CHUNK], add_special_tokens=False, truncation=False)["input_ids"]
        out.extend(len(ids) for ids in enc)
    return out


def record_lengths(ds, tokenizer, fingerprint: str, model: str = probe.DEFAULT_PROBE) -> list[int]:
    """Tokens per record (rendered text), cached by dataset fingerprint and tokenizer."""
    cache = Cache("tokens")
    key = {"fingerprint": fingerprint, "tokenizer": probe.model_id(model), "vocab": len(tokenizer)}
    hit = cache.get_json(key)
    if hit is not None and len(hit) == len(ds):
        return hit
    out = lengths([render(r) for r in ds], tokenizer)
    cache.put_json(key, out)
    return out
