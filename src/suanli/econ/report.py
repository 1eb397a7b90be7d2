"""The serving economics of one deployment (`cost`) and iso-performance comparisons (`isoperf`).

`cost_report` runs the workload (suanli.econ.run), prices its power (suanli.econ.power) and its hours
(suanli.econ.tco), and returns one dict with every figure it used and where that came from.
`isoperf` asks: how many chips of a candidate match one target system's output tokens per second on the same
request shape (and TPOT limit), and at what power and cost. The candidate's smallest unit that holds the model is
replicated (data parallel, no cross-replica traffic) until its throughput reaches the target's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from suanli.catalog import catalog
from suanli.econ.defaults import Ledger
from suanli.econ.power import Energy, energy_of, node_overhead_per_chip, power_dict
from suanli.econ.run import Ask, Run, fit_chips, run_on
from suanli.econ.tco import capex_per_chip, hourly, rates, usd_per_mtok
from suanli.schema import SuanliError, System


@dataclass
class Knobs:
    """Every override the economics commands take; None means the bundled default or the catalog figure."""

    electricity: float | None = None
    pue: float | None = None
    years: float | None = None
    utilization: float | None = None
    facility: float | None = None
    prices: dict[str, float] = field(default_factory=dict)  # chip id -> USD
    system_price: float | None = None
    server_overhead: float | None = None
    network_fraction: float | None = None
    tdp_w: float | None = None
    idle_w: float | None = None
    idle_fraction: float | None = None
    memory_weight: float | None = None
    node_overhead_w: float | None = None
    overhead_load: float | None = None

    def __post_init__(self) -> None:
        """One-line refusals for knobs outside what they can mean (a negative price would give a negative cost)."""
        limits = {"electricity": (0.0, None, "USD per kWh >= 0"), "pue": (1.0, None, "a PUE >= 1"),
                  "years": (1e-9, None, "years > 0"), "utilization": (1e-9, 1.0, "a share in (0, 1]"),
                  "facility": (0.0, None, ">= 0"), "system_price": (1e-9, None, "USD > 0"),
                  "server_overhead": (0.0, None, ">= 0"), "network_fraction": (0.0, None, ">= 0"),
                  "tdp_w": (1e-9, None, "watts > 0"), "idle_w": (0.0, None, "watts >= 0"),
                  "idle_fraction": (0.0, 1.0, "a share in [0, 1]"), "memory_weight": (0.0, 1.0, "a share in [0, 1]"),
                  "node_overhead_w": (0.0, None, "watts >= 0"), "overhead_load": (0.0, 1.0, "a share in [0, 1]")}
        for name, (lo, hi, allowed) in limits.items():
            v = getattr(self, name)
            if v is None:
                continue
            if v != v or v < lo or (hi is not None and v > hi):  # v != v: NaN
                raise SuanliError(f"{name.replace('_', '-')}: {v:g} is not allowed; give {allowed}")


def parse_prices(items: list[str] | None) -> dict[str, float]:
    """['h20=12000', 'h100-sxm=30k,mi300x=15000'] -> {chip id: USD}; unknown chips raise."""
    out: dict[str, float] = {}
    for item in items or []:
        for part in (p.strip() for p in item.split(",") if p.strip()):
            m = re.fullmatch(r"(.+?)\s*=\s*\$?(\d+(?:\.\d*)?)\s*(k?)", part, flags=re.I)
            if not m:
                raise SuanliError(f"price: {part!r} is not CHIP=USD (e.g. h20=12000)")
            usd = float(m.group(2)) * (1e3 if m.group(3) else 1)
            if usd <= 0:
                raise SuanliError(f"price: {part!r}: the price must be > 0 USD")
            out[catalog().resolve("chip", m.group(1))] = usd
    return out


def economics(run: Run, k: Knobs, led: Ledger | None = None) -> tuple[Energy, dict]:
    """Energy of a run and its cost dict (power, TCO per hour, $/Mtok, J/token) with the ledger of assumptions."""
    led = led or Ledger()
    e = energy_of(run, led, tdp_w=k.tdp_w, idle_w=k.idle_w, idle_fraction=k.idle_fraction, w_mem=k.memory_weight,
                  node_overhead_w=k.node_overhead_w, overhead_load=k.overhead_load)
    r = rates(led, years=k.years, utilization=k.utilization, electricity=k.electricity, pue=k.pue,
              facility=k.facility)
    cap = capex_per_chip(run.chip, run.system, led, chip_price=k.prices.get(run.chip.id),
                         system_price=k.system_price, server_overhead=k.server_overhead, network=k.network_fraction)
    rated_over = node_overhead_per_chip(run.system, e.chip.tdp_w, Ledger(), k.node_overhead_w)
    provisioned_w = e.chips * (e.chip.tdp_w + rated_over)
    h = hourly(e, cap, provisioned_w, r)
    jpt = e.per_token()
    notes = []
    if cap is None:
        notes.append(f"no price for chip {run.chip.id} or system {run.system.id}: dollar figures are unknown; pass "
                     f"--price {run.chip.id}=USD (or --system-price USD)")
    out = {
        "usd_per_mtok": usd_per_mtok(e, h, r),
        "joules_per_token": jpt["per_token"], "tokens_per_joule": 1.0 / jpt["per_token"],
        "joules_per_token_by_phase": jpt, "joules_per_token_wall": jpt["per_token"] * r.pue,
        "power_w": e.serving_it_w, "power_wall_w": e.serving_it_w * r.pue, "power": power_dict(e, r.pue),
        "time_s": {"prefill": e.prefill_s, "decode": e.decode_s, "cycle": e.cycle_s},
        "tco": {
            "usd_per_hour": {"capex": h.capex, "facility": h.facility, "energy": h.energy, "total": h.total},
            "tokens_per_hour": h.tokens, "capex_per_chip_usd": cap,
            "capex_usd": None if cap is None else cap * e.chips, "provisioned_it_w": provisioned_w,
            "idle_energy_usd_per_hour": h.idle_energy,
        },
        "assumptions": led.as_dict(), "notes": notes,
    }
    return e, out


def run_summary(run: Run) -> dict:
    p = run.prediction
    d = p.deployment
    return {"model": p.model, "system": run.system.id, "chip": run.chip.id, "chips": p.chips,
            "deployment": {"tp": d.tp, "pp": d.pp, "ep": d.ep, "dp": d.dp, "precision": d.precision},
            "workload": {"input": p.workload.input_len, "output": p.workload.output_len, "batch": p.workload.batch},
            "ttft_ms": p.ttft_s * 1e3, "tpot_ms": p.tpot_s * 1e3, "output_tok_s": p.output_tok_s,
            "total_tok_s": p.total_tok_s, "output_tok_s_per_chip": p.output_tok_s / p.chips}


def cost_report(ask: Ask, system: str, k: Knobs, chips: int | None = None) -> dict:
    cat = catalog()
    sys_ = cat.system(system)
    run = run_on(ask, cat.chips[sys_.chip], sys_, chips)
    _, econ = economics(run, k)
    return {**run_summary(run), **econ, "intervals": cost_intervals(run, econ)}


def cost_intervals(run: Run, econ: dict) -> dict:
    """The prediction's intervals, and $/Mtok's: the same hourly cost over the throughput band (inverse to it)."""
    p = run.prediction
    iv = {k: v for k, v in p.intervals.items() if k in ("output_tok_s", "output_tok_s_per_chip", "tpot_ms")}
    t, usd = p.intervals.get("output_tok_s"), (econ.get("usd_per_mtok") or {}).get("blended")
    if t and usd:
        iv["usd_per_mtok_blended"] = {"p10": usd * p.output_tok_s / t["p90"], "p90": usd * p.output_tok_s / t["p10"],
                                      "basis": t["basis"] + "; $/Mtok at the same hourly cost, inverse to throughput"}
    return iv


def _unit(name: str) -> tuple[System | None, int, str]:
    """(catalog system or None for a built node, chips in one unit, chip id)."""
    cat = catalog()
    s = cat.system(name)
    built = s.id == f"{s.chips}x{s.chip}"
    return (None if built else s), s.chips, s.chip


def isoperf(ask: Ask, target: str, candidate: str, k: Knobs) -> dict:
    """Chips of the candidate that match the target's output tok/s, with power and cost of both sides."""
    cat = catalog()
    sides = {}
    for role, name in (("target", target), ("candidate", candidate)):
        sys_, n, chip_id = _unit(name)
        run = fit_chips(ask, cat.chips[chip_id], sys_, start=n)
        _, econ = economics(run, k)
        sides[role] = (run, econ)
    (t_run, t_econ), (c_run, c_econ) = sides["target"], sides["candidate"]
    goal = t_run.prediction.output_tok_s
    replicas = math.ceil(goal / c_run.prediction.output_tok_s - 1e-9)
    chips = replicas * c_run.prediction.chips

    def side(run: Run, econ: dict, copies: int) -> dict:
        per_hour = econ["tco"]["usd_per_hour"]["total"]
        return {**run_summary(run), "replicas": copies, "total_chips": copies * run.prediction.chips,
                "total_output_tok_s": copies * run.prediction.output_tok_s,
                "power_w": copies * econ["power_w"], "power_wall_w": copies * econ["power_wall_w"],
                "usd_per_hour": None if per_hour is None else copies * per_hour,
                "capex_usd": None if econ["tco"]["capex_usd"] is None else copies * econ["tco"]["capex_usd"],
                "usd_per_mtok": econ["usd_per_mtok"], "joules_per_token": econ["joules_per_token"],
                "assumptions": econ["assumptions"]}

    t, c = side(t_run, t_econ, 1), side(c_run, c_econ, replicas)
    ratio = {key: (c[key] / t[key] if c[key] is not None and t[key] else None)
             for key in ("total_chips", "power_w", "usd_per_hour", "capex_usd")}
    return {"model": t_run.prediction.model, "match": "output tokens per second at the same request shape"
            + (f" and TPOT under {ask.tpot_max_ms:g} ms" if ask.tpot_max_ms else ""),
            "target": t, "candidate": c, "candidate_over_target": ratio, "chips_needed": chips}
