"""Lean 4 and Lean 3 source -> declarations, from the text alone (no Lean toolchain).

A small lexer (nested block comments, doc and module comments, strings, raw strings, char
literals, unicode identifiers, «quoted» names) feeds a command splitter. A declaration is
`[docstring] [@[attrs]] [modifiers] keyword [name] signature (:= | where | '|') body`; its
statement is the exact source slice from the keyword to the end of the signature, so
`text[decl.start:decl.end] == decl.statement` always holds.

Command boundaries: a declaration keyword starts a command when it opens a line (or follows a
modifier, an attribute, a docstring or `... in`) and sits outside brackets (or at column 0,
which recovers from unclosed brackets). Other commands (`namespace`, `end`, `open`, ...) start
one when they open a line no deeper than the declaration they would end, so indented tactic
lines such as `open Classical in` stay inside the proof. Lean 3 `begin … end` and
`match … end` are tracked so their `end` does not close a namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bisect import bisect_right

from formal.source import Issue, line_starts

DECL_KEYWORDS = frozenset({
    "theorem", "lemma", "def", "abbrev", "abbreviation", "instance", "structure", "class", "inductive",
    "coinductive", "example", "axiom", "axioms", "opaque", "constant", "constants", "irreducible_def",
    "proof_wanted",
})
BODYLESS = frozenset({"axiom", "axioms", "opaque", "constant", "constants", "structure", "class", "inductive",
                      "class inductive", "coinductive", "proof_wanted"})
UNNAMED = frozenset({"example"})
MODIFIERS = frozenset({"private", "protected", "public", "noncomputable", "partial", "unsafe", "nonrec", "meta",
                       "local", "scoped"})
COMMANDS = frozenset({
    "import", "open", "namespace", "section", "end", "variable", "variables", "universe", "universes",
    "set_option", "attribute", "notation", "infix", "infixl", "infixr", "prefix", "postfix", "macro",
    "macro_rules", "syntax", "elab", "elab_rules", "declare_syntax_cat", "initialize", "builtin_initialize",
    "mutual", "deriving", "export", "run_cmd", "run_tac", "add_decl_doc", "library_note", "alias",
    "open_locale", "localized", "parameter", "parameters", "include", "omit", "assert_not_exists",
    "suppress_compilation", "restate_axiom", "register_simp_attr", "initialize_simps_projections",
    "compile_inductive%", "unseal", "seal", "register_option", "theory", "lemma_wanted", "module", "notation3",
    "binder_predicate", "add_aesop_rules", "declare_aesop_rule_sets", "simproc", "dsimproc", "simproc_decl",
    "grind_pattern", "recommended_spelling", "unif_hint", "declare_simp_like_tactic", "irreducible",
    "instance_wanted", "extend_docs", "attribute_set", "builtin_simproc", "scoped_notation",
})
_IDSTART = r"(?:(?![λΠΣ])[^\W\d]|[℀-⅏𝒜-𝟿])"
_IDREST = r"(?:(?![λΠΣ])[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]|[℀-⅏𝒜-𝟿])"
_PART = rf"(?:{_IDSTART}{_IDREST}*|«[^»\n]*»)"
_LEX = re.compile(rf"""
 \s*(?:
 (?P<lc>--[^\n]*)
|(?P<bc>/-)
|(?P<raw>r\#*")
|(?P<str>")
|(?P<chr>'(?:[^'\\\n]|\\(?:x[0-9a-fA-F]{{2}}|u[0-9a-fA-F]{{4}}|.))')
|(?P<id>\#?{_PART}(?:\.{_PART})*)
|(?P<num>0[xXbBoO][0-9a-fA-F_]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
|(?P<sym>:=|=>|<\|>|<\||\|\||\|>\.|\|>|@\[|\.\.)
|(?P<any>.)
|(?P<ws>$))
""", re.VERBOSE | re.DOTALL)
_COMMENT_DELIM = re.compile(r"/-|-/")
_STRING_END = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
OPEN = frozenset("([{⟨⦃⟦‹⁅")
CLOSE = frozenset(")]}⟩⦄⟧›⁆")


@dataclass(slots=True)
class Token:
    kind: str  # id num str chr sym open close doc mdoc
    start: int
    end: int
    text: str


@dataclass
class LeanDecl:
    kind: str
    """Declaration keyword: theorem, lemma, def, instance, structure, class inductive, ..."""
    name: str | None
    full_name: str | None
    """Name with the enclosing namespaces (`_root_.` names leave them out)."""
    statement: str
    start: int
    end: int
    """`text[start:end] == statement`: keyword through the end of the signature."""
    proof: str | None
    """Proof or body after `:=` (or from `where` / the first `|`); None for bodyless kinds."""
    line: int
    docstring: str | None = None
    attributes: list[str] = field(default_factory=list)
    modifiers: list[str] = field(default_factory=list)
    namespace: str = ""
    opens: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    termination: str | None = None
    """`termination_by` / `decreasing_by` clauses of the body, if any."""


@dataclass
class ModuleDoc:
    text: str
    start: int
    end: int
    line: int


@dataclass
class LeanFile:
    lang: str
    decls: list[LeanDecl]
    module_docs: list[ModuleDoc]
    imports: list[str]
    issues: list[Issue]


def lex(text: str, issues: list[Issue] | None = None, starts: list[int] | None = None) -> list[Token]:
    """Significant tokens (comments other than doc/module comments are dropped)."""
    starts = line_starts(text) if starts is None else starts
    toks: list[Token] = []
    n, i = len(text), 0
    issues = [] if issues is None else issues
    while i < n:
        m = _LEX.match(text, i)
        kind = m.lastgroup
        j = m.end()
        i = m.start(kind)  # leading whitespace is part of the match
        if kind in ("ws", "lc"):
            i = j
            continue
        if kind == "bc":
            depth, k = 1, j
            tk = "doc" if text.startswith("-", j) and not text.startswith("-/", j) else \
                "mdoc" if text.startswith("!", j) else None
            if tk:
                k += 1
            for d in _COMMENT_DELIM.finditer(text, k):
                depth += 1 if d.group() == "/-" else -1
                if depth == 0:
                    k = d.end()
                    break
            else:
                eol = text.find("\n", i)
                eol = n if eol == -1 else eol
                issues.append(Issue(bisect_right(starts, i),
                                    "block comment '/-' never closed; treated as ending at this line"))
                i = eol
                continue
            if tk:
                toks.append(Token(tk, i, k, text[i:k]))
            i = k
            continue
        if kind in ("str", "raw"):
            if kind == "raw":
                hashes = j - i - 2
                close = text.find('"' + "#" * hashes, j)
                end = -1 if close == -1 else close + 1 + hashes
            else:
                se = _STRING_END.match(text, j)
                end = se.end() if se else -1
            if end == -1:
                eol = text.find("\n", i)
                end = n if eol == -1 else eol
                while end > i + 1 and text[end - 1].isspace():
                    end -= 1
                issues.append(Issue(bisect_right(starts, i), "string literal never closed; treated as ending at this line"))
            toks.append(Token("str", i, end, text[i:end]))
            i = end
            continue
        tok = m.group(kind)
        if kind == "any":
            kind = "open" if tok in OPEN else "close" if tok in CLOSE else "sym"
        toks.append(Token(kind, i, j, tok))
        i = j
    return toks


def _doc_text(raw: str) -> str:
    body = raw[3:-2] if raw.endswith("-/") else raw[3:]
    lines = body.strip("\n").splitlines()
    indent = min((len(s) - len(s.lstrip()) for s in lines[1:] if s.strip()), default=0)
    return "\n".join([lines[0].strip()] + [s[indent:].rstrip() for s in lines[1:]]).strip() if lines else ""


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += ch in OPEN
        depth -= ch in CLOSE
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


class _Splitter:
    def __init__(self, text: str, lang: str, issues: list[Issue]):
        self.text, self.lang, self.issues = text, lang, issues
        self.starts = line_starts(text)
        self.toks = lex(text, issues, self.starts)
        self.decls: list[LeanDecl] = []
        self.module_docs: list[ModuleDoc] = []
        self.imports: list[str] = []
        self.scopes: list[tuple[str, str, int, int]] = []  # (kind, name, n_opens, n_vars)
        self.opens: list[str] = []
        self.variables: list[str] = []
        self.local_opens: list[str] = []
        self.local_variables: list[str] = []

    def line(self, pos: int) -> int:
        return bisect_right(self.starts, pos)

    def first_col(self, i: int) -> tuple[bool, int]:
        """(token i is the first token on its line, its column)."""
        pos = self.toks[i].start
        ls = self.starts[bisect_right(self.starts, pos) - 1]
        return i == 0 or self.toks[i - 1].end <= ls, pos - ls

    # -- command boundaries ------------------------------------------------------------------
    def decl_head(self, i: int) -> int | None:
        """If a declaration begins at token i (doc/attrs/modifiers/keyword), the keyword's index."""
        j = self.after_prefix(i)
        return j if j is not None and self.toks[j].kind == "id" and self.toks[j].text in DECL_KEYWORDS else None

    def command_head(self, i: int) -> int | None:
        """If a non-declaration command follows doc/attrs/modifiers at token i (`@[expose] public section`,
        `/-- doc -/ add_decl_doc x`, `@[simp] alias ...`), the command word's index."""
        j = self.after_prefix(i)
        return j if j is not None and j > i and self.toks[j].text in COMMANDS | {"theory"} else None

    def after_prefix(self, i: int) -> int | None:
        """Index of the first token after a docstring, attributes and modifiers starting at token i."""
        toks, j = self.toks, i
        if toks[j].kind == "doc":
            j += 1
        while j < len(toks):
            t = toks[j]
            if t.text == "@[":
                depth = 1
                j += 1
                while j < len(toks) and depth:
                    depth += (toks[j].kind == "open" or toks[j].text == "@[") - (toks[j].kind == "close")
                    j += 1
            elif t.kind == "id" and t.text in MODIFIERS:
                j += 1
                if t.text == "scoped" and j < len(toks) and toks[j].text == "[":  # scoped[NS] notation ...
                    while j < len(toks) and toks[j].text != "]":
                        j += 1
                    j += 1
            else:
                return j
        return None

    def prefix_ok(self, i: int) -> bool:
        """Token i may start a command: it opens its line, or follows `in` / a modifier / an attribute."""
        first, _ = self.first_col(i)
        if first or i == 0:
            return True
        prev = self.toks[i - 1]
        return prev.kind == "doc" or prev.text in ("in", "]") or prev.text in MODIFIERS

    def split(self) -> None:
        toks = self.toks
        depth = 0  # bracket depth inside the current command
        block = 0  # Lean 3 begin/match ... end nesting
        cur: int | None = None  # start index of the current command
        cur_col = 0
        cur_is_decl = False
        i = 0
        while i < len(toks):
            t = toks[i]
            starts = False
            if t.kind in ("doc", "id", "mdoc") or t.text == "@[":
                first, col = self.first_col(i)
            else:
                first, col = False, 0
            if t.kind in ("doc", "id", "sym") and (t.kind != "sym" or t.text == "@["):
                if t.kind == "doc" or t.text == "@[" or t.text in MODIFIERS or t.text in DECL_KEYWORDS:
                    kw = self.decl_head(i)
                    if kw is not None and (depth == 0 or (first and col == 0)) and self.prefix_ok(i) and \
                            (block == 0 or (first and col == 0)) and not (i and toks[i - 1].text == "deriving"):
                        starts = True
                    elif kw is None and first and depth == 0 and block == 0 and self.command_head(i) is not None and \
                            (cur is None or not cur_is_decl or col <= cur_col):
                        starts = True  # noncomputable section, @[expose] public section, /-- d -/ add_decl_doc
                if not starts and t.kind == "id" and first and depth == 0 and block == 0 and \
                        (t.text in COMMANDS or (t.text.startswith("#") and len(t.text) > 1)) and \
                        (cur is None or not cur_is_decl or col <= cur_col) and \
                        (t.text != "deriving" or (i + 1 < len(toks) and toks[i + 1].text == "instance")):
                    starts = True  # (`deriving Repr` after a structure is a clause; `deriving instance` a command)
            elif t.kind == "mdoc" and first and (cur is None or not cur_is_decl or col <= cur_col):
                starts = True
            if starts:
                if cur is not None:
                    self.finish(cur, i)
                cur, cur_col, depth, block = i, col, 0, 0
                cur_is_decl = t.kind != "mdoc" and self.decl_head(i) is not None
                if t.kind == "mdoc":
                    self.module_docs.append(ModuleDoc(_doc_text(t.text), t.start, t.end, self.line(t.start)))
                    cur = None
                kw = self.decl_head(i) if cur_is_decl else None
                i = i + 1 if kw is None else kw + 1
                continue
            if t.kind == "open" or t.text == "@[":
                depth += 1
            elif t.kind == "close":
                depth = max(0, depth - 1)
            elif self.lang == "lean3" and t.kind == "id":
                if t.text in ("begin", "match"):
                    block += 1
                elif t.text == "end" and block:
                    block -= 1
            i += 1
        if cur is not None:
            self.finish(cur, len(toks))

    # -- one command ---------------------------------------------------------------------------
    def finish(self, a: int, b: int) -> None:
        kw = self.decl_head(a)
        if kw is not None:
            self.declaration(a, kw, b)
            self.local_opens, self.local_variables = [], []
            return
        toks = self.toks
        h = self.command_head(a)
        if h is not None and h < b:
            a = h
        head = toks[a].text
        args = [t.text for t in toks[a + 1:b]]
        if head == "import":
            if b > a + 1:
                self.imports += self.text[toks[a + 1].start:toks[b - 1].end].split()
        elif head in ("namespace", "section", "mutual"):
            name = args[0] if args and head != "mutual" else ""
            self.scopes.append((head, name, len(self.opens), len(self.variables)))
        elif head == "end":
            if self.scopes:
                _, _, no, nv = self.scopes.pop()
                del self.opens[no:], self.variables[nv:]
        elif head in ("open", "open_locale"):
            names = [x for x in args if x not in ("scoped", "hiding", "renaming", "in", "→", "(", ")")]
            if args and args[-1] == "in":
                self.local_opens = names
            else:
                self.opens += names
        elif head in ("variable", "variables", "parameter", "parameters"):
            if b > a + 1:
                body = self.text[toks[a + 1].start:toks[b - 1].end]
                if toks[b - 1].text == "in":  # `variable ... in` binds for the next declaration only
                    self.local_variables = [body[:-2].rstrip()]
                else:
                    self.variables.append(body)

    def namespace(self) -> str:
        return ".".join(n for k, n, _, _ in self.scopes if k == "namespace" and n)

    def declaration(self, a: int, kw: int, b: int) -> None:
        toks, text = self.toks, self.text
        doc = _doc_text(toks[a].text) if toks[a].kind == "doc" else None
        attrs: list[str] = []
        mods: list[str] = []
        j = a + (doc is not None)
        while j < kw:
            if toks[j].text == "@[":
                k, depth = j + 1, 1
                while k < kw and depth:
                    depth += (toks[k].kind == "open" or toks[k].text == "@[") - (toks[k].kind == "close")
                    k += 1
                attrs += _split_top(text[toks[j].end:toks[k - 1].start])
                j = k
            else:
                mods.append(toks[j].text)
                j += 1
        kind = toks[kw].text
        k = kw + 1
        if kind == "class" and k < b and toks[k].text in ("inductive", "abbrev"):
            kind = f"class {toks[k].text}"
            k += 1
        line = self.line(toks[kw].start)
        if kind == "instance" and k < b and toks[k].text == "(" and k + 1 < b and toks[k + 1].text == "priority":
            depth = 0
            while k < b:
                depth += (toks[k].kind == "open") - (toks[k].kind == "close")
                k += 1
                if depth == 0:
                    break
        name = None
        if kind not in UNNAMED and k < b and toks[k].kind == "id" and toks[k].text not in ("where",):
            name = toks[k].text
            k += 1
        # signature terminator
        depth, term = 0, None
        for m in range(k, b):
            t = toks[m]
            if t.kind == "open" or t.text == "@[":
                depth += 1
            elif t.kind == "close":
                depth -= 1
            elif depth == 0 and (t.text == ":=" or (t.kind == "id" and t.text == "where")):
                term = m
                break
            elif depth == 0 and t.text == "|" and self.alternative(m, b, kind):
                term = m
                break
        label = f"{kind} {name}" if name else kind
        if term is None:
            if depth > 0:
                self.issues.append(Issue(line, f"{label}: bracket never closed in the signature (truncated?); skipped"))
                return
            if kind not in BODYLESS:
                self.issues.append(Issue(line, f"{label}: no ':=', 'where' or '|' body (truncated?); skipped"))
                return
            last = b - 1
        else:
            last = term - 1
        if last < kw:
            self.issues.append(Issue(line, f"{label}: empty declaration; skipped"))
            return
        start, end = toks[kw].start, toks[last].end
        proof = termination = None
        if term is not None:
            pstart = toks[term].end if toks[term].text == ":=" else toks[term].start
            pend = toks[b - 1].end if b - 1 >= term else pstart
            proof = text[pstart:pend].strip() if pend > pstart else ""
            bdepth, clauses = 0, []
            for m in range(term + 1, b):
                t = toks[m]
                bdepth += (t.kind == "open") - (t.kind == "close")
                if bdepth == 0 and t.text in ("termination_by", "decreasing_by"):
                    clauses.append(m)
            if bdepth > 0:
                self.issues.append(Issue(line, f"{label}: bracket never closed in the body (truncated?); kept the statement"))
            if clauses:
                termination = text[toks[clauses[0]].start:toks[b - 1].end]
        ns = self.namespace()
        full = None
        if name:
            full = name[len("_root_."):] if name.startswith("_root_.") else f"{ns}.{name}" if ns else name
        self.decls.append(LeanDecl(
            kind=kind, name=name, full_name=full, statement=text[start:end], start=start, end=end, proof=proof,
            line=line, docstring=doc, attributes=attrs, modifiers=mods, namespace=ns,
            opens=self.opens + self.local_opens, variables=self.variables + self.local_variables,
            termination=termination))

    def alternative(self, m: int, b: int, kind: str) -> bool:
        """Is the `|` at token m the first match alternative / constructor (not `|x|`)?"""
        if kind in ("inductive", "class inductive", "coinductive"):
            return True
        first, _ = self.first_col(m)
        if not first:
            return False
        depth, toks = 0, self.toks
        for k in range(m + 1, b):
            t = toks[k]
            depth += (t.kind == "open") - (t.kind == "close")
            if depth == 0 and t.text in ("=>", ":="):
                return True
            if depth == 0 and t.text == "|":
                return False
        return False


def parse_lean(text: str, lang: str | None = None) -> LeanFile:
    """Split Lean source into declarations. `lang` is lean4 or lean3 (detected when None)."""
    from formal.detect import lean_version

    lang = lang or lean_version(text)
    issues: list[Issue] = []
    sp = _Splitter(text, lang, issues)
    sp.split()
    return LeanFile(lang=lang, decls=sp.decls, module_docs=sp.module_docs, imports=sp.imports, issues=issues)
