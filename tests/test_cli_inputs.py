"""Every bad input: one line naming the input and the fix, a nonzero exit, nothing already written lost —
and checked before anything expensive is loaded."""

from __future__ import annotations

import json
import math

import pytest
from clitools import register_sources, strict_json
from test_cli import one_error_line
from tinymodels import FIXTURES

from curate.cli import main

FOUND = FIXTURES / "foundation"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def no_work(monkeypatch):
    """Fail the test if the command gets as far as ranking, loading data or training."""
    import curate.load
    import curate.rank

    def boom(*a, **k):
        raise AssertionError("expensive work started before the input was checked")

    monkeypatch.setattr(curate.rank, "rank", boom)
    monkeypatch.setattr(curate.load, "load_source", boom)
    monkeypatch.setattr(curate.load, "load_with_report", boom)
    for mod, name in (("train.lora", "train_lora"), ("train.confirm", "run_confirm"), ("train.bench", "run_bench")):
        try:
            monkeypatch.setattr(__import__(mod, fromlist=[name]), name, boom)
        except (ImportError, AttributeError):
            pass


# ----------------------------------------------------------------------------- ingest: bad files
def _ingest(path, out, *extra):
    return ["ingest", path, "--informal-field", "q", "--formal-field", "f", "--out", out, "--name", "mine", *extra]


def _bad_file(tmp_path, case):
    p = tmp_path / f"{case}.jsonl"
    if case == "binary":
        p.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    elif case == "truncated":
        p.write_text('{"q": "a", "f": "b"}\n{"q": "c", "f": "theorem', encoding="utf-8")
    elif case == "huge_line":
        p.write_text('{"q": "a", "f": "b"}\n{"q": "' + "x" * 5000 + '", "f": "y"}\n', encoding="utf-8")
    elif case == "non_utf8":
        p.write_bytes(b'{"q": "caf\xe9", "f": "b"}\n')
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "malformed":
        p.write_text('{"q": "a", "f": "b"}\n{"q": "broken", "f": \n', encoding="utf-8")
    elif case == "not_objects":
        p.write_text('[1, 2]\n', encoding="utf-8")
    return p


