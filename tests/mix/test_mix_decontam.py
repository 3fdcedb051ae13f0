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
    long2 = " ".join(LONG.replace("G", g).replace("two", n) for g, n in zip("GKLMNP", ("two", "three", "four", "five",
                                                                                   "six", "seven")))
    # ~170 words: one edit leaves Jaccard ~0.94, found under any shingle hash (not a ~0.84 coin toss)
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


# ----------------------------------------------------------------------------- formal-aware matching
# Made-up items in the style of ProofNet (Lean 4 and Lean 3) and miniF2F (Lean 4 and Isabelle).
FORMAL_ITEMS = [
    {"id": "pn_1", "formal_lang": "lean4", "informal": "Prove that every group of order p squared is abelian.",
     "formal": "theorem exercise_4_1 {G : Type*} [Group G] [Fintype G] (p : ℕ) (hp : Nat.Prime p)\n"
               "  (hG : Fintype.card G = p ^ 2) : ∀ a b : G, a * b = b * a :="},
    {"id": "pn_2", "formal_lang": "lean4", "informal": "Show that f is constant.",
     "formal": "theorem exercise_5_2 (f : ℝ → ℝ) (hf : ∀ x y, |f x - f y| ≤ (x - y) ^ 2) :\n"
               "  ∃ c, ∀ x, f x = c := by\n  sorry"},
    {"id": "pn_3", "formal_lang": "lean3", "informal": "The sequence converges.",
     "formal": "theorem exercise_3_3 (s : ℕ → ℝ) (h₀ : s 0 = real.sqrt 2)\n"
               "  (h : ∀ n, s (n + 1) = real.sqrt (2 + real.sqrt (s n))) (hb : ∀ n, s n < 2) :\n"
               "  ∃ x, tendsto s at_top (𝓝 x) :="},
    {"id": "mf_1", "formal_lang": "lean4", "informal": "What is x?",
     "formal": "theorem mathd_algebra_10 (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) (h₂ : 0 < y) :\n"
               "  x = 6 := by\n"},
    {"id": "mf_2", "formal_lang": "lean4", "informal": "Find n.",
     "formal": "theorem mathd_numbertheory_7 (n : ℕ) (h₀ : n % 5 = 3) (h₁ : n < 20) (h₂ : 10 < n) :\n"
               "  n = 13 ∨ n = 18 := by\n"},
    {"id": "mf_3", "formal_lang": "isabelle", "informal": "Show the inequality.",
     "formal": 'theorem algebra_ineq_1:\n  fixes a b :: real\n  assumes h0: "0 < a \\<and> 0 < b"\n'
               '    and h1: "a + b = 1"\n  shows "a * b \\<le> 1 / 4"'},
]


def _formal_index(**kw):
    idx = ContaminationIndex(13, 8, **kw)
    for r in FORMAL_ITEMS:
        idx.add_record(r)
    return idx


@pytest.mark.parametrize("kind", ["rename_theorem", "rename_binders", "ascii", "lean_version", "reorder_hypotheses"])
def test_planted_formal_copies_are_caught_for_each_kind(kind):
    """Recall 100% per planted kind (a)-(e) on formal-only copies (no informal side to match on)."""
    from formal import variants

    idx = _formal_index()
    planted = 0
    for r in FORMAL_ITEMS:
        v = variants.variant(r["formal"], kind)
        if v is None:
            continue
        planted += 1
        hit = idx.match({"id": "x", "source": "polluted", "informal": None, "formal": v,
                         "formal_lang": r["formal_lang"]})
        assert hit is not None and hit.target_id == r["id"] and hit.kind in ("canonical", "exact"), (kind, v)
    assert planted >= 3  # every kind applies to several fixture items


@pytest.mark.parametrize("kind", ["rename_binders", "reorder_hypotheses"])
def test_ngram_alone_misses_renamed_formal_copies(kind):
    from formal import variants

    idx = _formal_index(formal=False)
    missed = sum(idx.match({"informal": None, "formal": variants.variant(r["formal"], kind),
                            "formal_lang": r["formal_lang"]}) is None
                 for r in FORMAL_ITEMS if variants.variant(r["formal"], kind))
    assert missed >= 1  # what the canonical match adds


def test_formal_match_in_another_language_field_and_near_edit():
    idx = _formal_index()
    lean3_copy = FORMAL_ITEMS[0]["formal"].replace("Nat.Prime", "nat.prime").replace("Fintype.card", "fintype.card")
    lean3_copy = lean3_copy.replace("hp", "prime_p").replace("hG", "card_G")  # not an equal text any more
    hit = idx.match({"informal": "unrelated words here", "formal": lean3_copy, "formal_lang": "lean3"})
    assert hit.kind == "canonical" and hit.target_id == "pn_1"
    from formal import variants

    edited = FORMAL_ITEMS[1]["formal"].replace("≤", "<")  # a real edit: not the same statement any more
    edited = variants.rename_binders(edited)  # and renamed, so that no n-gram is shared
    hit = idx.match({"informal": None, "formal": edited, "formal_lang": "lean4"})
    assert hit is not None and hit.kind == "near" and hit.target_id == "pn_2" and hit.distance == 1
    assert _formal_index(near=0.0).match({"informal": None, "formal": edited, "formal_lang": "lean4"}) is None


