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
