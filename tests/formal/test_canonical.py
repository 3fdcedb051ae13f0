"""Canonical forms of formal statements: what they see through, and what they keep apart."""

from __future__ import annotations

import pytest

from formal import canonical as C
from formal import variants as V

LEAN4 = """/-- If f is differentiable with f 0 = 0 then ... -/
theorem exercise_2018_a5 (f : ℝ → ℝ) (hf : ContDiff ℝ ⊤ f)
  (hf0 : f 0 = 0) (hf1 : f 1 = 1) (hf2 : ∀ x, f x ≥ 0) :
  ∃ (n : ℕ) (x : ℝ), iteratedDeriv n f x = 0 := by
  sorry"""

LEAN3 = """theorem exercise_1_13a {f : ℂ → ℂ} (Ω : set ℂ) (a b : Ω) (h : is_open Ω)
  (hf : differentiable_on ℂ f Ω) (hc : ∃ (c : ℝ), ∀ z ∈ Ω, (f z).re = c) :
  f a = f b :=
begin
  sorry
end"""

ISABELLE = r"""theorem aime_1983_p2:
  fixes x p ::real and f :: "real \<Rightarrow> real"
  assumes h0: "0 < p \<and> p < 15"
      and h1: "p \<le> x \<and> x \<le> 15"
      and h2: "f x = abs (x - p) + abs (x - 15) + abs (x - p - 15)"
    shows "15 \<le> f x"
proof -
  show ?thesis by simp
qed"""


def canon(text, lang=None):
    return C.canonical(text, lang)


# ----------------------------------------------------------------------------- what it sees through
@pytest.mark.parametrize("a,b,lang", [
    # (a) declaration name
    (LEAN4, LEAN4.replace("exercise_2018_a5", "copied"), None),
    (ISABELLE, ISABELLE.replace("aime_1983_p2", "my_lemma"), "isabelle"),
    # (b) variables, hypotheses, bound variables
    ("theorem t (f : ℝ → ℝ) (hf : ∀ x, f x ≥ 0) : ∃ y, f y = 0 :=",
     "theorem u (g : ℝ → ℝ) (pos : ∀ t, g t ≥ 0) : ∃ z, g z = 0 :=", None),
    ("theorem t (s : Set ℕ) : s = {n | n > 0 ∧ ∀ m ∈ s, m ∣ n} :=",
     "theorem t (A : Set ℕ) : A = {k | k > 0 ∧ ∀ j ∈ A, j ∣ k} :=", None),
    ("theorem t (n : ℕ) : ∑ i in Finset.range n, i = n * (n - 1) / 2 :=",
     "theorem t (m : ℕ) : ∑ k in Finset.range m, k = m * (m - 1) / 2 :=", None),
    (ISABELLE, ISABELLE.replace("h0", "pos").replace("h1", "rng").replace("f x", "g x").replace("f ::", "g ::"),
     "isabelle"),
    # (c) notation
    ("theorem t (x : ℝ) (h : 0 ≤ x) : ¬ (x < 0) → x ≠ -1 ∧ ∀ y : ℕ, y ≥ 0 :=",
     "theorem t (x : Real) (h : 0 <= x) : Not (x < 0) -> x != -1 /\\ forall y : Nat, y >= 0 :=", None),
    ("theorem t : ∀ x : ℕ, x + 0 = x :=", "theorem t : forall x : nat, x + 0 = x :=", None),
    (r'lemma t: fixes x :: real shows "\<forall>y. x \<le> y \<longrightarrow> \<not> (y < x)"',
     'lemma t: fixes x :: real shows "ALL y. x <= y --> ~ (y < x)"', "isabelle"),
    # (d) Lean 3 vs Lean 4 spelling
    ("theorem t (p : ℕ) (hp : nat.prime p) (f : ℕ → ℕ) (h : f = λ n, n + p) : is_open (set.univ : set ℝ) :=",
     "theorem t (p : ℕ) (hp : Nat.Prime p) (f : ℕ → ℕ) (h : f = fun n => n + p) : IsOpen (Set.univ : Set ℝ) := by",
     None),
    # (e) hypotheses in another order
    ("theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : a < b) (h₂ : b < 1) : a * b < 1 :=",
     "theorem t (a b : ℝ) (h₂ : b < 1) (h₀ : 0 < a) (h₁ : a < b) : a * b < 1 :=", None),
    (ISABELLE, ISABELLE.replace('h0: "0 < p \\<and> p < 15"\n      and h1: "p \\<le> x \\<and> x \\<le> 15"',
                                'h1: "p \\<le> x \\<and> x \\<le> 15"\n      and h0: "0 < p \\<and> p < 15"'),
     "isabelle"),
    # comments, whitespace, proofs
    (LEAN3, LEAN3.replace("begin\n  sorry\nend", "by simp").replace("\n  ", "  -- a comment\n   "), "lean3"),
    # binder brackets, coercions
    ("theorem t {x : ℝ} (h : ↑(2 : ℕ) = x) : x = 2 :=", "theorem t (x : ℝ) (h : (2 : ℕ) = x) : x = 2 :=", None),
])
def test_copies_have_the_same_canonical_form(a, b, lang):
    assert canon(a, lang) and canon(a, lang) == canon(b, lang)


