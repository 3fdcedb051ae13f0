"""Steps over record batches, executors that run them (local processes or Ray), and the global
steps (deduplication) that see compact data from every shard. `curate.mix.build` assembles the mix
from these pieces:

    read (shards of each source, streamed) -> render + count tokens -> decontaminate -> dedup keys
        [map steps, on workers: `steps.run_shard`]
    -> global dedup (`dedup.resolve`) -> select under the budget (`curate.mix.strategies.choose`)
        [global, on compact columns held by `corpus.Corpus`]
    -> write (sharded Parquet + jsonl)
"""

from curate.pipeline.base import Accounts, Removed, Step, check_conservation, run_steps
from curate.pipeline.executor import ENGINES, LocalExecutor, RayExecutor, WorkerDied, executor

__all__ = ["Accounts", "Removed", "Step", "check_conservation", "run_steps", "ENGINES", "LocalExecutor",
           "RayExecutor", "WorkerDied", "executor"]
