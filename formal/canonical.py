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
from bisect import bisect_left
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
_TOKEN_PARTS = {"sym": r"\\<\^?[A-Za-z]+>", "num": r"\d+(?:\.\d+)?", "ident": _IDENT,
                "op": "|".join(re.escape(o) for o in sorted(_OPS, key=len, reverse=True)),
                "tvar": r"'[A-Za-z]\w*", "ch": r"\S"}
_TOKEN = re.compile("|".join(f"(?P<{k}>{v})" for k, v in _TOKEN_PARTS.items()))
_TOKEN_TEXT = re.compile("|".join(f"(?:{v})" for v in _TOKEN_PARTS.values()))
"""`_TOKEN` without groups: `findall` gives the token texts."""
_TOKEN_GAP = re.compile(r"(\s*)(" + _TOKEN_TEXT.pattern + ")")
"""(whitespace before, token): every non-space character is in some token, so a token starts a line iff it
is the first one or the whitespace before it has a newline. (Regex whitespace is `str.isspace`.)"""

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


def _lex(text: str, lang: str) -> tuple[list[str], list[bool] | None]:
    """`lex` as (token texts, inner flags); the flags are None for Lean (all inner)."""
    if lang != "isabelle":
        return _TOKEN_TEXT.findall(text), None
    text = _ISA_SYM.sub(lambda m: m.group(0) if m.group(1) not in _ISA_SYMBOLS  # `\<i>` stays one token
                        else _ISA_SYMBOLS[m.group(1)] if m.group(1) in _GREEK
                        else f" {_ISA_SYMBOLS[m.group(1)]} ", text)
    texts: list[str] = []
    inners: list[bool] = []
    inner = False
    for gap, t in _TOKEN_GAP.findall(text.rstrip()):  # (trailing whitespace would cost quadratic time)
        if inner and t in ISA_DECL and (not texts or "\n" in gap):
            inner = False  # a declaration at the start of a line: an unbalanced quote before it ends there
        if t in ('"', "‹", "›"):
            inner = t != "›" and (t == "‹" or not inner)
        texts.append(t)
        inners.append(inner)
    return texts, inners


def lex(text: str, lang: str) -> list[Token]:
    """Tokens of a comment-free text; Isabelle symbols become unicode, quotes mark inner syntax."""
    texts, inners = _lex(text, lang)
    if inners is None:
        return [Token(t) for t in texts]
    return [Token(t, i) for t, i in zip(texts, inners)]


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
    lang, decls = _declarations(text, lang)
    if lang != "isabelle":
        return lang, [Decl(kw, name, [Token(t) for t in texts]) for kw, name, texts, _ in decls]
    return lang, [Decl(kw, name, [Token(t, i) for t, i in zip(texts, inners)]) for kw, name, texts, inners in decls]


_RawDecl = tuple[str, "str | None", list[str], "list[bool] | None"]
"""A `Decl` as (keyword, name, body token texts, body inner flags or None for Lean)."""


_LEAN_STOP = {":=", "where", "begin"}
_LEAN_MARKS = LEAN_DECL | _LEAN_STOP | OPEN.keys() | CLOSE.keys()
_ISA_MARKS = ISA_DECL | ISA_STOP | OPEN.keys() | CLOSE.keys()


def _declarations(text: str, lang: str | None) -> tuple[str, list[_RawDecl]]:
    lang = "isabelle" if (lang or detect_lang(text)) == "isabelle" else "lean4"
    isa = lang == "isabelle"
    toks, inner = _lex(strip_comments(text, lang), lang)
    kws = ISA_DECL if isa else LEAN_DECL
    stop = ISA_STOP if isa else _LEAN_STOP
    marks = _ISA_MARKS if isa else _LEAN_MARKS
    # declaration keywords, and where proofs may start: Isabelle at an outer proof keyword, Lean at `:=` /
    # `where` / `begin` outside brackets (a declaration starts outside them, so its body's depth is the same)
    starts, stops = [], []
    depth = 0
    for i in [i for i, t in enumerate(toks) if t in marks]:  # brackets and the keywords
        t = toks[i]
        if t in OPEN:
            depth += 1
        elif t in CLOSE:
            if depth:
                depth -= 1
        else:
            if t in kws and not depth and (not isa or not inner[i]) and (i == 0 or toks[i - 1] not in (".", "@")):
                starts.append(i)
            if t in stop and (not inner[i] if isa else not depth):
                stops.append(i)
    if not starts:
        if not toks:
            return lang, []
        end = stops[0] if stops else len(toks)
        return lang, [("theorem", None, toks[:end], inner[:end] if isa else None)]
    out = []
    stated = THEOREM_LIKE if isa else LEAN_STATEMENTS
    for a, b in zip(starts, starts[1:] + [len(toks)]):
        kw = toks[a]
        a += 1  # the body is toks[a:b]
        name = None
        if a < b and _is_ident(toks[a]) and toks[a] not in KEYWORDS and kw != "example" and (not isa or not inner[a]):
            name = toks[a]
            a += 1
        if isa and a < b and toks[a] == "[":  # lemma foo [simp]:
            try:
                a = toks.index("]", a, b) + 1
            except ValueError:
                pass
        if kw in stated:  # up to the first proof start in the body
            k = bisect_left(stops, a)
            if k < len(stops) and stops[k] < b:
                b = stops[k]
        out.append((kw, name, toks[a:b], inner[a:b] if isa else None))
    return lang, out


