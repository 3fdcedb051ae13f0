"""Disguised copies of a formal statement, to measure what decontamination sees through.

Each kind rewrites the raw text with regular expressions, independently of `formal.canonical`:
- `rename_theorem` (a): a new declaration name;
- `rename_binders` (b): every signature variable, hypothesis, `fixes` name, assumption label and bound
  variable (`∀ ∃ λ fun ∑ ∏`, set-builder) renamed, consistently;
- `ascii` (c): unicode notation to ASCII (`ℝ` → `Real`, `→` → `->`, `≤` → `<=`, Isabelle `\\<le>` → `<=`, …),
  or ASCII to unicode when the text has no unicode to replace;
- `lean_version` (d): Lean 4 → Lean 3 spelling (`fun x =>` → `λ x,`, `Nat.Prime` → `nat.prime`,
  `IsOpen` → `is_open`) or Lean 3 → Lean 4; not applicable to Isabelle;
- `reorder_hypotheses` (e): the hypothesis binders (`(h… : …)`, Isabelle `assumes`) in reverse order;
  applicable when there are at least two.
A kind that does not apply (or changes nothing) returns None.
"""

from __future__ import annotations

import re

KINDS = ("rename_theorem", "rename_binders", "ascii", "lean_version", "reorder_hypotheses")
_ID = r"[^\W\d][\w'₀-₉]*"
_EDGE_L, _EDGE_R = r"(?<![\w'₀-₉])(?<![^.]\.)", r"(?![\w'₀-₉])"


def _is_isabelle(text: str) -> bool:
    return "\\<" in text or bool(re.search(r"\b(fixes|assumes|shows)\b", text))


def rename_theorem(text: str) -> str | None:
    m = re.search(r"\b(theorem|lemma)\s+(" + _ID + r")", text)
    if not m:
        return None
    name = m.group(2)
    return re.sub(_EDGE_L + re.escape(name) + _EDGE_R, "planted_" + name[::-1].replace("'", ""), text)


def _binder_names(text: str) -> list[str]:
    names: list[str] = []
    isa = _is_isabelle(text)
    if isa:
        for m in re.finditer(r"\bfixes\s+(.*?)(?=\bassumes\b|\bshows\b|\bdefines\b|$)", text, re.S):
            for part in re.split(r"\band\b", m.group(1)):
                names += re.findall(_ID, part.split("::")[0])
        names += re.findall(r"(?:assumes|and)\s+(" + _ID + r")\s*:", text)
        for m in re.finditer(r"(?:\\<forall>|\\<exists>|\\<lambda>|\\<Sum>|\\<Prod>|ALL|EX)\s*((?:" + _ID +
                             r"\s*)+)(?=::|\.|\\<in>|=|<|>)", text):
            names += re.findall(_ID, m.group(1))
        names += re.findall(r"\{\s*(" + _ID + r")\s*(?:::|\.)", text)
    else:
        start, sig = _signature(text)
        for a, b in _top_groups(sig):
            m = re.match(r"[({⦃\[]\s*((?:" + _ID + r"\s+)*" + _ID + r")\s*:(?!=)", sig[a:b])
            if m:
                names += m.group(1).split()
        for m in re.finditer(r"(?:∀|∃!?|λ|\bfun\b|∑|∏|⋃|⋂|∫)((?:\s*\(?\s*" + _ID + r")+)", text):
            for n in re.findall(_ID, m.group(1)):
                if n == "in":
                    break
                names.append(n)
        names += re.findall(r"\{\s*(" + _ID + r")\s*(?:\||:|∈)", text)
    keep = {"fun", "in", "and", "assumes", "shows", "fixes", "Type", "Prop", "real", "nat", "int", "_"}
    out = []
    for n in names:
        if n not in keep and n not in out and not n.startswith(("Finset", "Set", "Nat", "Real")):
            out.append(n)
    return out


def rename_binders(text: str) -> str | None:
    names = _binder_names(text)
    if not names:
        return None
    fresh = {n: f"zv{i}q" for i, n in enumerate(names)}
    pat = re.compile(_EDGE_L + "(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"
                     + _EDGE_R)
    parts = re.split(r"(\\<[^>]*>)", text)  # never inside an Isabelle symbol such as \<forall>
    out = "".join(p if p.startswith("\\<") else pat.sub(lambda m: fresh[m.group(1)], p) for p in parts)
    return out if out != text else None


_LEAN_ASCII = [("ℝ", "Real"), ("ℕ", "Nat"), ("ℤ", "Int"), ("ℚ", "Rat"), ("ℂ", "Complex"), ("→", "->"),
               ("↔", "<->"), ("≤", "<="), ("≥", ">="), ("∀", "forall"), ("∃", "exists"), ("¬", "Not"),
               ("∧", "/\\"), ("∨", "\\/"), ("λ", "fun")]
_ISA_ASCII = [("\\<le>", "<="), ("\\<ge>", ">="), ("\\<longrightarrow>", "-->"), ("\\<Longrightarrow>", "==>"),
              ("\\<Rightarrow>", "=>"), ("\\<and>", "&"), ("\\<or>", "|"), ("\\<not>", "~"), ("\\<noteq>", "~="),
              ("\\<forall>", "ALL "), ("\\<exists>", "EX "), ("\\<lambda>", "%"), ("\\<in>", ":")]


