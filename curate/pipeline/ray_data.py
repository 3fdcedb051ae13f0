"""The Ray engine on Ray Data: shard tasks as a dataset, the per-shard steps as `map_batches`.

Tasks go to Ray Data in windows: each window is a dataset of one block per task (`from_items`), mapped
by the shard function (`map_batches`, one CPU per block, never retried) and read back in order
(`preserve_order`). A window of shard descriptions (light tasks: the workers read the shards) holds
up to `POOL_WINDOW` of them and runs on an actor pool of `workers` actors with the next task already
queued on each, so a worker never waits for the driver to schedule its next shard (plain Ray Data tasks
idled 0.2-0.8 s between shards, measured) and the actors' caches last the whole window. A window
holding records read on the driver (heavy tasks) holds `2 × workers` of them and runs as plain tasks.
The next window is prepared on a driver thread while the cluster works on this one, so at most two
windows are in flight and memory does not grow with the corpus. The shared state (eval index,
tokenizer, dedup parameters) is put in the object store once and fetched once per worker process.
For the mix (`map_sources`) a task is a shard description that the worker reads itself
(`curate.pipeline.read`) when the workers see this machine's disk, else the shard's records, read on
the driver.

What comes back to the driver is what the shard function returns: for the mix, compact per-record
state (ids, token counts, digests, band keys, signatures, removals); the surviving rows themselves
are written by the workers to the work folder when every node sees the driver's disk
(`shares_disk`), and travel back in the result otherwise.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from curate.errors import CurateError


class RayExecutor:
    """Runs `fn(shared, task)` over tasks with Ray Data; results in task order.

    `address` None starts a local Ray with `workers` CPUs (default: every core); an address
    (`auto`, `HOST:6379`, `ray://HOST:10001`) connects to a running cluster, whose CPUs are the workers."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, window: int | None = None,
                 read_in_workers: bool | None = None):
        try:
            import ray
            import ray.data  # noqa: F401  (the `ray[data]` extra)
        except ImportError as exc:
            raise CurateError("the ray engine needs Ray Data: pip install 'curate[ray]'") from exc
        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            try:
                if address:
                    _reachable(address)
                    ray.init(address=address, **kwargs)
                else:  # its workers at this process's priority, as the local engine's (Ray's default: 15 lower)
                    ray.init(num_cpus=workers or os.cpu_count() or 1, _system_config={"worker_niceness": 0}, **kwargs)
            except ConnectionError as exc:
                raise CurateError(f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}") \
                    from exc
            self._started = True
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.window = window or 2 * self.workers
        """Shards per Ray Data dataset (one more window is read ahead while this one runs); a task that
        `map`'s `light` calls light (a shard description, not its records) counts 1/`LIGHT` of one, or
        `window`/`POOL_WINDOW` of one in a window that runs on the actor pool."""
        self.read_in_workers = read_in_workers
        """The workers read their shards (`curate.pipeline.read`); None = when they see this machine's disk."""

    def map_sources(self, shared, sources: list[str], shard_records: int, max_records: int | None,
                    fingerprints: dict[str, str]) -> Iterator[Any]:
        """`run_shard` over every shard of the sources, in order (`curate.pipeline.read.map_sources`)."""
        from curate.pipeline.read import map_sources

        in_workers = self.shares_disk if self.read_in_workers is None else self.read_in_workers
        return map_sources(self, shared, sources, shard_records, max_records, fingerprints, in_workers)

    @property
    def shares_disk(self) -> bool:
        """Whether every node of the cluster is this machine (so workers can write to the driver's folders)."""
        ray = self.ray
        try:
            here = ray.util.get_node_ip_address()
            nodes = [n for n in ray.nodes() if n.get("Alive")]
        except Exception:  # Ray client mode and the like: assume remote nodes
            return False
        return bool(nodes) and all(n.get("NodeManagerAddress") == here for n in nodes)

    def map(self, fn: Callable[[Any, Any], Any], shared: Any, tasks: Iterable[Any],
            light: Callable[[Any], bool] | None = None) -> Iterator[Any]:
        """`fn(shared, task)` per task, in task order. `light(task)`: the task is small (it describes its
        work), so a window holds many more (`POOL_WINDOW` on the actor pool, else `LIGHT` times as many):
        fewer datasets, fewer idle workers at their ends."""
        import ray.data

        ray = self.ray
        shared_ref = [ray.put(shared)]  # in a list, so Ray does not resolve it per task (workers cache it)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Ray 2.60's own, on first use of the context
            ctx = ray.data.DataContext.get_current()
        saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start)
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        # a failed run is reported below in one line, not as Ray Data's traceback on the console (its log file keeps it)
        quiet = [h for h in logging.getLogger("ray.data").handlers if "File" not in type(h).__name__]
        levels = [h.level for h in quiet]
        for h in quiet:
            h.setLevel(logging.CRITICAL)
        reader = ThreadPoolExecutor(1, thread_name_prefix="curate-ray-reader")
        it = iter(tasks)
        # a window of light tasks only (shard descriptions) runs on an actor pool: its workers start once a
        # window (their caches with them), so such a window holds up to POOL_WINDOW tasks; a window with heavy
        # tasks (records read on the driver) runs as plain tasks, whose worker processes Ray reuses
        per_task = max(LIGHT, POOL_WINDOW // self.window)
        seq = 0
        failed = False
        try:
            ahead = reader.submit(_read_window, it, self.window, light, per_task)
            while True:
                window, pool = ahead.result()  # bad input in a source raises here, as in the local engine
                if not window:
                    break
                ahead = reader.submit(_read_window, it, self.window, light, per_task)
                items = [{"seq": seq + i, "task": t} for i, t in enumerate(window)]
                seq += len(items)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # Ray 2.60 deprecates ray_remote_args (max_retries)
                    ds = ray.data.from_items(items, override_num_blocks=len(items))
                    if pool:  # long-lived workers with the next task queued: no idle gap between tasks
                        ds = ds.map_batches(
                            _Runner, batch_size=None, fn_constructor_args=(fn, shared_ref), num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(items)),
                                                               max_tasks_in_flight_per_actor=2),
                            max_restarts=0, max_task_retries=0)
                    else:
                        ds = ds.map_batches(_run_batch, batch_size=None, fn_args=(fn, shared_ref), num_cpus=1,
                                            max_retries=0)
                want = items[0]["seq"]
                rows = iter(ds.iter_rows())
                try:
                    for row in rows:
                        if int(row["seq"]) != want:
                            raise RuntimeError(f"Ray Data returned shard {row['seq']} where {want} was due")
                        want += 1
                        result = pickle.loads(row["result"])
                        if isinstance(result, _Failed):  # bad input: the user's one-line error, as locally
                            raise result.error
                        yield result
                finally:
                    if hasattr(rows, "close"):
                        rows.close()  # stops this window's execution now, not when the iterator is collected
                if want != seq:
                    raise RuntimeError(f"Ray Data returned {want - items[0]['seq']} of {len(items)} shards")
        except ray.exceptions.RayError as exc:
            failed = True
            from curate.pipeline.executor import WorkerDied

            raise WorkerDied(f"a Ray task died mid-run ({_describe(exc)}); nothing was written, run the "
                             f"command again{_log_hint()}") from exc
        except BaseException:
            failed = True
            raise
        finally:
            reader.shutdown(wait=True, cancel_futures=True)  # at most one window's read still under way
            ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start = saved
            for h, lv in zip(quiet, levels):
                h.setLevel(lv)
            if failed:
                self._settle()

    def _settle(self, timeout: float = 10.0) -> None:
        """After a failed run, wait (a while) for cancelled tasks to stop, so none writes after the caller cleans up."""
        ray = self.ray
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ray.available_resources().get("CPU", 0) >= ray.cluster_resources().get("CPU", 0):
                    return
            except Exception:
                return
            time.sleep(0.2)

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


