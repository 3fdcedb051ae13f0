"""`train` and `confirm` refuse bad settings and foreign output folders before loading anything."""

from __future__ import annotations

import json
import warnings

import pytest

from curate import load
from curate.cli import main
from curate.errors import CurateError
from train.confirm import ConfirmConfig, run_confirm
from train.evaluate import EvalConfig
from train.lora import LoraTrainConfig, check_model, looks_like_path, train_lora

from _tiny import ALIGNED, TARGET, length_metric, registered, tiny_model_dir  # noqa: F401

TINY = dict(budget=200, epochs=1, r=4, alpha=8, lr=1e-2, batch_size=4, max_length=64, eval=EvalConfig(batch_size=4))


@pytest.fixture()
def no_loading(monkeypatch):
    """Any model or dataset load fails the test: the checks must come first."""
    from curate import probe

    def boom(*a, **k):
        raise AssertionError("loaded something before the settings were checked")

    monkeypatch.setattr(probe, "load", boom)
    monkeypatch.setattr(load, "load_source", boom)


@pytest.mark.parametrize("bad, words", [
    (dict(budget=-5), "--budget must be at least 1, got -5"),
    (dict(budget=0), "--budget"),
    (dict(epochs=0), "--epochs"),
    (dict(r=0), "--lora-r"),
    (dict(lr=0.0), "--lr must be positive"),
    (dict(batch_size=-1), "--batch-size"),
    (dict(max_length=1), "--max-length must be at least 2"),
    (dict(mmap_threshold=-1), "mmap_threshold must be at least 0"),
    (dict(dropout=1.0), "dropout"),
    (dict(mixed_precision="fp8"), "--mixed-precision"),
    (dict(eval=EvalConfig(batch_size=0)), "eval batch_size"),
    (dict(eval=EvalConfig(autocast="fp16")), "eval autocast"),
    (dict(model="/nonexistent/model"), "/nonexistent/model: no such folder"),
    (dict(model="./no-such-model"), "no such folder"),
])
def test_train_lora_checks_settings_before_loading(bad, words, tiny_model_dir, tmp_path, no_loading):
    cfg = LoraTrainConfig(**{**TINY, "model": str(tiny_model_dir), **bad})
    with pytest.raises(CurateError) as err:
        train_lora(None, None, cfg, tmp_path / "run")
    assert words in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_model_checks_tell_paths_from_hub_ids(tmp_path):
    assert looks_like_path("/abs/model") and looks_like_path("~/m") and looks_like_path("a/b/c")
    assert not looks_like_path("HuggingFaceTB/SmolLM2-135M") and not looks_like_path("smollm2")
    with pytest.raises(CurateError, match="not a model folder"):
        check_model(str(tmp_path))  # exists, but holds no config.json


@pytest.mark.parametrize("argv, words", [
    (["--budget", "-5"], "--budget"),
    (["--model", "/nonexistent"], "no such folder"),
])
def test_train_cli_fails_in_one_line_before_loading(argv, words, tiny_model_dir, registered, tmp_path, capsys,
                                                   no_loading):
    args = ["train", "--source", "t-aligned", "--target", "t-target", "--model", str(tiny_model_dir),
            "--out", str(tmp_path / "run"), *argv]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err


def test_train_refuses_a_foreign_folder_and_keeps_its_files(tiny_model_dir, registered, tmp_path, capsys,
                                                            no_loading):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(CurateError, match="no earlier `curate train` wrote"):
        train_lora(None, None, LoraTrainConfig(**{**TINY, "model": str(tiny_model_dir)}), out)
    rc = main(["train", "--source", "t-aligned", "--target", "t-target", "--model", str(tiny_model_dir),
               "--out", str(out), "--budget", "200"])
    assert rc != 0 and "notes.txt" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my notes"


def test_train_replaces_an_earlier_run_and_never_writes_into_its_mix(tiny_model_dir, tmp_path, isolated_cache):
    from curate import outdir

    cfg = LoraTrainConfig(**{**TINY, "model": str(tiny_model_dir)})
    ds, target = load.load_source(ALIGNED), load.load_source(TARGET)
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers' deprecation, via peft: not shown to users
        first = train_lora(ds, target, cfg, out)
    assert json.loads((out / outdir.MARKER).read_text())["kind"] == "train"
    second = train_lora(ds, target, LoraTrainConfig(**{**TINY, "model": str(tiny_model_dir), "seed": 1}), out)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["seed"] == 1 and saved["eval_ce_after"] == second["eval_ce_after"] != first["eval_ce_after"]
    assert sorted(p.name for p in out.iterdir()) == sorted([outdir.MARKER, "adapter", "loss.png", "metrics.json"])
    with pytest.raises(CurateError, match="holds the input"):
        train_lora(ds, target, cfg, tmp_path, inputs=[out / "metrics.json"])


def test_confirm_refuses_a_foreign_folder(tiny_model_dir, registered, length_metric, tmp_path, no_loading):
    out = tmp_path / "c"
    out.mkdir()
    (out / "thesis.tex").write_text("x")
    cfg = ConfirmConfig(target="t-target", sources=["t-aligned"], metrics=["length"], budget=200,
                        probe=str(tiny_model_dir), mixes=False,
                        train=LoraTrainConfig(**{**TINY, "model": str(tiny_model_dir)}))
    with pytest.raises(CurateError, match="thesis.tex"):
        run_confirm(cfg, out)
    with pytest.raises(CurateError, match="--budget"):
        run_confirm(ConfirmConfig(**{**cfg.__dict__, "budget": -5}), tmp_path / "d")
    assert [p.name for p in out.iterdir()] == ["thesis.tex"] and not (tmp_path / "d").exists()