def ascii(text: str) -> str | None:
    table = _ISA_ASCII if _is_isabelle(text) else _LEAN_ASCII
    out = text
    for u, a in table:
        out = out.replace(u, f" {a} " if a in ("forall", "exists", "Not", "fun") else a)
    if out == text:  # already ASCII: go the other way (multi-character operators and words only)
        for u, a in table:
            if len(a.strip()) < 2:
                continue
            if a.strip().isalpha():
                out = re.sub(_EDGE_L + re.escape(a.strip()) + r"(?![\w'₀-₉.])", u, out)
            else:
                out = out.replace(a, u)
    return out if out != text else None


def _snake(name: str) -> str:
    parts = name.split(".")
    return ".".join(re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", p).lower() for p in parts)


def _camel(name: str) -> str:
    parts = name.split(".")
    return ".".join("".join(w[:1].upper() + w[1:] for w in p.split("_")) if "_" in p or p[:1].islower() else p
                    for p in parts)


def lean_version(text: str) -> str | None:
    if _is_isabelle(text):
        return None
    lean3 = bool(re.search(r"λ\s*[^,]*,|\b[a-z]+(?:_[a-z]+)+\b|\bnat\.|\breal\.|\bset\.", text)) and "=>" not in text
    body = text
    if lean3:  # Lean 3 -> Lean 4
        body = re.sub(r"λ\s*([^,]*?),", r"fun \1 =>", body)
        body = re.sub(r"\b([a-z]+(?:_[a-z0-9]+)+|(?:nat|real|int|set|finset|polynomial|complex)\.[a-z_]+)\b",
                      lambda m: _camel(m.group(1)), body)
        body = re.sub(r"\bnat\b", "ℕ", body)
    else:  # Lean 4 -> Lean 3
        body = re.sub(r"\bfun\s+([^=↦]*?)\s*(?:=>|↦)", r"λ \1,", body)
        body = re.sub(r"\b([A-Z][a-z]+(?:[A-Z][a-z]*)+|(?:Nat|Real|Int|Set|Finset|Polynomial|Complex)\.[A-Za-z]+)\b",
                      lambda m: _snake(m.group(1)), body)
        body = body.replace("ℕ", "nat")
    return body if body != text else None


def _signature(text: str) -> tuple[int, str]:
    m = re.search(r"\b(?:theorem|lemma|def)\s+" + _ID, text)
    start = m.end() if m else 0
    return start, text[start:]


def _top_groups(sig: str) -> list[tuple[int, int]]:
    """Spans of the top-level bracket groups of a Lean signature."""
    spans, depth, start = [], 0, None
    for i, ch in enumerate(sig):
        if ch in "([{⦃":
            if depth == 0:
                start = i
            depth += 1
        elif ch in ")]}⦄":
            depth -= 1
            if depth == 0 and start is not None:
                spans.append((start, i + 1))
        elif ch == ":" and depth == 0 and not sig.startswith(":=", i):
            break
    return spans


def _split_outside_quotes(section: str) -> list[str]:
    """Split an Isabelle `assumes` section at the keyword `and` outside quoted terms."""
    parts, cur, inside, i = [], [], False, 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            inside = not inside
        elif not inside and re.match(r"and\b", section[i:]) and (i == 0 or not (section[i - 1].isalnum() or section[i - 1] in "<_")):
            parts.append("".join(cur))
            cur, i = [], i + 3
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def reorder_hypotheses(text: str) -> str | None:
    if _is_isabelle(text):
        m = re.search(r"\bassumes\b(.*?)(?=\bshows\b)", text, re.S)
        if not m:
            return None
        parts = [p.strip() for p in _split_outside_quotes(m.group(1)) if p.strip()]
        if len(parts) < 2:
            return None
        new = " " + "\n  and ".join(reversed(parts)) + "\n  "
        return text[:m.start(1)] + new + text[m.end(1):]
    start, sig = _signature(text)
    groups = _top_groups(sig)
    hyps: list[tuple[int, int]] = []  # the trailing run of hypothesis groups (moving them keeps the text valid)
    for a, b in reversed(groups):
        m = re.match(r"[({]\s*(h[\w'₀-₉]*)\s*:", sig[a:b])
        if not m or len(re.findall(_EDGE_L + re.escape(m.group(1)) + _EDGE_R, text)) > 1:
            break  # not a hypothesis: something mentions it
        hyps.insert(0, (a, b))
    if len(hyps) < 2:
        return None
    texts = [sig[a:b] for a, b in hyps][::-1]
    out, last = [], 0
    for (a, b), t in zip(hyps, texts):
        out.append(sig[last:a])
        out.append(t)
        last = b
    out.append(sig[last:])
    new = text[:start] + "".join(out)
    return new if new != text else None


PLANTERS = {"rename_theorem": rename_theorem, "rename_binders": rename_binders, "ascii": ascii,
            "lean_version": lean_version, "reorder_hypotheses": reorder_hypotheses}


def variant(text: str, kind: str) -> str | None:
    """A disguised copy of `text` of the given kind, or None where the kind does not apply."""
    return PLANTERS[kind](text)
