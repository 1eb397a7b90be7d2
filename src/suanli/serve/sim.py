"""The event loop: requests arrive, a router picks an engine, engines iterate, requests finish.

Events are kept in time order with a heap: arrivals (open loop, pre-drawn; closed loop, one per finished
request), the end of each engine's current iteration, and KV transfers between prefill and decode engines in
disaggregated serving. An engine starts its next iteration as soon as the previous one ends and it has work.

Data-parallel replicas are independent engines behind a router (round-robin or least-loaded), except MoE
deployments with attention data parallelism and expert parallelism: their dp ranks step together (every layer's
all-to-all couples them), so they are one engine carrying dp times the sequences, each rank costed at 1/dp of
the load. Pipeline stages are one engine whose iteration takes pp stage-times of a 1/pp micro-batch.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from math import inf

import numpy as np

from suanli.perf.deployed import Deployed
from suanli.perf.predict import TOKEN_BUDGET
from suanli.serve.engine import Engine, Iteration, Request
from suanli.serve.workload import Arrivals, LengthDist, Trace
from suanli.spec import SuanliError


@dataclass
class SimConfig:
    requests: int = 1000
    arrivals: Arrivals | None = None
    trace: Trace | None = None
    input_dist: LengthDist | None = None
    output_dist: LengthDist | None = None
    seed: int = 0
    router: str = "least-loaded"
    disaggregate: tuple[int, int] | None = None  # prefill instances : decode instances
    prefix_hit: float = 0.0  # share of each prompt found in the prefix cache
    max_seqs: int = 256  # per instance (per attention rank for coupled dp)
    token_budget: int = TOKEN_BUDGET


@dataclass
class SimRun:
    requests: list[Request]
    duration_s: float
    wall_s: float
    preemptions: int
    kv_util: float  # time-averaged share of the cache in use
    batch_hist: dict[int, float]  # decode batch size -> share of iteration time
    in_system_area: list[tuple[float, int]] = field(default_factory=list)  # (time, requests in system after it)
    engines: int = 1
    transfer_s: float = 0.0  # KV transfer time of a mean prompt (disaggregated)


def _engines(dep: Deployed, make_replica, cfg: SimConfig) -> tuple[list[Engine], list[Engine], float]:
    """(prefill-or-colocated engines, decode engines, KV transfer seconds per prompt token)."""
    lay = dep.layout
    coupled = lay.dp > 1 and lay.ep > 1
    rep = dep if coupled or lay.dp == 1 else make_replica()
    mem = rep.memory(0, 1, cfg.token_budget)
    kv_cap = mem.free
    if kv_cap <= 0:
        raise SuanliError(f"{dep.model_id} does not fit on {dep.system.id} with this layout: weights "
                          f"{mem.weights / 1e9:.1f} GB leave no room for a KV cache (free {kv_cap / 1e9:.1f} GB)")
    scale = 1.0 / lay.pp / (lay.dp if coupled else 1)
    seqs = cfg.max_seqs * (lay.dp if coupled else 1)
    if cfg.disaggregate:
        p, d = cfg.disaggregate
        pre = [Engine(rep, kv_cap, seqs, cfg.token_budget, scale, True, i) for i in range(p)]
        dec = [Engine(rep, kv_cap, seqs, cfg.token_budget, scale, False, p + i) for i in range(d)]
        chips = rep.layout.chips
        link = rep.hw.link_for(2 * chips, 2 * chips)
        per_token = pre[0].kv.per_token + sum(pre[0].kv.windowed.values())
        per_token_s = per_token * chips / (link.bandwidth * chips * rep.factors.comm_bandwidth)
        return pre, dec, per_token_s
    n = 1 if coupled else lay.dp
    return [Engine(rep, kv_cap, seqs, cfg.token_budget, scale, False, i) for i in range(n)], [], 0.0


def run(dep: Deployed, make_replica, cfg: SimConfig) -> SimRun:
    wall0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    front, back, per_token_s = _engines(dep, make_replica, cfg)
    latency = front[0].dep.hw.scale_out.latency_s if back and front[0].dep.hw.scale_out else 0.0
    all_engines = front + back
    if cfg.trace is not None:
        n = len(cfg.trace.arrival_s)
        times, prompts, outputs = cfg.trace.arrival_s, cfg.trace.input_tokens, cfg.trace.output_tokens
    else:
        n = cfg.requests
        prompts, outputs = cfg.input_dist.draw(rng, n), cfg.output_dist.draw(rng, n)
        closed = cfg.arrivals.kind == "concurrency"
        times = np.zeros(n) if closed else cfg.arrivals.times(rng, n)
    closed = cfg.trace is None and cfg.arrivals.kind == "concurrency"
    reqs = [Request(i, 0.0, int(prompts[i]), int(outputs[i])) for i in range(n)]
    for r in reqs:
        r.cached = int(r.prompt * cfg.prefix_hit)
        r.todo = r.prompt - r.cached
    events: list[tuple[float, int, int, object]] = []  # (time, order, kind, payload); kinds: 0 arrive, 1 end, 2 kv
    order = 0

    def push(t: float, kind: int, payload) -> None:
        nonlocal order
        heapq.heappush(events, (t, order, kind, payload))
        order += 1

    launched = min(n, cfg.arrivals.clients) if closed else n
    for i in range(launched):
        push(0.0 if closed else float(times[i]), 0, reqs[i])
    next_closed = launched
    rr = [0, 0]
    in_system, area = 0, []
    finished = 0
    kv_area = busy = 0.0
    hist: dict[int, float] = {}

    def route(pool: list[Engine], k: int) -> Engine:
        if cfg.router == "round-robin" or len(pool) == 1:
            rr[k] += 1
            return pool[(rr[k] - 1) % len(pool)]
        return min(pool, key=lambda e: e.load)

    def kick(e: Engine, now: float) -> None:
        nonlocal kv_area, busy
        if e.current is not None or not e.has_work():
            return
        it = e.plan(now)
        if it is None:
            return
        e.current = it
        kv_area += e.kv_used / e.kv_capacity * it.duration
        busy += it.duration
        hist[len(it.decode_slots)] = hist.get(len(it.decode_slots), 0.0) + it.duration
        push(now + it.duration, 1, e)

    now = 0.0
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == 0:
            r: Request = payload
            r.arrival = now
            in_system += 1
            area.append((now, in_system))
            e = route(front, 0)
            r.replica = e.index
            e.waiting.append(r)
            kick(e, now)
        elif kind == 1:
            e: Engine = payload
            it: Iteration = e.current
            e.current = None
            done, prefilled = e.finish(it, now)
            for _ in done:
                in_system -= 1
                finished += 1
                area.append((now, in_system))
                if closed and next_closed < n:
                    push(now, 0, reqs[next_closed])
                    next_closed += 1
            if e.prefill_only:
                for r in prefilled:
                    if r.generated >= r.output:
                        r.finish = now
                        in_system -= 1
                        finished += 1
                        area.append((now, in_system))
                        continue
                    push(now + latency + r.prompt * per_token_s, 2, r)
            kick(e, now)
        else:
            r = payload
            r.first_token = now  # the first token reaches the user once the decode side holds the KV
            d = route(back, 1)
            r.replica = d.index
            d.kv_ready.append(r)
            kick(d, now)
    duration = now
    return SimRun(reqs, duration, time.perf_counter() - wall0, sum(e.preemptions for e in all_engines),
                  kv_area / busy if busy else 0.0, {k: v / busy for k, v in sorted(hist.items())} if busy else {},
                  area, len(all_engines), per_token_s * float(np.mean(prompts)) + latency if back else 0.0)


def unfinished(run_: SimRun) -> int:
    return sum(1 for r in run_.requests if r.finish == inf)
