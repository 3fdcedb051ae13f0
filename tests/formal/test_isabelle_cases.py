"""Isabelle reader on the constructs of issue 13 (cases 8-12), one fixture theory each, exact records.

Each case is read through the `isabelle` reader of `formal.readers`, as `curate ingest` reads it:
(id, record kind, decl_kind, name, full_name, formal, informal) and the skipped parts with their lines.
"""

from pathlib import Path

from formal.isabelle import parse_isabelle
from formal.readers import READERS, ReadConfig
from formal.source import decode

FIX = Path(__file__).parents[1] / "fixtures" / "isabelle"


def read(name: str):
    src = decode((FIX / name).read_bytes())
    recs, issues = READERS["isabelle"](src, "t", name, ReadConfig())
    for r in recs:
        assert src.text[r.meta["start"]:r.meta["end"]] == (r.formal if r.kind != "text" else src.text[r.meta["start"]:r.meta["end"]])
    rows = [(r.id, r.kind, r.meta["decl_kind"], r.meta.get("name"), r.meta.get("full_name"), r.formal, r.informal)
            for r in recs]
    return rows, {r.id: r for r in recs}, [(i.line, i.why) for i in issues]


def test_case8_text_cartouche_without_space():
    """`text\\<open>…`, `section\\<open>…`, `text_raw\\<open>…`, `txt\\<open>…` are commands + cartouches, not identifiers."""
    rows, recs, issues = read("Prose.thy")
    assert rows == [
        ("Prose.thy:Prose.double", "formal", "definition", "double", "Prose.double",
         'definition double :: "nat \\<Rightarrow> nat"', None),
        ("Prose.thy:Prose.double_add", "pair", "lemma", "double_add", "Prose.double_add",
         'lemma double_add: "double (a + b) = double a + double b"',
         "A definition: is total, and \\<open>double\\<close> function is additive."),
        ("Prose.thy:Prose.double_zero", "formal", "lemma", "double_zero", "Prose.double_zero",
         'lemma double_zero: "double 0 = 0"', None)]
    assert recs["Prose.thy:Prose.double"].meta["proof"] == 'where\n  "double n = 2 * n"'
    assert recs["Prose.thy:Prose.double_zero"].meta["proof"] == (
        "proof -\n  txt\\<open>Unfold the function that is defined.\\<close>\n  show ?thesis by (simp add: double_def)\nqed")
    assert issues == []
    f = parse_isabelle((FIX / "Prose.thy").read_text(encoding="utf-8"))
    assert [(c, t) for c, t, *_ in f.texts] == [
        ("section", "Doubling"), ("text", "A definition: is total, and \\<open>double\\<close> function is additive."),
        ("subsection", "Zero"), ("text_raw", "\\clearpage")]


def test_case9_mode_options_do_not_steal_the_name():
    rows, recs, issues = read("Modes.thy")
    assert rows == [
        ("Modes.thy:Modes.MkPlain", "formal", "abbreviation", "MkPlain", "Modes.MkPlain",
         'abbreviation (input) MkPlain :: "string \\<Rightarrow> string"', None),
        ("Modes.thy:Modes.dinic", "formal", "function", "dinic", "Modes.dinic",
         'function (domintros) dinic :: "nat \\<Rightarrow> nat"', None),
        ("Modes.thy:Modes.bind_doN", "formal", "abbreviation", "bind_doN", "Modes.bind_doN",
         "abbreviation (do_notation) bind_doN", None),
        ("Modes.thy:Modes.f", "formal", "function", "f", "Modes.f",
         'function (sequential, domintros) f :: "nat \\<Rightarrow> nat"', None)]
    assert recs["Modes.thy:Modes.dinic"].meta["proof"] == (
        'where\n  "dinic n = (if n = 0 then 0 else dinic (n - 1))"\n  by pat_completeness auto')
    assert recs["Modes.thy:Modes.f"].meta["proof"] == 'where\n  "f 0 = 0"\n| "f n = n"\n  by pat_completeness auto'
    assert issues == []
    f = parse_isabelle((FIX / "Modes.thy").read_text(encoding="utf-8"))
    assert [d.options for d in f.decls] == [["input"], ["domintros"], ["do_notation"], ["sequential", "domintros"]]
    assert recs["Modes.thy:Modes.f"].meta["options"] == ["sequential", "domintros"]


