"""Next-token cross-entropy of a causal LM without materialising the whole batch's logits.

A 49k-token vocabulary makes the logits of one 8 × 256 batch 400 MB in float32 (and the log-softmax,
its gradient and the float copies as much again each); an eval batch of 16 × 350 tokens is 1.1 GB.
Here the model's body gives hidden states, only the positions that predict a scored token are kept
(so no head compute on padding), and the output head + CE run over chunks of those tokens:

- `token_nll` (no gradient; eval): per-token NLL, one chunk of logits alive at a time.
- `FusedLinearCE` (training): loss sum and its gradients w.r.t. the hidden states (and the head, if it
  trains) computed chunk by chunk in the forward pass, so backward only scales them.
- `causal_lm_loss`: token-mean CE of a batch with labels (-100 = not scored), as the transformers
  loss computes it; models whose logits are not a plain linear head of the body's last hidden state
  (logit soft-capping, logit scaling, a LoRA-adapted head) take the plain path.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CHUNK = 256
"""Tokens per chunk of logits (256 × 49152 floats = 48 MiB for SmolLM2; the logsumexp and softmax
work on one such block at a time, so a few of them are alive at once)."""


def _acc(t):
    """Accumulation dtype: float32, or float64 for a float64 model."""
    import torch

    return torch.promote_types(t.dtype, torch.float32)


def lm_parts(model) -> tuple[Any, Any] | None:
    """(body, head linear) of a causal LM (or a peft model around one); None if the head is not plain."""
    import torch

    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(lm, "config", None)
    if cfg is None or getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None) \
            or getattr(cfg, "output_multiplier_scale", None):
        return None
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    body = getattr(lm, getattr(lm, "base_model_prefix", ""), None)
    if type(head) is not torch.nn.Linear or body is None or body is lm:
        return None
    return body, head


def hidden_states(body, input_ids, attention_mask):
    """Last hidden states (batch, length, width) of the body."""
    return body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state


def shifted(input_ids, scored):
    """(position mask, targets): positions t whose next token t+1 is scored, and those tokens, flattened."""
    keep = scored[:, 1:]
    return keep, input_ids[:, 1:][keep]


def token_nll(model, input_ids, attention_mask, scored, chunk: int = DEFAULT_CHUNK):
    """NLL (float32) of every scored token (`scored[b, t]`: token t is predicted and counted), flattened
    in row-major order. Position t predicts token t+1; the first token of a row is never predicted."""
    import torch

    keep, targets = shifted(input_ids, scored)
    parts = lm_parts(model)
    if parts is None:  # plain path: whole logits
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
        logits = logits.to(_acc(logits))
        return torch.logsumexp(logits, -1) - logits.gather(-1, targets[:, None]).squeeze(-1)
    body, head = parts
    h = hidden_states(body, input_ids, attention_mask)[:, :-1][keep]
    acc = _acc(h)
    out = torch.empty(len(targets), dtype=acc, device=h.device)
    w = head.weight.to(acc)
    b = None if head.bias is None else head.bias.to(acc)
    for s in range(0, len(targets), chunk):
        logits = torch.nn.functional.linear(h[s:s + chunk].to(acc), w, b)
        out[s:s + chunk] = torch.logsumexp(logits, -1) - logits.gather(-1, targets[s:s + chunk, None]).squeeze(-1)
    return out


def _fused_ce():
    import torch

    class FusedLinearCE(torch.autograd.Function):
        """sum_i CE(h_i W^T + b, y_i), with the gradients computed chunk by chunk in the forward pass."""

        @staticmethod
        def forward(ctx, h, weight, bias, targets, chunk):
            need_h, need_w = h.requires_grad, weight.requires_grad
            need_b = bias is not None and bias.requires_grad
            with torch.autocast(h.device.type, enabled=False):
                acc = _acc(h)
                w = weight.to(acc)
                b = None if bias is None else bias.to(acc)
                total = torch.zeros((), dtype=acc, device=h.device)
                gh = torch.empty_like(h) if need_h else None
                gw = torch.zeros_like(w) if need_w else None
                gb = torch.zeros_like(b) if need_b else None
                for s in range(0, h.shape[0], chunk):
                    hc, yc = h[s:s + chunk].to(acc), targets[s:s + chunk]
                    logits = torch.nn.functional.linear(hc, w, b)
                    lse = torch.logsumexp(logits, -1)
                    total += (lse - logits.gather(-1, yc[:, None]).squeeze(-1)).sum()
                    if need_h or need_w or need_b:
                        p = logits.sub_(lse[:, None]).exp_()  # softmax, in place
                        p[torch.arange(len(yc), device=p.device), yc] -= 1.0  # d CE / d logits
                        if need_h:
                            gh[s:s + chunk] = (p @ w).to(h.dtype)
                        if need_w:
                            gw += p.T @ hc
                        if need_b:
                            gb += p.sum(0)
                    del logits
            ctx.save_for_backward(*(g for g in (gh, gw, gb) if g is not None))
            ctx.have = (need_h, need_w, need_b)
            ctx.dtypes = (h.dtype, weight.dtype, None if bias is None else bias.dtype)
            return total

        @staticmethod
        def backward(ctx, grad):
            saved = iter(ctx.saved_tensors)
            need_h, need_w, need_b = ctx.have
            gh = (next(saved) * grad).to(ctx.dtypes[0]) if need_h else None
            gw = (next(saved) * grad).to(ctx.dtypes[1]) if need_w else None
            gb = (next(saved) * grad).to(ctx.dtypes[2]) if need_b else None
            return gh, gw, gb, None, None

    return FusedLinearCE


_FUSED = None


def fused_linear_ce(h, weight, bias, targets, chunk: int = DEFAULT_CHUNK):
    """Sum over rows of CE(h W^T + b, targets), never holding more than `chunk` rows of logits."""
    global _FUSED
    if _FUSED is None:
        _FUSED = _fused_ce()
    return _FUSED.apply(h, weight, bias, targets, chunk)


def causal_lm_loss(model, input_ids, attention_mask, labels, chunk: int = DEFAULT_CHUNK):
    """(token-mean CE, tokens scored) of a batch: position t predicts labels[:, t+1]; -100 is not scored.

    The same value and gradients as `model(..., labels=labels).loss`, without whole-batch logits.
    """
    import torch

    keep, targets = shifted(labels, labels != -100)
    n = int(keep.sum())
    parts = lm_parts(model)
    if parts is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
        total = torch.nn.functional.cross_entropy(logits.to(_acc(logits)), targets, reduction="sum")
        del logits
    else:
        body, head = parts
        h = hidden_states(body, input_ids, attention_mask)[:, :-1][keep]
        total = fused_linear_ce(h, head.weight, head.bias, targets, chunk)
    return total / max(n, 1), n


def make_loss_module(model, chunk: int = DEFAULT_CHUNK):
    """The model and its loss as one torch module (what accelerate/DDP wraps: one forward per step);
    `.lm` is the model."""
    import torch

    class CausalLMLoss(torch.nn.Module):
        def __init__(self, lm):
            super().__init__()
            self.lm = lm

        def forward(self, input_ids, attention_mask, labels):
            return causal_lm_loss(self.lm, input_ids, attention_mask, labels, chunk)[0]

    return CausalLMLoss(model)
