"""Formal-language knowledge without a proof assistant: source text -> declarations -> records.

- `formal.readers.read_paths(paths, kind, source)`: files/folders -> (records, skipped), used by `curate ingest`
- `formal.lean.parse_lean`, `formal.isabelle.parse_isabelle`, `formal.code.parse_python`,
  `formal.text.parse_latex` / `parse_markdown`, `formal.leandojo.read_benchmark` / `trace_repo`
- `formal.detect`: reader by extension, Lean 3 vs Lean 4

Depends only on `curate.records` (no torch).
"""