@pytest.mark.parametrize("a,b", [
    ("theorem t (x : ℝ) : x ^ 2 ≥ 0 :=", "theorem t (x : ℝ) : x ^ 3 ≥ 0 :="),  # a different statement
    ("theorem t (a b : ℝ) (h : a < b) : a ≤ b :=", "theorem t (a b : ℝ) (h : b < a) : a ≤ b :="),  # swapped roles
    ("theorem t (f : ℕ → ℕ) : ∀ x, ∃ y, f x = y :=", "theorem t (f : ℕ → ℕ) : ∃ y, ∀ x, f x = y :="),  # quantifiers
    ("theorem t (x y : ℝ) : x - y = 0 :=", "theorem t (x y : ℝ) : y - x = 0 :="),  # variable order matters
])
def test_different_statements_stay_apart(a, b):
    assert canon(a) != canon(b)


def test_variables_are_numbered_by_declaration_and_hypotheses_dropped():
    assert canon("theorem t (a b : ℝ) (h : a < b) : a ≤ b :=") == "( v1 v2 : ℝ ) ( _ : v1 < v2 ) : v1 ≤ v2"
    assert canon(ISABELLE, "isabelle").startswith("v1 v2 :: ℝ ; v3 :: ℝ → ℝ ;")


def test_bound_variables_are_named_by_depth_so_scopes_do_not_leak():
    # the inner x of the hypothesis and the x of the conclusion are different variables with one canonical name
    a = canon("theorem t (f : ℝ → ℝ) (h : ∀ x, f x = 0) : ∀ x, f x = 0 :=")
    b = canon("theorem t (f : ℝ → ℝ) (h : ∀ u, f u = 0) : ∀ w, f w = 0 :=")
    assert a == b and a.count("x1") == 4


def test_proofs_and_docstrings_are_cut():
    assert "sorry" not in canon(LEAN4) and "differentiable" not in canon(LEAN4)
    assert "simp" not in canon(ISABELLE, "isabelle")


def test_several_declarations_and_solution_names():
    text = ("abbrev putnam_x_solution : ℕ := 3\n"
            "theorem putnam_x (n : ℕ) (h : n = putnam_x_solution) : n > 2 := by sorry")
    stmts = C.statements(text)
    assert len(stmts) == 1  # the abbrev's `: ℕ` is too short to be a statement
    assert "δ" in stmts[0]  # a name declared in the same text
    assert C.statements(text.replace("putnam_x", "other")) == stmts
    alone = "theorem putnam_x (n : ℕ) (h : n = putnam_x_solution) : n > 2 :="  # PutnamBench: answer in the header
    assert "δsolution" in C.statements(alone)[0]
    assert C.statements(alone.replace("putnam_x", "other")) == C.statements(alone)


def test_no_text_no_statements():
    assert C.statements(None) == [] and C.statements("   ") == []
    assert C.lang_of("python") is None and C.lang_of("lean3") == "lean4" and C.lang_of("isabelle") == "isabelle"


def test_detect_lang():
    assert C.detect_lang(ISABELLE) == "isabelle" and C.detect_lang(LEAN4) == "lean4"


def test_edit_distance_is_bounded():
    a = tuple("abcdefgh")
    assert C.edit_distance(a, a, 2) == 0
    assert C.edit_distance(a, tuple("abcXefgh"), 2) == 1
    assert C.edit_distance(a, tuple("abdefgh"), 2) == 1
    assert C.edit_distance(a, tuple("XXXXefgh"), 2) == 3  # over the limit: limit + 1
    assert C.edit_distance(a, tuple("ab"), 2) == 3


