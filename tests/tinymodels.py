"""Tiny random-init models and an offline character tokenizer for unit tests.

A module of its own (not conftest.py) so that every test folder imports it by one unambiguous name.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


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
