"""HTTP endpoints of the economics commands: cost, ppa, silicon (and a die-area sweep), policy, design, isoperf.

The same functions and JSON as `suanli <command> --json` (docs/econ.md). `design` never saves a chip: a what-if
chip lives only in its request (the CLI's `--save` writes to the user catalog, which a server must not do).
"""

from __future__ import annotations

from fastapi import APIRouter

from suanli.schema import SuanliError
from suanli.web import guard
from suanli.web.api import ERRORS, J
from suanli.web.schemas import CostIn, DesignIn, IsoperfIn, PolicyIn, PpaIn, SiliconIn, SiliconSweepIn, as_list

router = APIRouter(prefix="/api", tags=["econ"], responses=ERRORS)


def _ask(model, input, output, batch, precision, kv_precision=None, engine=None, tpot_max=None, **layout):
    from suanli.econ.run import Ask

    guard.model_name(model)
    return Ask(model, input, output, batch, precision, kv_precision, engine, tpot_max_ms=tpot_max, **layout)


def _knobs(req, **more):
    from suanli.econ.report import Knobs, parse_prices

    return Knobs(req.electricity, req.pue, req.years, req.utilization, prices=parse_prices(as_list(req.price)),
                 **more)


def _chip_list(spec: str) -> list:
    from suanli.catalog import catalog

    cat = catalog()
    if spec.strip().lower() == "all":
        return list(cat.chips.values())
    chips = [cat.chips[guard.resolve("chip", s)] for s in as_list(spec)]
    if not chips:
        raise SuanliError("chips: give chip ids separated by commas, or 'all'")
    return chips


@router.post("/cost")
def cost(req: CostIn) -> J:
    """`suanli cost --json`: $/Mtok, tokens per joule, power draw and TCO per hour of one deployment."""
    from suanli.econ.report import cost_report

    guard.resolve("system", req.system)
    ask = _ask(req.model, req.input, req.output, req.batch, req.precision, req.kv_precision, req.engine,
               req.tpot_max, tp=req.tp, pp=req.pp, ep=req.ep, dp=req.dp)
    k = _knobs(req, facility=req.facility, system_price=req.system_price, server_overhead=req.server_overhead,
               network_fraction=req.network_fraction, tdp_w=req.tdp, idle_w=req.idle_w)
    return J(cost_report(ask, req.system, k, req.chips))


@router.post("/ppa")
def ppa(req: PpaIn) -> J:
    """`suanli ppa --json`: tokens/s per chip, per W, per mm^2 and per $1000; TFLOPS/W and TFLOPS/mm^2."""
    from suanli.econ.ppa import datasheet_ppa, workload_ppa
    from suanli.econ.report import parse_prices

    if req.node < 1:
        raise SuanliError(f"node: {req.node} is not allowed; give 1 or more chips per node")
    prices = parse_prices(as_list(req.price))
    ask = _ask(req.model, req.input, req.output, req.batch, req.precision) if req.model else None
    rows = [workload_ppa(ask, c, req.node, prices.get(c.id)) if ask else datasheet_ppa(c)
            for c in _chip_list(req.chips)]
    return J({"model": req.model, "input": req.input, "output": req.output, "precision": req.precision,
              "chips": rows})


def _silicon(req: SiliconIn, die_area: float | None = None) -> dict:
    from suanli.econ.silicon import silicon_cost

    area, node, dies, stacks = die_area or req.die_area, req.node, req.dies, req.hbm_stacks
    if req.chip:
        from suanli.catalog import catalog

        c = catalog().chips[guard.resolve("chip", req.chip)]
        n_dies = dies or c.dies or 1
        area = area or (c.die_area_mm2 / n_dies if c.die_area_mm2 else None)
        node = node or (f"{c.node_nm:g}nm" if c.node_nm else None)
        dies = n_dies
        stacks = stacks if stacks is not None else (c.memory.stacks or 0)
    if area is None or node is None:
        raise SuanliError("silicon: give die_area (mm^2) and node (e.g. 7nm), or a chip whose catalog entry has both")
    return silicon_cost(area, node, dies=dies or 1, wafer_price=req.wafer_price, defect_density=req.defect_density,
                        alpha=req.alpha, yield_model=req.yield_model, hbm_stacks=stacks or 0,
                        hbm_stack_usd=req.hbm_stack_price, packaging_usd=req.packaging_cost,
                        package_yield=req.package_yield, nre=req.nre, volume=req.volume,
                        wafer_diameter_mm=req.wafer_diameter, edge_exclusion_mm=req.edge_exclusion)


@router.post("/silicon")
def silicon(req: SiliconIn) -> J:
    """`suanli silicon --json`: dies per wafer, yield by model, cost per good die, packaged cost, NRE per unit."""
    return J(_silicon(req))


@router.post("/silicon/sweep")
def silicon_sweep(req: SiliconSweepIn) -> J:
    """`silicon` at each of `areas` (mm^2), the rest of the parameters fixed: for cost and yield curves."""
    if not req.areas:
        raise SuanliError("areas: give at least one die area in mm^2")
    rows = []
    for a in req.areas:
        r = _silicon(req, a)
        rows.append({k: r[k] for k in ("die_area_mm2", "dies_per_wafer", "yield", "yield_model",
                                       "good_dies_per_wafer", "cost_per_good_die_usd", "packaged_cost_usd")})
    return J({"node": req.node, "points": rows})


@router.post("/policy")
def policy(req: PolicyIn) -> J:
    """`suanli policy --json`: TPP, performance density, HBM bandwidth density and 3A090 class per chip."""
    from suanli.econ.policy import policy_report

    return J(policy_report(_chip_list(req.chips), req.hbm_stack_area))


@router.post("/design")
def design(req: DesignIn) -> J:
    """`suanli design --json` without `--save`: a what-if chip, its PPA beside the base, the gain on a workload."""
    from suanli.econ.whatif import design_report

    guard.resolve("chip", req.base)
    if req.system:
        guard.resolve("system", req.system)
    ask = _ask(req.model, req.input, req.output, req.batch, req.precision) if req.model else None
    return J(design_report(req.base, req.set, ask, req.system, req.chips, None))


@router.post("/isoperf")
def isoperf(req: IsoperfIn) -> J:
    """`suanli isoperf --json`: chips of a candidate that match a target system's output tok/s, power and cost."""
    from suanli.econ.report import isoperf as run

    for s in (req.target, req.candidate):
        guard.resolve("system", s)
    ask = _ask(req.model, req.input, req.output, req.batch, req.precision, tpot_max=req.tpot_max)
    return J(run(ask, req.target, req.candidate, _knobs(req)))