def _log_hint() -> str:
    try:
        from ray.data._internal.logging import get_log_directory

        folder = get_log_directory()
    except Exception:
        return ""
    return f" (Ray Data's log: {folder}/ray-data.log)" if folder else ""


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, on a HOST:PORT (or ray://HOST:PORT) nobody listens on (Ray itself retries for minutes)."""
    import re
    import socket

    m = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)/?", address)
    if not m:
        return  # "auto", "local" and the like: Ray's own check is quick
    try:
        socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout).close()
    except OSError as exc:
        raise CurateError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
                          "`ray start --head` there, or check --ray-address") from None


LIGHT = 8
"""Light tasks (see `RayExecutor.map`) a window of plain tasks holds in place of one task."""
POOL_WINDOW = 1024
"""Light tasks a window of the actor pool holds (shard descriptions: 1,024 of 20k records are 20M records)."""


def _read_window(it: Iterator[Any], n: int, light: Callable[[Any], bool] | None = None,
                 per_task: int = LIGHT) -> tuple[list[bytes], bool]:
    """The next window: `n` tasks, or `n × per_task` light ones (a heavy task weighs `per_task` light ones);
    pickled, and whether all of them are light."""
    if light is None:
        return [pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL) for t in islice(it, n)], False
    out, weight, all_light = [], 0, True
    for t in it:
        out.append(pickle.dumps(t, protocol=pickle.HIGHEST_PROTOCOL))
        is_light = light(t)
        all_light = all_light and is_light
        weight += 1 if is_light else per_task
        if weight >= n * per_task:
            break
    return out, all_light and bool(out)


_SHARED: dict[str, Any] = {}


def _shared(ref_box: list) -> Any:
    """The shared state, fetched from the object store once per worker process."""
    import ray

    key = ref_box[0].hex()
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = ray.get(ref_box[0])
    return _SHARED[key]


def _run_batch(batch: dict, fn: Callable[[Any, Any], Any], ref_box: list) -> dict:
    """One block = one shard task (pickled); returns its result pickled, with its sequence number."""
    import numpy as np

    shared = _shared(ref_box)
    out = np.empty(len(batch["task"]), dtype=object)
    for i, task in enumerate(batch["task"]):
        try:
            result = fn(shared, pickle.loads(task))
        except CurateError as exc:  # Ray Data would wrap it and drop its type: sent back as a value instead
            result = _Failed(exc)
        out[i] = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    return {"seq": batch["seq"], "result": out}


class _Runner:
    """`_run_batch` on a pool actor: the shared state fetched once, when the actor starts."""

    def __init__(self, fn: Callable[[Any, Any], Any], ref_box: list):
        self.fn, self.ref_box = fn, ref_box
        _shared(ref_box)

    def __call__(self, batch: dict) -> dict:
        return _run_batch(batch, self.fn, self.ref_box)


class _Failed:
    def __init__(self, error: CurateError):
        self.error = error


def _describe(exc: BaseException) -> str:
    """The error a task died of, in a few words: Ray's own error type, or the first error line of the
    task's traceback (Ray Data passes a task's exception on as text only)."""
    import re

    for line in str(exc).splitlines():
        line = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line) and "UserCodeException" not in line:
            return line[:200]
    return type(exc).__name__

