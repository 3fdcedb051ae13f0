"""LeanDojo: benchmark files (traced theorems) without lean-dojo, and repository tracing with it.

A LeanDojo Benchmark file is a JSON list (or JSON lines) of theorems:
`{"url", "commit", "file_path", "full_name", "start": [line, col], "end": [line, col],
"traced_tactics": [{"tactic", "annotated_tactic", "state_before", "state_after"}, ...]}`.
The benchmark has no statement text, so an item's formal side is the initial goal (the first
tactic's `state_before`); a theorem without traced tactics (a term-mode proof) has none and is
skipped with that reason. With `granularity="tactic"` each traced tactic is an item
(state before + tactic).

`trace_repo` (the `lean` extra) traces a Git repository at a commit through lean-dojo; it needs
a Lean toolchain (elan/lake) and network access, and raises `TracingUnavailable` naming what
is missing instead of failing deep inside lean-dojo.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass, field
from typing import Any, Iterable

from formal.source import Issue


class TracingUnavailable(RuntimeError):
    """lean-dojo tracing cannot run here; the message says what is missing (one line)."""


@dataclass
class DojoItem:
    full_name: str
    file_path: str
    formal: str
    """Initial goal (theorem granularity) or `state_before` + tactic (tactic granularity)."""
    proof: str
    """The traced tactics, one per line (theorem granularity) or the tactic itself."""
    meta: dict[str, Any] = field(default_factory=dict)


def lean_lang(url: str | None) -> str:
    """Mathlib 3 (`leanprover-community/mathlib`, no 4) and lean3 repos are Lean 3; everything else Lean 4."""
    u = (url or "").rstrip("/").lower()
    return "lean3" if u.endswith("/mathlib") or "lean3" in u else "lean4"


def _pos(p: Any) -> list[int] | None:
    if isinstance(p, (list, tuple)) and len(p) == 2:
        return [int(p[0]), int(p[1])]
    if hasattr(p, "line_nb"):
        return [int(p.line_nb), int(p.column_nb)]
    return None


def items_from_rows(rows: Iterable[tuple[int, Any]], granularity: str = "theorem") -> tuple[list[DojoItem], list[Issue]]:
    """(position, theorem dict) pairs -> items; `position` is the line (jsonl) or list index + 1 (json)."""
    items: list[DojoItem] = []
    issues: list[Issue] = []
    for pos, row in rows:
        if not isinstance(row, dict) or not row.get("full_name"):
            issues.append(Issue(pos, "not a LeanDojo theorem (no full_name); skipped"))
            continue
        name, path = str(row["full_name"]), str(row.get("file_path") or "")
        tactics = [t for t in row.get("traced_tactics") or [] if isinstance(t, dict) and t.get("tactic")]
        base = {"name": name, "full_name": name, "file": path, "url": row.get("url"), "commit": row.get("commit"),
                "start": _pos(row.get("start")), "end": _pos(row.get("end")), "decl_kind": "theorem"}
        if not tactics:
            issues.append(Issue(pos, f"{name}: no traced tactics (term-mode proof?), so no goal text; skipped"))
            continue
        if granularity == "tactic":
            for k, t in enumerate(tactics):
                before = str(t.get("state_before") or "")
                items.append(DojoItem(name, path, f"{before}\n{t['tactic']}".strip(), str(t["tactic"]),
                                      {**base, "step": k, "state_after": t.get("state_after")}))
            continue
        goal = str(tactics[0].get("state_before") or "").strip()
        if not goal:
            issues.append(Issue(pos, f"{name}: first traced tactic has no state_before; skipped"))
            continue
        proof = "\n".join(str(t["tactic"]) for t in tactics)
        items.append(DojoItem(name, path, goal, proof, {**base, "tactics": len(tactics)}))
    return items, issues


def read_benchmark(text: str, granularity: str = "theorem") -> tuple[list[DojoItem], list[Issue]]:
    """A benchmark file's text (JSON list, one JSON object, or JSON lines)."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [Issue(exc.lineno, f"invalid JSON ({exc.msg}); file skipped")]
        return items_from_rows(((k + 1, r) for k, r in enumerate(data)), granularity)
    rows, issues = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            issues.append(Issue(n, f"invalid JSON line ({exc.msg}); skipped"))
    items, more = items_from_rows(rows, granularity)
    return items, issues + more


def theorem_row(thm: Any) -> dict[str, Any]:
    """A lean-dojo TracedTheorem as a benchmark-style dict (same shape `items_from_rows` reads)."""
    t = thm.theorem
    tactics = []
    for tt in thm.get_traced_tactics():
        tactics.append({"tactic": tt.tactic, "state_before": tt.state_before, "state_after": tt.state_after})
    return {"full_name": t.full_name, "file_path": str(t.file_path), "url": t.repo.url, "commit": t.repo.commit,
            "start": _pos(thm.start), "end": _pos(thm.end), "traced_tactics": tactics}


def missing_for_tracing(host: str = "github.com") -> list[str]:
    """What tracing needs and this machine lacks (empty when it can run)."""
    missing = []
    try:
        import lean_dojo  # noqa: F401
    except ImportError:
        return ["lean-dojo (pip install 'curate[lean]')"]
    if not any(shutil.which(x) for x in ("lake", "elan", "lean")):
        missing.append("a Lean toolchain (no lake/elan/lean on PATH; install elan)")
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        missing.append(f"network access to {host}")
    return missing


def trace_repo(url: str, commit: str, granularity: str = "theorem") -> tuple[list[DojoItem], list[Issue]]:
    """Trace `url` at `commit` with lean-dojo (slow: builds the repository) and read its theorems."""
    missing = missing_for_tracing()
    if missing:
        raise TracingUnavailable(f"cannot trace {url}@{commit}: missing " + " and ".join(missing))
    from lean_dojo import LeanGitRepo, trace

    traced = trace(LeanGitRepo(url, commit))
    rows = [(k + 1, theorem_row(thm)) for k, thm in enumerate(traced.get_traced_theorems())]
    return items_from_rows(rows, granularity)
