"""LocalExecutor's worker processes: results in task order, inherited objects kept out of the workers' GC."""

from __future__ import annotations

import gc
import multiprocessing as mp

import pytest

from curate.pipeline.executor import LocalExecutor

fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs the fork start method")


def _frozen(shared, task):
    return task * shared["k"], gc.get_freeze_count()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_task_order(workers):
    out = list(LocalExecutor(workers).map(_frozen, {"k": 3}, range(9)))
    assert [r for r, _ in out] == [3 * t for t in range(9)]


@fork
def test_forked_workers_see_the_driver_heap_frozen_and_the_driver_is_unfrozen_after():
    assert gc.get_freeze_count() == 0
    out = list(LocalExecutor(2).map(_frozen, {"k": 1}, range(4)))
    assert all(n > 0 for _, n in out)  # the objects the workers inherited are outside their collector
    assert gc.get_freeze_count() == 0  # and back in the driver's once the pool is gone


@fork
def test_driver_unfrozen_after_a_failing_task():
    with pytest.raises(ZeroDivisionError):
        list(LocalExecutor(2).map(lambda s, t: 1 // t, None, [1, 0, 2]))
    assert gc.get_freeze_count() == 0
