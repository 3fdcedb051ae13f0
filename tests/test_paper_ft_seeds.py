"""benchmarks/paper_ft_seeds.py on the checked-in H100 reports (3 seeds of benchmarks/paper_ft.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORTS = sorted((ROOT / "benchmarks" / "results" / "paper_ft_h100").glob("report-s*.json"))


def load_script():
    spec = importlib.util.spec_from_file_location("paper_ft_seeds", ROOT / "benchmarks" / "paper_ft_seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_summary_of_the_recorded_runs(tmp_path, capsys):
    assert len(REPORTS) == 3
    out = tmp_path / "summary.json"
    assert load_script().main([*map(str, REPORTS), "--json", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["seeds"] == [0, 1, 2] and set(s["correlations"]) == {"task2vec", "gzip", "ngram"}
    assert all(len(v) == 3 for v in s["ce"].values())
    # per-seed r equals what each report computed for itself
    for i, path in enumerate(REPORTS):
        own = json.loads(path.read_text())["correlations"]
        for m, c in s["correlations"].items():
            assert c["pearson_per_seed"][i] == pytest.approx(own[m]["pearson"], abs=1e-9)
    pairs = {(p["better"], p["worse"]): p for p in s["agreed_orders"]}
    gap = pairs[("self-instruct-human", "gsm8k")]
    assert gap["ce_gap"] > 0.05 and not gap["metric_agrees"]["gzip"] and gap["metric_agrees"]["task2vec"]
    assert ("gsm8k", "self-instruct-human") not in pairs
    assert "metrics that disagree: gzip" in capsys.readouterr().out
