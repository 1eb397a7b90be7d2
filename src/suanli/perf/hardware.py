"""The hardware view the cost model needs: peaks, bandwidth and links of one deployment on one system.

`Hardware` gathers, once per (system, deployment), the numbers every op evaluation reads, so the hot loop touches
plain floats. Link choice is physical: a collective among chips that fit in one scale-up domain uses the
scale-up fabric; one that spans domains is limited by the scale-out network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.perf.factors import Factors
from suanli.schema import Chip, SuanliError, System


@dataclass(frozen=True)
class LinkView:
    bandwidth: float  # bytes/s per chip per direction
    latency_s: float  # per collective step
    topology: str = "switch"  # switch | mesh | torus | ring | pcie | none (the system's scale-up fabric)

    def hops(self, group: int) -> int:
        """Link hops a collective phase crosses among `group` chips: one through a switch or a full mesh; on a
        ring, half of it; on a torus (laid out as the squarest 2D grid of the group), half of each side."""
        if group <= 1:
            return 0
        if self.topology == "ring":
            return group // 2
        if self.topology == "torus":
            a = max(d for d in range(1, int(group ** 0.5) + 1) if group % d == 0)
            return a // 2 + (group // a) // 2
        return 1


@dataclass(frozen=True)
class Hardware:
    chip: Chip
    system: System
    peak: dict[str, float]  # FLOP/s by dtype (matrix, else vector)
    mem_bw: float  # bytes/s
    capacity: float  # bytes usable by the engine
    domain: int  # chips in one scale-up domain
    scale_up: LinkView | None
    scale_out: LinkView | None

    def link_for(self, group: int, span: int) -> LinkView:
        """The link a collective of `group` chips uses when its chips spread over `span` consecutive chips."""
        if span <= self.domain and self.scale_up:
            return self.scale_up
        if self.scale_out:
            return self.scale_out
        if self.scale_up:
            return self.scale_up
        raise SuanliError(f"system {self.system.id}: a group of {group} chips needs a chip-to-chip link, "
                          f"and none is known for {self.chip.id}")


STATIC_SHARE = 0.2  # share of the full-power part's budget that does not scale with compute (memory, leakage)


def power_cap(chip: Chip, f: Factors, limit_w: float | None = None) -> float:
    """Fraction of its rated peak a power-limited part sustains under full compute load (PCIe/NVL cards run the
    SXM die at half its power; `limit_w` is a power limit set below the TDP, as MLPerf's MaxQ runs do). Derived from
    the family's full-power part; 1 where nothing is known."""
    rated = chip.peak_tflops("bf16") or chip.peak_tflops("fp16")
    watts = min(w for w in (chip.tdp_w, limit_w) if w) if (chip.tdp_w or limit_w) else None
    if not (f.power_ref_w and f.power_ref_tflops and watts and rated):
        return 1.0
    return float(sustained_share(watts, rated, f))


def power_note(chip: Chip, f: Factors, limit_w: float) -> str:
    """What a power limit does to this chip's compute, for a prediction's notes."""
    share = power_cap(chip, f, limit_w) / power_cap(chip, f)
    rated = f"{chip.tdp_w:g} W" if chip.tdp_w else "unknown"
    if share >= 1.0:
        return (f"power limit {limit_w:g} W is not below {chip.id}'s rated power ({rated}) or its family's power "
                "curve is unknown: no effect")
    return (f"power limit {limit_w:g} W (rated {rated}): compute sustains {share:.0%} of what it does at the rated "
            "power; memory bandwidth unchanged")


def sustained_share(tdp_w, rated_tflops, f: Factors):
    """`power_cap` for known figures; takes numpy arrays too (design-space exploration varies TDP and peak)."""
    static = STATIC_SHARE * f.power_ref_w
    sustained = f.power_ref_tflops / (f.power_ref_w - static) * np.maximum(tdp_w - static, 0.0)
    return np.clip(sustained / rated_tflops, 0.05, 1.0)


def hardware_of(chip: Chip, system: System, f: Factors, power_limit_w: float | None = None) -> Hardware:
    if not chip.memory.bandwidth_gb_s:
        raise SuanliError(f"chip {chip.id}: memory bandwidth is unknown, so no prediction can be made "
                          "(add it to the catalog with a source, or use --chip-file)")
    peak = {k: v * 1e12 * power_cap(chip, f, power_limit_w) for k, v in chip.available_dtypes().items()}
    if not peak:
        raise SuanliError(f"chip {chip.id}: no compute rate is known, so no prediction can be made")
    cap_gb = chip.usable_memory_gb
    if cap_gb is None:
        raise SuanliError(f"chip {chip.id}: memory capacity is unknown, so no prediction can be made")
    up = system.scale_up
    up_bw = (up.bandwidth_gb_s if up and up.bandwidth_gb_s else
             (chip.scale_up.bandwidth_gb_s if chip.scale_up and chip.scale_up.bandwidth_gb_s else None))
    if up_bw is None and system.chips > 1 and chip.host_link and chip.host_link.bandwidth_gb_s:
        up_bw = chip.host_link.bandwidth_gb_s
    up_lat = (up.latency_us if up and up.latency_us else None) or f.comm_latency_us
    scale_up = LinkView(up_bw * 1e9, up_lat * 1e-6, up.topology if up else "switch") if up_bw else None
    out = system.scale_out or chip.scale_out
    scale_out = None
    if out and out.bandwidth_gb_s:
        scale_out = LinkView(out.bandwidth_gb_s * 1e9, (out.latency_us or f.scaleout_latency_us) * 1e-6)
    domain = up.domain if up else system.chips_per_node
    return Hardware(chip, system, peak, chip.memory.bandwidth_gb_s * 1e9, cap_gb * 1e9, domain, scale_up, scale_out)
