"""Python source -> docstring/code pairs, with `ast`.

Every function, method and class with a docstring becomes one item: the docstring is the
informal side, the full source of the definition (decorators included) the formal side.
Definitions without a docstring carry no natural language, so by default they are skipped and
reported (`CodeConfig.keep_undocumented=True` keeps them as code-only items). A file that does
not parse is split at top-level `def`/`class` lines and each chunk is parsed on its own, so one
syntax error costs only the chunk that holds it.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from dataclasses import dataclass

from formal.source import Issue, line_starts


@dataclass
class CodeConfig:
    keep_undocumented: bool = False
    """Keep functions/classes without a docstring as code-only records (default: skip and report)."""
    min_docstring_chars: int = 3
    """Shorter docstrings count as missing."""


@dataclass
class CodeItem:
    kind: str  # function, async function, class, method
    name: str
    qualname: str
    docstring: str | None
    code: str
    start: int
    end: int
    """`text[start:end] == code`."""
    line: int


_TOP = re.compile(r"^(?:@|def |async def |class )", re.M)


def parse_python(text: str, config: CodeConfig = CodeConfig()) -> tuple[list[CodeItem], list[Issue]]:
    issues: list[Issue] = []
    items: list[CodeItem] = []
    starts = line_starts(text)
    try:
        tree = ast.parse(text)
        _collect(tree, text, 0, starts, "", items, issues, config)
        return items, issues
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None) or 1
        issues.append(Issue(line, f"Python syntax error ({type(exc).__name__}: {getattr(exc, 'msg', exc)}); "
                                  "reading the file chunk by chunk"))
    cuts = [m.start() for m in _TOP.finditer(text)]
    # a decorator line belongs to the def that follows it
    cuts = [c for k, c in enumerate(cuts) if k == 0 or not text.startswith("@", cuts[k - 1])]
    bounds = [0] + cuts + [len(text)]
    for a, b in zip(bounds, bounds[1:]):
        chunk = text[a:b]
        if not chunk.strip():
            continue
        try:
            tree = ast.parse(chunk)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            line = bisect_right(starts, a) + (getattr(exc, "lineno", None) or 1) - 1
            issues.append(Issue(line, f"Python syntax error ({getattr(exc, 'msg', exc)}); this chunk skipped"))
            continue
        _collect(tree, text, a, starts, "", items, issues, config)
    return items, issues


def _offset(starts: list[int], base_line: int, line: int, col_bytes: int, text: str) -> int:
    """Character offset of an ast (line, utf-8 byte column) position inside a chunk starting at base_line."""
    ls = starts[base_line + line - 2]
    le = starts[base_line + line - 1] if base_line + line - 1 < len(starts) else len(text)
    return ls + len(text[ls:le].encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))


def _collect(tree: ast.AST, text: str, base: int, starts: list[int], prefix: str, items: list[CodeItem],
             issues: list[Issue], config: CodeConfig, in_class: bool = False) -> None:
    base_line = bisect_right(starts, base)
    for node in ast.iter_child_nodes(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        first_col = node.col_offset if first == node.lineno else next(
            d.col_offset - 1 for d in node.decorator_list if d.lineno == first)
        start = _offset(starts, base_line, first, first_col, text)
        end = _offset(starts, base_line, node.end_lineno, node.end_col_offset, text)
        kind = "class" if isinstance(node, ast.ClassDef) else \
            ("method" if in_class else "function") if isinstance(node, ast.FunctionDef) else \
            ("async method" if in_class else "async function")
        qual = f"{prefix}{node.name}"
        doc = ast.get_docstring(node)
        line = base_line + first - 1
        if doc is not None and len(doc.strip()) < config.min_docstring_chars:
            doc = None
        if doc is not None or config.keep_undocumented:
            items.append(CodeItem(kind, node.name, qual, doc, text[start:end], start, end, line))
        else:
            issues.append(Issue(line, f"{kind} {qual}: no docstring; skipped"))
        _collect(node, text, base, starts, f"{qual}.", items, issues, config, isinstance(node, ast.ClassDef))
