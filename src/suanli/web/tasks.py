"""The work behind the simulate, validate and plan endpoints, runnable inline or in a job process (`jobs.py`).

Each task takes the endpoint's validated parameters (a plain dict) and a `report(fraction, message, eta_s)`
callback, and returns JSON-ready data: the CLI's `--json` output, plus what the pages draw. Simulations are
summarised with downsampled series (latency CDFs at 201 quantiles, throughput and queue length in 120 time bins),
so a 100,000-request run sends a few kilobytes. A simulation's progress is an estimate: a pilot of up to 2,000
requests is timed first and the full run is expected to take proportionally longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from math import inf
from pathlib import Path

import numpy as np

from suanli.web import guard
from suanli.web.schemas import SimulateIn, ValidateIn, as_list

Report = Callable[..., None]
PILOT = 2000


def _quiet(*_a, **_k) -> None:
    return None


def simulate(params: dict, report: Report = _quiet) -> dict:
    from suanli.api import simulate as run

    params = dict(params)
    limit = params.pop("_max_work_s", inf)  # a synchronous request's budget; jobs have none
    req = SimulateIn.model_validate(params)
    guard.model_name(req.model)
    guard.resolve("system", req.system)
    kw = dict(tp=req.tp, pp=req.pp, ep=req.ep, dp=req.dp, precision=req.precision, kv_precision=req.kv_precision,
              engine=req.engine, arrival=req.arrival, rate=req.rate, cv=req.cv, concurrency=req.concurrency,
              input=guard.length_dist(req.input, "input"), output=guard.length_dist(req.output, "output"),
              seed=req.seed, slo=req.slo, disaggregate=req.disaggregate, router=req.router,
              prefix_hit=req.prefix_hit, max_seqs=req.max_seqs, max_tokens=req.max_tokens, max_work_s=limit)
    if req.trace_csv is not None:
        with guard.uploaded(req.trace_csv, "trace") as path:
            return _finish(*run(req.model, req.system, trace=str(path), requests=req.requests, **kw), req)
    if req.requests > PILOT and report is not _quiet:
        report(0.02, f"timing a pilot of {PILOT:,} requests")
        t = time.perf_counter()
        run(req.model, req.system, requests=PILOT, **kw)
        eta = (time.perf_counter() - t) * req.requests / PILOT * 1.1
        report(0.05, f"simulating {req.requests:,} requests (about {eta:.0f} s, estimated from the pilot)", eta)
    else:
        report(0.05, f"simulating {req.requests:,} requests")
    return _finish(*run(req.model, req.system, requests=req.requests, **kw), req)


def _finish(summary: dict, result, req: SimulateIn) -> dict:
    summary["trace"] = "uploaded" if req.trace_csv is not None else None
    if req.series:
        summary["series"] = series(result)
    return summary


def _cdf(values: np.ndarray, points: int = 201) -> dict:
    if values.size == 0:
        return {"x": [], "y": []}
    q = np.linspace(0, 1, points)
    return {"x": np.quantile(values, q).round(6).tolist(), "y": q.round(4).tolist()}


def series(run, bins: int = 120) -> dict:
    """Latency CDFs and, over time, output tokens/s, completed requests/s, requests waiting and in the system."""
    reqs = run.requests
    arrival = np.array([r.arrival for r in reqs])
    first = np.array([r.first_token for r in reqs])
    finish = np.array([r.finish for r in reqs])
    out_tok = np.array([r.output for r in reqs], dtype=float)
    ok = np.isfinite(finish)
    multi = ok & (out_tok > 1)
    ttft = (first[ok] - arrival[ok]) * 1e3
    tpot = (finish[multi] - first[multi]) / (out_tok[multi] - 1) * 1e3
    e2e = finish[ok] - arrival[ok]
    end = float(run.duration_s) or 1.0
    edges = np.linspace(0.0, end, bins + 1)
    width = edges[1] - edges[0]
    # tokens come out evenly between a request's first token and its finish: cumulative tokens at each edge
    cum = np.zeros(bins + 1)
    f, s, n = np.where(ok, finish, end), np.where(np.isfinite(first), first, end), out_tok
    for i in range(0, len(reqs), 10_000):
        a, b, k = s[i:i + 10_000, None], f[i:i + 10_000, None], n[i:i + 10_000, None]
        span = np.maximum(b - a, 1e-12)
        cum += (k * np.clip((edges[None, :] - a) / span, 0.0, 1.0)).sum(axis=0)
    mids = (edges[:-1] + edges[1:]) / 2
    arr_sorted, first_sorted = np.sort(arrival), np.sort(np.where(np.isfinite(first), first, inf))
    fin_sorted = np.sort(np.where(ok, finish, inf))
    arrived = np.searchsorted(arr_sorted, mids, side="right")
    waiting = arrived - np.searchsorted(first_sorted, mids, side="right")
    in_system = arrived - np.searchsorted(fin_sorted, mids, side="right")
    completed, _ = np.histogram(finish[ok], edges)
    return {
        "cdf": {"ttft_ms": _cdf(ttft), "tpot_ms": _cdf(tpot), "e2e_s": _cdf(e2e)},
        "time_s": mids.round(4).tolist(),
        "output_tok_s": (np.diff(cum) / width).round(3).tolist(),
        "requests_s": (completed / width).round(4).tolist(),
        "waiting": waiting.tolist(), "in_system": in_system.tolist(),
    }


VALIDATE_BY = ("hardware", "model", "engine", "source", "scenario", "metric")


def validate(params: dict, report: Report = _quiet) -> dict:
    """`suanli validate --json` on an uploaded CSV or a dataset the server offers (`_path` set by the endpoint)."""
    req = ValidateIn.model_validate({k: v for k, v in params.items() if k != "_path"})
    keys = as_list(req.by)
    for k in keys:
        if k not in VALIDATE_BY:
            from suanli.schema import SuanliError

            raise SuanliError(f"by: {k!r} is not allowed; allowed: {', '.join(VALIDATE_BY)}")
    if req.csv is not None:
        guard.csv_models_safe(req.csv)
        with guard.uploaded(req.csv, "data") as path:
            return _validate_file(path, keys, report)
    return _validate_file(Path(params["_path"]), keys, report)


def _validate_file(path: Path, keys: list[str], report: Report) -> dict:
    from suanli.perf.factors import bundled_calibration
    from suanli.validate.data import load_rows
    from suanli.validate.run import add_intervals, predict_rows, summarize

    t0 = time.perf_counter()
    rows = load_rows(path)
    recs: list[dict] = []
    step = 100
    for i in range(0, len(rows), step):
        report(i / len(rows), f"predicting rows {i + 1:,}-{min(i + step, len(rows)):,} of {len(rows):,}")
        recs += predict_rows(rows[i:i + step])
    add_intervals(recs, bundled_calibration())
    keep = ("id", "metric", "measured", "predicted", "p10", "p90", "ape", "skipped_reason", "hardware", "model",
            "engine", "scenario", "assumptions")
    fam = _families({r["hardware"] for r in recs})
    out_rows = [{**{k: r[k] for k in keep}, "kind": r["kind"], "signed": r.get("signed"),
                 "family": fam.get(r["hardware"], "unknown"), "engine_family": _engine_family(r["engine"])}
                for r in recs]
    return {"rows": out_rows, "summary": summarize(recs, keys), "wall_s": time.perf_counter() - t0,
            "calibration": "bundled calibration"}


def _families(hardware: set[str]) -> dict[str, str]:
    from suanli.catalog import catalog
    from suanli.schema import SuanliError

    cat, out = catalog(), {}
    for hw in hardware:
        for kind in ("chip", "system"):
            try:
                eid = guard.resolve(kind, hw)
            except SuanliError:
                continue
            chip = cat.chips[eid] if kind == "chip" else cat.chips[cat.systems[eid].chip]
            out[hw] = chip.family
            break
    return out


def _engine_family(engine: str) -> str:
    from suanli.engines import resolve_engine

    return resolve_engine(engine, strict=False).id if (engine or "").strip() else "unknown"


def plan(params: dict, report: Report = _quiet) -> dict:
    """The planner (`suanli.plan.plan`), one system at a time so that progress can be shown."""
    from suanli.web.planning import run_plan

    return run_plan(params, report)


def explore(params: dict, report: Report = _quiet) -> dict:
    """`suanli explore --json` on a space sent as JSON (the CLI's option names), with a sample of the feasible
    points for the plot. `_max_points` (set by the server) bounds the space of a synchronous request."""
    from suanli.explore.run import explore as run
    from suanli.explore.space import from_options
    from suanli.schema import SuanliError

    p = dict(params)
    limit = p.pop("_max_points", None)
    allowed = {"base", "vary", "model", "chips", "tp", "batch", "precision", "engine", "input", "output", "where",
               "objectives"}
    unknown = sorted(set(p) - allowed)
    if unknown:
        raise SuanliError(f"{unknown[0]}: unknown explore option; allowed: {', '.join(sorted(allowed))}")

    def items(key: str, kind=str) -> list:
        v = p.get(key)
        vals = v if isinstance(v, list) else [x for x in str(v or "").split(",") if x.strip()]
        bad = kind is int and any(isinstance(x, bool) or (isinstance(x, float) and not x.is_integer()) for x in vals)
        try:
            if bad:
                raise ValueError
            return [kind(x) for x in vals]
        except (TypeError, ValueError, OverflowError):
            raise SuanliError(f"{key}: {v!r} is not a list of {'whole numbers' if kind is int else 'names'}") from None

    def whole(key: str, default: int) -> int:
        v = p.get(key)
        if v is None or v == "":
            return default
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise SuanliError(f"{key}: {v!r} is not a whole number")
        try:
            return int(float(v)) if float(v).is_integer() else int("x")
        except (TypeError, ValueError, OverflowError):
            raise SuanliError(f"{key}: {v!r} is not a whole number") from None

    vary = [str(v) for v in items("vary") if str(v).strip()]
    model = guard.model_name(str(p.get("model") or ""))
    space = from_options(str(p.get("base") or ""), vary, models=[m for m in model.split(",") if m],
                         chips=items("chips", int), tp=items("tp", int) or None, batch=items("batch", int),
                         precision=items("precision"), input=whole("input", 2048), output=whole("output", 256),
                         engine=str(p["engine"]) if p.get("engine") else None)
    from suanli.explore.run import structures_of

    points = len(structures_of(space)) * space.grid_points
    if limit is not None and points > limit:
        raise SuanliError(f"explore: {points:,} points is more than the {limit:,} a request here may take; vary "
                          "fewer steps, or use `suanli explore` on the command line")
    sample: dict[str, list] = {}

    def seen(res: dict) -> None:
        for k, v in res["sample"].items():
            sample.setdefault(k, []).extend(v)

    result = run(space, where=str(p["where"]) if p.get("where") else None,
                 goals=str(p.get("objectives") or "tok_s_per_chip:max,tok_s_per_user:max"), on_chunk=seen)
    result["front"] = result["front"][:2000]
    result["sample"] = sample
    return result


TASKS: dict[str, Callable[[dict, Report], dict]] = {"simulate": simulate, "validate": validate, "plan": plan,
                                                    "explore": explore}
