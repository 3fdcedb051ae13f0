"""`curate train`, `curate bench` and `curate confirm` end to end on a tiny model and tiny sources."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest

from curate.cli import main
from train import confirm as confirm_mod
from train.bench import BenchConfig, run_bench
from train.confirm import ConfirmConfig, run_confirm
from train.evaluate import EvalConfig
from train.generate import GenConfig, typechecks
from train.lora import LoraTrainConfig

from _tiny import length_metric, registered, tiny_model_dir  # noqa: F401

TINY = ["--budget", "300", "--epochs", "2", "--lr", "1e-2", "--lora-r", "4", "--batch-size", "4", "--max-length", "64"]


def test_train_cli_writes_metrics_and_plot(tiny_model_dir, registered, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--source", "t-aligned", "--target", "t-target", "--model", str(tiny_model_dir),
               "--out", str(out), *TINY])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert {"eval_ce_before", "eval_ce_after", "eval_ppl_before", "eval_ppl_after", "train_loss", "config",
            "seed", "train_tokens"} <= set(m)
    assert m["train_tokens"] == 300 and m["eval_ce_after"] < m["eval_ce_before"]
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "adapter" / "adapter_config.json").exists()
    assert "t-target CE" in capsys.readouterr().out


def test_train_cli_rejects_both_or_neither(tiny_model_dir, registered, tmp_path):
    assert main(["train", "--target", "t-target", "--model", str(tiny_model_dir), "--out", str(tmp_path)]) == 1
    assert main(["train", "--source", "t-aligned", "--mix", str(tmp_path), "--target", "t-target",
                 "--model", str(tiny_model_dir), "--out", str(tmp_path)]) == 1


def test_train_and_confirm_cli_pass_the_heap_options_in_mib(tiny_model_dir, registered, tmp_path, monkeypatch):
    import train.lora

    seen = []
    monkeypatch.setattr(train.lora, "train_lora", lambda _t, _g, cfg, *a, **k: seen.append(cfg) or {})
    base = ["train", "--source", "t-aligned", "--target", "t-target", "--model", str(tiny_model_dir),
            "--out", str(tmp_path / "run"), *TINY]
    assert main([*base, "--mmap-threshold", "6", "--resident-cap", "2048"]) == 0
    assert (seen[-1].mmap_threshold, seen[-1].resident_cap) == (6 << 20, 2048 << 20)
    assert main(base) == 0
    assert (seen[-1].mmap_threshold, seen[-1].resident_cap) == (LoraTrainConfig.mmap_threshold,
                                                                 LoraTrainConfig.resident_cap)
    assert main([*base, "--mmap-threshold", "-1"]) == 1 and main([*base, "--resident-cap", "-2"]) == 1
    assert main(["confirm", "--target", "t-target", "--model", str(tiny_model_dir), "--out", str(tmp_path / "c"),
                 "--resident-cap", "-1"]) == 1


def test_bench_reports_bleu_chrf_and_no_typecheck(tiny_model_dir, registered, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CURATE_LEAN_REPL", raising=False)
    res = run_bench(BenchConfig(model=str(tiny_model_dir), target="t-target", eval=EvalConfig(batch_size=4),
                                gen=GenConfig(shots=2, shot_source="t-aligned", limit=3, max_new_tokens=8)))
    assert res["generation"]["items"] == 3 and len(res["samples"]) == 3
    assert 0.0 <= res["generation"]["bleu"] <= 100.0 and 0.0 <= res["generation"]["chrf"] <= 100.0
    assert res["typecheck"]["available"] is False and res["ce"] > 0
    rc = main(["bench", "--model", str(tiny_model_dir), "--target", "t-target", "--shot-source", "t-aligned",
               "--limit", "2", "--max-new-tokens", "4", "--json", str(tmp_path / "b.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "chrF" in out and "not available" in out
    assert json.loads((tmp_path / "b.json").read_text())["typecheck"]["rate"] is None


def test_typecheck_talks_to_a_repl_subprocess(tmp_path):
    fake = tmp_path / "repl.py"
    fake.write_text("import json, sys\ncmd = json.loads(sys.stdin.read())['cmd']\n"
                    "msgs = [{'severity': 'error', 'data': 'unknown'}] if 'bad' in cmd else []\n"
                    "print(json.dumps({'env': 0, 'messages': msgs}))\n")
    repl = [sys.executable, str(fake)]
    assert typechecks("theorem ok : True :=", repl) is True
    assert typechecks("theorem bad : True :=", repl) is False


def test_confirm_reports_correlations_and_resumes(tiny_model_dir, registered, length_metric, tmp_path, monkeypatch):
    tcfg = LoraTrainConfig(model=str(tiny_model_dir), epochs=2, r=4, alpha=8, lr=1e-2, batch_size=4, max_length=64,
                           eval=EvalConfig(batch_size=4))
    cfg = ConfirmConfig(target="t-target", sources=["t-aligned", "t-chat"], metrics=["length"], budget=200,
                        probe=str(tiny_model_dir), mixes=False, train=tcfg)
    report = run_confirm(cfg, tmp_path / "c")
    assert {r["name"] for r in report["rows"]} == {"t-aligned", "t-chat"}
    assert report["correlations"]["length"]["n"] == 2
    assert abs(report["correlations"]["length"]["pearson"]) == pytest.approx(1.0)  # two points lie on a line
    for f in ("report.json", "report.md", "scatter.png", "runs/t-aligned/metrics.json"):
        assert (tmp_path / "c" / f).exists(), f

    def boom(*a, **k):
        raise AssertionError("a finished fine-tune was recomputed")

    monkeypatch.setattr(confirm_mod, "train_lora", boom)
    again = run_confirm(cfg, tmp_path / "c")
    assert [r["eval_ce_after"] for r in again["rows"]] == [r["eval_ce_after"] for r in report["rows"]]
    # report-only: a source without a finished fine-tune is left out and named in the notes
    partial = run_confirm(replace(cfg, sources=["t-aligned", "t-chat", "t-target2"], train_missing=False),
                          tmp_path / "c")
    assert {r["name"] for r in partial["rows"]} == {"t-aligned", "t-chat"}
    assert any("t-target2" in n for n in partial["notes"])


def test_confirm_with_mixes(tiny_model_dir, registered, length_metric, tmp_path):
    pytest.importorskip("curate.mix")
    tcfg = LoraTrainConfig(model=str(tiny_model_dir), epochs=1, r=4, alpha=8, lr=1e-2, batch_size=4, max_length=64,
                           eval=EvalConfig(batch_size=4))
    cfg = ConfirmConfig(target="t-target", sources=["t-aligned", "t-chat"], metrics=["length"], budget=150,
                        probe=str(tiny_model_dir), mixes=True, train=tcfg)
    report = run_confirm(cfg, tmp_path / "c")
    rows = {r["name"]: r for r in report["rows"]}
    assert {"mix-top", "mix-random"} <= set(rows), report["notes"]
    assert rows["mix-top"]["role"] == "mix" and "length" in rows["mix-top"]["alignments"]
    assert rows["mix-top"]["train_tokens"] == 150
    # top-k fills from the best-aligned source first: the top mix holds t-aligned records only
    assert set(report["mixes"]["mix-top"]["tokens_by_source"]) == {"t-aligned"}
    assert report["mix_comparison"]["beats_random"] in (True, False)


def test_interrupted_confirm_leaves_a_partial_report_and_resumes(tiny_model_dir, registered, length_metric, tmp_path,
                                                                 monkeypatch):
    tcfg = LoraTrainConfig(model=str(tiny_model_dir), epochs=1, r=4, alpha=8, lr=1e-2, batch_size=4, max_length=64,
                           eval=EvalConfig(batch_size=4))
    cfg = ConfirmConfig(target="t-target", sources=["t-aligned", "t-chat"], metrics=["length"], budget=200,
                        probe=str(tiny_model_dir), mixes=False, train=tcfg)
    real = confirm_mod.train_lora
    trained = []

    def interrupt_second(ds, target_ds, config, out, train_name="", **kw):
        if train_name == "t-chat":
            raise KeyboardInterrupt
        trained.append(train_name)
        return real(ds, target_ds, config, out, train_name=train_name, **kw)

    monkeypatch.setattr(confirm_mod, "train_lora", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        run_confirm(cfg, tmp_path / "c")
    partial = json.loads((tmp_path / "c" / "report.json").read_text())
    assert partial["complete"] is False and partial["pending"] == ["t-chat"]
    assert [r["name"] for r in partial["rows"]] == ["t-aligned"]
    assert "t-aligned" in (tmp_path / "c" / "report.md").read_text()

    monkeypatch.setattr(confirm_mod, "train_lora", lambda *a, **k: trained.append(k["train_name"]) or real(*a, **k))
    done = run_confirm(cfg, tmp_path / "c")
    assert trained == ["t-aligned", "t-chat"]  # the rerun trained only what was missing
    assert done["complete"] is True and done["pending"] == []
    assert {r["name"] for r in done["rows"]} == {"t-aligned", "t-chat"}
    fresh = run_confirm(cfg, tmp_path / "fresh")
    assert {r["name"]: r["eval_ce_after"] for r in fresh["rows"]} == \
        pytest.approx({r["name"]: r["eval_ce_after"] for r in done["rows"]}, rel=1e-6)


def test_merged_ranking_holds_every_metric_in_the_primary_order():
    from curate.types import Ranking

    def one(metric: str, scores: dict[str, float]) -> Ranking:
        rows = sorted(scores.items(), key=lambda kv: -kv[1])
        return Ranking.from_json({"target": "t", "primary_metric": metric, "config": {"metrics": {metric: {"k": 1}}},
                                  "results": [{"source": s, "alignment": a, "rank": i, "alignments": {
                                      metric: {"alignment": a, "ci_low": a - 0.1, "ci_high": a + 0.1}}}
                                      for i, (s, a) in enumerate(rows, 1)]})

    a, b = one("a", {"x": 0.9, "y": 0.1}), one("b", {"x": 0.2, "y": 0.8})
    merged = confirm_mod.merged_ranking({"b": b, "a": a}, "b")
    assert merged.sources == ["y", "x"] and merged.primary_metric == "b"
    assert {r.source: {m: s.alignment for m, s in r.alignments.items()} for r in merged.results} == {
        "y": {"b": 0.8, "a": 0.1}, "x": {"b": 0.2, "a": 0.9}}
    assert merged.config["metrics"] == {"b": {"k": 1}, "a": {"k": 1}}
    assert [m for m in b.results[0].alignments] == ["b"]  # the inputs are left as they were
    assert json.loads(merged.dumps())["results"][0]["alignments"]["a"]["alignment"] == 0.1
