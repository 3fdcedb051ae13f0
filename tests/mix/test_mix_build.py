"""build_mix end to end on tiny fixtures: accounting, budget, strategies, determinism, output, CLI errors."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from tinymodels import FIXTURES, char_tokenizer

from curate.mix import MixConfig, MixResult, build_mix
from curate.mix.manifest import REASONS

FIX = FIXTURES / "mix"
RANKING = FIX / "ranking.json"


def register(name: str, path: Path) -> None:
    from curate import catalog
    from curate.catalog import SourceSpec

    catalog.register(SourceSpec(name=name, path=str(path), kind="pair", formal_lang="lean4", license="test",
                                fields={"id": "id", "informal": "informal", "formal": "formal"}))


@pytest.fixture()
def sources(isolated_cache):
    for name in ("target", "a", "b", "c"):
        register(f"mix-{name}" if name != "target" else "mix-target", FIX / f"{name}.jsonl")
    return isolated_cache


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def build(tmp_path, tok, name="mix", **kw) -> MixResult:
    kw.setdefault("ranking", RANKING)
    kw.setdefault("budget", 3000)
    return build_mix(MixConfig(out=tmp_path / name, tokenizer=tok, **kw))


def test_accounting_contamination_and_duplicates(sources, tmp_path, tok):
    res = build(tmp_path, tok, strategy="top-k", k=3, budget=10**6)
    m = res.manifest
    for name, s in m["sources"].items():
        assert s["in"] == s["out"] + sum(s["removed"].values()), name
        assert set(s["removed"]) == set(REASONS)
    removed = {r["id"]: r for r in lines(res.out / "removed.jsonl")}
    assert removed["a_copy_t1"]["reason"] == "contamination" and removed["a_copy_t1"]["target_id"] == "t1"
    assert removed["a_case_t2"]["target_id"] == "t2"
    assert removed["b_edit_t3"]["target_id"] == "t3"
    assert removed["a_exactdup"]["reason"] == "exact_duplicate" and removed["a_exactdup"]["kept"] == "mix-a/a3"
    assert removed["a_neardup"]["reason"] == "near_duplicate" and removed["a_neardup"]["kept"] == "mix-a/a6"
    assert removed["b_dup_of_a"]["kept"] == "mix-a/a18"  # the better-ranked source keeps its copy
    assert m["totals"]["removed"]["contamination"] == 3
    assert m["sources"]["mix-a"]["out"] == 30 and m["sources"]["mix-b"]["out"] == 30
    out_ids = {r["id"] for r in lines(res.out / "data.jsonl")}
    assert not out_ids & set(removed)
    assert m["target"]["name"] == "mix-target" and m["eval_sets"][0]["records"] == 4


@pytest.mark.parametrize("strategy", ["top-k", "proportional", "select", "random"])
@pytest.mark.parametrize("budget", [700, 3000, 9000])
def test_budget_respected_within_one_record(sources, tmp_path, tok, strategy, budget):
    res = build(tmp_path, tok, strategy=strategy, budget=budget)
    rows = lines(res.out / "data.jsonl")
    total = sum(r["tokens"] for r in rows)
    assert total == res.manifest["totals"]["tokens"] <= budget
    assert all(r["tokens"] == len(r["text"]) for r in rows)  # char tokenizer: tokens = characters
    # every clean record left out did not fit: the budget is missed by less than one record
    from curate.records import render

    taken = {(r["source"], r["id"]) for r in rows}
    gone = {(r["source"], r["id"]) for r in lines(res.out / "removed.jsonl")}
    left = [len(render({**r, "kind": "pair"})) for name in res.manifest["sources"] for r in lines(FIX / f"{name[4:]}.jsonl")
            if (name, r["id"]) not in taken | gone]
    assert len(left) == res.manifest["totals"]["removed"]["over_budget"]
    assert not left or budget - total < min(left)


def test_top_k_uses_only_k_sources_and_cap(sources, tmp_path, tok):
    res = build(tmp_path, tok, strategy="top-k", k=2, budget=10**6)
    assert list(res.manifest["sources"]) == ["mix-a", "mix-b"]
    assert [u["source"] for u in res.manifest["unused_sources"]] == ["mix-c"]
    capped = build(tmp_path, tok, name="capped", strategy="top-k", k=3, budget=6000, cap=0.5)
    for s in capped.manifest["sources"].values():
        assert s["tokens"] <= 3000
    assert capped.manifest["sources"]["mix-a"]["removed"]["over_cap"] > 0
    assert capped.manifest["sources"]["mix-b"]["out"] > 0  # the cap leaves room for the next source


def test_proportional_shares_follow_softmax_weights(isolated_cache, tmp_path, tok):
    rng = random.Random(0)
    words = [f"w{i}" for i in range(400)]
    results = []
    for j, alignment in enumerate([0.9, 0.8, 0.7]):
        rows = [{"id": f"s{j}-{i}", "informal": " ".join(rng.choice(words) for _ in range(rng.randint(8, 16))),
                 "formal": f"theorem s{j}_{i} : True :="} for i in range(400)]
        path = tmp_path / f"s{j}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        register(f"prop-{j}", path)
        results.append({"rank": j + 1, "source": f"prop-{j}", "alignment": alignment})
    register("mix-target", FIX / "target.jsonl")
    ranking = {"target": "mix-target", "results": results}
    res = build(tmp_path, tok, ranking=ranking, strategy="proportional", temperature=0.1, budget=30000)
    z = sum(math.exp(r["alignment"] / 0.1) for r in results)
    total = res.manifest["totals"]["tokens"]
    for r in results:
        s = res.manifest["sources"][r["source"]]
        want = math.exp(r["alignment"] / 0.1) / z
        assert s["weight"] == pytest.approx(want, abs=1e-6)
        assert s["tokens"] / total == pytest.approx(want, abs=0.01)


def test_same_inputs_and_seed_give_identical_bytes(sources, tmp_path, tok):
    for strategy in ("random", "select", "proportional"):
        a = build(tmp_path, tok, name=f"{strategy}-1", strategy=strategy, seed=3)
        b = build(tmp_path, tok, name=f"{strategy}-2", strategy=strategy, seed=3)
        files = sorted(p.name for p in a.out.iterdir())
        assert files == sorted(p.name for p in b.out.iterdir())
        assert {"data.jsonl", "data.parquet", "manifest.json", "MIX.md", "removed.jsonl", "ranking.json"} <= set(files)
        for f in files:
            assert (a.out / f).read_bytes() == (b.out / f).read_bytes(), f"{strategy}: {f} differs"
    other = build(tmp_path, tok, name="random-seed4", strategy="random", seed=4)
    assert (other.out / "data.jsonl").read_bytes() != (tmp_path / "random-1" / "data.jsonl").read_bytes()


def test_output_loads_with_datasets_and_rebuild_replaces(sources, tmp_path, tok):
    import datasets

    res = build(tmp_path, tok, strategy="random")
    n = res.manifest["totals"]["out"]
    js = datasets.load_dataset("json", data_files=str(res.out / "data.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    folder = datasets.load_dataset(str(res.out), split="train", cache_dir=str(tmp_path / "hf"))
    assert len(js) == len(folder) == n
    assert js.column_names[:8] == ["id", "source", "kind", "informal", "formal", "formal_lang", "split", "meta"]
    assert folder["id"] == js["id"] and folder["text"] == js["text"]
    json.loads(js[0]["meta"])
    again = build(tmp_path, tok, strategy="top-k", budget=500)  # same --out: the earlier mix is replaced
    assert again.manifest["config"]["strategy"] == "top-k"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mix.")]  # no temp folders left


def test_select_prefers_target_like_records(isolated_cache, tmp_path, tok):
    rng = random.Random(1)
    register("mix-target", FIX / "target.jsonl")
    target_words = "prove that every finite group field series converges abelian identity element".split()
    rows = []
    for i in range(60):
        on_topic = i % 2 == 0
        pool = target_words if on_topic else ["cake", "flour", "sugar", "oven", "bake", "butter", "egg", "milk"]
        rows.append({"id": f"{'on' if on_topic else 'off'}{i}", "informal": " ".join(rng.choice(pool) for _ in range(12)),
                     "formal": f"x{i}"})
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    register("mixed", path)
    ranking = {"target": "mix-target", "results": [{"rank": 1, "source": "mixed", "alignment": 0.5}]}
    res = build(tmp_path, tok, ranking=ranking, strategy="select", budget=1500, near_dedup=False)
    ids = [r["id"] for r in lines(res.out / "data.jsonl")]
    assert ids and all(i.startswith("on") for i in ids)


# ----------------------------------------------------------------------------- CLI errors
def run_cli(args: list[str], capsys) -> tuple[int, str]:
    from curate.cli import main

    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("case", ["missing", "malformed", "not_ranking", "strategy", "zero", "negative", "words",
                                  "unwritable", "not_empty"])
def test_cli_bad_input_is_one_line_error(sources, tmp_path, capsys, case):
    ranking, out, extra = str(RANKING), str(tmp_path / "out"), []
    budget = "1000"
    if case == "missing":
        ranking = str(tmp_path / "nope.json")
    elif case == "malformed":
        (tmp_path / "bad.json").write_text('{"target": "mix-target", "results": [')
        ranking = str(tmp_path / "bad.json")
    elif case == "not_ranking":
        (tmp_path / "other.json").write_text('{"hello": 1}')
        ranking = str(tmp_path / "other.json")
    elif case == "strategy":
        extra = ["--strategy", "best"]
    elif case == "zero":
        budget = "0"
    elif case == "negative":
        budget = "-5"
    elif case == "words":
        budget = "lots"
    elif case == "unwritable":
        (tmp_path / "afile").write_text("x")
        out = str(tmp_path / "afile" / "out")
    elif case == "not_empty":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "precious.txt").write_text("keep me")
    code, err = run_cli(["mix", "--ranking", ranking, "--budget", budget, "--out", out, *extra], capsys)
    assert code == 1, err
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    expect = {"missing": "not found", "malformed": "malformed JSON", "not_ranking": "not a curate ranking",
              "strategy": "unknown strategy", "zero": "positive", "negative": "positive", "words": "number",
              "unwritable": "cannot write", "not_empty": "not empty"}[case]
    assert expect in err
    if case == "not_empty":
        assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


def test_cli_builds_a_mix(sources, tmp_path, capsys, monkeypatch):
    from curate.mix import build as build_module

    monkeypatch.setattr(build_module.tokens, "tokenizer_for", lambda name: char_tokenizer())
    monkeypatch.setattr(build_module.tokens, "record_lengths",
                        lambda ds, tok, fp, name: build_module.tokens.lengths([r["informal"] for r in ds], tok))
    code = run_cli(["mix", "--ranking", str(RANKING), "--budget", "2k", "--strategy", "proportional",
                    "--out", str(tmp_path / "m")], capsys)[0]
    assert code == 0
    m = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert m["config"]["budget"] == 2000 and m["totals"]["tokens"] <= 2000
    assert (tmp_path / "m" / "MIX.md").read_text().startswith("# Mix for `mix-target`")


def test_conservation_check_raises_on_a_bad_account():
    from curate.mix.manifest import check_conservation

    good = {"in": 10, "out": 6, "removed": {"contamination": 1, "over_budget": 3}}
    check_conservation({"s": good})
    with pytest.raises(RuntimeError, match="accounting"):
        check_conservation({"s": {**good, "out": 5}})


def test_ranking_and_target_together_is_an_error(sources, tmp_path, tok):
    from curate.errors import CurateError

    with pytest.raises(CurateError, match="not both"):
        build(tmp_path, tok, target="mix-target")
    with pytest.raises(CurateError, match="give a ranking"):
        build(tmp_path, tok, ranking=None)
    assert not (tmp_path / "mix").exists()


def test_ranks_first_when_given_target_and_sources(sources, tmp_path, tok):
    res = build(tmp_path, tok, ranking=None, target="mix-target", sources=["mix-c", "mix-a"], metric="gzip",
                strategy="top-k", k=1)
    ranking = json.loads((res.out / "ranking.json").read_text())
    assert ranking["primary_metric"] == "gzip" and {r["source"] for r in ranking["results"]} == {"mix-a", "mix-c"}
    assert list(res.manifest["sources"]) == [ranking["results"][0]["source"]]
    assert res.manifest["ranking"]["input"] == "ranked in this run"


def test_manifest_says_what_the_ranking_gave_and_null_where_it_lacked_a_key(sources, tmp_path, tok):
    ranking = json.loads(RANKING.read_text())
    first = build(tmp_path, tok, name="as-file", strategy="top-k", k=2).manifest  # no fingerprints, no licenses
    assert first["target"]["ranked_fingerprint"] is None and first["ranking"]["primary_metric"] == "gzip"
    assert [(s["rank"], s["ranked_fingerprint"], s["license"]) for s in first["sources"].values()] == [
        (1, None, None), (2, None, None)]
    assert first["unused_sources"] == [{"source": "mix-c", "rank": 3, "alignment": 0.6}]

    for r in ranking["results"]:
        del r["rank"]  # a hand-written ranking: order is rank
    ranking["results"][0]["license"] = "apache-2.0"
    ranking["results"][1]["fingerprint"] = ""
    del ranking["primary_metric"]
    given = build(tmp_path, tok, name="as-dict", strategy="top-k", k=2, ranking=ranking).manifest
    assert [(s["rank"], s["ranked_fingerprint"], s["license"]) for s in given["sources"].values()] == [
        (1, None, "apache-2.0"), (2, "", None)]
    assert given["ranking"]["primary_metric"] is None and given["ranking"]["input"] == "dict"
    assert given["unused_sources"] == [{"source": "mix-c", "rank": None, "alignment": 0.6}]
