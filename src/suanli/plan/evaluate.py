"""Analytic steady state of one candidate: latency percentiles and throughput at its batch cap, from a few step times.

Colocated (continuous batching with chunked prefill): the one open-loop steady state of `serve/analytic.open_loop`
that validation scores against measurements, read on this unit's step times. With m sequences running per rank,
every step decodes all of them and carries their share of new prompts, m x input / output tokens, in chunks of
min(input, budget - m); prompts arrive at random, so a step carries a Poisson number of chunks. The number running
spreads wider than Poisson as fuller batches step slower (`spread_in_system`), and the cap B is its 99th
percentile, m + 2.33 sqrt(spread x m) = B, and
    TTFT  = front end + admission (the queue behind earlier prompts, M/G/1; the running step's rest; the step an
            overlapped engine already prepared) + the prompt's own chunks       (mean at m, p99 at B)
    TPOT  = the mean step at m; p99 = the decode step at B + the prompts that arrive during a request's life
    output tok/s = m x output / (the time the engine holds a request)          (Little's law)
An engine whose steps either prefill or decode (`Features.mixed_batches` false) is read as cycles of its
scheduler call's decode steps and one prefill step (`Unit._apart`, `serve/analytic.running_rest`).
Disaggregated (P prefill + D decode instances of one layout, KV sent between them, as `suanli.serve.sim`):
decode steps carry no prompt tokens; a prefill instance serves prompts at mu = prompts per full step / step time,
and its queue is M/G/1 (serve/analytic.pool_wait: M/D/1 for prompts of one length), TTFT p99 = service + the
queue's p99 + KV transfer + the engine's front end; the
prefill load rho is the largest (up to 0.95) whose TTFT p99 meets the SLO; the unit carries the smaller of the
two pools' rates. Pipeline stages multiply step times by pp (a micro-batch of 1/pp of the sequences per stage).
"""

from __future__ import annotations

from math import ceil, inf, sqrt

import numpy as np

from suanli.model.shape import Part
from suanli.perf.deployed import Deployed
from suanli.perf.memory import kv_bytes_per_seq
from suanli.plan.space import Eval
from suanli.schema import SuanliError
from suanli.serve.analytic import (
    Z99,
    LoadSteps,
    apart_per_call,
    host_ttft,
    kv_transfer_s,
    mean_in_system,
    open_loop,
    poisson_mix,
    pool_wait,
    prepared_step_wait,
    prompt_room,
    spread_in_system,
)

RHO_CAP = 0.95  # highest prefill-pool load planned
W_MEM = 0.5  # suanli.econ default `memory_activity_weight` (busy share of a purely memory-bound op)


