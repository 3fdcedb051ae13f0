"""Canonical form of a formal statement (Lean 4, Lean 3, Isabelle), for decontamination.

Two statements get the same canonical tokens when they differ only in
- the declaration's name (and names built on it, such as PutnamBench's `putnam_2001_a5_solution`);
- the names of variables, hypotheses and bound variables: signature variables become `v1, v2, ...` in
  order of declaration, hypothesis names (names nothing else mentions) are dropped, and variables bound
  inside the statement (`∀ ∃ λ ∑ ∏ ⋃ ⋂`, set-builder) are named by binding depth (de Bruijn levels);
- notation: ℕ/Nat/nat, ℝ/Real/real, →/->, ∀/forall, ≤/<=, ¬/not, `fun x =>`/`λ x,`/`fun x ↦`, `∈`/`in`,
  Isabelle symbols (`\\<forall>`, `\\<le>`, `\\<Rightarrow>`, ...) and their ASCII forms;
- Lean 3 vs Lean 4 spelling of library names where it is mechanical: case and underscores are ignored in
  names that are not bound (`nat.prime` = `Nat.Prime`, `is_open` = `IsOpen`);
- comments, whitespace, Isabelle quotes, binder bracket kinds (`(x : α)` = `{x : α}`), coercion arrows;
- the order of hypotheses: hypothesis binders (Lean) and `assumes` (Isabelle) are sorted, which is safe
  because nothing else in the statement refers to them.

`statements(text, lang)` gives the canonical tokens of each theorem-like declaration in a text (proofs are
cut off); `CanonicalIndex` finds exact and near copies (edit distance on canonical tokens) of indexed
statements. Pure Python, no proof assistant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

# ----------------------------------------------------------------------------- lexing
_ISA_SYMBOLS = {
    "forall": "∀", "exists": "∃", "nexists": "∄", "not": "¬", "and": "∧", "or": "∨", "longrightarrow": "→",
    "Longrightarrow": "→", "rightarrow": "→", "Rightarrow": "→", "longleftrightarrow": "↔",
    "leftrightarrow": "↔", "Longleftrightarrow": "↔", "le": "≤", "ge": "≥", "noteq": "≠", "ne": "≠",
    "lambda": "λ", "in": "∈", "notin": "∉", "subseteq": "⊆", "subset": "⊂", "supseteq": "⊇", "union": "∪",
    "inter": "∩", "Union": "⋃", "Inter": "⋂", "times": "×", "Sum": "∑", "Prod": "∏", "circ": "∘",
    "infinity": "∞", "bar": "¦", "equiv": "≡", "cdot": "*", "div": "÷", "sqrt": "√",
    "real": "ℝ", "nat": "ℕ", "int": "ℤ", "rat": "ℚ", "complex": "ℂ", "emptyset": "∅", "lbrakk": "⟦",
    "rbrakk": "⟧", "langle": "⟨", "rangle": "⟩", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉",
    "dots": "...", "cdots": "...", "bullet": "•", "partial": "∂", "integral": "∫", "bottom": "⊥", "top": "⊤",
    "sim": "~", "approx": "≈", "mapsto": "↦", "longmapsto": "↦", "Zinter": "⋂", "Zunion": "⋃",
    "open": "‹", "close": "›", "comment": "―",
}
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi pi rho sigma tau upsilon phi chi "
          "psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split()
_GREEK_CHARS = "αβγδεζηθικμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ"
_ISA_SYMBOLS.update(dict(zip(_GREEK, _GREEK_CHARS)))
_ISA_SYM = re.compile(r"\\<(\^?[A-Za-z]+)>")

_SUBSCRIPT = "₀₁₂₃₄₅₆₇₈₉ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥ"
_IDENT = rf"[^\W\dλ][\w'!?{_SUBSCRIPT}]*(?:\.[^\W\d][\w'!?{_SUBSCRIPT}]*)*"
_OPS = [":=", "::", "<->", "-->", "==>", "<==>", "->", "<-", "=>", "<=", ">=", "!=", "~=", "/\\", "\\/",
        "..", "∃!", "⁻¹", "≠", "<..<", "..<", "<..", "//", "∑'", "∏'"]
_TOKEN = re.compile(r"(?P<sym>\\<\^?[A-Za-z]+>)|(?P<num>\d+(?:\.\d+)?)|(?P<ident>" + _IDENT + r")|(?P<op>"
                    + "|".join(re.escape(o) for o in sorted(_OPS, key=len, reverse=True))
                    + r")|(?P<tvar>'[A-Za-z]\w*)|(?P<ch>\S)")

NOTATION = {
    "->": "→", "-->": "→", "==>": "→", "⟹": "→", "⟶": "→", "<->": "↔", "<==>": "↔", "⟷": "↔", "iff": "↔",
    "<=": "≤", ">=": "≥", "!=": "≠", "~=": "≠", "forall": "∀", "ALL": "∀", "exists": "∃", "EX": "∃",
    "not": "¬", "Not": "¬", "~": "¬", "/\\": "∧", "&": "∧", "\\/": "∨", "fun": "λ", "%": "λ", "=>": "↦",
    "in": "∈", "Real.sqrt": "√", "real.sqrt": "√", "sqrt": "√", "Nat": "ℕ", "nat": "ℕ", "Int": "ℤ", "int": "ℤ",
    "Rat": "ℚ", "rat": "ℚ", "Real": "ℝ", "real": "ℝ", "Complex": "ℂ", "complex": "ℂ", "True": "⊤", "False": "⊥",
    "<..<": "<..<", "Π": "∀", "Set": "set", "UNIV": "univ",
}
ISA_NOTATION = {**NOTATION, "=>": "→", "|": "∨", "%": "λ", "~": "¬"}
"""Isabelle's ASCII: `=>` is the function type, `|` is or."""
DROP = {"↑", "‹", "›", '"', "―"}
OPEN = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄", "⟦": "⟧", "⌊": "⌋", "⌈": "⌉"}
CLOSE = {v: k for k, v in OPEN.items()}
CLOSE_OF = OPEN
RELATIONS = {"≤", "<", "≥", ">", "∈", "∉", "⊆", "⊂", "≠", "="}
BINDERS = {"∀", "∃", "∃!", "λ", "∑", "∏", "∑'", "∏'", "GREATEST", "LEAST", "⋃", "⋂", "⨆", "⨅", "∫", "THE", "SOME", "∄"}
LEAN_DECL = {"theorem", "lemma", "example", "def", "abbrev", "instance", "structure", "class", "inductive",
             "axiom", "opaque", "corollary", "proposition"}
