"""Speed of the planner (issue 6 targets: >= 2,000 analytic candidate evaluations per second on a 2-core machine; a
full `plan` over 4 systems in under 60 s).

1. Analytic evaluations in one process (no pool): every candidate of the sweep of llama-3.1-70b on dgx-h100, colocated
   only (each candidate: a memory check and 4 step-time evaluations), then all modes of deepseek-r1 on gb200-nvl72
   (disaggregated candidates add one record per prefill:decode ratio at no extra step evaluations).
2. The issue's full plan: deepseek-r1 on dgx-h200, gb200-nvl72, atlas-800-a2 and cloudmatrix-384, 2000 + 800 tokens,
   TTFT p99 2 s, TPOT p99 50 ms, 5000 req/min, on the default local process pool with simulator confirmation.
Run: python benchmarks/bench_plan.py
"""

from __future__ import annotations

import time

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.plan import plan
from suanli.plan.objective import sys_econ
from suanli.plan.space import MODES, Ask, layouts_of, max_chips_of
from suanli.plan.sweep import evaluate_item
from suanli.serve.workload import parse_slo


def analytic_rate(model: str, system: str, modes: tuple[str, ...], inp: int, out: int) -> None:
    cat = catalog()
    sys_ = cat.system(system)
    _, arch = model_arch(model)
    ask = Ask(model=model, input_len=inp, output_len=out, slo=parse_slo("ttft_p99=2s,tpot_p99=50ms"),
              load_out_tok_s=10_000.0, modes=modes, ratios=() if modes == ("colocated",) else Ask.ratios)
    econ = sys_econ(sys_, cat.chips[sys_.chip])
    items = [(system, (lay.tp, lay.pp, lay.ep, lay.dp)) for lay in layouts_of(arch, sys_, max_chips_of(sys_, None),
                                                                            modes)]
    evaluate_item(ask, econ, items[0])  # warm caches
    t0 = time.perf_counter()
    results = [evaluate_item(ask, econ, it) for it in items]
    dt = time.perf_counter() - t0
    n = sum(sum(r.counts.values()) for r in results)
    steps = sum(r.steps for r in results)
    print(f"{model} on {system}, {'+'.join(modes)}: {n:,} candidates ({len(items)} layouts) in {dt:.2f} s on one "
          f"core = {n / dt:,.0f} candidates/s [target >= 2,000]; {steps / dt:,.0f} step-time evaluations/s")


def full_plan() -> None:
    systems = "dgx-h200,gb200-nvl72,atlas-800-a2,cloudmatrix-384"
    t0 = time.perf_counter()
    r = plan("deepseek-r1", systems, input=2000, output=800, slo="ttft_p99=2s,tpot_p99=50ms", load="5000req/min")
    dt = time.perf_counter() - t0
    q = r["search"]
    print(f"plan deepseek-r1 on {systems}: {dt:.1f} s in all [target < 60 s]; sweep {q['candidates']:,} candidates "
          f"in {q['sweep_s']:.1f} s ({q['candidates_per_s']:,.0f}/s, {q['executor']})")
    for s in r["systems"]:
        b = s["best"]
        if b is None:
            print(f"  {s['system']}: {s['infeasible_reason']}")
            continue
        print(f"  {s['system']}: {b['label']}, batch cap {b['max_batch']}: {b['output_tok_s_per_chip']:,.0f} tok/s per "
              f"chip, {b['chips_needed']:,} chips ({'simulated' if b['simulated'] else 'analytic'})")


def main() -> None:
    analytic_rate("llama-3.1-70b", "dgx-h100", ("colocated",), 2000, 500)
    analytic_rate("deepseek-r1", "gb200-nvl72", MODES, 2000, 800)
    full_plan()


if __name__ == "__main__":
    main()
