"""From a measured row's setup to suanli's prediction of the same metric.

Rows that describe the same run (same hardware, model, layout, scenario, lengths, load) are predicted once and
every metric is read off that run. The scenarios are modelled analytically on the step-level cost model, in
steady state (continuous batching with chunked prefill: every step carries the running decodes plus its share of
new prompts, `b x input / output` prompt tokens per step for b running sequences):

* offline: the layout (unless given) and the largest batch that fit memory, for the most output tokens/s;
* server / interactive: the batch with the most throughput whose p99 TPOT and TTFT stay under the row's limits;
  p99 is read at the 99th percentile of the number in system (Poisson: b + 2.33 sqrt(b));
* concurrency: N closed-loop clients, spread over data-parallel replicas; throughput = N x output / end-to-end;
* rate: Poisson arrivals at the given rate; the number in system solves N = rate x end-to-end(N); above capacity
  the engine runs at its largest batch and the queue grows for the duration of the benchmark;
* batch: a static batch, prefilled together then decoded together (gptSessionBenchmark).
Disaggregated rows (`Setup.disagg`: prefill and decode pools, each with its workers' layout) are modelled as
separate pools: decode steps carry no prefill, TTFT adds the prefill pool's queue and the KV transfer, and
throughput is the smaller capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from suanli.perf.auto import max_batch
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration
from suanli.perf.predict import predict_deployed
from suanli.schema import Workload
from suanli.serve.analytic import (
    LoadSteps,
    busy_chance,
    call_rest,
    host_ttft,
    length_quantile,
    open_loop,
    p99_in_system,
    prepared_step_wait,
    prompt_room,
    spread_in_system,
)
from suanli.validate.deploy import _deployments
from suanli.validate.setup import Setup, Skip
from suanli.validate.step_times import budget_of, mixed_step, own_prefill

OFFLINE_CAP = 2048  # sequences per attention rank a tuned offline engine may run
MIN_DURATION_S = 600  # an MLPerf server run lasts at least this long (LoadGen's min_duration, mlperf.conf)
SERVING_CAP = 512


@dataclass
class Point:
    """One steady-state operating point of a deployment."""

    batch: float  # sequences in the system, whole deployment
    step: float  # seconds per engine step
    ttft: float
    tpot: float
    out_tok_s: float  # whole deployment
    ttft_p99: float | None = None
    tpot_p99: float | None = None
    layout: tuple[int, int, int, int] | None = None  # (tp, pp, ep, dp) the prediction chose
    tail: float | None = None  # the p99 number running, under arrivals

    def metric(self, s: Setup, name: str) -> float:
        out_tok_s = self.out_tok_s
        tot = out_tok_s * (s.input_len + s.output_len) / s.output_len
        e2e = self.ttft + (s.output_len - 1) * self.tpot
        table = {
            "output_tok_s": out_tok_s, "total_tok_s": tot, "output_tok_s_per_accel": out_tok_s / s.n,
            "total_tok_s_per_accel": tot / s.n, "requests_s": out_tok_s / s.output_len,
            "ttft_mean_ms": self.ttft * 1e3, "ttft_median_ms": self.ttft * 1e3, "tpot_mean_ms": self.tpot * 1e3,
            "tpot_median_ms": self.tpot * 1e3, "itl_mean_ms": self.tpot * 1e3, "e2e_mean_s": e2e,
            "prefill_tok_s": s.input_len / self.ttft, "decode_tok_s": 1.0 / self.tpot,
            "ttft_p99_ms": (self.ttft_p99 or self.ttft) * 1e3, "tpot_p99_ms": (self.tpot_p99 or self.tpot) * 1e3,
            "e2e_p99_s": (self.ttft_p99 or self.ttft) + (s.output_len - 1) * (self.tpot_p99 or self.tpot),
            # a colocated deployment's prompt and generated tokens per second per chip (a disaggregated pool's
            # rates are predicted by validate.disagg)
            "prefill_tok_s_per_accel": out_tok_s * s.input_len / s.output_len / s.n,
            "decode_tok_s_per_accel": out_tok_s / s.n,
        }
        return table[name]


def _tag(p: Point, dep: Deployed) -> Point:
    lay = dep.layout
    p.layout = (lay.tp, lay.pp, lay.ep, lay.dp)
    return p


def steady(dep: Deployed, b: float, s: Setup, arrivals: bool = False, closed: bool = False) -> Point:
    """b sequences in the system: each step decodes all of them and prefills new arrivals. Under open arrivals a
    request meets about b prompts in its life (Little's law). `closed`: b clients, each sending its next request
    when the last ends; a request then decodes alongside the prompts of the b - 1 others only (its own is in its
    TTFT), so one client alone never waits for a prompt while it decodes."""
    share = (max(0.0, b - 1.0) / b if b > 1 else 0.0) if closed else 1.0
    step = mixed_step(dep, b, s, prefill_share=share, arrivals=arrivals)
    ttft = own_prefill(dep, b, s, step) + host_ttft(dep.factors, s.input_len, front_end=s.front_end)
    busy = busy_chance(b, closed) if closed or arrivals else 0.0
    ttft += prepared_step_wait(dep, step, busy) + call_rest(dep.stack.features.scheduler_steps, step) * busy
    e2e = ttft + (s.output_len - 1) * step
    return Point(b, step, ttft, step, b / s.beams * s.output_len / e2e)


def _cap(dep: Deployed, s: Setup, per_rank: int) -> int:
    # cache held per running request: its prompt and output_len (the fixed-length convention, a reserving
    # scheduler), plus how much further in than L / 2 the length-biased running requests are when lengths vary;
    # a scheduler that adds blocks as tokens come (`reserves_output` false) holds the mean position only
    reserve = s.output_len - s.output_len / 2 if dep.stack.features.reserves_output else 0.0
    held = max(1, round(reserve + s.decode_pos))
    # beams of a request share its prompt's cache blocks (TRT-LLM KVCacheManager::addSequence, vLLM paged
    # attention): each beam holds 1/beams of the prompt and its own output
    prompt = ceil(s.input_len / s.beams)
    b = max_batch(dep, Workload(input_len=prompt, output_len=held, batch=1), per_rank)
    if s.batch_cap:
        b = min(b, s.batch_cap * (s.dp or 1))  # a benchmark's one endpoint is one engine unless dp is stated
    return b


def offline(deps: list[Deployed], s: Setup, cal: Calibration | None = None, fast: bool = False) -> Point:
    """Most throughput at the largest batch that fits; when the benchmark sent a known number of requests at
    once, the simulator replays that burst on the chosen layout (ramp-up and drain included)."""
    best, best_dep = None, None
    for dep in deps:
        b = _cap(dep, s, OFFLINE_CAP)
        if s.concurrency:  # requests submitted at once: the batch cannot exceed them
            b = min(b, s.concurrency)
        if b < 1:
            continue
        p = steady(dep, b, s)
        if s.concurrency and s.concurrency > b:  # queued requests wait for earlier waves
            waves = s.concurrency / b
            p = Point(p.batch, p.step, p.ttft + (waves - 1) / 2 * (p.ttft + (s.output_len - 1) * p.tpot), p.tpot,
                      p.out_tok_s)
        if best is None or p.out_tok_s > best.out_tok_s:
            best, best_dep = p, dep
    if best is None:
        raise Skip("does not fit in memory at any layout")
    burst = s.requests or s.concurrency
    if burst and burst <= 5000 and not fast and s.beams == 1:
        return _tag(simulated(best_dep, s, cal, burst=burst), best_dep)
    return _tag(best, best_dep)


def server(deps: list[Deployed], s: Setup) -> Point:
    """Most throughput whose p99 TPOT and TTFT meet the limits (Poisson arrivals): benchmarks such as MLPerf
    score the load, so tuned servers run at the largest batch the latency limits allow."""
    best, best_dep = None, None
    for dep in deps:
        cap = _cap(dep, s, OFFLINE_CAP)  # servers are pushed to the latency limit, not to a fixed batch
        lo, hi = 1, cap
        found = None
        while lo <= hi:  # throughput rises with the batch, latency too: bisect on the limits
            b = (lo + hi) // 2
            if _meets(dep, b, s):
                found, lo = b, b + 1
            else:
                hi = b - 1
        if found is None:
            continue
        p = under_arrivals(dep, found, s)
        if best is None or p.out_tok_s > best.out_tok_s:
            best, best_dep = _tag(p, dep), dep
    if best is None:
        raise Skip("no batch meets the latency limits at any layout")
    if s.rate and s.rate * s.output_len < best.out_tok_s:
        # the load the run was sent (its harness config): latencies are those of that load; a sent load above
        # what the limits allow is read at the limits, since only runs that met them are published
        at = _rate_analytic([best_dep], s, ceil(s.rate * MIN_DURATION_S), OFFLINE_CAP)
        return Point(at.batch, at.step, at.ttft, at.tpot, best.out_tok_s, at.ttft_p99, at.tpot_p99, best.layout)
    return best


def under_arrivals(dep: Deployed, b: float, s: Setup, tails: bool = True) -> Point:
    """The operating point with b requests running under open-loop arrivals (Poisson unless `Setup.arrival_cv`),
    with its p99 TTFT and TPOT: the shared steady state of `serve/analytic.open_loop` on this deployment's step
    times; `Point.tail` the p99 number running (`spread_in_system`). `tails` False: the means alone are read (a
    long prompt's own steps, which only the p99 TTFT needs, are not computed)."""
    step = mixed_step(dep, b, s, arrivals=True)
    spread = spread_in_system(step, mixed_step(dep, dep.layout.dp, s, prefill_share=0.0))
    tail = p99_in_system(b, spread)
    step_tail = mixed_step(dep, tail, s, arrivals=True)
    steps = LoadSteps(step, step_tail, mixed_step(dep, b, s, prefill_share=0.0),
                      mixed_step(dep, tail, s, prefill_share=0.0), own_prefill(dep, b, s, step),
                      own_prefill(dep, tail, s, step_tail),
                      *prompt_room(dep.stack.features, budget_of(dep, s), b / dep.layout.dp, s.input_len),
                      apart=not dep.stack.features.mixed_batches,
                      prefill_long=own_prefill(dep, tail, s, step_tail, length_quantile(s.input_len, s.input_cv))
                      if s.input_cv > 0 and tails else None)
    per_rank = b / dep.layout.dp / s.beams
    load = open_loop(dep, b, steps, per_rank / s.output_len, per_rank, s.input_len, s.input_cv, s.front_end,
                     spread, held_together(s, dep.layout.dp * per_rank / s.output_len / step), s.arrival_cv)
    return Point(b, step, load.parts.total, step, load.out_tok_s(b, s.output_len, s.beams), load.ttft_p99,
                 load.tpot_p99, tail=tail)


def held_together(s: Setup, rate: float) -> tuple[float, float]:
    """(window, requests sent together) of the run's dispatching harness (`Setup.dispatch`) at `rate` requests/s
    in all: it sends what it holds when its window ends or its count is reached, whichever comes first."""
    if not s.dispatch or rate <= 0:
        return 0.0, 0.0
    seconds, count = s.dispatch
    window = min(seconds, count / rate)
    return window, rate * window


def _meets(dep: Deployed, b: int, s: Setup) -> bool:
    p = under_arrivals(dep, b, s)
    busy = steady(dep, p.tail, s, arrivals=True)
    return ((s.tpot_slo is None or p.tpot_p99 <= s.tpot_slo) and (s.ttft_slo is None or p.ttft_p99 <= s.ttft_slo)
            and (s.e2e_slo is None or busy.ttft + (s.output_len - 1) * busy.tpot <= s.e2e_slo))


def simulated(dep: Deployed, s: Setup, cal: Calibration | None, *, clients: int | None = None,
              rate: float | None = None, burst: int | None = None, requests: int = 500) -> Point:
    """Run the serving simulator on fixed-length requests: closed loop, Poisson arrivals, or a burst at t=0."""
    from suanli.serve.metrics import summarize
    from suanli.serve.sim import SimConfig, run
    from suanli.serve.workload import Arrivals, LengthDist, Trace, arrivals

    cap = s.batch_cap or dep.stack.features.max_num_seqs
    coupled = dep.layout.moe_ranks > 1
    lockstep = dep.static.ranks if dep.static else 1
    if lockstep > 1:  # one engine whose rows are spread over the ranks: a rank's deployment times its steps
        cap *= lockstep
    budget = budget_of(dep, s)
    cfg = SimConfig(requests=requests, seed=0, max_seqs=cap, front_end=s.front_end, stagger=not s.together,
                    token_budget=budget,
                    input_dist=LengthDist("fixed", {"value": s.input_len}),
                    output_dist=LengthDist("fixed", {"value": s.output_len}))
    if s.spread:
        cfg.input_dist = LengthDist("uniform", {"low": s.spread[0], "high": s.spread[1]})
        cfg.output_dist = LengthDist("uniform", {"low": s.spread[2], "high": s.spread[3]})
    if burst:
        cfg.trace = Trace(np.zeros(burst), np.full(burst, s.input_len), np.full(burst, s.output_len))
    elif clients:
        cfg.arrivals = Arrivals("concurrency", clients=clients)
    else:
        cfg.arrivals = arrivals("constant" if s.arrival_cv == 0.0 else "poisson", rate, None, None)
    spec = dep.dep.model_copy(update={"dp": 1}) if not coupled else dep.dep
    def make() -> Deployed:
        d = Deployed(dep.arch, dep.chip, dep.system, spec, dep.model_id, cal, dep.stack)
        d.static = dep.static
        return d
    sim = run(make() if lockstep > 1 else dep, make, cfg)
    # a benchmark that states its prompts (or starts its clients together) averages over every request it sent,
    # the first wave's queue included; otherwise a steady-state window stands for a run of unknown length
    whole = s.requests is not None or s.together
    res = summarize(sim, {}, dep.layout.chips, window=(0.0, 1.0) if whole else (0.1, 0.9))
    out_tok_s = res["throughput"]["output_tok_s"]
    if rate or (clients and s.together):  # a finite run is scored as its benchmark scores it, over its makespan;
        out_tok_s = _over_makespan(sim)  # a steady-state window would count the waves of completions it releases
    return Point(res["batch_size"].get("mean", 1.0), res["tpot_ms"]["mean"] / 1e3, res["ttft_ms"]["mean"] / 1e3,
                 res["tpot_ms"]["mean"] / 1e3, out_tok_s, res["ttft_ms"]["p99"] / 1e3,
                 res["tpot_ms"]["p99"] / 1e3)


def _over_makespan(sim) -> float:
    """Output tokens per second over the whole benchmark, first arrival to last completion: what serving
    benchmarks (vLLM's benchmark_serving, TensorRT-LLM's) report for a finite set of requests."""
    done = [r for r in sim.requests if r.finish < float("inf")]
    if not done:
        return 0.0
    span = max(r.finish for r in done) - min(r.arrival for r in sim.requests)
    return sum(r.output for r in done) / span if span > 0 else 0.0


def closed_requests(clients: int) -> int:
    """Requests to simulate for a closed loop whose benchmark does not say: enough for a window of several request
    lifetimes (each client sends about 12), bounded for speed."""
    return min(6000, max(12 * clients, 400))


def concurrency(deps: list[Deployed], s: Setup, cal: Calibration | None = None, fast: bool = False) -> Point:
    """Closed loop: the analytic steady state picks the layout, the simulator runs it (waves of fixed-length
    requests that start together stay together, which sets TTFT)."""
    n = s.concurrency or 1
    best, best_dep = None, None
    for dep in deps:
        cap = _cap(dep, s, 4096)
        if cap < 1:
            continue
        b = min(n, cap)
        p = steady(dep, b, s, closed=True)
        if n > b:  # clients beyond the engine's room wait in its queue
            p = Point(b, p.step, p.ttft + (n - b) / b * (p.ttft + (s.output_len - 1) * p.tpot), p.tpot, p.out_tok_s)
        if best is None or p.out_tok_s > best.out_tok_s:
            best, best_dep = p, dep
    if best is None:
        raise Skip("does not fit in memory at any layout")
    if fast:
        return _tag(best, best_dep)
    return _tag(simulated(best_dep, s, cal, clients=n, requests=s.requests or closed_requests(n)), best_dep)


def rate(deps: list[Deployed], s: Setup, cal: Calibration | None = None, fast: bool = False) -> Point:
    """Arrivals at the row's rate (Poisson, or the harness's fixed schedule: `Setup.arrival_cv`) for the benchmark's
    number of requests (500 unless the notes say)."""
    best_dep = min(deps, key=lambda d: steady(d, 1, s).tpot)  # the lowest-latency layout
    if fast:
        return _tag(_rate_analytic([best_dep], s, s.requests or 500), best_dep)
    return _tag(simulated(best_dep, s, cal, rate=s.rate, requests=s.requests or 500), best_dep)


def _rate_analytic(deps: list[Deployed], s: Setup, requests: int = 500, per_rank: int = SERVING_CAP) -> Point:
    lam = s.rate or 0.0
    best = None
    for dep in deps:
        cap = _cap(dep, s, per_rank)
        if cap < 1:
            continue
        b = _in_system(dep, s, lam, cap)
        if b is None:  # overloaded: the queue grows over the run of `requests`
            full = steady(dep, cap, s)
            span = requests / lam
            backlog_wait = (requests / (full.out_tok_s / s.output_len) - span) / 2
            p = Point(cap, full.step, full.ttft + max(0.0, backlog_wait), full.tpot, full.out_tok_s)
        else:
            q = under_arrivals(dep, b, s)
            p = Point(b, q.step, q.ttft, q.tpot, lam * s.output_len, q.ttft_p99, q.tpot_p99)
        if best is None or p.ttft + p.tpot < best.ttft + best.tpot:
            best = p
    if best is None:
        raise Skip("does not fit in memory at any layout")
    return best


def _in_system(dep: Deployed, s: Setup, lam: float, cap: int) -> float | None:
    """Sequences in the system at `lam` requests/s: the fixed point of N = rate x end-to-end(N), reached from below
    (end-to-end time grows with N); None when it passes the engine's room (the load is more than it serves)."""
    b = 1.0
    for _ in range(80):
        q = under_arrivals(dep, b, s, tails=False)
        nxt = max(1.0, lam * s.beams * (q.ttft + (s.output_len - 1) * q.tpot))  # sequences
        if nxt > cap:
            return None
        if abs(nxt - b) <= 1e-3 * b:
            return nxt
        b = nxt
    return b


def static_batch(deps: list[Deployed], s: Setup) -> Point:
    b = s.concurrency or 1
    best = None
    for dep in deps:
        wl = Workload(input_len=s.input_len, output_len=s.output_len, batch=b - b % dep.layout.dp or dep.layout.dp)
        p = predict_deployed(dep, wl, with_fit_search=False)
        # the run's own first-token path: an in-process harness has the engine's share, no front end
        ttft = p.ttft_s - p.ttft_parts.host + host_ttft(dep.factors, s.input_len, front_end=s.front_end)
        pt = Point(b, p.tpot_s, ttft, p.tpot_s, p.output_tok_s)
        if best is None or pt.out_tok_s > best.out_tok_s:
            best = _tag(pt, dep)
    return best


SCENARIO = {"offline": offline, "server": server, "interactive": server, "batch": static_batch}


def predict_setup(s: Setup, cal: Calibration | None, fast: bool = False,
                  layout: tuple[int, int, int, int] | None = None) -> Point:
    """Predict a run. `fast`: analytic steady states only (no simulator), as calibration fits use; `layout`:
    evaluate only this (tp, pp, ep, dp) instead of searching."""
    if s.disagg:
        from suanli.validate.disagg import disaggregated  # the pool models build on this module's

        return disaggregated(s, cal, fast)
    if s.beams > 1 and s.scenario not in ("offline", "server", "interactive"):
        raise Skip(f"beam search ({s.beams} beams) is modelled for offline and server runs only")
    deps = _deployments(s, cal, layout=layout)
    if s.scenario == "concurrency":
        return concurrency(deps, s, cal, fast)
    if s.scenario == "rate":
        return rate(deps, s, cal, fast)
    if s.scenario == "offline":
        return offline(deps, s, cal, fast)
    return SCENARIO[s.scenario](deps, s)
