"""The steady-state serving model that `predict`, validation and the planner share (the simulator is its
reference): `open_loop`, a colocated replica under Poisson arrivals, read by each caller on its own step times
(`LoadSteps`); and its parts: the first-token path outside the engine's steps, the Poisson mix of prompt chunks
per step, the number in system and its spread, the wait of a prompt behind other prompts and in a prefill pool
(M/G/1, exact tail), and the KV transfer between disaggregated pools.

TTFT is a sum of parts, each returned separately by `ttft_parts`:
    host       the engine's front end: HTTP, tokenizing, handing the request to the scheduler, returning the first
               token (`request_ms` + `prompt_host_us` x prompt, fitted per engine family: docs/calibration.md)
    admission  waiting for earlier prompts (queue), for an attention-DP engine's balancing (`balance_wait`), at a
               step boundary for the running step to end, and with overlap scheduling for the step already
               prepared (`prepared_step_wait`), with multi-step scheduling for the running call's steps
               (`call_rest`)
    prefill    the prompt's own steps (chunked, sharing steps with running decodes and with the prompts that
               arrived while it waited: `joined`)
    transfer   disaggregated only: the prompt's KV cache sent to a decode instance
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import ceil, exp, hypot, inf, log, sqrt
from statistics import NormalDist

Z99 = 2.33  # 99th percentile of a standard normal: Poisson(m) p99 ~ m + 2.33 sqrt(m)


@dataclass
class TtftParts:
    """Seconds of each part of a mean TTFT."""

    host: float = 0.0
    admission: float = 0.0
    prefill: float = 0.0
    transfer: float = 0.0

    @property
    def total(self) -> float:
        return self.host + self.admission + self.prefill + self.transfer

    def to_ms(self) -> dict[str, float]:
        return {k: v * 1e3 for k, v in asdict(self).items()} | {"total": self.total * 1e3}


HOST_SPREAD = 0.5  # a request's front-end time is uniform within +-50 % of its mean (the simulator draws it so)


def host_ttft(factors, prompt: float, quantile: float = 0.5, front_end: bool = True) -> float:
    """Seconds of the first-token path outside the engine's steps for a prompt of `prompt` tokens: the engine's
    own share (`engine_request_ms`) and, through a server front end, the front end's: the mean, or the given
    quantile of its fixed part's uniform spread (0.99: 1.49 x the mean). `front_end` False: an in-process harness,
    the engine's share alone."""
    engine = factors.engine_request_ms * 1e-3
    if not front_end:
        return engine
    fixed = factors.request_ms * 1e-3 * (1.0 - HOST_SPREAD + 2.0 * HOST_SPREAD * quantile)
    return engine + fixed + factors.prompt_host_us * 1e-6 * prompt


def overlapped(features, prefill_worker: bool = False) -> bool:
    """Whether an engine prepares its next step while one runs (`Features.overlap_scheduling`, from the engines'
    release notes); a disaggregated prefill worker only where the engine keeps it there."""
    return features.overlap_scheduling and (features.prefill_worker_overlap or not prefill_worker)


def prepared_step_wait(dep, step: float, busy: float, prefill_worker: bool = False) -> float:
    """Seconds a new request waits for the step its engine already prepared: with overlap (async) scheduling the
    next step is built while one runs, so an arrival that finds the engine busy (probability `busy`) joins the step
    after it."""
    return step * busy if overlapped(dep.stack.features, prefill_worker) else 0.0


def call_rest(calls: int, decode: float) -> float:
    """Mean seconds a new request waits for the running scheduler call to end, beyond the running step's rest:
    with multi-step scheduling (`Features.scheduler_steps` K = `calls`) a call runs K decode steps of `decode`
    seconds, and an arrival during them waits for those still to come, (K - 1) / 2 on average (all K - 1 at the
    tail)."""
    return (calls - 1) * decode / 2.0


