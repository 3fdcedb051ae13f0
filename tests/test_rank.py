"""rank's cross-metric summary: where metrics order a pair of sources oppositely."""

from __future__ import annotations

from curate.rank import confident_order, disagreements


def est(value: float, half: float = 0.01) -> dict[str, float]:
    return {"alignment": value, "ci_low": value - half, "ci_high": value + half}


def row(source: str, **alignments: dict) -> dict:
    return {"source": source, "alignments": alignments}


def test_confident_order_needs_disjoint_cis():
    assert confident_order(est(0.5), est(0.4)) == 1
    assert confident_order(est(0.4), est(0.5)) == -1
    assert confident_order(est(0.5, 0.1), est(0.45, 0.1)) == 0


def test_disagreements_are_opposite_confident_orders_only():
    results = [row("a", t=est(0.9), g=est(0.2), e=est(0.50, 0.2)),
               row("b", t=est(0.5), g=est(0.3), e=est(0.55, 0.2)),   # g flips a/b; e overlaps: no verdict
               row("c", t=est(0.1), g=est(0.1), e=est(0.1))]         # every metric agrees c is lowest
    out = disagreements(results, ["t", "g", "e"])
    assert out == [{"sources": ["a", "b"], "higher": {"t": "a", "g": "b", "e": None}}]
    assert disagreements(results, ["t", "e"]) == []  # overlap is not disagreement


def test_rank_table_prints_the_disagreements(capsys):
    from curate import cli, render

    results = [row("a", t=est(0.9), g=est(0.2)), row("b", t=est(0.5), g=est(0.3))]
    for i, r in enumerate(results, 1):
        r.update(rank=i, diversity=0.1, records=10, tokens=100, license="MIT", **r["alignments"]["t"])
    render.ranking({"target": "x", "target_records": 5, "config": {"metrics": {"t": {}, "g": {}}},
                    "results": results, "agreement": {"t~g": -1.0},
                    "disagreements": disagreements(results, ["t", "g"])}, cli.console)
    out = " ".join(capsys.readouterr().out.split())
    assert "a vs b: t put a higher; g put b higher" in out