@pytest.mark.parametrize("case,message", [
    ("binary", "binary data (NUL bytes)"),
    ("truncated", "2: malformed JSON (Unterminated string starting at column 17)"),
    ("huge_line", "2: line of 0 MB, over the 0 MB limit"),
    ("non_utf8", "1: not valid UTF-8 (byte 0xe9 at column 11)"),
    ("empty", "no records"),
    ("malformed", "2: malformed JSON (Expecting value at column 22)"),
    ("not_objects", "1: expected a JSON object, got list"),
])
def test_bad_ingest_file_keeps_the_earlier_output(capsys, tmp_path, isolated_cache, monkeypatch, case, message):
    from curate import ingest

    monkeypatch.setattr(ingest, "MAX_LINE_BYTES", 1000)
    out = tmp_path / "out"
    assert run(capsys, *_ingest(FOUND / "pairs.jsonl", out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = run(capsys, *_ingest(_bad_file(tmp_path, case), out))
    assert code == 1 and one_error_line(err), err
    assert message in " ".join(err.split()) and f"{case}.jsonl" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_binary_jsonl_without_fields_says_what_it_is(capsys, tmp_path, isolated_cache):
    code, _, err = run(capsys, "ingest", _bad_file(tmp_path, "binary"), "--out", tmp_path / "o", "--name", "m")
    assert code == 1 and one_error_line(err) and "binary data, not jsonl text" in err and "--kind" not in err
    text = tmp_path / "table.jsonl"
    text.write_text('{"question": "a", "answer": "b"}\n', encoding="utf-8")
    code, _, err = run(capsys, "ingest", text, "--out", tmp_path / "o", "--name", "m")
    assert code == 1 and "--informal-field" in err and "no reader" not in err


def test_missing_input_path(capsys, tmp_path, isolated_cache):
    code, _, err = run(capsys, *_ingest(tmp_path / "nope.jsonl", tmp_path / "o"))
    assert code == 1 and one_error_line(err) and "nope.jsonl: no such file or folder" in err


# ----------------------------------------------------------------------------- outputs
def test_unwritable_and_wrong_outputs_fail_before_any_work(capsys, tmp_path, isolated_cache, no_work):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [
        (["rank", "--metric", "gzip", "--source", "gsm8k", "--json", blocker / "r.json"], "cannot write --json"),
        (["rank", "--metric", "gzip", "--source", "gsm8k", "--csv", folder], "is a folder; give a file name"),
        (["sources", "--json", blocker / "s.json"], "cannot write --json"),
        (["train", "--source", "gsm8k", "--out", blocker], "is a file, not a folder"),
        (["confirm", "--out", blocker / "x"], "cannot write --out"),
        (["bench", "--model", "gpt2", "--json", folder], "is a folder"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, *args)
        assert code == 1 and one_error_line(err) and message in err, (args, err)
    assert blocker.read_text() == "x"


# ----------------------------------------------------------------------------- numbers and local paths
@pytest.mark.parametrize("args,message", [
    (["rank", "--batches", "0"], "--batches must be at least 1, got 0"),
    (["rank", "--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
    (["rank", "--max-length", "1"], "--max-length must be at least"),
    (["rank", "--probe", "/nonexistent/probe"], "--probe /nonexistent/probe: no such folder"),
    (["rank", "--metric", "embed", "--encoder", "./no/such/encoder"], "--encoder ./no/such/encoder: no such folder"),
    (["train", "--source", "gsm8k", "--budget", "-5", "--out", "OUT"], "--budget must be at least 1, got -5"),
    (["train", "--source", "gsm8k", "--budget", "0", "--out", "OUT"], "--budget must be at least 1, got 0"),
    (["train", "--source", "gsm8k", "--epochs", "0", "--out", "OUT"], "--epochs must be at least 1"),
    (["train", "--source", "gsm8k", "--lr", "0", "--out", "OUT"], "--lr must be positive"),
    (["train", "--source", "gsm8k", "--model", "/nonexistent", "--out", "OUT"], "--model /nonexistent: no such folder"),
    (["train", "--mix", "/nonexistent/mix", "--out", "OUT"], "--mix /nonexistent/mix: no such folder"),
    (["confirm", "--budget", "0", "--out", "OUT"], "--budget must be at least 1"),
    (["confirm", "--model", "~/nonexistent-model-dir/x/", "--out", "OUT"], "no such folder"),
    (["bench", "--model", "gpt2", "--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    (["bench", "--adapter", "/nonexistent/run"], "--adapter /nonexistent/run: no such folder"),
    (["mix", "--ranking", "R", "--budget", "0", "--out", "OUT"], "positive"),
    (["train", "--source", "gsm9", "--out", "OUT"], "unknown source 'gsm9'"),
    (["train", "--source", "gsm8k", "--target", "proofnett", "--out", "OUT"], "did you mean proofnet"),
    (["confirm", "--source", "gsm9", "--out", "OUT"], "unknown source 'gsm9'"),
    (["mix", "--target", "proofnet", "--source", "gsm9", "--budget", "1k", "--out", "OUT"], "unknown source 'gsm9'"),
    (["mix", "--ranking", "R", "--budget", "1k", "--k", "0", "--out", "OUT"], "--k must be at least 1"),
])
def test_nonsense_numbers_and_missing_paths_fail_before_loading(capsys, tmp_path, isolated_cache, no_work, args,
                                                                 message):
    args = [str(tmp_path / "out") if a == "OUT" else str(FIXTURES / "mix" / "ranking.json") if a == "R" else a
            for a in args]
    code, _, err = run(capsys, *args)
    assert code == 1 and one_error_line(err), err
    assert message in " ".join(err.split())
    assert not (tmp_path / "out").exists()


def test_unpulled_probe_fails_before_reading_data(capsys, isolated_cache, no_work):
    code, _, err = run(capsys, "rank", "--source", "gsm8k")
    assert code == 1 and one_error_line(err) and "curate models pull smollm2" in err


# ----------------------------------------------------------------------------- silent garbage
def test_nan_never_reaches_the_json(capsys, tmp_path, isolated_cache, monkeypatch):
    """Valid JSON always (NaN written as null); a NaN alignment is an error that names the field."""
    import curate.rank

    register_sources(tmp_path / "data")
    good = tmp_path / "good.json"
    assert main(["rank", "--metric", "gzip", "--target", "rank-t", "--source", "rank-a", "--json", str(good)]) == 0
    ranking = json.loads(good.read_text())
    ranking["results"][0]["alignments"]["gzip"]["ci_high"] = math.inf
    monkeypatch.setattr(curate.rank, "rank", lambda *a, **k: ranking)
    capsys.readouterr()
    out = tmp_path / "r.json"
    code, _, err = run(capsys, "rank", "--metric", "gzip", "--target", "rank-t", "--source", "rank-a", "--json", out)
    assert code == 1 and one_error_line(err)
    assert "results[0].alignments.gzip.ci_high" in err and "not numbers" in err
    assert strict_json(out)["results"][0]["alignments"]["gzip"]["ci_high"] is None


def test_a_one_record_source_has_undefined_diversity_said_in_the_notes(capsys, tmp_path, isolated_cache):
    """Issue 17.5's 10 MB single record: its diversity (a mean over pairs within the source) has no pair."""
    register_sources(tmp_path / "data")
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"q": "x " * 200_000, "f": "theorem a : True"}) + "\n", encoding="utf-8")
    assert run(capsys, "ingest", one, "--informal-field", "q", "--formal-field", "f", "--out", tmp_path / "o",
               "--name", "one")[0] == 0
    out = tmp_path / "r.json"
    code, text, err = run(capsys, "rank", "--metric", "gzip", "--target", "rank-t", "--source", "one", "--source",
                          "rank-a", "--json", out)
    assert code == 0, err
    data = strict_json(out)
    row = next(r for r in data["results"] if r["source"] == "one")
    assert row["diversity"] is None and isinstance(row["alignment"], float)
    assert any(n.startswith("gzip/one: diversity undefined") for n in data["notes"])
    assert "diversity undefined" in " ".join(text.split())


def test_mix_with_a_budget_nothing_fits_says_so_and_keeps_the_earlier_mix(capsys, tmp_path, isolated_cache,
                                                                             monkeypatch):
    from tinymodels import char_tokenizer

    from curate import catalog
    from curate.catalog import SourceSpec
    from curate.mix import build as build_module

    for name in ("target", "a", "b", "c"):
        catalog.register(SourceSpec(name=f"mix-{name}", path=str(FIXTURES / "mix" / f"{name}.jsonl"), kind="pair",
                                    formal_lang="lean4", license="test",
                                    fields={"id": "id", "informal": "informal", "formal": "formal"}))
    monkeypatch.setattr(build_module.tokens, "tokenizer_for", lambda name: char_tokenizer())
    monkeypatch.setattr(build_module.tokens, "record_lengths",
                        lambda ds, tok, fp, name: build_module.tokens.lengths([r["informal"] for r in ds], tok))
    out = tmp_path / "m"
    args = ["mix", "--ranking", FIXTURES / "mix" / "ranking.json", "--out", out]
    assert run(capsys, *args, "--budget", "2k")[0] == 0
    before = (out / "data.jsonl").read_bytes()
    code, _, err = run(capsys, *args, "--budget", "10")
    assert code == 1 and one_error_line(err) and "no record fits the budget of 10 tokens" in err
    assert (out / "data.jsonl").read_bytes() == before