def balance_wait(features, ranks: int, prompts: float) -> tuple[float, float]:
    """Steps (mean, p99) a new prompt waits for attention-DP balancing (`Features.adp_balance_iters` T and
    `adp_batching_iters` W, TensorRT-LLM's attention_dp_config) over `ranks` coupled ranks, with `prompts` arrivals
    per step per rank. The scheduler counts every step in which some rank has no prompt and lets prompts in when
    the count reaches T, so a prompt waits for the next of these periodic releases: 0 to T - 1 steps, uniformly;
    unless all ranks hold a prompt first, then W steps more. The other ranks all hold one after H(ranks - 1) /
    prompts steps on average (coupon collector over Poisson arrivals), taken as fixed: the wait is the smaller of
    the release and that fill time."""
    cycle = features.adp_balance_iters - 1.0
    if ranks <= 1 or cycle <= 0:
        return 0.0, 0.0
    fill = sum(1.0 / k for k in range(1, ranks)) / prompts + features.adp_batching_iters if prompts > 0 else inf
    mean = cycle / 2.0 if fill >= cycle else fill - fill * fill / (2.0 * cycle)
    return mean, min(0.99 * cycle, fill)


def busy_chance(n: float, closed: bool = False) -> float:
    """Chance a new request finds its engine running a step: in a closed loop of n clients once there is another
    client; under Poisson arrivals unless the system is empty (M/G/infinity: P(empty) = exp(-n))."""
    return min(1.0, max(0.0, n - 1.0)) if closed else 1.0 - exp(-n)


def poisson_mix(step_with, mean: float):
    """Mean of `step_with(k)` (a step carrying k prompt chunks) when k ~ Poisson(mean): prompts arrive at random,
    so a step carries a whole number of chunks, not the mean's fraction. Steps without a chunk and with one are
    read as they are; from the second chunk on each adds the same compute-bound work, so the steps with two or
    more are read at their mean count, (mean - P(1)) / P(k >= 2)."""
    if mean <= 0.0:
        return step_with(0.0)
    p0 = exp(-mean)
    p1 = mean * p0
    more = 1.0 - p0 - p1
    if more < 1e-12:
        return p0 * step_with(0.0) + p1 * step_with(1.0) if p0 + p1 > 0.0 else step_with(mean)
    if p0 < 1e-9:
        return step_with(mean)
    return p0 * step_with(0.0) + p1 * step_with(1.0) + more * step_with((mean - p1) / more)


def apart_per_call(prefill, prompts: float, calls: int, arrivals: bool = True):
    """The prefill work one scheduler call of an engine whose steps either prefill or decode carries
    (`Features.mixed_batches` false: vLLM V0 without chunked prefill, SGLang): after its `calls` decode steps, one
    prefill step of the prompts that arrived meanwhile, `prefill(k)` for k prompts, k ~ Poisson(calls x `prompts`)
    (their mean count where they do not arrive at random). Each decode step bears 1 / calls of it."""
    return poisson_mix(prefill, prompts * calls) if arrivals else prefill(prompts * calls)


def p99_in_system(mean: float, spread: float = 1.0) -> float:
    """99th percentile of a number in system with this mean and variance / mean (`spread`; 1: Poisson)."""
    return mean + Z99 * sqrt(max(mean, 0.0) * spread)


def mean_in_system(p99: float, spread: float = 1.0) -> float:
    """Mean number in system whose 99th percentile is `p99` (the inverse of `p99_in_system`)."""
    z = Z99 * sqrt(spread)
    r = (-z + sqrt(z * z + 4.0 * p99)) / 2.0
    return r * r


def spread_in_system(step: float, step_one: float) -> float:
    """Variance / mean of the number of requests a batch engine runs, whose step takes `step` at the mean number and
    `step_one` with one. Every running request moves one token per step, so the engine is a symmetric queue (Kelly)
    whose total service rate is N / s(N): P(N) ~ prod_k lambda W s(k) / k, and for s(k) = a + c k the variance is
    N s(N) / a. A step that does not grow with the batch gives Poisson (1); one in proportion to it, processor
    sharing. Load makes each step slower and each request stay longer, so the number running spreads wider."""
    return max(1.0, step / step_one) if step_one > 0 else 1.0


