"""Lean 4 / Lean 3 reader on hand-written fixtures with the exact expected declarations."""

from pathlib import Path

import pytest

from formal.detect import lean_version
from formal.lean import lex, parse_lean

FIX = Path(__file__).parents[1] / "fixtures" / "formal"


def parsed(name):
    text = (FIX / name).read_text(encoding="utf-8")
    return text, parse_lean(text)


def by_name(f):
    return {d.full_name or f"{d.kind}@{d.line}": d for d in f.decls}


def test_lean4_declarations_exact():
    text, f = parsed("basic4.lean")
    assert f.lang == "lean4" and f.issues == []
    assert f.imports == ["Mathlib.Data.Nat.Basic", "Mathlib.Tactic"]
    assert [m.text for m in f.module_docs] == ["# Demo module\n\nModule docs with a /- nested -/ comment."]
    assert [(d.kind, d.full_name) for d in f.decls] == [
        ("theorem", "Demo.even_add_even"), ("lemma", "Demo.abs_nonneg'"), ("def", "Demo.twice"),
        ("def", "Demo.str_and_char"), ("theorem", "Demo.Foo.bar₁"), ("def", "Demo.fib"), ("def", "Demo.ack"),
        ("abbrev", "Demo.Pos"), ("structure", "Demo.Point"), ("class", "Demo.HasNorm'"), ("instance", None),
        ("instance", "Demo.instNormNat"), ("inductive", "Demo.Color"), ("example", None), ("axiom", "Demo.choice_ax"),
        ("opaque", "Demo.secret"), ("theorem", "top_level"), ("theorem", "Demo.αβγ_unicode")]
    d = by_name(f)
    even = d["Demo.even_add_even"]
    assert even.statement == "theorem even_add_even (m n : ℕ) (hm : Even m) (hn : Even n) :\n    Even (m + n)"
    assert even.proof == "by\n  -- a line comment with := inside\n  exact hm.add hn"
    assert even.docstring == "The sum of two even numbers is even."
    assert even.attributes == ["simp", "norm_cast"] and even.line == 18
    assert even.namespace == "Demo" and even.opens == ["Nat", "Real"] and even.variables == ["{α : Type*} [Ring α]"]
    assert d["Demo.abs_nonneg'"].statement == "lemma abs_nonneg' (x : ℝ) : |x| ≥ 0"  # |x| is not an alternative
    assert d["Demo.abs_nonneg'"].proof == "abs_nonneg x"
    assert d["Demo.twice"].modifiers == ["private", "noncomputable"] and d["Demo.twice"].proof == "f (f a)"
    assert d["Demo.str_and_char"].proof == "(\"a \\\" := tricky\", ':')"
    bar = d["Demo.Foo.bar₁"]
    assert bar.modifiers == ["protected"] and bar.opens == ["Nat", "Real", "Classical"]  # `open Classical in`
    assert bar.proof == "by\n  open Classical in\n  exact em p"  # indented `open ... in` stays in the proof
    fib = d["Demo.fib"]
    assert fib.statement == "def fib : ℕ → ℕ" and fib.docstring == "Fibonacci, by pattern matching."
    assert fib.proof.startswith("| 0 => 0") and fib.proof.endswith("fib n + fib (n + 1)")
    ack = d["Demo.ack"]
    assert ack.termination == "termination_by m n => (m, n)\ndecreasing_by all_goals simp_wf; omega"
    assert ack.proof.endswith("omega")
    assert d["Demo.Pos"].statement == "abbrev Pos" and d["Demo.Pos"].proof == "{ n : ℕ // 0 < n }"
    point = d["Demo.Point"]
    assert point.statement == "structure Point" and point.docstring == "A point in the plane."
    assert point.proof.startswith("where\n  /-- first coordinate -/") and point.proof.endswith("deriving Inhabited")
    assert d["instance@63"].statement == "instance : HasNorm' ℝ"
    assert d["Demo.instNormNat"].statement == "instance (priority := 100) instNormNat : HasNorm' ℕ"
    assert d["Demo.Color"].statement == "inductive Color" and d["Demo.Color"].proof == "| red | green\n  | blue"
    assert d["example@71"].statement == "example : 1 + 1 = 2" and d["example@71"].proof == "rfl"
    assert d["Demo.choice_ax"].statement == "axiom choice_ax : ∀ p : Prop, p ∨ ¬p" and d["Demo.choice_ax"].proof is None
    assert d["top_level"].statement == "theorem _root_.top_level (n : ℕ) :\n    n + 0 = n"
    assert d["Demo.αβγ_unicode"].statement == "theorem αβγ_unicode (x : ℕ) (h₁ : x = 1) : x ^ 2 = 1"
    for decl in f.decls:
        assert text[decl.start:decl.end] == decl.statement


