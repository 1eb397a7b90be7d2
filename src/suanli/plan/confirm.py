"""Confirming a candidate with the serving simulator (`suanli.serve.sim`): is its analytic capacity real?

The candidate's unit (one instance, or P prefill + D decode instances) gets Poisson arrivals of fixed-length
requests at its analytic capacity, with its batch cap and token budget. Enough requests are sent that the window
the statistics are read over (from 1.5 mean end-to-end times after the start, at least the 10th percentile of
arrivals, to the 90th) sees a loaded engine. If the simulated p99 latencies meet the SLO and every request
finishes at the offered rate, the rate is raised by 25% (twice at most) to find how much more it holds; if not, it
is lowered by 20% (three times at most). The highest rate that passes gives the simulated figures; none passing
rejects the candidate, with the simulated figures that failed. A unit with so many requests in flight that a
steady state would take more than 100,000 simulated requests keeps its analytic figures (`ok` None).
"""

from __future__ import annotations

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.plan.space import Ask, Eval
from suanli.schema import Deployment
from suanli.serve.metrics import summarize
from suanli.serve.sim import SimConfig, run
from suanli.serve.workload import Arrivals, LengthDist

MIN_REQUESTS, MAX_REQUESTS = 600, 100_000
UP, DOWN = 1.25, 0.8
RUNS = 3  # simulations a confirmation usually runs: the offered rate, then up twice or down until one passes


def work_s(ask: Ask, rec: Eval) -> float:
    """Seconds the confirmation of `rec` is expected to take at most (`serve.api.work_estimate_s` per run)."""
    from suanli.serve.api import work_estimate_s

    e2e = rec.ttft_mean + (ask.output_len - 1) * rec.tpot_mean
    n = 6 * rec.out_tok_s / ask.output_len * e2e + 400
    if n > MAX_REQUESTS:
        return 0.0  # not simulated (see confirm)
    engines = rec.prefill + rec.decode if rec.mode == "disaggregated" else rec.dp
    return RUNS * work_estimate_s(int(max(MIN_REQUESTS, n)), engines, ask.output_len)


def confirm_batch(ask: Ask, _extra: object, recs: list[Eval]) -> list[dict]:
    return [confirm(ask, r) for r in recs]


def confirm(ask: Ask, rec: Eval) -> dict:
    cat = catalog()
    system = cat.system(rec.system)
    chip = cat.chips[system.chip]
    model_id, arch = model_arch(ask.model)
    spec = Deployment(tp=rec.tp, pp=rec.pp, ep=rec.ep, dp=rec.dp, precision=rec.precision,
                      kv_precision=rec.kv_precision, engine=ask.engine)
    dep = Deployed(arch, chip, system, spec, model_id, ask.calibration)
    coupled = dep.layout.moe_ranks > 1  # EP-coupled dp ranks step together (as validation reads them)
    inp, out = ask.input_len, ask.output_len
    e2e = rec.ttft_mean + (out - 1) * rec.tpot_mean
    one = spec.model_copy(update={"dp": 1})

    def simulate(rate: float) -> tuple[bool, dict]:
        n = int(min(MAX_REQUESTS, max(MIN_REQUESTS, 6 * rate * e2e + 400)))
        lo = min(0.5, max(0.1, 1.5 * e2e * rate / n))
        ranks = rec.dp if coupled else 1  # a coupled engine carries every rank: caps per rank, budget per engine
        cfg = SimConfig(requests=n, seed=0, max_seqs=max(1, rec.max_batch // ranks),
                        disaggregate=(rec.prefill, rec.decode) if rec.mode == "disaggregated" else None,
                        token_budget=rec.token_budget * ranks, arrivals=Arrivals("poisson", rate=rate),
                        input_dist=LengthDist("fixed", {"value": inp}), output_dist=LengthDist("fixed", {"value": out}))
        result = run(dep, lambda: Deployed(arch, chip, system, one, model_id, ask.calibration), cfg)
        s = summarize(result, ask.slo, rec.chips, window=(lo, 0.9))
        served = s["throughput"]["requests_s"] >= 0.9 * rate and s["completed"] == n
        met = served and (s["slo_met"] is not False)
        fig = {"rate_req_s": rate, "requests": n, "met": met, "served": served,
               "ttft_p99_ms": s["ttft_ms"]["p99"], "tpot_p99_ms": s["tpot_ms"]["p99"],
               "ttft_mean_ms": s["ttft_ms"]["mean"], "tpot_mean_ms": s["tpot_ms"]["mean"],
               "output_tok_s": s["throughput"]["output_tok_s"], "slo_attainment": s["slo_attainment"]}
        return met, fig

    rate0 = rec.out_tok_s / out
    if 6 * rate0 * e2e + 400 > MAX_REQUESTS:  # no steady state within the requests a confirmation may take
        return {"ok": None, "figures": None, "runs": [], "reason": f"not simulated: {rate0 * e2e:,.0f} requests in "
                f"flight need more than {MAX_REQUESTS:,} simulated requests to reach a steady state"}
    runs = []
    met, fig = simulate(rate0)
    runs.append(fig)
    best = fig if met else None
    rate = rate0
    if met:
        for _ in range(2):
            rate *= UP
            met, fig = simulate(rate)
            runs.append(fig)
            if not met:
                break
            best = fig
    else:
        for _ in range(3):
            rate *= DOWN
            met, fig = simulate(rate)
            runs.append(fig)
            if met:
                best = fig
                break
    reason = "" if best else _why(runs[0], ask, rate / rate0)
    return {"ok": best is not None, "figures": best, "runs": runs, "reason": reason}


def _why(first: dict, ask: Ask, lowest: float) -> str:
    if not first["served"]:
        what = "the simulated engine did not keep up with the analytic rate"
    else:
        parts = []
        for key, limit in ask.slo.items():
            name, stat = key.split("_")
            got = first.get(f"{name}_{'mean' if stat in ('mean', 'p50') else 'p99'}_ms")
            if got is not None and got > limit * 1e3:
                parts.append(f"{key} {got:.0f} ms > {limit * 1e3:.0f} ms")
        what = "simulated " + (", ".join(parts) if parts else "latencies miss the SLO")
    return f"{what} at the analytic rate, and still at {100 * lowest:.0f}% of it"
