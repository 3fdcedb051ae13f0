"""Property tests: arbitrary text never crashes a reader; statements are exact source slices."""

from hypothesis import HealthCheck, given, settings, strategies as st

from formal.code import parse_python
from formal.isabelle import parse_isabelle
from formal.lean import parse_lean
from formal.readers import READERS, ReadConfig
from formal.source import decode
from formal.text import parse_latex, parse_markdown

LEAN_BITS = ["theorem ", "lemma ", "def ", "instance ", "structure ", "inductive ", "example ", "axiom ", "namespace A\n",
             "end A\n", "end\n", "section\n", "open X in\n", "variable (x : ℕ)\n", "@[simp] ", "private ", "/-- d -/ ",
             "/-! m -/\n", "/-", "-/", "--", "\"", "'", "'a'", ":=", " := by\n  simp\n", "where\n", "| ", "=>", "(", ")",
             "[", "]", "{", "}", "⟨", "⟩", "\n", "  ", "foo ", "h₁ ", ": ", "|x| ", "begin\n", "match ", "termination_by ",
             "«n m» ", "mutual\n", "deriving instance ", "#check ", "r#\"", "\"#", "import Mathlib\n", "λ x, ",
             "letI := ", "have h : ", "let x := ", " in ", "with ", "meta mutual def a, b\n", "with a : ", "with b : ",
             " end A\n", "[].", "/-- c -/\n  | ", " | ", "instance : Inhabited ", "Point "]
ISA_BITS = ["lemma ", "theorem ", "definition ", "fun ", "primrec ", "text ", "section ", "datatype ", "context ",
            "begin\n", "end\n", "theory T imports Main begin\n", "name", ": ", "[simp]", "\"", "‹", "›", "\\<open>",
            "\\<close>", "(*", "*)", "{*", "*}", "`", "fixes ", "assumes ", "shows ", "and ", "::", "where ", "| ",
            "by simp\n", "proof -\n", "qed\n", "apply simp\n", "done\n", "sorry\n", "\\<comment> ", "—", "\n", "x = x",
            "(in loc) ", "text\\<open>", "(input) ", "(domintros) ", "private ", "oops\n", "sepref_register x\n",
            "locale l = fixes x begin\n", "-- \"c\"", "{* t *}", "function ", "abbreviation ", "(in -) ", "|"]
TEXT_BITS = ["\\begin{theorem}", "\\end{theorem}", "\\begin{proof}", "\\end{proof}", "[t]", "\\label{x}",
             "\\section*{Problems}", "\\begin{enumerate}", "\\end{enumerate}", "\\item ", "**Theorem 1.** ", "# ",
             "Problem 3: ", "1. ", "2) ", "Proof. ", "\n", "\n\n", "Let $x$ be real.", "  ", "```lean\n", "```\n",
             "~~~\n", "theorem t : x := y\n"]
PY_BITS = ["def f(x):\n", "    \"\"\"Doc.\"\"\"\n", "    return x\n", "class C:\n", "@d\n", "async def g():\n", "(", ")",
           "\n", "    ", "'''", "\"", "ü", "lambda: 0\n"]

def soup(bits, size=60):
    return st.lists(st.one_of(st.sampled_from(bits), st.text(max_size=6)), max_size=size).map("".join)


def decls(heads, names, bodies, bits):
    """Declaration-shaped text: head + name + noisy signature + terminator + noisy body, repeated."""
    one = st.tuples(st.sampled_from(heads), st.sampled_from(names), soup(bits, 8), st.sampled_from(bodies),
                    soup(bits, 8)).map("".join)
    return st.lists(one, min_size=1, max_size=6).map("\n".join)


LEAN_DECLS = decls(["theorem ", "lemma ", "/-- doc -/\n@[simp] def ", "instance ", "example", "structure ",
                    "  theorem ", "private noncomputable def ", "inductive ", "mutual def a, b\nwith ", "instance : C "],
                   ["a ", "Foo.b₁ ", "_root_.c ", "«x y» ", ""], [" := ", " where\n", "\n  | a => b", " :=\nbegin\n", ""],
                   LEAN_BITS)
ISA_DECLS = decls(["lemma ", "theorem ", "definition ", "fun ", "text ‹t›\ncorollary ", "lemma (in l) ",
                   "section\\<open>s\\<close>\nprivate lemma ", "abbreviation (input) ", "context l begin\ndefinition "],
                  ["a: ", "b [simp]: ", "c :: \"nat\" ", "", "d: fixes x :: nat assumes "],
                  ['"x = x" by simp', '"y"\nproof -\nqed', " where \"c = 1\"", "‹z›\napply simp\ndone", "",
                   'True oops', '"c = 1"\nunknown_cmd x\n', ' where "a" | "b" by auto'], ISA_BITS)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.one_of(st.text(max_size=400), soup(LEAN_BITS), LEAN_DECLS), st.sampled_from([None, "lean3", "lean4"]))
def test_lean_never_crashes_and_slices_exactly(text, lang):
    f = parse_lean(text, lang)
    for d in f.decls:
        assert text[d.start:d.end] == d.statement
        head = d.name if "mutual" in d.modifiers else d.kind.split()[0]  # Lean 3 `with a : T` members start at a
        assert d.statement.startswith(head) and d.statement == d.statement.strip()
        assert 1 <= d.line <= text.count("\n") + 1
    for i in f.issues:
        assert 1 <= i.line <= text.count("\n") + 1


@SETTINGS
@given(st.one_of(st.text(max_size=400), soup(ISA_BITS), ISA_DECLS))
def test_isabelle_never_crashes_and_slices_exactly(text):
    f = parse_isabelle(text)
    for d in f.decls:
        assert text[d.start:d.end] == d.statement and d.statement.startswith(d.kind)
        assert 1 <= d.line <= text.count("\n") + 1
    for _, t, start, end, _ in f.texts:
        assert start <= end
    for i in f.issues:
        assert 1 <= i.line <= text.count("\n") + 1


@SETTINGS
@given(st.one_of(st.text(max_size=300), soup(PY_BITS)))
def test_python_never_crashes_and_slices_exactly(text):
    items, _ = parse_python(text)
    for it in items:
        assert text[it.start:it.end] == it.code


@SETTINGS
@given(st.one_of(st.text(max_size=300), soup(TEXT_BITS)))
def test_text_never_crashes_and_slices_exactly(text):
    for parse in (parse_latex, parse_markdown):
        items, _ = parse(text)
        for it in items:
            assert text[it.start:it.end] == it.text and it.text == it.text.strip() and it.text


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(sorted(READERS)))
def test_any_bytes_through_every_reader(data, reader):
    src = decode(data)
    records, issues = READERS[reader](src, "prop", "x", ReadConfig())
    for r in records:
        if "start" in r.meta and r.kind in ("formal", "pair", "code"):
            assert src.text[r.meta["start"]:r.meta["end"]] == r.formal
