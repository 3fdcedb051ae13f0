"""Lean / Isabelle reader throughput: declarations per second on a synthetic Mathlib-like (or AFP-like) tree.

    python benchmarks/formal_throughput.py --files 200 --decls 250
    python benchmarks/formal_throughput.py --lang isabelle --files 200 --decls 250

Generates the tree in a temp dir (seeded), then times, in one run: reading + decoding the files
(the floor any reader pays), lexing only, and the full `read_paths` (lex + split + records).
Prints the three rates and the ratio of full reading to the I/O floor.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from formal import isabelle
from formal.lean import lex
from formal.readers import read_paths
from formal.source import decode, line_starts

TEMPLATES = [
    '/-- The {i}-th lemma: adding zero to `n` changes nothing. -/\n@[simp]\ntheorem add_zero_{i} (n : ℕ) (h₁ : 0 < n) :\n'
    '    n + 0 = n := by\n  -- a comment with := and |x|\n  simp [Nat.add_zero]\n',
    "lemma abs_{i} (x : ℝ) : |x| ≥ 0 := abs_nonneg x\n",
    "private noncomputable def f_{i} (α : Type*) [Ring α] (a : α) : α :=\n  a * a + (\"str := {i}\".length : α)\n",
    "def fib_{i} : ℕ → ℕ\n  | 0 => 0\n  | 1 => 1\n  | n + 2 => fib_{i} n + fib_{i} (n + 1)\ntermination_by n => n\n",
    "/-- A structure. -/\nstructure Point_{i} where\n  /-- x -/\n  x : ℝ\n  y : ℝ\nderiving Inhabited\n",
    "instance inst_{i} : Inhabited (Point_{i}) := ⟨⟨0, 0⟩⟩\n",
    "/- a block comment /- nested -/ with theorem fake : False -/\ntheorem long_{i} {{a b c : ℤ}} (h : a ∣ b) (h' : b ∣ c) :\n"
    "    a ∣ c := by\n  obtain ⟨k, rfl⟩ := h\n  obtain ⟨m, rfl⟩ := h'\n  exact ⟨k * m, by ring⟩\n",
]


ISA_TEMPLATES = [
    'text \\<open>The {i}-th lemma: adding zero changes nothing.\\<close>\n\nlemma add_zero_{i} [simp]: "n + (0::nat) = n"\n  by simp\n',
    'theorem two_{i}:\n  fixes a b :: nat\n  assumes h1: "a \\<le> b"\n    and h2: "0 < a"\n  shows "0 < b"\n  using h1 h2 by arith\n',
    '(* a comment with "quotes" and (* nesting *) lemma fake: "False" *)\nlemma cart_{i}: \u2039(x::int) * 1 = x\u203a\n'
    'proof -\n  have "x * 1 = x" by simp\n  then show ?thesis\n    by (fact \\<open>x * 1 = x\\<close>)\nqed\n',
    'definition double_{i} :: "nat \\<Rightarrow> nat" where\n  "double_{i} n = 2 * n"\n',
    'fun fact_{i} :: "nat \\<Rightarrow> nat" where\n  "fact_{i} 0 = 1"\n| "fact_{i} (Suc n) = Suc n * fact_{i} n"\n',
    'lemma (in group) inv_{i}:\n  assumes "x \\<in> carrier G"\n  shows "inv (inv x) = x"\n  apply (rule inv_inv)\n'
    '   apply (fact assms)\n  \\<comment> \\<open>done\\<close>\n  done\n',
    'abbreviation (input) sq_{i} :: "nat \\<Rightarrow> nat" where "sq_{i} n \\<equiv> n * n"\n',
]


def make_isabelle_tree(root: Path, files: int, decls: int, seed: int) -> int:
    rng = random.Random(seed)
    total = 0
    for f in range(files):
        sub = root / f"thys/Part{f % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        parts = [f"theory File{f}\n  imports Main \"HOL-Library.Multiset\"\nbegin\n\nsection \\<open>File {f}\\<close>\n\n"
                 "context fixes c :: nat begin\n\n"]
        for i in range(decls):
            parts.append(rng.choice(ISA_TEMPLATES).format(i=i) + "\n")
            total += 1
        parts.append("end\n\nend\n")
        (sub / f"File{f}.thy").write_text("".join(parts), encoding="utf-8")
    return total


def make_tree(root: Path, files: int, decls: int, seed: int) -> int:
    rng = random.Random(seed)
    total = 0
    for f in range(files):
        sub = root / f"Mathlib/Part{f % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        parts = [f"import Mathlib.Part{f % 10}.Base\n\n/-! # File {f}\nSynthetic. -/\n\nopen Nat Real\n\nnamespace F{f}\n\n"
                 "variable {α : Type*}\n\n"]
        for i in range(decls):
            parts.append(rng.choice(TEMPLATES).format(i=i) + "\n")
            total += 1
        parts.append(f"end F{f}\n")
        (sub / f"File{f}.lean").write_text("".join(parts), encoding="utf-8")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--decls", type=int, default=250, help="declarations per file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lang", choices=["lean", "isabelle"], default="lean")
    args = ap.parse_args()
    isa = args.lang == "isabelle"
    with tempfile.TemporaryDirectory(prefix="formal-bench-") as tmp:
        root = Path(tmp)
        expected = (make_isabelle_tree if isa else make_tree)(root, args.files, args.decls, args.seed)
        paths = sorted(root.rglob("*.thy" if isa else "*.lean"))
        mb = sum(p.stat().st_size for p in paths) / 2**20

        t0 = time.perf_counter()
        texts = [decode(p.read_bytes()).text for p in paths]
        t_io = time.perf_counter() - t0

        t0 = time.perf_counter()
        ntok = sum(len(isabelle.lex(t, [], line_starts(t)) if isa else lex(t)) for t in texts)
        t_lex = time.perf_counter() - t0

        t0 = time.perf_counter()
        records, skipped = read_paths([root], "auto", "bench", config=None)
        t_full = time.perf_counter() - t0
    decls = sum(r.meta.get("decl_kind") not in ("module_doc", "text", "txt") for r in records)
    print(f"tree: {len(paths)} files, {mb:.1f} MiB, {expected} declarations generated; {ntok} tokens")
    print(f"read+decode only : {t_io:7.2f} s  ({mb / t_io:8.1f} MiB/s)")
    print(f"lex only         : {t_lex:7.2f} s  ({mb / t_lex:8.1f} MiB/s, {ntok / t_lex:,.0f} tokens/s)")
    print(f"read_paths (full): {t_full:7.2f} s  ({mb / t_full:8.1f} MiB/s, {decls / t_full:,.0f} declarations/s)")
    print(f"declarations found {decls} / generated {expected}; skipped parts {len(skipped)}")
    print(f"full / io-floor time ratio: {t_full / t_io:.1f}x; lex share of full: {t_lex / t_full:.0%}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
