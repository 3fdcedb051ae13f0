"""The typed ranking reads and writes the ranking JSON key for key, and refuses bad files in one line."""

from __future__ import annotations

import json
import math

import pytest

from curate.errors import CurateError
from curate.types import MetricScore, RankRow, Ranking


def score(a: float, **kw) -> dict:
    return {"alignment": a, "ci_low": a - 0.01, "ci_high": a + 0.01, "pairs": 16, "diversity": 0.2,
            "diversity_ci_low": 0.1, "diversity_ci_high": 0.3, "used": 128, **kw}


def legacy_ranking() -> dict:
    """A ranking as `curate rank --json` wrote it before the type existed (no `complete` key)."""
    rows = []
    for i, (name, a) in enumerate([("a", 0.9), ("b", 0.5)], 1):
        s = score(a)
        rows.append({"source": name, "alignment": a, "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                     "diversity": 0.2, "records": 100, "tokens": 5000, "license": "MIT", "kind": "pair",
                     "formal_lang": "lean4", "fingerprint": f"fp{i}", "alignments": {"task2vec": s}, "rank": i})
    return {"target": "proofnet", "target_records": 186, "target_fingerprint": "abc", "primary_metric": "task2vec",
            "config": {"target": "proofnet", "sources": ["a", "b"], "metrics": {"task2vec": {"batches": 4}}},
            "versions": {"curate": "0.1.0"}, "excluded": [{"source": "c", "reason": "hub"}], "notes": ["n"],
            "results": rows, "agreement": {}, "disagreements": []}


def test_legacy_file_round_trips_exactly(tmp_path):
    data = legacy_ranking()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data, indent=2))
    r = Ranking.from_json(path)
    assert r.complete and r.sources == ["a", "b"] and r.metrics == ["task2vec"]
    assert isinstance(r.results[0], RankRow) and isinstance(r.row("b").alignments["task2vec"], MetricScore)
    assert r.row("a").alignments["task2vec"].half_width == pytest.approx(0.01)
    assert r.to_json() == data  # no key added (not even `complete`), none lost
    assert list(r.to_json()["results"][0]) == list(data["results"][0])  # and in the same order


def test_unknown_keys_are_kept_and_minimal_rankings_load():
    data = {"target": "t", "results": [{"source": "s", "alignment": 0.3, "mine": [1, 2]}], "later": {"x": 1}}
    r = Ranking.from_json(data)
    assert r.to_json() == data
    assert r.results[0].extra == {"mine": [1, 2]} and math.isnan(r.results[0].ci_low)


def test_written_ranking_is_read_back_equal(tmp_path):
    r = Ranking(target="t", primary_metric="m", complete=False,
                results=[RankRow(source="s", alignment=0.4, ci_low=0.3, ci_high=0.5, diversity=0.1, rank=1,
                                 alignments={"m": MetricScore(0.4, 0.3, 0.5, 8, 0.1, 0.05, 0.15, 64, batches=2)})])
    r.write(tmp_path / "out" / "r.json")
    back = Ranking.from_json(tmp_path / "out" / "r.json")
    assert back == r and back.complete is False
    assert back.to_json()["results"][0]["alignments"]["m"]["batches"] == 2
    no_batches = MetricScore(alignment=0.1).to_json()
    assert "batches" not in no_batches  # only adaptive batching reports it


def test_partial_ranking_may_be_empty_but_a_complete_one_may_not():
    assert Ranking.from_json({"target": "t", "results": [], "complete": False}).results == []
    with pytest.raises(CurateError, match="ranks no sources"):
        Ranking.from_json({"target": "t", "results": []})


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{\"target\": ", "malformed JSON"),
    (b"[1, 2]", "is not a curate ranking"),
    (b"{\"target\": \"t\"}", "needs keys target, results"),
    (b"{\"target\": \"t\", \"results\": [{\"source\": \"s\"}]}", "result 1 lacks source or alignment"),
    (b"{\"target\": \"t\", \"results\": [{\"source\": \"s\", \"alignment\": \"high\"}]}", "non-numeric alignment"),
    (b"{\"target\": \"t\", \"results\": [{\"source\": \"s\", \"alignment\": 1, \"alignments\": []}]}", "not an object"),
    (b"{\"target\": \"t\", \"results\": [{\"source\": \"s\", \"alignment\": 1, \"alignments\": {\"m\": {}}}]}",
     "metric 'm' has no numeric alignment"),
    (b"{\"target\": \"t\", \"results\": [], \"complete\": \"no\"}", "'complete' must be true or false"),
])
def test_bad_files_fail_in_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CurateError, match=message) as info:
        Ranking.from_json(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_row_lookup_names_the_missing_source():
    with pytest.raises(CurateError, match="'zz' is not in the ranking"):
        Ranking.from_json(legacy_ranking()).row("zz")


def test_given_is_the_value_read_or_the_default_where_the_input_lacked_the_key():
    r = Ranking.from_json({"target": "t", "results": [{"source": "s", "alignment": 0.5, "license": ""}]})
    row = r.results[0]
    assert row.given("license") == "" and row.given("fingerprint") is None and row.given("rank", 7) == 7
    assert row.fingerprint == "" and row.rank == 0  # the fields themselves keep their defaults
    assert r.given("primary_metric") is None and r.given("target") == "t"
