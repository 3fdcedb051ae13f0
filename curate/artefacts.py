"""Per-source facts paid for once: content fingerprint, record count, skipped rows, token count.

They are keyed by everything they depend on — the source spec, its data files' paths, sizes and
modification times, the code that turns files into records, and the tokenizer — so a rerun reads
one small JSON file per source instead of reading, rendering and tokenizing the whole source, and
needs neither the `datasets` library nor a tokenizer. Hub sources (no files to stat) are read
(streamed, `streaming=True`) on every run.

`LazySource` stands in for a source's `datasets.Dataset`: its length and fingerprint come from the
facts, and the records are loaded only if something reads them (a metric whose result is cached
never does). The rows read for the facts are kept as a `HeldSource` (a list: no `datasets` import,
each record rendered once for both the fingerprint and the token count). A source of more than
HOLD_RECORDS records is never loaded: it is a `StreamedSource`, whose drawn rows come from a
streamed pass that keeps only them.
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
"""Texts of a streamed source counted together (held this many at a time)."""
HOLD_RECORDS = 50_000
"""Sources with more records than this are never held in memory: their facts come from one streamed
pass (exact record count and fingerprint; tokens exact up to SAMPLE_ABOVE records, else estimated
from a reservoir sample, labelled), and the rows a metric draws from another streamed pass that
keeps only those rows (`StreamedSource`)."""


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

    @property
    def streamed(self) -> bool:
        """Whether the source is too large to hold (read as a stream whenever rows are needed)."""
        return self.records > HOLD_RECORDS


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
    """Total tokens of `texts` (no special tokens; `curate.tokens.lengths`)."""
    from curate import tokens

    return sum(tokens.lengths(texts, tokenizer))


def _token_total(texts: list[str], tokenizer, seed: int = 0) -> tuple[int, bool]:
    """Tokens of a held source's rendered `texts`: exact, or estimated from a seeded sample when huge."""
    n = len(texts)
    if n <= SAMPLE_ABOVE:
        return count_tokens(texts, tokenizer), False
    import numpy as np

    idx = np.sort(np.random.default_rng([seed, n]).choice(n, size=TOKEN_SAMPLE, replace=False))
    sampled = count_tokens([texts[i] for i in idx.tolist()], tokenizer)
    return round(sampled * n / TOKEN_SAMPLE), True


@dataclass
class Scan:
    """What one streamed pass over a source gives (`scan`)."""

    fingerprint: str
    records: int
    report: Any
    held: "HeldSource | None" = None
    """The record rows when there are at most HOLD_RECORDS of them, else None."""
    texts: list[str] | None = None
    """Held sources: each record's rendered text (rendered once, for the fingerprint and the tokens)."""
    tokens: int | None = None
    """Streamed sources: tokens of every record (exact up to SAMPLE_ABOVE records) or the estimate."""
    tokens_estimated: bool = False


class _Stream:
    """The running state of a streamed scan: fingerprint (as `load.fingerprint`), exact token count
    while at most SAMPLE_ABOVE records, and a reservoir of TOKEN_SAMPLE texts (algorithm R, seeded)."""

    def __init__(self, tokenizer, seed: int):
        import random

        self.tokenizer, self.rng = tokenizer, random.Random(seed)
        self.digest = hashlib.sha256()
        self.n = 0
        self.exact = 0
        self.chunk: list[str] = []
        self.sample: list[str] = []

    def add(self, row: dict) -> None:
        from curate.records import render

        text = render(row)
        self.n += 1
        load.fingerprint_add(self.digest, row["id"], text)
        if self.tokenizer is None:
            return
        if self.n <= SAMPLE_ABOVE:
            self.chunk.append(text)
            if len(self.chunk) >= TOKEN_CHUNK:
                self.flush()
        elif self.chunk:
            self.chunk.clear()  # past SAMPLE_ABOVE the total is estimated; the exact part is dropped
        if len(self.sample) < TOKEN_SAMPLE:
            self.sample.append(text)
        else:
            j = self.rng.randrange(self.n)
            if j < TOKEN_SAMPLE:
                self.sample[j] = text

    def flush(self) -> None:
        self.exact += count_tokens(self.chunk, self.tokenizer)
        self.chunk.clear()

    def tokens(self) -> tuple[int | None, bool]:
        if self.tokenizer is None:
            return None, False
        if self.n <= SAMPLE_ABOVE:
            self.flush()
            return self.exact, False
        return round(count_tokens(self.sample, self.tokenizer) * self.n / len(self.sample)), True


def scan(name: str, tokenizer=None, seed: int = 0) -> Scan:
    """Read catalog source `name` once as a stream. Up to HOLD_RECORDS records are held and returned
    with their rendered texts (their tokens are then counted by the caller); past
    that the held rows are dropped and the pass keeps only a running fingerprint (equal to
    `load.fingerprint`), the token count (exact up to SAMPLE_ABOVE records, in batched tokenizer
    calls) and a reservoir of TOKEN_SAMPLE texts for a larger source's labelled estimate. Memory is
    bounded by HOLD_RECORDS rows whatever the source's size. No record cap but `--max-records`."""
    spec = catalog.get(name)
    report = load.LoadReport(spec.name)
    held: list[dict] | None = []
    stream = _Stream(tokenizer, seed)
    for row in load.iter_records(spec, report, load.max_records(spec, whole=False)):
        if held is None:
            stream.add(row)
            continue
        held.append(row)
        if len(held) > HOLD_RECORDS:  # too many to hold: from here on the source is a stream
            for old in held:
                stream.add(old)
            held = None
    if held is not None:
        from curate.records import render

        texts = [render(row) for row in held]
        digest = hashlib.sha256()
        for row, text in zip(held, texts):
            load.fingerprint_add(digest, row["id"], text)
        return Scan(fingerprint=digest.hexdigest()[:16], records=len(held), report=report, held=HeldSource(held),
                    texts=texts)
    tokens_, estimated = stream.tokens()
    return Scan(fingerprint=stream.digest.hexdigest()[:16], records=stream.n, report=report, tokens=tokens_,
                tokens_estimated=estimated)


