"""Python and informal-text readers on fixtures."""

from pathlib import Path

from formal.code import CodeConfig, parse_python
from formal.text import parse_latex, parse_markdown

FIX = Path(__file__).parents[1] / "fixtures" / "formal"


def test_python_docstring_pairs():
    text = (FIX / "sample.py").read_text(encoding="utf-8")
    items, issues = parse_python(text)
    assert [(i.kind, i.qualname) for i in items] == [
        ("function", "gcd"), ("function", "fib"), ("class", "Polynomial"), ("method", "Polynomial.degree"),
        ("async function", "fetch")]
    fib = items[1]
    assert fib.code.startswith("@functools.lru_cache(maxsize=None)\ndef fib(n: int) -> int:")
    assert fib.docstring == "The n-th Fibonacci number, memoised." and fib.line == 12
    assert items[3].code.startswith("def degree(self)") and items[3].code.endswith("return len(self.coeffs) - 1")
    assert [(i.line, i.why) for i in issues] == [(18, "function undocumented: no docstring; skipped"),
                                                 (25, "method Polynomial.__init__: no docstring; skipped")]
    for it in items:
        assert text[it.start:it.end] == it.code
    kept, _ = parse_python(text, CodeConfig(keep_undocumented=True))
    assert {"undocumented", "Polynomial.__init__"} <= {i.qualname for i in kept}


def test_python_syntax_error_recovers():
    text = (FIX / "broken.py").read_text(encoding="utf-8")
    items, issues = parse_python(text)
    assert [i.name for i in items] == ["fine", "after_error"]
    assert all(i.line == 6 for i in issues) and "chunk skipped" in issues[-1].why
    for it in items:
        assert text[it.start:it.end] == it.code


def test_latex_environments_and_problems():
    text = (FIX / "notes.tex").read_text(encoding="utf-8")
    items, issues = parse_latex(text)
    assert [(i.kind, i.line, i.text) for i in items] == [
        ("theorem", 4, "There are infinitely many prime numbers."),
        ("lemma", 11, "Every natural number $n \\geq 2$ has a prime divisor."),
        ("definition", 15, "A number is \\emph{even} if it is divisible by $2$."),
        ("problem", 21, "Show that $\\sqrt{2}$ is irrational."),
        ("problem", 22, "Prove that $n^3 - n$ is divisible by $6$ for every integer $n$.")]
    assert items[0].title == "Euclid" and items[0].label == "thm:primes"
    assert items[0].proof == "Suppose there are finitely many and multiply them all, then add one."
    assert [(i.line, i.why) for i in issues] == [(25, "\\begin{corollary} never closed; skipped")]
    for it in items:
        assert text[it.start:it.end] == it.text


def test_markdown_and_plain_text():
    md = (FIX / "notes.md").read_text(encoding="utf-8")
    items, _ = parse_markdown(md)
    assert [(i.kind, i.line, i.title) for i in items] == [("theorem", 5, "Fermat"), ("problem", 9, None), ("lemma", 12, None)]
    assert items[0].text.startswith("If $p$ is prime") and items[0].proof.startswith("Consider the residues")
    probs, _ = parse_markdown((FIX / "problems.txt").read_text(encoding="utf-8"))
    assert [p.text for p in probs] == ["Prove that the sum of the first n odd numbers is n^2.",
                                       "Find all real x such that x^2 = 2x.\n   (continued on an indented line)",
                                       "Show that 7 divides 2^{3n} - 1 for all n >= 1."]
    paras, issues = parse_markdown((FIX / "prose.txt").read_text(encoding="utf-8"))
    assert [p.kind for p in paras] == ["paragraph", "paragraph"] and [i.line for i in issues] == [4]