def test_canonical_index_exact_near_and_short():
    idx = C.CanonicalIndex(near=0.1, min_tokens=12)
    long = C.statements("theorem t (a b c : ℝ) (h₀ : 0 < a ∧ 0 < b ∧ 0 < c) (h₁ : a + b + c = 1) : "
                        "a * b + b * c + c * a ≤ 1 / 3 :=")[0]
    short = C.statements("theorem s : (2 : ℝ) + 2 = 4 :=")[0]
    idx.add("long", long)
    idx.add("short", short)
    assert idx.match(long).kind == "canonical"
    edited = C.statements("theorem t (a b c : ℝ) (h₀ : 0 < a ∧ 0 < b ∧ 0 < c) (h₁ : a + b + c = 1) : "
                          "a * b + b * c + c * a < 1 / 3 :=")[0]
    hit = idx.match(edited)
    assert hit.kind == "near" and hit.item_id == "long" and hit.distance == 1
    assert idx.match(C.statements("theorem s : (2 : ℝ) + 2 = 5 :=")[0]) is None  # short: exact only
    far = C.statements("theorem z (x : ℕ) (h : x > 3) : x ^ 2 > 9 ∧ x ^ 3 > 27 ∧ x ^ 4 > 81 :=")[0]
    assert idx.match(far) is None
    with pytest.raises(ValueError):
        C.CanonicalIndex(near=1.5)


def test_near_zero_means_exact_only():
    idx = C.CanonicalIndex(near=0.0)
    s = C.statements("theorem t (a b c : ℝ) (h : a < b) (h' : b < c) : a < c ∧ a + 1 < c + 1 ∧ a * 1 < c :=")[0]
    idx.add("t", s)
    assert idx.match(s[:-1] + ("d",)) is None


# ----------------------------------------------------------------------------- the variants it is tested with
@pytest.mark.parametrize("kind", V.KINDS)
@pytest.mark.parametrize("text,lang", [(LEAN4, "lean4"), (LEAN3, "lean3"), (ISABELLE, "isabelle")])
def test_each_variant_changes_the_text_but_not_the_canonical_form(kind, text, lang):
    v = V.variant(text, kind)
    if v is None:
        assert (kind, lang) in {("lean_version", "isabelle")}
        return
    assert v != text
    assert canon(v, lang) == canon(text, lang), (kind, v)


def test_variants_do_what_they_say():
    assert "planted_" in V.rename_theorem(LEAN4)
    b = V.rename_binders(LEAN4)
    assert "hf0" not in b and "(f :" not in b and "iteratedDeriv" in b
    assert "Real" in V.ascii(LEAN4) and "->" in V.ascii(LEAN4)
    assert "<=" in V.ascii(ISABELLE) and "\\<le>" not in V.ascii(ISABELLE)
    l3 = V.lean_version("theorem t (f : ℕ → ℕ) (h : f = fun n => n + 1) (hp : Nat.Prime 2) : True :=")
    assert "λ n," in l3 and "nat.prime" in l3
    l4 = V.lean_version(LEAN3)
    assert "IsOpen" in l4 and "DifferentiableOn" in l4
    r = V.reorder_hypotheses("theorem t (a b : ℝ) (h₀ : 0 < a) (h₁ : a < b) : a < b + 1 :=")
    assert r.index("h₁") < r.index("h₀")
    assert V.reorder_hypotheses("theorem t (a : ℝ) (h : 0 < a) : a > 0 :=") is None  # one hypothesis
    assert V.lean_version(ISABELLE) is None