def facts(name: str, tokenizer_model: str | None = probe.DEFAULT_PROBE, use_cache: bool = True) -> SourceFacts:
    """The facts of catalog source `name` (tokens with `tokenizer_model`'s tokenizer; None = no tokens).
    Read from the cache when its files are unchanged; else the source is read once (`scan`: held
    when small, streamed when it has more than HOLD_RECORDS records)."""
    hit = cached_facts(name, tokenizer_model) if use_cache else None
    if hit is not None:
        return hit
    key = files_key(name)
    cache = Cache("sources", enabled=use_cache)
    base_key = {"v": 1, **key} if key is not None else None
    tok = None
    if tokenizer_model is not None:
        from curate import tokens

        tok = tokens.maybe_tokenizer(tokenizer_model)
    found = scan(name, tok)  # not memoised: the files changed (or were never read)
    out = SourceFacts(name=name, fingerprint=found.fingerprint, records=found.records,
                      skipped=dict(found.report.skipped))
    if found.held is not None:
        _LOADED[(name, out.fingerprint)] = found.held
    if base_key is not None:
        cache.put(base_key, {"fingerprint": out.fingerprint, "records": out.records, "skipped": out.skipped})
    if tok is not None:
        if found.texts is not None:
            out.tokens, out.tokens_estimated = _token_total(found.texts, tok)
        else:
            out.tokens, out.tokens_estimated = found.tokens, found.tokens_estimated
        if base_key is not None:
            cache.put({**base_key, "tokenizer": probe.model_id(tokenizer_model)},
                      {"tokens": out.tokens, "estimated": out.tokens_estimated})
    return out


def cached_facts(name: str, tokenizer_model: str | None = probe.DEFAULT_PROBE) -> SourceFacts | None:
    """The cached facts of `name` (with its tokens under `tokenizer_model`, unless None) when its files
    are unchanged; None when they must be computed (`facts`). Reads one or two small files."""
    key = files_key(name)
    if key is None:
        return None
    cache = Cache("sources")
    base_key = {"v": 1, **key}
    hit = cache.get(base_key)
    if hit is None:
        return None
    out = SourceFacts(name=name, **hit)
    if tokenizer_model is None:
        return out
    tok_hit = cache.get({**base_key, "tokenizer": probe.model_id(tokenizer_model)})
    if tok_hit is None:
        return None
    out.tokens, out.tokens_estimated = tok_hit["tokens"], tok_hit["estimated"]
    return out


_LOADED: dict[tuple[str, str], Any] = {}
"""Sources this process read to compute facts (`HeldSource`s), by (name, fingerprint): read once per run."""


class HeldSource:
    """A source's record rows held in a list: what a metric reads of a `datasets.Dataset` (`len`,
    iteration, `select(indices)` -> the rows at those indices, in the order asked), without building one."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, item):
        return self.rows[item]

    def select(self, indices) -> list[dict]:
        return [self.rows[int(i)] for i in indices]


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
            if self._ds is None and self.facts.streamed:
                self._ds = StreamedSource(self.name, self.facts.records)
            elif self._ds is None:
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


class StreamedSource:
    """A source too large to hold, read as a stream whenever rows are asked for. `select(rows)` makes
    one pass that keeps only those rows (up to the last one asked for), so a seeded batch plan drawn
    over the exact record count (`batching.draw`) gives the very rows a loaded copy would: batches
    are deterministic under the seed and the same whether the source is held or streamed."""

    def __init__(self, name: str, records: int):
        self.name, self.records = name, records

    def __len__(self) -> int:
        return self.records

    def _rows(self):
        spec = catalog.get(self.name)
        return load.iter_records(spec, load.LoadReport(spec.name), load.max_records(spec, whole=False))

    def __iter__(self):
        return self._rows()

    def select(self, indices) -> list[dict]:
        """The record rows at `indices` (any order, as given), from one streamed pass."""
        want = [int(i) for i in indices]
        if not want:
            return []
        if min(want) < 0 or max(want) >= self.records:
            raise IndexError(f"{self.name}: rows outside 0..{self.records - 1}")
        wanted, last, got = set(want), max(want), {}
        rows = self._rows()
        try:
            for i, row in enumerate(rows):
                if i in wanted:
                    got[i] = row
                if i >= last:
                    break
        finally:
            rows.close()
        if len(got) < len(wanted):
            from curate.errors import CurateError

            raise CurateError(f"source {self.name!r} changed while it was being ranked "
                              f"({self.records} records counted, fewer now); rerun")
        return [got[i] for i in want]


def fingerprint_of(dataset) -> str:
    """The content fingerprint of a records dataset, without hashing it again when it is known."""
    return getattr(dataset, "curate_fingerprint", None) or load.fingerprint(dataset)


__all__ = ["SourceFacts", "facts", "cached_facts", "scan", "Scan", "files_key", "count_tokens", "LazySource",
           "HeldSource", "StreamedSource", "fingerprint_of"]
