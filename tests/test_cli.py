import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curate import catalog, load
from curate.cli import main

FIX = Path(__file__).parent / "fixtures" / "foundation"
DATA = Path(os.environ["CURATE_DATA_HOME"])


def one_error_line(err: str) -> bool:
    """Exactly one `error:` line, the last thing said, and no traceback (progress lines may come before it)."""
    lines = err.strip().splitlines()
    return (bool(lines) and lines[-1].startswith("error:") and sum(x.startswith("error:") for x in lines) == 1
            and "Traceback" not in err)


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.shared_data
def test_sources_json_lists_every_shared_dataset(capsys, tmp_path):
    code, out, _ = run(capsys, "sources", "--json", str(tmp_path / "s.json"))
    assert code == 0
    rows = {r["name"]: r for r in json.loads((tmp_path / "s.json").read_text())["sources"]}
    by_path = {r["location"]: r for r in rows.values() if r["available"]}
    for folder in (p for p in DATA.iterdir() if p.is_dir()):
        assert str(folder) in by_path or str(DATA / folder.name) in by_path, folder.name
    for name, row in rows.items():
        spec = catalog.get(name)
        if not spec.is_hub:
            assert row["available"] and row["records"] > 0, name
    assert rows["proofnet"]["records"] == 186 and rows["proofnet-valid"]["records"] == 185
    assert rows["gsm8k"]["records"] == 8792


@pytest.mark.parametrize(
    "args,message",
    [(["rank", "--target", "proofnett"], "unknown source 'proofnett'; did you mean proofnet"),
     (["rank", "--source", "gsm9"], "did you mean gsm8k"),
     (["rank", "--metric", "bleu"], "unknown metric 'bleu'"),
     (["rank", "--source", "gsm8k", "--device", "tpu"], "task2vec device 'tpu' is not a torch device"),
     (["rank", "--source", "gsm8k", "--metric", "embed", "--encoder", "TMP"], "has no config.json"),
     (["rank", "--source", "gsm8k", "--metric", "embed", "--encoder", "no/such-encoder"],
      "cannot load encoder 'no/such-encoder'"),
     (["ingest", str(FIX / "malformed.jsonl"), "--informal-field", "q", "--formal-field", "f", "--out", "OUT",
       "--name", "m"], "malformed.jsonl:2: malformed JSON"),
     (["ingest", str(FIX / "missing_field.jsonl"), "--informal-field", "q", "--formal-field", "f", "--out", "OUT",
       "--name", "m"], "mapped field 'q' missing"),
     (["ingest", str(FIX / "bad_utf8.jsonl"), "--informal-field", "q", "--formal-field", "f", "--out", "OUT",
       "--name", "m"], "not valid UTF-8"),
     (["ingest", str(FIX / "empty.jsonl"), "--informal-field", "q", "--formal-field", "f", "--out", "OUT",
       "--name", "m"], "no records"),
     (["ingest", str(FIX / "pairs.jsonl"), "--informal-field", "q", "--formal-field", "f", "--out", "OUT",
       "--name", "gsm8k"], "built-in source name")],
)
def test_bad_input_gives_one_line_and_exit_1(capsys, tmp_path, isolated_cache, args, message):
    args = [a.replace("OUT", str(tmp_path / "out")).replace("TMP", str(tmp_path)) for a in args]
    code, _, err = run(capsys, *args)
    assert code == 1
    assert message in " ".join(err.split())
    assert one_error_line(err)


def test_ingest_pairs_registers_a_loadable_source(capsys, tmp_path, isolated_cache):
    out = tmp_path / "mine"
    code, text, _ = run(capsys, "ingest", str(FIX / "pairs.jsonl"), "--informal-field", "q", "--formal-field", "f",
                        "--id-field", "n", "--formal-lang", "lean4", "--out", str(out), "--name", "mine")
    assert code == 0 and "2 records" in text
    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / "records.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds["id"] == ["a", "b"]
    loaded = load.load_with_report("mine")[0]
    assert loaded["kind"] == ["pair", "pair"] and loaded[1]["formal_lang"] == "lean4"
    code, text, _ = run(capsys, "sources")
    assert "mine" in text


def test_failed_ingest_keeps_what_was_written(capsys, tmp_path, isolated_cache):
    out = tmp_path / "mine"
    assert run(capsys, "ingest", str(FIX / "pairs.jsonl"), "--informal-field", "q", "--formal-field", "f",
               "--out", str(out), "--name", "mine")[0] == 0
    before = (out / "records.jsonl").read_bytes()
    code, _, _ = run(capsys, "ingest", str(FIX / "malformed.jsonl"), "--informal-field", "q", "--formal-field", "f",
                     "--out", str(out), "--name", "mine")
    assert code == 1 and (out / "records.jsonl").read_bytes() == before


def test_unwritable_output_folder(capsys, tmp_path, isolated_cache):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder should be: unwritable even for root
    code, _, err = run(capsys, "ingest", str(FIX / "pairs.jsonl"), "--informal-field", "q", "--formal-field", "f",
                       "--out", str(blocker / "out"), "--name", "mine")
    assert code == 1 and "cannot write to" in err
    code, _, err = run(capsys, "sources", "--json", str(blocker / "s.json"))
    assert code == 1 and "cannot write" in err


def test_console_script_exits_nonzero_without_traceback(tmp_path):
    env = {**os.environ, "CURATE_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "curate.cli", "rank", "--target", "nope"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "unknown source 'nope'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "curate.cli", "rank", "--bogus-flag"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 2
