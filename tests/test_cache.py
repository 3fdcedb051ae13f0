"""The cache survives killed writers and concurrent processes: entries are whole, written once, agreed on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from curate import cache as cache_mod
from curate.cache import Cache, atomic_write_bytes, write_once

ROOT = Path(__file__).resolve().parents[1]


def run_py(code: str, *args: str, wait: bool = True):
    """Run `code` in a fresh interpreter with the repo importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        return out
    return proc


def wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def test_atomic_write_replaces_whole_files(tmp_path):
    p = tmp_path / "a" / "b.json"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in p.parent.iterdir()] == ["b.json"]  # no temp file left


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "x"
    atomic_write_bytes(p, b"old")

    def boom(*_a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old" and [x.name for x in tmp_path.iterdir()] == ["x"]


@pytest.mark.parametrize("kind", [".json", ".npz", ".pt"])
def test_round_trip_each_encoding(tmp_path, kind):
    c = Cache("ns", root=tmp_path)
    key = {"fingerprint": "f", "batch": 0}
    value = {"embedding": np.arange(5, dtype=np.float32), "tokens": np.array(7)} if kind != ".json" else [1, 2, 3]
    if kind == ".pt":
        import torch

        value = {"embedding": torch.arange(5.0), "tokens": 7}
    assert c.get(key, kind) is None
    c.put(key, value, kind)
    back = c.get(key, kind)
    if kind == ".json":
        assert back == value
    else:
        np.testing.assert_array_equal(np.asarray(back["embedding"]), np.arange(5))
    assert Cache("ns", enabled=False, root=tmp_path).get(key, kind) is None


def test_first_writer_wins_and_later_writers_get_its_value(tmp_path):
    c = Cache("ns", root=tmp_path)
    assert c.put({"k": 1}, "first") == "first"
    assert c.put({"k": 1}, "second") == "first"  # written once: everyone agrees on one value
    assert c.get({"k": 1}) == "first"
    assert write_once(tmp_path / "w", b"a") and not write_once(tmp_path / "w", b"b")
    assert (tmp_path / "w").read_bytes() == b"a"


def test_unreadable_entry_is_recomputed_and_replaced(tmp_path):
    c = Cache("ns", root=tmp_path)
    p = c.path({"k": 1}, ".npz")
    p.parent.mkdir(parents=True)
    p.write_bytes(b"PK\x03\x04 truncated")  # e.g. left by an old non-atomic writer
    assert c.get({"k": 1}, ".npz") is None
    c.put({"k": 1}, {"a": np.ones(2)}, ".npz")
    np.testing.assert_array_equal(c.get({"k": 1}, ".npz")["a"], np.ones(2))


def test_disabled_cache_refreshes_entries_with_its_own_value(tmp_path):
    Cache("ns", root=tmp_path).put({"k": 1}, "old")
    assert Cache("ns", enabled=False, root=tmp_path).compute({"k": 1}, lambda: "new") == "new"
    assert Cache("ns", root=tmp_path).get({"k": 1}) == "new"


SLOW_WRITER = """
import os, sys, time
from pathlib import Path
from curate import cache
path, stage = Path(sys.argv[1]), sys.argv[2]
real_write_once = cache.write_once
if stage == "before-publish":  # the temp file is complete; killed before the link
    real_link = os.link
    def link(*a, **k):
        Path(str(path) + ".ready").touch()
        time.sleep(600)
    os.link = link
    cache.write_once(path, b"x" * 1_000_000)
else:  # killed while the temp file is half written
    import tempfile
    real_fdopen = os.fdopen
    class Slow:
        def __init__(self, fh): self.fh = fh
        def __enter__(self): return self
        def __exit__(self, *a): self.fh.close()
        def write(self, data):
            self.fh.write(data[: len(data) // 2]); self.fh.flush()
            Path(str(path) + ".ready").touch()
            time.sleep(600)
        def flush(self): pass
        def fileno(self): return self.fh.fileno()
    os.fdopen = lambda fd, mode: Slow(real_fdopen(fd, mode))
    cache.atomic_write_bytes(path, b"x" * 1_000_000)
"""


@pytest.mark.parametrize("stage", ["mid-write", "before-publish"])
def test_sigkilled_writer_leaves_no_entry_and_the_cache_readable(tmp_path, stage):
    c = Cache("ns", root=tmp_path)
    key = {"k": stage}
    path = c.path(key, ".json")
    proc = run_py(SLOW_WRITER, str(path), stage, wait=False)
    wait_for(Path(str(path) + ".ready"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not path.exists()  # never a partial entry under the real name
    strays = list(path.parent.glob(".*.tmp"))
    assert strays  # only a temp file, which readers never look at
    assert c.get(key) is None
    assert c.compute(key, lambda: {"fine": True}) == {"fine": True}
    assert c.sweep(older_than=0) == len(strays) and not list(path.parent.glob(".*.tmp"))


RACER = """
import json, os, sys, time
from pathlib import Path
from curate.cache import Cache
root, who, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
go = root / "go"
while not go.exists():
    time.sleep(0.005)
c = Cache("ns", root=root)
def compute():
    with open(log, "a") as fh:
        fh.write(who + "\\n")
    time.sleep(0.3)  # long enough that the other process arrives while we compute
    return {"by": who, "pid": os.getpid()}
out = [c.compute({"entry": i}, compute) for i in range(3)]
print(json.dumps(out))
"""


def test_two_processes_on_one_cache_compute_each_entry_once_and_agree(tmp_path):
    log = tmp_path / "computed.log"
    procs = [run_py(RACER, str(tmp_path), who, str(log), wait=False) for who in ("a", "b")]
    time.sleep(0.5)  # both interpreters are up and waiting
    (tmp_path / "go").touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    assert outs[0] == outs[1]  # identical values in both processes
    assert len(log.read_text().split()) == 3  # each entry computed by exactly one of them
    assert not list(tmp_path.glob("ns/*/.*.tmp"))


def test_module_exports_one_atomic_helper_family():
    assert {"atomic_write_bytes", "atomic_write_text", "atomic_write_json"} <= set(cache_mod.__all__)
