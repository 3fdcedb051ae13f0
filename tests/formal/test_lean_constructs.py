"""Lean 4 / Lean 3 constructs that used to cut, pad or drop statements (issue 13), read through the Lean reader:
each case asserts the exact records (formal, informal, kind, name / full name)."""

from pathlib import Path

import pytest

from formal.lean import parse_lean
from formal.readers import READERS, ReadConfig, read_report
from formal.source import decode

FIX = Path(__file__).parents[1] / "fixtures" / "lean"


def read(name):
    src = decode((FIX / name).read_bytes())
    recs, issues = READERS["lean"](src, "fx", name, ReadConfig())
    for r in recs:  # every statement is the exact source slice its offsets name
        if r.kind != "text":
            assert src.text[r.meta["start"]:r.meta["end"]] == r.formal
    return {r.id.split(":", 1)[1]: r for r in recs}, issues


def facts(r):
    return r.kind, r.meta["decl_kind"], r.meta["name"], r.meta["full_name"], r.formal, r.informal


@pytest.fixture(scope="module")
def lean4():
    recs, issues = read("constructs4.lean")
    assert issues == [] and {r.formal_lang for r in recs.values()} == {"lean4"}
    return recs


@pytest.fixture(scope="module")
def lean3():
    recs, issues = read("constructs3.lean")
    assert issues == [] and {r.formal_lang for r in recs.values()} == {"lean3"}
    return recs


def test_lean4_records_in_order(lean4):
    assert list(lean4) == [
        "Constructs.compHom_smul_def", "Constructs.local_defs", "Constructs.run'_bind", "Constructs.ExistsUnique.exists",
        "Constructs.toString", "Constructs.abs_bars", "Constructs.Heap.NoSibling", "Constructs.Point",
        "Constructs.instInhabitedPoint", "Constructs.instInhabitedPoint_1", "Constructs.instCoePoint", "instance@L53",
        "instance@L55", "instance@L57", "Constructs.Point.instToString", "module_doc@L3"]


def test_case1_let_and_have_inside_a_statement(lean4):
    """`letI := …` / `haveI … :=` / `let` / `have` in the signature keep their `:=`; the statement goes on."""
    assert facts(lean4["Constructs.compHom_smul_def"]) == (
        "pair", "theorem", "compHom_smul_def", "Constructs.compHom_smul_def",
        "theorem compHom_smul_def (s : S) (x : A) :\n    letI := compHom A f\n    s • x = f s • x",
        "Scalar action through a ring hom, with a local instance.")
    assert lean4["Constructs.compHom_smul_def"].meta["proof"] == "rfl"
    local = lean4["Constructs.local_defs"]
    assert facts(local) == (
        "formal", "theorem", "local_defs", "Constructs.local_defs",
        "theorem local_defs (n : ℕ) :\n    haveI : Fact (0 < n + 1) := ⟨n.succ_pos⟩\n    let m := n + 1\n"
        "    have h : 0 < m := Nat.succ_pos n\n    m = n + 1", None)
    assert local.meta["proof"] == "by\n  rfl"


def test_case2_match_arms_inside_a_statement(lean4):
    r = lean4["Constructs.run'_bind"]
    assert facts(r) == (
        "pair", "theorem", "run'_bind", "Constructs.run'_bind",
        "theorem run'_bind (x : EStateM ε σ α) (f : α → EStateM ε σ β) (s : σ) :\n"
        "    (x >>= f).run' s = match x.run s with\n    | .ok a s => (f a).run' s\n    | .error _ _ => none",
        "`run'` of a bind.")
    assert r.meta["proof"] == "by\n  rw [run', run_bind]\n  cases x.run s <;> rfl" and r.meta["attributes"] == ["simp"]