ISA_DECL = {"theorem", "lemma", "corollary", "proposition", "schematic_goal", "definition", "abbreviation",
            "fun", "function", "primrec", "consts", "locale"}
THEOREM_LIKE = {"theorem", "lemma", "example", "corollary", "proposition", "schematic_goal"}
LEAN_STATEMENTS = THEOREM_LIKE | {"def", "abbrev", "instance", "axiom", "opaque"}
"""Lean declarations whose signature is compared (ProofNet states some exercises as `def … : CommGroup G`)."""
MIN_STATEMENT = 4
"""Canonical forms shorter than this many tokens are not statements (`: ℝ` of an `abbrev` answer)."""
ISA_STOP = {"proof", "by", "apply", "using", "unfolding", "sorry", "oops", "done", "including", "supply", "nitpick"}
ISA_SECTIONS = {"fixes", "assumes", "shows", "defines", "obtains", "and", "where", "for", "if"}
KEYWORDS = {"theorem", "lemma", "example", "def", "let", "in", "if", "then", "else", "match", "with", "by",
            "have", "show", "from", "at", "Type", "Prop", "Sort", "fixes", "assumes", "shows", "and", "defines",
            "obtains", "where", "of", "case", "_"}


class Token(NamedTuple):
    text: str
    inner: bool = True
    """Isabelle: inside a quoted term (outer syntax otherwise); always True for Lean."""


