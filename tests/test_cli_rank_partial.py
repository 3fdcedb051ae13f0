"""An interrupted `curate rank` never replaces a complete ranking already at its --json/--csv path."""

from __future__ import annotations

import pytest
from clitools import interrupt_gzip_on_second_source, register_sources, strict_json

from curate.cli import main

SOURCES = ["--target", "rank-t", "--source", "rank-a", "--source", "rank-b", "--source", "rank-c"]


@pytest.fixture()
def ranked(isolated_cache, tmp_path):
    register_sources(tmp_path / "data")
    return isolated_cache


def test_interrupted_rerun_keeps_the_complete_ranking_and_writes_beside_it(ranked, tmp_path, capsys, monkeypatch):
    from curate.metrics import gzip as g

    out, csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out), "--csv", str(csv)]) == 0
    before_json, before_csv = out.read_bytes(), csv.read_bytes()

    prepare = interrupt_gzip_on_second_source(monkeypatch)
    capsys.readouterr()
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out), "--csv", str(csv)]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    part_json, part_csv = tmp_path / "r.partial.json", tmp_path / "r.partial.csv"
    assert str(part_json) in err and str(part_csv) in err
    assert out.read_bytes() == before_json and csv.read_bytes() == before_csv  # the complete one is untouched
    assert strict_json(part_json)["complete"] is False and len(strict_json(part_json)["results"]) == 1
    assert part_csv.read_text().splitlines()[1].endswith(",false")

    monkeypatch.setattr(g.GzipMetric, "prepare", prepare)
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out), "--csv", str(csv)]) == 0
    assert strict_json(out)["complete"] is True and not part_json.exists() and not part_csv.exists()
    import json

    assert strict_json(out)["results"] == json.loads(before_json)["results"]  # the cache fills in the same numbers


def test_a_partial_ranking_at_the_path_is_replaced_in_place(ranked, tmp_path):
    out = tmp_path / "r.json"
    out.write_text('{"complete": false, "results": []}')
    assert main(["rank", "--metric", "gzip", *SOURCES, "--json", str(out)]) == 0
    assert strict_json(out)["complete"] is True and not (tmp_path / "r.partial.json").exists()
