"""One mix, any execution: shard sizes and worker processes give the same bytes; a dead worker
leaves nothing behind; sharded output loads with `datasets`. The Ray engine: test_ray_engine.py."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from mixtools import build, cli_mix_args, register_awkward_sources
from mixtools import same_bytes as mix_same_bytes

from curate.errors import CurateError

FILES = ("data.jsonl", "data.parquet", "removed.jsonl", "manifest.json", "MIX.md")


def same_bytes(a: Path, b: Path) -> None:
    mix_same_bytes(a, b, FILES)


@pytest.mark.parametrize("strategy", ["top-k", "proportional", "select", "random"])
def test_shard_sizes_and_workers_give_identical_mixes(sources, tmp_path, tok, strategy):
    ref = build(tmp_path, tok, "ref", strategy=strategy, k=3, budget=10**6 if strategy == "top-k" else 3000)
    kw = dict(strategy=strategy, k=3, budget=10**6 if strategy == "top-k" else 3000)
    for shard_records in (1, 4, 7):
        other = build(tmp_path, tok, f"s{shard_records}", shard_records=shard_records, **kw)
        same_bytes(ref.out, other.out)
    two = build(tmp_path, tok, "w2", shard_records=5, workers=2, **kw)
    same_bytes(ref.out, two.out)
    assert ref.manifest["totals"]["removed"]["exact_duplicate"] + ref.manifest["totals"]["removed"]["near_duplicate"] > 0


def test_duplicates_across_shards_are_removed(sources, tmp_path, tok):
    res = build(tmp_path, tok, "m", strategy="top-k", k=3, budget=10**6, shard_records=2)
    removed = {r["id"]: r for r in map(json.loads, (res.out / "removed.jsonl").read_text().splitlines())}
    assert removed["a_exactdup"]["kept"] == "mix-a/a3"  # a3 and its copy sit in different 2-record shards
    assert removed["a_neardup"]["reason"] == "near_duplicate" and removed["a_neardup"]["kept"] == "mix-a/a6"
    assert removed["b_dup_of_a"]["kept"] == "mix-a/a18"  # across sources: the better-ranked copy stays


def test_killed_worker_leaves_no_output_and_a_rerun_completes(sources, tmp_path, tok, monkeypatch):
    from curate.pipeline import steps

    real = steps.Decontaminate.process

    def dies(self, rows):
        if any(r["id"] == "a10" for r in rows):
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-run
        return real(self, rows)

    monkeypatch.setattr(steps.Decontaminate, "process", dies)
    with pytest.raises(CurateError, match="worker process died"):
        build(tmp_path, tok, "m", workers=2, shard_records=3)
    assert not (tmp_path / "m").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == []  # no temp or work folders left
    monkeypatch.setattr(steps.Decontaminate, "process", real)
    again = build(tmp_path, tok, "m", workers=2, shard_records=3)
    same_bytes(again.out, build(tmp_path, tok, "ref").out)


def test_sharded_output_loads_as_one_dataset_with_per_shard_counts(sources, tmp_path, tok):
    import datasets

    one = build(tmp_path, tok, "one", strategy="random")
    three = build(tmp_path, tok, "three", strategy="random", output_shards=3)
    shards = three.manifest["output_shards"]
    assert len(shards) == 3 and sum(s["records"] for s in shards) == three.manifest["totals"]["out"]
    assert sum(s["tokens"] for s in shards) == three.manifest["totals"]["tokens"]
    assert three.manifest["config"]["output_shards"] == 3 and "output_shards" not in one.manifest["config"]
    cache = str(tmp_path / "hf")
    a = datasets.load_dataset(str(one.out), split="train", cache_dir=cache)
    b = datasets.load_dataset(str(three.out), split="train", cache_dir=cache)
    assert a["id"] == b["id"] and a["text"] == b["text"]
    gone = datasets.load_dataset(str(three.out), "removed", split="train", cache_dir=cache)
    assert len(gone) == sum(three.manifest["totals"]["removed"][r] for r in
                            ("contamination", "exact_duplicate", "near_duplicate"))
    assert (three.out / "data-00002-of-00003.parquet").exists() and not (three.out / "data.parquet").exists()


def test_cli_engine_flags(sources, tmp_path, tok):
    from curate.cli import main

    args = cli_mix_args(tmp_path)
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--workers", "2", "--output-shards", "2"]) == 0
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert [s["records"] for s in two["output_shards"]] and sum(s["records"] for s in two["output_shards"]) == \
        one["totals"]["out"]
    assert one["sources"] == two["sources"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--engine", "spark"]) == 1
    assert main([*args, "--out", str(tmp_path / "bad"), "--ray-address", "auto"]) == 1  # needs --engine ray
    assert not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------- shards read in the workers
def workers_read(monkeypatch):
    """Every mix from here on reads its shards in the workers (`curate.pipeline.read`), in this process."""
    from curate.mix import build as build_module
    from curate.pipeline.executor import LocalExecutor

    monkeypatch.setattr(build_module, "executor", lambda engine, workers, address: LocalExecutor(workers, True))


@pytest.mark.parametrize("shard_records", [1, 3, 5, 100])
def test_shards_read_in_the_workers_give_the_serial_reads_mix(sources, tmp_path, tok, monkeypatch, shard_records):
    from curate import load
    from curate.pipeline import read

    register_awkward_sources(tmp_path / "src")
    kw = dict(strategy="top-k", k=3, budget=10**6)
    ref = build(tmp_path, tok, "ref", **kw)
    workers_read(monkeypatch)
    seen = []
    real = read.read_records
    monkeypatch.setattr(read, "read_records", lambda task, report: (seen.append(task), real(task, report))[1])
    other = build(tmp_path, tok, "w", shard_records=shard_records, **kw)
    same_bytes(ref.out, other.out)
    assert {t.spec.name for t in seen} == {"mix-a", "mix-b", "mix-c"}  # every source went through the workers
    if shard_records == 1:
        assert len({(t.spec.name, t.pieces[0].path) for t in seen if len(t.pieces) == 1}) >= 3
    for name in ("mix-b", "mix-c"):  # the fingerprint of the serial read (ids renamed, texts in order)
        assert other.manifest["sources"][name]["fingerprint"] == load.fingerprint(load.load_source(name))
    out = [json.loads(line)["id"] for line in (other.out / "data.jsonl").read_text().splitlines()]
    removed = {r["id"]: r for r in map(json.loads, (other.out / "removed.jsonl").read_text().splitlines())}
    assert "b2#2" in out and removed["b2#3"]["kept"] == "mix-b/b2"  # renamed across files and shards
    assert "rows:2" in out or "rows:2" in removed  # an id from the file stem and row number
    b = other.manifest["sources"]["mix-b"]
    assert b["in"] == 32 + 1 - 4 - 1  # 32 records + 1 copy, 4 rows filtered out, 1 skipped as empty


def test_a_shard_read_in_a_worker_keeps_the_serial_reads_one_line_error(sources, tmp_path, tok, monkeypatch):
    from curate import catalog
    from curate.catalog import SourceSpec

    folder = tmp_path / "src" / "b"
    folder.mkdir(parents=True)
    lines = (Path(__file__).parents[1] / "fixtures" / "mix" / "b.jsonl").read_text().splitlines()
    lines[9] = lines[9][:-1]  # line 10: malformed
    (folder / "b.jsonl").write_text("\n".join(lines) + "\n")
    catalog.register(SourceSpec(name="mix-b", path=str(folder), kind="pair", formal_lang="lean4", license="test",
                                fields={"id": "id", "informal": "informal", "formal": "formal"}))
    with pytest.raises(CurateError) as serial:
        build(tmp_path, tok, "m", strategy="top-k", k=3, budget=10**6)
    workers_read(monkeypatch)
    with pytest.raises(CurateError) as parallel:
        build(tmp_path, tok, "m", strategy="top-k", k=3, budget=10**6, shard_records=3)
    assert str(parallel.value) == str(serial.value) and f"{folder / 'b.jsonl'}:10: malformed JSON" in str(serial.value)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("cache", "src")) == []
