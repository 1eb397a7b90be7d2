"""What users of a deployment see: latency percentiles, throughput, goodput under SLOs, Little's law.

Statistics are taken over a steady-state window: latencies of requests that arrive between the 10th and the 90th
percentile of arrival times (warm-up and drain excluded), throughput as completions per second between the 10th and
90th percentile of finish times, and `mean_in_system` as the time average of the number of requests in the system
over the arrival window, from each request's send and finish times. In steady state Little's law says
mean_in_system = requests/s x mean end-to-end time; under overload it does not hold (the queue grows), and
`steady_state` is false with the reason in `steady_state_note` (also for bursts and closed loops too short).
Goodput = requests/s x the share of requests that meet every SLO limit.
TPOT of a request is (finish - first token) / (output tokens - 1), as benchmark clients report it.
"""

from __future__ import annotations

from math import inf

import numpy as np

from suanli.serve.sim import SimRun

PCTS = (50, 90, 99)


def _stats(values: np.ndarray, scale: float = 1.0) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    out = {"mean": float(values.mean()) * scale}
    for p in PCTS:
        out[f"p{p}"] = float(np.percentile(values, p)) * scale
    return out


def summarize(run: SimRun, slo: dict[str, float], chips: int, window: tuple[float, float] = (0.1, 0.9)) -> dict:
    reqs = [r for r in run.requests if r.finish < inf]
    arrivals = np.array(sorted(r.arrival for r in run.requests))
    lo, hi = (float(np.quantile(arrivals, q)) for q in window) if len(arrivals) > 10 else (0.0, run.duration_s)
    if hi <= lo:
        lo, hi = 0.0, run.duration_s
    sel = [r for r in reqs if lo <= r.arrival <= hi] or reqs
    ttft = np.array([r.first_token - r.arrival for r in sel])
    tpot = np.array([(r.finish - r.first_token) / (r.output - 1) for r in sel if r.output > 1])
    e2e = np.array([r.finish - r.arrival for r in sel])
    finishes = np.array(sorted(r.finish for r in reqs)) if reqs else np.zeros(1)
    f_lo, f_hi = (float(np.quantile(finishes, q)) for q in window) if len(reqs) > 10 else (0.0, run.duration_s)
    if f_hi <= f_lo:
        f_lo, f_hi = 0.0, run.duration_s
    span = f_hi - f_lo  # throughput: completions per second between the 10th and 90th percentile of finish times
    completed = [r for r in reqs if f_lo <= r.finish <= f_hi]
    first = min((r.arrival for r in run.requests), default=0.0)
    burst = len(arrivals) > 0 and arrivals[-1] == arrivals[0]
    # a burst (everything sent at t=0, as throughput benchmarks do) is scored over its makespan; completions in a
    # few synchronised waves too
    if burst or span < 0.2 * (run.duration_s - first):
        span, completed = run.duration_s - first, reqs
    req_s = len(completed) / span if span > 0 else 0.0
    steady, why = _steady_state(run, sel, lo, hi, req_s, burst)
    if steady and not run.closed and not burst:  # in steady state requests leave as fast as they come, no faster
        arriving = sum(1 for a in arrivals if lo <= a <= hi) / (hi - lo) if hi > lo else req_s
        if req_s > arriving:
            span, req_s = span * req_s / arriving, arriving
    out_tok = sum(r.output for r in completed) / span if span > 0 else 0.0
    tot_tok = sum(r.output + r.prompt for r in completed) / span if span > 0 else 0.0
    ok = [_meets(r, slo) for r in sel]
    good = req_s * (sum(ok) / len(ok)) if slo and ok else req_s
    summary = {
        "ttft_ms": _stats(ttft, 1e3), "ttft_parts_ms": ttft_parts(sel), "tpot_ms": _stats(tpot, 1e3),
        "e2e_s": _stats(e2e),
        "throughput": {"requests_s": req_s, "output_tok_s": out_tok, "total_tok_s": tot_tok,
                       "output_tok_s_per_chip": out_tok / chips},
        "goodput_requests_s": good,
        "slo": slo or None,
        "slo_met": (_slo_met(ttft, tpot, e2e, slo) if slo else None),
        "slo_attainment": (sum(ok) / len(ok) if slo and ok else None),
        "kv_cache_utilization": run.kv_util,
        "preemptions": run.preemptions,
        "mean_in_system": in_system(run.requests, lo, hi),
        "batch_size": _batch_stats(run.batch_hist),
        "requests": len(run.requests), "completed": len(reqs), "window_s": [lo, hi],
        "steady_state": steady, "steady_state_note": why,
        "simulated_s": run.duration_s, "wall_s": run.wall_s,
        "sim_to_wall": run.duration_s / run.wall_s if run.wall_s > 0 else None,
    }
    if run.transfer_s:
        summary["kv_transfer_ms"] = run.transfer_s * 1e3
    return summary


