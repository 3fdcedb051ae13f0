"""Isabelle/Isar theory text -> lemmas, theorems and definitions, from the text alone.

The outer-syntax lexer knows nested `(* … *)` comments, `"…"` strings, `` `…` `` alt strings,
cartouches (`‹…›` and `\\<open>…\\<close>`, nested), `{* … *}` verbatim and `\\<comment> ‹…›`.
Theory-level command keywords (which never occur inside terms: terms are quoted) split the
theory; a goal command's statement runs from its keyword to the first proof command, and its
proof (`by …`, nested `proof … qed`, `apply … done`, `sorry`/`oops`) to the next theory command.
`text ‹…›` (and comments) right before a declaration become its informal context.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from formal.source import Issue, line_starts

GOALS = frozenset({"lemma", "theorem", "corollary", "proposition", "schematic_goal"})
DEFINITIONS = frozenset({"definition", "abbreviation", "fun", "function", "primrec", "primcorec"})
TEXT_COMMANDS = frozenset({"text", "txt", "text_raw", "section", "subsection", "subsubsection", "paragraph",
                           "chapter", "header"})
THEORY_COMMANDS = GOALS | DEFINITIONS | TEXT_COMMANDS - {"txt"} | frozenset({
    "theory", "begin", "end", "lemmas", "datatype", "codatatype", "record", "type_synonym", "typedecl", "consts",
    "axiomatization", "inductive", "inductive_set", "coinductive", "locale", "context", "interpretation",
    "sublocale", "global_interpretation", "instantiation", "instance", "class", "subclass", "declare", "notation",
    "no_notation", "syntax", "no_syntax", "translations", "hide_const", "hide_fact", "hide_type", "ML", "ML_file",
    "setup", "method", "named_theorems", "bundle", "unbundle", "termination", "value", "term", "thm", "typ",
    "export_code", "code_printing", "experiment", "notepad", "overloading", "lift_definition", "setup_lifting",
    "quotient_type", "specification", "nitpick_params", "find_theorems", "type_notation", "abbrev", "nominal_datatype",
    "ML_val", "ML_command", "simproc_setup", "attribute_setup", "method_setup", "declaration", "print_theorems",
    "consts_code", "adhoc_overloading", "no_adhoc_overloading", "open_bundle", "unused_thms",
})
NOT_READ = THEORY_COMMANDS - GOALS - DEFINITIONS - TEXT_COMMANDS - frozenset({
    "theory", "begin", "end", "context", "declare", "notation", "no_notation", "value", "term", "thm", "typ",
    "hide_const", "hide_fact", "hide_type", "find_theorems", "print_theorems", "unbundle", "setup", "experiment",
    "type_notation", "unused_thms", "termination", "open_bundle"})
DIAGNOSTIC = frozenset({"thm", "term", "typ", "value", "find_theorems", "print_theorems", "unused_thms"})
"""Also allowed inside proofs: they start a command only at column 0 (theory level)."""
PROOF_START = frozenset({"by", "proof", "apply", "apply_end", "using", "unfolding", "including", "supply", "sorry",
                         "oops", "done", ".", "..", "subgoal", "defer", "prefer", "nitpick", "sledgehammer", "quickcheck"})
STATEMENT_PARTS = ("fixes", "assumes", "shows", "obtains", "defines", "includes", "notes", "constrains")

_LEX = re.compile(r"""
 (?P<ws>\s+)
