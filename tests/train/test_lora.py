"""LoRA training and target evaluation on a tiny random-init Llama (seconds each)."""

from __future__ import annotations

import json

import pytest
import torch

from curate import load
from train.evaluate import EvalConfig, evaluate, split_prompt
from train.lora import LoraTrainConfig, collate, make_sequences, reload_eval, select_tokens, train_lora

from _tiny import ALIGNED, CHAT, TARGET, tiny_model_dir  # noqa: F401


def tiny_config(model, **kw) -> LoraTrainConfig:
    base = dict(model=str(model), budget=600, epochs=4, r=8, alpha=16, lr=1e-2, batch_size=4, max_length=64,
                eval=EvalConfig(batch_size=4))
    return LoraTrainConfig(**{**base, **kw})


def test_padding_does_not_change_eval_ce(tiny_model_dir):
    from curate import probe

    model, tok = probe.load(str(tiny_model_dir))
    ds = load.load_source(TARGET)
    one = evaluate(model, tok, ds, EvalConfig(batch_size=1))
    many = evaluate(model, tok, ds, EvalConfig(batch_size=6))
    assert one.tokens == many.tokens > 0
    assert many.ce == pytest.approx(one.ce, rel=1e-5)
    # Formal-only scoring scores fewer tokens (the informal prompt is masked), on the same items.
    formal = evaluate(model, tok, ds, EvalConfig(batch_size=6, formal_only=True))
    assert 0 < formal.tokens < one.tokens and formal.items == one.items


def test_split_prompt_cuts_before_formal():
    row = {"kind": "pair", "informal": "Show x.", "formal": "theorem t : x :="}
    prompt, completion = split_prompt(row)
    assert prompt == "informal statement Show x. formal statement"
    assert completion == " theorem t : x :="