# ----------------------------------------------------------------------------- canonicalising
@dataclass
class _Bound:
    name: str
    canon: str
    depth: int
    inner: bool


_PLAIN: dict[int, dict[str, str]] = {id(NOTATION): {}, id(ISA_NOTATION): {}}
"""Per notation table: memoised `_Renamer.word` of words neither bound nor built on a declaration's name
(they depend on nothing else)."""
_TERMINATORS = {",", ".", "=>", "↦", "|", "//"}


def _special(notation: dict[str, str]) -> frozenset[str]:
    """Tokens `_Renamer.term` treats other than as a word (a superset: the rest go straight to `word`)."""
    return frozenset(DROP | OPEN.keys() | CLOSE.keys() | _TERMINATORS | {":"} | BINDERS
                     | {k for k, v in notation.items() if v in BINDERS})


_SPECIAL = {id(NOTATION): _special(NOTATION), id(ISA_NOTATION): _special(ISA_NOTATION)}


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
        self.isa = self.lang == "isabelle"
        self.notation = ISA_NOTATION if self.isa else NOTATION
        self._plain = _PLAIN[id(self.notation)]
        self._special = _SPECIAL[id(self.notation)]
        self._names: dict[str, tuple[int, str]] = {}
        """Bound name -> (position in env, canonical name) of its last binding (updated in place)."""
        self._reindex()

    def _reindex(self) -> None:
        self._names.clear()
        self._names.update({b.name: (k, b.canon) for k, b in enumerate(self.env)})
        self._n_inner = sum(b.inner for b in self.env)

    # --- names
    def bind_var(self, name: str) -> str:
        self.n_vars += 1
        canon = f"v{self.n_vars}"
        self._names[name] = (len(self.env), canon)
        self.env.append(_Bound(name, canon, -1, False))
        return canon

    def bind_inner(self, name: str) -> str:
        self._n_inner += 1
        canon = f"x{self._n_inner}"
        self._names[name] = (len(self.env), canon)
        self.env.append(_Bound(name, canon, self.depth, True))
        return canon

    def word(self, t: str) -> str:
        names = self._names
        if names:  # the last binding of `t`, or of `d` in `d.den` (whichever is later)
            b = names.get(t)
            if "." in t:
                head, _, rest = t.partition(".")
                h = names.get(head)
                if h is not None and (b is None or h[0] > b[0]):
                    return h[1] + "." + rest.lower().replace("_", "")
            if b is not None:
                return b[1]
        if t in self.notation:
            return self.notation[t]
        if t.startswith(self.decl_names):
            for d in self.decl_names:
                if t == d:
                    return "δ"
                if t.startswith(d) and len(t) > len(d) and t[len(d)] in "_.'":
                    return "δ" + t[len(d):].lower().replace("_", "")
        return self._plain_word(t)

    def _plain_word(self, t: str) -> str:
        """`word` of a word neither bound nor built on a declaration's name (memoised)."""
        w = self._plain.get(t)
        if w is None:
            if len(self._plain) > 200_000:
                self._plain.clear()
            w = self._plain[t] = self._plain_word_uncached(t)
        return w

    def _plain_word_uncached(self, t: str) -> str:
        w = self.notation.get(t)
        if w is not None:
            return w
        if _is_ident(t) and t not in KEYWORDS:
            low = t.lower().replace("_", "")
            if low.endswith("ˣ"):  # units: `ℤˣ` = `Intˣ`
                return self.notation.get(low[:-1], low[:-1]) + "ˣ"
            return self.notation.get(low, low)
        return t

    def _pop(self) -> None:
        """Drop the bindings and pending terminators deeper than the current depth."""
        depth = self.depth
        if self._n_inner:
            env = [b for b in self.env if not b.inner or b.depth <= depth]
            if len(env) != len(self.env):
                self.env = env
                self._reindex()
        if self.pending:
            self.pending = [p for p in self.pending if p[0] <= depth]

    # --- terms
    def term(self, toks: list[str], out: list[str]) -> None:
        i, n = 0, len(toks)
        isa = self.isa
        special, word, append = self._special, self.word, out.append
        names, decl_names, plain = self._names, self.decl_names, self._plain
        while i < n:
            t = toks[i]
            if t not in special:  # a word (the common case); inlined `word` when not bound or declared
                if (names and (t in names or "." in t)) or t.startswith(decl_names):
                    append(word(t))
                else:
                    w = plain.get(t)
                    append(w if w is not None else self._plain_word(t))
                i += 1
                continue
            if t in DROP:
                i += 1
                continue
            pending = self.pending
            if pending and pending[-1][0] == self.depth and (
                    t == "," or (isa and t == ".") or (not isa and pending[-1][1] == "↦" and t in ("=>", "↦"))
                    or (pending[-1][1] == "|" and t in ("|", "//"))):
                append(pending.pop()[1])
                i += 1
                continue
            if t in OPEN:
                used = self._set_builder(toks, i, out) if t == "{" else 0
                if used:
                    i += used
                    continue
                self.depth += 1
                append("(" if t in "(⦃" else t)
                i += 1
                continue
            if t in CLOSE:
                self.depth = max(self.depth - 1, 0)
                self._pop()
                append(")" if t in ")⦄" else t)
                i += 1
                continue
            w = self.notation.get(t, t)
            if w == "∃" and i + 1 < n and toks[i + 1] == "!":  # `exists !` / `∃ !`
                w, i = "∃!", i + 1
            if w in BINDERS:
                i = self._binder(toks, i + 1, w, out)
                continue
            if isa and t == ":":
                append("∈")  # Isabelle ASCII membership (type ascription is `::`)
                i += 1
                continue
            append(word(t))
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


