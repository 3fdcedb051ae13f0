"""Task2Vec cost and noise: our head and body Fisher embeddings vs. a forward pass and the paper's recipe.

Same probe (SmolLM2-135M), same batch, one run:
  (a) one no-grad forward of the batch (the floor; same length-sorted micro-batches as ours);
  (b) our head embedding (frozen trunk, exact closed-form Fisher of an untied head copy);
  (c) our body embedding (per-sequence squared gradients of every block, sampled labels);
  (d) the paper's reference recipe, re-implemented from its description: the head reset for each
      batch, 5 epochs AdamW (lr 5e-5, wd 1e-4) over mini-batches of 8 with a full backward (the
      head is tied, so backward runs the whole net), then one Monte-Carlo Fisher pass that squares
      mini-batch-mean gradients of the head.
Then the noise of each estimator: the relative std of alignment(source, target) over 3 seeds
(the seed draws the batches and the sampled labels).

    python benchmarks/task2vec_speed.py            # prints timings, noise, and a last `ratios:` line
    python benchmarks/task2vec_speed.py --epochs-sweep   # also: head_epochs 0/1/3 on a few sources

Needs the SmolLM2 probe pulled (`curate models pull smollm2`) and the shared data (CURATE_DATA_HOME).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from curate import batching, coefficients, load, probe
from curate.metrics import task2vec as t2v


def make_batches(tok, source: str, k: int, size: int, max_length: int, seed: int) -> list[batching.Batch]:
    ds = load.load_source(source)
    plan = batching.draw(len(ds), k, size, seed)
    out = []
    for rows in plan.rows:
        seqs = batching.tokenize(load.texts(ds.select(rows)), tok, max_length)
        out.append(batching.collate(seqs, batching.pad_id(tok)))
    return out


def forward(model, batch: batching.Batch, micro_batch: int = 8) -> None:
    with torch.no_grad():
        for ids, mask in t2v._micro_batches(batch, micro_batch):
            model(input_ids=ids, attention_mask=mask)


def reference_embedding(model, batch: batching.Batch, seed: int, epochs: int = 5, lr: float = 5e-5,
                        wd: float = 1e-4, mini: int = 8) -> torch.Tensor:
    """The paper's recipe as described (not our estimator): fine-tune the (tied) head with full
    backward passes, then square mini-batch-mean gradients of the head. Labels for the Fisher pass
    are sampled at the scored position so that only the cost and the estimator differ."""
    head = model.get_output_embeddings()
    original = head.weight.detach().clone()
    gen = torch.Generator().manual_seed(seed)
    n = batch.input_ids.shape[0]
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW([head.weight], lr=lr, weight_decay=wd)
    try:
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, mini):
                idx = order[start:start + mini]
                ids, mask = batch.input_ids[idx], batch.attention_mask[idx]
                labels = ids.masked_fill(mask == 0, -100)
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                model.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        fisher = torch.zeros_like(original)
        steps = 0
        for start in range(0, n, mini):
            ids, mask = batch.input_ids[start:start + mini], batch.attention_mask[start:start + mini]
            logits = model(input_ids=ids, attention_mask=mask).logits
            real = mask.bool()
            scored = logits[real]
            y = t2v.sample_labels(torch.softmax(scored.detach(), -1), gen)
            loss = torch.nn.functional.cross_entropy(scored, y)  # mini-batch mean
            model.zero_grad(set_to_none=True)
            loss.backward()
            fisher += head.weight.grad.detach() ** 2  # square of the mini-batch-mean gradient
            steps += 1
        return (fisher / steps).mean(1)
    finally:
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            head.weight.copy_(original)
        model.eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def noise(model, tok, estimators, source: str, target: str, k: int, size: int, max_length: int, seeds: int):
    """Relative std of alignment(source, target) over seeds, per estimator."""
    values: dict[str, list[float]] = {name: [] for name in estimators}
    for seed in range(seeds):
        sb = make_batches(tok, source, k, size, max_length, seed)
        tb = make_batches(tok, target, k, size, max_length, seed + 1000)
        for name, fn in estimators.items():
            es = np.stack([fn(b, seed * 100 + i).numpy() for i, b in enumerate(sb)])
            et = np.stack([fn(b, seed * 100 + 50 + i).numpy() for i, b in enumerate(tb)])
            values[name].append(coefficients.alignment(es, et, n_boot=10).value)
    return {name: (statistics.mean(v), statistics.pstdev(v) / abs(statistics.mean(v)), v) for name, v in values.items()}


def epochs_sweep(model, tok, target: str, sources: list[str], k: int, size: int, max_length: int,
                 epochs: list[int], lr: float) -> None:
    """Alignment of each source to the target for several head_epochs, from one feature pass each."""
    w0, b0 = t2v.untied_head(model)

    def embed_all(name: str, seed: int) -> dict[int, np.ndarray]:
        out: dict[int, list] = {e: [] for e in epochs}
        for batch in make_batches(tok, name, k, size, max_length, seed):
            h, nxt = t2v.final_hidden(model, batch)
            for e in epochs:
                start = time.perf_counter()
                w, b = t2v.finetune_head(w0, b0, h, nxt, e, lr)
                out[e].append((t2v.head_fisher_from_features(w, b, h) / h.shape[0]).numpy())
                cost[e] += time.perf_counter() - start
        return {e: np.stack(v) for e, v in out.items()}

    cost = {e: 0.0 for e in epochs}
    start = time.perf_counter()
    tgt = embed_all(target, 1000)
    srcs = {s: embed_all(s, 0) for s in sources}
    total = time.perf_counter() - start
    print(f"head_epochs sweep (K={k} x {size} x {max_length}, lr={lr}; target {target}; "
          f"feature passes {total - sum(cost.values()):.1f}s)")
    for e in epochs:
        cells = []
        for s in sources:
            a = coefficients.alignment(srcs[s][e], tgt[e], n_boot=500)
            cells.append(f"{s}={a.value:.4f}[{a.ci_low:.4f},{a.ci_high:.4f}]")
        print(f"  E={e} (head work {cost[e]:.1f}s): " + " ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="proofnet")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences in the timed batch")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--noise-source", default="proofnet-valid")
    ap.add_argument("--noise-batches", type=int, default=2)
    ap.add_argument("--noise-batch-size", type=int, default=8)
    ap.add_argument("--noise-max-length", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs-sweep", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default); on a "
                    "machine shared with other jobs 1 thread avoids OpenMP stalls")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {platform.node()} {platform.machine()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load {os.getloadavg()}")
    model, tok = probe.load("smollm2")
    batch = make_batches(tok, args.target, 1, args.batch_size, args.max_length, 0)[0]
    print(f"batch: {args.target}, {tuple(batch.input_ids.shape)}, {batch.tokens} real tokens")

    forward(model, batch)  # warm-up
    t_fwd = timed(lambda: forward(model, batch))
    t_head = timed(lambda: t2v.head_embedding(model, batch))
    t_body = timed(lambda: t2v.body_embedding(model, batch))
    t_ref = timed(lambda: reference_embedding(model, batch, 0))
    t_fwd2 = timed(lambda: forward(model, batch))
    floor = min(t_fwd, t_fwd2)
    print(f"(a) forward   {t_fwd:7.2f}s  (again at the end {t_fwd2:.2f}s; floor = the smaller)")
    print(f"(b) head      {t_head:7.2f}s")
    print(f"(c) body      {t_body:7.2f}s")
    print(f"(d) reference {t_ref:7.2f}s")

    estimators = {
        "head": lambda b, s: t2v.head_embedding(model, b),
        "body": lambda b, s: t2v.body_embedding(model, b, seed=s),
        "reference": lambda b, s: reference_embedding(model, b, s),
    }
    res = noise(model, tok, estimators, args.noise_source, args.target, args.noise_batches,
                args.noise_batch_size, args.noise_max_length, args.seeds)
    print(f"noise: alignment({args.noise_source}, {args.target}) over {args.seeds} seeds, "
          f"K={args.noise_batches} x {args.noise_batch_size} x {args.noise_max_length}")
    for name, (mean, rel, vals) in res.items():
        print(f"  {name:9s} mean {mean:.4f}  rel.std {rel:.4f}  values {', '.join(f'{v:.4f}' for v in vals)}")

    if args.epochs_sweep:
        epochs_sweep(model, tok, args.target, ["proofnet-valid", "gsm8k", "self-instruct-human"],
                     2, 32, 128, [0, 1, 3], 1e-3)
    print(f"load at end {os.getloadavg()}")
    print(f"ratios: head/forward={t_head / floor:.2f} body/forward={t_body / floor:.2f} "
          f"reference/head={t_ref / t_head:.1f}")


if __name__ == "__main__":
    main()