def test_budget_and_collate_mask_padding(tiny_model_dir):
    from curate import probe

    _, tok = probe.load(str(tiny_model_dir))
    chunks, used, n = select_tokens(load.load_source(ALIGNED), tok, 300, seed=0)
    assert used == 300 == sum(len(c) for c in chunks) and n == len(chunks)
    assert all(c[-1] == tok.eos_token_id for c in chunks[:-1])
    other, _, _ = select_tokens(load.load_source(ALIGNED), tok, 300, seed=1)
    assert other != chunks  # the seed changes the record order
    seqs = make_sequences(chunks, 64, packing=True)
    assert [len(s) for s in seqs[:-1]] == [64] * (len(seqs) - 1)
    batch = collate([[5, 6, 7], [8, 9]])
    assert batch["labels"].tolist() == [[5, 6, 7], [8, 9, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_training_lowers_loss_reproduces_and_reloads(tiny_model_dir, tmp_path, isolated_cache):
    train_ds, target_ds = load.load_source(ALIGNED), load.load_source(TARGET)
    cfg = tiny_config(tiny_model_dir)
    a = train_lora(train_ds, target_ds, cfg, tmp_path / "a")
    losses = a["train_loss"]
    assert len(losses) == cfg.epochs * 3  # 600 tokens -> 10 sequences of 64 -> 3 batches per epoch
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3  # mean loss of the first and last epoch
    assert last < first - 0.3, losses
    assert a["eval_ce_after"] < a["eval_ce_before"]
    assert a["train_tokens"] == 600
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["eval_ce_after"] == a["eval_ce_after"] and (tmp_path / "a" / "loss.png").stat().st_size > 1000

    b = train_lora(train_ds, target_ds, cfg, tmp_path / "b")
    assert b["train_loss"] == losses and b["eval_ce_after"] == a["eval_ce_after"]
    c = train_lora(train_ds, target_ds, tiny_config(tiny_model_dir, seed=1), tmp_path / "c")
    assert c["train_loss"] != losses

    again = reload_eval(tmp_path / "a", target_ds, cfg.eval)
    assert again.ce == pytest.approx(a["eval_ce_after"], rel=1e-5)


def test_unpacked_training_masks_padding(tiny_model_dir, tmp_path, isolated_cache):
    out = train_lora(load.load_source(CHAT), load.load_source(TARGET),
                     tiny_config(tiny_model_dir, packing=False, epochs=1), tmp_path / "r")
    assert out["train_sequences"] == out["train_records"] and all(torch.isfinite(torch.tensor(out["train_loss"])))


def test_bf16_eval_is_close_to_float32(tiny_model_dir):
    from curate import probe

    model, tok = probe.load(str(tiny_model_dir))
    ds = load.load_source(TARGET)
    fp32 = evaluate(model, tok, ds, EvalConfig(batch_size=6))
    bf16 = evaluate(model, tok, ds, EvalConfig(batch_size=6, autocast="bf16"))
    assert bf16.tokens == fp32.tokens and abs(bf16.ce - fp32.ce) < 0.05


def test_eval_limit_scores_a_fixed_sample(tiny_model_dir):
    from curate import probe

    model, tok = probe.load(str(tiny_model_dir))
    ds = load.load_source(TARGET)
    a = evaluate(model, tok, ds, EvalConfig(limit=3))
    b = evaluate(model, tok, ds, EvalConfig(limit=3, batch_size=1))
    assert a.items == 3 and a.tokens == b.tokens and a.ce == pytest.approx(b.ce, rel=1e-5)
    assert evaluate(model, tok, ds, EvalConfig(limit=100)).items == len(ds)


def test_activation_checkpointing_and_loss_chunks_do_not_change_training(tiny_model_dir, tmp_path, isolated_cache):
    train_ds, target_ds = load.load_source(ALIGNED), load.load_source(TARGET)
    on = train_lora(train_ds, target_ds, tiny_config(tiny_model_dir, epochs=2), tmp_path / "on")
    off = train_lora(train_ds, target_ds, tiny_config(tiny_model_dir, epochs=2, grad_checkpointing=False,
                                                      loss_chunk=7, mmap_threshold=0), tmp_path / "off")
    assert on["train_loss"] == pytest.approx(off["train_loss"], rel=1e-5)  # dropout draws are replayed
    assert on["eval_ce_after"] == pytest.approx(off["eval_ce_after"], rel=1e-5)
    assert on["key"] == off["key"]  # memory settings are not part of a run's identity
    assert set(on["peak_rss_mib"]) == {"load", "base_eval", "train", "tuned_eval"}


def test_eval_micro_batches_bound_padded_tokens_and_leave_ce_unchanged(tiny_model_dir):
    from curate import probe
    from train.evaluate import micro_batches

    lengths = [5, 40, 12, 7, 90, 30, 6]
    batches = micro_batches(lengths, batch_size=3, batch_tokens=64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        widths = [lengths[i] for i in b]
        assert widths == sorted(widths) and len(b) <= 3
        assert len(b) * max(widths) <= 64 or len(b) == 1  # 90 is alone
    model, tok = probe.load(str(tiny_model_dir))
    ds = load.load_source(TARGET)
    ref = evaluate(model, tok, ds, EvalConfig(batch_size=1))
    for cfg in (EvalConfig(batch_size=16, batch_tokens=80, head_chunk=3), EvalConfig(batch_size=16, head_chunk=1)):
        got = evaluate(model, tok, ds, cfg)
        assert got.tokens == ref.tokens and got.ce == pytest.approx(ref.ce, rel=1e-5)
    assert EvalConfig(batch_tokens=80).key() == EvalConfig().key()


def test_eval_and_training_report_progress_events(tiny_model_dir, tmp_path, isolated_cache):
    from curate import progress

    class Record:
        def __init__(self):
            self.ended = []

        def start(self, task):
            pass

        def advance(self, task):
            pass

        def end(self, task):
            self.ended.append((task.step, task.done, task.total, task.unit))

        def note(self, msg):
            pass

    sink = Record()
    with progress.use(sink):
        train_lora(load.load_source(ALIGNED), load.load_source(TARGET), tiny_config(tiny_model_dir, epochs=1),
                   tmp_path / "r", train_name="a", target_name="t")
    n = len(load.load_source(TARGET))
    assert ("eval: t (base)", n, n, "items") in sink.ended and ("eval: t (tuned)", n, n, "items") in sink.ended
    assert ("train: a", 3, 3, "steps") in sink.ended
