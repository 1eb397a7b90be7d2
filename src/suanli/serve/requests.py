"""What the serving engine schedules and what it runs: a request with its progress, the KV cache's bytes per
sequence, and one iteration (a step, or a block of decode-only steps) of an engine (`serve/engine.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from math import inf

import numpy as np

from suanli.perf.deployed import Deployed
from suanli.perf.memory import kv_bytes_of_group


@dataclass
class Request:
    rid: int
    arrival: float
    prompt: int
    output: int
    cached: int = 0  # prompt tokens found in the prefix cache
    todo: int = 0  # tokens still to prefill (prompt, or prompt + generated after a preemption)
    done: int = 0  # tokens of the current prefill already in the cache
    generated: int = 0
    first_token: float = inf
    finish: float = inf
    preemptions: int = 0
    replica: int = 0
    ready: float = 0.0  # when it may start (after a KV transfer; after the prepared step with overlap scheduling)
    seen: float = inf  # when the scheduler got it (after the engine's front end)
    started: float = inf  # when its first prompt chunk was scheduled
    prefilled: float = inf  # when its prefill ended


@dataclass
class KvModel:
    """Cache bytes per sequence per chip: a*ctx + sum_w b_w*min(ctx, w) + state."""

    per_token: float
    windowed: dict[float, float]
    state: float

    @staticmethod
    def of(dep: Deployed) -> KvModel:
        lay, num = dep.layout, dep.numerics
        full, windowed, state = 0.0, {}, 0.0
        for g in dep.arch.groups:
            one = kv_bytes_of_group(g, lay, num, 1.0)
            if g.attn.kind == "linear":
                state += one
            elif g.attn.window:
                windowed[float(g.attn.window)] = windowed.get(float(g.attn.window), 0.0) + one
            else:
                full += one
        return KvModel(full, windowed, state)

    def bytes(self, ctx: np.ndarray | float) -> np.ndarray | float:
        out = self.per_token * ctx + self.state
        for w, b in self.windowed.items():
            out = out + b * np.minimum(ctx, w)
        return out


@dataclass
class Iteration:
    duration: float
    decode_slots: np.ndarray
    prefills: list[tuple[Request, int]]
    batch: int
    steps: int = 1  # decode-only iterations run as one block (nothing can join or leave inside it)
    start: float = 0.0
    growth: float = 0.0  # KV bytes one step of the block adds
    kv_from: float = 0.0  # share of the cache in use when the iteration started
    kv_area: float = 0.0  # cache share x seconds counted for it in the run's time average
