"""Named sources: where each dataset lives, how its fields map onto a Record, and its license.

Field mappings are templates over a raw row: `"question"` takes that field, `"{question}\n{answer}"`
formats several, `{name?}` is optional (empty when missing), and `{__file__}` is the file's stem.
Built-in specs point at folders under the data home or at hub datasets; user registrations made by
`curate ingest` are stored as JSON under the cache dir, never in the data home.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curate import settings
from curate.errors import CurateError

ROLES = ("target", "candidate")


@dataclass
class SourceSpec:
    name: str
    kind: str
    """Record kind: pair, formal, informal, code or text."""
    license: str
    formal_lang: str | None = None
    path: str | None = None
    """Folder (or file) relative to the data home, or absolute for registrations."""
    files: tuple[str, ...] = ("*.jsonl",)
    """Glob patterns inside `path`."""
    hub_id: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    fields: dict[str, str] = field(default_factory=dict)
    """Record field -> template over the raw row (keys: id, informal, formal, split)."""
    where: dict[str, str] = field(default_factory=dict)
    """Keep only rows whose raw field equals the value (e.g. {"split": "test"})."""
    clean: tuple[str, ...] = ()
    """Named cleaners for the informal side (see `load.CLEANERS`)."""
    holds: tuple[str, ...] = ()
    """Eval item sets this source contains (e.g. "proofnet-test"); rank skips these for that target."""
    role: str = "candidate"
    description: str = ""
    registered: bool = False

    @property
    def is_hub(self) -> bool:
        return self.hub_id is not None and self.path is None

    def location(self) -> str:
        if self.path is not None:
            p = Path(self.path)
            return str(p if p.is_absolute() else settings.data_home() / p)
        return f"hub:{self.hub_id}" + (f"/{self.hub_config}" if self.hub_config else "") + f"[{self.hub_split}]"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SourceSpec":
        data = dict(data)
        for key in ("files", "clean", "holds"):
            if key in data and data[key] is not None:
                data[key] = tuple(data[key])
        return cls(**data)


_DEEPSEEK = dict(
    path="proofnet-lean4-deepseek",
    kind="pair",
    formal_lang="lean4",
    license="MIT",
    fields={"id": "name", "informal": "informal_prefix", "formal": "formal_statement", "split": "split"},
    clean=("doc_comment",),
)

BUILTIN: dict[str, SourceSpec] = {
    s.name: s
    for s in [
        # --- ProofNet: the default target and its copies -------------------------------------
        SourceSpec(name="proofnet", **_DEEPSEEK, where={"split": "test"}, holds=("proofnet-test",), role="target",
                   description="ProofNet Lean 4 test split (186), from proofnet-lean4-deepseek"),
        SourceSpec(name="proofnet-valid", **_DEEPSEEK, where={"split": "valid"}, holds=("proofnet-valid",),
                   description="ProofNet Lean 4 valid split (185), from proofnet-lean4-deepseek"),
        SourceSpec(name="proofnet-lean4-deepseek", **_DEEPSEEK, holds=("proofnet-test", "proofnet-valid"),
                   role="target", description="ProofNet Lean 4 as used by DeepSeek-Prover-V1.5, both splits"),
        SourceSpec(name="proofnet-lean3", path="proofnet", files=("test.jsonl",), kind="pair", formal_lang="lean3",
                   license="MIT", fields={"id": "id", "informal": "nl_statement", "formal": "formal_statement",
                                          "split": "{__file__}"},
                   holds=("proofnet-test",), role="target", description="original ProofNet (Lean 3) test split"),
        SourceSpec(name="proofnet-lean3-valid", path="proofnet", files=("valid.jsonl",), kind="pair",
                   formal_lang="lean3", license="MIT",
                   fields={"id": "id", "informal": "nl_statement", "formal": "formal_statement", "split": "{__file__}"},
                   holds=("proofnet-valid",), description="original ProofNet (Lean 3) valid split"),
        SourceSpec(name="proofnet-lean4", path="proofnet-lean4", kind="pair", formal_lang="lean4", license="MIT",
                   fields={"id": "name", "informal": "informal_stmt", "formal": "formal_statement"},
                   clean=("before_proof",), holds=("proofnet-test", "proofnet-valid"), role="target",
                   description="ProofNet Lean 4 port (374, no split field)"),
        # --- other formal / parallel sources -------------------------------------------------
        SourceSpec(name="minif2f-lean4", path="minif2f-lean4", kind="pair", formal_lang="lean4", license="MIT",
                   fields={"id": "name", "informal": "informal_prefix",
                           "formal": "{formal_statement}{formal_proof?}", "split": "split"},
                   clean=("doc_comment",), role="target", description="miniF2F in Lean 4 (488 + 67 few-shot)"),
        SourceSpec(name="minif2f-isabelle", path="minif2f-isabelle", kind="pair", formal_lang="isabelle",
                   license="BSD-2-Clause-style",
                   fields={"id": "problem_name", "informal": "informal_statement", "formal": "formal_statement",
                           "split": "split"}, description="miniF2F in Isabelle with informal statements"),
        SourceSpec(name="dsp-isabelle-proofs", path="dsp-isabelle-proofs", kind="formal", formal_lang="isabelle",
                   license="BSD-2-Clause-style", fields={"id": "problem_name", "formal": "proof"},
                   description="Draft-Sketch-Prove human Isabelle proofs"),
        SourceSpec(name="putnambench-lean4", path="putnambench-lean4", kind="pair", formal_lang="lean4",
                   license="MIT", fields={"id": "name", "informal": "informal_statement", "formal": "formal_statement"},
                   description="PutnamBench in Lean 4"),
        SourceSpec(name="putnambench-isabelle", path="putnambench-isabelle", kind="pair", formal_lang="isabelle",
                   license="Apache-2.0 (formal); informal by MAA permission",
                   fields={"id": "name", "informal": "informal_statement", "formal": "isabelle_statement"},
                   description="PutnamBench in Isabelle"),
        SourceSpec(name="forml4", path="forml4", kind="pair", formal_lang="lean4", license="CC-BY-4.0",
                   fields={"informal": "nl_problem", "formal": "formal", "split": "{__file__}"},
                   description="FormL4: Mathlib Lean 4 theorems with Gemini-written statements"),
        SourceSpec(name="mathlib3-codex-informal", path="mathlib3-codex-informal", kind="pair", formal_lang="lean3",
                   license="MIT", fields={"id": "name", "informal": "nl_statement_of_codex",
                                          "formal": "formal_statement", "split": "{__file__}"},
                   description="mathlib3 statements with Codex-written informal statements"),
        # --- informal math, code, general text -----------------------------------------------
        SourceSpec(name="gsm8k", path="gsm8k", kind="informal", license="MIT",
                   fields={"informal": "{question}\n{answer}", "split": "{__file__}"},
                   description="GSM8K grade-school math word problems"),
        SourceSpec(name="math", path="math", kind="informal", license="MIT",
                   fields={"id": "idx", "informal": "{problem}\n{solution}", "split": "{__file__}"},
                   description="MATH competition problems with solutions (5000)"),
        SourceSpec(name="humaneval", path="humaneval", kind="code", formal_lang="python", license="MIT",
                   fields={"id": "task_id", "formal": "{prompt}{canonical_solution}"},
                   description="HumanEval Python problems with solutions"),
        SourceSpec(name="gpteacher-codegen", path="gpteacher-codegen", kind="code", license="MIT",
                   fields={"informal": "{instruction}\n{input}", "formal": "response"},
                   description="GPTeacher code-generation instructions"),
        SourceSpec(name="gpteacher-roleplay", path="gpteacher-roleplay", kind="text", license="MIT",
                   fields={"informal": "{instruction}\n{input}\n{response}"},
                   description="GPTeacher role-play instructions (general text)"),
        SourceSpec(name="self-instruct-human", path="self-instruct-human", kind="text", license="Apache-2.0",
                   fields={"id": "id", "informal": "{instruction}\n{instances}"},
                   description="Self-Instruct human-written seed and user-oriented tasks"),
        # --- hub datasets (online only) ------------------------------------------------------
        SourceSpec(name="hf-proofnet", hub_id="hoskinson-center/proofnet", hub_split="test", kind="pair",
                   formal_lang="lean3", license="MIT",
                   fields={"id": "id", "informal": "nl_statement", "formal": "formal_statement"},
                   holds=("proofnet-test",), role="target", description="ProofNet (Lean 3) from the hub"),
        SourceSpec(name="hf-proofnet-sharp", hub_id="PAug/ProofNetSharp", hub_split="test", kind="pair",
                   formal_lang="lean4", license="MIT",
                   fields={"id": "id", "informal": "nl_statement", "formal": "lean4_formalization"},
                   holds=("proofnet-test",), role="target", description="ProofNet# (corrected Lean 4 ProofNet)"),
        SourceSpec(name="hf-minif2f-lean4", hub_id="hoskinson-center/minif2f-lean4", hub_split="validation",
                   kind="formal", formal_lang="lean4", license="MIT", fields={"id": "id", "formal": "formal"},
                   description="miniF2F Lean 4 from the hub"),
        SourceSpec(name="hf-leandojo", hub_id="tasksource/leandojo", hub_split="train", kind="formal",
                   formal_lang="lean4", license="CC-BY-2.0",
                   fields={"id": "full_name", "formal": "{full_name}\n{traced_tactics}"},
                   description="LeanDojo benchmark theorems with traced tactics"),
        SourceSpec(name="hf-af", hub_id="UDACA/AF", hub_split="train", kind="text", formal_lang="isabelle",
                   license="see dataset card", fields={"informal": "text"},
                   description="the paper's autoformalization data (Isabelle; 'The Formal Statement is: ...' text)"),
        SourceSpec(name="hf-af-split", hub_id="UDACA/AF-split", hub_split="train", kind="text",
                   formal_lang="isabelle", license="see dataset card", fields={"informal": "statement"},
                   description="the paper's AF data, formal and informal statements as separate rows"),
        SourceSpec(name="hf-stack-python-docstrings", hub_id="calum/the-stack-smol-python-docstrings",
                   hub_split="train", kind="code", formal_lang="python", license="see dataset card",
                   fields={"informal": "docstring", "formal": "body"}, description="Python docstring/code pairs"),
        SourceSpec(name="hf-c4", hub_id="allenai/c4", hub_config="en", hub_split="validation", kind="text",
                   license="ODC-BY", fields={"informal": "text"}, description="C4 English web text"),
        SourceSpec(name="hf-wikitext", hub_id="Salesforce/wikitext", hub_config="wikitext-103-raw-v1",
                   hub_split="train", kind="text", license="CC-BY-SA-3.0", fields={"informal": "text"},
                   description="WikiText-103"),
        SourceSpec(name="hf-lean-workbook", hub_id="internlm/Lean-Workbook", hub_split="train", kind="pair",
                   formal_lang="lean4", license="Apache-2.0",
                   fields={"id": "id", "informal": "natural_language_statement", "formal": "formal_statement"},
                   description="Lean Workbook competition statements"),
        SourceSpec(name="hf-herald", hub_id="FrenzyMath/Herald_statements", hub_split="train", kind="pair",
                   formal_lang="lean4", license="see dataset card",
                   fields={"id": "id", "informal": "informal_statement", "formal": "formal_statement"},
                   description="Herald Mathlib statements with informal translations"),
    ]
}


def registry_path() -> Path:
    return settings.cache_dir() / "sources.json"


def registered() -> dict[str, SourceSpec]:
    path = registry_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CurateError(f"cannot read source registrations {path}: {exc}") from exc
    return {d["name"]: SourceSpec.from_json(d) for d in data}


def all_specs() -> dict[str, SourceSpec]:
    specs = dict(BUILTIN)
    specs.update(registered())
    return specs


def get(name: str) -> SourceSpec:
    specs = all_specs()
    if name in specs:
        return specs[name]
    close = difflib.get_close_matches(name, list(specs), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run `curate sources` to list them"
    raise CurateError(f"unknown source {name!r}{hint}")


def register(spec: SourceSpec) -> Path:
    """Add or replace a user registration (atomic write under the cache dir)."""
    if spec.name in BUILTIN:
        raise CurateError(f"{spec.name!r} is a built-in source name; choose another --name")
    spec.registered = True
    regs = registered()
    regs[spec.name] = spec
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sources-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump([s.to_json() for s in regs.values()], fh, indent=1, ensure_ascii=False)
    os.replace(tmp, path)
    return path
