"""The tokenizer shipped to the workers counts as the transformers tokenizer does, without transformers."""

import pickle
import subprocess
import sys

import pytest
from test_tokencount import TRICKY, _random_texts, _real_probe

from curate import tokens
from curate.pipeline.worker_tokenizer import WorkerTokenizer, for_workers


def _check(tok) -> None:
    texts = TRICKY + _random_texts(1, 3000)
    shipped = pickle.loads(pickle.dumps(for_workers(tok)))
    assert isinstance(shipped, WorkerTokenizer)
    assert shipped._tokenizer.to_str() == tok._tokenizer.to_str()
    assert tokens.lengths(texts, shipped) == tokens.encoded_lengths(texts, tok)


def test_shipped_tokenizer_counts_the_same(tiny_byte_bpe):
    _check(tiny_byte_bpe)


@pytest.mark.slow
def test_shipped_probe_counts_the_same():
    _check(_real_probe())


def test_unpickling_imports_no_transformers(tiny_byte_bpe, tmp_path):
    path = tmp_path / "tok.pkl"
    path.write_bytes(pickle.dumps(for_workers(tiny_byte_bpe)))
    code = ("import pickle, sys; from curate import tokens; t = pickle.load(open(sys.argv[1], 'rb')); "
            "print(tokens.lengths(['it is a b c'], t)[0], 'transformers' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(tokens.encoded_lengths(["it is a b c"], tiny_byte_bpe)[0]), "False", "False"]


def test_other_tokenizers_are_shipped_as_they_are(tok):
    assert for_workers(tok) is tok  # a char tokenizer: not a byte-level BPE, encoded in the workers
