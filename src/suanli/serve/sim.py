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
from collections.abc import Callable
from dataclasses import dataclass
from math import inf

import numpy as np

from suanli.perf.deployed import Deployed
from suanli.perf.predict import TOKEN_BUDGET
from suanli.schema import SuanliError
from suanli.serve.analytic import HOST_SPREAD, kv_transfer_per_token, overlapped
from suanli.serve.engine import Engine
from suanli.serve.requests import Iteration, Request
from suanli.serve.workload import Arrivals, LengthDist, Trace


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
    prefill_max_seqs: int | None = None  # disaggregated: per prefill rank (None: max_seqs)
    token_budget: int = TOKEN_BUDGET
    front_end: bool = True  # requests pass the engine's server front end (False: an in-process harness)
    stagger: bool = True  # closed loop: clients start at random within one request's lifetime (False: together)
    on_done: Callable[[int], None] | None = None  # told how many requests just finished (a progress bar)


@dataclass
class SimRun:
    requests: list[Request]
    duration_s: float
    wall_s: float
    preemptions: int
    kv_util: float  # time-averaged share of the cache in use
    batch_hist: dict[int, float]  # decode batch size -> share of iteration time
    engines: int = 1
    transfer_s: float = 0.0  # KV transfer time of a mean prompt (disaggregated)
    closed: bool = False  # a closed loop of clients (else open arrivals or a trace)


def _engines(dep: Deployed, make_replica, cfg: SimConfig,
             prefill: Deployed | None = None) -> tuple[list[Engine], list[Engine], float]:
    """(prefill-or-colocated engines, decode engines, KV transfer seconds per prompt token). Disaggregated: every
    worker is one engine of its pool's layout, its dp ranks (attention data parallelism) stepping together;
    `prefill` gives the prefill pool's layout where it differs from the decode pool's (`dep`)."""
    lay = dep.layout
    if cfg.disaggregate:
        p, d = cfg.disaggregate
        pre_dep = prefill or dep
        pre = [_worker(pre_dep, cfg, True, i, cfg.prefill_max_seqs or cfg.max_seqs) for i in range(p)]
        dec = [_worker(dep, cfg, False, p + i, cfg.max_seqs) for i in range(d)]
        return pre, dec, kv_transfer_per_token(pre_dep)
    coupled = lay.moe_ranks > 1  # attention-DP ranks joined by expert parallelism
    rep = dep if coupled or lay.dp == 1 else make_replica()
    if coupled:
        return [_worker(rep, cfg, False, 0, cfg.max_seqs)], [], 0.0
    return [_worker(rep, cfg, False, i, cfg.max_seqs, ranks=1) for i in range(lay.dp)], [], 0.0


def _worker(dep: Deployed, cfg: SimConfig, prefill_only: bool, index: int, seqs_per_rank: int,
            ranks: int | None = None) -> Engine:
    """One engine: `ranks` attention-DP ranks of `dep` stepping together (each with its own cache and 1/ranks of
    the step's load), pipeline stages as one engine whose step takes pp stage-times."""
    ranks = dep.layout.dp if ranks is None else ranks
    mem = dep.memory(0, 1, cfg.token_budget / ranks)
    kv_cap = mem.free * ranks
    if kv_cap <= 0:
        raise SuanliError(f"{dep.model_id} does not fit on {dep.system.id} with this layout: weights "
                          f"{mem.weights / 1e9:.1f} GB leave no room for a KV cache (free {kv_cap / 1e9:.1f} GB)")
    return Engine(dep, kv_cap, seqs_per_rank * ranks, cfg.token_budget, 1.0 / dep.layout.pp / ranks, prefill_only,
                  index, ranks)


