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
`match … end` are tracked so their `end` does not close a namespace; `end X` naming the open
namespace or section closes it however it is indented.

Signature end: `let`/`have` (Lean 4 also `letI`/`haveI`) in a statement keep their own `:=` (Lean 3:
every `:=` up to `in`); `match … with` arms in a statement are not the body's; an arm may start on
the signature line (`→ T | pat => e`) and carry several patterns (`| .a | .b => e`); docstrings of
constructors open the body; Lean 3's empty match (`… ≠ [].`) is a body. Lean 3 `mutual def a, b
with a : T … with b : U …` gives one declaration per member. Anonymous Lean 4 instances get Lean's
own name (`instInhabitedPoint`, marked `name_derived`) where the text alone determines it.
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
_TYPE_KINDS = frozenset({"structure", "class", "inductive", "class inductive", "abbrev", "def"})
_LET4 = frozenset({"let", "letI", "have", "haveI"})  # in a Lean 4 signature, each takes the next `:=`
_LET3 = frozenset({"let"})  # in Lean 3, `let` takes every `:=` up to its `in`
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
    name_derived: bool = False
    """The name is not in the source: Lean 4's own name for this anonymous instance, derived here."""


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


def _capitalize(s: str) -> str:
    """Lean's `String.capitalize`: the first character upper-cased if it is an ASCII letter."""
    return s[0].upper() + s[1:] if s and "a" <= s[0] <= "z" else s


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
        self.declared: dict[str, bool] = {}  # full names declared so far -> a type without parameters
        self.no_alt_until = -1  # `|` tokens before this index are known not to start a body
        self.suffixes: dict[tuple[str, str], int] = {}  # last `_n` given to a derived instance name

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
                if not starts and t.text == "end" and first and self.ends_scope(i):
                    starts = True  # `end name` of the open namespace/section, however indented
                elif not starts and t.kind == "id" and first and depth == 0 and block == 0 and \
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
                cur_is_decl = t.kind != "mdoc" and (self.decl_head(i) is not None or self.mutual3(i) is not None)
                if t.kind == "mdoc":
                    self.module_docs.append(ModuleDoc(_doc_text(t.text), t.start, t.end, self.line(t.start)))
                    cur = None
                kw = self.decl_head(i) if cur_is_decl else None
                if kw is None and t.kind != "mdoc":
                    kw = self.command_head(i)  # past a prefix: `/-- d -/ meta mutual def` is one command
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

    def mutual3(self, i: int) -> int | None:
        """If a Lean 3 `[doc] [attrs] [modifiers] mutual def a, b …` starts at token i, the index of `mutual`.
        (Lean 4's `mutual` stands alone on its line, and its declarations follow as commands.)"""
        j = self.after_prefix(i)
        toks = self.toks
        if j is None or toks[j].text != "mutual" or j + 1 >= len(toks) or toks[j + 1].text not in DECL_KEYWORDS:
            return None
        return None if self.first_col(j + 1)[0] else j

    def mutual_block(self, a: int, m: int, b: int) -> None:
        """Lean 3 `mutual def a, b [shared binders] with a : T | … with b : U | …`: one declaration per
        member, its statement `a : T` (from the member's name), the shared binders among its variables, the
        block's docstring (which in mathlib documents the members together) its docstring."""
        toks, text = self.toks, self.text
        doc, attrs, mods = self.prefix(a, m)
        kind = toks[m + 1].text
        line = self.line(toks[m].start)
        names, j = [], m + 2
        while j < b and toks[j].kind == "id":
            names.append(toks[j].text)
            j += 1
            if j < b and toks[j].text == ",":
                j += 1
            else:
                break
        members, depth, block, known = [], 0, 0, set(names)
        for w in range(j, b):
            t = toks[w]
            if t.kind == "open":
                depth += 1
            elif t.kind == "close":
                depth -= 1
            elif t.kind == "id" and t.text in ("begin", "match"):
                block += 1
            elif t.kind == "id" and t.text == "end" and block:
                block -= 1
            elif t.text == "with" and depth == 0 and block == 0 and w + 1 < b and toks[w + 1].text in known and \
                    self.first_col(w)[0]:
                members.append(w)
        label = f"mutual {kind} {', '.join(names)}"
        if not members:
            self.issues.append(Issue(line, f"{label}: no `with name : type` member found; skipped"))
            return
        shared = text[toks[j].start:toks[members[0] - 1].end] if members[0] > j else ""
        for w, e in zip(members, members[1:] + [b]):
            self.emit(kind, toks[w + 1].text, w + 1, w + 2, e, doc, attrs, mods + ["mutual"],
                      [shared] if shared else [])
        found = {toks[w + 1].text for w in members}
        missing = [n for n in names if n not in found]
        if missing:
            self.issues.append(Issue(line, f"{label}: no `with` member for {', '.join(missing)}; skipped"))

    def ends_scope(self, i: int) -> bool:
        """Token i is `end X` with X, on the same line, the name of the innermost open namespace/section."""
        toks = self.toks
        if not self.scopes or i + 1 >= len(toks) or toks[i + 1].kind != "id":
            return False
        name = self.scopes[-1][1]
        nxt = toks[i + 1]
        return bool(name) and nxt.text == name and "\n" not in self.text[toks[i].end:nxt.start]

    # -- one command ---------------------------------------------------------------------------
    def finish(self, a: int, b: int) -> None:
        kw = self.decl_head(a)
        if kw is not None:
            self.declaration(a, kw, b)
            self.local_opens, self.local_variables = [], []
            return
        toks = self.toks
        m = self.mutual3(a)
        if m is not None and m + 1 < b:
            self.mutual_block(a, m, b)
            self.local_opens, self.local_variables = [], []
            return
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

    def prefix(self, a: int, kw: int) -> tuple[str | None, list[str], list[str]]:
        """(docstring, attributes, modifiers) of the tokens a..kw before a declaration keyword."""
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
        return doc, attrs, mods

    def declaration(self, a: int, kw: int, b: int) -> None:
        toks = self.toks
        doc, attrs, mods = self.prefix(a, kw)
        kind = toks[kw].text
        k = kw + 1
        if kind == "class" and k < b and toks[k].text in ("inductive", "abbrev"):
            kind = f"class {toks[k].text}"
            k += 1
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
        self.emit(kind, name, kw, k, b, doc, attrs, mods)

    def emit(self, kind: str, name: str | None, first: int, k: int, b: int, doc: str | None, attrs: list[str],
             mods: list[str], variables: list[str] = ()) -> None:
        """Record the declaration whose statement starts at token `first` and whose signature (after the
        name) starts at token k; its command ends before token b."""
        toks, text = self.toks, self.text
        line = self.line(toks[first].start)
        term, depth, pending = self.terminator(k, b, kind)
        label = f"{kind} {name}" if name else kind
        if term is None:
            if depth > 0:
                self.issues.append(Issue(line, f"{label}: bracket never closed in the signature (truncated?); skipped"))
                return
            if pending:
                self.issues.append(Issue(line, f"{label}: a `let`/`have` in the signature has no ':=' and the "
                                               f"declaration has no body (truncated?); skipped"))
                return
            if kind not in BODYLESS:
                self.issues.append(Issue(line, f"{label}: no ':=', 'where' or '|' body (truncated?); skipped"))
                return
            last = b - 1
        else:
            last = term - 1
        while last > first and toks[last].kind == "doc":  # a constructor's or field's docstring opens the body
            last -= 1
        if last < first:
            self.issues.append(Issue(line, f"{label}: empty declaration; skipped"))
            return
        start, end = toks[first].start, toks[last].end
        proof = termination = None
        if term is not None:
            pstart = toks[term].end if toks[term].text == ":=" else toks[last + 1].start
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
        full, derived = None, False
        if name is None and kind == "instance" and self.lang != "lean3":
            name = self.instance_name(k, last, ns)
            derived = name is not None
        if name:
            full = name[len("_root_."):] if name.startswith("_root_.") else f"{ns}.{name}" if ns else name
            bare = kind in _TYPE_KINDS and all(toks[m].kind == "id" or toks[m].text == ":" for m in range(k, last + 1))
            self.declared[full] = bare  # (a type without parameters: instance names may mention it)
        self.decls.append(LeanDecl(
            kind=kind, name=name, full_name=full, statement=text[start:end], start=start, end=end, proof=proof,
            line=line, docstring=doc, attributes=attrs, modifiers=mods, namespace=ns,
            opens=self.opens + self.local_opens, variables=self.variables + self.local_variables + list(variables),
            termination=termination, name_derived=derived))

    def terminator(self, k: int, b: int, kind: str) -> tuple[int | None, int, int]:
        """(index of the token ending the signature: `:=`, `where`, the first alternative `|`, or Lean 3's
        empty-match `.`; bracket depth left open; `let`/`have` still waiting for their `:=`), scanning k..b."""
        toks, lean3 = self.toks, self.lang == "lean3"
        binders = _LET3 if lean3 else _LET4
        depth = pending = 0
        in_match = False  # Lean 4 `match … with` / `fun |` in the signature: its `|` arms are not the body's
        for m in range(k, b):
            t = toks[m]
            kd = t.kind
            if kd == "open" or t.text == "@[":
                depth += 1
            elif kd == "close":
                depth -= 1
            elif depth:
                continue
            elif kd == "id":
                x = t.text
                if x == "where":
                    return m, 0, pending
                if x in binders:
                    pending += 1
                elif lean3 and x == "in" and pending:
                    pending -= 1  # Lean 3 `let a := x, b := y in …`: every `:=` up to `in` is the let's
                elif x == "match":
                    if lean3:
                        depth += 1  # Lean 3 `match … end`: its `:=` arms stay inside
                    else:
                        in_match = True
                elif lean3 and x == "end":
                    depth -= 1
                elif x in ("fun", "λ") and m + 1 < b and toks[m + 1].text == "|":
                    in_match = True
            elif t.text == ":=":
                if not pending:
                    return m, 0, 0
                if not lean3:
                    pending -= 1
            elif t.text == "←" and pending:
                pending -= 1  # `let x ← e`
            elif t.text == "|" and not in_match and self.alternative(m, b, kind):
                return m, 0, pending
        if lean3 and depth == 0 and b - 1 >= k and toks[b - 1].text == "." and kind not in BODYLESS:
            return b - 1, 0, 0  # `theorem t : a ≠ b.`: the equation compiler with no equations
        return None, depth, pending

    def alternative(self, m: int, b: int, kind: str) -> bool:
        """Is the `|` at token m the first match alternative / constructor (not `|x|`)?

        A `|` that opens its line or stands apart (`→ T | pat => e`, not `|x|`), followed by `=>` (Lean 3:
        or `:=`) before another `|`; in Lean 4 the `|`s of more patterns (`| .a x | .b x => e`) may come
        in between. The answer is the same for every `|` a scan passes, so none is scanned twice."""
        if kind in ("inductive", "class inductive", "coinductive"):
            return True
        if m < self.no_alt_until:
            return False
        toks, text = self.toks, self.text
        first, _ = self.first_col(m)
        lean4 = self.lang != "lean3"
        if not first and not self.apart(toks[m].start):
            return False
        depth, k = 0, m
        for k in range(m + 1, b):
            t = toks[k]
            depth += (t.kind == "open") - (t.kind == "close")
            if depth:
                continue
            x = t.text
            if x == "=>" or (x == ":=" and not lean4):
                return True
            if x == "|":
                if lean4 and self.apart(t.start):
                    continue
                break
            if x == ":=" or x == "where":
                break
        self.no_alt_until = k  # the `|`s passed on the way get the same answer: don't scan again
        return False

    def apart(self, pos: int) -> bool:
        """The character at pos has whitespace on both sides."""
        text = self.text
        return pos > 0 and text[pos - 1].isspace() and pos + 1 < len(text) and text[pos + 1].isspace()

    def instance_name(self, k: int, last: int, ns: str) -> str | None:
        """Lean 4's own name for an anonymous instance, where its rule (Lean.Elab.DeclNameGen) gives it from
        the text alone: no binders, and the type `C A₁ … Aₙ` names a class and types declared without
        parameters earlier in this file (so no module suffix is added). `inst` + the capitalised last
        components, each constant once, leaving out the constants the current namespace is made of;
        `_1`, `_2`, … when the name is taken. None where the rule is not clear."""
        toks = self.toks
        if k > last or toks[k].text != ":":
            return None
        words: list[str] = []
        m = k + 1
        while m <= last:  # C A₁ (A₂) …
            t = toks[m]
            if t.kind == "id" and not t.text.startswith("#"):
                words.append(t.text)
                m += 1
            elif t.text == "(" and m + 2 <= last and toks[m + 1].kind == "id" and toks[m + 2].text == ")":
                words.append(toks[m + 1].text)
                m += 3
            else:
                return None
        if len(words) < 2:
            return None
        head, args = words[0], words[1:]
        scopes = ns.split(".") if ns else []
        prefixes = {".".join(scopes[:i]) for i in range(1, len(scopes) + 1)}
        if head.split(".")[-1] in scopes or head in ("Type", "Sort", "Prop"):
            return None
        seen, parts = set(), [head]
        local = False
        for a in args:
            full = self.resolve(a, scopes)
            if full is None:
                return None  # a variable, or a type from elsewhere whose parameters are unknown
            local = True
            if full in prefixes or full in seen:
                continue
            seen.add(full)
            parts.append(a)
        if not local:
            return None
        base = "inst" + "".join(_capitalize(p.split(".")[-1].strip("«»")) for p in parts)
        name, i = base, self.suffixes.get((ns, base), 0)
        while (f"{ns}.{name}" if ns else name) in self.declared:
            i += 1
            name = f"{base}_{i}"
        self.suffixes[(ns, base)] = i
        return name

    def resolve(self, ident: str, scopes: list[str]) -> str | None:
        """Full name of a parameterless type declared earlier in this file that `ident` refers to here."""
        for i in range(len(scopes), -1, -1):
            full = ".".join(scopes[:i] + [ident])
            if full in self.declared:
                return full if self.declared[full] else None
        return None


def parse_lean(text: str, lang: str | None = None) -> LeanFile:
    """Split Lean source into declarations. `lang` is lean4 or lean3 (detected when None)."""
    from formal.detect import lean_version

    lang = lang or lean_version(text)
    issues: list[Issue] = []
    sp = _Splitter(text, lang, issues)
    sp.split()
    return LeanFile(lang=lang, decls=sp.decls, module_docs=sp.module_docs, imports=sp.imports, issues=issues)
