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