def run(dep: Deployed, make_replica, cfg: SimConfig, prefill: Deployed | None = None) -> SimRun:
    wall0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    front, back, per_token_s = _engines(dep, make_replica, cfg, prefill)
    latency = front[0].dep.hw.scale_out.latency_s if back and front[0].dep.hw.scale_out else 0.0
    all_engines = front + back
    closed = cfg.trace is None and cfg.arrivals.kind == "concurrency"
    if cfg.trace is not None:
        n = len(cfg.trace.arrival_s)
        times, prompts, outputs = cfg.trace.arrival_s, cfg.trace.input_tokens, cfg.trace.output_tokens
    else:
        n = cfg.requests
        prompts, outputs = cfg.input_dist.draw(rng, n), cfg.output_dist.draw(rng, n)
        times = np.zeros(n) if closed else cfg.arrivals.times(rng, n)
    reqs = [Request(i, 0.0, int(prompts[i]), int(outputs[i])) for i in range(n)]
    for r in reqs:
        r.cached = int(r.prompt * cfg.prefix_hit)
        r.todo = r.prompt - r.cached
    _check_fits(front + back, reqs)
    host = host_delays(front[0].dep.factors, prompts, rng, cfg.front_end)
    # three event sources: arrivals at the scheduler (heap: a request reaches it `host` seconds after it was
    # sent), KV transfers (heap), iteration ends (heap)
    launched = min(n, cfg.arrivals.clients) if closed else n
    arrivals: list[tuple[float, int, Request]] = []
    start = rng.uniform(0.0, _lifetime(front, cfg, prompts, outputs, launched), launched) if closed else times
    for i in range(launched):
        reqs[i].arrival = float(start[i])
        arrivals.append((reqs[i].arrival + host[i], i, reqs[i]))
    heapq.heapify(arrivals)
    next_closed = launched
    transfers: list[tuple[float, int, Request]] = []
    ends: list[tuple[float, int, int, Engine]] = []  # (end time, engine, version, engine); stale versions skipped
    rr = [0, 0]
    kv_area = busy = 0.0
    hist: dict[int, float] = {}

    def route(pool: list[Engine], k: int) -> Engine:
        if cfg.router == "round-robin" or len(pool) == 1:
            rr[k] += 1
            return pool[(rr[k] - 1) % len(pool)]
        return min(pool, key=lambda e: e.load)

    def horizon() -> float:  # arrivals cut decode blocks short instead (Engine.truncate)
        return transfers[0][0] if transfers else inf

    def kick(e: Engine, now: float) -> None:
        nonlocal kv_area, busy
        if e.current is not None or not e.has_work():
            return
        before = e.kv_used
        it = e.plan(now, horizon())
        if it is None:
            return
        e.current = it
        it.kv_from = before / e.kv_capacity
        kv_area += _kv_area(it, e)
        busy += it.duration
        hist[len(it.decode_slots)] = hist.get(len(it.decode_slots), 0.0) + it.duration
        e.version += 1
        it.start = now
        heapq.heappush(ends, (now + it.duration, e.index, e.version, e))

    def cut_block(e: Engine, now: float) -> None:
        nonlocal kv_area, busy
        planned = e.current.duration if e.current else 0.0
        cut = e.truncate(now)
        if cut is not None:  # the decode block ends early; take the cut part out of the time averages
            removed = planned - e.current.duration
            busy -= removed
            kv_area += _kv_area(e.current, e)
            hist[len(e.current.decode_slots)] -= removed
            e.version += 1
            heapq.heappush(ends, (cut, e.index, e.version, e))

    now = 0.0
    while arrivals or transfers or ends:
        t_arr = arrivals[0][0] if arrivals else inf
        t_kv = transfers[0][0] if transfers else inf
        t_end = ends[0][0] if ends else inf
        if t_arr <= t_kv and t_arr <= t_end:
            now, _, r = heapq.heappop(arrivals)
            r.seen = now
            e = route(front, 0)
            r.replica = e.index
            e.waiting.append(r)
            cut_block(e, now)
            if e.current is not None and overlapped(e.dep.stack.features, e.prefill_only):
                # the step after the running one is already prepared: the request joins the one after that
                r.ready = max(r.ready, e.current.start + e.current.duration + 1e-9)
            kick(e, now)
        elif t_end <= t_kv:
            now, _, version, e = heapq.heappop(ends)
            if version != e.version:
                continue
            it: Iteration = e.current
            e.current = None
            done, prefilled = e.finish(it, now)
            if done and cfg.on_done:
                cfg.on_done(len(done))
            for _ in done:
                if closed and next_closed < n:  # the client sends its next request now
                    reqs[next_closed].arrival = now
                    heapq.heappush(arrivals, (now + host[next_closed], next_closed, reqs[next_closed]))
                    next_closed += 1
            if e.prefill_only:
                for r in prefilled:
                    if r.generated >= r.output:
                        r.finish = now
                        continue
                    heapq.heappush(transfers, (now + latency + r.prompt * per_token_s, r.rid, r))
            kick(e, now)
        else:
            now, _, r = heapq.heappop(transfers)
            r.first_token = now  # the first token reaches the user once the decode side holds the KV
            d = route(back, 1)
            r.replica = d.index
            d.kv_ready.append(r)
            cut_block(d, now)  # a decode block in progress ends at the next step so the new sequence can join
            kick(d, now)
    duration = now
    return SimRun(reqs, duration, time.perf_counter() - wall0, sum(e.preemptions for e in all_engines),
                  kv_area / busy if busy else 0.0, {k: v / busy for k, v in sorted(hist.items())} if busy else {},
                  len(all_engines), per_token_s * float(np.mean(prompts)) + latency if back else 0.0, closed)


