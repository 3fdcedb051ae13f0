"""Which reader a file needs (by extension and a peek at its content), and Lean 3 vs Lean 4."""

from __future__ import annotations

import re
from pathlib import Path

READER_KINDS = ("lean", "isabelle", "code", "text", "leandojo")
EXTENSIONS = {
    ".lean": "lean", ".thy": "isabelle", ".py": "code",
    ".md": "text", ".markdown": "text", ".tex": "text", ".txt": "text",
    ".json": "leandojo", ".jsonl": "leandojo",
}

_LEAN4 = [re.compile(p, re.M) for p in (
    r"^(?:public |meta |private )*import (Mathlib|Std|Batteries|Lean|Aesop|Init|Qq|ProofWidgets)\b", r"^module\s*$", r":=\s*by\s*$", r"\bfun\b[^\n]*?(=>|↦)",
    r"^\s*·", r"^\s*(theorem|def|instance|structure)\b[^\n]*\bwhere\s*$", r"\bλ[^\n,]*=>", r"^#align", r"^\s*termination_by\b",
    r"^\s*decreasing_by\b", r"\bNat\.[a-z]\w*[A-Z]", r"^variable\b", r"\brcases\b[^\n]*\bwith\s*⟨", r"\bcases\b[^\n]*\bwith\s*$",
    r"^\s*\| [^\n]*=>", r"\b(Nat|Int|Real|Finset|Set|List|Multiset|Polynomial|Complex|Function)\.[a-z]",
    r"\b(Is|Has)[A-Z]\w+", r"<\|", r"\b[a-z]{2,}[A-Z][a-z]\w*", r"‖",
)]
_LEAN3 = [re.compile(p, re.M) for p in (
    r"^import (data|tactic|algebra|analysis|topology|order|logic|linear_algebra|ring_theory|number_theory|"
    r"measure_theory|category_theory|group_theory|field_theory|set_theory|combinatorics|geometry|init|"
    r"probability|dynamics|representation_theory|computability|control|system|meta)(\.|\s*$)",
    r"^\s*begin\s*$", r"^\s*end\s*$", r"\bλ\s*[\w'₀-₉ ]+,", r"\bassume\b", r"^variables\b", r"^open_locale\b",
    r"^noncomputable theory\b", r"^\s*\| [^\n]*:=", r"\bat \w+ ⊢,", r",\s*$", r"^universes?\s+\w+\s+\w",
    r"\bexact ⟨[^\n]*⟩,\s*$", r"^meta def\b", r"^@\[[^\]]*\]\s*$",
    r"\b(nat|int|real|finset|set|list|multiset|polynomial|complex|function)\.[a-z]", r"\b(is|has)_[a-z_]+\b",
    r"λ\s*\([^()]*\)\s*,", r"^(theorem|lemma|def)\s+[a-z][a-z0-9_]*\.[\w.']+", r"^import \.\w", r"\[[a-z]+(_[a-z]+)+\s", r"∥",
)]


def lean_version(text: str) -> str:
    """"lean3" when Lean 3 signals outnumber Lean 4 ones (imports count double), else "lean4"."""
    head = text[:20_000]  # imports and the first declarations decide
    four = sum(p.search(head) is not None for p in _LEAN4) + 2 * bool(_LEAN4[0].search(head))
    three = sum(p.search(head) is not None for p in _LEAN3) + 2 * bool(_LEAN3[0].search(head))
    return "lean3" if three > four else "lean4"


def sniff_json(path: Path) -> bool:
    """A LeanDojo benchmark file: a .json(l) whose first record has `traced_tactics` and `full_name`."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return b'"traced_tactics"' in head and b'"full_name"' in head


def reader_for(path: Path, kind: str = "auto") -> str | None:
    """Reader kind for one file, or None when auto-detection has no reader for it."""
    if kind != "auto":
        return kind
    found = EXTENSIONS.get(path.suffix.lower())
    if found == "leandojo" and not sniff_json(path):
        return None
    return found
