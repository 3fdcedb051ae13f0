"""Decontamination and deduplication: normalisation, windows, short texts, and ProofNet injection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.mix.decontam import ContaminationIndex, window_for
from curate.mix.dedup import EXACT, NEAR, Deduplicator
from curate.mix.text import normalize, tokens

LONG = ("Let G be a finite group and H a subgroup of index two; prove that H is normal in G and that "
        "every left coset of H is also a right coset.")
FORMAL = "theorem idx_two {G : Type*} [Group G] (H : Subgroup G) (h : H.index = 2) : H.Normal :="


def edit_words(text: str, pos: float, op: str) -> str:
    """One word substituted, inserted or deleted at relative position `pos`."""
    words = text.split()
    i = min(int(len(words) * pos), len(words) - 1)
    if op == "sub":
        words[i] = "zzzz"
    elif op == "ins":
        words.insert(i, "zzzz")
    elif op == "del" and len(words) > 1:
        del words[i]
    return " ".join(words)


def test_normalisation_ignores_case_whitespace_punctuation():
    assert tokens("Prove that  $f$ is\tCONTINUOUS, (really)!") == tokens("prove that f is continuous really")
    assert normalize("∀ x : ℝ, x ≤ x") == "∀ x r x ≤ x"  # symbols are tokens; NFKC maps ℝ to R
    assert tokens(None) == [] and tokens("") == []


def test_window_rule():
    assert window_for(100, 13, 8) == 13
    assert window_for(30, 13, 8) == 10  # a third of the side
    assert window_for(12, 13, 8) == 8
    assert window_for(7, 13, 8) == 0  # whole-text match only


@pytest.mark.parametrize("variant", ["verbatim", "case_space", "punct"])
def test_copies_are_caught(variant):
    idx = ContaminationIndex()
    idx.add_record({"id": "t", "informal": LONG, "formal": FORMAL})
    text = {"verbatim": LONG, "case_space": "  " + LONG.upper().replace(" ", " \n "),
            "punct": LONG.replace(";", ",").replace(".", "!")}[variant]
    hit = idx.match({"informal": "Some preamble words. " + text + " And more after.", "formal": None})
    assert hit is not None and hit.target_id == "t"


@pytest.mark.parametrize("op", ["sub", "ins", "del"])
@pytest.mark.parametrize("pos", [0.1, 0.5, 0.9])
def test_small_edits_on_both_sides_are_caught(op, pos):
    idx = ContaminationIndex()
    idx.add_record({"id": "t", "informal": LONG, "formal": FORMAL})
    row = {"informal": edit_words(LONG, pos, op), "formal": edit_words(FORMAL, pos, op)}
    assert idx.match(row) is not None


def test_formal_found_inside_informal_side():
    idx = ContaminationIndex()
    idx.add_record({"id": "t", "informal": LONG, "formal": FORMAL})
    assert idx.match({"informal": "Here is some Lean: " + FORMAL, "formal": None}).target_side == "formal"


def test_clean_text_is_not_flagged():
    idx = ContaminationIndex()
    idx.add_record({"id": "t", "informal": LONG, "formal": FORMAL})
    other = "Let R be a commutative ring and I an ideal of R; prove that the radical of I is an ideal of R."
    assert idx.match({"informal": other, "formal": "theorem rad (R : Type*) [CommRing R] (I : Ideal R) : True :="}) is None


def test_short_sides_match_only_as_whole_texts():
    idx = ContaminationIndex(ngram=13, min_ngram=8)
    idx.add("t", "formal", "theorem t : Irrational √2 :=")  # 6 tokens < min_ngram
    assert idx.match_text("THEOREM t: Irrational √2 :=").window == 0
    assert idx.match_text("we use theorem t : Irrational √2 := here") is None  # containment is not enough
    idx.add("u", "informal", "Let")
    assert idx.match_text("Let x be real and let y be real.") is None


def test_dedup_exact_near_and_distinct():
    d = Deduplicator(threshold=0.8)
    assert d.check("a", LONG) is None
    exact = d.check("b", LONG.upper().replace(";", ","))
    assert exact.reason == EXACT and exact.kept == "a"
    long2 = LONG + " " + LONG.replace("G", "K").replace("two", "three")  # long enough for one edit to stay > 0.8
    assert d.check("c", long2) is None
    near = d.check("d", edit_words(long2, 0.5, "sub"))
    assert near.reason == NEAR and near.kept == "c" and near.similarity >= 0.8
    assert d.check("e", "An unrelated sentence about compact metric spaces and their open covers.") is None


def test_dedup_exact_only():
    d = Deduplicator(near=False)
    assert d.check("a", LONG) is None
    assert d.check("b", edit_words(LONG, 0.5, "sub")) is None
    assert d.check("c", LONG).reason == EXACT


# ----------------------------------------------------------------------------- real ProofNet
@pytest.mark.shared_data
def test_proofnet_copies_injected_into_a_source_are_all_removed(tmp_path, isolated_cache):
    """Every ProofNet test item, copied verbatim, with case/whitespace changed, and with a one-word
    edit on both sides (middle of each side), is removed with the id of the item it copies."""
    from tinymodels import char_tokenizer

    from curate import catalog, load
    from curate.catalog import SourceSpec
    from curate.mix import MixConfig, build_mix

    target = load.load_source("proofnet")
    clean = load.load_source("mathlib3-codex-informal").select(range(300))
    rows = [{"id": f"clean-{r['id']}", "informal": r["informal"], "formal": r["formal"]} for r in clean]
    injected = {}
    for r in target:
        for variant in ("verbatim", "case", "edit"):
            inf, frm = r["informal"], r["formal"]
            if variant == "case":
                inf, frm = "  " + inf.upper().replace(" ", "  \n"), frm.lower().replace(" ", "\t ")
            elif variant == "edit":
                inf, frm = edit_words(inf, 0.5, "sub"), edit_words(frm, 0.5, "sub")
            rid = f"inj-{variant}-{r['id']}"
            injected[rid] = r["id"]
            rows.append({"id": rid, "informal": inf, "formal": frm})
    path = tmp_path / "polluted.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
    catalog.register(SourceSpec(name="polluted", path=str(path), kind="pair", formal_lang="lean3", license="test",
                                fields={"id": "id", "informal": "informal", "formal": "formal"}))
    ranking = {"target": "proofnet", "results": [{"rank": 1, "source": "polluted", "alignment": 1.0}]}
    res = build_mix(MixConfig(ranking=ranking, budget=10**9, out=tmp_path / "mix", tokenizer=char_tokenizer(),
                              near_dedup=False))
    removed = [json.loads(x) for x in (res.out / "removed.jsonl").read_text().splitlines()]
    caught = {r["id"]: r["target_id"] for r in removed if r["reason"] == "contamination"}
    missed = sorted(set(injected) - set(caught))
    assert not missed, f"{len(missed)} injected copies kept, e.g. {missed[:5]}"
    wrong = {rid: (caught[rid], injected[rid]) for rid in injected if caught[rid] != injected[rid]}
    # a copy may first hit a sibling exercise that shares a long stem; nearly all name their own item
    assert len(wrong) <= len(injected) // 50, wrong
    out_ids = {json.loads(x)["id"] for x in (res.out / "data.jsonl").read_text().splitlines()}
    assert not out_ids & set(injected)
    flagged_clean = [r for r in removed if r["id"].startswith("clean-")]
    assert len(flagged_clean) <= 3, flagged_clean  # measured: 0 of these 300 (see benchmarks/decontam_fp.py)