def test_lean3_declarations_exact():
    text, f = parsed("basic3.lean")
    assert f.lang == "lean3" and f.issues == []
    assert [(d.kind, d.full_name) for d in f.decls] == [
        ("lemma", "foo.add_zero'"), ("theorem", "foo.le_refl'"), ("def", "foo.double"), ("def", "foo.my_tac"),
        ("lemma", "foo.uses_match")]
    d = by_name(f)
    add = d["foo.add_zero'"]
    assert add.statement == "lemma add_zero' (n : ℕ) : n + 0 = n" and add.docstring == "Addition with zero."
    assert add.attributes == ["simp"]
    assert add.proof == "begin\n  induction n with n ih,\n  { refl },\n  { simp },\nend"  # `end` at column 0 closes begin
    assert d["foo.le_refl'"].proof == "λ n, le_refl n"
    assert d["foo.double"].proof == "| 0 := 0\n| (n+1) := double n + 2"
    assert d["foo.my_tac"].modifiers == ["meta"]
    assert d["foo.uses_match"].proof == "match n with\n| _ := rfl\nend"
    assert add.opens == ["nat", "big_operators"] and add.variables == ["{α : Type*} (n : ℕ)"]
    assert [m.text for m in f.module_docs] == ["Lean 3 style module doc."]


def test_broken_input_recovers_and_reports():
    text, f = parsed("broken.lean")
    assert [d.name for d in f.decls] == ["good_one", "hidden", "after_comment", "s", "after_string", "truncated_proof"]
    whys = sorted((i.line, i.why.split(";")[0]) for i in f.issues)
    assert whys == [(3, "block comment '/-' never closed"),
                    (8, "theorem unclosed_sig: bracket never closed in the signature (truncated?)"),
                    (11, "string literal never closed"),
                    (14, "theorem truncated_proof: bracket never closed in the body (truncated?)")]


@pytest.mark.parametrize("src,lang", [
    ("import Mathlib\ntheorem t : 1 = 1 := by\n  rfl\n", "lean4"),
    ("import data.real.basic\ntheorem t : 1 = 1 :=\nbegin\n  refl\nend\n", "lean3"),
    ("theorem t : ∀ x : ℕ, x = x := λ x, rfl\nvariables (n : ℕ)\n", "lean3"),
    ("theorem t : ∀ x : ℕ, x = x := fun x => rfl\n", "lean4"),
])
def test_lean_version(src, lang):
    assert lean_version(src) == lang
    assert parse_lean(src).lang == lang


def test_lexer_tokens():
    toks = lex("/-- doc /- inner -/ -/ «my name» 'a' '\\n' h' r#\"raw \" string\"# -- c\nx.y₁")
    assert [(t.kind, t.text) for t in toks] == [
        ("doc", "/-- doc /- inner -/ -/"), ("id", "«my name»"), ("chr", "'a'"), ("chr", "'\\n'"), ("id", "h'"),
        ("str", 'r#"raw " string"#'), ("id", "x.y₁")]


def test_mutual_and_noncomputable_section():
    src = ("namespace A\nnoncomputable section\nmutual\n  def even : ℕ → Bool\n    | 0 => true\n    | n+1 => odd n\n"
           "  def odd : ℕ → Bool\n    | 0 => false\n    | n+1 => even n\nend\n/-- after mutual -/\ntheorem t : True := trivial\n"
           "end\nend A\n#check A.t\n")
    f = parse_lean(src)
    assert [(d.full_name, d.kind) for d in f.decls] == [("A.even", "def"), ("A.odd", "def"), ("A.t", "theorem")]
    assert f.decls[2].docstring == "after mutual" and f.decls[2].proof == "trivial"


def test_variable_in_is_local():
    f = parse_lean("variable (n : ℕ)\nvariable (m : ℕ) in\ntheorem a : n = n := rfl\ntheorem b : n = n := rfl\n")
    assert [d.variables for d in f.decls] == [["(n : ℕ)", "(m : ℕ)"], ["(n : ℕ)"]]


def test_newer_lean4_syntax():
    """module / public import / `@[expose] public section` / docs before non-declarations / alias / notes."""
    text, f = parsed("modern4.lean")
    assert f.lang == "lean4" and f.issues == []
    assert f.imports == ["Mathlib.Algebra.Group.Defs", "Mathlib.Tactic.Ring"]
    assert [(d.kind, d.full_name, d.line) for d in f.decls] == [
        ("class", "Modern.Mixin", 18), ("theorem", "Modern.cancel_left", 22), ("theorem", "Modern.iff_where", 35),
        ("instance", None, 40)]
    mixin, cancel, iff, inst = f.decls
    assert mixin.statement == "class Mixin (G : Type*) [Mul G] : Prop extends IsEmpty G" and mixin.proof is None
    assert cancel.docstring == "Left cancellation." and cancel.proof == "rfl"  # not swallowing add_decl_doc's doc
    assert cancel.attributes == ["to_additive /-- Additive left cancellation. -/"]
    assert iff.statement == "theorem iff_where (p : Prop) :\n    p ↔ p" and iff.proof == "where\n  mp := id\n  mpr := id"
    assert iff.docstring is None and iff.attributes == ["simp"]
    assert inst.statement == "instance (priority := low) (M) [Mul M] : Nonempty (Option M)" and inst.proof == "⟨none⟩"
    assert all(d.namespace == "Modern" for d in f.decls)


def test_notation_commands_end_the_previous_proof():
    src = ("theorem a : True := by\n  trivial\nnotation3 \"∑ \" => id\nscoped[Foo] notation \"‖\" => id\n"
           "@[inherit_doc] infixl:65 \" +' \" => HAdd.hAdd\ntheorem b : True := trivial\n")
    f = parse_lean(src)
    assert [(d.name, d.proof) for d in f.decls] == [("a", "by\n  trivial"), ("b", "trivial")]
