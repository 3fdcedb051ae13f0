"""Named sources: where each dataset lives, how its fields map onto a Record, and its license.

Field mappings are templates over a raw row: `"question"` takes that field, `"{question}\n{answer}"`
formats several, `{name?}` is optional (empty when missing), and `{__file__}` is the file's stem.
Built-in specs point at folders under the data home or at hub datasets; user registrations made by
`curate ingest` are stored as JSON under the cache dir, never in the data home.
"""

from __future__ import annotations

import difflib
import json
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
    """Eval item sets this source contains (see `ITEM_SETS`); rank leaves it out for a target holding any of them."""
    part_of: str | None = None
    """Another entry whose records include all of these (a split of it); default candidate lists
    keep only the whole one when both would be candidates."""
    shots: str | None = None
    """As a target: the source `curate bench` takes few-shot examples from (it holds none of the target's items)."""
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

_MINIF2F = dict(path="minif2f-lean4", kind="pair", formal_lang="lean4", license="MIT",
                fields={"id": "name", "informal": "informal_prefix", "formal": "{formal_statement}{formal_proof?}",
                        "split": "split"}, clean=("doc_comment",))
_MINIF2F_ISA = dict(path="minif2f-isabelle", kind="pair", formal_lang="isabelle", license="BSD-2-Clause-style",
                    fields={"id": "problem_name", "informal": "informal_statement", "formal": "formal_statement",
                            "split": "split"})
_PUTNAM = dict(path="putnambench-lean4", kind="pair", formal_lang="lean4", license="MIT",
               fields={"id": "name", "informal": "informal_statement", "formal": "formal_statement"})

