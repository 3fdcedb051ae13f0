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
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol


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
