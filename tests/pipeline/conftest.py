"""Fixtures of the pipeline tests: the tiny mix sources registered in a fresh cache, a char tokenizer."""

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