def test_case3_arm_on_the_signature_line_and_several_patterns(lean4):
    ex = lean4["Constructs.ExistsUnique.exists"]
    assert facts(ex) == ("formal", "theorem", "ExistsUnique.exists", "Constructs.ExistsUnique.exists",
                         "theorem ExistsUnique.exists {p : α → Prop} : (∃! x, p x) → ∃ x, p x", None)
    assert ex.meta["proof"] == "| ⟨x, h, _⟩ => ⟨x, h⟩"
    ts = lean4["Constructs.toString"]
    assert facts(ts) == ("pair", "def", "toString", "Constructs.toString", "def toString : Premise → String",
                         "The name of a premise.")
    assert ts.meta["proof"] == '| .const name | .fvar ⟨name⟩ => name.toString\n  | .other => "?"'
    # `|x|` (bars touching their contents) is an absolute value, not an arm, even with `=>` after it
    assert facts(lean4["Constructs.abs_bars"])[4] == "theorem abs_bars (x : ℝ) : f |x| = fun y => y"
    assert lean4["Constructs.abs_bars"].meta["proof"] == "rfl"


def test_case4_constructor_docstrings_belong_to_the_body(lean4):
    r = lean4["Constructs.Heap.NoSibling"]
    assert facts(r) == ("pair", "inductive", "Heap.NoSibling", "Constructs.Heap.NoSibling",
                        "inductive Heap.NoSibling : Heap α → Prop", "No node has a sibling.")
    assert r.meta["proof"] == ("/-- An empty heap is no more than one tree. -/\n  | nil : NoSibling .nil\n"
                               "  /-- Or there is exactly one tree. -/\n  | node (a c) : NoSibling (.node a c .nil)")


def test_anonymous_instances_get_lean4s_name_where_the_rule_is_clear(lean4):
    derived = {k: (r.formal, r.meta["name"], r.meta.get("name_derived")) for k, r in lean4.items()
               if r.meta.get("decl_kind") == "instance"}
    assert derived == {
        "Constructs.instInhabitedPoint": ("instance : Inhabited Point", "instInhabitedPoint", True),
        # the name is taken: Lean appends _1
        "Constructs.instInhabitedPoint_1": ("instance : Inhabited Point", "instInhabitedPoint_1", True),
        # each constant once
        "Constructs.instCoePoint": ("instance : Coe Point (Point)", "instCoePoint", True),
        # not clear from the text: a type from elsewhere applied to arguments, binders, only outside constants
        # (Lean adds a module suffix then)
        "instance@L53": ("instance : Inhabited (List Point)", None, None),
        "instance@L55": ("instance (p : Point) : Decidable (p = p)", None, None),
        "instance@L57": ("instance : Inhabited ℕ", None, None),
        # constants the current namespace is made of are left out
        "Constructs.Point.instToString": ("instance : ToString Point", "instToString", True),
    }
    assert lean4["Constructs.Point"].meta.get("name_derived") is None  # a written name is not marked


def test_case5_lean3_mutual_blocks(lean3):
    doc = "`prove_add_nat ic a b r` proves `a + b = r`; `prove_adc_nat` proves `a + b + 1 = r`."
    add, adc = lean3["norm_num.prove_add_nat"], lean3["norm_num.prove_adc_nat"]
    assert facts(add) == ("pair", "def", "prove_add_nat", "norm_num.prove_add_nat",
                          "prove_add_nat : expr → expr → expr → tactic (instance_cache × expr)", doc)
    assert add.meta["proof"] == "| a b r := do\n  match a, b with\n  | `(0), _ := failed\n  | _, _ := failed\n  end"
    assert facts(adc) == ("pair", "def", "prove_adc_nat", "norm_num.prove_adc_nat",
                          "prove_adc_nat : expr → expr → expr → tactic (instance_cache × expr)", doc)
    assert adc.meta["proof"] == "| a b r :=\nby cases a with x y; exact failed"  # `cases … with` is no member
    for r in (add, adc):
        assert r.meta["modifiers"] == ["meta", "mutual"] and r.meta["variables"] == ["(ic : instance_cache)"]
    even, odd = lean3["norm_num.even'"], lean3["norm_num.odd'"]
    assert facts(even) == ("formal", "inductive", "even'", "norm_num.even'", "even' : ℕ → Prop", None)
    assert even.meta["proof"] == "| zero : even' 0\n| succ {n} : odd' n → even' (n + 1)"
    assert facts(odd) == ("formal", "inductive", "odd'", "norm_num.odd'", "odd' : ℕ → Prop", None)
    assert odd.meta["proof"] == "| succ {n} : even' n → odd' (n + 1)"


