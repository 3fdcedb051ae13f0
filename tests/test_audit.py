"""`curate audit` (contamination report) and `curate targets`."""

from __future__ import annotations

import json

import pytest

from curate import audit, catalog
from curate.catalog import SourceSpec
from curate.cli import main
from curate.errors import CurateError

LONG = ("Let G be a finite group and H a subgroup of index two; prove that H is normal in G and that "
        "every left coset of H is also a right coset.")
TARGET = [
    {"id": "t1", "informal": LONG,
     "formal": "theorem idx_two {G : Type*} [Group G] (H : Subgroup G) (h : H.index = 2) : H.Normal :="},
    {"id": "t2", "informal": "Show that the square of an odd integer is odd.",
     "formal": "theorem odd_sq (n : ℤ) (h₀ : Odd n) (h₁ : 0 < n) : Odd (n ^ 2) :="},
]
CANDIDATES = [
    {"id": "renamed", "informal": None,  # formal-only, renamed and reordered: only the canonical form finds it
     "formal": "theorem copy (m : ℤ) (pos : 0 < m) (odd : Odd m) : Odd (m ^ 2) := by simp"},
    {"id": "same-text", "informal": "show that the SQUARE of an odd integer is odd", "formal": None},
    {"id": "window", "informal": "Exercise. " + LONG + " Then generalise.", "formal": None},
    {"id": "clean", "informal": "Compute the derivative of x cubed.", "formal": "theorem d : deriv (fun x : ℝ => x ^ 3) 1 = 3 :="},
]


def _register(tmp_path, name, rows, role="candidate"):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({**r, "formal_lang": "lean4"}, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    catalog.register(SourceSpec(name=name, path=str(path), kind="text", license="test", role=role,
                                fields={"id": "id", "informal": "{informal?}", "formal": "{formal?}",
                                        "formal_lang": "formal_lang"}))


@pytest.fixture
def tiny(tmp_path, isolated_cache):
    from curate import load

    load._CACHE.clear()
    _register(tmp_path, "tgt", TARGET)
    _register(tmp_path, "cand", CANDIDATES)
    yield tmp_path
    load._CACHE.clear()


def test_audit_counts_every_overlap_by_kind(tiny):
    report = audit.audit(audit.AuditConfig(target="tgt", sources=["cand"]))
    (s,) = report.sources
    assert (s.source, s.records, s.flagged, s.items) == ("cand", 4, 3, 2)
    assert s.by_kind == {"known": 0, "exact": 1, "canonical": 1, "near": 0, "ngram": 1}
    pairs = {(p.record_id, p.target_id, p.kind) for p in report.pairs}
    assert pairs == {("renamed", "t2", "canonical"), ("same-text", "t2", "exact"), ("window", "t1", "ngram")}
    j = report.to_json()
    assert j["totals"] == {"records": 4, "flagged": 3, "by_kind": s.by_kind, "items": 2}
    assert j["config"]["sources"] == ["cand"] and j["target_records"] == 2
    json.dumps(j)  # plain JSON


def test_audit_without_formal_misses_the_renamed_statement(tiny):
    report = audit.audit(audit.AuditConfig(target="tgt", sources=["cand"], formal=False))
    assert report.sources[0].flagged == 2
    assert "renamed" not in {p.record_id for p in report.pairs}


def test_audit_bad_input_fails_before_work(tiny):
    with pytest.raises(CurateError, match="unknown source"):
        audit.audit(audit.AuditConfig(target="tgt", sources=["nope"]))
    with pytest.raises(CurateError, match="cannot also be a source"):
        audit.audit(audit.AuditConfig(target="tgt", sources=["tgt"]))
    with pytest.raises(CurateError, match="--near"):
        audit.audit(audit.AuditConfig(target="tgt", sources=["cand"], near=1.5))


def test_cli_audit_table_and_json(tiny, capsys):
    out = tiny / "audit.json"
    assert main(["audit", "--target", "tgt", "--source", "cand", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cand" in printed and "cand/renamed ~ t2 [canonical" in printed
    data = json.loads(out.read_text())
    assert data["totals"]["flagged"] == 3 and len(data["pairs"]) == 3
    assert main(["audit", "--target", "nope"]) == 1


def test_cli_targets_lists_registered_datasets(tiny, capsys):
    out = tiny / "targets.json"
    assert main(["targets", "--json", str(out)]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["targets"]}
    assert rows["tgt"]["registered"] and rows["tgt"]["items"] == 2
    assert {"proofnet", "minif2f", "putnambench", "putnambench-isabelle", "minif2f-isabelle-test",
            "proofnet-lean3"} <= set(rows)
    assert "putnambench-isabelle" in rows["putnambench"]["held_by"]
    assert "putnambench-lean4" in rows["proofnet"]["item_overlaps"]


@pytest.mark.shared_data
def test_targets_item_counts_on_the_shared_data():
    rows = {r["name"]: r for r in audit.targets()}
    assert {n: rows[n]["items"] for n in ("proofnet", "proofnet-lean3", "minif2f", "minif2f-isabelle-test",
                                          "putnambench", "putnambench-isabelle")} == {
        "proofnet": 186, "proofnet-lean3": 186, "minif2f": 244, "minif2f-isabelle-test": 243, "putnambench": 644,
        "putnambench-isabelle": 640}
    assert set(rows["minif2f"]["held_by"]) == {"minif2f-lean4", "minif2f-isabelle", "minif2f-isabelle-test",
                                               "dsp-isabelle-proofs"}


@pytest.mark.shared_data
def test_audit_on_the_shared_data_finds_copies_and_known_overlaps():
    report = audit.audit(audit.AuditConfig(target="proofnet", sources=["proofnet-lean3", "putnambench-isabelle"]))
    by = {s.source: s for s in report.sources}
    assert by["proofnet-lean3"].holds == ["proofnet-test"] and by["proofnet-lean3"].items == 186
    assert by["putnambench-isabelle"].by_kind["known"] == 6
    assert any("putnambench-isabelle holds 6" in n for n in report.notes)