def detect_lang(text: str) -> str:
    """isabelle or lean4 (Lean 3 and Lean 4 share one canonicaliser)."""
    if "\\<" in text or re.search(r"^\s*(fixes|assumes|shows)\b", text, re.M) or re.search(r"::\s*\"?\w", text):
        return "isabelle"
    return "lean4"


def strip_comments(text: str, lang: str) -> str:
    """Remove comments (nested block comments, line comments, Isabelle `\\<comment> \\<open>…\\<close>`).

    A block comment becomes one space; a line comment is cut up to its newline (kept). Scanned with
    `str.find` from one marker to the next (the same result as a character-by-character scan: at any
    position at most one marker starts, since their first characters differ)."""
    opener, closer = ("(*", "*)") if lang == "isabelle" else ("/-", "-/")
    line = None if lang == "isabelle" else "--"
    find, n = text.find, len(text)
    if find(opener) < 0 and (line is None or find(line) < 0):
        s = text
    else:
        out, i, depth = [], 0, 0
        while i < n:
            if depth:
                o, c = find(opener, i), find(closer, i)
                if c < 0:  # unclosed: the rest is comment
                    break
                if 0 <= o < c:
                    depth, i = depth + 1, o + 2
                else:
                    depth, i = depth - 1, c + 2
                    if not depth:
                        out.append(" ")
                continue
            o = find(opener, i)
            c = find(line, i) if line is not None else -1
            if o < 0 and c < 0:
                out.append(text[i:])
                break
            if c < 0 or 0 <= o < c:
                out.append(text[i:o])
                depth, i = 1, o + 2
            else:
                out.append(text[i:c])
                j = find("\n", c)
                i = n if j < 0 else j
        s = "".join(out)
    if lang == "isabelle":
        s = re.sub(r"\\<comment>\s*\\<open>.*?\\<close>", " ", s, flags=re.S)
        s = s.replace("\\<^sub>", "").replace("\\<^sup>", "^").replace("\\<^bold>", "")
    return s


def lex(text: str, lang: str) -> list[Token]:
    """Tokens of a comment-free text; Isabelle symbols become unicode, quotes mark inner syntax."""
    if lang == "isabelle":
        text = _ISA_SYM.sub(lambda m: m.group(0) if m.group(1) not in _ISA_SYMBOLS  # `\<i>` stays one token
                            else _ISA_SYMBOLS[m.group(1)] if m.group(1) in _GREEK
                            else f" {_ISA_SYMBOLS[m.group(1)]} ", text)
    toks: list[Token] = []
    inner = lang != "isabelle"
    for m in _TOKEN.finditer(text):
        t = m.group(0)
        if lang == "isabelle" and t in ISA_DECL and inner and not text[text.rfind("\n", 0, m.start()) + 1:m.start()].strip():
            inner = False  # a declaration at the start of a line: an unbalanced quote before it ends there
        if lang == "isabelle" and t in ('"', "‹", "›"):
            inner = t != "›" and (t == "‹" or not inner)
            toks.append(Token('"' if t == '"' else t, inner))
            continue
        toks.append(Token(t, inner))
    return toks


# ----------------------------------------------------------------------------- declarations
@dataclass
class Decl:
    keyword: str
    name: str | None
    body: list[Token]
    """Tokens after the name up to the proof (theorem-like) or the next declaration."""


_IDENT_RE = re.compile(_IDENT)
_IDENTS: dict[str, bool] = {}


def _is_ident(t: str) -> bool:
    hit = _IDENTS.get(t)
    if hit is None:
        if len(_IDENTS) > 100_000:
            _IDENTS.clear()
        hit = _IDENTS[t] = _IDENT_RE.fullmatch(t) is not None
    return hit


