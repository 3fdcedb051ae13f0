"""`curate mix`: the top-aligned fine-tuning mix under a token budget, deduplicated and
decontaminated against the eval set, with a manifest that accounts for every record.

    from curate.mix import MixConfig, build_mix
    result = build_mix(MixConfig(ranking="r.json", budget=100_000, strategy="top-k", out=Path("mix")))
"""

from curate.mix.build import MixConfig, MixResult, build_mix, load_ranking
from curate.mix.strategies import STRATEGIES

__all__ = ["MixConfig", "MixResult", "build_mix", "load_ranking", "STRATEGIES"]
