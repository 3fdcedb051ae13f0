import os
from pathlib import Path

import pytest

from curate import catalog, load, settings
from curate.catalog import SourceSpec
from curate.errors import CurateError

DATA = Path(os.environ["CURATE_DATA_HOME"])


def test_unknown_source_suggests_close_names():
    with pytest.raises(CurateError, match="did you mean gsm8k"):
        catalog.get("gsm8")


def test_hub_source_offline_is_a_clear_error():
    with pytest.raises(CurateError, match="hub is offline"):
        load.load_with_report("hf-lean-workbook")


def test_every_hub_dataset_the_paper_uses_is_catalogued():
    hub = {s.hub_id for s in catalog.BUILTIN.values() if s.hub_id}
    for repo in ["hoskinson-center/proofnet", "PAug/ProofNetSharp", "hoskinson-center/minif2f-lean4",
                 "tasksource/leandojo", "UDACA/AF", "UDACA/AF-split", "calum/the-stack-smol-python-docstrings",
                 "allenai/c4", "Salesforce/wikitext", "internlm/Lean-Workbook", "FrenzyMath/Herald_statements"]:
        assert repo in hub


def test_register_writes_under_cache_dir_only(isolated_cache, tmp_path):
    s = SourceSpec(name="mine", kind="formal", license="x", path=str(tmp_path / "d"), fields={"formal": "f"})
    path = catalog.register(s)
    assert path.parent == isolated_cache
    assert catalog.get("mine").registered and catalog.get("mine").path == str(tmp_path / "d")
    with pytest.raises(CurateError, match="built-in"):
        catalog.register(SourceSpec(name="gsm8k", kind="text", license="x"))


def test_data_home_setting_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_DATA_HOME", str(tmp_path / "env"))
    assert settings.data_home() == tmp_path / "env"
    settings.set_data_home(tmp_path / "flag")
    try:
        assert settings.data_home() == tmp_path / "flag"
        with pytest.raises(CurateError, match="CURATE_DATA_HOME or --data-home"):
            load.load_with_report("gsm8k")
    finally:
        settings._overrides.pop("data_home", None)


@pytest.mark.shared_data
def test_every_shared_dataset_folder_is_catalogued():
    paths = {s.path for s in catalog.BUILTIN.values() if s.path}
    for folder in sorted(p.name for p in DATA.iterdir() if p.is_dir()):
        assert folder in paths, folder
        assert folder in catalog.BUILTIN or folder == "proofnet"  # folder `proofnet` is `proofnet-lean3`


@pytest.mark.shared_data
@pytest.mark.parametrize("name", [n for n, s in catalog.BUILTIN.items() if not s.is_hub])
def test_every_local_source_loads(name):
    ds, report = load.load_with_report(name)
    assert len(ds) > 0
    assert report.records + sum(report.skipped.values()) + report.filtered == report.rows
    spec = catalog.get(name)
    assert set(ds.unique("kind")) == {spec.kind}
    assert len(set(ds["id"])) == len(ds)
    first = ds[0]
    if spec.kind == "pair":
        assert first["informal"] and first["formal"]


@pytest.mark.shared_data
def test_proofnet_splits():
    test, valid = load.load_source("proofnet"), load.load_source("proofnet-valid")
    assert len(test) == 186 and len(valid) == 185
    assert set(test["split"]) == {"test"} and set(valid["split"]) == {"valid"}
    assert not set(test["formal"]) & set(valid["formal"])  # ids repeat across textbooks; statements don't
    assert not test[0]["informal"].startswith("/--")
    assert len(load.load_source("proofnet-lean3")) == 186


# ----------------------------------------------------------------------------- named targets
TARGETS = {  # name: (items, formal language, the item set it holds); counts from the data's SOURCE.md files
    "proofnet": (186, "lean4", "proofnet-test"),
    "proofnet-lean3": (186, "lean3", "proofnet-test"),
    "minif2f": (244, "lean4", "minif2f-test"),
    "minif2f-isabelle-test": (243, "isabelle", "minif2f-test"),  # 4 of the 488 are in neither split
    "putnambench": (644, "lean4", "putnambench"),
    "putnambench-isabelle": (640, "isabelle", "putnambench"),
}
CANDIDATE_SPLITS = {"proofnet-valid": 185, "proofnet-lean3-valid": 185, "minif2f-valid": 244,
                    "minif2f-isabelle-valid": 241}


