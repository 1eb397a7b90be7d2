"""Total cost of ownership and dollars per million tokens.

Per hour of wall-clock time, for the chips a deployment uses:
    capex      = chips x capex per chip / (years x 8760)
                 capex per chip = (chip price x (1 + server_overhead_fraction), or system price / chips)
                                  x (1 + network_fraction where the system has a scale-out network)
    facility   = facility_usd_per_kw_month x provisioned IT kW x 12 / 8760   (TDP + rated node overhead)
    energy     = (u x serving IT kW + (1 - u) x idle IT kW) x PUE x electricity price       (u = utilization)
    tokens     = u x 3600 x tokens per serving cycle / cycle seconds
    $/Mtok blended = hourly total / tokens per hour x 1e6
The input/output split charges each phase its own energy plus the fixed costs (capex, facility, idle energy)
pro rata to its time: input tokens pay for the prefill, output tokens for the decode.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.econ.defaults import Ledger
from suanli.econ.power import Energy
from suanli.schema import Chip, SuanliError, System

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Rates:
    years: float
    utilization: float
    electricity_usd_per_kwh: float
    pue: float
    facility_usd_per_kw_month: float

    def check(self) -> None:
        for name, v, ok, allowed in (
            ("years", self.years, self.years > 0, "> 0"),
            ("utilization", self.utilization, 0 < self.utilization <= 1, "in (0, 1]"),
            ("electricity", self.electricity_usd_per_kwh, self.electricity_usd_per_kwh >= 0, ">= 0 USD/kWh"),
            ("pue", self.pue, self.pue >= 1, ">= 1"),
            ("facility", self.facility_usd_per_kw_month, self.facility_usd_per_kw_month >= 0, ">= 0 USD/kW/month"),
        ):
            if not ok:
                raise SuanliError(f"{name}: {v:g} is not allowed; allowed: {allowed}")


def rates(led: Ledger, *, years=None, utilization=None, electricity=None, pue=None, facility=None) -> Rates:
    r = Rates(led.use("years", years, "--years"), led.use("utilization", utilization, "--utilization"),
              led.use("electricity_usd_per_kwh", electricity, "--electricity"), led.use("pue", pue, "--pue"),
              led.use("facility_usd_per_kw_month", facility, "--facility"))
    r.check()
    return r


def capex_per_chip(chip: Chip, system: System, led: Ledger, *, chip_price: float | None = None,
                   system_price: float | None = None, server_overhead: float | None = None,
                   network: float | None = None) -> float | None:
    """Capex of one chip's share of chip, server and network; None when no price is known."""
    if system_price is not None:
        per = led.put("system_price_usd", system_price, "USD per unit", "user (--system-price)") / system.chips
    elif system.price_usd and chip_price is None:
        src = f"catalog {system.id}.price_usd: " + "; ".join(system.sources_of("price_usd"))
        per = led.put("system_price_usd", system.price_usd, "USD per unit", src) / system.chips
    else:
        if chip_price is not None:
            price = led.put("chip_price_usd", chip_price, "USD", "user (--price)")
        elif chip.price_usd:
            price = led.put("chip_price_usd", chip.price_usd, "USD",
                            f"catalog {chip.id}.price_usd: " + "; ".join(chip.sources_of("price_usd")))
        else:
            return None
        per = price * (1 + led.use("server_overhead_fraction", server_overhead, "--server-overhead"))
    has_net = system.scale_out is not None or chip.scale_out is not None
    net = led.use("network_fraction", network, "--network-fraction") if has_net else 0.0
    return per * (1 + net)


@dataclass
class Hourly:
    capex: float | None
    facility: float
    energy: float
    idle_energy: float  # part of `energy` spent idling
    tokens: float  # tokens per hour, input + output

    @property
    def total(self) -> float | None:
        return None if self.capex is None else self.capex + self.facility + self.energy


def hourly(e: Energy, capex_chip: float | None, provisioned_w: float, r: Rates) -> Hourly:
    u = r.utilization
    kwh_price = r.electricity_usd_per_kwh * r.pue / 1000.0  # USD per W-hour at the wall
    idle = (1 - u) * e.idle_it_w * kwh_price
    energy = u * e.serving_it_w * kwh_price + idle
    capex = None if capex_chip is None else e.chips * capex_chip / (r.years * HOURS_PER_YEAR)
    facility = r.facility_usd_per_kw_month * provisioned_w / 1000.0 * 12 / HOURS_PER_YEAR
    tokens = u * 3600.0 * (e.input_tokens + e.output_tokens) / e.cycle_s
    return Hourly(capex, facility, energy, idle, tokens)


def usd_per_mtok(e: Energy, h: Hourly, r: Rates) -> dict[str, float | None]:
    """$/Mtok for input tokens (prefill), output tokens (decode) and all tokens together."""
    if h.total is None:
        return {"input": None, "output": None, "blended": None}
    fixed_per_s = (h.capex + h.facility + h.idle_energy) / (3600.0 * r.utilization)
    j_price = r.electricity_usd_per_kwh * r.pue / 3.6e6  # USD per joule of IT energy
    pre = fixed_per_s * e.prefill_s + e.prefill_j * j_price
    dec = fixed_per_s * e.decode_s + e.decode_j * j_price
    return {"input": pre / e.input_tokens * 1e6, "output": dec / e.output_tokens * 1e6,
            "blended": h.total / h.tokens * 1e6}
