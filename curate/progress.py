"""Progress events from library code to whatever shows them (a rich bar, plain log lines, JSON, nothing).

Library code reports without knowing who listens:

    with progress.task("task2vec: embedding", total=k, source=name) as t:
        for batch in batches:
            ...
            t.advance()
    progress.note("gsm8k: 8 batches cached")

The CLI installs a sink (`use(sink)`) that renders the events; with no sink installed nothing is shown.
A sink gets `start(task)`, `advance(task)` and `end(task)` calls and `note(msg)`; it decides how often to
print (the Task carries step, total, done, start time and free-form detail).

Sinks here (`make_sink(mode)`, installed by the CLI): `RichSink` (bars on a terminal), `LineSink` (plain
flushed lines when stderr is a log: at most one status line per CURATE_PROGRESS_INTERVAL seconds (5), a
heartbeat after CURATE_PROGRESS_HEARTBEAT seconds (20) of silence), `JsonSink` (`--log-json`: one JSON event per line) and None (`--quiet`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol, TextIO


@dataclass
class Task:
    step: str
    """What is running, e.g. "task2vec: embedding"."""
    total: int | None = None
    """Units to do (None = unknown)."""
    unit: str = "items"
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    detail: dict[str, Any] = field(default_factory=dict)
    """Free-form context: source name, batch index, records done, ..."""
    _sink: "Sink | None" = field(default=None, repr=False)

    def advance(self, n: int = 1, **detail: Any) -> None:
        self.done += n
        self.detail.update(detail)
        if self._sink is not None:
            self._sink.advance(self)

    def update(self, total: int | None = None, **detail: Any) -> None:
        if total is not None:
            self.total = total
        self.detail.update(detail)
        if self._sink is not None:
            self._sink.advance(self)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Sink(Protocol):
    def start(self, task: Task) -> None: ...
    def advance(self, task: Task) -> None: ...
    def end(self, task: Task) -> None: ...
    def note(self, msg: str) -> None: ...


_SINK: Sink | None = None


def current() -> Sink | None:
    return _SINK


@contextmanager
def use(sink: Sink | None) -> Iterator[None]:
    """Install `sink` for the duration of the block (None silences)."""
    global _SINK
    old, _SINK = _SINK, sink
    try:
        yield
    finally:
        _SINK = old


@contextmanager
def task(step: str, total: int | None = None, unit: str = "items", **detail: Any) -> Iterator[Task]:
    t = Task(step=step, total=total, unit=unit, detail=dict(detail), _sink=_SINK)
    if _SINK is not None:
        _SINK.start(t)
    try:
        yield t
    finally:
        if _SINK is not None:
            _SINK.end(t)


def note(msg: str) -> None:
    if _SINK is not None:
        _SINK.note(msg)


# ----------------------------------------------------------------------------- sinks
def _hms(seconds: float) -> str:
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def eta(task: Task) -> float | None:
    """Seconds left: the reporter's own estimate (`detail["eta_s"]`, e.g. one that leaves cached units out),
    else the rate measured so far (None until one unit is done or without a total)."""
    if task.detail.get("eta_s") is not None:
        return float(task.detail["eta_s"])
    if not task.total or task.done <= 0 or task.done >= task.total:
        return None
    return task.elapsed / task.done * (task.total - task.done)


def describe(task: Task) -> str:
    """One human line: step, source, i/K unit, other detail, elapsed, ETA."""
    parts = [task.step]
    detail = dict(task.detail)
    if "source" in detail:
        parts.append(str(detail.pop("source")))
    if task.total is not None:
        parts.append(f"{task.done}/{task.total} {task.unit}")
    elif task.done:
        parts.append(f"{task.done} {task.unit}")
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in detail.items() if v is not None and v != "" and k != "eta_s"]
    parts.append(f"elapsed {_hms(task.elapsed)}")
    left = eta(task)
    if left is not None:
        parts.append(f"ETA {_hms(left)}")
    return "  ".join(parts)


class LineSink:
    """Plain, flushed lines for logs (stderr not a terminal): at most one status line per `interval` seconds
    (step, source, i/K, other detail, elapsed, ETA), a heartbeat line after `heartbeat` seconds of silence
    while a task runs, one line when a long task ends. Notes (e.g. the expected time a reporter measured on
    its first unit) are printed as they come."""

    def __init__(self, stream: TextIO | None = None, interval: float | None = None, heartbeat: float | None = None):
        self._stream = stream
        self.interval = float(os.environ.get("CURATE_PROGRESS_INTERVAL", 5.0) if interval is None else interval)
        self.heartbeat = float(os.environ.get("CURATE_PROGRESS_HEARTBEAT", 20.0) if heartbeat is None else heartbeat)
        self.active: list[Task] = []
        self._last = time.monotonic()  # the first status line comes `interval` after the sink starts
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr  # looked up per write: tests and redirections replace sys.stderr

    def _write(self, line: str) -> None:
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed log must not stop the work
            self._last = time.monotonic()

    def _due(self, task: Task) -> bool:
        """A status line is due: `interval` since the last line, and the task has run a moment (no noise
        from tasks that finish at once)."""
        return time.monotonic() - self._last >= self.interval and task.elapsed >= min(1.0, self.interval)

    def start(self, task: Task) -> None:
        with self._lock:
            self.active.append(task)
        self._ensure_thread()

    def advance(self, task: Task) -> None:
        with self._lock:
            if self._due(task):
                self._write(describe(task))

    def end(self, task: Task) -> None:
        with self._lock:
            self.active = [t for t in self.active if t is not task]
            if task.elapsed >= self.interval:
                what = f"{task.step} {task.detail.get('source', '')}".strip()
                count = f"{task.done} {task.unit} " if task.total is not None or task.done else "done "
                self._write(f"{what}: {count}in {_hms(task.elapsed)}")

    def note(self, msg: str) -> None:
        self._write(msg)

    def _ensure_thread(self) -> None:
        if self._thread is None and self.heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, name="curate-progress", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.heartbeat)):
            with self._lock:
                if self.active and time.monotonic() - self._last >= self.heartbeat:
                    self._write(describe(self.active[-1]) + "  (working)")

    def close(self) -> None:
        self._stop.set()


class JsonSink:
    """One JSON object per event and line (`--log-json`): event start|advance|end|note, step, done, total, unit,
    elapsed, eta, detail (or message), t = seconds since the sink was made."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def _emit(self, obj: dict[str, Any]) -> None:
        obj = {"t": round(time.monotonic() - self._t0, 3), **obj}
        with self._lock:
            try:
                stream = self._stream or sys.stderr
                stream.write(json.dumps(obj, default=str, ensure_ascii=False) + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass

    def _task(self, event: str, task: Task) -> None:
        left = eta(task)
        self._emit({"event": event, "step": task.step, "done": task.done, "total": task.total, "unit": task.unit,
                    "elapsed": round(task.elapsed, 3), "eta": None if left is None else round(left, 3),
                    "detail": task.detail})

    def start(self, task: Task) -> None:
        self._task("start", task)

    def advance(self, task: Task) -> None:
        self._task("advance", task)

    def end(self, task: Task) -> None:
        self._task("end", task)

    def note(self, msg: str) -> None:
        self._emit({"event": "note", "message": msg})

    def error(self, msg: str, exit_code: int) -> None:
        self._emit({"event": "error", "message": msg, "exit_code": exit_code})

    def close(self) -> None:
        pass


class RichSink:
    """Rich bars on a terminal (shown while a task runs, gone when none does); notes printed above them."""

    def __init__(self, console: Any = None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress: Any = None
        self._ids: dict[int, Any] = {}
        self._lock = threading.RLock()

    def _bar(self):
        if self._progress is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                      TimeRemainingColumn(), console=self.console, transient=True)
            self._progress.start()
        return self._progress

    @staticmethod
    def _label(task: Task) -> str:
        extra = [str(task.detail["source"])] if "source" in task.detail else []
        extra += [f"{k} {v}" for k, v in task.detail.items()
                  if k not in ("source", "eta_s") and v is not None and v != ""]
        return " ".join([task.step, *extra])

    def start(self, task: Task) -> None:
        with self._lock:
            self._ids[id(task)] = self._bar().add_task(self._label(task), total=task.total, completed=task.done,
                                                       unit=task.unit)

    def advance(self, task: Task) -> None:
        with self._lock:
            if id(task) in self._ids:
                self._progress.update(self._ids[id(task)], completed=task.done, total=task.total,
                                      description=self._label(task))

    def end(self, task: Task) -> None:
        with self._lock:
            tid = self._ids.pop(id(task), None)
            if tid is not None and self._progress is not None:
                self._progress.remove_task(tid)
            if not self._ids:
                self.close()

    def note(self, msg: str) -> None:
        with self._lock:
            (self._progress.console if self._progress is not None else self.console).print(
                msg, style="dim", highlight=False, markup=False)

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


def make_sink(mode: str = "auto", stream: TextIO | None = None) -> Sink | None:
    """auto (rich bars on a terminal, plain lines otherwise) | rich | lines | json | quiet (None: nothing shown)."""
    if mode == "quiet":
        return None
    if mode == "json":
        return JsonSink(stream)
    if mode == "auto":
        s = stream or sys.stderr
        mode = "rich" if getattr(s, "isatty", lambda: False)() and os.environ.get("TERM") != "dumb" else "lines"
    if mode == "rich":
        return RichSink()
    if mode == "lines":
        return LineSink(stream)
    raise ValueError(f"unknown progress mode {mode!r}")
