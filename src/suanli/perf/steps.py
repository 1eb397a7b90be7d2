"""The steps one prediction evaluates, and how their times make TTFT, TPOT and the cycle (`perf.predict`).

A prediction is a handful of step times combined by fixed arithmetic: the prefill of the rank's prompts, the
decode step at the start, middle and end of the generation (Simpson's rule), and the chunks of one prompt joining
the running batch (loaded TTFT). `StepPlan` lists those steps once for a deployment and workload, and `combine`
turns their times into the figures. The times may be one vector (a prediction) or an array with one row per
design point (`suanli.explore`, where the chip's figures vary): the same arithmetic serves both, so the
vectorised search and a single `predict` cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from suanli.model.shape import StepShape
from suanli.serve.analytic import overlapped

TOKEN_BUDGET = 8192  # tokens per step an engine's chunked prefill takes (vLLM / TRT-LLM default order)


@dataclass(frozen=True)
class StepPlan:
    shapes: tuple[StepShape, ...]  # 0: prefill, 1-3: decode at the first, last and middle context, 4..: chunks
    chunk_weights: tuple[float, ...]  # loaded TTFT = sum of weight x chunk step time, times pp
    chunks: int  # steps the prefill of the rank's prompts takes (each pays the host overhead)
    pp: int
    n_out: int
    host: float  # the engine's front end on the first-token path (s)
    ranked: float  # sequences per dp rank
    prepared: float = 0.0  # steps an arrival waits for the step already prepared (1: overlap scheduling)

    def combine(self, t: np.ndarray, overhead: float) -> dict:
        """Figures from step times `t` (last axis: one per shape, host overhead included, as `Deployed.time_of`):
        floats for one vector of times, arrays for one row per design point."""
        if t.ndim == 1:  # one prediction: plain floats are several times faster than numpy scalars
            v = t.tolist()
            return self._figures(v[0], v[1], v[2], v[3], sum(w * x for w, x in zip(self.chunk_weights, v[4:],
                                                                                    strict=True)), overhead)
        return self._figures(t[..., 0], t[..., 1], t[..., 2], t[..., 3], t[..., 4:] @ np.asarray(self.chunk_weights),
                             overhead)

    def _figures(self, prefill, first, last, mid, chunks, overhead: float) -> dict:
        prefill_stage = prefill - overhead + self.chunks * overhead
        tpot = (first + 4 * mid + last) / 6 * self.pp
        return {"prefill_stage": prefill_stage, "ttft": prefill_stage * self.pp + self.host, "tpot": tpot,
                "cycle": prefill_stage + (self.n_out - 1) * tpot,
                "admission": tpot * (0.5 + self.prepared) if self.ranked > 1 else tpot * 0.0,
                "loaded_prefill": chunks * self.pp}


def step_plan(dep, b: float, n_in: int, n_out: int, host: float) -> StepPlan:
    """The steps of a prediction of `b` sequences per dp rank, prompts of `n_in`, `n_out` tokens generated."""
    pp = dep.layout.pp
    mb = b / pp if b >= pp else b  # decode micro-batch per stage; fewer sequences than stages cannot fill
    # the pipeline, so each stage works on all of them in turn (llama.cpp's layer split across GPUs at batch 1)
    ctx0, ctx1 = n_in, n_in + max(n_out - 1, 0)
    shapes = [dep.prefill_shape(b, n_in), dep.decode_shape(mb, ctx0), dep.decode_shape(mb, ctx1),
              dep.decode_shape(mb, (ctx0 + ctx1) / 2)]
    chunk_shapes, weights = loaded_chunks(dep, b, n_in, (ctx0 + ctx1) / 2)
    return StepPlan(tuple(shapes + chunk_shapes), tuple(weights), max(1, ceil(b * n_in / TOKEN_BUDGET)), pp, n_out,
                    host, b, 1.0 if overlapped(dep.stack.features) else 0.0)


def loaded_chunks(dep, b: float, prompt: int, context: float) -> tuple[list[StepShape], list[float]]:
    """One request joining a running batch of b-1 decodes: its prompt goes in token-budget chunks, each step also
    carrying the running decodes (chunked prefill); the steps and the weight of each in its TTFT."""
    running = max(b - 1.0, 0.0) / dep.layout.pp

    def chunk(done: float, size: float) -> StepShape:
        return StepShape.build([(1.0, size, done)], [(running, 1.0, context)] if running else [], dep.windows,
                               logits=running + (1.0 if done + size >= prompt else 0.0))

    full, rest = divmod(prompt, TOKEN_BUDGET)
    if full > 16:  # a full chunk's time is linear in the prefix it attends to: the trapezoid is exact, and cheap
        shapes = [chunk(0, TOKEN_BUDGET), chunk((full - 1) * TOKEN_BUDGET, TOKEN_BUDGET)]
        weights = [full / 2, full / 2]
    else:
        shapes = [chunk(i * TOKEN_BUDGET, TOKEN_BUDGET) for i in range(full)]
        weights = [1.0] * full
    if rest:
        shapes.append(chunk(full * TOKEN_BUDGET, rest))
        weights.append(1.0)
    return shapes, weights