def test_case5_mutual_opens_no_scope_and_case7_indented_end_closes_one(lean3):
    """After both, the file's last declaration is outside `norm_num` (it used to be `norm_num.tactic…`)."""
    assert list(lean3) == [
        "norm_num.prove_add_nat", "norm_num.prove_adc_nat", "norm_num.even'", "norm_num.odd'", "norm_num.cons_ne_nil",
        "norm_num.not_mem_nil", "norm_num.pow", "norm_num.after_indented_end", "norm_num.let_in",
        "tactic.interactive.norm_num1"]
    pow_ = lean3["norm_num.pow"]
    assert facts(pow_) == ("formal", "def", "pow", "norm_num.pow", "def pow : ℕ → ℕ → tactic ℕ", None)
    assert pow_.meta["proof"] == "| a b := do\n  return (a ^ b)"  # ` end exponentiation` is not in the body
    assert facts(lean3["tactic.interactive.norm_num1"]) == (
        "formal", "def", "norm_num1", "tactic.interactive.norm_num1", "def norm_num1 : tactic unit", None)


def test_case6_empty_match_terminator(lean3):
    c = lean3["norm_num.cons_ne_nil"]
    assert facts(c) == ("formal", "theorem", "cons_ne_nil", "norm_num.cons_ne_nil",
                        "theorem cons_ne_nil (a : α) (l : list α) : a::l ≠ []", None)
    assert c.meta["proof"] == "."
    n = lean3["norm_num.not_mem_nil"]
    assert facts(n) == ("pair", "theorem", "not_mem_nil", "norm_num.not_mem_nil",
                        "theorem not_mem_nil (a : α) : ¬ a ∈ @list.nil α", "Nothing is in the empty list.")
    assert n.meta["proof"] == "."


def test_lean3_let_takes_every_binding_up_to_in(lean3):
    r = lean3["norm_num.let_in"]
    assert r.formal == "theorem let_in (n : ℕ) :\n  let a := n, b := a + 1 in b = n + 1" and r.meta["proof"] == "rfl"


@pytest.mark.parametrize("src,lang,line,why", [
    ("theorem t (n : ℕ) :\n    letI\n", "lean4", 1,
     "theorem t: a `let`/`have` in the signature has no ':=' and the declaration has no body (truncated?); skipped"),
    ("theorem t (n : ℕ) :\n    let m := n\n    m = n\n", "lean4", 1,
     "theorem t: no ':=', 'where' or '|' body (truncated?); skipped"),
    ("namespace a\nmutual def f, g\n| 0 := 0\nend a\n", "lean3", 2,
     "mutual def f, g: no `with name : type` member found; skipped"),
    ("mutual def f, g\nwith f : ℕ → ℕ\n| n := n\n", "lean3", 1, "mutual def f, g: no `with` member for g; skipped"),
])
def test_what_cannot_be_placed_is_reported(src, lang, line, why):
    f = parse_lean(src, lang)
    assert [(i.line, i.why) for i in f.issues] == [(line, why)]


def test_skipped_parts_name_file_and_line(tmp_path):
    (tmp_path / "m.lean").write_text("import tactic\nnamespace a\nmutual def f, g\n| 0 := 0\nend a\n"
                                     "theorem after : true := trivial\n")
    rep = read_report([tmp_path], "auto", "t")
    assert [(w.rsplit("/", 1)[-1], why) for w, why in rep.skipped] == [
        ("m.lean:3", "mutual def f, g: no `with name : type` member found; skipped")]
    assert [r.id for r in rep.records] == ["m.lean:after"]  # `end a` closed the namespace: no mutual scope