def _split_groups(texts: list[str]) -> tuple[list[list[str]], list[str]]:
    """Lean signature: top-level bracket groups before the `:` of the statement, and the conclusion."""
    groups, i, n = [], 0, len(texts)
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


def _isabelle_sections(texts: list[str], inner: list[bool]) -> tuple[list, list[list[str]], list[str]]:
    """(fixes as (names, rest), assumptions, conclusion) of an Isabelle theorem statement."""
    fixes, assumes, shows = [], [], []
    section, cur, cur_inner = None, [], []
    items: list[tuple[str, list[str], list[bool]]] = []
    for t, inn in zip(texts, inner):
        if not inn and t in ISA_SECTIONS:
            if cur and not (len(cur) == 1 and cur[0] == ":"):
                items.append((section or "shows", cur, cur_inner))
            if t != "and":
                section = t
            cur, cur_inner = [], []
            continue
        cur.append(t)
        cur_inner.append(inn)
    if cur:
        items.append((section or "shows", cur, cur_inner))
    for sec, part, part_inner in items:
        if sec == "fixes":
            names = []
            for t, inn in zip(part, part_inner):
                if t == "::":
                    break
                if _is_ident(t) and not inn:
                    names.append(t)
            fixes.append((names, part[len(names):]))
            continue
        if len(part) >= 2 and not part_inner[0] and _is_ident(part[0]) and part[1] == ":":
            part = part[2:]  # label
        elif part and part[0] == ":" and not part_inner[0]:
            part = part[1:]
        if sec in ("assumes", "defines", "obtains", "if"):
            assumes.append(part)
        else:
            shows += part + ["∧"]
    if shows:
        shows.pop()
    return fixes, assumes, shows


def canonical_decl(decl: Decl, lang: str, decl_names: tuple[str, ...] = ()) -> tuple[str, ...]:
    texts = [t.text for t in decl.body]
    return _canonical_decl(texts, [t.inner for t in decl.body] if lang == "isabelle" else None, lang, decl_names)


def _canonical_decl(texts: list[str], inner: list[bool] | None, lang: str,
                    decl_names: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`canonical_decl` of a body given as token texts and (Isabelle) inner flags."""
    r = _Renamer(lang, decl_names)
    if lang == "isabelle":
        fixes, assumes, shows = _isabelle_sections(texts, inner)
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
    groups, concl_toks = _split_groups(texts)
    parsed = []
    for g in groups:
        opener, inner_toks = g[0], g[1:-1]
        k = 0
        names = []
        while k < len(inner_toks) and _is_ident(inner_toks[k]) and inner_toks[k] not in KEYWORDS:
            names.append(inner_toks[k])
            k += 1
        if not (names and k < len(inner_toks) and inner_toks[k] == ":"):  # `[Group G]`: an anonymous instance hypothesis
            names, k = [], -1
        parsed.append((opener, names, inner_toks[k + 1:]))
    # heads of the names mentioned outside binder positions
    mentioned = set(concl_toks)
    for _, _, typ in parsed:
        mentioned.update(typ)
    mentioned = {t.partition(".")[0] if "." in t else t for t in mentioned}
    variables: list[str] = []
    hyps = []
    for opener, names, typ in parsed:
        used = any(x in mentioned for x in names)
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
    lang, decls = _declarations(text, lang)
    names = tuple(sorted({name for _, name, _, _ in decls if name}, key=len, reverse=True))
    out = []
    stated = THEOREM_LIKE if lang == "isabelle" else LEAN_STATEMENTS
    for kw, _, texts, inner in decls:
        if kw in stated:
            toks = _canonical_decl(texts, inner, lang, names)
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