|(?P<cmt>\(\*)
|(?P<verb>\{\*)
|(?P<str>"(?:[^"\\]|\\.)*")
|(?P<alt>`(?:[^`\\]|\\.)*`)
|(?P<cart>‹|\\<open>)
|(?P<fcmt>\\<comment>|—)
|(?P<id>(?:[A-Za-z]|\\<[A-Za-z]+>)(?:[A-Za-z0-9_'.]|\\<[A-Za-z]+>|\\<\^sub>)*(?<!\.))
|(?P<num>\d+)
|(?P<sym>\.\.|::|==|\\<[A-Za-z^]+>|.)
""", re.VERBOSE | re.DOTALL)
_RUNAWAY = re.compile(r"\n(lemma|theorem|corollary|proposition|definition|fun|primrec|datatype|locale)\s+\S")
_CART = re.compile(r"‹|›|\\<open>|\\<close>")
_CMT = re.compile(r"\(\*|\*\)")


@dataclass
class Token:
    kind: str  # id num str alt cart verb sym cmt
    start: int
    end: int
    text: str


@dataclass
class IsabelleDecl:
    kind: str
    """lemma, theorem, corollary, proposition, schematic_goal, definition, abbreviation, fun, function, primrec."""
    name: str | None
    full_name: str | None
    """`Theory.name` when the theory header names one."""
    statement: str
    start: int
    end: int
    """`text[start:end] == statement`: keyword through the last statement token."""
    proof: str | None
    """Proof (goals) or defining equations after `where` (definitions); None when absent."""
    line: int
    fixes: list[str] = field(default_factory=list)
    assumes: list[str] = field(default_factory=list)
    shows: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    locale: str | None = None
    context: str | None = None
    """Text of a `text ‹…›` block right before the declaration."""
    context_start: int | None = None
    comment: str | None = None
    """`(* … *)` comments right before the declaration."""
    proof_closed: bool = True


@dataclass
class IsabelleFile:
    theory: str | None
    imports: list[str]
    decls: list[IsabelleDecl]
    texts: list[tuple[str, str, int, int, int]]
    """(command, text, start, end, line) of text/section blocks."""
    issues: list[Issue]


def _nested(text: str, pat: re.Pattern, i: int, j: int, opener: tuple[str, ...]) -> int:
    """End offset of a nested construct opened at i (content from j), or -1 when never closed."""
    depth = 1
    for m in pat.finditer(text, j):
        depth += 1 if m.group() in opener else -1
        if depth == 0:
            return m.end()
    return -1


def lex(text: str, issues: list[Issue], starts: list[int]) -> list[Token]:
    toks: list[Token] = []
    n, i = len(text), 0
    while i < n:
        m = _LEX.match(text, i)
        kind, j = m.lastgroup, m.end()
        if kind == "ws":
            i = j
            continue
        if kind in ("str", "alt") and "\n" in m.group():
            runaway = _RUNAWAY.search(m.group())
            if runaway:  # a stray quote swallowed a command: end the string at its line instead
                issues.append(Issue(bisect_right(starts, i), f"string runs into a '{runaway.group(1)}' command "
                                                             "(stray quote?); treated as ending at this line"))
                eol = text.find("\n", i)
                while eol > i + 1 and text[eol - 1].isspace():
                    eol -= 1
                toks.append(Token("str", i, eol, text[i:eol]))
                i = eol
                continue
        if kind in ("cmt", "verb", "cart") or (kind == "sym" and text[i] in '"`'):
            if kind == "cmt":
                end = _nested(text, _CMT, i, j, ("(*",))
            elif kind == "verb":
                k = text.find("*}", j)
                end = -1 if k == -1 else k + 2
            elif kind == "cart":
                end = _nested(text, _CART, i, j, ("‹", "\\<open>"))
            else:
                end = -1
            if end == -1:
                what = {"cmt": "comment '(*'", "verb": "verbatim '{*'", "cart": "cartouche"}.get(kind, "string")
                issues.append(Issue(bisect_right(starts, i), f"{what} never closed; treated as ending at this line"))
                eol = text.find("\n", i)
                end = n if eol == -1 else eol
                while end > i + 1 and text[end - 1].isspace():
                    end -= 1
                kind = "cmt" if kind == "cmt" else "str"
            toks.append(Token(kind, i, end, text[i:end]))
            i = end
            continue
        if kind == "fcmt":  # \<comment> ‹...›: a formal comment
            k = j
            while k < n and text[k] in " \t\n":
                k += 1
            c = _CART.match(text, k)
            if c and c.group() in ("‹", "\\<open>"):
                end = _nested(text, _CART, k, c.end(), ("‹", "\\<open>"))
                if end != -1:
                    toks.append(Token("cmt", i, end, text[i:end]))
                    i = end
                    continue
            kind = "sym"
        toks.append(Token(kind, i, j, m.group()))
        i = j
    return toks


