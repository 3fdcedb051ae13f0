"""`curate rank` from the outside: progress in logs, partial results, interrupts, resume, one cache for two."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from clitools import child_env, interrupt_gzip_on_second_source, register_sources, spawn, strict_json

from curate.cli import main

SOURCES = ["--target", "rank-t", "--source", "rank-a", "--source", "rank-b", "--source", "rank-c"]
# a cheap metric, slowed to ~1 s per source in the child so that a signal lands mid-ranking
SLOW_GZIP = """
import time
from curate.metrics import gzip as _g
_prep = _g.GzipMetric.prepare
def _slow(self, name, *a, **k):
    if name != "rank-t":
        time.sleep(1.0)
    return _prep(self, name, *a, **k)
_g.GzipMetric.prepare = _slow
"""


@pytest.fixture()
def ranked(isolated_cache, tmp_path):
    register_sources(tmp_path / "data")
    return isolated_cache


def numbers(path) -> dict:
    data = strict_json(path)
    return {r["source"]: (r["rank"], r["alignment"], r["ci_low"], r["ci_high"]) for r in data["results"]}


def test_progress_lines_when_stderr_is_a_pipe(ranked, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "curate.cli", "rank", "--metric", "gzip", *SOURCES],
                          env=child_env(ranked, CURATE_PROGRESS_INTERVAL="0"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(x.startswith("ranking  ") and "/4 steps" in x and "elapsed" in x for x in lines), proc.stderr
    assert "\x1b[" not in proc.stderr  # plain lines, no terminal control codes
    assert "rank-a" in proc.stdout  # the table still goes to stdout


def test_quiet_and_log_json(ranked, tmp_path):
    env = child_env(ranked, CURATE_PROGRESS_INTERVAL="0")
    quiet = subprocess.run([sys.executable, "-m", "curate.cli", "--quiet", "rank", "--metric", "gzip", *SOURCES],
                           env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    js = subprocess.run([sys.executable, "-m", "curate.cli", "--log-json", "rank", "--metric", "gzip", *SOURCES],
                        env=env, capture_output=True, text=True, timeout=300)
    events = [json.loads(x) for x in js.stderr.splitlines()]
    assert js.returncode == 0 and {"start", "advance", "end"} <= {e["event"] for e in events}
    assert any(e["step"] == "ranking" and e["event"] == "end" and e["done"] == 4 for e in events if "step" in e)
    bad = subprocess.run([sys.executable, "-m", "curate.cli", "--log-json", "rank", "--target", "nope"],
                         env=env, capture_output=True, text=True, timeout=300)
    last = json.loads(bad.stderr.splitlines()[-2])  # the event, then the human line
    assert bad.returncode == 1 and last["event"] == "error" and "unknown source 'nope'" in last["message"]


def test_ctrl_c_through_main_exits_130_with_one_line(isolated_cache, capsys, monkeypatch):
    """Issue 17.2: typer returns (not raises) 130 on KeyboardInterrupt; main must not turn it into 0."""
    import curate.rank

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(curate.rank, "rank", interrupted)
    assert main(["rank", "--metric", "gzip", "--source", "gsm8k"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "interrupted (SIGINT): finished work is cached; rerun the same command to resume from it"


def test_partial_json_then_complete_and_interrupt_through_main(ranked, tmp_path, capsys, monkeypatch):
    """Ctrl-C after the first source: exit 130, one line on how to resume, a partial JSON/CSV
    (complete: false); the rerun gives exactly the uninterrupted run's numbers."""
    from curate.metrics import gzip as g

    full = tmp_path / "full.json"
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(full)]) == 0
    assert strict_json(full)["complete"] is True

    prepare = interrupt_gzip_on_second_source(monkeypatch)
    out, csv = tmp_path / "r.json", tmp_path / "r.csv"
    capsys.readouterr()
    code = main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out), "--csv", str(csv)])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines()[-1].startswith("interrupted (SIGINT): the sources finished so far are in")
    part = strict_json(out)
    assert part["complete"] is False and [r["source"] for r in part["results"]] == ["rank-a"]
    assert csv.read_text().splitlines()[1].endswith(",false")
    assert numbers(out)["rank-a"][1:] == numbers(full)["rank-a"][1:]

    monkeypatch.setattr(g.GzipMetric, "prepare", prepare)
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out), "--csv", str(csv)]) == 0
    assert strict_json(out)["complete"] is True and numbers(out) == numbers(full)
    assert csv.read_text().splitlines()[1].endswith(",true")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_real_signal_exits_130_and_leaves_a_partial_ranking(ranked, tmp_path, sig):
    out = tmp_path / "r.json"
    proc = spawn(["rank", "--metric", "gzip", *SOURCES, "--json", str(out)], child_env(ranked), SLOW_GZIP)
    deadline = time.monotonic() + 120
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first source's row is written as soon as it is final
    assert out.exists(), proc.communicate()[1]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"interrupted ({sig.name})" in err and "rerun the same command" in err
    part = strict_json(out)
    assert part["complete"] is False and 1 <= len(part["results"]) < 3
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out)]) == 0  # the rerun
    ref = tmp_path / "ref.json"
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(ref)]) == 0
    assert strict_json(out)["complete"] is True and numbers(out) == numbers(ref)
    for row in part["results"]:
        assert numbers(ref)[row["source"]][1:] == (row["alignment"], row["ci_low"], row["ci_high"])


