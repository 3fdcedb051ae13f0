"""Chunked head + CE gives the transformers loss and gradients, and eval NLL, on tiny models."""

from __future__ import annotations

import pytest
import torch

from tinymodels import tiny_gpt2, tiny_llama
from train.loss import causal_lm_loss, lm_parts, make_loss_module, token_nll

MODELS = {"llama-tied": lambda: tiny_llama(vocab_size=96, tie=True),
          "llama-untied": lambda: tiny_llama(vocab_size=96, tie=False),
          "gpt2": lambda: tiny_gpt2(vocab_size=96)}


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 96, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # right padding, as `collate` makes it
    mask[2, 4:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def plain_loss(model, ids, mask, labels):
    """The whole-logits loss (transformers' upcasts to float32; this keeps a float64 model's precision)."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_chunked_loss_and_gradients_match_the_plain_path(name, chunk):
    model = MODELS[name]().double().train()  # float64: compare the math, not the rounding
    assert lm_parts(model) is not None
    ids, mask, labels = batch()
    torch.manual_seed(0)  # the same dropout draws in both passes (gpt2 has dropout)
    plain = plain_loss(model, ids, mask, labels)
    plain.backward()
    want = grads(model)
    model.zero_grad()
    torch.manual_seed(0)
    loss, n = causal_lm_loss(model, ids, mask, labels, chunk=chunk)
    loss.backward()
    got = grads(model)
    assert n == int((labels[:, 1:] != -100).sum())
    assert loss.item() == pytest.approx(plain.item(), rel=1e-10)
    assert set(got) == set(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-8, atol=1e-10, msg=k)


@pytest.mark.parametrize("name", list(MODELS))
def test_float32_chunked_loss_is_within_1e5_and_the_wrapper_is_the_same_loss(name):
    model = MODELS[name]().train()
    ids, mask, labels = batch(1)
    torch.manual_seed(0)
    plain = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    plain.backward()
    want = grads(model)
    model.zero_grad()
    torch.manual_seed(0)
    loss = make_loss_module(model, chunk=4)(ids, mask, labels)
    loss.backward()
    assert loss.item() == pytest.approx(plain.item(), rel=1e-5)
    for k, g in grads(model).items():
        torch.testing.assert_close(g, want[k], rtol=1e-5, atol=1e-6, msg=k)


def test_lora_model_trains_only_adapters_through_the_chunked_path():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(vocab_size=96).double(), LoraConfig(r=4, target_modules="all-linear",
                                                                          lora_dropout=0.0, task_type="CAUSAL_LM"))
    for n, p in model.named_parameters():  # nonzero B so the adapters change the output
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    model.train()
    ids, mask, labels = batch(2)
    plain_loss(model, ids, mask, labels).backward()
    want = grads(model)
    model.zero_grad()
    causal_lm_loss(model, ids, mask, labels, chunk=3)[0].backward()
    got = grads(model)
    assert set(got) == set(want) and all("lora_" in k for k in got)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-8, atol=1e-10, msg=k)


@pytest.mark.parametrize("name", list(MODELS))
def test_token_nll_matches_log_softmax_and_skips_padding(name):
    model = MODELS[name]().double().eval()
    ids, mask, _ = batch(3)
    scored = mask.bool().clone()
    scored[0, :3] = False  # a prompt: context only
    with torch.inference_mode():
        nll = token_nll(model, ids, mask, scored, chunk=4)
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1], -1)
    ref = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)[scored[:, 1:]]
    assert nll.shape == ref.shape == (int(scored[:, 1:].sum()),)
    torch.testing.assert_close(nll, ref, rtol=1e-6, atol=1e-6)


def test_soft_capped_or_lora_head_falls_back_to_the_plain_path():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(vocab_size=96), LoraConfig(r=2, target_modules=["lm_head", "q_proj"],
                                                                 task_type="CAUSAL_LM"))
    assert lm_parts(model) is None
    ids, mask, labels = batch()
    loss, _ = causal_lm_loss(model, ids, mask, labels)
    assert loss.item() == pytest.approx(model(input_ids=ids, attention_mask=mask, labels=labels).loss.item(), rel=1e-6)
