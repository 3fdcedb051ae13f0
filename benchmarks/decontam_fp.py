"""Decontamination against a target's test items: false positives on clean sources, recall on disguised copies.

    CURATE_DATA_HOME=../shared/data python benchmarks/decontam_fp.py [--target proofnet minif2f] [--near 0.1]

For each target, two indexes are built over its items: `ngram` (today's n-gram windows and exact sides only,
`formal=False`) and `formal` (the same plus the canonical/near match on formal statements and the catalog's
item-level overlaps). Printed per index:
- flags on every clean candidate source (`rank`'s default candidates for the target, so no source holding
  its items). A flag is real contamination when the flagged record is one of the target's problems held under
  another item set (`catalog.ITEM_OVERLAPS`); every other flag counts as a false positive (examples printed to
  judge). Flags whose informal text shares over half its words with the matched item are counted apart as
  "the same problem text" (the MATH test split holds miniF2F's MATH problems, for instance): a heuristic.
  The target benchmark's own valid split is reported apart (sibling exercises, not test items);
- recall on copies of every target item planted into a source as formal-only records (no informal side, so
  the n-gram match on the informal side cannot help), one kind at a time (`formal.variants`): (a) theorem
  renamed, (b) every binder and hypothesis renamed, (c) unicode <-> ASCII, (d) Lean 3 <-> Lean 4 spelling,
  (e) hypotheses reordered. Items where a kind does not apply (no hypotheses to reorder, say) are not counted.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from curate import catalog, load
from curate.mix.decontam import ContaminationIndex
from curate.mix.text import tokens
from curate.rank import candidate_sources
from formal import variants

SPLIT_SIBLINGS = {"proofnet": ("proofnet-valid", "proofnet-lean3-valid"),
                  "proofnet-lean3": ("proofnet-valid", "proofnet-lean3-valid"),
                  "minif2f": ("minif2f-valid", "minif2f-isabelle-valid"),
                  "minif2f-isabelle-test": ("minif2f-valid", "minif2f-isabelle-valid")}
"""The target benchmark's valid split (in any language): sibling exercises, reported apart from clean sources."""
LABELS = dict(zip(variants.KINDS, "abcde"))
KIND_ORDER = ("known", "exact", "canonical", "near", "ngram")


def real_copies(target: str) -> set[tuple[str, str]]:
    """(source, record id) of clean-source records that are the target's problems under other ids."""
    out = set()
    for name in catalog.all_specs():
        for _, s_item in catalog.item_overlaps(target, name):
            spec = catalog.get(name)
            if spec.is_hub or not load.available(spec):
                continue
            out |= {(name, i) for i in load.load_source(name)["id"] if catalog.id_matches(i, s_item)}
    return out


def same_text(row: dict, item: dict) -> bool:
    """Heuristic for judging a flag: the record's problem text (its first line, or its first 600 characters,
    not a solution) shares over half its words with the item's (Jaccard > 0.5): the same problem, reworded at
    most."""
    text = row.get("informal") or ""
    first = text.split("\n", 1)[0]  # MATH and GSM8K records are the problem, a newline, then the solution
    a = set(tokens(first[:600] if len(tokens(first)) >= 5 else text[:600]))
    b = set(tokens(item.get("informal") or ""))
    return bool(a and b) and len(a & b) / len(a | b) > 0.5


def run(target: str, near: float, examples: int) -> None:
    items = load.load_source(target)
    chosen, _ = candidate_sources(target)
    siblings = [s for s in SPLIT_SIBLINGS.get(target, ()) if s in chosen]
    clean = [s for s in chosen if s not in siblings]
    real = real_copies(target)
    by_id = {r["id"]: r for r in items}
    print(f"\n######## target {target} ({len(items)} items); clean sources: {len(clean)}")
    for label, formal in (("ngram", False), ("formal", True)):
        idx = ContaminationIndex(13, 8, formal=formal, near=near)
        t0 = time.perf_counter()
        idx.add_dataset(items, overlaps=formal)
        t_index = time.perf_counter() - t0
        total = flagged = fp = same = 0
        kinds: Counter = Counter()
        t0 = time.perf_counter()
        print(f"\n== index {label} (built in {t_index:.1f} s){'; ' + '; '.join(idx.notes) if idx.notes else ''}")
        for name in clean + siblings:
            ds = load.load_source(name)
            hits = [(r["id"], idx.match(r)) for r in ds]
            hits = [(i, h) for i, h in hits if h is not None]
            rows = {r["id"]: r for r in ds} if hits else {}
            likely = [(i, h) for i, h in hits if (name, i) not in real and same_text(rows[i], by_id[h.target_id])]
            false = [(i, h) for i, h in hits if (name, i) not in real and (i, h) not in likely]
            if name not in siblings:
                total += len(ds)
                flagged += len(hits)
                fp += len(false)
                same += len(likely)
                kinds.update(h.kind for _, h in false)
            tag = " (the target benchmark's valid split: sibling exercises, apart)" if name in siblings else ""
            print(f"{name:26s} {len(hits):5d} / {len(ds):5d} flagged, {len(hits) - len(false) - len(likely)} listed "
                  f"copies, {len(likely)} with the same problem text{tag}")
            shown = sorted(false, key=lambda x: KIND_ORDER.index(x[1].kind))[:examples]
            for rid, h in shown:
                print(f"    {rid} ~ {h.target_id} [{h.kind} {h.side}/{h.target_side}, w={h.window} d={h.distance}]: "
                      f"{h.ngram[:100]!r}")
        dt = time.perf_counter() - t0
        print(f"{'all clean sources':26s} {flagged:5d} / {total:5d} flagged; {same} with the same problem text; "
              f"false positives {fp} "
              f"({100 * fp / total:.3f}%) by kind {dict(kinds)}; {dt:.1f} s ({total / dt:.0f} records/s)")
        for kind in variants.KINDS:
            n = caught = other = 0
            missed: list[str] = []
            by: Counter = Counter()
            for r in items:
                v = variants.variant(r["formal"], kind)
                if v is None:
                    continue
                n += 1
                row = {"id": f"planted-{r['id']}", "source": "planted", "kind": "formal", "informal": None,
                       "formal": v, "formal_lang": r["formal_lang"]}
                hit = idx.match(row)
                if hit is None:
                    missed.append(r["id"])
                    continue
                caught += 1
                other += hit.target_id != r["id"]
                by[hit.kind] += 1
            shown = f" (missed {missed[:4]})" if missed else ""
            print(f"recall ({LABELS[kind]}) {kind:20s} {caught:4d} / {n:4d} formal-only planted copies, by "
                  f"{dict(by)}; {other} named another item with the same statement{shown}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", nargs="+", default=["proofnet", "minif2f"])
    ap.add_argument("--near", type=float, default=0.1)
    ap.add_argument("--examples", type=int, default=4)
    args = ap.parse_args()
    for t in args.target:
        run(t, args.near, args.examples)


if __name__ == "__main__":
    main()
