"""Seeded distinct batches, fixed-length tokenization, padding marked only by the mask."""

from __future__ import annotations


import pytest

from curate import batching

from tinymodels import char_tokenizer


def test_batches_are_distinct_seeded_and_prefix_stable():
    plan = batching.draw(1000, 4, 32, seed=7)
    rows = [r for b in plan.rows for r in b]
    assert [len(b) for b in plan.rows] == [32] * 4
    assert len(set(rows)) == len(rows) == 128  # without replacement: no record in two batches
    assert plan.notes == [] and plan.used == 128
    assert batching.draw(1000, 4, 32, seed=7).rows == plan.rows
    assert batching.draw(1000, 6, 32, seed=7).rows[:4] == plan.rows  # batch i depends on (seed, i)
    assert batching.draw(1000, 4, 32, seed=8).rows != plan.rows


def test_small_dataset_is_used_as_is_with_a_note():
    plan = batching.draw(50, 4, 32, seed=0)
    assert sorted(r for b in plan.rows for r in b) == list(range(50))
    assert [len(b) for b in plan.rows] == [25, 25]
    assert plan.notes and "only 50 records" in plan.notes[0]
    tiny = batching.draw(5, 4, 32, seed=0)
    assert len(tiny.rows) == 2 and tiny.used == 5
    one = batching.draw(1, 4, 32, seed=0)
    assert one.rows == [[0]] and one.notes
    with pytest.raises(ValueError):
        batching.draw(0, 4, 32, seed=0)


def test_tokenize_truncates_and_collate_pads_to_batch_longest():
    tok = char_tokenizer()
    seqs = batching.tokenize(["abcdef", "ab", "a" * 100], tok, max_length=10)
    assert [len(s) for s in seqs] == [6, 2, 10]
    batch = batching.collate(seqs[:2], pad_id=batching.pad_id(tok))
    assert batch.input_ids.shape == (2, 6)  # the batch's longest, not max_length
    assert batch.attention_mask.tolist() == [[1] * 6, [1, 1, 0, 0, 0, 0]]
    assert batch.tokens == 8


def test_padding_is_found_by_mask_not_by_id():
    # a pad id that is also a real token id: only the mask tells padding apart
    seqs = [[5, 5, 5], [5]]
    batch = batching.collate(seqs, pad_id=5)
    assert batch.input_ids.tolist() == [[5, 5, 5], [5, 5, 5]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_pad_id_falls_back_to_eos():
    tok = char_tokenizer(pad_token="")
    assert tok.pad_token_id is None
    assert batching.pad_id(tok) == tok.eos_token_id
