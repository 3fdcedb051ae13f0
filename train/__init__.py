"""Fine-tuning and evaluation: LoRA runs, target cross-entropy, the alignment-vs-loss experiment, bench.

Depends on `curate` (records, load, probe, tokens, rank, mix); `curate` never imports `train`
except from the CLI.
"""