def test_case10_definition_without_where_ends_at_its_proposition():
    """Unknown commands after it are reported with their line; indented term/thm and `private` are not absorbed."""
    rows, recs, issues = read("NoWhere.thy")
    assert rows == [
        ("NoWhere.thy:NoWhere.marl_empty_aux", "formal", "definition", "marl_empty_aux", "NoWhere.marl_empty_aux",
         'definition [simp]: "marl_empty_aux (N::nat) \\<equiv> []"', None),
        ("NoWhere.thy:NoWhere.ll_const", "formal", "definition", "ll_const", "NoWhere.ll_const",
         'definition "ll_const x \\<equiv> Some x"', None),
        ("NoWhere.thy:NoWhere.hidden", "formal", "definition", "hidden", "NoWhere.hidden",
         'definition "hidden \\<equiv> (0::nat)"', None),
        ("NoWhere.thy:NoWhere.add_driver", "formal", "definition", "add_driver", "NoWhere.add_driver",
         'definition [llvm_code]: "add_driver (a::nat) \\<equiv> a + 1"', None),
        ("NoWhere.thy:NoWhere.hidden_zero", "formal", "lemma", "hidden_zero", "NoWhere.hidden_zero",
         'lemma hidden_zero: "hidden = 0"', None)]
    assert all(r.meta["proof"] is None for r in recs.values() if r.meta["decl_kind"] == "definition")
    assert recs["NoWhere.thy:NoWhere.hidden_zero"].meta["proof"] == "by (simp add: hidden_def)"
    assert recs["NoWhere.thy:NoWhere.marl_empty_aux"].meta["attributes"] == ["simp"]
    assert issues == [(6, "'sepref_register' is not a command this reader knows; skipped"),
                      (15, "'export_llvm' is not a command this reader knows; skipped"),
                      (19, "'sepref_def' is not a command this reader knows; skipped")]
    f = parse_isabelle((FIX / "NoWhere.thy").read_text(encoding="utf-8"))
    assert [d.modifiers for d in f.decls] == [[], [], ["private"], [], []]
    assert recs["NoWhere.thy:NoWhere.hidden"].meta["modifiers"] == ["private"]
    assert "modifiers" not in recs["NoWhere.thy:NoWhere.ll_const"].meta


def test_case11_unquoted_propositions_and_proof_oops():
    rows, recs, issues = read("Unquoted.thy")
    assert rows == [
        ("Unquoted.thy:lemma@L3", "formal", "lemma", None, None, "lemma True", None),
        ("Unquoted.thy:Unquoted.FSFR6_proof", "formal", "lemma", "FSFR6_proof", "Unquoted.FSFR6_proof",
         "lemma FSFR6_proof: FSFR6", None),
        ("Unquoted.thy:Unquoted.isar1", "formal", "lemma", "isar1", "Unquoted.isar1",
         'lemma isar1: "\\<forall>y::int. \\<exists>x. x > y"', None),
        ("Unquoted.thy:Unquoted.shows_unquoted", "formal", "theorem", "shows_unquoted", "Unquoted.shows_unquoted",
         "theorem shows_unquoted:\n  fixes P :: bool\n  shows False", None)]
    assert recs["Unquoted.thy:lemma@L3"].meta["proof"] == "oops"
    assert recs["Unquoted.thy:Unquoted.isar1"].meta["proof"].endswith("show \"\\<exists>x. x > y\"\noops")
    assert all(r.meta["proof_closed"] for r in recs.values())
    assert recs["Unquoted.thy:Unquoted.shows_unquoted"].meta["shows"] == ["False"]
    assert recs["Unquoted.thy:Unquoted.shows_unquoted"].meta["fixes"] == ["P :: bool"]
    assert recs["Unquoted.thy:lemma@L3"].meta["shows"] == ["True"]
    assert issues == []


def test_case12_locale_and_context_qualified_full_names():
    rows, recs, issues = read("Locales.thy")
    assert [(i, n, fn) for i, _, _, n, fn, _, _ in rows] == [
        ("Locales.thy:Locales.monoid_loc.unit_twice", "unit_twice", "Locales.monoid_loc.unit_twice"),
        ("Locales.thy:Locales.monoid_loc.twice", "twice", "Locales.monoid_loc.twice"),
        ("Locales.thy:Locales.monoid_loc.inner", "inner", "Locales.monoid_loc.inner"),  # unnamed context inside
        ("Locales.thy:Locales.monoid_loc.outside", "outside", "Locales.monoid_loc.outside"),  # (in monoid_loc)
        ("Locales.thy:Locales.monoid_loc.in_context", "in_context", "Locales.monoid_loc.in_context"),
        ("Locales.thy:Locales.global", "global", "Locales.global"),  # (in -): the theory itself
        ("Locales.thy:Locales.anon", "anon", "Locales.anon"),  # context includes …: no locale
        ("Locales.thy:Locales.semi.assoc_left", "assoc_left", "Locales.semi.assoc_left"),  # class
        ("Locales.thy:Locales.top", "top", "Locales.top")]  # instantiation … end closed
    assert [r.meta["locale"] for r in recs.values()] == ["monoid_loc"] * 5 + [None, None, "semi", None]
    assert [(k, f) for _, k, _, _, _, f, _ in rows][3] == ("formal", 'lemma (in monoid_loc) outside: "f z z = z"')
    assert recs["Locales.thy:Locales.monoid_loc.twice"].formal == "definition twice"
    assert issues == [(3, "'locale' is not turned into records; skipped"),
                      (29, "'class' is not turned into records; skipped"),
                      (34, "'instantiation' is not turned into records; skipped"),
                      (35, "'instance' is not turned into records; skipped")]