def test_formal_match_ignores_python_and_different_statements():
    from formal import variants

    idx = _formal_index()
    renamed = variants.rename_binders(FORMAL_ITEMS[3]["formal"])
    assert idx.match({"informal": None, "formal": renamed, "formal_lang": "lean4"}).kind == "canonical"
    assert idx.match({"informal": None, "formal": renamed, "formal_lang": "python"}) is None  # not a formal language
    other = "theorem t (x y : ℝ) (h₀ : x + y = 12) (h₁ : x - y = 2) (h₂ : 0 < y) : x = 7 := by"
    kinds = {h.kind for h in idx.match_all({"informal": None, "formal": other, "formal_lang": "lean4"})}
    assert not kinds & {"canonical", "near"}  # other numbers: another problem (n-grams may still share a window)


def test_exact_side_match_and_match_kinds_in_json():
    idx = _formal_index()
    hit = idx.match({"informal": "  SHOW THAT F IS CONSTANT!  ", "formal": None})
    assert hit.kind == "exact" and hit.target_id == "pn_2"
    j = hit.to_json()
    assert j["kind"] == "exact" and set(j) >= {"target_id", "target_side", "side", "window", "ngram", "distance"}


def test_known_copies_by_id():
    idx = ContaminationIndex()
    idx.add_known("bench", "putnam_2001_a5", "exercise_2001_a5")
    hit = idx.match({"id": "putnam_2001_a5", "source": "bench", "informal": "anything", "formal": None})
    assert hit.kind == "known" and hit.target_id == "exercise_2001_a5"
    assert idx.match({"id": "putnam_2001_a5", "source": "other", "informal": "anything", "formal": None}) is None


def test_match_all_lists_every_item_once_with_its_strongest_kind():
    idx = _formal_index()
    row = {"informal": "Show that f is constant. Also: What is x?", "formal_lang": "lean4",
           "formal": FORMAL_ITEMS[3]["formal"].replace("mathd_algebra_10", "copy")}
    hits = idx.match_all(row)
    assert {h.target_id for h in hits} >= {"mf_1"}
    assert [h.kind for h in hits if h.target_id == "mf_1"] == ["canonical"]
    assert len({h.target_id for h in hits}) == len(hits)


# ----------------------------------------------------------------------------- real targets
@pytest.mark.shared_data
@pytest.mark.parametrize("target", ["proofnet", "minif2f"])
@pytest.mark.parametrize("kind", ["rename_theorem", "rename_binders", "ascii", "lean_version", "reorder_hypotheses"])
def test_every_planted_kind_of_every_test_item_is_caught(target, kind):
    """ProofNet and miniF2F test items planted formal-only, one kind at a time: recall 100% (the benchmark
    benchmarks/decontam_fp.py prints the same counts beside the n-gram-only index)."""
    from curate import load
    from formal import variants

    items = load.load_source(target)
    idx = ContaminationIndex(13, 8)
    idx.add_dataset(items)
    n, missed = 0, []
    for r in items:
        v = variants.variant(r["formal"], kind)
        if v is None:
            continue
        n += 1
        if idx.match({"id": "p", "source": "planted", "informal": None, "formal": v,
                      "formal_lang": r["formal_lang"]}) is None:
            missed.append(r["id"])
    assert n >= 40 and not missed, (n, missed[:5])


@pytest.mark.shared_data
def test_mix_removes_proofnets_putnam_problems_from_putnambench(tmp_path, isolated_cache):
    """Item-level overlaps: the 6 PutnamBench problems that are ProofNet test items leave a proofnet mix,
    all 6 (the n-gram match alone finds 5: exercise_2014_a5's informal text is cut to "Let")."""
    from tinymodels import char_tokenizer

    from curate.mix import MixConfig, build_mix

    ranking = {"target": "proofnet", "results": [{"rank": 1, "source": "putnambench-lean4", "alignment": 1.0}]}
    res = build_mix(MixConfig(ranking=ranking, budget=10**9, out=tmp_path / "mix", tokenizer=char_tokenizer(),
                              near_dedup=False))
    removed = [json.loads(x) for x in (res.out / "removed.jsonl").read_text().splitlines()]
    known = {r["id"]: r["target_id"] for r in removed if r["reason"] == "contamination" and r["kind"] == "known"}
    assert known == {f"putnam_{p}": f"exercise_{p}" for p in
                     ("1998_b6", "1999_b4", "2001_a5", "2014_a5", "2018_a5", "2018_b4")}
    assert any("held under other ids" in n for n in res.manifest["notes"])
