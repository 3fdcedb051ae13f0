"""Records -> distinct, seeded batches of token ids with an attention mask.

Which records go into which batch depends only on the number of records, the batch size, the
number of batches and the seed (`draw`), so a cache can be checked before anything is tokenized.
Batch i is drawn without replacement from the records no earlier batch took, with its own RNG
seeded by (seed, i): batches are distinct and batch i does not change when more batches are asked
for. Texts are tokenized once (`tokenize`), truncated to a fixed maximum length; each batch is
padded to its own longest sequence, and padding is marked only by the attention mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BatchPlan:
    """Which records (row indices of the dataset) each batch holds."""

    rows: list[list[int]]
    records: int
    """Records in the dataset."""
    notes: list[str] = field(default_factory=list)

    @property
    def used(self) -> int:
        return sum(len(r) for r in self.rows)


@dataclass
class Batch:
    input_ids: "torch.LongTensor"  # noqa: F821  (n, L), L = longest sequence in this batch
    attention_mask: "torch.LongTensor"  # noqa: F821  (n, L), 1 = real token, 0 = padding

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def draw(records: int, batches: int, batch_size: int, seed: int) -> BatchPlan:
    """Seeded, distinct batches of row indices.

    A dataset smaller than batches × batch_size is used as it is: every record, split into as many
    batches as it fills (at least two when it has two records, so a within-set distance exists),
    of near-equal size; a note says so.
    """
    if batches < 1 or batch_size < 1:
        raise ValueError("batches and batch_size must be positive")
    if records < 1:
        raise ValueError("no records to draw batches from")
    notes: list[str] = []
    if records >= batches * batch_size:
        sizes = [batch_size] * batches
    else:
        k = min(batches, max(2, -(-records // batch_size)), records)
        sizes = [records // k + (1 if i < records % k else 0) for i in range(k)]
        notes.append(f"only {records} records (< {batches} batches × {batch_size}); using all of them in "
                     f"{k} batch{'es' if k != 1 else ''} of {'/'.join(map(str, sorted(set(sizes), reverse=True)))}")
    pool = np.arange(records)
    rows: list[list[int]] = []
    for i, size in enumerate(sizes):
        rng = np.random.default_rng([seed, i])
        pick = rng.choice(pool.size, size=size, replace=False)
        rows.append(sorted(int(r) for r in pool[pick]))
        pool = np.delete(pool, pick)
    return BatchPlan(rows=rows, records=records, notes=notes)


def tokenize(texts: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """Token ids of each text (the tokenizer's own special tokens), truncated to `max_length`."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
    return [list(ids) for ids in enc["input_ids"]]


def collate(sequences: list[list[int]], pad_id: int = 0) -> Batch:
    """Right-pad to the longest sequence here. `pad_id` only fills space: the mask marks padding."""
    import torch

    longest = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), max(longest, 1)), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, : len(seq)] = 1
    return Batch(ids, mask)


def pad_id(tokenizer) -> int:
    """Any valid id to fill padding with (never used to find padding)."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0
