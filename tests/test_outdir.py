"""curate.outdir: replace only our own output, refuse or keep everything else."""

from __future__ import annotations

import json

import pytest

from curate import outdir
from curate.errors import CurateError


def write(tmp, **files):
    for name, text in files.items():
        (tmp / name).write_text(text)


def test_install_replaces_our_files_and_removes_stale_ones(tmp_path):
    out = tmp_path / "o"
    tmp = outdir.new_tmp(outdir.check(out, "k"))
    write(tmp, a="1", b="1")
    outdir.install(tmp, out, "k")
    assert json.loads((out / outdir.MARKER).read_text()) == {"kind": "k", "files": ["a", "b"]}
    tmp = outdir.new_tmp(outdir.check(out, "k"))
    write(tmp, a="2")
    outdir.install(tmp, out, "k")
    assert sorted(p.name for p in out.iterdir()) == [outdir.MARKER, "a"] and (out / "a").read_text() == "2"


def test_user_files_are_refused_before_work(tmp_path):
    out = tmp_path / "o"
    tmp = outdir.new_tmp(outdir.check(out, "k"))
    write(tmp, a="1")
    outdir.install(tmp, out, "k")
    write(out, mine="keep")
    with pytest.raises(CurateError, match=r"holds files that no earlier `curate k` wrote \(mine\)"):
        outdir.check(out, "k")
    with pytest.raises(CurateError, match="no earlier `curate other` wrote"):
        outdir.check(out, "other")  # another command's output is foreign too


def test_replaced_mix_never_loses_a_user_file(tmp_path):
    """Issue 17.3: an earlier mix plus a file the user added; building the mix again must keep or refuse."""
    from curate.mix import build

    out = tmp_path / "mix"
    out.mkdir()
    files = {"data.jsonl": "x", "data.parquet": "x", "removed.jsonl": "", "ranking.json": "{}"}
    write(out, **files)
    (out / "manifest.json").write_text(json.dumps({"files": {k: "sha" for k in files}}))  # a pre-marker mix
    write(out, **{"MIX.md": "#", "README.md": "#", "my-notes.txt": "mine"})
    try:
        tmp = build._out_tmp(out)
    except CurateError as exc:
        assert "my-notes.txt" in str(exc)
    else:
        write(tmp, **{"data.jsonl": "y", "manifest.json": "{}"})
        build._install(tmp, out)
    assert (out / "my-notes.txt").read_text() == "mine"
    (out / "my-notes.txt").unlink()
    tmp = build._out_tmp(out)  # without it, the earlier mix is ours and is replaced
    write(tmp, **{"data.jsonl": "y", "manifest.json": "{}"})
    build._install(tmp, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([outdir.MARKER, "data.jsonl", "manifest.json"])


def test_file_or_unwritable_place(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CurateError, match="is a file"):
        outdir.check(tmp_path / "f", "k")
    with pytest.raises(CurateError, match="cannot write"):
        outdir.check(tmp_path / "f" / "sub", "k")


def test_a_crashed_install_leaves_no_foreign_files(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    outdir.new_tmp(out)  # a working folder left by a killed run
    outdir.check(out, "k")  # is not the user's
