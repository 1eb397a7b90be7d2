"""`simulate(build, layout, ...)`: the serving simulation behind `suanli simulate`, from a deployment and plain
options to a summary; its bounds, and the per-request CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from suanli.perf.deployed import Deployed
from suanli.schema import Deployment, SuanliError
from suanli.schema.files import output_path, write_atomic
from suanli.serve.metrics import summarize
from suanli.serve.sim import SimConfig, SimRun, clients_in_step, run
from suanli.serve.workload import arrivals, parse_dist, parse_slo, read_trace

# Bounds on one simulation's work (about 10 us of wall time per request-iteration on one core): a call past them is
# refused in one line before it starts, on the CLI and in the web service alike
MAX_REQUESTS = 200_000
MAX_SEQS = 65_536  # running sequences per instance: past any memory's room for one token each
MAX_TOKEN_BUDGET = 1_048_576
MAX_CLIENTS = 1_000_000
MAX_ENGINES = 1_024  # simulated instances (dp replicas, or prefill + decode)
# wall time of a simulation, measured 2026-12-06 on the 2-core development machine (llama-3.1-8b, 20,000
# requests of 2,000 prompt tokens): 0.54 ms per request of 2,000 output tokens on one instance, 0.04 ms of 200;
# 0.17 ms of 800 on 8 instances, 0.25 ms on 64, 2.4 ms of 2,000 on 1,024. Decode steps run in blocks that each
# arrival cuts, so the cost grows with the output length, and the router visits every instance per request.
WORK_S_PER_REQUEST, WORK_S_PER_TOKEN, INSTANCES_PER_DOUBLING = 20e-6, 0.25e-6, 256
WORK_LIMIT_S = 300.0  # what the CLI runs without --force


def work_estimate_s(requests: int, engines: int, mean_output: float) -> float:
    """Seconds a simulation of `requests` of `mean_output` generated tokens over `engines` instances is expected
    to take at most (the measurements above, with margin)."""
    return requests * (WORK_S_PER_REQUEST + mean_output * WORK_S_PER_TOKEN) * (1 + engines / INSTANCES_PER_DOUBLING)


def simulate(build: Callable[[Deployment], Deployed], dep_spec: Deployment, *, arrival: str = "poisson",
             rate: float | None = None, cv: float | None = None, concurrency: int | None = None,
             input: str = "1024", output: str = "128", trace: str | None = None, requests: int = 1000,
             seed: int = 0, slo: str | None = None, disaggregate: str | None = None, router: str = "least-loaded",
             prefix_hit: float = 0.0, max_seqs: int | None = None,
             max_tokens: int | None = None, max_work_s: float = WORK_LIMIT_S,
             on_done: Callable[[int], None] | None = None) -> tuple[dict, SimRun]:
    """Simulate a deployment that `build` makes from a layout (the service layer, `suanli.api.simulate`, resolves
    the model and system ids into it); every option is bounded before any work starts, and so is the work:
    a run estimated at more than `max_work_s` seconds is refused (`--force` on the CLI lifts the limit)."""
    dp = dep_spec.dp
    _bounded("requests", requests, 1, MAX_REQUESTS)
    _bounded("seed", seed, 0, 2**32 - 1)
    if max_tokens is not None:
        _bounded("max-tokens", max_tokens, 1, MAX_TOKEN_BUDGET)
    if concurrency is not None:
        _bounded("concurrency", concurrency, 1, MAX_CLIENTS)
    if router not in ("least-loaded", "round-robin"):
        raise SuanliError(f"router: {router!r} is not allowed; allowed: least-loaded, round-robin")
    if not 0 <= prefix_hit < 1:
        raise SuanliError(f"prefix-hit: {prefix_hit} is not allowed; give a share in [0, 1)")
    if max_seqs is not None:
        _bounded("max-seqs", max_seqs, 1, MAX_SEQS)
    split = _ratio(disaggregate) if disaggregate else None
    engines = sum(split) if split else dp
    if engines > MAX_ENGINES:
        raise SuanliError(f"{'disaggregate' if split else 'dp'}: {engines} engine instances is not allowed; the "
                          f"simulator runs at most {MAX_ENGINES:,} (simulate one replica's share of the load)")
    if split and (dp > 1):
        raise SuanliError("disaggregate: give the instance counts as P:D and leave dp=1 (each instance is tp x pp "
                          "chips)")
    dep = build(dep_spec)
    cfg = SimConfig(requests=requests, seed=seed, router=router, disaggregate=split, prefix_hit=prefix_hit,
                    max_seqs=max_seqs or dep.stack.features.max_num_seqs, on_done=on_done)  # the engine's default cap
    if max_tokens:
        cfg.token_budget = max_tokens
    if trace:
        cfg.trace = read_trace(trace)
    if not trace:
        kind = "concurrency" if concurrency and arrival == "poisson" and rate is None else arrival
        cfg.arrivals = arrivals(kind, rate, cv, concurrency)
        cfg.input_dist, cfg.output_dist = parse_dist(input, "input"), parse_dist(output, "output")
    mean_out = float(cfg.trace.output_tokens.mean()) if trace else cfg.output_dist.mean
    _affordable(len(cfg.trace.arrival_s) if trace else requests, engines, mean_out, max_work_s)
    make_replica = lambda: build(dep_spec.model_copy(update={"dp": 1}))  # noqa: E731
    result = run(dep, make_replica, cfg)
    chips = dep.layout.chips if not split else sum(split) * dep.layout.tp * dep.layout.pp
    summary = summarize(result, parse_slo(slo), chips)
    summary.update({"model": dep.model_id, "system": dep.system.id, "chips": chips,
                    "deployment": dep_spec.model_dump(), "disaggregate": list(split) if split else None,
                    "factors": dep.factors_note, "engine": dep.engine_dict, "max_seqs": cfg.max_seqs})
    closed = not trace and kind == "concurrency"
    if closed:  # how the closed loop's clients started (serve/sim._lifetime): it sets TTFT with equal lengths
        summary["clients_start"] = (
            "in step: the engine keeps prompts and decodes in separate steps, which holds equal-length clients "
            "together" if clients_in_step(dep) else
            "spread over one request's lifetime (a long benchmark's clients drift apart)")
    summary["intervals"] = _bands(dep, summary, engines, bool(split), closed)
    return summary, result


def _bands(dep: Deployed, summary: dict, engines: int, split: bool, closed: bool) -> dict:
    """Intervals on the latency percentiles (and on throughput in a closed loop, where it follows the speed; at an
    offered rate the engine keeps up with, throughput is that rate, not a prediction)."""
    from suanli.perf.intervals import Case, chip_and_engine, interval, load_class

    per_rank = (summary.get("batch_size") or {}).get("mean", 1.0) / max(1, engines)
    chip, engine = chip_and_engine(dep.factors_note, dep.stack)
    serving = "disaggregated" if split else "colocated"
    out: dict = {}
    figures = [(f"{m}.{stat}", m.split("_")[0], v) for m in ("ttft_ms", "tpot_ms")
               for stat, v in (summary.get(m) or {}).items()]
    if closed:
        figures += [(f"throughput.{k}", "throughput", v) for k, v in (summary.get("throughput") or {}).items()
                    if "tok_s" in k]
    for name, metric, value in figures:
        iv = interval(dep.interval_table, Case(metric, chip, engine, load_class(per_rank), serving), value)
        if iv:
            out[name] = iv
    return out


def _bounded(name: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise SuanliError(f"{name}: {value} is not allowed; give {lo:,} to {hi:,}")


def _ratio(text: str) -> tuple[int, int]:
    try:
        p, d = (int(x) for x in text.split(":"))
    except ValueError:
        raise SuanliError(f"disaggregate: {text!r} is not P:D (prefill : decode instances, e.g. 1:3)") from None
    if p < 1 or d < 1:
        raise SuanliError(f"disaggregate: {text!r} needs at least one prefill and one decode instance")
    return p, d


def write_requests(run_: SimRun, path: str | Path) -> None:
    """One CSV row per request, written atomically (check the path with `output_path` before simulating)."""
    fh = io.StringIO()
    w = csv.writer(fh)
    w.writerow(["id", "arrival_s", "input_tokens", "output_tokens", "ttft_ms", "tpot_ms", "e2e_s",
                "preemptions", "instance"])
    for r in run_.requests:
        tpot = (r.finish - r.first_token) / (r.output - 1) * 1e3 if r.output > 1 else ""
        w.writerow([r.rid, f"{r.arrival:.6f}", r.prompt, r.output, f"{(r.first_token - r.arrival) * 1e3:.3f}",
                    f"{tpot:.3f}" if tpot != "" else "", f"{r.finish - r.arrival:.6f}", r.preemptions,
                    r.replica])
    write_atomic(output_path(path, "per-request"), fh.getvalue())


def _affordable(requests: int, engines: int, mean_output: float, limit_s: float) -> None:
    est = work_estimate_s(requests, engines, mean_output)
    if est > limit_s:
        raise SuanliError(f"requests: {requests:,} on {engines:,} instances is about {est:,.0f} s of simulation, "
                          f"over the {limit_s:,.0f} s allowed here; simulate fewer requests (a replica's share of "
                          "the load), or on the CLI add --force")
