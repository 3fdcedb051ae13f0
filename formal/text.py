"""Informal math text (LaTeX, Markdown, plain text) -> statements and paragraphs.

- LaTeX: theorem-like environments (`theorem`, `lemma`, `problem`, `exercise`, ... and starred
  forms) become items with their optional `[title]`, `\\label`, and the `proof` environment that
  follows; `\\item`s of an `enumerate` inside a problem/exercise section are problems too.
- Markdown and plain text: blocks introduced by a theorem-like word (`**Theorem 2.**`,
  `### Problem 3`, `Lemma.`) or a numbered problem line (`1.`, `2)`, `Problem 4:`) run to the
  next such block, a heading or a blank line followed by a non-indented paragraph; a
  `Proof.`/`Solution.` block after one is kept as its proof.
- Files with none of those give one `paragraph` item per paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from formal.source import Issue

THEOREM_ENVS = ("theorem", "lemma", "proposition", "corollary", "definition", "conjecture", "claim", "problem",
                "exercise", "example", "remark", "question", "fact", "axiom", "hypothesis", "thm", "lem", "prop",
                "cor", "defn", "prob", "exer", "exr")
_WORDS = r"(?:Theorem|Lemma|Proposition|Corollary|Definition|Conjecture|Claim|Problem|Exercise|Example|Question|Fact)"


@dataclass
class TextConfig:
    min_chars: int = 20
    """Paragraph items shorter than this are skipped (headings, page numbers, ...)."""


@dataclass
class TextItem:
    kind: str
    """theorem-like environment or word (lowercase), `problem` for numbered problems, or `paragraph`."""
    text: str
    start: int
    end: int
    """`source[start:end] == text`."""
    line: int
    title: str | None = None
    label: str | None = None
    proof: str | None = None


_ENV = re.compile(r"\\begin\{(" + "|".join(THEOREM_ENVS) + r")(\*?)\}")
_PROOF = re.compile(r"\s*\\begin\{(proof|solution)\*?\}")
_LABEL = re.compile(r"\\label\{([^}]*)\}")
_ENUM = re.compile(r"\\begin\{enumerate\}(.*?)\\end\{enumerate\}", re.S)
_PROBLEM_SECTION = re.compile(r"\\(?:sub)*section\*?\{[^}]*(?:[Pp]roblem|[Ee]xercise)[^}]*\}")
_MD_HEAD = re.compile(rf"^(?P<mark>#+[ \t]*|\*\*|__|\*|_)?(?P<word>{_WORDS})\b[ \t]*(?P<num>\d[\w.]*?)?"
                      r"[ \t]*(?:\((?P<title>[^)\n]*)\))?[ \t]*(?P<punct>[.:])?(?:\*\*|__|\*|_)?[.:]?[ \t]*", re.M)
_NUMBERED = re.compile(r"^[ \t]{0,3}(?:\*\*)?(\d{1,4})[.)](?:\*\*)?[ \t]+(?=\S)", re.M)
_PROOF_MD = re.compile(r"^(?:#+\s*|\*\*|__|\*|_)?(Proof|Solution)\b\s*[.:]?(?:\*\*|__|\*|_)?[.:]?[ \t]*", re.M)
_HEADING = re.compile(r"^#+\s", re.M)


def _index(text: str) -> list[int]:
    starts, i = [0], text.find("\n")
    while i != -1:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def parse_latex(text: str, config: TextConfig = TextConfig()) -> tuple[list[TextItem], list[Issue]]:
    from bisect import bisect_right

    starts = _index(text)
    items: list[TextItem] = []
    issues: list[Issue] = []
    unclosed: dict[str, int] = {}  # env -> a position after which it never closes (keeps bad input linear)
    for m in _ENV.finditer(text):
        env = m.group(1) + m.group(2)
        close = -1 if m.end() >= unclosed.get(env, len(text) + 1) else text.find(f"\\end{{{env}}}", m.end())
        line = bisect_right(starts, m.start())
        if close == -1:
            unclosed[env] = min(unclosed.get(env, m.end()), m.end())
            issues.append(Issue(line, f"\\begin{{{env}}} never closed; skipped"))
            continue
        a = m.end()
        title = None
        rest = text[a:close]
        tm = re.match(r"\s*\[([^\]]*)\]", rest)
        if tm:
            title, a = tm.group(1).strip(), a + tm.end()
        label = _LABEL.search(text, a, close)
        lead = re.match(r"\s*\\label\{[^}]*\}", text[a:close])
        if lead:
            a += lead.end()
        a, b = _trim(text, a, close)
        if a >= b:
            issues.append(Issue(line, f"empty {env} environment; skipped"))
            continue
        proof = None
        after = close + len(f"\\end{{{env}}}")
        pm = _PROOF.match(text, after)
        if pm:
            pend = text.find(f"\\end{{{pm.group(1)}", pm.end())
            if pend != -1:
                proof = text[pm.end():pend].strip()
        items.append(TextItem(_norm_kind(m.group(1)), text[a:b], a, b, line, title, label.group(1) if label else None,
                              proof))
    for sec in _PROBLEM_SECTION.finditer(text):
        nxt = re.compile(r"\\(?:sub)*section\*?\{").search(text, sec.end())
        stop = nxt.start() if nxt else len(text)
        for en in _ENUM.finditer(text, sec.end(), stop):
            body_start = en.start(1)
            cuts = [im.end() for im in re.finditer(r"\\item\b(?:\[[^\]]*\])?", en.group(1))]
            ends = [im.start() for im in re.finditer(r"\\item\b", en.group(1))][1:] + [len(en.group(1))]
            for c, e in zip(cuts, ends):
                a, b = _trim(text, body_start + c, body_start + e)
                if b - a >= config.min_chars:
                    items.append(TextItem("problem", text[a:b], a, b, bisect_right(starts, a)))
    if not items:
        items = paragraphs(text, starts, config, issues)
    items.sort(key=lambda it: it.start)
    return items, issues


def _norm_kind(env: str) -> str:
    short = {"thm": "theorem", "lem": "lemma", "prop": "proposition", "cor": "corollary", "defn": "definition",
             "prob": "problem", "exer": "exercise", "exr": "exercise"}
    return short.get(env, env)


_FENCE = re.compile(r"^(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)


def fenced_blocks(text: str) -> list[tuple[str, int, int]]:
    """(info-string language, body start, body end) of every fenced code block in Markdown."""
    return [(m.group("lang").lower(), m.start("body"), m.end("body")) for m in _FENCE.finditer(text)]


def _mask_code(text: str) -> tuple[str, list[int]]:
    """Blank fenced code blocks, fences included (same length, newlines kept), so prose parsing skips
    them and offsets stay valid; also their start offsets (prose items stop there)."""
    out, last, block_starts = [], 0, []
    for m in _FENCE.finditer(text):
        out += [text[last:m.start()], re.sub(r"[^\n]", " ", m.group())]
        last = m.end()
        block_starts.append(m.start())
    return "".join(out) + text[last:], block_starts


def parse_markdown(text: str, config: TextConfig = TextConfig()) -> tuple[list[TextItem], list[Issue]]:
    """Markdown and plain text (fenced code blocks are left out; `formal.readers` reads Lean/Isabelle ones)."""
    from bisect import bisect_left, bisect_right

    text, block_starts = _mask_code(text)
    starts = _index(text)
    issues: list[Issue] = []
    heads: list[tuple[int, int, str, str | None]] = []  # (start, body start, kind, title)
    for m in _MD_HEAD.finditer(text):
        if m.start() and text[m.start() - 1] != "\n":
            continue
        if not (m.group("mark") or m.group("num") or m.group("punct")):
            continue  # "Theorem provers are ..." is prose, not a statement
        heads.append((m.start(), m.end(), m.group("word").lower(), m.group("title")))
    numbered = list(_NUMBERED.finditer(text))
    if len(numbered) >= 2 or (numbered and not heads):
        taken = {h[0] for h in heads}
        heads += [(m.start(), m.end(), "problem", None) for m in numbered if m.start() not in taken]
    proofs = [(m.start(), m.end()) for m in _PROOF_MD.finditer(text)]
    bounds = sorted({h[0] for h in heads} | {p[0] for p in proofs} | {m.start() for m in _HEADING.finditer(text)}
                    | set(block_starts) | {len(text)})
    items: list[TextItem] = []
    proof_starts = [p[0] for p in proofs]
    for start, body, kind, title in sorted(heads):
        stop = bounds[bisect_right(bounds, start)]
        # a blank line followed by a non-indented, non-continuation paragraph ends a numbered problem
        if kind == "problem":
            gap = re.compile(r"\n[ \t]*\n(?=\S)").search(text, body, stop)
            stop = gap.start() if gap else stop
        a, b = _trim(text, body, stop)
        if a >= b:
            issues.append(Issue(bisect_right(starts, start), f"empty {kind}; skipped"))
            continue
        proof = None
        k = bisect_left(proof_starts, stop)
        nxt = proofs[k] if k < len(proofs) and not text[stop:proofs[k][0]].strip() else None
        if nxt:
            pstop = bounds[bisect_right(bounds, nxt[0])]
            proof = text[nxt[1]:pstop].strip() or None
        items.append(TextItem(kind, text[a:b], a, b, bisect_right(starts, start), title, proof=proof))
    if not items:
        items = paragraphs(text, starts, config, issues)
    return items, issues


def paragraphs(text: str, starts: list[int], config: TextConfig, issues: list[Issue]) -> list[TextItem]:
    from bisect import bisect_right

    items = []
    for m in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", text):
        a, b = _trim(text, m.start(), m.end())
        if b - a < config.min_chars:
            if b > a:
                issues.append(Issue(bisect_right(starts, a), f"paragraph shorter than {config.min_chars} characters; skipped"))
            continue
        items.append(TextItem("paragraph", text[a:b], a, b, bisect_right(starts, a)))
    return items
