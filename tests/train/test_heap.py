"""train.heap: with the threshold set, a freed large block below a live one goes back to the OS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from train import heap

ROOT = Path(__file__).resolve().parents[2]

# In a fresh process: raise glibc's dynamic threshold (free one 16 MiB block), allocate 8 MiB and a
# small block after it, touch the 8 MiB, free it, and print how much of it the resident set gave back.
SCENARIO = """
import ctypes, sys
sys.path.insert(0, {root!r})
from train import heap
if {limit}:
    assert heap.limit_retention()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024
libc.free(libc.malloc(16 << 20))
big = libc.malloc(8 << 20)
small = libc.malloc(64 << 10)
ctypes.memset(big, 1, 8 << 20)
before = rss()
libc.free(big)
print(before - rss())
"""


def _returned_mib(limit: bool) -> int:
    code = SCENARIO.format(root=str(ROOT), limit=limit)
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


@pytest.mark.skipif(heap._glibc() is None, reason="glibc only")
def test_limit_retention_returns_freed_blocks_to_the_os():
    if _returned_mib(limit=False) >= 7:
        pytest.skip("this allocator gives the block back even without the setting")
    assert _returned_mib(limit=True) >= 7


def test_zero_threshold_leaves_the_allocator_alone():
    assert heap.limit_retention(0) is False


def test_repeated_blocks_are_the_decoder_layers():
    from tinymodels import tiny_gpt2, tiny_llama

    llama, gpt2 = tiny_llama(), tiny_gpt2()
    assert heap.repeated_blocks(llama) == list(llama.model.layers)
    assert heap.repeated_blocks(gpt2) == list(gpt2.transformer.h)


@pytest.mark.skipif(heap._glibc() is None, reason="glibc only")
@pytest.mark.parametrize("resident, limit, trims", [(10 << 30, 1 << 30, 2), (10 << 20, 1 << 30, 0), (10 << 30, 0, 0)])
def test_cap_resident_trims_before_each_layer_only_above_the_cap(monkeypatch, resident, limit, trims):
    import torch
    from tinymodels import tiny_llama

    calls = []
    monkeypatch.setattr(heap, "resident_bytes", lambda: resident)
    monkeypatch.setattr(heap, "release", lambda: calls.append(1) or True)
    model = tiny_llama()
    hooks = heap.cap_resident(model, limit)
    ids = torch.tensor([[5, 6, 7, 8]])
    model(input_ids=ids)
    assert len(calls) == trims  # the tiny model has 2 layers
    for h in hooks:
        h.remove()
    model(input_ids=ids)
    assert len(calls) == trims


def test_resident_bytes_reads_this_process():
    if not Path("/proc/self/statm").exists():
        pytest.skip("no /proc")
    assert 1 << 20 < heap.resident_bytes() < 1 << 40