def declarations(text: str, lang: str | None = None) -> tuple[str, list[Decl]]:
    """(language, declarations) of a text; a text with no declaration keyword is one anonymous theorem."""
    lang = "isabelle" if (lang or detect_lang(text)) == "isabelle" else "lean4"
    toks = lex(strip_comments(text, lang), lang)
    kws = ISA_DECL if lang == "isabelle" else LEAN_DECL
    starts = [i for i, t, depth in _outside_brackets(toks)
              if depth == 0 and t.text in kws and (lang != "isabelle" or not t.inner)
              and (i == 0 or toks[i - 1].text not in (".", "@"))]
    if not starts:
        return lang, [Decl("theorem", None, _cut(toks, lang))] if toks else []
    out = []
    for a, b in zip(starts, starts[1:] + [len(toks)]):
        kw, rest = toks[a].text, toks[a + 1:b]
        name = None
        if rest and _is_ident(rest[0].text) and rest[0].text not in KEYWORDS and kw != "example" \
                and (lang != "isabelle" or not rest[0].inner):
            name, rest = rest[0].text, rest[1:]
        if lang == "isabelle" and rest and rest[0].text == "[":  # lemma foo [simp]:
            j = next((k for k, t in enumerate(rest) if t.text == "]"), -1)
            rest = rest[j + 1:] if j >= 0 else rest
        stated = THEOREM_LIKE if lang == "isabelle" else LEAN_STATEMENTS
        out.append(Decl(kw, name, _cut(rest, lang) if kw in stated else rest))
    return lang, out


def _cut(toks: list[Token], lang: str) -> list[Token]:
    """Statement tokens: up to the proof."""
    for i, t, depth in _outside_brackets(toks):
        if lang == "isabelle":
            if not t.inner and t.text in ISA_STOP:
                return toks[:i]
        elif depth == 0 and t.text in (":=", "where", "begin"):
            return toks[:i]
    return toks


def _outside_brackets(toks: list[Token]):
    """(index, token, bracket depth) for every token that is not itself a bracket."""
    depth = 0
    for i, t in enumerate(toks):
        if t.text in OPEN:
            depth += 1
        elif t.text in CLOSE:
            depth = max(depth - 1, 0)
        else:
            yield i, t, depth


# ----------------------------------------------------------------------------- canonicalising
@dataclass
class _Bound:
    name: str
    canon: str
    depth: int
    inner: bool


