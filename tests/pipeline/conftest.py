"""Fixtures of the pipeline tests: the tiny mix sources registered in a fresh cache, a char tokenizer, a tiny
byte-level BPE."""

import pytest
from mixtools import register_mix_sources
from tinymodels import char_tokenizer


@pytest.fixture()
def sources(isolated_cache):
    register_mix_sources()
    return isolated_cache


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


@pytest.fixture
def tiny_byte_bpe():
    """A GPT-2-style byte-level BPE trained on a few lines, with added special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    corpus = ["theorem foo : a + b = b + a := by ring", "Let x be a real number. Then x^2 >= 0.", "it's we're I'm",
              "naïve café ℝ → ℕ ∀ x ∈ S"] * 20
    tk.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tk)