def test_every_named_target_is_a_target_entry_with_its_item_set():
    local = {s.name for s in catalog.targets() if not s.is_hub}
    assert local == set(TARGETS)
    for name, (_, lang, item_set) in TARGETS.items():
        spec = catalog.get(name)
        assert spec.formal_lang == lang and spec.holds == (item_set,) and item_set in catalog.ITEM_SETS
        assert spec.shots and not catalog.held_by(name, spec.shots), name  # bench's few-shot source is clean


def test_every_holds_names_a_known_item_set():
    for spec in catalog.BUILTIN.values():
        assert set(spec.holds) <= set(catalog.ITEM_SETS), spec.name
        if spec.part_of:
            whole = catalog.get(spec.part_of)
            assert set(spec.holds) <= set(whole.holds) and spec.path == whole.path, spec.name


def test_who_holds_each_target():
    assert set(catalog.holders("minif2f-test")) == {"minif2f", "minif2f-lean4", "minif2f-isabelle-test",
                                                    "minif2f-isabelle", "dsp-isabelle-proofs"}
    assert set(catalog.holders("putnambench")) == {"putnambench", "putnambench-lean4", "putnambench-isabelle"}
    assert "minif2f-valid" not in catalog.holders("minif2f-test")


def test_item_overlaps_go_both_ways_and_skip_sources_left_out_whole():
    pn = catalog.item_overlaps("proofnet", "putnambench-lean4")
    assert len(pn) == 6 and ("exercise_2001_a5", "putnam_2001_a5") in pn
    back = catalog.item_overlaps("putnambench", "proofnet-lean4-deepseek")  # test and valid splits
    assert len(back) == 12 and ("putnam_2010_a4", "exercise_2010_a4") in back
    assert len(catalog.item_overlaps("putnambench", "proofnet-valid")) == 6
    assert catalog.item_overlaps("proofnet", "proofnet-lean3") == []  # same item set: left out whole instead
    assert catalog.item_overlaps("minif2f", "putnambench-lean4") == []
    assert catalog.id_matches("Putnam|exercise_2001_a5", "exercise_2001_a5")
    assert catalog.id_matches("Putnam_exercise_2001_a5", "exercise_2001_a5")
    assert not catalog.id_matches("exercise_2001_a55", "exercise_2001_a5")


def test_drop_parts_keeps_the_whole_only_when_both_are_chosen():
    kept, excluded = catalog.drop_parts(["minif2f-valid", "minif2f-lean4", "proofnet-valid", "gsm8k"])
    assert kept == ["minif2f-lean4", "proofnet-valid", "gsm8k"]
    assert excluded == [{"source": "minif2f-valid", "reason": "part of minif2f-lean4, which is ranked whole"}]


def test_holds_check_accepts_item_sets_and_target_names(isolated_cache):
    assert catalog.check_holds(["minif2f"]) == ("minif2f-test",)
    assert catalog.check_holds(["putnambench", "proofnet-test"]) == ("putnambench", "proofnet-test")
    with pytest.raises(CurateError, match="unknown item set 'minif2'.*did you mean"):
        catalog.check_holds(["minif2"])
    with pytest.raises(CurateError, match="unknown item set"):
        catalog.check_holds(["gsm8k"])  # a source that holds nothing is not an item set