@dataclass
class _Renamer:
    lang: str
    decl_names: tuple[str, ...] = ()
    env: list[_Bound] = field(default_factory=list)
    n_vars: int = 0
    depth: int = 0
    pending: list[tuple[int, str]] = field(default_factory=list)
    """(depth, canonical terminator) of binders whose `,` / `.` / `=>` / `|` is still to come."""

    def __post_init__(self) -> None:
        self.notation = ISA_NOTATION if self.lang == "isabelle" else NOTATION

    # --- names
    def bind_var(self, name: str) -> str:
        self.n_vars += 1
        self.env.append(_Bound(name, f"v{self.n_vars}", -1, False))
        return f"v{self.n_vars}"

    def bind_inner(self, name: str) -> str:
        level = sum(b.inner for b in self.env) + 1
        canon = f"x{level}"
        self.env.append(_Bound(name, canon, self.depth, True))
        return canon

    def word(self, t: str) -> str:
        head, dot, rest = t.partition(".")
        for b in reversed(self.env):
            if b.name == t:
                return b.canon
            if dot and b.name == head:  # `d.den` on a bound `d`
                return b.canon + "." + rest.lower().replace("_", "")
        if t in self.notation:
            return self.notation[t]
        for d in self.decl_names:
            if t == d:
                return "δ"
            if t.startswith(d) and len(t) > len(d) and t[len(d)] in "_.'":
                return "δ" + t[len(d):].lower().replace("_", "")
        if _is_ident(t) and t not in KEYWORDS:
            low = t.lower().replace("_", "")
            if low.endswith("ˣ"):  # units: `ℤˣ` = `Intˣ`
                return self.notation.get(low[:-1], low[:-1]) + "ˣ"
            return self.notation.get(low, low)
        return t

    def _pop(self) -> None:
        self.env = [b for b in self.env if not b.inner or b.depth <= self.depth]
        self.pending = [p for p in self.pending if p[0] <= self.depth]

    # --- terms
    def term(self, toks: list[str], out: list[str]) -> None:
        i, n = 0, len(toks)
        isa = self.lang == "isabelle"
        while i < n:
            t = toks[i]
            if t in DROP:
                i += 1
                continue
            if self.pending and self.pending[-1][0] == self.depth and (
                    t == "," or (isa and t == ".") or (not isa and self.pending[-1][1] == "↦" and t in ("=>", "↦"))
                    or (self.pending[-1][1] == "|" and t in ("|", "//"))):
                out.append(self.pending.pop()[1])
                i += 1
                continue
            if t in OPEN:
                used = self._set_builder(toks, i, out) if t == "{" else 0
                if used:
                    i += used
                    continue
                self.depth += 1
                out.append("(" if t in "(⦃" else t)
                i += 1
                continue
            if t in CLOSE:
                self.depth = max(self.depth - 1, 0)
                self._pop()
                out.append(")" if t in ")⦄" else t)
                i += 1
                continue
            w = self.notation.get(t, t)
            if w == "∃" and i + 1 < n and toks[i + 1] == "!":  # `exists !` / `∃ !`
                w, i = "∃!", i + 1
            if w in BINDERS:
                i = self._binder(toks, i + 1, w, out)
                continue
            if isa and t == ":":
                out.append("∈")  # Isabelle ASCII membership (type ascription is `::`)
                i += 1
                continue
            out.append(self.word(t))
            i += 1

    def _set_builder(self, toks: list[str], i: int, out: list[str]) -> int:
        """`{x | P}`, `{x : T | P}`, `{x ∈ S | P}`, `{p : T // P}`, Isabelle `{x. P}`: bind x inside the
        braces; `{f x | x : T}` (image notation): bind the names after `|`. Tokens consumed, 0 if neither."""
        end = self._close(toks, i)
        isa = self.lang == "isabelle"
        if i + 2 < len(toks) and _is_ident(toks[i + 1]) and toks[i + 1] not in KEYWORDS:
            nxt = toks[i + 2]
            if (isa and nxt in (".", "::")) or nxt in ("|", "//") or (
                    nxt in (":", "∈", "in") and {"|", "//"} & set(toks[i + 3:end])):
                self.depth += 1
                out.append("{")
                out.append(self.bind_inner(toks[i + 1]))
                self.pending.append((self.depth, "|"))
                return 2
        depth, bar = 0, None
        for j in range(i + 1, end):
            if toks[j] in OPEN:
                depth += 1
            elif toks[j] in CLOSE:
                depth -= 1
            elif depth == 0 and toks[j] == "|":
                bar = j
        if bar is None or isa:
            return 0
        names, k = [], bar + 1
        while k < end and _is_ident(toks[k]) and toks[k] not in KEYWORDS:
            names.append(toks[k])
            k += 1
        if not names or (k < end and toks[k] not in (":", "∈", "in")):
            return 0
        self.depth += 1
        out.append("{")
        for x in names:
            self.bind_inner(x)
        return 1

    @staticmethod
    def _close(toks: list[str], i: int) -> int:
        depth = 0
        for j in range(i, len(toks)):
            if toks[j] in OPEN:
                depth += 1
            elif toks[j] in CLOSE:
                depth -= 1
                if depth == 0:
                    return j
        return len(toks)

    def _binder(self, toks: list[str], j: int, binder: str, out: list[str]) -> int:
        out.append(binder)
        n = len(toks)
        bound = False
        while j < n:
            t = toks[j]
            if _is_ident(t) and t not in KEYWORDS and self.notation.get(t, t) not in BINDERS and t not in ("in",):
                out.append(self.bind_inner(t))
                bound = True
                j += 1
                continue
            if t == "_":
                out.append("_")
                j += 1
                continue
            if t in ("(", "{", "⦃", "[", "⟨") and j + 1 < n:
                k = j + 1
                names = []
                while k < n and (toks[k] in ("_", ",") or _is_ident(toks[k]) and toks[k] not in KEYWORDS):
                    if toks[k] != ",":  # `fun (x, y) => …`
                        names.append(toks[k])
                    k += 1
                if names and k < n and toks[k] == CLOSE_OF.get(t):  # `∀ (x) (_ : P x), …`, `fun ⟨a, b⟩ ↦`
                    out += ["(", *[self.bind_inner(x) if x != "_" else "_" for x in names], ")"]
                    bound = True
                    j = k + 1
                    continue
                if names and k < n and self.notation.get(toks[k], toks[k]) in RELATIONS:  # `∀ (n ≤ 3)`, `∃ (U ∈ s)`
                    m = self._close(toks, j)
                    out.append("(")
                    out += [self.bind_inner(x) if x != "_" else "_" for x in names]
                    self.depth += 1
                    self.term(toks[k:m], out)
                    self.depth -= 1
                    out.append(")")
                    bound = True
                    j = m + 1
                    continue
                if names and k < n and toks[k] in (":", "::"):
                    m = self._close(toks, j)
                    out.append("(")
                    canon = [self.bind_inner(x) if x != "_" else "_" for x in names]
                    out += canon + [":"]
                    self.depth += 1
                    self.term(toks[k + 1:m], out)
                    self.depth -= 1
                    out.append(")")
                    bound = True
                    j = m + 1
                    continue
            break
        if bound:
            self.pending.append((self.depth, "↦" if binder == "λ" else ","))
        return j