BUILTIN: dict[str, SourceSpec] = {
    s.name: s
    for s in [
        # --- ProofNet: the default target and its copies -------------------------------------
        SourceSpec(name="proofnet", **_DEEPSEEK, where={"split": "test"}, holds=("proofnet-test",), role="target",
                   part_of="proofnet-lean4-deepseek", shots="proofnet-valid",
                   description="ProofNet Lean 4 test split (186), from proofnet-lean4-deepseek"),
        SourceSpec(name="proofnet-valid", **_DEEPSEEK, where={"split": "valid"}, holds=("proofnet-valid",),
                   part_of="proofnet-lean4-deepseek",
                   description="ProofNet Lean 4 valid split (185), from proofnet-lean4-deepseek"),
        SourceSpec(name="proofnet-lean4-deepseek", **_DEEPSEEK, holds=("proofnet-test", "proofnet-valid"),
                   description="ProofNet Lean 4 as used by DeepSeek-Prover-V1.5, both splits"),
        SourceSpec(name="proofnet-lean3", path="proofnet", files=("test.jsonl",), kind="pair", formal_lang="lean3",
                   license="MIT", fields={"id": "id", "informal": "nl_statement", "formal": "formal_statement",
                                          "split": "{__file__}"},
                   holds=("proofnet-test",), role="target", shots="proofnet-lean3-valid",
                   description="original ProofNet (Lean 3) test split (186)"),
        SourceSpec(name="proofnet-lean3-valid", path="proofnet", files=("valid.jsonl",), kind="pair",
                   formal_lang="lean3", license="MIT",
                   fields={"id": "id", "informal": "nl_statement", "formal": "formal_statement", "split": "{__file__}"},
                   holds=("proofnet-valid",), description="original ProofNet (Lean 3) valid split (185)"),
        SourceSpec(name="proofnet-lean4", path="proofnet-lean4", kind="pair", formal_lang="lean4", license="MIT",
                   fields={"id": "name", "informal": "informal_stmt", "formal": "formal_statement"},
                   clean=("before_proof",), holds=("proofnet-test", "proofnet-valid"),
                   description="ProofNet Lean 4 port (374, no split field)"),
        # --- miniF2F: Lean 4 (DeepSeek) and Isabelle (Draft-Sketch-Prove) -----------------------
        SourceSpec(name="minif2f", **_MINIF2F, files=("minif2f.jsonl",), where={"split": "test"},
                   holds=("minif2f-test",), role="target", part_of="minif2f-lean4", shots="minif2f-valid",
                   description="miniF2F Lean 4 test split (244), from minif2f-lean4"),
        SourceSpec(name="minif2f-valid", **_MINIF2F, files=("minif2f.jsonl",), where={"split": "valid"},
                   holds=("minif2f-valid",), part_of="minif2f-lean4",
                   description="miniF2F Lean 4 valid split (244), from minif2f-lean4"),
        SourceSpec(name="minif2f-lean4", **_MINIF2F, holds=("minif2f-test", "minif2f-valid"),
                   description="miniF2F in Lean 4, both splits (488) + 67 valid problems with few-shot proofs"),
        SourceSpec(name="minif2f-isabelle-test", **_MINIF2F_ISA, where={"split": "test"}, holds=("minif2f-test",),
                   role="target", part_of="minif2f-isabelle", shots="minif2f-isabelle-valid",
                   description="miniF2F Isabelle test split (243), from minif2f-isabelle"),
        SourceSpec(name="minif2f-isabelle-valid", **_MINIF2F_ISA, where={"split": "valid"},
                   holds=("minif2f-valid",), part_of="minif2f-isabelle",
                   description="miniF2F Isabelle valid split (241), from minif2f-isabelle"),
        SourceSpec(name="minif2f-isabelle", **_MINIF2F_ISA, holds=("minif2f-test", "minif2f-valid"),
                   description="miniF2F in Isabelle with informal statements, both splits (488; 4 in neither)"),
        SourceSpec(name="dsp-isabelle-proofs", path="dsp-isabelle-proofs", kind="formal", formal_lang="isabelle",
                   license="BSD-2-Clause-style", fields={"id": "problem_name", "formal": "proof"},
                   holds=("minif2f-test", "minif2f-valid"),
                   description="Draft-Sketch-Prove human Isabelle proofs of miniF2F problems (96 test, 104 valid)"),
        # --- PutnamBench: Lean 4 (the target) and Isabelle -------------------------------------
        SourceSpec(name="putnambench", **_PUTNAM, holds=("putnambench",), role="target", part_of="putnambench-lean4",
                   shots="minif2f-valid", description="PutnamBench Lean 4 (644), from putnambench-lean4"),
        SourceSpec(name="putnambench-lean4", **_PUTNAM, holds=("putnambench",), description="PutnamBench in Lean 4"),
        SourceSpec(name="putnambench-isabelle", path="putnambench-isabelle", kind="pair", formal_lang="isabelle",
                   license="Apache-2.0 (formal); informal by MAA permission",
                   fields={"id": "name", "informal": "informal_statement", "formal": "isabelle_statement"},
                   holds=("putnambench",), role="target", shots="minif2f-isabelle-valid",
                   description="PutnamBench in Isabelle (640)"),
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
                   holds=("minif2f-valid",), description="miniF2F Lean 4 valid split from the hub"),
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


# ----------------------------------------------------------------------------- item sets
ITEM_SETS: dict[str, str] = {
    "proofnet-test": "ProofNet test split: 186 undergraduate textbook exercises",
    "proofnet-valid": "ProofNet valid split: 185 exercises",
    "minif2f-test": "miniF2F test split: 244 olympiad problems",
    "minif2f-valid": "miniF2F valid split: 244 olympiad problems",
    "putnambench": "PutnamBench: Putnam competition problems 1962-2023 (644 in Lean 4, 640 in Isabelle)",
}
"""The eval item sets `holds` names. A source holding a set contains (some or all of) its problems, in any
formal language; every source holding one of a target's sets is left out of that target's rankings."""


@dataclass(frozen=True)
class ItemOverlap:
    """One problem that two item sets both contain, under each set's own id (the record id, or its
    last `|`- or `_`-separated part: ProofNet's Lean 3 copy spells `exercise_2001_a5` `Putnam|exercise_2001_a5`)."""

    set_a: str
    id_a: str
    set_b: str
    id_b: str


def _putnam(split: str, problems: str) -> tuple[ItemOverlap, ...]:
    return tuple(ItemOverlap(f"proofnet-{split}", f"exercise_{p}", "putnambench", f"putnam_{p}")
                 for p in problems.split())


ITEM_OVERLAPS: tuple[ItemOverlap, ...] = (
    # ProofNet's Putnam exercises are PutnamBench problems (checked on the shared data: same informal
    # statement; exercise_2014_a5's informal text is cut to "Let" in proofnet-lean4-deepseek).
    *_putnam("test", "1998_b6 1999_b4 2001_a5 2014_a5 2018_a5 2018_b4"),
    *_putnam("valid", "1998_a3 2000_a2 2010_a4 2017_b3 2018_b2 2020_b5"),
)
"""Problems shared by two different item sets: `rank` notes them, `mix` removes them."""


def id_matches(record_id: str, item_id: str) -> bool:
    """Whether a record id names the item `item_id` (equal, or ending in `|item_id` / `_item_id`)."""
    return record_id == item_id or record_id.endswith(("|" + item_id, "_" + item_id))


def _spec(s: "str | SourceSpec") -> "SourceSpec":
    return get(s) if isinstance(s, str) else s


def item_overlaps(target: "str | SourceSpec", source: "str | SourceSpec") -> list[tuple[str, str]]:
    """(target item id, source item id) for each problem of the target that `source` holds under another
    item set (not counting the sets both hold: such a source is left out whole)."""
    t, s = set(_spec(target).holds), set(_spec(source).holds)
    out = []
    for o in ITEM_OVERLAPS:
        for (ta, ia), (sb, ib) in (((o.set_a, o.id_a), (o.set_b, o.id_b)), ((o.set_b, o.id_b), (o.set_a, o.id_a))):
            if ta in t and sb in s and sb not in t:
                out.append((ia, ib))
    return sorted(set(out))


def held_by(target: "str | SourceSpec", source: "str | SourceSpec") -> list[str]:
    """The target's item sets that `source` holds (non-empty: leave `source` out of the target's rankings)."""
    return sorted(set(_spec(target).holds) & set(_spec(source).holds))


def overlap_notes(target: str, sources: list[str]) -> list[str]:
    """A note for each source that holds the target's items (passed with --source), or some of its problems
    under another item set."""
    notes = []
    for name in sources:
        held = held_by(target, name)
        if held:
            notes.append(f"{name} holds {target}'s own items ({', '.join(held)}): its alignment is inflated, and "
                         "`curate mix` removes the copies")
        pairs = item_overlaps(target, name)
        if pairs:
            notes.append(f"{name} holds {len(pairs)} of {target}'s problems under other ids "
                         f"({', '.join(b for _, b in pairs)}); `curate mix` removes them")
    return notes


def drop_parts(chosen: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Leave out entries whose whole (`part_of`) is also chosen: (kept, excluded with why)."""
    kept, excluded = [], []
    for name in chosen:
        whole = get(name).part_of
        if whole is not None and whole in chosen:
            excluded.append({"source": name, "reason": f"part of {whole}, which is ranked whole"})
        else:
            kept.append(name)
    return kept, excluded


def targets() -> list[SourceSpec]:
    """Entries with role "target", built-in first, then registered datasets declared as targets."""
    return [s for s in all_specs().values() if s.role == "target"]


def holders(item_set: str) -> list[str]:
    """Names of every entry that holds `item_set`."""
    return [name for name, s in all_specs().items() if item_set in s.holds]


def check_holds(holds: "tuple[str, ...] | list[str]") -> tuple[str, ...]:
    """Validate item-set names given by a user (`curate ingest --holds`): a known item set, or a target's name
    (meaning the sets that target holds)."""
    out: list[str] = []
    for name in holds:
        if name in ITEM_SETS:
            out.append(name)
            continue
        spec = all_specs().get(name)
        if spec is not None and spec.holds:
            out += spec.holds
            continue
        close = difflib.get_close_matches(name, [*ITEM_SETS, *(s.name for s in targets())], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; item sets: {', '.join(ITEM_SETS)}"
        raise CurateError(f"unknown item set {name!r} for --holds{hint}")
    return tuple(dict.fromkeys(out))


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


def named_sources(target: str, names: "list[str]") -> list[str]:
    """Sources a user named for `target`: deduplicated in order, each known, none the target itself
    (checked before any work)."""
    names = list(dict.fromkeys(names))
    for name in names:
        get(name)
    if target in names:
        raise CurateError(f"the target {target!r} cannot also be a source")
    return names


def register(spec: SourceSpec) -> Path:
    """Add or replace a user registration (atomic write under the cache dir)."""
    if spec.name in BUILTIN:
        raise CurateError(f"{spec.name!r} is a built-in source name; choose another --name")
    from curate.cache import atomic_write_json, file_lock

    spec.registered = True
    path = registry_path()
    # Read-modify-write under a lock: two ingests at once both keep their registration.
    with file_lock(path.with_name(path.name + ".lock")):
        regs = registered()
        regs[spec.name] = spec
        atomic_write_json(path, [s.to_json() for s in regs.values()], indent=1)
    return path
