"""Per-source facts of many sources at once: those not cached are computed in parallel processes.

Each worker reads one source (`artefacts.facts`: records, fingerprint, token count) and then runs the
metrics' records jobs on the rows it holds — Task2Vec's writes the token ids of the batches it will
embed to the cache (`Task2VecMetric.records_job`) — so the main process holds no records and tokenizes
nothing afterwards. Without jobs (a metric that reads records itself), with one worker (`workers`), one
source to read, or no forkserver (Windows), the facts are computed here, in order, as before
(`artefacts.facts`), and the rows stay held for the metrics.

Workers are forked from a forkserver that has imported the tokenizer's stack once (transformers, and
torch with it), so a worker starts in milliseconds instead of importing it again; forkserver rather
than fork, since this process may be running threads (the progress heartbeat, the probe warm-up).
Workers need nothing from the caller's `__main__` (the jobs live in curate), so it is hidden while
they start: a script without an `if __name__ == "__main__":` guard is not run again in each of them.
Each worker gets this process's environment and settings (cache dir, data home, record cap) and
ignores SIGINT: an interrupt reaches this process, which terminates the workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import types
from typing import Any, Callable, Sequence

from curate import artefacts, load, probe, settings
from curate.artefacts import SourceFacts

RecordsJob = Callable[[str, Any], None]
"""`job(name, dataset)`: reads from a source's records what a metric's `prepare` needs, into the cache."""
PRELOAD = ("curate.artefacts", "curate.tokens", "transformers.models.auto.tokenization_auto")
"""Modules the forkserver imports once for every worker (a missing one is skipped)."""


def workers(requested: int | None = None) -> int:
    """Worker processes: `requested`, else $CURATE_WORKERS, else the cores that other jobs leave free
    (`probe.free_cores`, as for torch's threads: all of an idle machine's)."""
    if requested is None and os.environ.get("CURATE_WORKERS", "").strip():
        from curate.errors import CurateError

        try:
            requested = int(os.environ["CURATE_WORKERS"])
        except ValueError:
            raise CurateError(f"CURATE_WORKERS must be a whole number, got {os.environ['CURATE_WORKERS']!r}") from None
    return max(1, requested if requested is not None else probe.free_cores())


def gather(names: Sequence[str], tokenizer_model: str | None, jobs: Sequence[RecordsJob] | None = None,
           max_workers: int | None = None, on_cold: Callable[[], None] | None = None,
           on_done: Callable[[str], None] | None = None) -> dict[str, SourceFacts]:
    """The facts of `names` (in that order), read from the cache where it has them. The rest are
    computed in up to `max_workers` (`workers`) processes when `jobs` is given (every metric can
    take what it needs from the records there; an empty list: none needs any), else here.
    `on_cold()` is called once before any facts are computed; `on_done(name)` as each is known."""
    done = on_done or (lambda _name: None)
    out: dict[str, SourceFacts | None] = {}
    for name in names:
        out[name] = artefacts.cached_facts(name, tokenizer_model)
        if out[name] is not None:
            done(name)
    todo = [n for n in names if out[n] is None]
    if todo and on_cold is not None:
        on_cold()
    n = min(len(todo), workers(max_workers))
    if jobs is None or n < 2 or not _forkserver():
        for name in todo:
            out[name] = artefacts.facts(name, tokenizer_model)
            done(name)
    else:
        for name, facts in _in_workers(todo, tokenizer_model, list(jobs), n):
            out[name] = facts
            done(name)
    return {name: out[name] for name in names}  # type: ignore[misc]


def _in_workers(names: list[str], tokenizer_model: str | None, jobs: list[RecordsJob], n: int):
    """(name, facts) of each source as its worker finishes (any order)."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    state = (dict(os.environ), {"cache_dir": settings.cache_dir(), "data_home": settings.data_home()},
             load._MAX_RECORDS.get("n"))
    pool = None
    try:
        with _main_hidden(), _interrupts_held():  # the forkserver and the workers start here
            pool = ctx.Pool(n, initializer=_start_worker, initargs=state)
        yield from pool.imap_unordered(_facts_job, [(name, tokenizer_model, jobs) for name in names])
        pool.close()
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.join()


def _forkserver() -> bool:
    """Whether this platform has the forkserver start method (POSIX; not Windows)."""
    import multiprocessing

    return "forkserver" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def _main_hidden():
    """An empty `__main__` (no file, no spec) for the duration: processes started meanwhile import no script."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


@contextlib.contextmanager
def _interrupts_held():
    """SIGINT and SIGTERM held back while the workers start (stopped half-way, a worker is left unpickling
    a pool that is gone: a traceback after the run): the first one caught is raised again on the way out,
    once the pool exists, which the caller then terminates. The start takes the forkserver's imports at most."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    old = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig in held:
            signal.signal(sig, old[sig])
        if caught:
            signal.raise_signal(caught[0])


def _start_worker(environ: dict[str, str], paths: dict[str, Any], max_records: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(environ)
    settings.set_cache_dir(paths["cache_dir"])
    settings.set_data_home(paths["data_home"])
    load.set_max_records(max_records)


def _facts_job(task: tuple[str, str | None, list[RecordsJob]]) -> tuple[str, SourceFacts]:
    name, tokenizer_model, jobs = task
    facts = artefacts.facts(name, tokenizer_model)
    data = artefacts.LazySource(name, facts)
    for job in jobs:
        job(name, data)
    artefacts._LOADED.pop((name, facts.fingerprint), None)  # the next source this worker reads replaces it
    return name, facts


__all__ = ["gather", "workers", "RecordsJob"]
