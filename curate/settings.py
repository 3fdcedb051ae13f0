"""Where data is read from and where everything we write goes.

The data home is read-only to us; registrations, caches and outputs live under the cache dir.
"""

from __future__ import annotations

import os
from pathlib import Path

_overrides: dict[str, Path] = {}


def set_data_home(path: str | Path | None) -> None:
    if path is not None:
        _overrides["data_home"] = Path(path).expanduser()


def set_cache_dir(path: str | Path | None) -> None:
    if path is not None:
        _overrides["cache_dir"] = Path(path).expanduser()


def data_home() -> Path:
    """`--data-home`, else $CURATE_DATA_HOME, else ~/.local/share/curate/data."""
    if "data_home" in _overrides:
        return _overrides["data_home"]
    env = os.environ.get("CURATE_DATA_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "curate" / "data"


def cache_dir() -> Path:
    """`--cache-dir`, else $CURATE_CACHE, else ~/.cache/curate."""
    if "cache_dir" in _overrides:
        return _overrides["cache_dir"]
    env = os.environ.get("CURATE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "curate"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False") or os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ) not in ("", "0", "false", "False")