def prompt_wait(mixed: float, decode: float, prompts: float, cv: float,
                arrival_cv: float = 1.0) -> tuple[float, float]:
    """Mean and p99 time a new prompt waits behind the prompts that arrived before it, for a replica whose mean
    step is `mixed` with `prompts` prompts per step and `decode` without any.

    The replica spends rho = 1 - decode / mixed of its time on prompts, S = (mixed - decode) / prompts on each.
    Pollaczek-Khinchine (M/G/1, service spread cv = the prompts' length spread): mean wait
    rho S (1 + cv^2) / (2 (1 - rho)); tail P(W > t) ~ rho exp(-t rho / mean), so p99 = mean / rho x ln(100 rho);
    `arrival_cv` as for `pool_wait`."""
    if prompts <= 0 or mixed <= decode:
        return 0.0, 0.0
    return pool_wait(1.0 - decode / mixed, (mixed - decode) / prompts, cv, arrival_cv)


def pool_wait(rho: float, service: float, cv: float = 0.0, arrival_cv: float = 1.0) -> tuple[float, float]:
    """Mean and p99 wait in a pool of prefill instances loaded to rho, each prompt taking `service` seconds on
    average with spread cv (M/G/1; cv 0 = prompts of one length, M/D/1). Mean: Pollaczek-Khinchine. Tail:
    P(W > t) ~ rho exp(-theta t) (Cramer-Lundberg), theta from `tail_rate`; exact for M/M/1. Arrivals whose gaps
    spread other than Poisson's (`arrival_cv` 1; 0 a fixed schedule) scale both by Kingman's
    (arrival_cv^2 + cv^2) / (1 + cv^2) (G/G/1, exact for M/G/1)."""
    if rho <= 0.0:
        return 0.0, 0.0
    if rho >= 1.0:
        return float("inf"), float("inf")
    mean = rho * service * (1.0 + cv ** 2) / (2.0 * (1.0 - rho))
    p99 = log(100.0 * rho) / tail_rate(rho, cv) * service if rho > 0.01 else 0.0
    kingman = (arrival_cv ** 2 + cv ** 2) / (1.0 + cv ** 2)
    return mean * kingman, max(0.0, p99) * kingman


def tail_rate(rho: float, cv: float) -> float:
    """The decay rate x = theta x mean service of an M/G/1 wait's tail: the root of rho (M(x) - 1) = x, M the
    service time's moment generating function (gamma-shaped with this cv: (1 - x cv^2)^(-1/cv^2); e^x for cv 0).
    M/M/1 (cv 1): 1 - rho; heavy traffic: 2 (1 - rho) / (1 + cv^2). The excess is convex and below zero between
    0 and the root, so Newton's steps from a point above it fall onto it from above."""
    k = cv * cv
    top = 1.0 / k if k > 1e-9 else inf  # the gamma MGF's pole

    def excess(x: float) -> tuple[float, float]:
        if k <= 1e-9:
            return rho * (exp(x) - 1.0) - x, rho * exp(x) - 1.0
        base = 1.0 - x * k
        return rho * (base ** (-1.0 / k) - 1.0) - x, rho * base ** (-1.0 / k - 1.0) - 1.0

    x = min(2.0 * (1.0 - rho) / (1.0 + k), top / 2.0)
    while excess(x)[0] < 0.0:  # step up towards the pole (or onwards) until above the root
        x = min(2.0 * x, (x + top) / 2.0)
    for _ in range(60):
        f, slope = excess(x)
        step = f / slope
        x -= step
        if step < 1e-12 * x:
            break
    return x


def kv_transfer_per_token(dep) -> float:
    """Seconds per prompt token to send a prompt's KV cache from a prefill instance to a decode instance of the
    same layout: every chip sends its shard over its own link of the fabric that joins two instances."""
    from suanli.serve.requests import KvModel

    chips = dep.layout.chips
    link = dep.hw.link_for(2 * chips, 2 * chips)
    kv = KvModel.of(dep)
    return (kv.per_token + sum(kv.windowed.values())) / (link.bandwidth * dep.factors.comm_bandwidth)