def test_two_concurrent_ranks_on_one_cache_agree(ranked, tmp_path):
    env = child_env(ranked)
    outs = [tmp_path / f"r{i}.json" for i in range(2)]
    procs = [spawn(["rank", "--metric", "gzip", *SOURCES, "--json", str(o)], env) for o in outs]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert numbers(outs[0]) == numbers(outs[1])


def test_results_are_readable_by_others(ranked, tmp_path):
    import os
    import stat

    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# ----------------------------------------------------------------------------- the embedding cache, from outside
T2V = ["--metric", "task2vec", "--batches", "2", "--batch-size", "4", "--max-length", "32", *SOURCES]


@pytest.fixture()
def tiny_probe(tmp_path):
    from tinymodels import char_tokenizer, tiny_llama

    path = tmp_path / "probe"
    tok = char_tokenizer(save_dir=path)
    tiny_llama(vocab_size=len(tok)).save_pretrained(path)
    return path


def _reference(ranked, tmp_path, tiny_probe):
    """The same ranking in a fresh cache of its own (same registrations), uninterrupted."""
    import shutil

    cache = tmp_path / "ref-cache"
    cache.mkdir()
    shutil.copy(ranked / "sources.json", cache / "sources.json")
    ref = tmp_path / "ref.json"
    p = spawn(["rank", *T2V, "--probe", str(tiny_probe), "--json", str(ref)], child_env(cache))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return numbers(ref)


def _cache_entries_readable(cache) -> int:
    import torch

    n = 0
    for p in (cache / "task2vec").rglob("*"):
        if p.is_file() and not p.name.endswith((".lock", ".tmp")):
            if p.suffix == ".pt":
                torch.load(p, map_location="cpu", weights_only=True)
            elif p.suffix == ".json":
                json.loads(p.read_text())
            n += 1
    return n


def test_sigkill_mid_ranking_leaves_the_cache_readable_and_the_rerun_agrees(ranked, tmp_path, tiny_probe):
    ref = _reference(ranked, tmp_path, tiny_probe)

    out = tmp_path / "r.json"
    proc = spawn(["--log-json", "rank", *T2V, "--probe", str(tiny_probe), "--json", str(out)], child_env(ranked),
                 "import time\nimport curate.cache as _c\n_w = _c.atomic_write_bytes\n"
                 "def _slow(*a, **k):\n    _w(*a, **k)\n    time.sleep(0.5)\n_c.atomic_write_bytes = _slow\n")
    for line in proc.stderr:  # kill as soon as the first batch embedding is done
        if line.startswith("{") and json.loads(line).get("step") == "task2vec: batches" and \
                json.loads(line).get("event") == "advance":
            break
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() or strict_json(out)["complete"] is False  # killed mid-ranking, not after
    assert _cache_entries_readable(ranked) >= 1

    again = spawn(["rank", *T2V, "--probe", str(tiny_probe), "--json", str(out)], child_env(ranked))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert strict_json(out)["complete"] is True and numbers(out) == ref


def test_two_concurrent_task2vec_ranks_on_one_cache_agree(ranked, tmp_path, tiny_probe):
    ref = _reference(ranked, tmp_path, tiny_probe)
    outs = [tmp_path / f"r{i}.json" for i in range(2)]
    procs = [spawn(["rank", *T2V, "--probe", str(tiny_probe), "--json", str(o)], child_env(ranked)) for o in outs]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert numbers(outs[0]) == numbers(outs[1]) == ref
    assert _cache_entries_readable(ranked) >= 1
