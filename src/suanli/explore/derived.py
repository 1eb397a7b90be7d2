"""What a design point costs and how the rules class it, over arrays: $/Mtok, J/token, die cost and yield, TPP, PD
and the 3A090 class. Each uses the same figures and formulas as its one-chip command (`cost`, `silicon`,
`policy`), from the same ledger of sourced defaults.

    $/Mtok (output tokens) = (capex / (years x 8760 h) + facility + energy per hour) per chip
                             / (output tok/s per chip x utilization x 3600) x 1e6
        capex = chip price x (1 + server overhead) x (1 + network share, where a scale-out network exists)
        power = TDP x (1 + node overhead share), energy at the PUE and electricity price
    J/token = power x PUE / output tok/s per chip  (at full load: an upper bound; `suanli cost` models activity)
    die cost = wafer price / (floor(dies per wafer) x yield) per good die (`econ.silicon`, default yield model)
    TPP = max over dtypes of dense rate x bit length (16 bits or fewer must be rated); PD = TPP / die area
"""

from __future__ import annotations

import numpy as np

from suanli.econ.defaults import Ledger, load
from suanli.econ.power import node_overhead_per_chip
from suanli.econ.silicon import gross_dies, node_figures, yield_of
from suanli.econ.tco import capex_per_chip, rates
from suanli.schema import Chip, System

HOURS = 8760.0
CLASS_CODES = ("below", "3A090.b", "3A090.a", "unknown")


def economics(tok_s_per_chip: np.ndarray, tdp: np.ndarray | None, price: np.ndarray | None, chip: Chip,
              system: System) -> dict[str, np.ndarray]:
    """usd_per_mtok, j_per_token and power_w (one chip and its share of the host) per point; NaN where the TDP or
    the price is unknown. The host's power and the capex per dollar of chip come from `cost`'s own functions."""
    led = Ledger()
    r = rates(led)
    nan = np.full(len(tok_s_per_chip), np.nan)
    if tdp is None:
        return {"usd_per_mtok": nan, "j_per_token": nan, "power_w": nan}
    power = tdp + node_overhead_per_chip(system, tdp, led)  # the system's sourced host power where it has one
    energy_h = power / 1000.0 * r.pue * r.electricity_usd_per_kwh
    facility_h = r.facility_usd_per_kw_month * power / 1000.0 * 12 / HOURS
    j = power * r.pue / tok_s_per_chip
    if price is None:
        return {"usd_per_mtok": nan, "j_per_token": j, "power_w": power}
    capex = price * capex_per_chip(chip, system, led, chip_price=1.0)  # server and network shares on the price
    usd_h = capex / (r.years * HOURS) + facility_h + energy_h
    return {"usd_per_mtok": usd_h / (tok_s_per_chip * r.utilization * 3600.0) * 1e6, "j_per_token": j,
            "power_w": power}


def silicon(area: np.ndarray | None, nodes: np.ndarray | None) -> dict[str, np.ndarray]:
    """Cost per good die (USD) and yield per point, for die areas (mm^2) on process nodes (names)."""
    if area is None or nodes is None:
        return {}
    led = Ledger()
    d = led.use("wafer_diameter_mm") - 2 * led.use("edge_exclusion_mm")
    model, alpha = led.use("yield_model"), led.use("alpha")
    wafer, d0 = np.empty(len(area)), np.empty(len(area))
    for name in np.unique(nodes):
        _, w, dd, _ = node_figures(str(name), Ledger())
        wafer[nodes == name], d0[nodes == name] = w, dd
    y = yield_of(model, area / 100.0 * d0, alpha)
    good = np.floor(gross_dies(area, d)) * y
    with np.errstate(divide="ignore"):
        cost = np.where(good > 0, wafer / np.where(good > 0, good, 1.0), np.inf)
    return {"die_cost_usd": cost, "die_yield": y}


def policy(rates_tflops: dict[str, np.ndarray], area: np.ndarray | None, bandwidth: np.ndarray,
           io_gb_s: np.ndarray | None = None, hbm_stacks: int | None = None) -> dict[str, np.ndarray]:
    """TPP, PD, the 3A090 class under the Oct 2022 rule (TPP and chip-to-chip I/O, both directions: `io_gb_s`)
    and the Oct 2023 one (kept in Dec 2024), the Dec 2024 HBM test (bandwidth per stack over the stack's assumed
    footprint, where the stack count is known) and the case-by-case caps, per point."""
    p = load("policy")
    bits, r = p["bits"], p["rules"]["oct-2023"]
    rated = {d: v for d, v in rates_tflops.items() if d in bits}
    n = len(bandwidth)
    if not any(bits[d] <= 16 for d in rated):
        return {"tpp": np.full(n, np.nan), "class_2023": np.full(n, "unknown")}
    tpp = np.max(np.stack([v * bits[d] for d, v in rated.items()]), axis=0)
    tpp = np.round(tpp, 1)  # as `econ.policy.tpp` reports it
    pd = np.round(tpp / area, 2) if area is not None else np.full(n, np.nan)
    b = (tpp >= r["b1_tpp_min"]) & (pd >= r["b1_pd_min"]) | (pd >= r["b2_pd_min"])
    cls = np.where(tpp >= r["a_tpp_min"], "3A090.a",
                   np.where(tpp < r["b2_tpp_min"], "below",
                            np.where(np.isnan(pd), "unknown",
                                     np.where(pd >= r["a2_pd_min"], "3A090.a", np.where(b, "3A090.b", "below")))))
    cbc = p["rules"]["case-by-case"]
    r22 = p["rules"]["oct-2022"]
    io = io_gb_s if io_gb_s is not None else np.full(n, np.nan)
    c22 = np.where(tpp < r22["tpp_min"], "below", np.where(np.isnan(io), "unknown",
                                                           np.where(io >= r22["io_bidirectional_gb_s_min"],
                                                                    "3A090", "below")))
    out = {"tpp": tpp, "pd": pd, "class_2023": cls, "class_2022": c22,
           "under_caps": (tpp < cbc["tpp_lt"]) & (bandwidth < cbc["dram_gb_s_lt"])}
    if hbm_stacks:
        from suanli.econ.defaults import default

        density = np.round(bandwidth / hbm_stacks / default("hbm_stack_area_mm2").value, 2)
        out["hbm_3a090c"] = density > p["rules"]["dec-2024"]["hbm_density_gb_s_mm2_gt"]
    return out
