"""Task2Vec Fisher embeddings on tiny random-init models, and the metric end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tinymodels import char_tokenizer, tiny_gpt2, tiny_llama
from curate import batching
from curate.errors import CurateError
from curate.metrics import task2vec as t2v
from curate.records import Record

MODELS = {"llama": tiny_llama, "gpt2": tiny_gpt2}
TEXTS = ["theorem add_comm (a b : nat) : a + b = b + a", "x", "every group of prime order is cyclic",
         "lemma foo : 1 + 1 = 2 := by norm_num"]


def make_batch(texts=TEXTS, max_length=64):
    tok = char_tokenizer()
    return batching.collate(batching.tokenize(texts, tok, max_length), batching.pad_id(tok))


def garbage_padded(batch: batching.Batch, extra: int = 7) -> batching.Batch:
    """The same sequences with random ids in every padding slot and `extra` more padding columns."""
    n, length = batch.input_ids.shape
    ids = torch.randint(0, 96, (n, length + extra), generator=torch.Generator().manual_seed(3))
    mask = torch.zeros_like(ids)
    real = batch.attention_mask.bool()
    ids[:, :length][real] = batch.input_ids[real]
    mask[:, :length] = batch.attention_mask
    return batching.Batch(ids, mask)


@pytest.mark.parametrize("arch", MODELS)
def test_head_embedding_ignores_padding(arch):
    model, batch = MODELS[arch](), make_batch()
    ref = t2v.head_embedding(model, batch, micro_batch=1)  # each sequence alone, no padding at all
    for mb in (2, 4):  # short sequences padded to longer neighbours, with garbage pad ids
        torch.testing.assert_close(t2v.head_embedding(model, garbage_padded(batch), micro_batch=mb), ref,
                                   rtol=1e-5, atol=1e-9)
    assert ref.dtype == torch.float32 and ref.shape == (96,) and (ref > 0).all()


@pytest.mark.parametrize("arch", MODELS)
def test_body_embedding_ignores_padding(arch):
    model, batch = MODELS[arch](), make_batch()
    ref = t2v.body_embedding(model, batch, seed=5, micro_batch=4)
    torch.testing.assert_close(t2v.body_embedding(model, garbage_padded(batch), seed=5, micro_batch=4), ref,
                               rtol=1e-4, atol=1e-10)
    assert not any(p.grad is not None for p in model.parameters())  # no weight gradients were built
    assert all(p.requires_grad for p in model.parameters())  # and the model is left as it was


@pytest.mark.parametrize("arch", MODELS)
def test_exact_head_fisher_matches_monte_carlo(arch):
    """Closed form Σ_t p(1−p)‖h‖²/d vs sampled labels + per-sequence autograd gradients, squared."""
    model, batch = MODELS[arch](), make_batch()
    exact = t2v.head_embedding(model, batch, micro_batch=1)
    w, b = t2v.untied_head(model)
    d = w.shape[1] + (b is not None)
    gen = torch.Generator().manual_seed(0)
    samples, total = 1500, torch.zeros(w.shape[0])
    feats = [t2v.final_hidden(model, batching.Batch(batch.input_ids[i:i + 1], batch.attention_mask[i:i + 1]))[0]
             for i in range(len(batch.input_ids))]
    bias = b if b is not None else 0
    for h in feats:  # one sequence at a time: per-sequence gradients, one per label draw (torch.func)
        p = torch.softmax(h @ w.T + bias, -1)
        ys = torch.multinomial(p, samples, replacement=True, generator=gen).T  # (samples, T)
        seq_loss = lambda wq, y, h=h: torch.nn.functional.cross_entropy(h @ wq.T + bias, y, reduction="sum")  # noqa: E731
        g = torch.func.vmap(torch.func.grad(seq_loss), in_dims=(None, 0))(w, ys)  # (samples, V, d)
        total += (g * g).sum((0, 2)) / d
    mc = total / samples / sum(f.shape[0] for f in feats)
    err = (mc - exact).norm() / exact.norm()
    assert err < 0.08, f"relative error {err:.3f}"
    # the tolerance tells estimators apart: the empirical Fisher (data labels instead of sampled) fails it
    emp = torch.zeros_like(exact)
    for i, h in enumerate(feats):
        ids = batch.input_ids[i][batch.attention_mask[i].bool()]
        p = torch.softmax(h @ w.T + (b if b is not None else 0), -1)[:-1]
        r = torch.nn.functional.one_hot(ids[1:], w.shape[0]) - p
        emp += (r * r).T @ ((h[:-1] * h[:-1]).sum(1) + (b is not None)) / d
    emp /= sum(f.shape[0] for f in feats)
    assert (mc - emp).norm() / emp.norm() > 5 * err


@pytest.mark.parametrize("arch", MODELS)
def test_body_fisher_matches_per_sequence_autograd(arch):
    """The one-backward hook computation equals a loop of per-sequence autograd gradients."""
    model, batch = MODELS[arch](), make_batch()
    got = t2v.body_embedding(model, batch, layers=[-1], seed=11, micro_batch=len(TEXTS))
    block = t2v.blocks(model)[-1]
    layers = t2v._linear_layers(block)
    lengths = batch.attention_mask.sum(1)
    order = sorted(range(len(TEXTS)), key=lambda i: (-int(lengths[i]), i))  # the order labels are drawn in
    ids, mask = batch.input_ids[order], batch.attention_mask[order]
    logits = model(input_ids=ids, attention_mask=mask).logits
    labels = t2v.sample_labels(torch.softmax(logits[mask.bool()].detach(), -1), torch.Generator().manual_seed(11))
    per_seq_labels = torch.split(labels, mask.sum(1).tolist())
    rows = {name: 0 for name, _, _ in layers}
    for n in range(len(TEXTS)):
        length = int(mask[n].sum())
        out = model(input_ids=ids[n:n + 1, :length]).logits[0]
        loss = torch.nn.functional.cross_entropy(out, per_seq_labels[n], reduction="sum")
        params = [p for _, m, _ in layers for p in ((m.weight, m.bias) if m.bias is not None else (m.weight,))]
        grads = iter(torch.autograd.grad(loss, params))
        for name, m, conv in layers:
            gw = next(grads)
            gw = gw.T if conv else gw
            sq = (gw * gw).sum(1)
            width = gw.shape[1]
            if m.bias is not None:
                sq, width = sq + next(grads) ** 2, width + 1
            rows[name] = rows[name] + sq / width
    want = torch.cat([rows[name] for name, _, _ in layers]) / int(mask.sum())
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-10)


def test_per_sequence_row_sq_both_routes():
    gen = torch.Generator().manual_seed(0)
    for t, d_in, d_out in [(3, 16, 24), (40, 4, 6)]:  # Gram route, then explicit route
        x, g = torch.randn(2, t, d_in, generator=gen), torch.randn(2, t, d_out, generator=gen)
        gs = torch.einsum("nto,nti->noi", g, x)
        want = ((gs * gs).sum(-1) + g.sum(1) ** 2) / (d_in + 1)
        torch.testing.assert_close(t2v.per_sequence_row_sq(x, g, has_bias=True), want, rtol=1e-4, atol=1e-5)


def test_sample_labels_follow_the_distribution():
    probs = torch.tensor([[0.7, 0.2, 0.1, 0.0]]).repeat(20000, 1)
    labels = t2v.sample_labels(probs, torch.Generator().manual_seed(0))
    freq = torch.bincount(labels, minlength=4).float() / len(labels)
    torch.testing.assert_close(freq, probs[0], atol=0.015, rtol=0)


def test_head_finetuning_changes_the_head_deterministically():
    model, batch = tiny_llama(), make_batch()
    e0 = t2v.head_embedding(model, batch)
    e3 = t2v.head_embedding(model, batch, epochs=3, lr=1e-2)
    assert not torch.allclose(e0, e3)
    torch.testing.assert_close(t2v.head_embedding(model, batch, epochs=3, lr=1e-2), e3, rtol=0, atol=0)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # still tied


# ---------------------------------------------------------------------------- the metric

def records(prefix: str, n: int, seed: int = 0):
    import datasets

    rng = np.random.default_rng(seed)
    words = {"lean": ["theorem", "lemma", ":=", "by", "simp", "nat", "ring", "∀", "x", "+", "="],
             "chat": ["hello", "please", "write", "a", "story", "about", "my", "dog", "thanks", "you"]}[prefix]
    rows = [Record(id=f"{prefix}{i}", source=prefix, kind="text",
                   informal=" ".join(rng.choice(words, size=rng.integers(3, 30)))).to_row() for i in range(n)]
    return datasets.Dataset.from_list(rows)


@pytest.fixture()
def tiny_probe(tmp_path, isolated_cache):
    def make(arch: str = "llama", **tok_kwargs):
        path = tmp_path / f"probe-{arch}-{json.dumps(tok_kwargs, sort_keys=True).encode().hex()[:16]}"
        tok = char_tokenizer(save_dir=path, **tok_kwargs)
        vocab = len(tok)
        model = tiny_llama(vocab_size=vocab, pad_token_id=tok.pad_token_id) if arch == "llama" else tiny_gpt2(vocab_size=vocab)
        model.save_pretrained(path)
        return str(path)
    return make


def metric(path: str, **kw) -> t2v.Task2VecMetric:
    return t2v.Task2VecMetric(t2v.Config(**{"probe": path, "batches": 3, "batch_size": 4, "max_length": 32,
                                            "n_boot": 200, **kw}))


@pytest.mark.parametrize("arch", MODELS)
def test_alignment_with_itself_is_about_one(tiny_probe, arch):
    m = metric(tiny_probe(arch))
    lean, chat = m.prepare("lean", records("lean", 40), 0), m.prepare("chat", records("chat", 40), 0)
    self_al, cross = m.alignment(lean, lean), m.alignment(chat, lean)
    assert self_al.value > 0.95 and self_al.ci_low <= self_al.value <= self_al.ci_high
    assert self_al.value > cross.value and self_al.n == 9
    div = m.diversity(lean)
    assert self_al.value == pytest.approx(1 - div.value * 6 / 9)  # K×K pairs: 3 self-pairs at distance 0
    whole = metric(tiny_probe(arch), whole_set=True)
    w = whole.prepare("lean", records("lean", 40), 0)
    assert whole.alignment(w, w).value == pytest.approx(1.0) and any("degenerate" in n for n in w.notes)
    assert np.isnan(whole.diversity(w).value)


@pytest.mark.parametrize("tok_kwargs", [{}, {"pad_token": ""}, {"pad_token": "<pad>", "eos_token": "<eos>"}])
def test_tokenizers_with_different_pad_and_eos_ids(tiny_probe, tok_kwargs):
    for scope in ("head", "body"):
        m = metric(tiny_probe("llama", **tok_kwargs), scope=scope)
        p = m.prepare("lean", records("lean", 20), 0)
        assert p.data.matrix.shape[0] == 3 and np.isfinite(p.data.matrix).all() and (p.data.matrix > 0).any()


@pytest.mark.parametrize("scope", ["head", "body"])
def test_fixed_seed_reproduces_exactly(tiny_probe, scope):
    path, ds = tiny_probe(), records("lean", 40)
    a = metric(path, scope=scope, use_cache=False).prepare("lean", ds, 3)
    b = metric(path, scope=scope, use_cache=False).prepare("lean", ds, 3)
    c = metric(path, scope=scope, use_cache=False).prepare("lean", ds, 4)
    np.testing.assert_array_equal(a.data.matrix, b.data.matrix)
    assert a.data.rows == b.data.rows != c.data.rows
    assert not np.array_equal(a.data.matrix, c.data.matrix)
    flat = [r for rows in a.data.rows for r in rows]
    assert len(flat) == len(set(flat)) == 12  # distinct batches


def test_cache_serves_resumes_and_can_be_bypassed(tiny_probe, monkeypatch):
    path, ds = tiny_probe(), records("lean", 40)
    calls = []
    real_embed = t2v.Task2VecMetric.embed

    def counting(self, batch, seed):
        calls.append(seed)
        if len(calls) == 2 and getattr(self, "crash", False):
            raise KeyboardInterrupt  # interrupted after one batch was written
        return real_embed(self, batch, seed)

    monkeypatch.setattr(t2v.Task2VecMetric, "embed", counting)
    m = metric(path)
    m.crash = True
    with pytest.raises(KeyboardInterrupt):
        m.prepare("lean", ds, 0)
    assert len(calls) == 2
    m.crash = False
    first = m.prepare("lean", ds, 0)  # resumes: only the two unfinished batches
    assert len(calls) == 4
    again = metric(path).prepare("lean", ds, 0)  # a new instance, served from disk
    assert len(calls) == 4 and m._model is not None
    np.testing.assert_array_equal(first.data.matrix, again.data.matrix)
    metric(path, use_cache=False).prepare("lean", ds, 0)
    assert len(calls) == 7
    metric(path, max_length=16).prepare("lean", ds, 0)  # another config is another key
    assert len(calls) == 10


def test_small_dataset_note_and_config_errors(tiny_probe):
    m = metric(tiny_probe())
    p = m.prepare("few", records("lean", 6), 0)
    assert p.used == 6 and p.data.matrix.shape[0] == 2 and "only 6 records" in p.notes[0]
    with pytest.raises(CurateError):
        t2v.Task2VecMetric(t2v.Config(scope="all"))
    with pytest.raises(CurateError):
        t2v.Task2VecMetric(t2v.Config(distance="l2"))
    with pytest.raises(CurateError):
        t2v.Task2VecMetric(t2v.Config(batches=0))
    with pytest.raises(CurateError):
        metric(tiny_probe(), scope="body", layers=[5]).prepare("lean", records("lean", 20), 0)
    from_cli = t2v.Task2VecMetric.from_options({"batches": 2, "scope": None, "use_cache": False, "probe": "x"})
    assert from_cli.config.batches == 2 and from_cli.config.scope == "head" and not from_cli.config.use_cache
    assert from_cli.describe()["metric"] == "task2vec"


def test_device_choice_is_checked(tiny_probe):
    assert metric(tiny_probe(), device="cpu").device == torch.device("cpu")
    assert metric(tiny_probe()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # auto
    for bad in ("tpu", "gpu0", "", "mps") + (() if torch.cuda.is_available() else ("cuda", "cuda:0")):
        with pytest.raises(CurateError, match="device"):
            metric(tiny_probe(), device=bad)


@pytest.mark.gpu
@pytest.mark.parametrize("scope", ["head", "body"])
def test_gpu_embeddings_match_cpu(tiny_probe, scope):
    path, ds = tiny_probe(), records("lean", 40)
    cpu = metric(path, scope=scope, use_cache=False, device="cpu").prepare("lean", ds, 0)
    gpu = metric(path, scope=scope, use_cache=False, device="cuda").prepare("lean", ds, 0)
    assert cpu.data.rows == gpu.data.rows  # same batches, and (body) the same sampled labels
    np.testing.assert_allclose(gpu.data.matrix, cpu.data.matrix, rtol=1e-4, atol=1e-9)


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_probe_ranks_proofnet_valid_above_unrelated_sets(probe_path, isolated_cache, monkeypatch):
    from curate.rank import RankConfig, rank

    config = RankConfig(target="proofnet", sources=["proofnet-valid", "gsm8k", "gpteacher-roleplay",
                                                     "self-instruct-human"], probe=str(probe_path))
    options = {"batches": 2, "batch_size": 16, "max_length": 128, "n_boot": 500}
    result = rank(config, options).to_json()
    by = {r["source"]: r for r in result["results"]}
    valid = by["proofnet-valid"]
    assert result["results"][0]["source"] == "proofnet-valid"
    for other in ("gsm8k", "gpteacher-roleplay", "self-instruct-human"):
        assert valid["alignment"] > by[other]["alignment"], other
    for r in result["results"]:
        assert r["ci_low"] <= r["alignment"] <= r["ci_high"] and r["ci_low"] < r["ci_high"]
        assert r["alignments"]["task2vec"]["pairs"] == 4
    assert result["config"]["metrics"]["task2vec"]["batches"] == 2

    def no_compute(self, batch, seed):
        raise AssertionError("recomputed an embedding that is cached")

    monkeypatch.setattr(t2v.Task2VecMetric, "embed", no_compute)
    again = rank(config, options).to_json()
    assert [(r["source"], r["alignment"]) for r in again["results"]] == \
        [(r["source"], r["alignment"]) for r in result["results"]]


@pytest.mark.parametrize("scope", ["head", "body"])
def test_bf16_forward_keeps_fp32_outputs_close_to_fp32_and_caches_apart(tiny_probe, scope):
    path, ds = tiny_probe(), records("lean", 40)
    fp32 = metric(path, scope=scope, use_cache=False)
    bf16 = metric(path, scope=scope, use_cache=False, precision="bf16")
    assert "precision" not in fp32.embedding_key() and bf16.embedding_key()["precision"] == "bf16"
    a, b = fp32.prepare("lean", ds, 0), bf16.prepare("lean", ds, 0)
    assert b.data.matrix.dtype == np.float32 and a.data.rows == b.data.rows
    assert not np.array_equal(a.data.matrix, b.data.matrix)  # the forward really ran in bf16
    np.testing.assert_allclose(b.data.matrix, a.data.matrix, rtol=0.1, atol=1e-6)
    with pytest.raises(CurateError, match="precision"):
        metric(path, precision="fp16")


def test_threads_follow_the_request_the_environment_and_the_load(monkeypatch):
    from curate import probe

    monkeypatch.delenv("CURATE_THREADS", raising=False)
    monkeypatch.setattr(probe, "available_cores", lambda: 2)
    monkeypatch.setattr(probe.os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # only this process runs
    assert probe.pick_threads() == 2
    monkeypatch.setattr(probe.os, "getloadavg", lambda: (7.5, 7.0, 6.0))  # a shared, loaded machine
    assert probe.pick_threads() == 1
    assert probe.pick_threads(3) == 3
    monkeypatch.setenv("CURATE_THREADS", "4")
    assert probe.pick_threads() == 4
    monkeypatch.setenv("CURATE_THREADS", "many")
    with pytest.raises(CurateError, match="CURATE_THREADS"):
        probe.pick_threads()
    with pytest.raises(CurateError, match="threads"):
        metric("unused", threads=0)


def test_cached_estimates_equal_computed_ones_and_follow_the_settings(tiny_probe):
    from curate import coefficients

    path, ds, other = tiny_probe(), records("lean", 40), records("chat", 40)
    m = metric(path)
    a, b = m.prepare("lean", ds, 0), m.prepare("chat", other, 0)
    first = m.alignment(b, a), m.diversity(b)
    again = metric(path).alignment(b, a), metric(path).diversity(b)  # from the estimate cache
    direct = (coefficients.alignment(b.data.matrix, a.data.matrix, "task2vec", 200, 0),
              coefficients.diversity(b.data.matrix, "task2vec", 200, 0))
    assert first == again == direct
    assert metric(path, n_boot=300).alignment(b, a) == coefficients.alignment(b.data.matrix, a.data.matrix,
                                                                              "task2vec", 300, 0)


def test_threads_are_picked_again_between_batches_counting_this_process_own_threads(monkeypatch):
    import torch

    from curate import probe

    monkeypatch.delenv("CURATE_THREADS", raising=False)
    monkeypatch.setattr(probe, "available_cores", lambda: 2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(probe.os, "getloadavg", lambda: (2.1, 2.0, 2.0))  # our own 2 threads, nothing else
        assert probe.set_threads(repick=True) == 2
        assert probe.pick_threads() == 1  # counted as a fresh process (own = 1), 1.1 would be someone else's
        monkeypatch.setattr(probe.os, "getloadavg", lambda: (5.0, 4.0, 3.0))  # others came: step down
        assert probe.set_threads(repick=True) == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(probe.os, "getloadavg", lambda: (1.2, 3.0, 3.0))  # they left: step up again
        assert probe.set_threads(repick=True) == 2
        assert probe.set_threads(1, repick=True) == 1  # a request always wins
    finally:
        torch.set_num_threads(before)


def test_each_cpu_batch_picks_its_threads_and_the_embeddings_do_not_depend_on_them(tiny_probe, monkeypatch):
    import torch

    from curate import probe

    monkeypatch.delenv("CURATE_THREADS", raising=False)
    monkeypatch.setattr(probe, "available_cores", lambda: 2)
    loads = iter([(1.0,) * 3, (5.0,) * 3, (1.0,) * 3, (1.0,) * 3])  # model load, then batches 2 and 3
    monkeypatch.setattr(probe.os, "getloadavg", lambda: next(loads))
    before = torch.get_num_threads()
    try:
        m = metric(tiny_probe(), device="cpu", use_cache=False)
        got = m.prepare("lean", records("lean", 40), 0)
        assert m.batch_threads == [2, 1, 2] and len(m.batch_seconds) == 3
        fixed = metric(tiny_probe(), device="cpu", use_cache=False, threads=1).prepare("lean", records("lean", 40), 0)
        np.testing.assert_array_equal(got.data.matrix, fixed.data.matrix)
    finally:
        torch.set_num_threads(before)