def ttft_parts(reqs: list) -> dict[str, float] | None:
    """Mean TTFT by part (serve/analytic.TtftParts): the engine's front end, the wait for admission (behind other
    prompts and the KV budget, and for the running step to end), the prefill's own steps, and the KV transfer to
    a decode instance (disaggregated; with the decode side's wait for its first step)."""
    done = [r for r in reqs if r.first_token < inf and r.prefilled < inf]
    if not done:
        return None
    host = float(np.mean([r.seen - r.arrival for r in done]))
    admission = float(np.mean([r.started - r.seen for r in done]))
    prefill = float(np.mean([r.prefilled - r.started for r in done]))
    transfer = float(np.mean([r.first_token - r.prefilled for r in done]))
    parts = {"host": host, "admission": admission, "prefill": prefill, "transfer": transfer}
    return {k: v * 1e3 for k, v in parts.items()} | {"total": sum(parts.values()) * 1e3}


def _steady_state(run: SimRun, sel: list, lo: float, hi: float, req_s: float, burst: bool) -> tuple[bool, str]:
    """Whether the window's figures describe a steady state, and why not. A burst never is one; an open loop is
    not when requests arrive faster than they complete or the number in the system keeps growing (overload: every
    figure then depends on the run's length); a closed loop is not when its window holds fewer than three request
    lifetimes (the clients' first waves are still in it)."""
    if burst:
        return False, "every request sent at once: a burst, scored over its makespan, not a steady state"
    if hi <= lo or not sel:
        return False, "too few requests for a steady-state window"
    if run.closed:
        life = float(np.mean([r.finish - r.arrival for r in sel if r.finish < inf] or [inf]))
        if hi - lo < 3.0 * life:
            return False, (f"the window ({hi - lo:.1f} s) holds fewer than 3 request lifetimes ({life:.1f} s each): "
                           "simulate more requests")
        return True, ""
    arriving = sum(1 for r in run.requests if lo <= r.arrival <= hi) / (hi - lo)
    mid = (lo + hi) / 2
    first, second = in_system(run.requests, lo, mid), in_system(run.requests, mid, hi)
    if req_s < 0.9 * arriving or second > 1.25 * first + 2.0:
        return False, (f"overloaded: requests arrive at {arriving:.2f}/s and complete at {req_s:.2f}/s; the queue "
                       f"grows ({first:.0f} -> {second:.0f} in the system) for the whole run, so its figures depend "
                       "on its length")
    return True, ""


def _meets(r, slo: dict[str, float]) -> bool:
    """Per request: its TTFT, TPOT and end-to-end time under every limit named (percentile keys apply as limits)."""
    vals = {"ttft": r.first_token - r.arrival, "e2e": r.finish - r.arrival,
            "tpot": (r.finish - r.first_token) / (r.output - 1) if r.output > 1 else 0.0}
    return all(vals[k.split("_")[0]] <= v for k, v in slo.items())


def _slo_met(ttft: np.ndarray, tpot: np.ndarray, e2e: np.ndarray, slo: dict[str, float]) -> bool:
    arrays = {"ttft": ttft, "tpot": tpot, "e2e": e2e}
    for key, limit in slo.items():
        metric, stat = key.split("_")
        a = arrays[metric]
        if a.size == 0:
            continue
        value = a.mean() if stat == "mean" else np.percentile(a, float(stat[1:]))
        if value > limit:
            return False
    return True


def in_system(reqs: list, lo: float, hi: float) -> float:
    """Time average over [lo, hi] of the requests in the system, each from when it was sent (its front end
    included, as its end-to-end time is) to its finish: the L of Little's law for the window."""
    if hi <= lo:
        return 0.0
    a = np.array([r.arrival for r in reqs])
    f = np.array([r.finish for r in reqs])
    return float(np.clip(np.minimum(f, hi) - np.maximum(a, lo), 0.0, None).sum() / (hi - lo))


def _batch_stats(hist: dict[int, float]) -> dict:
    if not hist:
        return {}
    sizes = np.array(list(hist))
    weights = np.array(list(hist.values()))
    cdf = np.cumsum(weights) / weights.sum()
    pick = {f"p{p}": int(sizes[np.searchsorted(cdf, p / 100)]) for p in PCTS}
    return {"mean": float((sizes * weights).sum() / weights.sum()), **pick, "max": int(sizes.max())}
