"""The read step's shard plan: pieces of a file, read one by one, are the file read whole — same rows, same
line numbers — wherever the cuts fall (block edges, blank lines, a last line without a newline)."""

from __future__ import annotations

import json

import pytest

from curate import load
from curate.catalog import SourceSpec
from curate.pipeline import read


def spec(path, files=("*.jsonl",)) -> SourceSpec:
    return SourceSpec(name="s", path=str(path), files=files, kind="informal", license="test",
                      fields={"id": "{id?}", "informal": "text"})


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 24])
@pytest.mark.parametrize("per", [1, 2, 5, 100])
@pytest.mark.parametrize("trailing_newline", [True, False])
def test_jsonl_pieces_read_as_the_whole_file(tmp_path, monkeypatch, block, per, trailing_newline):
    monkeypatch.setattr(read, "_BLOCK", block)  # cuts at and across block edges
    lines = [json.dumps({"id": f"x{i}", "text": f"line {i} é"}) for i in range(11)]
    lines[3], lines[8] = "", "  "
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf-8")
    pieces = list(read._jsonl_pieces(path, per))
    got = [row for p, _ in pieces for row in load.read_jsonl(path, p.start, p.stop, p.first)]
    assert got == list(load.read_jsonl(path))
    assert sum(n for _, n in pieces) == len(lines)  # every line counted once, blank ones too
    assert all(n == per for _, n in pieces[:-1])


def test_a_shard_plan_reads_every_record_once_in_order(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(json.dumps({"id": f"a{i}", "text": f"t{i}"}) for i in range(7)))
    (folder / "b.jsonl").write_text("")
    (folder / "c.jsonl").write_text(json.dumps({"text": "no id"}) + "\n")
    pq.write_table(pa.Table.from_pylist([{"id": None, "text": f"p{i}"} for i in range(9)]), folder / "d.parquet",
                   row_group_size=2)
    s = spec(folder, ("*.jsonl", "*.parquet"))
    serial = list(load.iter_records(s, load.LoadReport("s")))
    for per in (1, 3, 4, 50):
        tasks = list(read.plan(s, per))
        assert [t.shard for t in tasks] == list(range(len(tasks))) and [t.last for t in tasks][-1]
        rows = [r for t in tasks for r in read.read_records(t, load.LoadReport("s"))]
        for r in rows:
            del r["_row"]
        assert rows == serial  # no repeated ids here, so the raw ids are the final ones
    assert any(r["id"] == "d:3" for r in serial) and any(r["id"] == "c:1" for r in serial)


def test_an_unreadable_parquet_file_fails_in_order_in_one_line(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "bad.parquet").write_bytes(b"not parquet")
    tasks = list(read.plan(spec(folder, ("*.parquet",)), 10))
    from curate.errors import CurateError

    with pytest.raises(CurateError, match=r"bad.parquet: cannot read as parquet \("):
        read.read_records(tasks[0], load.LoadReport("s"))
