"""LeanDojo benchmark files without lean-dojo; the tracing adapter on lean-dojo objects built locally."""

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from formal import leandojo
from formal.leandojo import TracingUnavailable, read_benchmark

FIX = Path(__file__).parents[1] / "fixtures" / "formal"


def test_benchmark_file_theorem_and_tactic_granularity():
    text = (FIX / "leandojo_benchmark.json").read_text(encoding="utf-8")
    items, issues = read_benchmark(text)
    assert [i.full_name for i in items] == ["mul_left_cancel_iff'"]
    it = items[0]
    assert it.formal == "G : Type u_1\n⊢ a * b = a * c → b = c" and it.proof == "intro h\nsimpa using h"
    assert it.meta["start"] == [10, 1] and it.meta["commit"].startswith("29dcec07") and it.meta["tactics"] == 2
    assert [(i.line, i.why) for i in issues] == [
        (2, "term_mode_only: no traced tactics (term-mode proof?), so no goal text; skipped")]
    steps, _ = read_benchmark(text, granularity="tactic")
    assert [s.proof for s in steps] == ["intro h", "simpa using h"]
    assert steps[1].formal == "G : Type u_1\nh : a * b = a * c\n⊢ b = c\nsimpa using h"


def test_jsonl_with_bad_lines():
    items, issues = read_benchmark('{"full_name": "a", "traced_tactics": [{"tactic": "simp", "state_before": "⊢ True"}]}\n'
                                   "{not json\n[1]\n")
    assert [i.full_name for i in items] == ["a"]
    assert [i.line for i in issues] == [2, 3]


@pytest.fixture()
def offline(monkeypatch):
    def refuse(*a, **k):
        raise OSError("network disabled in tests")
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_tracing_says_what_is_missing(monkeypatch, offline):
    pytest.importorskip("lean_dojo")
    monkeypatch.setattr(leandojo.shutil, "which", lambda name: None)
    with pytest.raises(TracingUnavailable) as err:
        leandojo.trace_repo("https://github.com/yangky11/lean4-example", "7b6ecb9")
    msg = str(err.value)
    assert "a Lean toolchain" in msg and "network access to github.com" in msg and "\n" not in msg


def test_tracing_without_lean_dojo(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "lean_dojo":
            raise ImportError("no lean_dojo")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake)
    assert leandojo.missing_for_tracing() == ["lean-dojo (pip install 'curate[lean]')"]


def dojo_theorem():
    """A TracedTheorem stand-in made of real lean-dojo objects (no Lean, no network)."""
    lean_dojo = pytest.importorskip("lean_dojo")
    from lean_dojo.data_extraction.traced_data import TracedTheorem

    repo = object.__new__(lean_dojo.LeanGitRepo)  # skip __post_init__, which contacts GitHub
    object.__setattr__(repo, "url", "https://github.com/example/lean4-demo")
    object.__setattr__(repo, "commit", "0123456789abcdef0123456789abcdef01234567")
    theorem = lean_dojo.Theorem(repo, "Demo/Basic.lean", "Demo.add_zero'")
    node = SimpleNamespace(tactic="simp", state_before="n : ℕ\n⊢ n + 0 = n", state_after="no goals",
                           start=lean_dojo.Pos(3, 2), end=lean_dojo.Pos(3, 6))
    tactic = lean_dojo.TracedTactic(ast=node)
    thm = object.__new__(TracedTheorem)
    object.__setattr__(thm, "theorem", theorem)
    object.__setattr__(thm, "ast", SimpleNamespace(start=lean_dojo.Pos(2, 0), end=lean_dojo.Pos(3, 6)))
    object.__setattr__(thm, "get_traced_tactics", lambda atomic_only=False: [tactic])
    return thm


def test_theorem_row_from_lean_dojo_objects():
    row = leandojo.theorem_row(dojo_theorem())
    assert row == {"full_name": "Demo.add_zero'", "file_path": "Demo/Basic.lean",
                   "url": "https://github.com/example/lean4-demo", "commit": "0123456789abcdef0123456789abcdef01234567",
                   "start": [2, 0], "end": [3, 6],
                   "traced_tactics": [{"tactic": "simp", "state_before": "n : ℕ\n⊢ n + 0 = n", "state_after": "no goals"}]}


def test_trace_repo_end_to_end_with_a_fake_toolchain(monkeypatch, offline):
    lean_dojo = pytest.importorskip("lean_dojo")
    thm = dojo_theorem()
    monkeypatch.setattr(leandojo, "missing_for_tracing", lambda host="github.com": [])
    monkeypatch.setattr(lean_dojo, "LeanGitRepo", lambda url, commit: (url, commit))
    monkeypatch.setattr(lean_dojo, "trace", lambda repo: SimpleNamespace(get_traced_theorems=lambda: [thm]))
    from formal.readers import trace_records

    records, skipped = trace_records("https://github.com/example/lean4-demo", "0123456", "demo")
    assert skipped == [] and [r.id for r in records] == ["Demo/Basic.lean:Demo.add_zero'"]
    assert records[0].formal == "n : ℕ\n⊢ n + 0 = n" and records[0].meta["proof"] == "simp"
    assert records[0].formal_lang == "lean4"
