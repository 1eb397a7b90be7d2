"""One work item of the sweep: every candidate of one layout on one system, reduced to what the plan needs.

An item builds a `Deployed` per (precision, KV precision) once and varies the token budget, the batch cap and the
prefill:decode ratio on it, after pruning caps whose KV cache does not fit. It returns, per structure (mode,
layout, precisions): the best feasible candidate by the objective (with what keeps its batch cap from growing),
the SLO-failing candidate nearest to feasible, a memory record when nothing fits, and the Pareto front of
everything that fits. Items are pure functions of their inputs, so a serial loop, a process pool and Ray give
identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.plan.evaluate import Unit
from suanli.plan.objective import SysEcon, ranking, size_and_score
from suanli.plan.pareto import front
from suanli.plan.space import Ask, Eval, native_precisions
from suanli.schema import Deployment, SuanliError

Item = tuple[str, tuple[int, int, int, int]]  # (system id, (tp, pp, ep, dp))


@dataclass
class ItemResult:
    system: str
    best: list[Eval] = field(default_factory=list)  # per structure: the best feasible candidate
    nearest: list[Eval] = field(default_factory=list)  # per structure: the SLO-failing one closest to its limits
    memory: list[Eval] = field(default_factory=list)  # per structure that fits no sequence at any budget
    errors: list[Eval] = field(default_factory=list)  # deployments the perf model refuses (precision, links)
    pareto: list[Eval] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # candidates by status
    steps: int = 0  # step-time evaluations


def slo_check(rec: Eval, ask: Ask) -> Eval:
    """Set status slo_<metric> and the worst latency/limit ratio. p50/mean limits apply to the mean figures,
    p90/p99 limits to the p99 figures (a p90 limit is checked conservatively)."""
    worst, metric = 0.0, ""
    for key, limit in ask.slo.items():
        name, stat = key.split("_")
        hi = stat in ("p90", "p99")
        ttft, tpot = (rec.ttft_p99, rec.tpot_p99) if hi else (rec.ttft_mean, rec.tpot_mean)
        ttft *= ask.margin(rec.system, rec.mode, "ttft")  # 1 unless a confidence is asked
        tpot *= ask.margin(rec.system, rec.mode, "tpot")
        value = {"ttft": ttft, "tpot": tpot, "e2e": ttft + (ask.output_len - 1) * tpot}[name]
        if value / limit > worst:
            worst, metric = value / limit, name
    rec.violation = worst
    if worst > 1.0 + 1e-12:
        rec.status = f"slo_{metric}"
    return rec


def evaluate_batch(ask: Ask, econ: dict[str, SysEcon], items: list[Item]) -> list[ItemResult]:
    return [evaluate_item(ask, econ.get(item[0]), item) for item in items]


def evaluate_item(ask: Ask, econ: SysEcon | None, item: Item) -> ItemResult:
    sid, (tp, pp, ep, dp) = item
    cat = catalog()
    system = cat.system(sid)
    chip = cat.chips[system.chip]
    model_id, arch = model_arch(ask.model)
    native_w, native_kv = native_precisions(chip)
    res = ItemResult(sid)
    modes = [m for m in ask.modes if (m == "colocated" and (dp == 1 or ep > 1)) or (m == "disaggregated" and dp == 1)]
    activity = ask.objective in ("cost", "tokens-per-joule")
    ttft_limit = min((v for k, v in ask.slo.items() if k in ("ttft_p90", "ttft_p99")), default=None)
    for prec in ask.precisions or native_w:
        for kv in ask.kv_precisions or native_kv:
            spec = Deployment(tp=tp, pp=pp, ep=ep, dp=dp, precision=prec, kv_precision=kv, engine=ask.engine)
            proto = dict(system=sid, tp=tp, pp=pp, ep=ep, dp=dp, precision=prec, kv_precision=kv)
            try:
                dep = Deployed(arch, chip, system, spec, model_id, ask.calibration)
            except SuanliError as e:
                for mode in modes:
                    res.errors.append(Eval(mode=mode, status="error", note=str(e), **proto))
                continue
            unit = Unit(dep, ask.input_len, ask.output_len)
            for mode in modes:
                recs = _structure(unit, ask, econ, mode, proto, activity, ttft_limit, res)
                _reduce(recs, ask, res)
            res.steps += unit.steps
    res.pareto = front(res.pareto)
    return res


def _structure(unit: Unit, ask: Ask, econ: SysEcon | None, mode: str, proto: dict, activity: bool,
               ttft_limit: float | None, res: ItemResult) -> list[Eval]:
    dep = unit.dep
    ranks = dep.layout.dp
    out: list[Eval] = []
    fitted = False
    for budget in ask.budgets:
        fit = unit.seqs_fit(budget, max(ask.batches))
        if fit < 1:
            continue
        fitted = True
        for cap in sorted({b for b in ask.batches if b <= fit} | {fit}):
            base = Eval(mode=mode, token_budget=budget, max_batch=cap * ranks, seqs_fit=fit, chips=dep.layout.chips,
                        **proto)
            recs = [unit.colocated(base, activity)] if mode == "colocated" else \
                unit.disaggregated(base, ask.ratios, ttft_limit, activity)
            for r in recs:
                if r.status == "ok":
                    slo_check(r, ask)
                if r.status == "ok":
                    size_and_score(r, ask, econ)
                res.counts[r.status] = res.counts.get(r.status, 0) + 1
            out.extend(recs)
    if not fitted:
        full = ask.input_len + ask.output_len
        m = dep.memory(1, full, min(ask.budgets)).as_gb()
        note = (f"weights {m['weights']:.1f} GB + activations {m['activations']:.1f} GB + reserve "
                f"{m['reserve']:.1f} GB leave no room for the KV cache of one {full}-token sequence "
                f"({m['kv_cache']:.2f} GB) in {m['capacity']:.1f} GB per chip")
        res.memory.append(Eval(mode=mode, status="memory", note=note, chips=dep.layout.chips, **proto))
        res.counts["memory"] = res.counts.get("memory", 0) + 1
    return out


def _reduce(recs: list[Eval], ask: Ask, res: ItemResult) -> None:
    ok = [r for r in recs if r.status == "ok"]
    if ok:
        top = min(ok, key=ranking)
        top.limit = _limit(top, recs, max(ask.batches))
        res.best.append(top)
    slo = [r for r in recs if r.status.startswith("slo")]
    if slo:
        res.nearest.append(min(slo, key=lambda r: (r.violation, r.key)))
    res.pareto = front(res.pareto + [r for r in recs if r.status == "ok" or r.status.startswith("slo")])


def _limit(top: Eval, recs: list[Eval], grid_max: int) -> str:
    """What stops the best candidate's batch cap from growing: the next cap up (same budget and ratio)."""
    same = sorted((r for r in recs if r.token_budget == top.token_budget and r.prefill == top.prefill
                   and r.decode == top.decode and r.max_batch > top.max_batch), key=lambda r: r.max_batch)
    if not same:
        per_rank = top.max_batch // top.dp
        return "grid" if per_rank >= grid_max else "memory"
    nxt = same[0]
    return "objective" if nxt.status == "ok" else nxt.status
