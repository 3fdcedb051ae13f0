"""The tiny mix fixtures shared by the engine tests: four registered sources, a char tokenizer, one build."""

from __future__ import annotations

from pathlib import Path

from tinymodels import FIXTURES, char_tokenizer

from curate.mix import MixConfig, build_mix

FIX = FIXTURES / "mix"


def register_mix_sources() -> None:
    from curate import catalog
    from curate.catalog import SourceSpec

    for name in ("target", "a", "b", "c"):
        catalog.register(SourceSpec(name=f"mix-{name}", path=str(FIX / f"{name}.jsonl"), kind="pair",
                                    formal_lang="lean4", license="test",
                                    fields={"id": "id", "informal": "informal", "formal": "formal"}))


def build(tmp_path: Path, tok, name: str, **kw):
    kw.setdefault("budget", 3000)
    kw.setdefault("strategy", "proportional")
    return build_mix(MixConfig(ranking=FIX / "ranking.json", out=tmp_path / name, tokenizer=tok, **kw))


def same_bytes(a: Path, b: Path, files) -> None:
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def cli_mix_args(tmp_path: Path) -> list[str]:
    """`curate mix` arguments for the tiny mix, with a char-tokenizer model folder as --probe."""
    folder = tmp_path / "tok"
    char_tokenizer(save_dir=folder)
    (folder / "config.json").write_text('{"model_type": "llama"}')  # a model folder for --probe (tokenizer only)
    return ["mix", "--ranking", str(FIX / "ranking.json"), "--budget", "3000", "--strategy", "proportional",
            "--probe", str(folder)]


def register_awkward_sources(folder: Path) -> None:
    """mix-b and mix-c again, as what reading shards in the workers must get exactly right (call after
    `register_mix_sources`): mix-b in two jsonl files with blank lines, rows filtered out (`where`) or
    skipped (empty), ids repeated within and across files (one copy a duplicate, one a different record),
    a last line without a newline; mix-c as Parquet in row groups of 4, half its rows without an id
    (`{__file__}:{row}` ids)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate import catalog
    from curate.catalog import SourceSpec

    b = [json.loads(line) for line in (FIX / "b.jsonl").read_text().splitlines() if line.strip()]
    for i, r in enumerate(b):
        r["keep"] = "no" if i % 9 == 4 else "yes"
    b[7]["informal"], b[7]["formal"] = " ", ""  # skipped: empty text
    b[12]["id"] = b[2]["id"]  # a repeated id whose record differs: survives as b2#2
    b.insert(20, dict(b[2]))  # the same record again under the same id: b2#3, removed as an exact duplicate
    lines = [json.dumps(r) for r in b]
    lines.insert(3, "")
    lines.insert(10, "   ")
    (folder / "b").mkdir(parents=True, exist_ok=True)
    (folder / "b" / "part-0.jsonl").write_text("\n".join(lines[:15]) + "\n")
    (folder / "b" / "part-1.jsonl").write_text("\n".join(lines[15:]))  # no newline at the end
    c = [json.loads(line) for line in (FIX / "c.jsonl").read_text().splitlines() if line.strip()]
    for i, r in enumerate(c):
        if i % 2:
            r["id"] = None
    (folder / "c").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(c), folder / "c" / "rows.parquet", row_group_size=4)
    common = dict(kind="pair", formal_lang="lean4", license="test")
    catalog.register(SourceSpec(name="mix-b", path=str(folder / "b"), files=["*.jsonl"], where={"keep": "yes"},
                                fields={"id": "id", "informal": "informal", "formal": "formal"}, **common))
    catalog.register(SourceSpec(name="mix-c", path=str(folder / "c"), files=["*.parquet"],
                                fields={"id": "{id?}", "informal": "informal", "formal": "formal"}, **common))
