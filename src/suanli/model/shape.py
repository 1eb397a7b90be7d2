"""What one engine step works on: new tokens, the sequences they belong to, and how much context they attend to.

A step batch is a list of (sequences, new tokens each, cached tokens each) triples: a decode sequence is
(1, 1, context), a prefill chunk is (1, chunk, tokens already cached). From them `StepShape` keeps the few sums
that op costs depend on, separately for prefill and decode (different kernels, different bounds) and for each
attention window the model uses (a sliding window of w tokens caps what a query attends to and what is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import inf

Triple = tuple[float, float, float]  # (sequences, new tokens per sequence, cached tokens per sequence)


def _attended(past: float, new: float, window: float) -> float:
    """Sum over the `new` query tokens of the keys each attends to (causal, itself included, capped at window)."""
    a, b = past + 1.0, past + new  # query i attends to min(past + i + 1, window) keys, i = 0..new-1
    if b <= window:
        return (a + b) * new / 2.0
    if a >= window:
        return new * window
    return (a + window) * (window - a + 1.0) / 2.0 + (b - window) * window


@dataclass(frozen=True, slots=True)
class Part:
    """Sums over one kind of work (prefill chunks or decode sequences) for one attention window."""

    seqs: float
    tokens: float
    pairs: dict[float, float]  # window -> sum of attended (query, key) pairs
    kv_read: dict[float, float]  # window -> sum of cached tokens read

    @staticmethod
    def of(triples: list[Triple], windows: tuple[float, ...]) -> Part:
        seqs = sum(n for n, _, _ in triples)
        tokens = sum(n * c for n, c, _ in triples)
        pairs = {w: sum(n * _attended(p, c, w) for n, c, p in triples) for w in windows}
        kv = {w: sum(n * min(p + c, w) for n, c, p in triples) for w in windows}
        return Part(seqs, tokens, pairs, kv)


@dataclass(frozen=True, slots=True)
class StepShape:
    prefill: Part
    decode: Part
    logits: float  # sequences that emit a token this step (decodes, and prefills that finish their prompt)

    @property
    def tokens(self) -> float:
        return self.prefill.tokens + self.decode.tokens

    @property
    def seqs(self) -> float:
        return self.prefill.seqs + self.decode.seqs

    @staticmethod
    def build(prefill: list[Triple], decode: list[Triple], windows: tuple[float, ...], logits: float | None = None
              ) -> StepShape:
        windows = tuple(sorted(set(windows) | {inf}))
        p, d = Part.of(prefill, windows), Part.of(decode, windows)
        return StepShape(p, d, d.seqs + p.seqs if logits is None else logits)

    @staticmethod
    def prefill_of(batch: float, prompt: float, windows: tuple[float, ...], cached: float = 0.0) -> StepShape:
        """`batch` prompts of `prompt` new tokens each, `cached` tokens of each already in the cache."""
        return StepShape.build([(batch, prompt, cached)], [], windows)

    @staticmethod
    def decode_of(batch: float, context: float, windows: tuple[float, ...]) -> StepShape:
        """`batch` sequences each generating one token after `context` cached tokens."""
        return StepShape.build([], [(batch, 1.0, context)], windows)