def test_any_text_canonicalises_without_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(["(", ")", "[", "]", "{", "}", "⟨", "⟩", ":", ":=", ",", ".", "|", '"', "\\<forall>",
                              "\\<and>", "∀", "∃", "λ", "fun", "=>", "→", "x", "h₀", "theorem", "lemma", "t", "fixes",
                              "assumes", "shows", "and", "::", "by", "sorry", "∑", "∈", "/-", "-/", "(*", "*)", "--",
                              "\n", " ", "2", "ℝ", "{x |", "'a"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(pieces, max_size=40), st.sampled_from(["lean4", "isabelle", None]))
    def check(parts, lang):
        out = C.statements(" ".join(parts), lang)
        assert all(isinstance(s, tuple) and len(s) >= C.MIN_STATEMENT for s in out)

    check()


def test_near_match_needs_the_same_numbers():
    """`card G = 132` and `card G = 312` are different exercises, not an edited copy."""
    idx = C.CanonicalIndex(near=0.2, min_tokens=8)
    s = C.statements("theorem t (G : Type*) [Group G] [Fintype G] (hG : card G = 132) : ¬ IsSimpleGroup G :=")[0]
    idx.add("t", s)
    other = C.statements("theorem u (G : Type*) [Group G] [Fintype G] (hG : card G = 312) : ¬ IsSimpleGroup G :=")[0]
    assert idx.match(other) is None
    edited = C.statements("theorem u (G : Type*) [Group G] [Fintype G] (hG : card G = 132) : IsSimpleGroup G :=")[0]
    assert idx.match(edited).kind == "near"


def _strip_comments_by_char(text: str, lang: str) -> str:
    """The character-by-character scanner `strip_comments` replaced (the spec it must still meet)."""
    import re

    out, i, n, depth = [], 0, len(text), 0
    opener, closer = ("(*", "*)") if lang == "isabelle" else ("/-", "-/")
    while i < n:
        if text.startswith(opener, i):
            depth += 1
            i += 2
            continue
        if depth and text.startswith(closer, i):
            depth -= 1
            i += 2
            if not depth:
                out.append(" ")
            continue
        if depth:
            i += 1
            continue
        if text.startswith("--", i) and lang != "isabelle":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        out.append(text[i])
        i += 1
    s = "".join(out)
    if lang == "isabelle":
        s = re.sub(r"\\<comment>\s*\\<open>.*?\\<close>", " ", s, flags=re.S)
        s = s.replace("\\<^sub>", "").replace("\\<^sup>", "^").replace("\\<^bold>", "")
    return s


@pytest.mark.parametrize("lang", ["lean4", "isabelle"])
def test_strip_comments_equals_the_character_scan(lang):
    import random

    rng = random.Random(7)
    parts = ["/-", "-/", "--", "(*", "*)", "-", "/", "*", "(", ")", "\n", "a", " ", "x y", "\\<comment>", "\\<open>",
             "\\<close>", "\\<^sub>"]
    texts = ["", "theorem t : a := b -- c\nd", "/- a /- b -/ c -/ d", "(* a (* b *) c *) d", "/--doc-/x", "-/-/-"]
    texts += ["".join(rng.choice(parts) for _ in range(rng.randrange(30))) for _ in range(5000)]
    for t in texts:
        assert C.strip_comments(t, lang) == _strip_comments_by_char(t, lang), repr(t)


class _PreviousCanonicalIndex:
    """`CanonicalIndex` before its lookups were keyed by numbers and length (the verdicts it must keep)."""

    def __init__(self, near: float = 0.1, min_tokens: int = 12):
        self.near, self.min_tokens = near, min_tokens
        self._exact, self._items, self._pieces = {}, [], {}

    def add(self, item_id, stmt):
        if not stmt or stmt in self._exact:
            return
        self._exact[stmt] = item_id
        k = int(self.near * len(stmt)) if len(stmt) >= self.min_tokens else 0
        if k == 0:
            return
        idx = len(self._items)
        self._items.append((item_id, stmt, k))
        size = len(stmt) // (k + 1)
        for p in range(k + 1):
            piece = stmt[p * size:(p + 1) * size if p < k else len(stmt)]
            self._pieces.setdefault(len(piece), {}).setdefault(piece, []).append(idx)

    def match(self, stmt):
        hit = self._exact.get(stmt)
        if hit is not None:
            return C.CanonicalMatch(hit, "canonical", 0, len(stmt))
        if not self._items or len(stmt) < 2:
            return None
        seen, best, numbers = set(), None, None
        for size, table in self._pieces.items():
            for i in range(len(stmt) - size + 1):
                for idx in table.get(stmt[i:i + size], ()):
                    if idx in seen:
                        continue
                    seen.add(idx)
                    item_id, item, k = self._items[idx]
                    if numbers is None:
                        numbers = C._numbers(stmt)
                    if C._numbers(item) != numbers:
                        continue
                    d = C.edit_distance(stmt, item, k)
                    if d <= k and (best is None or d < best.distance):
                        best = C.CanonicalMatch(item_id, "near", d, len(item))
        return best


def test_canonical_index_matches_as_before():
    """Same match (item, kind, distance) as the unfiltered scan, on edited copies of indexed statements
    (near and not), with numbers changed, and on unrelated ones; ties included (duplicated items)."""
    import random

    rng = random.Random(3)
    vocab = ["v1", "v2", "x1", "(", ")", ":", "ℝ", "→", "∀", "=", "+", "≤", "f", "continuous", "1", "2", "3", "0"]

    def stmt(n):
        return tuple(rng.choice(vocab) for _ in range(n))

    items = [stmt(rng.randint(4, 80)) for _ in range(150)]
    items += [tuple(s[:-1]) + ("7",) for s in items[:20]]  # twins differing in one number
    new, old = C.CanonicalIndex(), _PreviousCanonicalIndex()
    for i, s in enumerate(items):
        new.add(f"i{i}", s)
        old.add(f"i{i}", s)
    queries = []
    for s in items:
        for _ in range(3):
            q = list(s)
            for _ in range(rng.randint(0, 9)):
                op, j = rng.random(), rng.randrange(len(q))
                if op < 0.4:
                    q[j] = rng.choice(vocab)
                elif op < 0.7:
                    q.insert(j, rng.choice(vocab))
                elif len(q) > 2:
                    del q[j]
            queries.append(tuple(q))
    queries += [stmt(rng.randint(1, 90)) for _ in range(300)]
    found = 0
    for q in queries:
        got, want = new.match(q), old.match(q)
        assert got == want, q
        found += got is not None and got.kind == "near"
    assert found > 50