def _split_groups(toks: list[Token]) -> tuple[list[list[str]], list[str]]:
    """Lean signature: top-level bracket groups before the `:` of the statement, and the conclusion."""
    groups, i, n = [], 0, len(toks)
    texts = [t.text for t in toks]
    while i < n:
        t = texts[i]
        if t == ":":
            return groups, texts[i + 1:]
        if t in OPEN:
            depth, j = 0, i
            while j < n:
                if texts[j] in OPEN:
                    depth += 1
                elif texts[j] in CLOSE:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            groups.append(texts[i:j + 1])
            i = j + 1
            continue
        # not a signature (e.g. a bare proposition): all of it is the conclusion
        return groups, texts[i:]
    return groups, []


def _isabelle_sections(toks: list[Token]) -> tuple[list[str], list[list[str]], list[str]]:
    """(fixed names, assumptions, conclusion) of an Isabelle theorem statement."""
    fixes, assumes, shows = [], [], []
    section, cur = None, []
    items: list[tuple[str, list[Token]]] = []
    for t in toks:
        if not t.inner and t.text in ISA_SECTIONS:
            if cur and not (len(cur) == 1 and cur[0].text == ":"):
                items.append((section or "shows", cur))
            if t.text != "and":
                section = t.text
            cur = []
            continue
        cur.append(t)
    if cur:
        items.append((section or "shows", cur))
    for sec, part in items:
        if sec == "fixes":
            names = []
            for t in part:
                if t.text == "::":
                    break
                if _is_ident(t.text) and not t.inner:
                    names.append(t.text)
            fixes.append((names, [t.text for t in part[len(names):]]))
        elif sec in ("assumes", "defines", "obtains", "if"):
            p = [t for t in part]
            if len(p) >= 2 and not p[0].inner and _is_ident(p[0].text) and p[1].text == ":":
                p = p[2:]  # label
            elif p and p[0].text == ":" and not p[0].inner:
                p = p[1:]
            assumes.append([t.text for t in p])
        else:
            p = [t for t in part]
            if len(p) >= 2 and not p[0].inner and _is_ident(p[0].text) and p[1].text == ":":
                p = p[2:]
            elif p and p[0].text == ":" and not p[0].inner:
                p = p[1:]
            shows += [t.text for t in p] + ["∧"]
    if shows:
        shows.pop()
    return fixes, assumes, shows


