"""Tiny model folders and tiny records sources for the train tests (import the fixtures from here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from curate.catalog import SourceSpec
from curate.metrics.base import AlignmentMetric, Estimate, Prepared
from curate.records import render
from tinymodels import char_tokenizer, tiny_llama

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "train"


def spec(name: str, file: str, kind: str = "pair") -> SourceSpec:
    fields = ({"id": "name", "informal": "informal", "formal": "formal"} if kind == "pair"
              else {"id": "name", "informal": "text"})
    return SourceSpec(name=name, kind=kind, formal_lang="lean4" if kind == "pair" else None, license="MIT",
                      path=str(FIX), files=(file,), fields=fields)


ALIGNED = spec("t-aligned", "aligned.jsonl")
TARGET = spec("t-target", "target.jsonl")
CHAT = spec("t-chat", "chat.jsonl", kind="text")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init tiny Llama + char tokenizer saved as a model folder (usable as --model PATH)."""
    path = tmp_path_factory.mktemp("tiny-llama")
    char_tokenizer(save_dir=path)
    import torch

    model = tiny_llama(vocab_size=128, pad_token_id=0)
    with torch.no_grad():  # a wider (tied) embedding, so the tiny net can move its logits off uniform
        model.model.embed_tokens.weight.mul_(6)
    model.save_pretrained(path)
    return path


@pytest.fixture()
def registered(isolated_cache):
    """The fixture sources registered in a fresh cache, so CLI commands can name them."""
    from curate import catalog

    for s in (ALIGNED, TARGET, CHAT):
        catalog.register(SourceSpec(**{**s.__dict__}))
    catalog.register(SourceSpec(**{**TARGET.__dict__, "name": "t-target2"}))  # same items, another name
    return isolated_cache



@dataclass
class LengthConfig:
    scale: float = 50.0
    """Character difference at which alignment halves."""


class LengthMetric(AlignmentMetric):
    """A deterministic stand-in metric for confirm tests: closeness of mean rendered lengths."""

    name = "length"
    Config = LengthConfig

    def prepare(self, name, dataset, seed):
        lengths = [len(render(r)) for r in dataset]
        return Prepared(name=name, fingerprint=name, records=len(dataset), used=len(dataset),
                        data=sum(lengths) / len(lengths))

    def alignment(self, source, target):
        v = 1.0 / (1.0 + abs(source.data - target.data) / self.config.scale)
        return Estimate(v, v, v, 1)

    def diversity(self, prepared):
        return Estimate(0.0, 0.0, 0.0, 1)


@pytest.fixture()
def length_metric(monkeypatch):
    """Registers `LengthMetric` as metric "length" for one test."""
    from curate import metrics

    monkeypatch.setitem(metrics.REGISTRY, "length", "_tiny:LengthMetric")
    return "length"
