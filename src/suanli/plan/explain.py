"""Words for the plan: why a runner-up lost to the chosen deployment, and what blocks a system that has none.

A runner-up loses on the objective by some margin; the reasons come from the candidate itself: what keeps its
batch cap from growing (memory: the KV cache is full; SLO: the next cap breaks a latency limit; the token budget),
how much of its decode step goes to collectives (communication, from 15% up), and, for candidates the serving
simulator rejected, the simulated latencies. A system with no feasible deployment says whether memory or the SLO
blocked it, and the nearest feasible option: the fewest chips that would hold the model, or the SLO limits the
closest candidate would meet.
"""

from __future__ import annotations

from math import ceil

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.perf.predict import fewest_chips_to_fit
from suanli.plan.evaluate import mean_in_system
from suanli.plan.space import Ask, Eval
from suanli.schema import Deployment, SuanliError, Workload

COMM_NOTABLE = 0.15
LIMITS = {
    "memory": "memory: the KV cache holds {fit} sequences per rank at full context",
    "slo_tpot": "SLO: the next batch cap up breaks the TPOT limit",
    "slo_ttft": "SLO: the next batch cap up breaks the TTFT limit",
    "slo_e2e": "SLO: the next batch cap up breaks the end-to-end limit",
    "budget": "token budget: a {budget}-token step cannot carry more running sequences and their prompts",
}


def _deployed(ask: Ask, r: Eval) -> Deployed:
    cat = catalog()
    system = cat.system(r.system)
    model_id, arch = model_arch(ask.model)
    spec = Deployment(tp=r.tp, pp=r.pp, ep=r.ep, dp=r.dp, precision=r.precision, kv_precision=r.kv_precision,
                      engine=ask.engine)
    return Deployed(arch, cat.chips[system.chip], system, spec, model_id, ask.calibration)


def comm_share(ask: Ask, r: Eval) -> float:
    """Share of the decode step (at the candidate's mean batch) spent in collectives."""
    dep = _deployed(ask, r)
    b = max((r.running or mean_in_system(r.max_batch)) / r.dp / r.pp, 1e-3)
    timed = dep.timed(dep.decode_shape(b, ask.input_len + ask.output_len / 2))
    total = sum(t.seconds for t in timed) + dep.overhead_s
    return sum(t.seconds for t in timed if t.op.op_class == "comm") / total if total > 0 else 0.0


def why_limited(r: Eval) -> str:
    text = LIMITS.get(r.limit, "")
    return text.format(fit=r.seqs_fit, budget=r.token_budget)


def gap(r: Eval, best: Eval, objective: str) -> str:
    """How far r is behind on the objective (the tie-break, output tok/s per chip, when the objective ties)."""
    per_chip = ""
    if best.per_chip > 0 and r.per_chip < best.per_chip:
        less = 100 * (1 - r.per_chip / best.per_chip)
        per_chip = (f"{less:.{0 if less >= 10 else 1}f}% less output tok/s per chip ({_tok(r.per_chip)} against "
                    f"{_tok(best.per_chip)})")
    main = ""
    if objective == "chips":
        main = f"needs {r.chips_needed:,} chips for the load against {best.chips_needed:,}" \
            if r.chips_needed != best.chips_needed else f"needs the same {r.chips_needed:,} chips for the load"
    elif objective == "cost" and r.score and best.score and r.score[0] != best.score[0]:
        known = r.usd_per_mtok is not None
        main = (f"${r.score[0]:.4g} per million tokens against ${best.score[0]:.4g}"
                + ("" if known else " (energy and facility only: no price)"))
    elif objective == "tokens-per-joule" and r.tokens_per_joule and best.tokens_per_joule and \
            r.tokens_per_joule != best.tokens_per_joule:
        main = f"{r.tokens_per_joule:.2f} tokens per joule against {best.tokens_per_joule:.2f}"
    if main and (objective != "chips" or r.chips_needed != best.chips_needed):
        return main
    parts = [p for p in (main, per_chip) if p]
    return "; ".join(parts) or "ties with the plan and loses on the tie-break (fewer chips, then the simpler layout)"


