"""The mix's tokenizer as its workers get it: for a byte-level BPE, the Rust backend alone, without transformers.

Workers only count tokens (`curate.tokens.lengths`). For a tokenizer that `curate.pipeline.tokencount.counter`
counts, that needs nothing but its backend (`tokenizers.Tokenizer`); a transformers tokenizer, though, pickles
as itself, and every worker that unpickles it imports transformers (2-3 s of CPU each, measured on this
project's 2-core host). `WorkerTokenizer` holds the backend under the same attribute (`_tokenizer`), pickles as
its JSON (`Tokenizer.to_str`, what transformers' own pickling keeps of it) and is rebuilt with
`Tokenizer.from_str` (well under a second). Any other tokenizer is shipped as it is.
"""

from __future__ import annotations

from typing import Any


class WorkerTokenizer:
    """A counting-only stand-in for a transformers fast tokenizer: its backend, pickled as JSON."""

    def __init__(self, backend: Any):
        self._tokenizer = backend
        """The `tokenizers.Tokenizer` (transformers' name for it, which `tokencount.counter` reads)."""

    def __getstate__(self) -> dict[str, str]:
        return {"backend": self._tokenizer.to_str()}

    def __setstate__(self, state: dict[str, str]) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_str(state["backend"])


def for_workers(tokenizer: Any) -> Any:
    """What to ship to the workers for `tokenizer`: a `WorkerTokenizer` where `tokencount.counter` counts it
    (then nothing else of it is used there), else the tokenizer itself."""
    from curate.pipeline.tokencount import counter

    if counter(tokenizer) is None:
        return tokenizer
    return WorkerTokenizer(tokenizer._tokenizer)
