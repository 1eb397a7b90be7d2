"""Disaggregated runs: prefill and decode pools, each worker with its own layout (`Setup.disagg`), predicted by the
simulator's pools (closed loops) or by the analytic pool model (open loops, and calibration's fast path)."""

from __future__ import annotations

from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration
from suanli.perf.predict import TOKEN_BUDGET
from suanli.serve.analytic import host_ttft, kv_transfer_s, pool_wait, prepared_step_wait
from suanli.validate.deploy import _deployments
from suanli.validate.scenarios import Point, _cap, _over_makespan, closed_requests
from suanli.validate.setup import Setup


def _pool_deps(s: Setup, cal: Calibration | None) -> tuple[Deployed, Deployed]:
    """(prefill worker, decode worker) deployments of a disaggregated run's pools."""
    pools = s.disagg
    out = []
    for pool, lay in (("prefill", pools.prefill_layout), ("decode", pools.decode_layout)):
        tp, pp, ep, dp = lay
        sub = Setup(**{**s.__dict__, "tp": tp, "pp": pp, "dp": dp, "ep": ep, "disagg": None,
                       "n": pools.chips(pool)})
        out.append(_deployments(sub, cal, layout=(tp, pp, ep, dp))[0])
    return out[0], out[1]


def disaggregated(s: Setup, cal: Calibration | None, fast: bool = False) -> Point:
    """Prefill and decode pools, each worker with its layout; decode steps carry no prompt tokens. Closed-loop
    runs go through the simulator's prefill and decode pools (a saturated prefill pool queues the clients' prompts,
    which sets TTFT); `fast` and open-loop runs use the pool model below: the prefill pool an M/G/1 queue per
    worker (serve/analytic.pool_wait), TTFT = front end + queue + the prompt's prefill + its KV transfer."""
    pools = s.disagg
    pre, dec = _pool_deps(s, cal)
    if s.scenario == "concurrency" and not fast:
        return disaggregated_sim(pre, dec, s, cal)
    n = s.concurrency or 1
    ranks = dec.layout.dp
    cap = _cap(dec, s, 4096) * ranks
    if pools.decode_batch:
        cap = min(cap, pools.decode_batch * ranks)
    b = min(n / pools.decode, cap) / ranks  # sequences per decode rank
    ctx = s.input_len + s.decode_pos
    tpot = dec.step_time(dec.decode_shape(max(b, 1e-9), ctx)) * dec.layout.pp
    pranks = pre.layout.dp
    prefill_tok_s = pools.prefill * pranks * TOKEN_BUDGET / pre.step_time(pre.prefill_shape(1, TOKEN_BUDGET))
    alone = pre.step_time(pre.prefill_shape(1, s.input_len)) * pre.layout.pp
    fixed = alone + kv_transfer_s(pre, s.input_len) + host_ttft(pre.factors, s.input_len, front_end=s.front_end)
    e2e = fixed + (s.output_len - 1) * tpot
    out_tok_s = min(n * s.output_len / e2e, prefill_tok_s * s.output_len / s.input_len)
    rho = min(0.95, out_tok_s / s.output_len * s.input_len / prefill_tok_s)
    service = s.input_len / prefill_tok_s * pools.prefill * pranks  # one prompt on one prefill rank
    wait, _ = pool_wait(rho, service, s.input_cv)  # prompts of one length: M/D/1
    ttft = fixed + wait + prepared_step_wait(pre, alone, rho, prefill_worker=True)
    return Point(n, tpot, ttft, tpot, min(out_tok_s, n * s.output_len / (ttft + (s.output_len - 1) * tpot)))


def disaggregated_sim(pre: Deployed, dec: Deployed, s: Setup, cal: Calibration | None) -> Point:
    from suanli.serve.metrics import summarize
    from suanli.serve.sim import SimConfig, run
    from suanli.serve.workload import Arrivals, LengthDist

    pools = s.disagg
    n = s.concurrency or 1
    cfg = SimConfig(requests=s.requests or closed_requests(n), seed=0, disaggregate=(pools.prefill, pools.decode),
                    front_end=s.front_end, stagger=not s.together,
                    max_seqs=pools.decode_batch or s.batch_cap or dec.stack.features.max_num_seqs,
                    prefill_max_seqs=pools.prefill_batch,
                    input_dist=LengthDist("fixed", {"value": s.input_len}),
                    output_dist=LengthDist("fixed", {"value": s.output_len}),
                    arrivals=Arrivals("concurrency", clients=n))
    if s.spread:
        cfg.input_dist = LengthDist("uniform", {"low": s.spread[0], "high": s.spread[1]})
        cfg.output_dist = LengthDist("uniform", {"low": s.spread[2], "high": s.spread[3]})
    sim = run(dec, None, cfg, prefill=pre)
    # a harness whose clients start together scores its whole run; drifted-apart clients, the steady window
    whole = s.requests is not None or s.together
    res = summarize(sim, {}, pre.layout.chips * pools.prefill + dec.layout.chips * pools.decode,
                    window=(0.0, 1.0) if whole else (0.1, 0.9))
    out_tok_s = _over_makespan(sim) if s.together else res["throughput"]["output_tok_s"]
    return Point(res["batch_size"].get("mean", 1.0), res["tpot_ms"]["mean"] / 1e3, res["ttft_ms"]["mean"] / 1e3,
                 res["tpot_ms"]["mean"] / 1e3, out_tok_s, res["ttft_ms"]["p99"] / 1e3,
                 res["tpot_ms"]["p99"] / 1e3)