class Unit:
    """A deployed instance with the request shape: step times, activity, memory room, KV transfer time."""

    def __init__(self, dep: Deployed, input_len: int, output_len: int, w_mem: float = W_MEM, cv: float = 0.0):
        self.dep, self.inp, self.out, self.cv = dep, input_len, output_len, cv  # cv: prompt lengths' spread
        self.ctx = input_len + output_len / 2.0
        lay = dep.layout
        self.kv_seq = kv_bytes_per_seq(dep.arch, lay, dep.numerics, input_len + output_len)
        self.w_mem = w_mem
        self._counts = np.array([op.count for op in dep.ops], dtype=float)
        self._comm = np.array([op.op_class == "comm" for op in dep.ops])
        self.windows = tuple(sorted(set(dep.windows) | {inf}))
        self.steps = 0  # step-time evaluations made (for the benchmark)
        self._prefill: dict[tuple, object] = {}  # figures that do not depend on the batch cap, computed once
        self._xfer: float | None = None
        self._steps: dict[tuple, tuple[float, float]] = {}  # the same step recurs across budgets and caps

    def step(self, dec: float, chunks: float = 0.0, chunk: float = 0.0, cached: float = 0.0,
             activity: bool = False) -> tuple[float, float]:
        """(seconds of one pipeline stage, busy fraction) for `dec` decodes and `chunks` prompt chunks."""
        key = (dec, chunks, chunk, cached, activity)
        if key not in self._steps:
            self._steps[key] = self._step(dec, chunks, chunk, cached, activity)
        return self._steps[key]

    def _step(self, dec: float, chunks: float, chunk: float, cached: float, activity: bool) -> tuple[float, float]:
        """Features go straight into a vector (`FeatureWriter`, the simulator's fast path; the same values as
        `Deployed.features` of the `StepShape`)."""
        dep = self.dep
        if chunks > 0:
            part = Part.of([(chunks, chunk, cached)], self.windows)
            tokens, pairs, read = part.tokens, part.pairs, part.kv_read
        else:
            tokens, pairs, read = 0.0, {}, {}
        x = dep.write(tokens, pairs, read, dec, {w: dec * min(self.ctx + 1.0, w) for w in self.windows},
                             dec + chunks, dec + chunks)
        t = dep.time_of(x)
        self.steps += 1
        if not activity:
            return t, 0.0
        _, tc, tm = dep.op_seconds(x)
        busy = np.where(self._comm, self.w_mem * tc, np.minimum(np.maximum(tc, tm), tc + self.w_mem * tm))
        return t, float(min(1.0, (busy * self._counts).sum() / t))

    def seqs_fit(self, budget: int, cap: int) -> int:
        """Sequences per rank whose whole context fits in the KV cache beside a step of `budget` tokens."""
        dep, full = self.dep, self.inp + self.out
        room = dep.memory(0, full, budget).free
        if room <= 0:
            return 0
        b = min(cap, int(room // self.kv_seq)) if self.kv_seq > 0 else cap
        while b > 0 and not dep.memory(b, full, budget).fits:
            b -= max(1, b // 16)
        return max(0, b)

    def transfer_s(self) -> float:
        """KV transfer of one prompt from a prefill to a decode instance (as suanli.serve.sim models it)."""
        if self._xfer is None:
            self._xfer = kv_transfer_s(self.dep, self.inp)
        return self._xfer

    def host(self, quantile: float = 0.5) -> float:
        """The engine's front end on the first-token path (serve/analytic.host_ttft)."""
        return host_ttft(self.dep.factors, self.inp, quantile)

    # --- colocated -------------------------------------------------------------------------------------------
    def mixed(self, dec: float, budget: int, activity: bool = False,
              own: bool = True) -> tuple[float, float, float] | None:
        """(mean stage step, the new prompt's own stage steps, activity) with `dec` running sequences per rank and
        micro-batch; None when the budget cannot carry the prompts that keep them running. Prompts arrive at
        random, so a step carries a Poisson number of chunks (serve/analytic.poisson_mix), not the mean's
        fraction; a new prompt takes its full chunks and the rest, each beside the running decodes, and at least
        as many mean steps."""
        f = self.dep.stack.features
        if not f.mixed_batches:
            return self._apart(dec, budget, activity, own)
        room = budget - dec
        x = dec * self.inp / self.out
        # without chunked prefill a prompt goes in whole (validate.step_times.prompt_chunks): it needs the room
        c = min(float(self.inp), room) if f.chunked_prefill else float(self.inp)
        if room < 1 or x > room or c > room:
            return None
        cached = 0.0 if c >= self.inp else (self.inp - c) / 2.0

        def step_with(k: float) -> np.ndarray:
            t, a = self.step(dec, k, c, cached, activity)
            return np.array([t, a * t])

        mean, busy = poisson_mix(step_with, x / c)
        if not own:  # the mean step only
            return mean, 0.0, 0.0
        full, rest = divmod(float(self.inp), c)
        alone = full * self.step(dec, 1.0, c, (full - 1.0) * c / 2.0)[0]
        alone += self.step(dec, 1.0, rest, full * c)[0] if rest else 0.0
        return mean, max(alone, ceil(self.inp / c) * mean), busy / mean if activity else 0.0

    def _apart(self, dec: float, budget: int, activity: bool, own: bool) -> tuple[float, float, float] | None:
        """`mixed` for an engine whose steps either prefill or decode (`Features.mixed_batches` false; as
        validate.step_times.apart_step): the decode step plus its share of the prefill steps, one per scheduler
        call of `scheduler_steps` decode steps, each of the Poisson number of prompts that arrived meanwhile; a
        new prompt's own step is a prefill step. None when a whole prompt does not fit the budget."""
        if self.inp > budget:
            return None
        calls = self.dep.stack.features.scheduler_steps
        d, d_busy = self.step(dec, activity=activity)

        def prefill(k: float) -> np.ndarray:
            if not k:
                return np.zeros(2)
            t, a = self.step(0.0, k, float(self.inp), 0.0, activity)
            return np.array([t, a * t])

        per_call = apart_per_call(prefill, dec / self.out, calls)
        mean = d + per_call[0] / calls
        if not own:
            return mean, 0.0, 0.0
        alone = self.step(0.0, 1.0, float(self.inp))[0]
        return mean, alone, (d * d_busy + per_call[1] / calls) / mean if activity else 0.0

    def colocated(self, rec: Eval, activity: bool = False) -> Eval:
        """The shared open-loop steady state (serve/analytic.open_loop) at the mean number running whose p99 is
        the batch cap, on this unit's step times."""
        lay = self.dep.layout
        pp, ranks = lay.pp, lay.dp
        cap = rec.max_batch
        hi = self.mixed(cap / ranks / pp, rec.token_budget)
        lo = None
        if hi:  # the mean whose p99 is the cap, with the spread that the Poisson mean's step gives
            m = mean_in_system(cap)
            mean = self.mixed(m / ranks / pp, rec.token_budget, own=False)[0]
            spread = spread_in_system(mean, self.step(1.0 / pp)[0])
            m = mean_in_system(cap, spread)
            lo = self.mixed(m / ranks / pp, rec.token_budget, activity)
        if hi is None or lo is None:
            rec.status = "budget"
            rec.note = f"a {rec.token_budget}-token step cannot carry {cap} running sequences and their prompts"
            return rec
        f = self.dep.stack.features
        steps = LoadSteps(lo[0] * pp, hi[0] * pp, self.step(m / ranks / pp)[0] * pp,
                          self.step(cap / ranks / pp)[0] * pp, lo[1] * pp, hi[1] * pp,
                          *prompt_room(f, rec.token_budget, m / ranks / pp, self.inp),  # as `mixed`
                          apart=not f.mixed_batches)
        load = open_loop(self.dep, m, steps, m / ranks / self.out, m / ranks, self.inp, self.cv, spread=spread)
        rec.ttft_mean, rec.ttft_p99 = load.parts.total, load.ttft_p99
        rec.tpot_mean, rec.tpot_p99 = load.tpot, load.tpot_p99
        rec.out_tok_s, rec.running = load.out_tok_s(m, self.out), m
        rec.activity = lo[2]
        return rec

    # --- disaggregated ---------------------------------------------------------------------------------------
    def _small(self, b: float, pp: int) -> float:
        key = (-1, b)
        if key not in self._prefill:
            self._prefill[key] = self.step(b / pp)[0]
        return self._prefill[key]

    def prefill_pool(self, budget: int, activity: bool = False) -> tuple:
        """(prompts per full step, prompts/s, one prompt's time, a prompt's time in a full step, activity, fits) of
        a prefill instance with this token budget (the same for every batch cap and ratio: computed once)."""
        key = (budget, activity)
        if key not in self._prefill:
            inp, pp = self.inp, self.dep.layout.pp
            if inp <= budget:
                j = budget // inp
                t_full, a_pre = self.step(0.0, j, inp, 0.0, activity)
                t_one, _ = self.step(0.0, 1.0, inp, 0.0)
                mu, alone, busy = j / t_full, t_one * pp, t_full * pp
            else:
                chunks = ceil(inp / budget)
                t_c, a_pre = self.step(0.0, 1.0, budget, (inp - budget) / 2.0, activity)
                j, mu, alone = 1, 1.0 / (chunks * t_c), chunks * t_c * pp
                busy = alone
            self._prefill[key] = (j, mu, alone, busy, a_pre, self.dep.memory(j, inp, budget).fits)
        return self._prefill[key]

    def disaggregated(self, base: Eval, ratios: tuple[tuple[int, int], ...], ttft_limit: float | None,
                      activity: bool = False) -> list[Eval]:
        """One record per P:D ratio (or one failing record). Without a scale-out network the P + D instances must
        fit in one unit of the system."""
        dep = self.dep
        pp, n = dep.layout.pp, dep.layout.chips
        if dep.hw.scale_out is None:
            ratios = tuple((p, d) for p, d in ratios if (p + d) * n <= dep.system.chips)
        try:
            xfer = self.transfer_s()
        except SuanliError as e:
            ratios, base.note = (), str(e)
        if not ratios:
            base.status = "error"
            base.note = base.note or f"{dep.system.id} has no room for two instances of {n} chips (no scale-out)"
            return [base]
        cap, budget, out = base.max_batch, base.token_budget, self.out
        m = mean_in_system(cap)
        small = min(1.0, m)
        t_b, _ = self.step(cap / pp)
        t_m, a_dec = self.step(m / pp, activity=activity)
        t_s = self._small(small, pp)
        dec_req_s = m / ((out - 1) * t_m * pp) if out > 1 else inf
        j, mu, alone, busy, a_pre, fits = self.prefill_pool(budget, activity)
        if not fits:
            base.status, base.note = "memory", f"a prefill step of {j} prompt(s) does not fit beside the weights"
            return [base]

        def ttft99(rho: float) -> float:
            step = alone + rho * (busy - alone)  # the prefill step a prompt meets (and, overlapped, the prepared one)
            wait = prepared_step_wait(dep, step, 1.0, prefill_worker=True) + pool_wait(rho, 1.0 / mu, self.cv)[1]
            return step + wait + xfer + self.host(0.99)

        rho_max = 0.9 if ttft_limit is None else RHO_CAP
        if ttft_limit is not None and ttft99(RHO_CAP) > ttft_limit:
            lo, hi = 0.0, RHO_CAP
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if ttft99(mid) <= ttft_limit else (lo, mid)
            rho_max = lo
        if rho_max <= 0.0:
            rho_max = 1e-3  # a TTFT limit below one prompt's own time: report that time, the SLO check rejects it
        pts = ((small, t_s), (m, t_m), (float(cap), t_b))
        out_recs = []
        for p, d in ratios:
            lam = min(p * rho_max * mu, d * dec_req_s)
            rho, util = lam / (p * mu), (lam / (d * dec_req_s) if dec_req_s < inf else 0.0)
            b = m * util
            rec = Eval(**{k: getattr(base, k) for k in ("system", "mode", "tp", "pp", "ep", "dp", "precision",
                                                        "kv_precision", "token_budget", "max_batch", "seqs_fit")})
            rec.prefill, rec.decode, rec.chips = p, d, (p + d) * n
            rec.tpot_mean = _interp(pts, b) * pp
            rec.tpot_p99 = _interp(pts, min(float(cap), b + Z99 * sqrt(b))) * pp
            rec.ttft_p99 = ttft99(rho)
            rec.ttft_mean = (alone + rho * (busy - alone) + prepared_step_wait(dep, alone, rho, prefill_worker=True)
                             + pool_wait(rho, 1.0 / mu, self.cv)[0] + xfer + self.host())
            rec.out_tok_s, rec.running = lam * out, b
            rec.activity = (p * a_pre * rho + d * a_dec * util) / (p + d)
            out_recs.append(rec)
        return out_recs


def _interp(pts: tuple[tuple[float, float], ...], b: float) -> float:
    """Decode step time at b sequences, piecewise linear through (b, t) points (a decode step is close to linear in
    the batch: weights read once, KV read per sequence)."""
    (b0, t0), (b1, t1), (b2, t2) = pts
    b = max(b, b0)
    if b <= b1:
        return t0 + (t1 - t0) * (b - b0) / (b1 - b0) if b1 > b0 else t1
    return t1 + (t2 - t1) * (b - b1) / (b2 - b1) if b2 > b1 else t2
