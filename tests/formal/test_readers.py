"""read_paths over folders and bad files; `curate ingest` end to end."""

import json
from collections import Counter
from pathlib import Path

import pytest

from formal.readers import ReadConfig, read_paths, read_report

FIX = Path(__file__).parents[1] / "fixtures" / "formal"


def test_fixture_folder_counts_and_skips():
    rep = read_report([FIX], "auto", "demo")
    assert rep.files == Counter({"lean": 5, "text": 5, "code": 2, "isabelle": 2, "leandojo": 1})
    kinds = Counter(r.kind for r in rep.records)
    assert kinds == Counter({"formal": 44, "informal": 14, "pair": 8, "code": 7, "text": 5})
    where = {w.split("/")[-1] for w, _ in rep.skipped}
    assert {"Basic.thy:50", "badbytes.lean:2", "broken.lean:3", "broken.py:6", "leandojo_benchmark.json:2",
            "notes.tex:25", "prose.txt:4", "sample.py:18", "sample.py:25"} <= where
    ids = {r.id for r in rep.records}
    assert {"basic4.lean:Demo.even_add_even", "Basic.thy:Basic.two_facts", "sample.py:Polynomial.degree",
            "badbytes.lean:after_bad", "notes.tex:theorem@L4"} <= ids
    pair = next(r for r in rep.records if r.id == "basic4.lean:Demo.even_add_even")
    assert pair.kind == "pair" and pair.informal == "The sum of two even numbers is even."
    assert pair.formal_lang == "lean4" and pair.meta["proof"].endswith("exact hm.add hn")
    assert next(r for r in rep.records if r.id == "basic3.lean:foo.double").formal_lang == "lean3"
    isa = next(r for r in rep.records if r.id == "Basic.thy:Basic.add_zero_right")
    assert isa.kind == "pair" and isa.informal == "Adding zero changes nothing." and isa.meta["shows"] == ["n + (0::nat) = n"]
    for r in rep.records:  # offsets in meta point at the exact source text
        if r.meta.get("file", "").endswith((".lean", ".thy", ".py")) and r.kind != "text" and "benchmark_file" not in r.meta:
            src = (FIX / r.meta["file"]).read_bytes().decode("utf-8", errors="replace")
            assert src[r.meta["start"]:r.meta["end"]] == r.formal


def test_bad_files_never_crash(tmp_path):
    (tmp_path / "bin.lean").write_bytes(b"theorem x\0\x01\x02 : True := trivial")
    (tmp_path / "big.lean").write_text("theorem big : True := trivial\n" + "-- pad\n" * 50000)
    (tmp_path / "long.lean").write_text("theorem long : " + "1 + " * 30000 + "1 = 1 := rfl\ntheorem ok : True := trivial\n")
    (tmp_path / "empty.thy").write_text("")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.lean").write_text("theorem hidden : True := trivial")
    recs, skipped = read_paths([tmp_path], "auto", "t", config=ReadConfig(max_file_bytes=200_000, max_item_chars=50_000))
    assert [r.meta["name"] for r in recs] == ["ok"]
    why = {Path(w.split(":")[0]).name: y for w, y in skipped}
    assert why["bin.lean"] == "binary file (NUL bytes); skipped"
    assert "over the 200000-byte limit" in why["big.lean"]
    assert "theorem of 120020 characters is over the 50000 limit" in why["long.lean"]
    assert why[tmp_path.name] == "1 files with no reader (.png 1)"


def test_forced_kind_and_missing_path(tmp_path):
    (tmp_path / "a.txt").write_text("theorem t : True := trivial\n")
    recs, skipped = read_paths([tmp_path / "a.txt", tmp_path / "nope.lean"], "lean", "t")
    assert [r.meta["name"] for r in recs] == ["t"] and skipped == [(str(tmp_path / "nope.lean"), "no such file or folder")]
    with pytest.raises(ValueError):
        read_paths([tmp_path], "coq", "t")


def test_cli_ingest_end_to_end(tmp_path, isolated_cache):
    import datasets
    from typer.testing import CliRunner

    from curate import catalog, load
    from curate.cli import app

    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["ingest", str(FIX / "basic4.lean"), "--out", str(out), "--name", "demo"])
    assert res.exit_code == 0, res.output
    assert "demo: 19 records" in res.output and "'pair': 3" in res.output and "'formal': 15" in res.output
    ds = datasets.load_dataset("json", data_files=str(out / "records.jsonl"), split="train")
    assert len(ds) == 19 and set(ds["kind"]) == {"pair", "formal", "text"}
    assert json.loads(ds[0]["meta"])["full_name"] == "Demo.even_add_even"
    assert "demo" in catalog.all_specs()
    loaded = load.load_source("demo")
    assert len(loaded) == 19 and loaded[0]["formal"].startswith("theorem even_add_even")
    res = CliRunner().invoke(app, ["ingest", str(FIX / "broken.lean"), "--out", str(tmp_path / "b"), "--name", "broken"])
    assert res.exit_code == 0 and "skipped 4 parts" in res.output and "broken.lean:8" in res.output
    lines = (tmp_path / "b" / "skipped.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and json.loads(lines[1])["where"].endswith("broken.lean:8")


def test_fenced_lean_and_isabelle_in_markdown():
    path = FIX / "lean_notes.md"
    src = path.read_text(encoding="utf-8")
    recs, skipped = read_paths([path], "auto", "notes")
    assert skipped == []
    assert [(r.id, r.kind, r.formal_lang) for r in recs] == [
        ("lean_notes.md:L7:my_add_zero", "pair", "lean4"), ("lean_notes.md:L9:no_doc", "formal", "lean4"),
        ("lean_notes.md:L20:isa_in_md", "formal", "isabelle"), ("lean_notes.md:theorem@L3", "informal", None),
        ("lean_notes.md:problem@L12", "informal", None), ("lean_notes.md:problem@L13", "informal", None)]
    assert recs[0].informal == "Adding zero." and recs[3].informal == "Every natural number plus zero is itself."
    for r in recs:  # offsets point into the markdown file itself; code never leaks into prose records
        assert src[r.meta["start"]:r.meta["end"]] == (r.formal or r.informal)