def _kv_area(it: Iteration, e: Engine) -> float:
    """The iteration's cache use integrated over its duration (the use moves linearly from what it was before the
    iteration to what it holds after it), less what was counted for it before (a decode block cut short)."""
    area = (it.kv_from + e.kv_used / e.kv_capacity) / 2.0 * it.duration
    change, it.kv_area = area - it.kv_area, area
    return change


def clients_in_step(dep: Deployed) -> bool:
    """Whether a closed loop's clients start in step on this deployment's engine (see `_lifetime`)."""
    return not dep.stack.features.mixed_batches


def _lifetime(front: list[Engine], cfg: SimConfig, prompts: np.ndarray, outputs: np.ndarray, clients: int) -> float:
    """Closed loop: clients start at random times within one request's expected lifetime, as clients of a long
    benchmark have drifted apart by the time it is measured (equal lengths would otherwise keep a burst started
    together in lockstep for ever). The lifetime: every client's prompt once, plus the mean output's decode steps
    with all of an engine's clients running (the mean step of the engine's share).

    An engine that keeps prompts and decodes in separate steps (`Features.mixed_batches` false: SGLang without
    --enable-mixed-chunk, vLLM V0) pulls its clients back into step instead: every prompt that arrives while others
    are prefilling joins their burst, and the burst's requests all start decoding when it ends, so with equal lengths
    they finish, and return, together, within the front end's jitter of each other. Its clients start in step: 78
    runs of SGLang 0.5.1 with equal lengths and 16-128 clients (serving.csv, Qwen3-32B on H100) measure the waves'
    TTFT (0.8-11 s) and TPOT, 15 % and 8 % MAPE so, against 64 % and 39 % with clients spread apart."""
    e = front[0]
    if not cfg.stagger or clients_in_step(e.dep):
        return 0.0
    per = clients / len(front)
    prompt, output = float(np.mean(prompts)), float(np.mean(outputs))
    dep = e.dep
    decode = dep.step_time(dep.decode_shape(max(1.0, per) * e.scale, prompt + output / 2)) * dep.layout.pp
    fill = dep.step_time(dep.prefill_shape(e.scale, prompt)) * dep.layout.pp
    return output * decode + per * fill


def host_delays(factors, prompts: np.ndarray, rng: np.random.Generator, front_end: bool = True) -> np.ndarray:
    """Seconds each request spends in the engine's front end before its scheduler sees it (`host_ttft`): the
    per-prompt-token part as it is, the fixed part drawn uniformly within +-50 % of its mean (requests take
    different times through HTTP, tokenizer and scheduler queues, which also keeps closed-loop clients with equal
    lengths from moving in lockstep); the engine's own share (`engine_request_ms`) as it is. `front_end` False: an
    in-process harness, that share alone."""
    spread = rng.uniform(1.0 - HOST_SPREAD, 1.0 + HOST_SPREAD, len(prompts))
    engine = np.full(len(prompts), factors.engine_request_ms * 1e-3)
    if not front_end:
        return engine
    return engine + factors.request_ms * 1e-3 * spread + factors.prompt_host_us * 1e-6 * np.asarray(prompts, float)


def _check_fits(engines: list[Engine], reqs: list[Request]) -> None:
    """A request whose whole context cannot fit in an empty cache would never finish: refuse it up front."""
    e = engines[0]
    longest = max(reqs, key=lambda r: r.prompt + r.output)
    need = float(e.kv.bytes(longest.prompt + longest.output))
    if need > e.kv_capacity:
        raise SuanliError(f"request {longest.rid} ({longest.prompt} + {longest.output} tokens) needs "
                          f"{need / 1e9:.2f} GB of KV cache per chip; the cache holds {e.kv_capacity / 1e9:.2f} GB")


def unfinished(run_: SimRun) -> int:
    return sum(1 for r in run_.requests if r.finish == inf)