def canonical_decl(decl: Decl, lang: str, decl_names: tuple[str, ...] = ()) -> tuple[str, ...]:
    r = _Renamer(lang, decl_names)
    if lang == "isabelle":
        fixes, assumes, shows = _isabelle_sections(decl.body)
        var_part: list[str] = []
        for names, rest in fixes:
            var_part += [r.bind_var(x) for x in names]
            if rest:
                sub: list[str] = []
                r.term(rest, sub)
                var_part += sub
            var_part.append(";")
        hyps = []
        for a in assumes:
            sub = []
            r.depth = 1  # bound variables end with their assumption
            r.term(a, sub)
            r.depth = 0
            r._pop()
            hyps.append(tuple(sub))
        concl: list[str] = []
        r.term(shows, concl)
        return tuple(var_part + [t for h in sorted(hyps) for t in ("⊢", *h)] + [":"] + concl)
    groups, concl_toks = _split_groups(decl.body)
    parsed = []
    for g in groups:
        opener, inner = g[0], g[1:-1]
        k = 0
        names = []
        while k < len(inner) and _is_ident(inner[k]) and inner[k] not in KEYWORDS:
            names.append(inner[k])
            k += 1
        if not (names and k < len(inner) and inner[k] == ":"):  # `[Group G]`: an anonymous instance hypothesis
            names, k = [], -1
        parsed.append((opener, names, inner[k + 1:]))
    counts: dict[str, int] = {}  # mentions outside binder positions
    for t in [x for _, _, typ in parsed for x in typ] + concl_toks:
        head = t.partition(".")[0]
        counts[head] = counts.get(head, 0) + 1
    variables: list[str] = []
    hyps = []
    for opener, names, typ in parsed:
        used = any(counts.get(x, 0) > 0 for x in names)
        sub: list[str] = []
        if used:
            canon = [r.bind_var(x) for x in names]
            r.depth = 1
            r.term(typ, sub)
            r.depth = 0
            r._pop()
            variables += ["(" if opener != "[" else "[", *canon, ":", *sub, ")" if opener != "[" else "]"]
        else:
            r.depth = 1
            r.term(typ, sub)
            r.depth = 0
            r._pop()
            hyps.append(("[" if opener == "[" else "(", "_", ":", *sub, "]" if opener == "[" else ")"))
    concl: list[str] = []
    r.term(concl_toks, concl)
    return tuple(variables + [t for h in sorted(hyps) for t in h] + [":"] + concl)


def statements(text: str | None, lang: str | None = None) -> list[tuple[str, ...]]:
    """Canonical tokens of each theorem-like declaration in `text` (empty for no text)."""
    if not text or not text.strip():
        return []
    lang, decls = declarations(text, lang)
    names = tuple(sorted({d.name for d in decls if d.name}, key=len, reverse=True))
    out = []
    stated = THEOREM_LIKE if lang == "isabelle" else LEAN_STATEMENTS
    for d in decls:
        if d.keyword in stated:
            toks = canonical_decl(d, lang, names)
            if len(toks) >= MIN_STATEMENT:
                out.append(toks)
    return out


def canonical(text: str | None, lang: str | None = None) -> str:
    """The canonical form of a text's statements as one string ("" if it has none)."""
    return " ⏎ ".join(" ".join(s) for s in statements(text, lang))


def lang_of(formal_lang: str | None) -> str | None:
    """Which canonicaliser a record's `formal_lang` uses: isabelle, lean4 (also Lean 3), or None (not formal)."""
    if formal_lang is None:
        return None
    f = formal_lang.lower()
    if f.startswith("isabelle"):
        return "isabelle"
    if f.startswith("lean"):
        return "lean4"
    return None


