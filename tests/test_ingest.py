"""`curate ingest` never eats a folder, keeps what it wrote before on failure, says what it skipped."""

from __future__ import annotations

import json
import os
import stat

import pytest
from test_cli import one_error_line
from tinymodels import FIXTURES

from curate.cli import main

PAIRS = FIXTURES / "foundation" / "pairs.jsonl"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def ingest(src, out, *extra):
    return ["ingest", src, "--informal-field", "q", "--formal-field", "f", "--out", out, "--name", "mine", *extra]


def test_out_holding_the_input_is_refused_and_the_input_kept(capsys, tmp_path, isolated_cache):
    mydata = tmp_path / "mydata"
    mydata.mkdir()
    (mydata / "x.jsonl").write_bytes(PAIRS.read_bytes())
    code, _, err = run(capsys, *ingest(mydata, mydata))
    assert code == 1 and one_error_line(err) and "holds the input" in err
    assert sorted(p.name for p in mydata.iterdir()) == ["x.jsonl"]
    assert (mydata / "x.jsonl").read_bytes() == PAIRS.read_bytes()
    code, _, err = run(capsys, *ingest(mydata / "x.jsonl", mydata))  # the file itself as input
    assert code == 1 and "holds the input" in err and (mydata / "x.jsonl").exists()
    code, _, err = run(capsys, *ingest(mydata, mydata / "out"))  # output inside the input folder
    assert code == 1 and "inside the input folder" in err


def test_foreign_non_empty_folder_is_refused(capsys, tmp_path, isolated_cache):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8 not really")
    code, _, err = run(capsys, *ingest(PAIRS, other))
    assert code == 1 and one_error_line(err) and "no earlier `curate ingest` wrote (cat.jpg)" in err
    assert [p.name for p in other.iterdir()] == ["cat.jpg"]


def test_out_dot_works_in_an_empty_folder_and_is_refused_over_inputs(capsys, tmp_path, isolated_cache, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, err = run(capsys, *ingest(PAIRS, "."))
    assert code == 0, err
    assert (here / "records.jsonl").exists() and "Traceback" not in err
    code, _, err = run(capsys, *ingest(PAIRS, "."))  # an earlier ingest's folder is replaced
    assert code == 0, err
    (here / "x.jsonl").write_bytes(PAIRS.read_bytes())
    code, _, err = run(capsys, *ingest("x.jsonl", "."))
    assert code == 1 and one_error_line(err) and (here / "x.jsonl").exists()


def test_rerun_replaces_only_its_own_files(capsys, tmp_path, isolated_cache):
    out = tmp_path / "mine"
    assert run(capsys, *ingest(PAIRS, out))[0] == 0
    assert run(capsys, *ingest(PAIRS, out))[0] == 0  # replacing our own output is fine
    (out / "notes.txt").write_text("mine")
    code, _, err = run(capsys, *ingest(PAIRS, out))
    assert code == 1 and "notes.txt" in err and (out / "notes.txt").read_text() == "mine"


def test_skipped_jsonl_is_always_written(capsys, tmp_path, isolated_cache):
    out = tmp_path / "mine"
    code, text, _ = run(capsys, *ingest(PAIRS, out))
    assert code == 0 and (out / "skipped.jsonl").read_text() == ""
    assert "wrote" in text and "skipped.jsonl (0 skipped parts)" in text  # says where everything went


def test_skip_bad_rows_counts_and_reports_them(capsys, tmp_path, isolated_cache):
    src = tmp_path / "mixed.jsonl"
    src.write_text('{"q": "a", "f": "b"}\n'
                   '{"q": "x", "f": "this is thirty chars long", oops}\n'
                   '{"q": "c", "f": "d"}\n'
                   '{"f": "no q"}\n', encoding="utf-8")
    code, _, err = run(capsys, *ingest(src, tmp_path / "strict"))
    assert code == 1 and "mixed.jsonl:2: malformed JSON" in err and "at column 46" in err  # the column of `oops`
    assert "--skip-bad-rows" in err
    out = tmp_path / "lenient"
    code, text, _ = run(capsys, *ingest(src, out, "--skip-bad-rows"))
    assert code == 0 and "2 records" in text and "skipped 2 parts" in text
    skipped = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    assert [s["where"].rsplit(":", 1)[1] for s in skipped] == ["2", "4"]
    assert "malformed JSON" in skipped[0]["why"] and "mapped field 'q' missing" in skipped[1]["why"]


def test_outputs_are_shareable(capsys, tmp_path, isolated_cache):
    old = os.umask(0o022)
    try:
        assert run(capsys, *ingest(PAIRS, tmp_path / "mine"))[0] == 0
    finally:
        os.umask(old)
    out = tmp_path / "mine"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "records.jsonl").stat().st_mode) == 0o644


def test_workers_read_a_tree_into_the_same_records_as_one_process(capsys, tmp_path, isolated_cache):
    tree = FIXTURES / "formal"
    code1, _, err1 = run(capsys, "ingest", tree, "--out", tmp_path / "one", "--name", "t1")
    code2, _, err2 = run(capsys, "ingest", tree, "--out", tmp_path / "two", "--name", "t2", "--workers", "2")
    assert code1 == 0 and code2 == 0, (err1, err2)
    one = [json.loads(x) for x in (tmp_path / "one" / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    two = [json.loads(x) for x in (tmp_path / "two" / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(one) > 10
    assert [{**r, "source": None} for r in one] == [{**r, "source": None} for r in two]
    code, _, err = run(capsys, "ingest", tree, "--out", tmp_path / "bad", "--name", "t3", "--workers", "0")
    assert code == 1 and one_error_line(err) and "--workers" in err
