"""Per-source facts paid for once: content fingerprint, record count, skipped rows, token count.

They are keyed by everything they depend on — the source spec, its data files' paths, sizes and
modification times, the code that turns files into records, and the tokenizer — so a rerun reads
one small JSON file per source instead of reading, rendering and tokenizing the whole source, and
needs neither the `datasets` library nor a tokenizer. Hub sources (no files to stat) are loaded.

`LazySource` stands in for a source's `datasets.Dataset`: its length and fingerprint come from the
facts, and the records are loaded only if something reads them (a metric whose result is cached
never does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from curate import catalog, load, probe
from curate.cache import Cache

SAMPLE_ABOVE = 200_000
"""Sources with more records than this get their token count estimated from a sample (labelled)."""
TOKEN_SAMPLE = 20_000
"""Records tokenized for such an estimate (a seeded uniform sample)."""
TOKEN_CHUNK = 4096
"""Texts per batched tokenizer call."""


@dataclass
class SourceFacts:
    name: str
    fingerprint: str
    records: int
    skipped: dict[str, int] = field(default_factory=dict)
    tokens: int | None = None
    """Tokens of all rendered records with the probe's tokenizer (None: no tokenizer available)."""
    tokens_estimated: bool = False
    """True when `tokens` is extrapolated from TOKEN_SAMPLE records of a huge source."""


@lru_cache(maxsize=1)
def _code_version() -> str:
    """A hash of the modules that turn files into records and text: editing them invalidates facts."""
    h = hashlib.sha256()
    for mod in ("load.py", "records.py"):
        h.update((Path(__file__).parent / mod).read_bytes())
    return h.hexdigest()[:16]


def files_key(name: str) -> dict[str, Any] | None:
    """What a local source's records depend on; None for hub sources (nothing to stat)."""
    spec = catalog.get(name)
    if spec.is_hub:
        return None
    files = []
    for p in load.data_files(spec):
        st = p.stat()
        files.append([str(p), st.st_size, st.st_mtime_ns])
    return {"spec": spec.to_json(), "location": spec.location(), "files": files, "code": _code_version()}


def count_tokens(texts: list[str], tokenizer) -> int:
    """Total tokens of `texts` (no special tokens), in batched tokenizer calls."""
    total = 0
    for start in range(0, len(texts), TOKEN_CHUNK):
        enc = tokenizer(texts[start:start + TOKEN_CHUNK], add_special_tokens=False, truncation=False)["input_ids"]
        total += sum(len(ids) for ids in enc)
    return total


def _token_total(ds, tokenizer, seed: int = 0) -> tuple[int, bool]:
    n = len(ds)
    if n <= SAMPLE_ABOVE:
        return count_tokens(load.texts(ds), tokenizer), False
    import numpy as np

    idx = np.sort(np.random.default_rng([seed, n]).choice(n, size=TOKEN_SAMPLE, replace=False))
    sampled = count_tokens(load.texts(ds.select(idx.tolist())), tokenizer)
    return round(sampled * n / TOKEN_SAMPLE), True


def facts(name: str, tokenizer_model: str | None = probe.DEFAULT_PROBE, use_cache: bool = True) -> SourceFacts:
    """The facts of catalog source `name` (tokens with `tokenizer_model`'s tokenizer; None = no tokens).
    Read from the cache when its files are unchanged; else the source is loaded and counted once."""
    key = files_key(name)
    cache = Cache("sources", enabled=use_cache)
    base_key = {"v": 1, **key} if key is not None else None
    tok_key = None
    if base_key is not None:
        hit = cache.get(base_key)
        if hit is not None:
            out = SourceFacts(name=name, **hit)
            if tokenizer_model is None:
                return out
            tok_key = {**base_key, "tokenizer": probe.model_id(tokenizer_model)}
            tok_hit = cache.get(tok_key)
            if tok_hit is not None:
                out.tokens, out.tokens_estimated = tok_hit["tokens"], tok_hit["estimated"]
                return out
    ds, report = load.load_with_report(name)  # not memoised: the files changed (or were never read)
    out = SourceFacts(name=name, fingerprint=load.fingerprint(ds), records=len(ds), skipped=dict(report.skipped))
    _LOADED[(name, out.fingerprint)] = ds
    if base_key is not None:
        cache.put(base_key, {"fingerprint": out.fingerprint, "records": out.records, "skipped": out.skipped})
    if tokenizer_model is not None:
        from curate import tokens

        tok = tokens.maybe_tokenizer(tokenizer_model)
        if tok is not None:
            out.tokens, out.tokens_estimated = _token_total(ds, tok)
            if base_key is not None:
                cache.put({**base_key, "tokenizer": probe.model_id(tokenizer_model)},
                          {"tokens": out.tokens, "estimated": out.tokens_estimated})
    return out


_LOADED: dict[tuple[str, str], Any] = {}
"""Datasets this process loaded to compute facts, by (name, fingerprint): loaded once per run."""


class LazySource:
    """A source's dataset, loaded on first use. `len()` and `curate_fingerprint` need no loading."""

    def __init__(self, name: str, source_facts: SourceFacts):
        self.name = name
        self.facts = source_facts
        self.curate_fingerprint = source_facts.fingerprint
        self._ds = None

    @property
    def dataset(self):
        if self._ds is None:
            self._ds = _LOADED.get((self.name, self.facts.fingerprint))
            if self._ds is None:
                self._ds = load.load_with_report(self.name)[0]
                _LOADED[(self.name, self.facts.fingerprint)] = self._ds
            if len(self._ds) != self.facts.records:  # files changed under us since the facts were cached
                from curate.errors import CurateError

                raise CurateError(f"source {self.name!r} changed while it was being ranked "
                                  f"({self.facts.records} records cached, {len(self._ds)} now); rerun")
        return self._ds

    @property
    def loaded(self) -> bool:
        return self._ds is not None

    def __len__(self) -> int:
        return self.facts.records

    def __iter__(self):
        return iter(self.dataset)

    def __getitem__(self, item):
        return self.dataset[item]

    def __getattr__(self, attr: str):  # select, map, features, ... come from the real dataset
        if attr.startswith("__") or attr in ("_ds", "name", "facts", "curate_fingerprint"):
            raise AttributeError(attr)
        return getattr(self.dataset, attr)


def fingerprint_of(dataset) -> str:
    """The content fingerprint of a records dataset, without hashing it again when it is known."""
    return getattr(dataset, "curate_fingerprint", None) or load.fingerprint(dataset)


__all__ = ["SourceFacts", "facts", "files_key", "count_tokens", "LazySource", "fingerprint_of"]
