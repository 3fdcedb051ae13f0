"""Output folders that never eat a user's files.

Every command that writes a folder (`ingest`, `mix`, `train`) goes through here:

    out = outdir.check(opts.out, "ingest", inputs=paths)   # before any work: refuses, or says it is fine
    tmp = outdir.new_tmp(out)                              # write everything into tmp ...
    outdir.install(tmp, out, "ingest")                     # ... then move it in, file by file, marker last

`check` refuses a path that is a file, a non-empty folder holding anything that an earlier output of the
same kind did not write (a foreign folder, or one the user added files to), a folder that is, holds or
sits inside one of the command's inputs, and an unwritable place. What an earlier output wrote is listed
in its marker file `.curate-output.json` (`{"kind": ..., "files": [...]}`); folders written before markers
existed are recognised by `legacy` names. `install` replaces only those files: each file is moved in
atomically, files of the older output that the new one does not write are removed, and the marker is
written last, so an interrupted install is detected (no marker, or one that lists what is there) and a
rerun repairs it. Folders and files get the usual permissions (0777/0666 less the umask), not the
owner-only ones that temporary files start with.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from curate.errors import CurateError

MARKER = ".curate-output.json"
TMP_PREFIX, OLD_PREFIX = ".curate-tmp-", ".curate-old-"
"""Our own working folders (left behind only by a crash); never counted as the user's files."""


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share(path: Path) -> None:
    """Give `path` the permissions a plain open()/mkdir() would (temp files and folders start owner-only)."""
    mode = (0o777 if path.is_dir() else 0o666) & ~umask()
    try:
        os.chmod(path, mode)
    except OSError:
        pass


def _resolve(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))  # keeps symlinks as given; '.' -> cwd


def read_marker(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    return data


def ours(folder: Path, kind: str, legacy: Iterable[str] = ()) -> set[str]:
    """Names in `folder` that an earlier `kind` output wrote (by its marker, else the `legacy` names)."""
    marker = read_marker(folder)
    if marker is not None and marker.get("kind") == kind:
        return set(map(str, marker["files"])) | {MARKER}
    return set(legacy)


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check(out: Path | str, kind: str, inputs: Sequence[Path | str] = (), legacy: Iterable[str] = (),
          flag: str = "--out") -> Path:
    """Refuse, with one line naming the fix, any `out` that a `kind` output may not replace; returns it absolute.

    `legacy`: names an older `kind` output wrote before markers existed (a folder holding only those is ours)."""
    out = _resolve(out)
    if out.exists() and not out.is_dir():
        raise CurateError(f"{flag} {out} is a file, not a folder; choose another {flag}")
    for raw in inputs:
        inp = _resolve(raw)
        if _within(inp, out):
            raise CurateError(f"{flag} {out} holds the input {raw}; writing there would replace it, so choose "
                              f"another {flag}")
        if inp.is_dir() and _within(out, inp):
            raise CurateError(f"{flag} {out} is inside the input folder {raw}; a rerun would read its own output, "
                              f"so choose a {flag} outside it")
    if out.is_dir():
        present = {p.name for p in out.iterdir() if not p.name.startswith((TMP_PREFIX, OLD_PREFIX))}
        foreign = sorted(present - ours(out, kind, legacy))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            what = "holds files" if present - set(foreign) else "is not empty and holds"
            raise CurateError(f"{flag} {out} {what} that no earlier `curate {kind}` wrote ({shown}); move them "
                              f"or choose another {flag} — nothing was changed")
    parent = out if out.is_dir() else out.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise CurateError(f"cannot write to {out}: {probe} is not a writable folder; choose another {flag}")
    return out


def new_tmp(out: Path) -> Path:
    """A fresh, shareable temporary folder inside `out` when it exists (so `.` and folders in read-only
    parents work), else beside it."""
    out = _resolve(out)
    where = out if out.is_dir() else out.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=where, prefix=TMP_PREFIX))
    except OSError as exc:
        raise CurateError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    share(tmp)
    return tmp


def install(tmp: Path, out: Path, kind: str, legacy: Iterable[str] = ()) -> list[str]:
    """Move everything in `tmp` into `out`, replacing only what an earlier `kind` output wrote; the marker
    (listing the new files) goes last. Returns the names installed. `tmp` is removed."""
    out = _resolve(out)
    names = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
    try:
        if not out.exists():
            (tmp / MARKER).write_text(json.dumps({"kind": kind, "files": names}) + "\n", encoding="utf-8")
            share(tmp / MARKER)
            os.replace(tmp, out)
            return names
        old = ours(out, kind, legacy) - {MARKER}
        (out / MARKER).unlink(missing_ok=True)  # from here until the end the folder is "being written"
        for name in names:
            src, dst = tmp / name, out / name
            if dst.is_dir() and not dst.is_symlink():
                trash = Path(tempfile.mkdtemp(dir=out, prefix=OLD_PREFIX))
                os.replace(dst, trash / name)
                os.replace(src, dst)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(src, dst)
        for name in sorted(old - set(names)):
            stale = out / name
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            elif stale.exists() or stale.is_symlink():
                stale.unlink()
        marker_tmp = tmp / MARKER
        marker_tmp.write_text(json.dumps({"kind": kind, "files": names}) + "\n", encoding="utf-8")
        share(marker_tmp)
        os.replace(marker_tmp, out / MARKER)
        for left in out.iterdir():  # working folders a crashed earlier run left behind
            if left.name.startswith((TMP_PREFIX, OLD_PREFIX)) and left != tmp:
                shutil.rmtree(left, ignore_errors=True)
    except OSError as exc:
        raise CurateError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return names
