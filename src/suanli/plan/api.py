"""`plan(...)`: the best deployment of a model on each candidate system for a load and an SLO, and its size.

Steps: check the inputs; list the work items (one per system and layout, `space`); evaluate every candidate
analytically (`sweep`, on `executor`'s backend); per system, send the best few structures to the serving
simulator (`confirm`) and keep the best one it confirms; size it for the load; explain the runners-up and any
system with no feasible deployment (`explain`); collect the Pareto fronts (`pareto`). Returns plain data (the
`--json` output of `suanli plan`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from math import ceil
from pathlib import Path

from suanli.catalog import catalog
from suanli.engines import resolve_engine
from suanli.model.resolve import model_arch
from suanli.perf.factors import Calibration, load_calibration
from suanli.plan import explain
from suanli.plan.confidence import bands, check_confidence, instances_for, margins
from suanli.plan.confirm import confirm_batch, work_s
from suanli.plan.executor import describe, run_map, workers_default
from suanli.plan.load import Load, check_headroom, parse_load
from suanli.plan.objective import ranking, size_and_score, sys_econ
from suanli.plan.pareto import front, point
from suanli.plan.space import (
    BATCHES,
    BUDGETS,
    MODES,
    OBJECTIVES,
    RATIOS,
    Ask,
    Eval,
    layouts_of,
    max_chips_of,
)
from suanli.plan.sweep import ItemResult, evaluate_batch
from suanli.schema import SuanliError, Workload, get_precision
from suanli.schema.errors import validated
from suanli.serve.api import WORK_LIMIT_S
from suanli.serve.workload import parse_slo


def plan(model: str, systems: list[str] | str, *, input: int, output: int, slo: str | dict | None = None,
         load: str | float | Load | None = None, headroom: float = 0.2, objective: str = "throughput-per-chip",
         precision: list[str] | str | None = None, kv_precision: list[str] | str | None = None,
         engine: str | None = None, calibration: str | Calibration | None = None, max_chips: int | None = None,
         disaggregate: bool = True, confirm: int = 3, runners_up: int = 3, prices: dict[str, float] | None = None,
         executor: str = "pool", workers: int | None = None, ray: str | None = None,
         batches: tuple[int, ...] = BATCHES, budgets: tuple[int, ...] = BUDGETS,
         ratios: tuple[tuple[int, int], ...] = RATIOS, confidence: float | None = None,
         progress: Callable | None = None, max_work_s: float = WORK_LIMIT_S, one_node: bool = False) -> dict:
    """Plan deployments; `load` is a string ("20req/s", "30T tok/day"), requests per second, or a Load.

    `executor`: "pool" (default), "serial" or "ray" (also chosen by giving `ray`: "local", "auto" or an address).
    `confirm`: structures per system checked with the serving simulator (0: analytic figures only).
    `confidence` (0.5 to 0.9): size so that the SLOs hold and the load is carried at that confidence, on the
    pessimistic side of the interval bands (`plan.confidence`); None sizes on the predictions themselves.
    `progress(label, total)`: a context manager yielding tick(n), for a progress bar (the CLI's), or None.
    `max_work_s`: confirmations estimated to take longer than this (spread over the workers) are refused before
    they start (the CLI's --force lifts it). `one_node`: deployment units of at most one node of each system (launch
    files for an engine that cannot span nodes)."""
    t0 = time.perf_counter()
    ask, names, load_ = _ask(model, systems, input, output, slo, load, headroom, objective, precision, kv_precision,
                             engine, calibration, max_chips, disaggregate, batches, budgets, ratios, confirm)
    ask = replace(ask, confidence=check_confidence(confidence))
    backend = "ray" if ray else executor
    if backend not in ("pool", "serial", "ray"):
        raise SuanliError(f"executor: {executor!r} is not allowed; allowed: pool, serial, ray")
    if workers is not None and not 1 <= workers <= 256:
        raise SuanliError(f"workers: {workers} is not allowed; give 1 to 256 processes")
    workers = workers or workers_default()
    cat = catalog()
    _, arch = model_arch(ask.model)
    econ, items, limits, stacks = {}, [], {}, {}
    for sid in names:
        system = cat.system(sid)
        econ[sid] = sys_econ(system, cat.chips[system.chip], prices)
        limits[sid] = max_chips_of(system, ask.max_chips)
        if one_node:
            limits[sid] = min(limits[sid], system.chips_per_node)
        try:
            stacks[sid] = resolve_engine(ask.engine, cat.chips[system.chip].family)
        except SuanliError as e:  # an engine that does not run on this system: the others are still planned
            stacks[sid] = str(e)
            continue
        items += [(sid, (lay.tp, lay.pp, lay.ep, lay.dp))
                  for lay in layouts_of(arch, system, limits[sid], ask.modes, stacks[sid].features)]
    families = {sid: cat.chips[cat.system(sid).chip].family for sid in names}
    ask = replace(ask, margins={sid: margins(ask.calibration, families[sid], st, ask.confidence)
                                for sid, st in stacks.items() if not isinstance(st, str)})
    n_batches = 1 if backend == "serial" else min(len(items), 4 * workers)
    batches_ = [items[i::n_batches] for i in range(n_batches)] if items else []
    with (progress or _silent)("searching deployments", len(batches_)) as tick:
        results: list[ItemResult] = [r for batch in run_map(evaluate_batch, ask, econ, batches_, backend, workers,
                                                            ray, tick) for r in batch]
    sweep_s = time.perf_counter() - t0
    by_sys = {sid: [r for r in results if r.system == sid] for sid in names}
    tops = {sid: _structure_tops(rs) for sid, rs in by_sys.items()}
    _confirm(ask, econ, tops, confirm, backend, workers, ray, max_work_s)
    out_systems, pareto = [], []
    for sid in names:
        rs = by_sys[sid]
        out_systems.append(_system_result(ask, sid, rs, tops[sid], econ[sid].note, limits[sid], runners_up, confirm))
        if isinstance(stacks[sid], str):
            out_systems[-1]["infeasible_reason"] = stacks[sid]
        else:
            out_systems[-1]["engine"] = stacks[sid].to_dict()
            add_bands(out_systems[-1], ask, families[sid], stacks[sid])
            for c in [out_systems[-1]["best"], *out_systems[-1]["runners_up"]] if out_systems[-1]["best"] else []:
                c["memory_utilization"] = stacks[sid].features.memory_utilization  # the share the plan assumed
        pts = front([p for r in rs for p in r.pareto])
        pareto.append({"system": sid, "points": [point(p) for p in pts]})
    counts: dict[str, int] = {}
    for r in results:
        for k, v in r.counts.items():
            counts[k] = counts.get(k, 0) + v
    evaluated = sum(counts.values())
    return {
        "model": ask.model, "input": ask.input_len, "output": ask.output_len,
        "slo_ms": {k: v * 1e3 for k, v in ask.slo.items()},
        "load": None if load_ is None else {"text": load_.text, "requests_s": load_.requests_s,
                                            "output_tok_s": load_.output_tok_s, "total_tok_s": load_.total_tok_s,
                                            "described": load_.describe()},
        "headroom": ask.headroom, "objective": ask.objective, "confidence": ask.confidence,
        "systems": out_systems, "pareto": pareto,
        "search": {"candidates": evaluated, "by_status": dict(sorted(counts.items())),
                   "step_evaluations": sum(r.steps for r in results), "work_items": len(items),
                   "sweep_s": sweep_s, "candidates_per_s": evaluated / sweep_s if sweep_s > 0 else None,
                   "total_s": time.perf_counter() - t0, "executor": describe(backend, workers, ray)},
    }


@contextmanager
def _silent(label: str, total: int):
    yield lambda n=1: None


def _ask(model, systems, input, output, slo, load, headroom, objective, precision, kv_precision, engine,
         calibration, max_chips, disaggregate, batches, budgets, ratios, confirm) -> tuple[Ask, list[str], Load | None]:
    cat = catalog()
    model_id, _ = model_arch(model)
    names = [s.strip() for s in (systems.split(",") if isinstance(systems, str) else systems) if s.strip()]
    if not names:
        raise SuanliError("systems: give at least one system id")
    names = list(dict.fromkeys(cat.system(s).id for s in names))  # unknown ids fail here, before any work
    wl = validated(Workload, dict(input_len=input, output_len=output), "workload")
    slo_ = parse_slo(slo) if isinstance(slo, str) or slo is None else dict(parse_slo(",".join(
        f"{k}={v * 1e3:g}ms" for k, v in slo.items())))
    if objective not in OBJECTIVES:
        raise SuanliError(f"objective: {objective!r} is not allowed; allowed: {', '.join(OBJECTIVES)}")
    if isinstance(load, Load):
        load_ = load
    elif isinstance(load, int | float):
        if not load > 0:
            raise SuanliError(f"load: {load} req/s is not allowed; give a positive rate")
        load_ = Load(f"{load:g} req/s", float(load), wl.input_len, wl.output_len)
    else:
        load_ = parse_load(load, wl.input_len, wl.output_len) if load else None
    if objective == "chips" and load_ is None:
        raise SuanliError("objective: chips needs a load (--load, e.g. 20req/s) to count chips for")
    if max_chips is not None and max_chips < 1:
        raise SuanliError(f"max-chips: {max_chips} is not allowed; give at least 1")
    if confirm < 0:
        raise SuanliError(f"confirm: {confirm} is not allowed; give 0 (analytic only) or more")
    for name, grid in (("batches", batches), ("budgets", budgets)):
        if not grid or any(int(b) < 1 for b in grid):
            raise SuanliError(f"{name}: {list(grid)} is not allowed; give positive integers")
    if any(p < 1 or d < 1 for p, d in ratios):
        raise SuanliError(f"ratios: {list(ratios)} is not allowed; give P:D pairs of at least 1:1")
    cal = calibration if isinstance(calibration, Calibration) or calibration is None else \
        load_calibration(calibration)
    ask = Ask(model=model if Path(model).exists() else model_id, input_len=wl.input_len,
              output_len=wl.output_len, slo=slo_, load_out_tok_s=load_.output_tok_s if load_ else None,
              headroom=check_headroom(headroom), objective=objective, engine=engine, calibration=cal,
              precisions=_precisions(precision, "precision"), kv_precisions=_precisions(kv_precision, "kv-precision"),
              budgets=tuple(sorted({int(b) for b in budgets})), batches=tuple(sorted({int(b) for b in batches})),
              ratios=tuple(ratios) if disaggregate else (), modes=MODES if disaggregate else ("colocated",),
              max_chips=max_chips)
    return ask, names, load_


def _precisions(value: list[str] | str | None, field: str) -> tuple[str, ...] | None:
    if not value:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return tuple(dict.fromkeys(get_precision(p.strip(), field).name for p in items if p.strip())) or None


def _structure_tops(results: list[ItemResult]) -> list[Eval]:
    """The best candidate of every structure, best first."""
    seen, tops = set(), []
    for r in sorted((b for res in results for b in res.best), key=ranking):
        if r.structure not in seen:
            seen.add(r.structure)
            tops.append(r)
    return tops


def _confirm(ask: Ask, econ: dict, tops: dict[str, list[Eval]], n: int, backend: str, workers: int,
             ray: str | None, max_work_s: float) -> None:
    """Simulate the best `n` structures of each system (a second round of `n` where none passes)."""
    if n <= 0:
        return
    for _ in range(2):
        todo = [r for rs in tops.values() if not any(_eligible(x) for x in rs)
                for r in _distinct([x for x in rs if x.sim is None], n)]
        if not todo:
            return
        est = sum(work_s(ask, r) for r in todo) / (1 if backend == "serial" else workers)
        if est > max_work_s:
            raise SuanliError(f"confirm: simulating {len(todo)} structures is about {est:,.0f} s of work, over the "
                              f"{max_work_s:,.0f} s allowed here; give --confirm 1 (or 0: analytic figures only), "
                              "fewer systems, or on the CLI add --force")
        nb = 1 if backend == "serial" else min(len(todo), 2 * workers)
        batches = [todo[i::nb] for i in range(nb)]
        done = run_map(confirm_batch, ask, None, batches, backend, workers, ray)
        for batch, results in zip(batches, done, strict=True):
            for rec, res in zip(batch, results, strict=True):
                rec.sim = res
                if res["ok"]:
                    _apply(rec, res["figures"], ask, econ[rec.system])


def _eligible(r: Eval) -> bool:
    """Confirmed by the simulator, or too large to simulate (analytic figures stand)."""
    return r.simulated or (r.sim is not None and r.sim.get("ok") is None)


def _similar(a: Eval, b: Eval) -> bool:
    """Structures that differ only in the KV precision."""
    return (a.mode, a.tp, a.pp, a.ep, a.dp, a.precision) == (b.mode, b.tp, b.pp, b.ep, b.dp, b.precision)


def _distinct(recs: list[Eval], n: int, chosen: list[Eval] | None = None) -> list[Eval]:
    """The first n records that are not similar to one another nor to `chosen`."""
    taken = list(chosen or [])
    out = []
    for r in recs:
        if len(out) >= n:
            break
        if not any(_similar(r, c) for c in taken):
            out.append(r)
            taken.append(r)
    return out


def _apply(rec: Eval, fig: dict, ask: Ask, econ) -> None:
    rec.analytic = replace(rec, sim=None, analytic=None)
    rec.ttft_p99, rec.tpot_p99 = fig["ttft_p99_ms"] / 1e3, fig["tpot_p99_ms"] / 1e3
    rec.ttft_mean, rec.tpot_mean = fig["ttft_mean_ms"] / 1e3, fig["tpot_mean_ms"] / 1e3
    rec.out_tok_s = min(fig["output_tok_s"], fig["rate_req_s"] * ask.output_len)  # what it was shown to hold
    rec.simulated = True
    size_and_score(rec, ask, econ)


def _system_result(ask: Ask, sid: str, rs: list[ItemResult], tops: list[Eval], econ_note: str, max_chips: int,
                   runners_up: int, confirm: int) -> dict:
    system = catalog().system(sid)
    notes = [econ_note] if econ_note and ask.objective in ("cost", "tokens-per-joule") else []
    row = {"system": sid, "chip": system.chip, "best": None, "runners_up": [], "infeasible_reason": None,
           "notes": notes, "candidates": sum(sum(r.counts.values()) for r in rs)}
    if not tops:
        slo_text = ",".join(f"{k}={v * 1e3:g}ms" for k, v in ask.slo.items())
        row["infeasible_reason"] = explain.infeasible(ask, sid, [m for r in rs for m in r.memory],
                                                      [m for r in rs for m in r.nearest],
                                                      [m for r in rs for m in r.errors], max_chips, slo_text)
        return row
    confirmed = [r for r in tops if _eligible(r)]
    best = min(confirmed, key=ranking) if confirmed else tops[0]
    if best.sim is not None and best.sim.get("ok") is None:
        notes.append(best.sim["reason"] + "; the plan's figures are analytic")
    if confirm and not confirmed:
        notes.append(f"the serving simulator confirmed none of the best {min(len(tops), 2 * confirm)} structures "
                     "at the SLO; figures are analytic")
    row["best"] = candidate_dict(best, system)
    row["runners_up"] = [{**candidate_dict(r, system), "lost_because": explain.lost_because(ask, r, best)}
                         for r in _runners_up(best, tops, runners_up)]
    row["best"]["limited_by"] = explain.why_limited(best) or None
    return row


def _runners_up(best: Eval, tops: list[Eval], k: int) -> list[Eval]:
    """Up to k other structures, best first, that differ from the plan and from each other in more than the KV
    precision; the best of another weight precision and of the other mode (colocated/disaggregated) get a place."""
    pool = sorted((r for r in tops if r is not best), key=_analytic_rank)
    chosen = [best]
    for want in (lambda r: r.precision != best.precision, lambda r: r.mode != best.mode):
        if len(chosen) <= k:
            chosen += _distinct([r for r in pool if want(r)], 1, chosen)
    chosen += _distinct(pool, k + 1 - len(chosen), chosen)
    return sorted(chosen[1:], key=_analytic_rank)


def _analytic_rank(r: Eval) -> tuple:
    return ranking(r.analytic or r)


def candidate_dict(r: Eval, system) -> dict:
    count = r.instances * (r.prefill + r.decode if r.mode == "disaggregated" else 1)
    n = r.instance_chips
    return {
        "label": r.label(), "tp": r.tp, "pp": r.pp, "ep": r.ep, "dp": r.dp, "precision": r.precision,
        "kv_precision": r.kv_precision, "max_batch": r.max_batch, "token_budget": r.token_budget,
        "disaggregated": r.mode == "disaggregated", "prefill_decode_ratio": r.ratio,
        "ttft_p99_ms": r.ttft_p99 * 1e3, "tpot_p99_ms": r.tpot_p99 * 1e3, "ttft_mean_ms": r.ttft_mean * 1e3,
        "tpot_mean_ms": r.tpot_mean * 1e3, "output_tok_s_per_chip": r.per_chip, "tok_s_per_user": r.tok_s_per_user,
        "unit_chips": r.chips, "unit_output_tok_s": r.out_tok_s, "instances": r.instances,
        "fleet_utilization": r.utilization,
        "chips_needed": r.chips_needed, "nodes_needed": _packed(count, n, system.chips_per_node),
        "units_needed": _packed(count, n, system.chips), "usd_per_mtok": r.usd_per_mtok,
        "tokens_per_joule": r.tokens_per_joule, "simulated": r.simulated,
        "analytic": None if r.analytic is None else {
            "ttft_p99_ms": r.analytic.ttft_p99 * 1e3, "tpot_p99_ms": r.analytic.tpot_p99 * 1e3,
            "output_tok_s_per_chip": r.analytic.per_chip, "tok_s_per_user": r.analytic.tok_s_per_user,
            "chips_needed": r.analytic.chips_needed},
        "simulation_runs": (r.sim or {}).get("runs"),
    }


def add_bands(row: dict, ask: Ask, family: str, stack) -> None:
    """Intervals on each candidate's figures and, at a confidence, what it costs in chips against the central
    prediction (the same deployment sized on its predicted throughput)."""
    for c in [row["best"], *row["runners_up"]] if row["best"] else []:
        mode = "disaggregated" if c["disaggregated"] else "colocated"
        found = bands(ask.calibration, family, stack, mode)
        c["intervals"] = {}
        for name, metric in (("output_tok_s_per_chip", "throughput"), ("ttft_p99_ms", "ttft"),
                             ("tpot_p99_ms", "tpot")):
            if metric in found and c[name]:
                key, band = found[metric]
                c["intervals"][name] = {"p10": c[name] * band["p10"], "p90": c[name] * band["p90"],
                                        "basis": f"held-out residuals of {int(band['rows'])} rows, class {key}"}
        if ask.confidence is not None and ask.load_out_tok_s:
            central = instances_for(ask.load_out_tok_s, ask.headroom, c["unit_output_tok_s"])
            at_central = central * c["chips_needed"] // max(1, c["instances"])
            c["confidence"] = {"level": ask.confidence, "margins": ask.margins.get(row["system"], {}).get(mode, {}),
                               "chips_at_central_prediction": at_central,
                               "extra_chips": c["chips_needed"] - at_central}


def _packed(instances: int, chips_each: int, per_box: int) -> int:
    """Boxes (nodes, or units of the system) that hold `instances` instances of `chips_each` chips."""
    if chips_each >= per_box:
        return instances * ceil(chips_each / per_box)
    return ceil(instances / (per_box // chips_each))
