"""Content-addressed on-disk cache under the cache dir, safe against kills and concurrent writers.

A key is any JSON-able dict (dataset fingerprint, batch index, probe, config, seed, ...); its SHA-256
names the file. Three rules keep every entry whole and every process in agreement:

- **Atomic writes** (`atomic_write_bytes`, the one helper every module uses for files): data goes
  to a temp file beside the target, is fsynced, and is renamed into place. A writer killed at any
  point (SIGKILL included) leaves at most a stray `.*.tmp` file, never a half-written entry.
- **Write-once entries**: an entry is published with a hard link, which fails when the name exists,
  so the first complete entry wins and a later writer reads and returns the stored value instead of
  its own. Two processes on one cache dir therefore use identical values. An entry that does not
  read back (a file from an older, non-atomic writer, disk trouble) is recomputed and replaced.
- **Compute locks** (`Cache.compute`): a per-entry `flock` so that two processes wanting the same
  missing entry compute it once; the other waits and reads it. Locks die with their process.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from curate import settings

_MISSING = object()
STALE_TMP_SECONDS = 3600  # stray temp files older than this (left by killed writers) are swept


def key_hash(key: dict[str, Any]) -> str:
    blob = json.dumps(key, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _temp_beside(path: Path, data: bytes) -> str:
    """Write `data` to a fsynced temp file in path's folder; return its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would make it; mkstemp's 0600 hides results from co-workers
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically: readers see the old file or the new one, never a part.
    Parent folders are created."""
    path = Path(path)
    tmp = _temp_beside(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 2) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=indent, ensure_ascii=False, default=str).encode("utf-8"))


def write_once(path: str | Path, data: bytes) -> bool:
    """Publish `data` at `path` unless a file is already there; True if ours was published.
    Atomic like `atomic_write_bytes` (the entry appears whole or not at all)."""
    path = Path(path)
    tmp = _temp_beside(path, data)
    try:
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:  # a file system without hard links: rename, unless someone was first
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if path.exists():
                return False
            os.replace(tmp, path)
            return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) on `path`, created if needed; released on exit or death."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Cache:
    """One namespace of the cache (e.g. "task2vec", "tokens"). `enabled=False` reads nothing (but
    still writes, so a `--no-cache` run refreshes entries)."""

    def __init__(self, namespace: str, enabled: bool = True, root: Path | None = None):
        self.dir = (root or settings.cache_dir()) / namespace
        self.enabled = enabled

    def path(self, key: dict[str, Any], suffix: str) -> Path:
        h = key_hash(key)
        return self.dir / h[:2] / f"{h}{suffix}"

    # -- encodings: JSON (with its key, for inspection), numpy arrays (.npz), torch objects (.pt)
    @staticmethod
    def _encode(kind: str, key: dict[str, Any], value: Any) -> bytes:
        if kind == ".json":
            return json.dumps({"key": key, "value": value}, default=str).encode("utf-8")
        if kind == ".npz":
            import numpy as np

            buf = io.BytesIO()
            arrays = {k: np.asarray(v) for k, v in value.items()}
            np.savez(buf, __key__=np.array(json.dumps(key, default=str)), **arrays)
            return buf.getvalue()
        import torch

        buf = io.BytesIO()
        torch.save(value, buf)
        return buf.getvalue()

    @staticmethod
    def _decode(kind: str, path: Path) -> Any:
        """The stored value, or _MISSING when there is none or it does not read back whole."""
        try:
            if kind == ".json":
                return json.loads(path.read_text(encoding="utf-8"))["value"]
            if kind == ".npz":
                import numpy as np

                with np.load(path, allow_pickle=False) as z:
                    return {k: z[k] for k in z.files if k != "__key__"}
            import torch

            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return _MISSING
        except Exception:  # truncated, garbled, wrong format: recomputed
            return _MISSING

    def get(self, key: dict[str, Any], kind: str = ".json") -> Any | None:
        if not self.enabled:
            return None
        value = self._decode(kind, self.path(key, kind))
        return None if value is _MISSING else value

    def put(self, key: dict[str, Any], value: Any, kind: str = ".json") -> Any:
        """Store `value` unless a readable entry exists; return what the cache now holds (the first
        writer's value when two processes race), so every process uses the same value. A disabled
        cache (`--no-cache`) replaces the entry with the value it was given and returns that."""
        path = self.path(key, kind)
        blob = self._encode(kind, key, value)
        if not self.enabled:
            atomic_write_bytes(path, blob)
            return value
        if write_once(path, blob):
            return value
        stored = self._decode(kind, path)
        if stored is _MISSING:  # unreadable old entry: replace it
            atomic_write_bytes(path, blob)
            return value
        return stored

    def compute(self, key: dict[str, Any], fn: Callable[[], Any], kind: str = ".json") -> Any:
        """The cached value of `key`, computing it with `fn` (once across processes) when missing."""
        hit = self.get(key, kind)
        if hit is not None:
            return hit
        with file_lock(self.path(key, ".lock")):
            hit = self.get(key, kind)  # another process may have finished it while we waited
            if hit is not None:
                return hit
            return self.put(key, fn(), kind)

    # -- the names older callers use
    def get_json(self, key: dict[str, Any]) -> Any | None:
        return self.get(key, ".json")

    def put_json(self, key: dict[str, Any], value: Any) -> Any:
        return self.put(key, value, ".json")

    def get_tensor(self, key: dict[str, Any]):
        return self.get(key, ".pt")

    def put_tensor(self, key: dict[str, Any], tensor) -> Any:
        return self.put(key, tensor, ".pt")

    def sweep(self, older_than: float = STALE_TMP_SECONDS) -> int:
        """Remove temp files that killed writers left behind; returns how many."""
        removed = 0
        now = time.time()
        if not self.dir.exists():
            return 0
        for tmp in self.dir.glob("*/.*.tmp"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed += 1
        return removed


__all__ = ["Cache", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "write_once", "file_lock",
           "key_hash"]
