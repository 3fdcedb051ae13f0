"""Lean reader throughput: declarations per second on a synthetic Mathlib-like tree.

    python benchmarks/formal_throughput.py --files 200 --decls 250

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

from formal.lean import lex
from formal.readers import read_paths
from formal.source import decode

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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="formal-bench-") as tmp:
        root = Path(tmp)
        expected = make_tree(root, args.files, args.decls, args.seed)
        paths = sorted(root.rglob("*.lean"))
        mb = sum(p.stat().st_size for p in paths) / 2**20

        t0 = time.perf_counter()
        texts = [decode(p.read_bytes()).text for p in paths]
        t_io = time.perf_counter() - t0

        t0 = time.perf_counter()
        ntok = sum(len(lex(t)) for t in texts)
        t_lex = time.perf_counter() - t0

        t0 = time.perf_counter()
        records, skipped = read_paths([root], "auto", "bench", config=None)
        t_full = time.perf_counter() - t0
    decls = sum(r.meta.get("decl_kind") != "module_doc" for r in records)
    print(f"tree: {len(paths)} files, {mb:.1f} MiB, {expected} declarations generated; {ntok} tokens")
    print(f"read+decode only : {t_io:7.2f} s  ({mb / t_io:8.1f} MiB/s)")
    print(f"lex only         : {t_lex:7.2f} s  ({mb / t_lex:8.1f} MiB/s, {ntok / t_lex:,.0f} tokens/s)")
    print(f"read_paths (full): {t_full:7.2f} s  ({mb / t_full:8.1f} MiB/s, {decls / t_full:,.0f} declarations/s)")
    print(f"declarations found {decls} / generated {expected}; skipped parts {len(skipped)}")
    print(f"full / io-floor time ratio: {t_full / t_io:.1f}x; lex share of full: {t_lex / t_full:.0%}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
