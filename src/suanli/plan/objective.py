"""Sizing and objectives: how many units carry the load, and what that costs in chips, dollars and joules.

Units needed = ceil(load x (1 + headroom) / the unit's output tok/s at the SLO), at least one; the fleet then runs
at utilization u = load / (units x capacity). Power and cost follow `suanli.econ` (defaults and sources in
`econ/data/defaults.yaml`): a chip draws idle + (TDP - idle) x activity x u plus its share of the node overhead;
the fleet pays capex (amortised) and facility per chip-hour, and energy at the wall. Tokens are all tokens (prompt
and generated), as `suanli cost` counts them. Without a load the plan sizes one unit at the econ default
utilization. Objectives, smaller score is better, ties broken by more output tok/s per chip, then by the
candidate's key (deterministic):
    throughput-per-chip  most output tok/s per chip at the SLO
    cost                 fewest dollars per million tokens at the load (energy and facility only where the chip
                         and system have no price; the dollar figure then shows as unknown)
    tokens-per-joule     most tokens per joule of IT energy at the load
    chips                fewest chips for the load
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from suanli.econ.defaults import Ledger
from suanli.econ.power import chip_power, node_overhead_per_chip
from suanli.econ.tco import HOURS_PER_YEAR, capex_per_chip, rates
from suanli.plan.space import Ask, Eval
from suanli.schema import Chip, SuanliError, System


@dataclass(frozen=True)
class SysEcon:
    """Per-chip power and hourly cost figures of one system (None where the catalog lacks them)."""

    system: str
    tdp_w: float | None
    idle_w: float | None
    overhead_w: float  # node overhead drawn per chip while serving
    fixed_usd_h: float  # capex (where known) + facility, per chip-hour
    capex_known: bool
    pue: float
    usd_per_kwh: float
    utilization: float  # econ default: share of hours serving, used when no load is given
    note: str = ""


def sys_econ(system: System, chip: Chip, prices: dict[str, float] | None = None) -> SysEcon:
    led = Ledger()
    r = rates(led)
    note = ""
    try:
        cp = chip_power(chip, led)
        tdp, idle = cp.tdp_w, cp.idle_w
        rated = node_overhead_per_chip(system, tdp, led)
        overhead = rated * led.use("node_overhead_load")
    except SuanliError:
        tdp = idle = None
        rated = overhead = 0.0
        note = f"chip {chip.id}: TDP unknown in the catalog, so power, energy and cost are unknown"
    capex = capex_per_chip(chip, system, led, chip_price=(prices or {}).get(chip.id))
    if capex is None and not note:
        note = (f"no price for chip {chip.id} or system {system.id}: dollar figures unknown, cost ranked on energy "
                f"and facility only (pass --price {chip.id}=USD)")
    facility = r.facility_usd_per_kw_month * ((tdp or 0.0) + rated) / 1000.0 * 12 / HOURS_PER_YEAR
    fixed = (capex or 0.0) / (r.years * HOURS_PER_YEAR) + facility
    return SysEcon(system.id, tdp, idle, overhead, fixed, capex is not None, r.pue, r.electricity_usd_per_kwh,
                   r.utilization, note)


def size_and_score(rec: Eval, ask: Ask, econ: SysEcon | None) -> Eval:
    """Fill instances, chips_needed, usd_per_mtok, tokens_per_joule and the objective score of a feasible record."""
    cap = rec.out_tok_s * ask.margin(rec.system, rec.mode, "throughput")  # 1 unless a confidence is asked
    if ask.load_out_tok_s:
        rec.instances = max(1, ceil(ask.load_out_tok_s * (1 + ask.headroom) / cap - 1e-9))
        served = ask.load_out_tok_s
    else:
        rec.instances = 1
        served = cap * (econ.utilization if econ else 1.0)
    rec.chips_needed = rec.instances * rec.chips
    u = min(1.0, served / (rec.instances * cap))
    rec.utilization = u
    total = served * (ask.input_len + ask.output_len) / ask.output_len
    usd_rank = tpj = None
    rec.usd_per_mtok = rec.tokens_per_joule = None
    if econ is not None and econ.tdp_w is not None:
        chip_w = econ.idle_w + (econ.tdp_w - econ.idle_w) * rec.activity * u + econ.overhead_w
        fleet_w = rec.chips_needed * chip_w
        tpj = total / fleet_w
        usd_h = rec.chips_needed * econ.fixed_usd_h + fleet_w / 1000.0 * econ.pue * econ.usd_per_kwh
        usd_rank = usd_h / (total * 3600.0) * 1e6
        rec.tokens_per_joule = tpj
        rec.usd_per_mtok = usd_rank if econ.capex_known else None
    per_chip = -rec.per_chip
    obj = ask.objective
    if obj == "chips":
        rec.score = (rec.chips_needed, per_chip)
    elif obj == "cost" and usd_rank is not None:
        rec.score = (usd_rank, per_chip)
    elif obj == "tokens-per-joule" and tpj is not None:
        rec.score = (-tpj, per_chip)
    else:
        rec.score = (per_chip, rec.chips_needed)
    return rec


def ranking(rec: Eval) -> tuple:
    """Total order of feasible records: objective score, then the key."""
    return (*rec.score, rec.key)