def _unquote(tok: Token) -> str:
    t = tok.text
    if tok.kind == "str" and t.startswith('"') and t.endswith('"') and len(t) > 1:
        return t[1:-1]
    if tok.kind in ("str", "cart"):
        for o, c in (("‹", "›"), ("\\<open>", "\\<close>")):
            if t.startswith(o) and t.endswith(c):
                return t[len(o):-len(c)]
    return t


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.issues: list[Issue] = []
        self.starts = line_starts(text)
        self.toks = lex(text, self.issues, self.starts)
        self.decls: list[IsabelleDecl] = []
        self.texts: list[tuple[str, str, int, int, int]] = []
        self.theory: str | None = None
        self.imports: list[str] = []
        self.contexts: list[str | None] = []

    def line(self, pos: int) -> int:
        return bisect_right(self.starts, pos)

    def read(self) -> None:
        sig = [k for k, t in enumerate(self.toks) if t.kind != "cmt"]
        heads = [k for k in sig if self.toks[k].kind == "id" and self.toks[k].text in THEORY_COMMANDS
                 and not self.is_argument(k)]
        pending_text: tuple[str, int] | None = None
        for n, h in enumerate(heads):
            b = heads[n + 1] if n + 1 < len(heads) else len(self.toks)
            cmd = self.toks[h].text
            c = h
            while c > 0 and self.toks[c - 1].kind == "cmt":
                c -= 1
            comments = self.toks[c:h]
            if cmd in TEXT_COMMANDS:
                body = [t for t in self.toks[h + 1:b] if t.kind in ("str", "cart")]
                if body:
                    txt = _unquote(body[0]).strip()
                    self.texts.append((cmd, txt, body[0].start, body[0].end, self.line(self.toks[h].start)))
                    pending_text = (txt, body[0].start) if cmd in ("text", "txt") else None
                continue
            if cmd in GOALS or cmd in DEFINITIONS:
                self.declaration(h, b, cmd, pending_text, comments)
            else:
                self.structure(h, b, cmd)
            pending_text = None

    def is_argument(self, k: int) -> bool:
        """A command word used as an argument (e.g. `theory` in `context ... begin`) is not a head."""
        t = self.toks[k]
        if t.text == "begin":  # `begin` after theory/locale/context headers opens a block, not a command
            return True
        if t.text in DIAGNOSTIC:  # `thm foo` indented inside a proof stays in the proof
            return t.start > 0 and self.text[t.start - 1] != "\n"
        if t.text in ("instance", "class") and k and self.toks[k - 1].text in ("::", "instance", "for"):
            return True
        if t.text == "termination" and k and self.toks[k - 1].text in ("(", "["):
            return True
        return False

    def structure(self, h: int, b: int, cmd: str) -> None:
        toks = [t for t in self.toks[h + 1:b] if t.kind != "cmt"]
        if cmd == "theory":
            if toks:
                self.theory = toks[0].text
            if any(t.text == "imports" for t in toks):
                k = next(i for i, t in enumerate(toks) if t.text == "imports")
                self.imports = [_unquote(t) for t in toks[k + 1:] if t.text not in ("keywords", "begin")
                                and t.kind in ("id", "str")]
            return
        opens = any(t.text == "begin" for t in toks)
        if cmd == "end":
            if self.contexts:
                self.contexts.pop()
            return
        if cmd in ("context", "locale", "instantiation", "class", "overloading", "notepad", "experiment") and opens:
            self.contexts.append(toks[0].text if toks and toks[0].kind == "id" else None)
        if cmd in NOT_READ:
            self.issues.append(Issue(self.line(self.toks[h].start), f"'{cmd}' is not turned into records; skipped"))

    def declaration(self, h: int, b: int, cmd: str, context: tuple[str, int] | None, comments: list[Token]) -> None:
        toks, text = self.toks, self.text
        sig = [k for k in range(h + 1, b) if toks[k].kind != "cmt"]
        line = self.line(toks[h].start)
        p = 0
        locale = None
        if p + 3 < len(sig) + 1 and p < len(sig) and toks[sig[p]].text == "(" and p + 1 < len(sig) and \
                toks[sig[p + 1]].text == "in":
            locale = toks[sig[p + 2]].text if p + 2 < len(sig) else None
            p += 4
        elif self.contexts and self.contexts[-1]:
            locale = self.contexts[-1]
        name, attrs = None, []
        # name [attrs] :  |  name :: type  |  name where
        if p < len(sig) and toks[sig[p]].kind == "id" and toks[sig[p]].text not in STATEMENT_PARTS:
            q = p + 1
            if q < len(sig) and toks[sig[q]].text == "[":
                r, depth = q, 0
                while r < len(sig):
                    depth += (toks[sig[r]].text == "[") - (toks[sig[r]].text == "]")
                    r += 1
                    if depth == 0:
                        break
                attrs = [a.strip() for a in text[toks[sig[q]].end:toks[sig[r - 1]].start].split(",") if a.strip()]
                q = r
            if cmd in GOALS and q < len(sig) and toks[sig[q]].text == ":":
                name, p = toks[sig[p]].text, q + 1
            elif cmd in DEFINITIONS:
                name, p = toks[sig[p]].text, q
        elif cmd in GOALS and p < len(sig) and toks[sig[p]].text == "[":  # lemma [simp]: "..."
            r, depth = p, 0
            while r < len(sig):
                depth += (toks[sig[r]].text == "[") - (toks[sig[r]].text == "]")
                r += 1
                if depth == 0:
                    break
            attrs = [a.strip() for a in text[toks[sig[p]].end:toks[sig[r - 1]].start].split(",") if a.strip()]
            p = r + (r < len(sig) and toks[sig[r]].text == ":")
        # where the statement stops
        stop = len(sig)
        for q in range(p, len(sig)):
            t = toks[sig[q]]
            if cmd in GOALS and t.kind in ("id", "sym") and t.text in PROOF_START:
                stop = q
                break
            if cmd in DEFINITIONS and t.kind == "id" and t.text == "where":
                stop = q
                break
        label = f"{cmd} {name}" if name else cmd
        if stop == 0 or not any(toks[sig[q]].kind in ("str", "cart", "alt") for q in range(p, stop)) and cmd in GOALS:
            self.issues.append(Issue(line, f"{label}: no statement found; skipped"))
            return
        if cmd in DEFINITIONS and name is None:
            first = next((toks[sig[q]] for q in range(p, stop) if toks[sig[q]].kind in ("str", "cart")), None)
            words = re.findall(r"[A-Za-z][\w']*", _unquote(first)) if first else []
            name = words[0] if words else None
        start = toks[h].start
        end = toks[sig[stop - 1]].end if stop > 0 else toks[h].end
        proof, closed = None, True
        if stop < len(sig):
            pend = toks[sig[-1]].end
            proof = text[toks[sig[stop]].start:pend]
            if cmd in GOALS:
                closed = self.closed([toks[k] for k in sig[stop:]])
                if not closed:
                    self.issues.append(Issue(line, f"{label}: proof not closed (missing qed/done?); kept the statement"))
        parts: dict[str, list[str]] = {k: [] for k in ("fixes", "assumes", "shows")}
        cur = "shows"
        for q in range(p, stop if cmd in GOALS else p):
            t = toks[sig[q]]
            if t.kind == "id" and t.text in STATEMENT_PARTS:
                cur = t.text
                if cur in parts:
                    parts[cur].append("")
                continue
            if t.kind == "id" and t.text == "and" and cur in parts:
                parts[cur].append("")
                continue
            if cur in parts:
                prev = toks[sig[q - 1]] if q > p else None
                if not parts[cur] or (cur != "fixes" and t.kind in ("str", "cart") and prev is not None
                                      and prev.kind in ("str", "cart")):
                    parts[cur].append("")  # `shows "A" "B"`: two propositions
                parts[cur][-1] = (parts[cur][-1] + " " + t.text).strip()
        fixes = [s for s in parts["fixes"] if s]
        assumes = [_strip_quotes(s) for s in parts["assumes"] if s]
        shows = [_strip_quotes(s) for s in parts["shows"] if s]
        cmt = "\n".join(_unquote_comment(t.text) for t in comments) or None
        full = f"{self.theory}.{name}" if name and self.theory else name
        self.decls.append(IsabelleDecl(
            kind=cmd, name=name, full_name=full, statement=text[start:end], start=start, end=end, proof=proof,
            line=line, fixes=fixes, assumes=assumes, shows=shows, attributes=attrs, locale=locale,
            context=context[0] if context else None, context_start=context[1] if context else None,
            comment=cmt, proof_closed=closed))

    @staticmethod
    def closed(ptoks: list[Token]) -> bool:
        """Does the proof script end properly (by / qed at depth 0 / done / sorry / oops / . / ..)?"""
        depth, state = 0, "open"
        for t in ptoks:
            w = t.text if t.kind in ("id", "sym") else None
            if w == "proof":
                depth += 1
                state = "open"
            elif w == "qed":
                depth -= 1
                state = "done" if depth <= 0 else "open"
            elif depth == 0 and w in ("by", "done", "sorry", "oops", ".", ".."):
                state = "done"
            elif depth == 0 and w in ("apply", "using", "unfolding", "subgoal"):
                state = "open"
        return state == "done" and depth <= 0


def _strip_quotes(s: str) -> str:
    pat = r'^(\w+\s*:\s*)?(?:"(.*)"|‹(.*)›|\\<open>(.*)\\<close>)$'
    return re.sub(pat, lambda m: (m.group(1) or "") + next(g for g in m.groups()[1:] if g is not None), s, flags=re.S)


def _unquote_comment(c: str) -> str:
    if c.startswith("(*") and c.endswith("*)"):
        return c[2:-2].strip()
    return re.sub(r"^(\\<comment>|—)\s*", "", c).strip("‹›").strip()


def parse_isabelle(text: str) -> IsabelleFile:
    r = _Reader(text)
    r.read()
    return IsabelleFile(theory=r.theory, imports=r.imports, decls=r.decls, texts=r.texts, issues=r.issues)
