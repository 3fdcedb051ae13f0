"""Usage: CURATE_CACHE=<a cache holding the fp32 default ranking> python benchmarks/bf16_pair.py

Light bf16 check (3 forwards): timing fp32 vs bf16 on one target batch, and the task2vec distance of
(target batch 0, forml4 batch 0) in bf16 vs fp32, against the fp32 cache."""
import os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np
from curate import artefacts, batching, coefficients, load, tokens
from curate.metrics import task2vec as t2v

m = t2v.Task2VecMetric(t2v.Config())
tok = tokens.tokenizer_for("smollm2")
model = m.model()
import torch
print("threads", torch.get_num_threads(), os.getloadavg())
def batch0(name):
    ds = load.load_source(name)
    plan = m.plan(len(ds), 0)
    f = artefacts.facts(name)
    return batching.collate(batching.tokenize(load.texts(ds.select(plan.rows[0])), tok, 128), batching.pad_id(tok)), \
        m._read(m.batch_keys(f.fingerprint, plan, 0)[0])["embedding"]
tb, t_cached = batch0("proofnet")
res = {}
for prec in ("fp32", "bf16"):
    t0 = time.perf_counter(); res[prec] = t2v.head_embedding(model, tb, precision=prec).numpy(); dt = time.perf_counter() - t0
    print(prec, f"target batch 0: {dt:.2f} s", "max rel diff vs cached fp32", float(np.abs(res[prec] - t_cached).max() / np.abs(t_cached).max()))
for src in ("forml4",):
    sb, s_cached = batch0(src)
    t0 = time.perf_counter(); s_bf = t2v.head_embedding(model, sb, precision="bf16").numpy(); dt = time.perf_counter() - t0
    d32 = coefficients.distance_matrix(s_cached[None], t_cached[None])[0, 0]
    d16 = coefficients.distance_matrix(s_bf[None], res["bf16"][None])[0, 0]
    print(src, f"bf16 batch {dt:.2f} s; distance fp32 {d32:.6f} bf16 {d16:.6f} shift {d16 - d32:+.6f}")
