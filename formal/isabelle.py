"""Isabelle/Isar theory text -> lemmas, theorems and definitions, from the text alone.

The outer-syntax lexer knows nested `(* … *)` comments, `"…"` strings, `` `…` `` alt strings,
cartouches (`‹…›` and `\\<open>…\\<close>`, nested), `{* … *}` verbatim and `\\<comment> ‹…›`;
identifiers are made of letters as Isabelle defines them (ASCII, `\\<a>`, `\\<AA>`, Greek), so
`text\\<open>…` is the command `text` and a cartouche. Theory-level command keywords (which never
occur inside terms: terms are quoted) split the theory, `private`/`qualified` belonging to the
command they prefix. Each declaration is then read by its own syntax, so it ends where that syntax
ends: a goal's statement runs to the first proof command and its proof until the goal is finished
(`by …`, `qed` at depth 0, `done`, `sorry`, `oops`, …; diagnostics and `text` inside an unfinished
proof stay in it); a definition runs through its `where` equations (and, for `function`, its
proof). Whatever follows before the next known command is a command this reader does not know
(`sepref_register …`) and is reported, never glued onto the declaration. Declarations inside a
named `locale`/`context`/`class` block (or `(in loc)`) get `Theory.loc.name` full names.
`text ‹…›` (and comments) right before a declaration become its informal context.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_right
from dataclasses import dataclass, field
from operator import itemgetter

from formal.source import Issue, line_starts

GOALS = frozenset({"lemma", "theorem", "corollary", "proposition", "schematic_goal"})
DEFINITIONS = frozenset({"definition", "abbreviation", "fun", "function", "primrec", "primcorec"})
TEXT_COMMANDS = frozenset({"text", "txt", "text_raw", "section", "subsection", "subsubsection", "paragraph",
                           "chapter", "header"})
DIAGNOSTIC = frozenset({
    "thm", "term", "typ", "prop", "value", "find_theorems", "find_consts", "print_theorems", "unused_thms",
    "print_statement", "print_locale", "print_locales", "print_classes", "print_interps", "print_dependencies",
    "print_options", "print_context", "print_syntax", "print_abbrevs", "print_bnfs", "print_codeproc",
    "print_codesetup", "print_quot_maps", "print_quotients", "print_attributes", "print_methods", "print_simpset",
    "print_rules", "print_commands", "print_bundles", "locale_deps", "class_deps", "thm_deps", "code_thms",
    "code_deps"})
"""Commands that only print; not turned into records and not reported."""
DUAL = DIAGNOSTIC | frozenset({"text", "text_raw", "ML_val"})
"""Also allowed inside proofs: inside a proof that is not finished yet they belong to it."""
THEORY_COMMANDS = GOALS | DEFINITIONS | DIAGNOSTIC | TEXT_COMMANDS - {"txt"} | frozenset({
    "theory", "begin", "end", "lemmas", "theorems", "datatype", "codatatype", "record", "type_synonym", "typedecl",
    "consts", "axiomatization", "inductive", "inductive_set", "coinductive", "coinductive_set", "locale", "context",
    "interpretation", "sublocale", "global_interpretation", "instantiation", "instance", "class", "subclass",
    "declare", "notation", "no_notation", "syntax", "no_syntax", "translations", "no_translations", "hide_const",
    "hide_fact", "hide_type", "hide_class", "ML", "ML_file", "SML_file", "ML_export", "setup", "local_setup",
    "method", "named_theorems", "bundle", "unbundle", "termination", "export_code", "code_printing", "experiment",
    "notepad", "overloading", "lift_definition", "setup_lifting", "lifting_forget", "lifting_update",
    "quotient_type", "quotient_definition", "specification", "ax_specification", "nitpick_params", "type_notation",
    "no_type_notation", "abbrev", "nominal_datatype", "ML_val", "ML_command", "simproc_setup", "attribute_setup",
    "method_setup", "declaration", "syntax_declaration", "consts_code", "adhoc_overloading", "no_adhoc_overloading",
    "open_bundle", "typedef", "inductive_cases", "inductive_simps", "code_pred", "partial_function", "recdef",
    "parse_translation", "print_translation", "typed_print_translation", "print_ast_translation",
    "parse_ast_translation", "free_constructors", "rep_datatype", "old_rep_datatype", "datatype_compat",
    "code_datatype", "code_identifier", "code_reserved", "code_reflect", "code_monad", "quickcheck_params",
    "quickcheck_generator", "refute_params", "sledgehammer_params", "nunchaku_params", "default_sort",
    "type_alias", "nonterminal", "primcorecursive", "corecursive", "friend_of_corec", "fun_cases", "simps_of_case",
    "case_of_simps", "generate_file", "export_generated_files", "compile_generated_files", "external_file",
})
NOT_READ = THEORY_COMMANDS - GOALS - DEFINITIONS - TEXT_COMMANDS - DIAGNOSTIC - frozenset({
    "theory", "begin", "end", "context", "declare", "notation", "no_notation", "hide_const", "hide_fact",
    "hide_type", "hide_class", "unbundle", "setup", "experiment", "type_notation", "no_type_notation", "termination",
    "open_bundle", "default_sort"})
MODIFIERS = frozenset({"private", "qualified"})
"""`private lemma …`: part of the command they prefix."""
PROOF_START = frozenset({"by", "proof", "apply", "apply_end", "using", "unfolding", "including", "supply", "sorry",
                         "oops", "done", ".", "..", "subgoal", "defer", "prefer", "nitpick", "sledgehammer", "quickcheck"})
PROOF_WORDS = PROOF_START | frozenset({
    "qed", "next", "back", "then", "also", "finally", "moreover", "ultimately", "have", "show", "hence", "thus",
    "from", "with", "note", "fix", "assume", "presume", "obtain", "guess", "case", "let", "define", "def", "consider",
    "interpret", "include", "write", "txt", "ML_prf", "print_state", "print_cases", "print_facts", "try", "try0",
    "nunchaku", "solve_direct", "focus", "solved", "applyS", "apply1", "applyF", "applyX", "apply_debug",
    "apply_trace", "{", "}"})
"""Words that may follow a finished subgoal (`subgoal by simp` then `subgoal …`); anything else ends the proof."""
METHODS = frozenset({
    "auto", "simp", "simp_all", "force", "fastforce", "blast", "fast", "best", "slow", "metis", "meson", "smt", "argo",
    "arith", "linarith", "presburger", "clarsimp", "clarify", "safe", "bestsimp", "iprover", "assumption", "rule",
    "erule", "drule", "frule", "intro", "elim", "induct", "induction", "coinduct", "cases", "subst", "split",
    "standard", "unfold_locales", "intro_locales", "fact", "this", "eval", "normalization", "code_simp", "transfer",
    "transfer_prover", "pat_completeness", "lexicographic_order", "size_change", "relation", "order", "algebra",
    "sos", "approximation", "measurable", "auto_tac", "goal_cases", "insert", "unfold", "fold", "use", "sat"})
"""Proof methods: a second `by` method on the next line (`by (intro …)\n  auto`) is one of these."""
STATEMENT_PARTS = ("fixes", "assumes", "shows", "obtains", "defines", "includes", "notes", "constrains")
CONTEXT_ELEMENTS = frozenset(STATEMENT_PARTS) | {"begin", "for"}
INNER = frozenset(STATEMENT_PARTS) | {"and", "if", "for", "is", "when", "where", "::", ":", "(", ")", "[", "]"}

_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi pi rho sigma tau upsilon phi chi psi "
          "omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split()
_LETTER = (r"[A-Za-z]|\\<(?:[A-Za-z]|" + "|".join(c + c for c in string.ascii_letters) + "|" + "|".join(_GREEK)
           + ")>")
_ID = rf"(?:{_LETTER})(?:[A-Za-z0-9_'.]|{_LETTER}|\\<\^(?:sub|isub)>)*(?<!\.)"
_LEX = re.compile(r"""
 (?P<ws>\s+)