def test_registered_source_declaring_holds_is_left_out_and_can_be_a_target(isolated_cache, tmp_path):
    from curate.rank import candidate_sources

    catalog.register(SourceSpec(name="mine", kind="formal", license="x", path=str(tmp_path),
                                holds=catalog.check_holds(["minif2f"])))
    assert "mine" in catalog.holders("minif2f-test")
    _, excluded = candidate_sources("minif2f")
    assert {"source": "mine", "reason": "holds the target's own items (minif2f-test)"} in excluded
    assert catalog.get("mine").holds == ("minif2f-test",)  # survives the JSON round trip
    assert catalog.overlap_notes("minif2f", ["mine"])[0].startswith("mine holds minif2f's own items")


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_named_target_loads_with_its_exact_item_count(name):
    items, lang, _ = TARGETS[name]
    ds = load.load_source(name)
    assert len(ds) == items and len(set(ds["id"])) == items
    assert set(ds["formal_lang"]) == {lang}
    assert all(r["informal"] and r["formal"] for r in ds)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(CANDIDATE_SPLITS))
def test_candidate_split_counts(name):
    assert len(load.load_source(name)) == CANDIDATE_SPLITS[name]


@pytest.mark.shared_data
def test_minif2f_splits_are_disjoint_and_the_few_shot_items_are_valid_problems():
    test, valid, whole = (load.load_source(n) for n in ("minif2f", "minif2f-valid", "minif2f-lean4"))
    assert not set(test["id"]) & set(valid["id"]) and len(whole) == 555
    assert {i.split("#")[0] for i in whole["id"] if "#" in i} <= set(valid["id"])  # the 67 repeat valid names
    assert sum("#" in i for i in whole["id"]) == 67
    assert set(load.load_source("minif2f-isabelle-test")["split"]) == {"test"}


@pytest.mark.shared_data
@pytest.mark.parametrize("target,left_out", [
    ("proofnet", {"proofnet-lean4-deepseek", "proofnet-lean3", "proofnet-lean4"}),
    ("minif2f", {"minif2f-lean4", "minif2f-isabelle", "minif2f-isabelle-test", "dsp-isabelle-proofs"}),
    ("minif2f-isabelle-test", {"minif2f", "minif2f-lean4", "minif2f-isabelle", "dsp-isabelle-proofs"}),
    ("putnambench", {"putnambench-lean4", "putnambench-isabelle"}),
    ("putnambench-isabelle", {"putnambench", "putnambench-lean4"}),
    ("proofnet-lean3", {"proofnet", "proofnet-lean4-deepseek", "proofnet-lean4"}),
])
def test_rank_leaves_out_every_source_holding_the_target_with_a_note(target, left_out):
    from curate.rank import candidate_sources

    chosen, excluded = candidate_sources(target)
    held = {e["source"] for e in excluded
            if e["reason"].startswith("holds the target's own items") and not catalog.get(e["source"]).is_hub}
    assert held == left_out
    assert not held & set(chosen) and target not in chosen
    assert all(not catalog.held_by(target, c) for c in chosen)
    for e in excluded:
        if e["source"] in held:
            assert catalog.get(target).holds[0] in e["reason"]


@pytest.mark.shared_data
def test_default_proofnet_candidates_unchanged_by_the_new_split_entries():
    from curate.rank import candidate_sources

    chosen, _ = candidate_sources("proofnet")
    assert chosen == ["proofnet-valid", "proofnet-lean3-valid", "minif2f-lean4", "minif2f-isabelle",
                      "dsp-isabelle-proofs", "putnambench-lean4", "putnambench-isabelle", "forml4",
                      "mathlib3-codex-informal", "gsm8k", "math", "humaneval", "gpteacher-codegen",
                      "gpteacher-roleplay", "self-instruct-human"]


