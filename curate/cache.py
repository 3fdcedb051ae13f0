"""Content-addressed on-disk cache with atomic writes, under the cache dir.

A key is any JSON-able dict (dataset fingerprint, batch index, probe, config, seed, ...); its
SHA-256 names the file. Writes go to a temp file and `os.replace` it in, so an interrupted run
never leaves a half-written entry and a rerun resumes from what was finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from curate import settings


def key_hash(key: dict[str, Any]) -> str:
    blob = json.dumps(key, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Cache:
    """One namespace of the cache (e.g. "task2vec", "tokens"). `enabled=False` reads nothing."""

    def __init__(self, namespace: str, enabled: bool = True, root: Path | None = None):
        self.dir = (root or settings.cache_dir()) / namespace
        self.enabled = enabled

    def path(self, key: dict[str, Any], suffix: str) -> Path:
        h = key_hash(key)
        return self.dir / h[:2] / f"{h}{suffix}"

    def get_json(self, key: dict[str, Any]) -> Any | None:
        p = self.path(key, ".json")
        if not self.enabled or not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))["value"]
        except (OSError, ValueError, KeyError):
            return None  # a corrupt entry is recomputed

    def put_json(self, key: dict[str, Any], value: Any) -> None:
        blob = json.dumps({"key": key, "value": value}, default=str).encode("utf-8")
        atomic_write_bytes(self.path(key, ".json"), blob)

    def get_tensor(self, key: dict[str, Any]):
        p = self.path(key, ".pt")
        if not self.enabled or not p.exists():
            return None
        import torch

        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except Exception:
            return None

    def put_tensor(self, key: dict[str, Any], tensor) -> None:
        import torch

        buf = io.BytesIO()
        torch.save(tensor, buf)
        atomic_write_bytes(self.path(key, ".pt"), buf.getvalue())
