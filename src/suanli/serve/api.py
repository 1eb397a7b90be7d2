"""`simulate(...)`: the serving simulation behind `suanli simulate`, from plain arguments to a summary."""

from __future__ import annotations

import csv
from pathlib import Path

from suanli.perf.predict import deploy
from suanli.schema import Deployment, SuanliError
from suanli.schema.errors import validated
from suanli.serve.metrics import summarize
from suanli.serve.sim import SimConfig, SimRun, run
from suanli.serve.workload import arrivals, parse_dist, parse_slo, read_trace


def simulate(model: str, system: str, *, tp: int = 1, pp: int = 1, ep: int = 1, dp: int = 1,
             precision: str = "bf16", kv_precision: str | None = None, engine: str | None = None,
             arrival: str = "poisson", rate: float | None = None, cv: float | None = None,
             concurrency: int | None = None, input: str = "1024", output: str = "128", trace: str | None = None,
             requests: int = 1000, seed: int = 0, slo: str | None = None, disaggregate: str | None = None,
             router: str = "least-loaded", prefix_hit: float = 0.0, max_seqs: int | None = None,
             max_tokens: int | None = None, calibration=None) -> tuple[dict, SimRun]:
    dep_spec = validated(Deployment, dict(tp=tp, pp=pp, ep=ep, dp=dp, precision=precision,
                                          kv_precision=kv_precision, engine=engine), "deployment")
    if requests < 1:
        raise SuanliError(f"requests: {requests} is not allowed; simulate at least 1 request")
    if router not in ("least-loaded", "round-robin"):
        raise SuanliError(f"router: {router!r} is not allowed; allowed: least-loaded, round-robin")
    if not 0 <= prefix_hit < 1:
        raise SuanliError(f"prefix-hit: {prefix_hit} is not allowed; give a share in [0, 1)")
    if max_seqs is not None and max_seqs < 1:
        raise SuanliError(f"max-seqs: {max_seqs} is not allowed; give at least 1")
    split = _ratio(disaggregate) if disaggregate else None
    if split and (dp > 1):
        raise SuanliError("disaggregate: give the instance counts as P:D and leave dp=1 (each instance is tp x pp "
                          "chips)")
    dep = deploy(model, system, dep_spec, calibration)
    cfg = SimConfig(requests=requests, seed=seed, router=router, disaggregate=split, prefix_hit=prefix_hit,
                    max_seqs=max_seqs or dep.stack.features.max_num_seqs)  # the engine's default cap
    if max_tokens:
        cfg.token_budget = max_tokens
    if trace:
        cfg.trace = read_trace(trace)
    else:
        kind = "concurrency" if concurrency and arrival == "poisson" and rate is None else arrival
        cfg.arrivals = arrivals(kind, rate, cv, concurrency)
        cfg.input_dist, cfg.output_dist = parse_dist(input, "input"), parse_dist(output, "output")
    make_replica = lambda: deploy(model, system, dep_spec.model_copy(update={"dp": 1}), calibration)  # noqa: E731
    result = run(dep, make_replica, cfg)
    chips = dep.layout.chips if not split else sum(split) * dep.layout.tp * dep.layout.pp
    summary = summarize(result, parse_slo(slo), chips)
    summary.update({"model": dep.model_id, "system": dep.system.id, "chips": chips,
                    "deployment": dep_spec.model_dump(), "disaggregate": list(split) if split else None,
                    "factors": dep.factors_note, "engine": dep.stack.to_dict(), "max_seqs": cfg.max_seqs})
    return summary, result


def _ratio(text: str) -> tuple[int, int]:
    try:
        p, d = (int(x) for x in text.split(":"))
    except ValueError:
        raise SuanliError(f"disaggregate: {text!r} is not P:D (prefill : decode instances, e.g. 1:3)") from None
    if p < 1 or d < 1:
        raise SuanliError(f"disaggregate: {text!r} needs at least one prefill and one decode instance")
    return p, d


def write_requests(run_: SimRun, path: str | Path) -> None:
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "arrival_s", "input_tokens", "output_tokens", "ttft_ms", "tpot_ms", "e2e_s",
                    "preemptions", "instance"])
        for r in run_.requests:
            tpot = (r.finish - r.first_token) / (r.output - 1) * 1e3 if r.output > 1 else ""
            w.writerow([r.rid, f"{r.arrival:.6f}", r.prompt, r.output, f"{(r.first_token - r.arrival) * 1e3:.3f}",
                        f"{tpot:.3f}" if tpot != "" else "", f"{r.finish - r.arrival:.6f}", r.preemptions,
                        r.replica])