def kv_transfer_s(dep, prompt: float) -> float:
    """One prompt's KV transfer: the fabric's latency plus its bytes at the fabric's rate."""
    latency = dep.hw.scale_out.latency_s if dep.hw.scale_out else 0.0
    return latency + prompt * kv_transfer_per_token(dep)


@dataclass
class LoadSteps:
    """Step times (seconds through every pipeline stage) that a replica's steady state under Poisson arrivals is read
    from, at the mean number running and at its 99th percentile (`tail`)."""

    mixed: float  # the mean step, prompt chunks included (their Poisson mix)
    mixed_tail: float
    decode: float  # a step without prompts
    decode_tail: float
    prefill: float  # a new prompt's own steps (chunked, beside the running decodes)
    prefill_tail: float
    room: float = inf  # prompts that fit beside a new one in its last step (the token budget's rest)
    chunks: int = 1  # the steps a new prompt's prefill takes (token-budget chunks)
    apart: bool = False  # prompts in steps of their own (`Features.mixed_batches` false), these times built so
    # where prompt lengths vary: the own steps of a prompt at the 99th percentile of lengths (`length_quantile`), at
    # the tail; its excess over `prefill_tail` is a spread of TTFT independent of the queue's (None: lengths alike)
    prefill_long: float | None = None


def length_quantile(mean: float, cv: float, q: float = 0.99) -> float:
    """The q-quantile of lengths with this mean and spread (std / mean), taken as lognormal as the simulator's
    `lognormal:mean=..,sigma=..` draws them: mean x exp(sigma z_q - sigma^2 / 2), sigma^2 = ln(1 + cv^2)."""
    if cv <= 0:
        return mean
    sigma = sqrt(log(1.0 + cv * cv))
    return mean * exp(sigma * NormalDist().inv_cdf(q) - sigma * sigma / 2.0)


def chunking(free: float, prompt: float) -> tuple[float, int]:
    """(room, chunks) of a `prompt`-token prompt in steps with `free` budget tokens beside the running decodes: the
    steps its prefill takes and the prompts that fit beside its last chunk (`LoadSteps.room`, `.chunks`)."""
    free = max(1.0, free)
    chunks = ceil(prompt / free)
    return (chunks * free - prompt) / prompt, chunks


def prompt_room(features, budget: float, running: float, prompt: float) -> tuple[float, int]:
    """`chunking` for an engine: the budget the `running` decodes per rank leave a new prompt (all of it in a step
    of its own, `mixed_batches` false), in one step where prompts go in whole (`chunked_prefill` false)."""
    free = budget - (running if features.mixed_batches else 0.0)
    if not features.chunked_prefill:
        return max(0.0, (free - prompt) / prompt), 1
    return chunking(free, prompt)


def joined(steps: LoadSteps, prompts: float, waited: float, sent: float = 0.0) -> float:
    """Seconds a new prompt's last step grows by the prompts that arrive while it waits (`waited` seconds from its
    arrival to that step), and the `sent` others a harness handed over with it, as far as they fill the budget
    beside it: an engine takes waiting prompts first come, first served into one step, so those behind it share
    its step (M/G/1's FCFS wait counts only those ahead). Each takes (mixed - decode) / prompts seconds; unbounded
    by the budget they add rho = 1 - decode / mixed of the wait."""
    if prompts <= 0 or steps.mixed <= steps.decode:
        return 0.0
    return (steps.mixed - steps.decode) / prompts * min(prompts / steps.mixed * waited + sent, steps.room)


@dataclass
class OpenLoop:
    """Mean TTFT by part, p99 TTFT, mean and p99 TPOT (seconds) of a replica under Poisson arrivals."""

    parts: TtftParts
    ttft_p99: float
    tpot: float
    tpot_p99: float
    held: float  # of the mean TTFT, the part the engine counts the request among those it runs (no queues)

    def out_tok_s(self, n: float, output_len: float, beams: int = 1) -> float:
        """Little's law over the n requests the engine holds, each from its admission to its last token."""
        return n / beams * output_len / (self.held + (output_len - 1) * self.tpot)


