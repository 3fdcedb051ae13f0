"""Keep freed tensor memory from piling up in the C heap during training (glibc on Linux).

torch allocates CPU tensors with malloc. glibc serves a large block from its own pages (mmap, given
back on free) only while the block is above a threshold that it raises to the size of each such
block freed (up to 32 MiB), so after the first few steps every activation (4.7 MiB for one
8 × 256 × 576 float32 hidden state) comes from the heap, where freed blocks below a live one are
kept by the process and not reused. For SmolLM2 (30 layers, activation checkpointing) one training
step grew the resident set by ~100 MiB per layer, almost all of it free heap (malloc_trim after
each layer gave it back): 4.0 GiB peak for one step (benchmarks/RESULTS.md, "Training memory").

`limit_retention` fixes the threshold (mallopt M_MMAP_THRESHOLD), so blocks at least that large
always get their own pages and go back to the OS when freed; `release` (malloc_trim) hands back
free heap pages between phases; `cap_resident` does that before each layer once the resident set
passes a cap (with threshold 0: ~2.9 GiB peak at ~1.03x glibc's step time, against the 4 MiB
threshold's ~1.6 GiB at ~1.6x; `curate train --mmap-threshold 0 --resident-cap 2560`). None changes
any computed value; all are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

DEFAULT_MMAP_THRESHOLD = 4 * 1024 * 1024
"""Bytes from which a block gets its own pages (4 MiB: a hidden-state activation of a default SmolLM2
batch is 4.7 MiB, the MLP's 12.6; 1 MiB measured about the same peak on a 6-layer probe). Full
default `curate train`: 1,637 MiB peak, from 3,956 for one step without it, at ~1.7x the step time
(fresh-process A/B on the real model; 8 MiB is as fast as glibc's default but peaks at 3.1 GiB;
benchmarks/RESULTS.md, "Training memory")."""
_M_MMAP_THRESHOLD = -3  # glibc malloc.h
_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's HEAP_MAX/2 on 64-bit: mallopt refuses more


@lru_cache(maxsize=1)
def _glibc():
    """The process's glibc (None elsewhere: macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    except (OSError, AttributeError):
        return None
    return libc


def limit_retention(threshold: int = DEFAULT_MMAP_THRESHOLD) -> bool:
    """Serve blocks of at least `threshold` bytes (capped at 32 MiB) from their own pages, for the rest
    of the process (0: leave the allocator as it is). True if the allocator took the setting."""
    libc = _glibc()
    if libc is None or threshold <= 0:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, min(int(threshold), _MAX_MMAP_THRESHOLD)))


def release() -> bool:
    """Give free heap pages back to the OS (malloc_trim(0)); True if any were."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def resident_bytes() -> int:
    """The process's resident set now (bytes; /proc/self/statm, 0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _page_size()
    except (OSError, IndexError, ValueError):
        return 0


@lru_cache(maxsize=1)
def _page_size() -> int:
    import os

    return os.sysconf("SC_PAGE_SIZE")


def repeated_blocks(model) -> list:
    """The model's repeated blocks (the children of its longest `nn.ModuleList`: a decoder's layers)."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    return list(max(lists, key=len)) if lists else []


def cap_resident(model, limit: int) -> list:
    """Before each of the model's repeated blocks runs (forward, and its recompute under activation
    checkpointing), give free heap pages back if the resident set is above `limit` bytes (0: nothing).
    Returns the hook handles (`.remove()` them to stop). Changes no computed value."""
    if limit <= 0 or _glibc() is None:
        return []

    def check(_module, _args):
        if resident_bytes() > limit:
            release()

    return [block.register_forward_pre_hook(check) for block in repeated_blocks(model)]
