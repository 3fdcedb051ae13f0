"""Decontamination against ProofNet test: flag rate on other sources, and recall on copies.

    CURATE_DATA_HOME=../shared/data python benchmarks/decontam_fp.py [--ngram 13] [--min-ngram 5 8 10]

For each setting prints, per clean candidate source, how many records get flagged (a flag on a
source that holds none of ProofNet's test items is a false positive unless the source really
contains the same problem; the first examples are printed to judge), then recall on
(a) synthetic copies of all 186 test items with a one-word edit on both sides at several positions,
(b) real independent copies: proofnet-lean3 is the same test split with Lean 3 formal statements; proofnet-lean4
(another Lean 4 port) holds both splits.
"""

from __future__ import annotations

import argparse
import time

from curate import load
from curate.mix.decontam import ContaminationIndex

CLEAN = ["gsm8k", "math", "forml4", "minif2f-lean4", "minif2f-isabelle", "putnambench-lean4", "putnambench-isabelle",
         "mathlib3-codex-informal", "dsp-isabelle-proofs", "humaneval", "gpteacher-codegen", "gpteacher-roleplay",
         "self-instruct-human", "proofnet-valid"]


def edit_words(text: str, pos: float, op: str) -> str:
    words = text.split()
    i = min(int(len(words) * pos), len(words) - 1)
    if op == "sub":
        words[i] = "zzzz"
    elif op == "ins":
        words.insert(i, "zzzz")
    elif len(words) > 1:
        del words[i]
    return " ".join(words)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--min-ngram", type=int, nargs="+", default=[5, 8, 10])
    ap.add_argument("--examples", type=int, default=3)
    args = ap.parse_args()
    target = load.load_source("proofnet")
    sources = {name: load.load_source(name) for name in CLEAN}
    lean3 = load.load_source("proofnet-lean3")
    lean4 = load.load_source("proofnet-lean4")
    for m in args.min_ngram:
        idx = ContaminationIndex(args.ngram, m)
        idx.add_dataset(target)
        print(f"\n== ngram {args.ngram}, min-ngram {m}")
        total = flagged_total = 0
        t0 = time.perf_counter()
        for name, ds in sources.items():
            hits = [(row["id"], idx.match(row)) for row in ds]
            hits = [(i, h) for i, h in hits if h is not None]
            total += len(ds)
            flagged_total += len(hits)
            print(f"{name:26s} {len(hits):5d} / {len(ds):5d} flagged ({100 * len(hits) / len(ds):.2f}%)")
            for rid, h in hits[: args.examples]:
                print(f"    {rid} ~ {h.target_id} [{h.side}/{h.target_side}, w={h.window}]: {h.ngram[:90]!r}")
        dt = time.perf_counter() - t0
        print(f"{'all clean sources':26s} {flagged_total:5d} / {total:5d} flagged ({100 * flagged_total / total:.2f}%)"
              f" in {dt:.1f} s ({total / dt:.0f} records/s)")
        for op in ("sub", "ins", "del"):
            miss = []
            for pos in (0.1, 0.3, 0.5, 0.7, 0.9):
                for row in target:
                    edited = {"informal": edit_words(row["informal"], pos, op), "formal": edit_words(row["formal"], pos, op)}
                    if idx.match(edited) is None:
                        miss.append(f"{row['id']}@{pos}")
            n = 5 * len(target)
            print(f"recall, one-word {op} on both sides: {n - len(miss)}/{n}" + (f" (missed {miss[:6]})" if miss else ""))
        caught = sum(idx.match(row) is not None for row in lean3)
        print(f"recall, proofnet-lean3 (the same 186 test items, Lean 3 formal): {caught}/{len(lean3)}")
        caught = sum(idx.match(row) is not None for row in lean4)
        print(f"flagged in proofnet-lean4 (another Lean 4 port, test + valid): {caught}/{len(lean4)}")


if __name__ == "__main__":
    main()