def open_loop(dep, n: float, steps: LoadSteps, prompts: float, seen: float, input_len: float,
              cv: float = 0.0, front_end: bool = True, spread: float = 1.0,
              dispatch: tuple[float, float] = (0.0, 0.0), arrival_cv: float = 1.0) -> OpenLoop:
    """The steady state of a colocated replica with n requests in the system under Poisson arrivals (the p99 read at
    `p99_in_system(n, spread)`: `spread_in_system`). `prompts`: new prompts per step per replica; `seen`: prompts
    arriving during one request's decode per replica; `cv`: the prompt lengths' spread; `arrival_cv`: the spread
    of the gaps between arrivals (1 Poisson, 0 a fixed schedule: `prompt_wait`); `dispatch`: a harness that
    holds requests and hands them to a replica together, (its window W, the requests sent together): a request
    waits W / 2 there on average (all of W at the tail) and its group shares its prefill step.

    TTFT = front end + admission + the prompt's own steps (with the prompts that join its last step: `joined`),
    where admission = the queue behind earlier prompts (`prompt_wait`, M/G/1) + attention-DP balancing
    (`balance_wait`) + the running step's rest (half a step on average, up to one at the tail) + the step an
    overlapped engine already prepared (`prepared_step_wait`). The p99 sums the engine's parts' p99s (they rise
    together) and adds the front end's spread to theirs as an independent one.
    TPOT = the mean step; its p99 = the decode step at the p99 number running plus the prompts that arrived during
    the request's life, each stalling its replica for one prompt's time: their count is Poisson and their sizes
    vary, so the p99 stall is the mean one times 1 + 2.33 sqrt((1 + cv^2) / seen)."""
    tail = p99_in_system(n, spread)
    # prompts queue behind earlier ones where steps share them with decodes; an engine whose prefill steps are
    # their own takes every waiting prompt into its next one (its queue is the running step and call: below)
    wait, wait99 = (0.0, 0.0) if steps.apart else prompt_wait(steps.mixed, steps.decode, prompts, cv,
                                                                         arrival_cv)
    lay = dep.layout
    balance, balance99 = balance_wait(dep.stack.features, lay.moe_ranks, prompts)
    wait, wait99 = wait + balance * steps.mixed, wait99 + balance99 * steps.mixed_tail
    host = host_ttft(dep.factors, input_len, front_end=front_end)
    host99 = host_ttft(dep.factors, input_len, 0.99, front_end)
    prepared = prepared_step_wait(dep, steps.mixed, busy_chance(n))
    prepared99 = prepared_step_wait(dep, steps.mixed_tail, busy_chance(tail))
    if not steps.apart:  # multi-step scheduling: all of the running call's decode steps at the tail
        prepared99 += 2.0 * call_rest(dep.stack.features.scheduler_steps, steps.decode_tail) * busy_chance(tail)
    rest = running_rest(dep.stack.features.scheduler_steps, steps, prompts) + prepared  # to its step
    # the prompts arriving while it waits join its last step: until that step, its wait and its earlier chunks
    before, (window, group) = steps.chunks - 1, dispatch
    sent = max(0.0, group - 1.0)
    prefill = steps.prefill + joined(steps, prompts, wait + rest + steps.mixed * before, sent)
    rest99 = running_rest_tail(dep.stack.features.scheduler_steps, steps, prompts)
    prefill99 = steps.prefill_tail + joined(steps, prompts, wait99 + rest99 + steps.mixed_tail * before + prepared99,
                                            sent)
    wait, wait99 = wait + window / 2.0, wait99 + window  # held by the harness before the engine sees it
    # the front end's time is independent of the engine's queue: their excesses over the mean add as independent
    # spreads do (root of the sum of squares), where the engine's own parts rise together (a long queue, a full step)
    engine = wait + rest + prefill
    engine99 = wait99 + rest99 + prepared99 + prefill99
    # a long prompt's own steps are a spread of their own: the length of a prompt does not lengthen the queue it meets
    long = max(0.0, steps.prefill_long - steps.prefill_tail) if steps.prefill_long is not None else 0.0
    ttft_p99 = host + engine + hypot(host99 - host, engine99 - engine, long)
    stall = (steps.mixed - steps.decode) * (1.0 + Z99 * sqrt((1.0 + cv ** 2) / max(1.0, seen)))
    return OpenLoop(TtftParts(host, wait + rest, prefill), ttft_p99, steps.mixed, steps.decode_tail + stall,
                    host + prepared + prefill)


