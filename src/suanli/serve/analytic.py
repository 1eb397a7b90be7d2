"""The steady-state serving formulas that `predict`, validation and the planner share (the simulator is their
reference): the first-token path outside the engine's steps, the number in system under Poisson arrivals, the
wait of a prompt behind other prompts, and the KV transfer between disaggregated pools.

TTFT is a sum of parts, each returned separately by `ttft_parts`:
    host       the engine's front end: HTTP, tokenizing, handing the request to the scheduler, returning the first
               token (`request_ms` + `prompt_host_us` x prompt, fitted per engine family: docs/calibration.md)
    admission  waiting for earlier prompts (queue), at a step boundary for the running step to end, and with
               overlap scheduling for the step already prepared (`prepared_step_wait`)
    prefill    the prompt's own steps (chunked, sharing steps with running decodes)
    transfer   disaggregated only: the prompt's KV cache sent to a decode instance
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import log, sqrt

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


def host_ttft(factors, prompt: float, quantile: float = 0.5) -> float:
    """Seconds of the first-token path outside the engine's steps for a prompt of `prompt` tokens: the mean, or
    the given quantile of the fixed part's uniform spread (0.99: 1.49 x the mean)."""
    fixed = factors.request_ms * 1e-3 * (1.0 - HOST_SPREAD + 2.0 * HOST_SPREAD * quantile)
    return fixed + factors.prompt_host_us * 1e-6 * prompt


def overlapped(features, prefill_worker: bool = False) -> bool:
    """Whether an engine prepares its next step while one runs (`Features.overlap_scheduling`, from the engines'
    release notes); a disaggregated prefill worker only where the engine keeps it there."""
    return features.overlap_scheduling and (features.prefill_worker_overlap or not prefill_worker)


def prepared_step_wait(dep, step: float, busy: float, prefill_worker: bool = False) -> float:
    """Seconds a new request waits for the step its engine already prepared: with overlap (async) scheduling the
    next step is built while one runs, so an arrival that finds the engine busy (probability `busy`) joins the step
    after it."""
    return step * busy if overlapped(dep.stack.features, prefill_worker) else 0.0


def p99_in_system(mean: float) -> float:
    """99th percentile of a Poisson-like number in system with this mean."""
    return mean + Z99 * sqrt(max(mean, 0.0))


def mean_in_system(p99: float) -> float:
    """Mean number in system whose 99th percentile is `p99` (the inverse of `p99_in_system`)."""
    r = (-Z99 + sqrt(Z99 * Z99 + 4.0 * p99)) / 2.0
    return r * r


def prompt_wait(mixed: float, decode: float, prompts: float, cv: float) -> tuple[float, float]:
    """Mean and p99 time a new prompt waits behind the prompts that arrived before it (Poisson arrivals), for a
    replica whose mean step is `mixed` with `prompts` prompts per step and `decode` without any.

    The replica spends rho = 1 - decode / mixed of its time on prompts, S = (mixed - decode) / prompts on each.
    Pollaczek-Khinchine (M/G/1, service spread cv = the prompts' length spread): mean wait
    rho S (1 + cv^2) / (2 (1 - rho)); tail P(W > t) ~ rho exp(-t rho / mean), so p99 = mean / rho x ln(100 rho)."""
    if prompts <= 0 or mixed <= decode:
        return 0.0, 0.0
    return pool_wait(1.0 - decode / mixed, (mixed - decode) / prompts, cv)


def pool_wait(rho: float, service: float, cv: float = 0.0) -> tuple[float, float]:
    """Mean and p99 wait in a pool of prefill instances loaded to rho, each prompt taking `service` seconds
    (M/G/1, Pollaczek-Khinchine; cv 0 = prompts of one length, M/D/1)."""
    if rho <= 0.0:
        return 0.0, 0.0
    if rho >= 1.0:
        return float("inf"), float("inf")
    mean = rho * service * (1.0 + cv ** 2) / (2.0 * (1.0 - rho))
    p99 = mean / rho * log(100.0 * rho) if rho > 0.01 else 0.0
    return mean, max(0.0, p99)


def kv_transfer_per_token(dep) -> float:
    """Seconds per prompt token to send a prompt's KV cache from a prefill instance to a decode instance of the
    same layout: every chip sends its shard over its own link of the fabric that joins two instances."""
    from suanli.serve.engine import KvModel

    chips = dep.layout.chips
    link = dep.hw.link_for(2 * chips, 2 * chips)
    kv = KvModel.of(dep)
    return (kv.per_token + sum(kv.windowed.values())) / (link.bandwidth * dep.factors.comm_bandwidth)


def kv_transfer_s(dep, prompt: float) -> float:
    """One prompt's KV transfer: the fabric's latency plus its bytes at the fabric's rate."""
    latency = dep.hw.scale_out.latency_s if dep.hw.scale_out else 0.0
    return latency + prompt * kv_transfer_per_token(dep)
