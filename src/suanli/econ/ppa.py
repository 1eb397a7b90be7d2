"""Performance, power and area (and price) of chips: on a real workload and from their datasheet figures.

On a workload, each chip runs the model on a node of `chips` of itself (more, in powers of two, if the model does
not fit), with the layout and batch a tuned engine would pick (suanli.econ.run); per chip it reports output
tokens/s, and that per watt of modelled chip power (suanli.econ.power), per mm^2 of compute die and per $1000 of
chip price. From the datasheet: dense TFLOPS (TOPS for integers) per W of TDP and per mm^2 at each precision, TPP
and performance density (suanli.econ.policy). Figures the catalog lacks stay None.
"""

from __future__ import annotations

from suanli.econ.defaults import Ledger
from suanli.econ.policy import performance_density, tpp
from suanli.econ.power import energy_of
from suanli.econ.run import Ask, Run, fit_chips
from suanli.schema import Chip, SuanliError


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def datasheet_ppa(chip: Chip) -> dict:
    rates = chip.available_dtypes()
    bw = chip.memory.bandwidth_gb_s
    return {
        "id": chip.id, "name": chip.name, "tdp_w": chip.tdp_w, "die_area_mm2": chip.die_area_mm2,
        "price_usd": chip.price_usd, "node_nm": chip.node_nm, "tflops": rates,
        "tflops_per_w": {d: _ratio(v, chip.tdp_w) for d, v in rates.items()},
        "tflops_per_mm2": {d: _ratio(v, chip.die_area_mm2) for d, v in rates.items()},
        "memory_gb_s_per_w": _ratio(bw, chip.tdp_w), "tpp": tpp(chip), "performance_density": performance_density(chip),
    }


def chip_serving_w(run: Run, led: Ledger) -> float | None:
    """Mean power of one chip over a serving cycle (chip only, no host), or None when its TDP is unknown."""
    if not run.chip.tdp_w:
        return None
    e = energy_of(run, led)
    return (e.chip.at(e.prefill_activity) * e.prefill_s + e.chip.at(e.decode_activity) * e.decode_s) / e.cycle_s


def workload_ppa(ask: Ask, chip: Chip, chips: int = 8, price: float | None = None) -> dict:
    """One chip's row on a workload: throughput per chip and per W, mm^2 and $; an `error` if it cannot run."""
    row = datasheet_ppa(chip)
    if price is not None:
        row["price_usd"] = price
    try:
        run = fit_chips(ask, chip, None, start=chips)
    except SuanliError as e:
        return {**row, "error": str(e)}
    p = run.prediction
    d = p.deployment
    per_chip = p.output_tok_s / p.chips
    led = Ledger()
    watts = chip_serving_w(run, led)
    price_usd = row["price_usd"]
    return {**row, "chips": p.chips, "layout": {"tp": d.tp, "pp": d.pp, "ep": d.ep, "dp": d.dp},
            "batch": p.workload.batch, "tpot_ms": p.tpot_s * 1e3, "output_tok_s_per_chip": per_chip,
            "chip_power_w": watts, "tok_s_per_w": _ratio(per_chip, watts),
            "tok_s_per_mm2": _ratio(per_chip, chip.die_area_mm2),
            "tok_s_per_kusd": _ratio(per_chip * 1e3, price_usd),
            "intervals": _scaled(p.intervals.get("output_tok_s_per_chip"), per_chip, {
                "output_tok_s_per_chip": per_chip, "tok_s_per_w": _ratio(per_chip, watts),
                "tok_s_per_mm2": _ratio(per_chip, chip.die_area_mm2),
                "tok_s_per_kusd": _ratio(per_chip * 1e3, price_usd)}),
            "assumptions": led.as_dict()}


def _scaled(band: dict | None, per_chip: float, figures: dict[str, float | None]) -> dict:
    """Per-chip ratios inherit the throughput band (their denominators are fixed figures)."""
    if not band or not per_chip:
        return {}
    lo, hi = band["p10"] / per_chip, band["p90"] / per_chip
    return {k: {"p10": v * lo, "p90": v * hi, "basis": band["basis"]} for k, v in figures.items() if v is not None}