# ----------------------------------------------------------------------------- matching
def edit_distance(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str], limit: int) -> int:
    """Levenshtein distance between token sequences, or `limit + 1` as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return min(prev[-1], limit + 1)


def _numbers(stmt: tuple[str, ...]) -> list[str]:
    return sorted(t for t in stmt if t[:1].isdigit())


@dataclass(frozen=True)
class CanonicalMatch:
    item_id: str
    kind: str
    """canonical (same canonical tokens) or near (within the edit-distance threshold)."""
    distance: int
    tokens: int
    """Length of the indexed statement, in canonical tokens."""


class CanonicalIndex:
    """Indexed statements; `match(statement)` finds an identical or near canonical form.

    Near: edit distance at most `near * len(item)` canonical tokens, for items of at least `min_tokens`
    tokens (shorter ones match only exactly), and the same numbers in both (`card G = 132` and `card G = 312`
    are different exercises, not an edited copy). Candidates are found by the pigeonhole rule: split into
    k + 1 pieces, an item within distance k shares one piece verbatim with the statement."""

    def __init__(self, near: float = 0.1, min_tokens: int = 12):
        if not 0 <= near < 1:
            raise ValueError(f"near threshold must be in [0, 1), got {near}")
        self.near, self.min_tokens = near, min_tokens
        self._exact: dict[tuple[str, ...], str] = {}
        self._items: list[tuple[str, tuple[str, ...], int]] = []
        self._sizes: dict[int, None] = {}  # piece sizes, in the order first indexed
        # the pieces of the items with one list of numbers: numbers -> size -> piece -> item indices; and per
        # (numbers, size) the statement lengths any such item can be near (len - k .. len + k)
        self._pieces: dict[tuple[str, ...], dict[int, dict[tuple[str, ...], list[int]]]] = {}
        self._span: dict[tuple[tuple[str, ...], int], tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._exact)

    def add(self, item_id: str, stmt: tuple[str, ...]) -> None:
        if not stmt or stmt in self._exact:
            return
        self._exact[stmt] = item_id
        k = int(self.near * len(stmt)) if len(stmt) >= self.min_tokens else 0
        if k == 0:
            return
        idx = len(self._items)
        self._items.append((item_id, stmt, k))
        numbers = tuple(_numbers(stmt))
        size = len(stmt) // (k + 1)
        for p in range(k + 1):
            piece = stmt[p * size:(p + 1) * size if p < k else len(stmt)]
            self._sizes.setdefault(len(piece))
            self._pieces.setdefault(numbers, {}).setdefault(len(piece), {}).setdefault(piece, []).append(idx)
            lo, hi = self._span.get((numbers, len(piece)), (len(stmt) - k, len(stmt) + k))
            self._span[numbers, len(piece)] = (min(lo, len(stmt) - k), max(hi, len(stmt) + k))

    def match(self, stmt: tuple[str, ...]) -> CanonicalMatch | None:
        """The indexed statement equal to `stmt`, else the nearest within its threshold (ties: the first found
        scanning piece sizes in the order indexed, then positions in `stmt`, then items in the order indexed).
        Only items with the same numbers and a length within their threshold of `stmt`'s are looked up: the
        others cannot be near."""
        hit = self._exact.get(stmt)
        if hit is not None:
            return CanonicalMatch(hit, "canonical", 0, len(stmt))
        if not self._items or len(stmt) < 2:
            return None
        numbers = tuple(_numbers(stmt))
        by_size = self._pieces.get(numbers)
        if by_size is None:
            return None
        seen: set[int] = set()
        best: CanonicalMatch | None = None
        n = len(stmt)
        for size in self._sizes:
            table = by_size.get(size)
            if table is None:
                continue
            lo, hi = self._span[numbers, size]
            if not lo <= n <= hi:
                continue
            for i in range(n - size + 1):
                for idx in table.get(stmt[i:i + size], ()):
                    if idx in seen:
                        continue
                    seen.add(idx)
                    item_id, item, k = self._items[idx]
                    d = edit_distance(stmt, item, k)
                    if d <= k and (best is None or d < best.distance):
                        best = CanonicalMatch(item_id, "near", d, len(item))
        return best
