"""Isabelle reader on a hand-written theory with the exact expected declarations."""

from pathlib import Path

from formal.isabelle import parse_isabelle

FIX = Path(__file__).parents[1] / "fixtures" / "formal"


def test_theory_declarations_exact():
    text = (FIX / "Basic.thy").read_text(encoding="utf-8")
    f = parse_isabelle(text)
    assert f.theory == "Basic" and f.imports == ["Main", "HOL-Library.Multiset"]
    assert [(d.kind, d.full_name) for d in f.decls] == [
        ("lemma", "Basic.add_zero_right"), ("theorem", "Basic.two_facts"), ("corollary", "Basic.cart_statement"),
        ("proposition", "Basic.apply_style"), ("lemma", None), ("definition", "Basic.double"), ("fun", "Basic.fact"),
        ("primrec", "Basic.len"), ("lemma", "Basic.open_proof"), ("lemma", "Basic.sorry_lemma")]
    d = {x.full_name or f"{x.kind}@{x.line}": x for x in f.decls}
    add = d["Basic.add_zero_right"]
    assert add.statement == 'lemma add_zero_right [simp]: "n + (0::nat) = n"' and add.proof == "by simp"
    assert add.attributes == ["simp"] and add.context == "Adding zero changes nothing." and add.shows == ["n + (0::nat) = n"]
    two = d["Basic.two_facts"]
    assert two.statement == ('theorem two_facts:\n  fixes a b :: nat\n  assumes h1: "a \\<le> b"\n    and h2: "0 < a"\n'
                             '  shows "0 < b"')
    assert two.fixes == ["a b :: nat"] and two.assumes == ["h1 : a \\<le> b", "h2 : 0 < a"] and two.shows == ["0 < b"]
    assert two.proof == "using h1 h2 by arith" and two.context is None
    assert two.comment == 'a comment with "quotes" and (* nesting *) inside'
    cart = d["Basic.cart_statement"]
    assert cart.statement == "corollary cart_statement: ‹(x::int) * 1 = x›" and cart.shows == ["(x::int) * 1 = x"]
    assert cart.proof.startswith("proof -") and cart.proof.endswith("qed\nqed") and cart.proof_closed
    assert d["Basic.apply_style"].proof == "apply (induct xs)\n   apply simp\n  apply simp\n  done"
    assert d["lemma@35"].statement == 'lemma "True"' and d["lemma@35"].proof == "by simp"
    assert d["Basic.double"].statement == 'definition double :: "nat \\<Rightarrow> nat"'
    assert d["Basic.double"].proof == 'where\n  "double n = 2 * n"'
    assert d["Basic.fact"].proof == 'where\n  "fact 0 = 1"\n| "fact (Suc n) = Suc n * fact n"'
    assert d["Basic.len"].statement == "primrec len :: \"'a list \\<Rightarrow> nat\""
    assert not d["Basic.open_proof"].proof_closed and d["Basic.sorry_lemma"].proof == "sorry"
    assert [(i.line, i.why) for i in f.issues] == [
        (50, "'datatype' is not turned into records; skipped"),
        (52, "lemma open_proof: proof not closed (missing qed/done?); kept the statement")]
    assert [(c, t) for c, t, *_ in f.texts] == [("section", "Arithmetic facts"), ("text", "Adding zero changes nothing.")]
    for x in f.decls:
        assert text[x.start:x.end] == x.statement


def test_locale_context_and_unclosed_comment():
    src = ('theory T imports Main begin\ncontext group begin\nlemma (in monoid) l1: "x = x" by simp\n'
           'lemma l2: "y = y" by simp\nend\n(* never closed\nlemma l3: "z = z" by simp\nend\n')
    f = parse_isabelle(src)
    assert [(d.name, d.locale) for d in f.decls] == [("l1", "monoid"), ("l2", "group"), ("l3", None)]
    assert [i.line for i in f.issues] == [6]


def test_stray_quote_does_not_swallow_the_theorem():
    src = ('definition s :: real where "s \\<equiv> undefined"\n(* 1 *)"\ntheorem t:\n  fixes x :: real\n'
           '  shows "x = s"\n')
    f = parse_isabelle(src)
    assert [(d.kind, d.name) for d in f.decls] == [("definition", "s"), ("theorem", "t")]
    assert "stray quote" in f.issues[0].why and f.issues[0].line == 2


def test_diagnostics_multiple_props_and_case_proofs():
    text = (FIX / "Diag.thy").read_text(encoding="utf-8")
    f = parse_isabelle(text)
    assert [(d.name, d.proof_closed) for d in f.decls] == [("two_props", True), ("with_diagnostic", True),
                                                         ("Main_fact", True)]
    two, diag, main = f.decls
    assert two.shows == ["x + 0 = (x::nat)", "0 + x = (x::nat)"]
    assert two.statement == 'lemma two_props:\n  "x + 0 = (x::nat)"\n  "0 + x = (x::nat)"'
    assert "thm append.simps" in diag.proof and diag.proof.endswith("qed")  # indented `thm` stays in the proof
    assert main.attributes == ["simp", "intro"] and main.proof.startswith("proof cases")
    assert not main.proof.count("value")  # `value` at column 0 ends the previous proof
    assert f.issues == []