def lost_because(ask: Ask, r: Eval, best: Eval) -> str:
    if r.sim is not None and r.sim.get("ok") is False:
        return f"SLO (simulated): {r.sim.get('reason', 'the simulator rejected it')}"
    if best.analytic is not None and not r.simulated:  # compare like with like: analytic figures on both sides
        a = best.analytic
        if (*r.score, r.key) < (*a.score, a.key):
            return (f"not confirmed: it ranks above the plan analytically ({_tok(r.per_chip)} against "
                    f"{_tok(a.per_chip)} output tok/s per chip) but was not run in the serving simulator, which "
                    "confirmed the plan (raise --confirm to simulate more)")
        parts = [gap(r, a, ask.objective) + " (analytic figures of both)"]
    else:
        parts = [gap(r, best, ask.objective)]
    limited = why_limited(r)
    if limited:
        parts.append(limited)
    try:
        share = comm_share(ask, r)
    except SuanliError:
        share = 0.0
    if share >= COMM_NOTABLE:
        parts.append(f"communication: collectives take {100 * share:.0f}% of its decode step")
    return "; ".join(parts)


def infeasible(ask: Ask, system_id: str, memory: list[Eval], nearest: list[Eval], errors: list[Eval],
               max_chips: int, slo_text: str) -> str:
    """One line: what blocked every candidate on this system, and the nearest feasible option."""
    if nearest:
        n = min(nearest, key=lambda r: (r.violation, r.key))
        got = ",".join(f"{k}={ceil(_achieved(n, k, ask) * 10) / 10:g}ms" for k, v in ask.slo.items()
                       if _achieved(n, k, ask) > v * 1e3)  # the limits it breaks, rounded up so that it holds
        return (f"SLO: no deployment on {system_id} meets {slo_text}; nearest: {n.label()} with a batch cap of "
                f"{n.max_batch} reaches TTFT p99 {n.ttft_p99 * 1e3:.0f} ms and TPOT p99 {n.tpot_p99 * 1e3:.1f} ms; "
                f"nearest feasible option: that deployment with the SLO relaxed to {got}")
    if memory:
        fewest = _fewest_chips(ask, system_id, memory)
        smallest = min(memory, key=lambda r: (-r.chips, _bits(r.precision), r.key))  # the closest to fitting
        hint = (f"nearest feasible option: {fewest['chips']} chips (tp={fewest['tp']} pp={fewest['pp']}"
                f"{' ep=' + str(fewest['ep']) if fewest['ep'] > 1 else ''}, {fewest['precision']}): pass "
                f"--max-chips {fewest['chips']}" if fewest else "no layout of up to 4096 chips holds it")
        return (f"memory: {ask.model} does not fit on up to {max_chips} chips of {system_id} at any layout and "
                f"precision (at {smallest.precision} on {smallest.chips} chip{'s' if smallest.chips > 1 else ''}: "
                f"{smallest.note}); {hint}")
    if errors:
        return f"no deployment can be evaluated on {system_id}: {errors[0].note}"
    return f"no candidate on {system_id}: the token budget cannot carry even one running sequence with its prompt"


def _tok(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _achieved(r: Eval, key: str, ask: Ask) -> float:
    name, stat = key.split("_")
    hi = stat in ("p90", "p99")
    ttft, tpot = (r.ttft_p99, r.tpot_p99) if hi else (r.ttft_mean, r.tpot_mean)
    return 1e3 * {"ttft": ttft, "tpot": tpot, "e2e": ttft + (ask.output_len - 1) * tpot}[name]


def _bits(precision: str) -> float:
    from suanli.schema import get_precision

    return get_precision(precision).bits


def _fewest_chips(ask: Ask, system_id: str, memory: list[Eval]) -> dict | None:
    """The fewest chips (beyond the search) that hold the model at its smallest precision and 8-bit KV."""
    r = min(memory, key=lambda m: (_bits(m.precision), _bits(m.kv_precision), m.key))
    try:
        dep = _deployed(ask, Eval(system=r.system, mode=r.mode, tp=1, pp=1, ep=1, dp=1, precision=r.precision,
                                  kv_precision=r.kv_precision))
        found = fewest_chips_to_fit(dep, Workload(input_len=ask.input_len, output_len=ask.output_len, batch=1))
    except SuanliError:
        return None
    return {**found, "precision": r.precision} if found else None
