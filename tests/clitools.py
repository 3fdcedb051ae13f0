"""Helpers for the CLI tests: tiny registered sources, running `curate.cli.main` in process or as a child."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORDS = {
    "rank-t": "prove every finite group of prime order is cyclic abelian subgroup identity element".split(),
    "rank-a": "show that each finite group with prime order has a cyclic subgroup and identity".split(),
    "rank-b": "bake the cake with flour sugar butter eggs milk in the oven for an hour".split(),
    "rank-c": "the train leaves at noon and arrives at five so how many hours did it travel".split(),
}


def write_sources(folder: Path, n: int = 40) -> dict[str, Path]:
    """One jsonl of `n` pair rows per name in WORDS (seeded word salads of each topic)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, words in WORDS.items():
        rng = random.Random(name)
        rows = [{"id": f"{name}-{i}", "informal": " ".join(rng.choices(words, k=14)),
                 "formal": "theorem t" + str(i) + " : " + " ".join(rng.choices(words, k=6))} for i in range(n)]
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        out[name] = path
    return out


def register_sources(folder: Path, n: int = 40) -> list[str]:
    from curate import catalog
    from curate.catalog import SourceSpec

    for name, path in write_sources(folder, n).items():
        catalog.register(SourceSpec(name=name, path=str(path), kind="pair", formal_lang="lean4", license="test",
                                    fields={"id": "id", "informal": "informal", "formal": "formal"}))
    return list(WORDS)


def child_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CURATE_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], prelude: str = "", **kw) -> subprocess.Popen:
    """`curate ARGS` in a child python; `prelude` is code run first (e.g. to slow a metric down)."""
    code = f"import sys\n{prelude}\nfrom curate.cli import main\nsys.exit(main({args!r}))\n"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def strict_json(path: Path):
    """Parse as strict JSON: NaN/Infinity are refused."""
    def bad(token: str):
        raise ValueError(f"{path}: {token} is not JSON")

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=bad)


def interrupt_gzip_on_second_source(monkeypatch, target: str = "rank-t"):
    """Make the gzip metric raise KeyboardInterrupt when it starts its second candidate source (the
    first one's row is final by then); returns the real `prepare`, to undo it with monkeypatch."""
    from curate.metrics import gzip as g

    prepare, seen = g.GzipMetric.prepare, []

    def interrupted(self, name, *a, **k):
        if name != target:
            seen.append(name)
            if len(seen) == 2:
                raise KeyboardInterrupt
        return prepare(self, name, *a, **k)

    monkeypatch.setattr(g.GzipMetric, "prepare", interrupted)
    return prepare