|(?P<cmt>\(\*)
|(?P<verb>\{\*)
|(?P<str>"(?:[^"\\]|\\.)*")
|(?P<alt>`(?:[^`\\]|\\.)*`)
|(?P<cart>‹|\\<open>)
|(?P<fcmt>\\<comment>|—|--(?=\s*["{‹\\]))
|(?P<id>""" + _ID + r""")
|(?P<num>\d+)
|(?P<sym>\.\.|::|==|\\<[A-Za-z^]+>|.)
""", re.VERBOSE | re.DOTALL)
_ID_RE = re.compile(_ID)
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
    """Given name; for a definition without one (`definition "c = …"`), the constant its proposition defines."""
    full_name: str | None
    """`Theory.name`, or `Theory.locale.name` inside a locale/class (`(in loc)`, `context loc begin`)."""
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
    """The locale or class target as written (`(in loc)` or the enclosing named `context`/`locale`/`class`)."""
    options: list[str] = field(default_factory=list)
    """Mode/configuration options: `(input)`, `(domintros)`, `(sequential, domintros)`."""
    modifiers: list[str] = field(default_factory=list)
    """`private` / `qualified`."""
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
        if kind == "fcmt":  # \<comment> ‹...› (old style: -- "..." / -- {* ... *}): a formal comment
            k = j
            while k < n and text[k] in " \t\n":
                k += 1
            c = _CART.match(text, k)
            end = -1
            if c and c.group() in ("‹", "\\<open>"):
                end = _nested(text, _CART, k, c.end(), ("‹", "\\<open>"))
            elif m.group() == "--":
                s = _LEX.match(text, k)
                if s.lastgroup == "str":
                    end = s.end()
                elif s.lastgroup == "verb":
                    e = text.find("*}", s.end())
                    end = -1 if e == -1 else e + 2
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
    if tok.kind == "verb" and t.startswith("{*") and t.endswith("*}") and len(t) > 3:
        return t[2:-2]
    if tok.kind in ("str", "cart"):
        for o, c in (("‹", "›"), ("\\<open>", "\\<close>")):
            if t.startswith(o) and t.endswith(c):
                return t[len(o):-len(c)]
    return t


_PROP = frozenset({"str", "cart", "alt"})
_TERM = _PROP | {"num"}
_PARTS = frozenset(STATEMENT_PARTS)
_SCAN = frozenset({"(", "[", "proof", "qed", "oops", "by", "done", "sorry", ".", "..", "txt", "ML_prf"})


class _Reader:
    """Reads a theory over its significant (non-comment) tokens; positions below index `self.sig`."""

    def __init__(self, text: str):
        self.text = text
        self.issues: list[Issue] = []
        self.starts = line_starts(text)
        self.toks = lex(text, self.issues, self.starts)
        self.sig = [k for k, t in enumerate(self.toks) if t.kind != "cmt"]
        self.st = [self.toks[k] for k in self.sig] if len(self.sig) < 2 else list(itemgetter(*self.sig)(self.toks))
        """Significant tokens by position; `self.w[i]` their text for id/sym tokens (None otherwise)."""
        self.w = [t.text if t.kind in ("id", "sym") else None for t in self.st]
        self.decls: list[IsabelleDecl] = []
        self.texts: list[tuple[str, str, int, int, int]] = []
        self.theory: str | None = None
        self.imports: list[str] = []
        self.contexts: list[tuple[str, str | None]] = []
        """Open blocks: (command, locale or class name when it names one)."""
        self.heads: list[tuple[int, int]] = []

    def line(self, pos: int) -> int:
        return bisect_right(self.starts, pos)

    def word(self, i: int, limit: int) -> str | None:
        """Text of the id/sym token at position i (None past `limit` or for strings, cartouches, numbers)."""
        return self.w[i] if i < limit else None

    def starts_line(self, i: int) -> bool:
        t = self.st[i]
        return i == 0 or "\n" in self.text[self.st[i - 1].end:t.start]

    def group_end(self, i: int, limit: int) -> int:
        """Position after the bracket group opened at i (`(…)` / `[…]`), or `limit` when it never closes."""
        depth, words = 0, self.w
        while i < limit:
            w = words[i]
            depth += (w in ("(", "[")) - (w in (")", "]"))
            i += 1
            if depth == 0:
                return i
        return limit

    def locale(self) -> str | None:
        return next((c for _, c in reversed(self.contexts) if c), None)

    def read(self) -> None:
        toks, sig, st = self.toks, self.sig, self.st
        for pos in [i for i, t in enumerate(st) if t.text in THEORY_COMMANDS and t.kind == "id"]:
            if not self.is_argument(pos):
                s = pos
                while s > 0 and st[s - 1].kind == "id" and st[s - 1].text in MODIFIERS:
                    s -= 1
                self.heads.append((pos, s))
        heads = self.heads
        pending_text: tuple[str, int] | None = None
        n = 0
        while n < len(heads):
            pos, s = heads[n]
            limit = heads[n + 1][1] if n + 1 < len(heads) else len(sig)
            cmd = toks[sig[pos]].text
            if cmd in TEXT_COMMANDS:
                b = pos + 1
                while self.word(b, limit) == "%" and b + 1 < limit:  # document tags: text %invisible ‹…›
                    b += 2
                body = self.st[b] if b < limit and self.st[b].kind in ("str", "cart", "verb") else None
                if body:
                    txt = _unquote(body).strip()
                    self.texts.append((cmd, txt, body.start, body.end, self.line(toks[sig[pos]].start)))
                    pending_text = (txt, body.start) if cmd in ("text", "txt") else None
                    b += 1
                if not self.contexts or self.contexts[-1][0] != "notepad":  # a notepad's body is a proof
                    self.trailing(b, limit, cmd)
                n += 1
                continue
            if cmd in GOALS or cmd in DEFINITIONS:
                first = sig[s - 1] + 1 if s else 0
                comments = toks[first:sig[s]]
                modifiers = [toks[sig[i]].text for i in range(s, pos)]
                n = self.declaration(n, pos, limit, cmd, modifiers, pending_text, comments)
            else:
                self.structure(pos, limit, cmd)
                n += 1
            pending_text = None

    def is_argument(self, pos: int) -> bool:
        """A command word used as an argument (e.g. `begin` after a `context` header) is not a head."""
        t = self.st[pos]
        if t.text == "begin":  # `begin` after theory/locale/context headers opens a block, not a command
            return True
        prev = self.st[pos - 1].text if pos else None
        if t.text in ("instance", "class") and prev in ("::", "instance", "for"):
            return True
        if t.text == "termination" and prev in ("(", "["):
            return True
        if prev in ("[", ","):  # an attribute: [typedef], [simp, code]
            return True
        if t.text not in GOALS and pos + 1 < len(self.sig) and self.st[pos + 1].text == ":":
            return True  # a method modifier or label: (hoare_auto defs: …)
        return False

    def trailing(self, i: int, limit: int, after: str) -> None:
        """Tokens left between the end of a command's syntax and the next known command: report them."""
        if i >= limit:
            return
        t = self.st[i]
        if any(self.word(k, limit) == "begin" for k in range(i, limit)):
            self.contexts.append(("?", None))  # an unknown block opener: its `end` must not close ours
        if t.text in MODIFIERS and i + 1 < limit and self.st[i + 1].kind == "id":
            t = self.st[i + 1]  # qualified named_simpset …
        if t.kind == "id" and t.text not in INNER and t.text not in PROOF_WORDS:
            why = f"'{t.text}' is not a command this reader knows; skipped"
        else:
            why = f"text after '{after}' that this reader cannot place ({t.text[:30]!r}…); skipped"
        self.issues.append(Issue(self.line(t.start), why))

    def structure(self, pos: int, limit: int, cmd: str) -> None:
        words = [self.st[i] for i in range(pos + 1, limit)]
        if cmd == "theory":
            if words:
                self.theory = words[0].text
            texts = [t.text for t in words]
            if "imports" in texts:
                k = texts.index("imports") + 1
                while k < len(words) and texts[k] not in ("keywords", "begin"):
                    if words[k].kind in ("id", "str"):
                        self.imports.append(_unquote(words[k]))
                    k += 1
            if "begin" in texts:
                self.trailing(pos + 1 + texts.index("begin") + 1, limit, cmd)
            return
        if cmd == "end":
            if self.contexts:
                self.contexts.pop()
            self.trailing(pos + 1, limit, cmd)
            return
        b = next((i for i in range(pos + 1, limit) if self.word(i, limit) == "begin"), None)
        if b is not None:
            first = words[0] if words else None
            named = cmd in ("context", "locale", "class") and first is not None and first.kind == "id" \
                and first.text not in CONTEXT_ELEMENTS
            self.contexts.append((cmd, first.text if named else None))
            if cmd in ("context", "locale", "class", "instantiation", "overloading", "experiment", "bundle"):
                self.trailing(b + 1, limit, cmd)
        if cmd in NOT_READ:
            self.issues.append(Issue(self.line(self.st[pos].start), f"'{cmd}' is not turned into records; skipped"))

    def targets(self, q: int, limit: int) -> tuple[int, str | None, list[str]]:
        """`(in loc)` and mode options `(input)` / `(sequential, domintros)` after the keyword."""
        locale, options = self.locale() if self.contexts else None, []
        while q < limit and self.w[q] == "(":
            close = self.group_end(q, limit)
            inner = [self.st[i] for i in range(q + 1, close - 1)]
            if len(inner) == 2 and inner[0].text == "in":
                locale = None if inner[1].text == "-" else inner[1].text
            elif inner and all(t.kind == "id" or t.text == "," for t in inner) and inner[-1].kind == "id":
                options += [t.text for t in inner if t.kind == "id"]
            else:
                break
            q = close
        return q, locale, options

    def declaration(self, n: int, pos: int, limit: int, cmd: str, modifiers: list[str],
                    context: tuple[str, int] | None, comments: list[Token]) -> int:
        """Read one goal/definition; returns the index of the next head to read."""
        text = self.text
        line = self.line(self.st[pos].start)
        q, locale, options = self.targets(pos + 1, limit)
        name, attrs, proof, closed, where = None, [], None, True, None
        if cmd in GOALS:
            # name [attrs] :  |  [attrs] :  |  an unnamed statement
            r = q + (self.st[q].kind == "id" and self.st[q].text not in STATEMENT_PARTS if q < limit else 0)
            a = self.group_end(r, limit) if self.word(r, limit) == "[" else r
            if (r > q or a > r) and self.word(a, limit) == ":":
                name = self.st[q].text if r > q else None
                attrs = self.attributes(r, a)
                q = a + 1
            stop, depth, words = q, 0, self.w
            while stop < limit:
                w = words[stop]
                if depth == 0 and w in PROOF_START:
                    break
                depth += (w in ("(", "[")) - (w in (")", "]"))
                stop += 1
            label = f"{cmd} {name}" if name else cmd
            if not any(t.kind in _TERM or t.kind == "id" and t.text not in INNER for t in self.st[q:stop]):
                self.issues.append(Issue(line, f"{label}: no statement found; skipped"))
                return self.skip_proof(n, stop, limit, label)
            end = stop
            if stop < limit:
                end, closed, limit, n = self.scan_proof(stop, limit, n)
                proof = text[self.st[stop].start:self.st[end - 1].end]
                if not closed:
                    self.issues.append(Issue(line, f"{label}: proof not closed (missing qed/done?); kept the statement"))
            stmt_end = stop
        else:
            where = self.decl_where(q, limit)
            if where is not None:
                name = _unquote(self.st[q])
                stmt_end = where
                end = self.equations(where + 1, limit)
            else:  # definition [thmdecl:] "prop": the constant is the one the proposition defines
                r = q + (self.st[q].kind == "id" if q < limit else 0)
                a = self.group_end(r, limit) if self.word(r, limit) == "[" else r
                if (r > q or a > r) and self.word(a, limit) == ":":
                    attrs = self.attributes(r, a)
                    q = a + 1
                end = stmt_end = self.equations(q, limit)
                first = next((self.st[i] for i in range(q, end) if self.st[i].kind in _PROP), None)
                m = _ID_RE.search(_unquote(first)) if first else None
                name = m.group() if m else None
            label = f"{cmd} {name}" if name else cmd
            if stmt_end == q and where is None:
                self.issues.append(Issue(line, f"{label}: no defining proposition found; skipped"))
                return self.skip_proof(n, q, limit, label)
            if self.word(end, limit) in PROOF_START:  # function … by pat_completeness auto
                e, closed, limit, n = self.scan_proof(end, limit, n)
                if not closed:
                    self.issues.append(Issue(line, f"{label}: proof not closed (missing qed/done?); kept the statement"))
                end = e
            if where is not None and end > where:
                proof = text[self.st[where].start:self.st[end - 1].end]
        self.trailing(end, limit, cmd)
        start = self.st[pos].start
        stop_tok = self.st[stmt_end - 1] if stmt_end > pos else self.st[pos]
        fixes, assumes, shows = self.parts(q, stmt_end if cmd in GOALS else q)
        cmt = "\n".join(_unquote_comment(t.text) for t in comments) or None
        base = locale.rsplit(".", 1)[-1] if locale else None
        full = name and (f"{self.theory}." if self.theory else "") + (f"{base}." if base else "") + name
        self.decls.append(IsabelleDecl(
            kind=cmd, name=name, full_name=full, statement=text[start:stop_tok.end], start=start, end=stop_tok.end,
            proof=proof, line=line, fixes=fixes, assumes=assumes, shows=shows, attributes=attrs, locale=locale,
            options=options, modifiers=modifiers, context=context[0] if context else None,
            context_start=context[1] if context else None, comment=cmt, proof_closed=closed))
        return n + 1

    def skip_proof(self, n: int, i: int, limit: int, label: str) -> int:
        """A declaration that was not read: its proof (if any) is skipped with it, the rest is reported."""
        if self.word(i, limit) in PROOF_START:
            i, _, limit, n = self.scan_proof(i, limit, n)
        self.trailing(i, limit, label)
        return n + 1

    def attributes(self, r: int, a: int) -> list[str]:
        if a <= r:
            return []
        inner = self.text[self.st[r].end:self.st[a - 1].start]
        return [x.strip() for x in inner.split(",") if x.strip()]

    def decl_where(self, q: int, limit: int) -> int | None:
        """`name [:: type] [mixfix] (and …)* where`: the position of `where`, or None (no decl part)."""
        r = q
        while True:
            t = self.st[r] if r < limit else None
            if t is None or t.kind not in ("id", "str") or t.text in ("where", "and", "for") or \
                    t.kind == "str" and self.word(r + 1, limit) not in ("::", "where", "("):
                return None  # a name is an identifier or a string: definition "c" :: "t" where …
            r += 1
            if self.word(r, limit) == "::":
                r += 1
                if self.word(r, limit) == "'":
                    r += 1
                if r >= limit or self.st[r].kind not in ("str", "cart", "id"):
                    return None
                r += 1
            if self.word(r, limit) == "(":
                r = self.group_end(r, limit)
            if self.word(r, limit) != "and":
                break
            r += 1
        return r if self.word(r, limit) == "where" else None

    def equations(self, r: int, limit: int) -> int:
        """`[name [attrs]:] "prop" ["prop" …] [if …] [for …]` separated by `|`: the position after them."""
        while True:
            begin = r
            s = r + (self.st[r].kind == "id" and self.word(r + 1, limit) in (":", "[") if r < limit else 0)
            a = self.group_end(s, limit) if self.word(s, limit) == "[" else s
            if (s > r or a > s) and self.word(a, limit) == ":":
                r = a + 1
            if r >= limit or self.st[r].kind not in _PROP:
                return begin
            while r < limit and self.st[r].kind in _PROP:
                r += 1
            if self.word(r, limit) == "if":
                r += 1
                while r < limit and (self.st[r].kind in _PROP or self.word(r, limit) == "and"):
                    r += 1
            if self.word(r, limit) == "for":
                r = self.fixes(r + 1, limit)
            if self.word(r, limit) != "|":
                return r
            r += 1

    def fixes(self, r: int, limit: int) -> int:
        """`x y :: "t" (mixfix) and z`: an unknown command on a new line after a complete fix ends it."""
        expect = True  # a variable must follow (after `for`, `and`)
        while r < limit:
            t, w = self.st[r], self.word(r, limit)
            if w == "and":
                expect, r = True, r + 1
            elif w == "::":
                r += 2
                expect = False
            elif w == "(":
                r = self.group_end(r, limit)
            elif t.kind == "id" and (expect or not self.starts_line(r)) and t.text not in ("where", "if"):
                expect, r = False, r + 1
            else:
                break
        return min(r, limit)

    def methods(self, i: int, limit: int, most: int) -> int:
        """Skip the methods of `by m1 [m2]` / `qed [m]`: a name or a (…) group with `+`/`?`/`[n]` suffixes.
        A method after the first (and `qed`'s) must start on the line where the previous token ends."""
        for m in range(most):
            if i >= limit or (m > 0 or most == 1) and self.starts_line(i) and \
                    (self.word(i, limit) not in METHODS and self.word(i, limit) != "(" or most == 1):
                break
            t, w = self.st[i], self.word(i, limit)
            if w == "(":
                i = self.group_end(i, limit)
            elif (t.kind == "id" and t.text not in PROOF_WORDS and t.text not in THEORY_COMMANDS) or w == "-":
                i += 1
            else:
                break
            while self.word(i, limit) in ("+", "?") and not self.starts_line(i):
                i += 1
            if self.word(i, limit) == "[" and not self.starts_line(i):
                i = self.group_end(i, limit)
        return i

    def scan_proof(self, i: int, limit: int, n: int) -> tuple[int, bool, int, int]:
        """Follow a proof from position i until the goal is finished: (end, closed, limit, head index).

        Diagnostics and `text` (heads) met while the proof is unfinished belong to it: the limit then moves
        on to the next head."""
        heads, words, depth, done = self.heads, self.w, 0, False
        while True:
            if i >= limit:
                if not done and n + 1 < len(heads) and heads[n + 1][1] == limit and \
                        self.st[limit].text in DUAL:
                    n += 1
                    limit = heads[n + 1][1] if n + 1 < len(heads) else len(self.sig)
                    continue
                return i, done, limit, n
            w = words[i]
            if done:
                if w not in PROOF_WORDS:
                    return i, True, limit, n
            elif w not in _SCAN:  # most proof tokens change nothing while the goal is open
                i += 1
                continue
            if w in ("(", "["):
                i = self.group_end(i, limit)
                continue
            i += 1
            if w == "proof":
                depth, done = depth + 1, False
            elif w == "qed":
                depth -= 1
                if depth <= 0:
                    depth, done = 0, True
                    i = self.methods(i, limit, 1)
            elif w == "oops":
                return i, True, limit, n
            elif depth == 0 and w == "by":
                done = True
                i = self.methods(i, limit, 2)
            elif depth == 0 and w in ("done", "sorry", ".", ".."):
                done = True
            elif w in ("txt", "ML_prf"):  # proof text: its cartouche follows, the state stays
                i += self.st[i].kind in ("str", "cart", "verb") if i < limit else 0
            elif depth == 0 and w in PROOF_WORDS:
                done = False

    def parts(self, p: int, stop: int) -> tuple[list[str], list[str], list[str]]:
        if p >= stop:
            return [], [], []
        parts: dict[str, list[str]] = {k: [] for k in ("fixes", "assumes", "shows")}
        cur = "shows"
        st = self.st
        for q in range(p, stop):
            t = st[q]
            if t.kind == "id" and t.text in _PARTS:
                cur = t.text
                if cur in parts:
                    parts[cur].append("")
                continue
            if t.kind == "id" and t.text == "and" and cur in parts:
                parts[cur].append("")
                continue
            if cur in parts:
                prev = st[q - 1] if q > p else None
                if not parts[cur] or (cur != "fixes" and t.kind in ("str", "cart") and prev is not None
                                      and prev.kind in ("str", "cart")):
                    parts[cur].append("")  # `shows "A" "B"`: two propositions
                parts[cur][-1] = (parts[cur][-1] + " " + t.text).strip()
        fixes = [s for s in parts["fixes"] if s]
        assumes = [_strip_quotes(s) for s in parts["assumes"] if s]
        shows = [_strip_quotes(s) for s in parts["shows"] if s]
        return fixes, assumes, shows


_QUOTED = re.compile(r'^(\w+\s*:\s*)?(?:"(.*)"|‹(.*)›|\\<open>(.*)\\<close>)$', re.S)


def _strip_quotes(s: str) -> str:
    m = _QUOTED.match(s)
    return (m.group(1) or "") + next(g for g in m.groups()[1:] if g is not None) if m else s


def _unquote_comment(c: str) -> str:
    if c.startswith("(*") and c.endswith("*)"):
        return c[2:-2].strip()
    c = re.sub(r"^(\\<comment>|—|--)\s*", "", c)
    for o, e in (("‹", "›"), ("\\<open>", "\\<close>"), ('"', '"'), ("{*", "*}")):
        if c.startswith(o) and c.endswith(e) and len(c) >= len(o) + len(e):
            return c[len(o):-len(e)].strip()
    return c.strip()


def parse_isabelle(text: str) -> IsabelleFile:
    r = _Reader(text)
    r.read()
    return IsabelleFile(theory=r.theory, imports=r.imports, decls=r.decls, texts=r.texts, issues=r.issues)