@pytest.mark.shared_data
def test_proofnet_putnam_overlaps_name_real_records_with_the_same_problem():
    """Each listed overlap resolves to exactly one record on both sides, in every built-in source holding the
    sets, and the two informal statements are the same problem (mostly identical words)."""
    from curate.mix.text import tokens

    putnam = {r["id"]: r for r in load.load_source("putnambench-lean4")}
    for o in catalog.ITEM_OVERLAPS:
        for name in catalog.holders(o.set_a):
            if catalog.get(name).is_hub:
                continue
            ids = [i for i in load.load_source(name)["id"] if catalog.id_matches(i, o.id_a)]
            assert len(ids) == 1, (name, o.id_a, ids)
        lean3 = "proofnet-lean3" if o.set_a == "proofnet-test" else "proofnet-lean3-valid"
        a = next(r for r in load.load_source(lean3) if catalog.id_matches(r["id"], o.id_a))
        b = putnam[o.id_b]
        wa, wb = set(tokens(a["informal"])), set(tokens(b["informal"]))
        if len(wa) < 3:  # ProofNet cut exercise_2014_a5's statement to "Let"; its formal side is the problem
            assert o.id_a == "exercise_2014_a5" and "coprime" in a["formal"].lower() and "coprime" in b["formal"].lower()
            continue
        assert len(wa & wb) / len(wa | wb) > 0.4, o


@pytest.mark.shared_data
def test_rank_notes_item_level_overlaps(monkeypatch):
    from curate import rank as rank_mod

    notes = catalog.overlap_notes("proofnet", ["putnambench-lean4", "gsm8k"])
    assert len(notes) == 1 and "putnambench-lean4 holds 6 of proofnet's problems" in notes[0]
    assert "putnam_2014_a5" in notes[0]
    seen = {}

    class Stop(Exception):
        pass

    original = catalog.overlap_notes

    def record(target, names):
        seen["notes"] = original(target, names)
        raise Stop  # the notes are all this test needs; stop before any metric work

    monkeypatch.setattr(rank_mod.catalog, "overlap_notes", record)
    with pytest.raises(Stop):
        rank_mod.rank(rank_mod.RankConfig(target="proofnet", metrics=["ngram"]))
    assert any("putnambench-isabelle holds 6" in n for n in seen["notes"])


def test_ingest_holds_registers_the_item_sets(isolated_cache, tmp_path):
    import json as _json

    from curate.cli import main

    data = tmp_path / "mine.jsonl"
    data.write_text(_json.dumps({"nl": "Prove it.", "lean": "theorem t : True := trivial"}) + "\n", encoding="utf-8")
    assert main(["ingest", str(data), "--out", str(tmp_path / "out"), "--name", "mine", "--informal-field", "nl",
                 "--formal-field", "lean", "--formal-lang", "lean4", "--holds", "putnambench",
                 "--holds", "minif2f"]) == 0
    assert catalog.get("mine").holds == ("putnambench", "minif2f-test")
    assert "mine" in catalog.holders("minif2f-test")
    assert main(["ingest", str(data), "--out", str(tmp_path / "out2"), "--name", "mine2", "--informal-field", "nl",
                 "--formal-field", "lean", "--holds", "minif2"]) == 1  # unknown item set: nothing written
    assert not (tmp_path / "out2").exists()


def test_bench_refuses_few_shot_examples_that_are_target_items():
    from train.bench import BenchConfig, run_bench
    from train.generate import GenConfig

    for target, shots in [("minif2f", "minif2f-lean4"), ("putnambench", "putnambench-isabelle"),
                          ("proofnet", "proofnet-lean3")]:
        with pytest.raises(CurateError, match="holds the target's items"):
            run_bench(BenchConfig(model="unused", target=target, gen=GenConfig(shot_source=shots)))


def _register_many(cache_dir, prefix, n):
    import os

    os.environ["CURATE_CACHE"] = cache_dir
    for i in range(n):
        catalog.register(SourceSpec(name=f"{prefix}-{i}", kind="text", license="x", path=f"/data/{prefix}/{i}"))


def test_concurrent_registrations_are_all_kept(isolated_cache):
    """Ingests running at once each read-modify-write the registry; none may lose another's entry."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_register_many, args=(str(isolated_cache), f"p{k}", 6)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert set(catalog.registered()) == {f"p{k}-{i}" for k in range(4) for i in range(6)}


def test_registry_is_readable_by_others(isolated_cache):
    import stat

    path = catalog.register(SourceSpec(name="mine", kind="text", license="x", path="/d"))
    assert path.stat().st_mode & stat.S_IROTH