def running_rest(calls: int, steps: LoadSteps, prompts: float) -> float:
    """Mean seconds from a request's arrival to the end of what its engine is running: half a mean step where
    steps carry prompts and decodes alike, plus the scheduler call's decode steps still to come (`call_rest`);
    where prompts have steps of their own (`LoadSteps.apart`), a cycle of K = `calls` decode steps d (one
    scheduler call) and one prefill step p of the k ~ Poisson(K x `prompts`) prompts that arrived meanwhile: an
    arrival during the call waits for its rest (K d / 2), one during the prefill step for that step's,
    E[p^2] / (2 E[p]) (longer steps are likelier to be hit; p ~ k), each weighted by its share of the cycle:
    (K^2 d^2 + E[p^2]) / (2 (K d + E[p]))."""
    d = steps.decode
    if not steps.apart:
        return steps.mixed / 2.0 + call_rest(calls, d)
    p = max(0.0, steps.mixed - d) * calls  # the mean prefill step per call (mixed = d + p / K per decode step)
    p2 = p * p * (1.0 + 1.0 / (calls * prompts)) if prompts > 0 else 0.0
    return (calls * calls * d * d + p2) / (2.0 * (calls * d + p)) if calls * d + p > 0 else 0.0


def running_rest_tail(calls: int, steps: LoadSteps, prompts: float) -> float:
    """The tail of `running_rest`: a whole step at the p99 number running. Where prompts have steps of their own,
    the 99th percentile of what an arrival meets in the cycle of one scheduler call (K tail decode steps, C) and
    one prefill step of the k ~ Poisson(g = K x `prompts`) prompts gathered meanwhile, p(k) = F + c k (F + c: a
    step of one prompt, `LoadSteps.prefill`; c from the mean, E[p] = P(k > 0) F + c g): the share of arrivals
    that wait longer than t is ((C - t)+ + sum_k P(k) (p(k) - t)+) / (C + E[p]) (renewal-reward)."""
    if not steps.apart:
        return steps.mixed_tail
    call, gathered = calls * steps.decode_tail, calls * prompts
    mean_p = max(0.0, steps.mixed - steps.decode) * calls
    if gathered <= 0 or mean_p <= 0:
        return call
    some = 1.0 - exp(-gathered)
    one = steps.prefill
    c = min(one, max(0.0, (mean_p - some * one) / (gathered - some))) if gathered > some else one
    fixed = one - c
    ks = range(1, poisson_p99(gathered) + 20)
    weights, term = [], exp(-gathered)
    for k in ks:
        term *= gathered / k
        weights.append(term)

    def beyond(t: float) -> float:
        pre = sum(w * max(0.0, fixed + c * k - t) for k, w in zip(ks, weights, strict=True))
        return (max(0.0, call - t) + pre) / (call + mean_p)

    lo, hi = 0.0, max(call, fixed + c * ks[-1])
    for _ in range(50):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if beyond(mid) > 0.01 else (lo, mid)
    return hi


def poisson_p99(mean: float) -> int:
    """The smallest k with P(K <= k) >= 0.99 for K ~ Poisson(mean)."""
    k, term = 0, exp(-mean)
    total = term
    while total < 0.99 and k < 10_000:
        k += 1
        term *= mean / k
        total += term
    return k
