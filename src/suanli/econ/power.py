"""Power and energy of a deployment: per-chip draw from how busy the perf model says each chip is.

For each phase (the prefill of the batch, one mean decode step) the perf model gives every op's compute seconds
tc and memory seconds tm (at the calibrated efficiencies) and its time t = max(tc, tm) + kernel cost. A chip's
activity over the phase is
    a = (sum over ops of min(max(tc, tm), tc + w_mem x tm) + w_mem x collective transfer time) / phase time
so a compute-bound op counts fully, a purely memory-bound one counts w_mem (`memory_activity_weight`), a
collective counts like a memory-bound op while it moves data (it streams HBM and the links), and kernel launches,
link latency and host overhead count as idle; 0 <= a <= 1. Then
    chip power  = idle + (TDP - idle) x a              (idle: catalog idle_w, else idle_fraction_of_tdp x TDP)
    IT power    = chips x chip power + node overhead   (node_overhead_w x node_overhead_load, per chip share)
    energy      = IT power x phase time; wall energy = energy x PUE
Energy is attributed to tokens the way cost is: the prefill to the input tokens, the decode to the output tokens.
So energy per token is never below chips x idle power x time / tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.econ.defaults import ASSUMPTION, Ledger
from suanli.econ.run import Run
from suanli.perf.deployed import Deployed
from suanli.schema import Chip, SuanliError, System


@dataclass(frozen=True)
class ChipPower:
    tdp_w: float
    idle_w: float

    def at(self, activity: float) -> float:
        return self.idle_w + (self.tdp_w - self.idle_w) * min(1.0, max(0.0, activity))


def chip_power(chip: Chip, led: Ledger, tdp_w: float | None = None, idle_w: float | None = None,
               idle_fraction: float | None = None) -> ChipPower:
    """TDP and idle power of a chip, from the user, the catalog, or (idle only) an assumed fraction of TDP."""
    if tdp_w is not None:
        tdp = led.put("chip_tdp_w", tdp_w, "W", "user (--tdp)")
    elif chip.tdp_w:
        tdp = led.put("chip_tdp_w", chip.tdp_w, "W", _cited(chip, "tdp_w"))
    else:
        raise SuanliError(f"chip {chip.id}: TDP is unknown in the catalog, so power cannot be estimated; pass --tdp W")
    if idle_w is not None:
        idle = led.put("chip_idle_w", idle_w, "W", "user (--idle-w)")
    elif chip.idle_w:
        idle = led.put("chip_idle_w", chip.idle_w, "W", _cited(chip, "idle_w"))
    else:
        frac = led.use("idle_fraction_of_tdp", idle_fraction, "--idle-fraction")
        idle = led.put("chip_idle_w", frac * tdp, "W", ASSUMPTION, f"idle_fraction_of_tdp {frac:g} x TDP")
    if not 0 < idle <= tdp:
        raise SuanliError(f"idle power {idle:g} W is not allowed for {chip.id}: it must be > 0 and <= TDP {tdp:g} W")
    return ChipPower(tdp, idle)


def _cited(entry, path: str) -> str:
    src = entry.sources_of(path)
    return f"catalog {entry.id}.{path}: " + ("; ".join(src) if src else "no source")


def node_overhead_per_chip(system: System, chip_tdp: float, led: Ledger, override_w: float | None = None) -> float:
    """Rated power of the host (CPUs, NICs, fans) per chip of the node."""
    if override_w is not None:
        return led.put("node_overhead_w", override_w, "W per node", "user (--node-overhead-w)") / system.chips_per_node
    if system.node_overhead_w is not None:
        w = led.put("node_overhead_w", system.node_overhead_w, "W per node", _cited(system, "node_overhead_w"))
        return w / system.chips_per_node
    frac = led.use("node_overhead_fraction_of_tdp")
    led.put("node_overhead_w", frac * chip_tdp * system.chips_per_node, "W per node", ASSUMPTION,
            f"node_overhead_fraction_of_tdp {frac:g} x chip TDP x {system.chips_per_node} chips")
    return frac * chip_tdp


def activity(dep: Deployed, shape, phase_s: float, w_mem: float) -> float:
    """Busy fraction of a chip over a phase that takes phase_s seconds per pipeline stage."""
    if phase_s <= 0:
        return 0.0
    _, tc, tm = dep.op_seconds(dep.features(shape))
    counts = np.array([op.count for op in dep.ops], dtype=float)
    comm = np.array([op.op_class == "comm" for op in dep.ops])
    busy = np.where(comm, w_mem * tc, np.minimum(np.maximum(tc, tm), tc + w_mem * tm)) * counts
    return float(min(1.0, busy.sum() / phase_s))


@dataclass
class Energy:
    chips: int
    chip: ChipPower
    overhead_w: float  # node overhead drawn, whole deployment
    prefill_s: float  # per cycle
    decode_s: float
    prefill_activity: float
    decode_activity: float
    input_tokens: float  # per cycle
    output_tokens: float

    def it_w(self, activity: float) -> float:
        return self.chips * self.chip.at(activity) + self.overhead_w

    @property
    def idle_it_w(self) -> float:
        return self.it_w(0.0)

    @property
    def prefill_j(self) -> float:
        return self.it_w(self.prefill_activity) * self.prefill_s

    @property
    def decode_j(self) -> float:
        return self.it_w(self.decode_activity) * self.decode_s

    @property
    def cycle_s(self) -> float:
        return self.prefill_s + self.decode_s

    @property
    def serving_it_w(self) -> float:
        """Mean IT power over a serving cycle."""
        return (self.prefill_j + self.decode_j) / self.cycle_s

    def per_token(self) -> dict[str, float | None]:
        tokens = self.input_tokens + self.output_tokens
        return {"prefill_per_input_token": self.prefill_j / self.input_tokens,
                "decode_per_output_token": self.decode_j / self.output_tokens,
                "per_output_token": (self.prefill_j + self.decode_j) / self.output_tokens,
                "per_token": (self.prefill_j + self.decode_j) / tokens}


def energy_of(run: Run, led: Ledger, *, tdp_w: float | None = None, idle_w: float | None = None,
              idle_fraction: float | None = None, w_mem: float | None = None,
              node_overhead_w: float | None = None, overhead_load: float | None = None) -> Energy:
    """Power and energy of one serving cycle of the run (every sequence prefilled once, then decoded)."""
    p, dep = run.prediction, run.deployed
    cp = chip_power(run.chip, led, tdp_w, idle_w, idle_fraction)
    wm = led.use("memory_activity_weight", w_mem, "--memory-weight")
    load = led.use("node_overhead_load", overhead_load, "--overhead-load")
    over = node_overhead_per_chip(run.system, cp.tdp_w, led, node_overhead_w) * p.chips * load
    w, lay = p.workload, dep.layout
    b = w.batch / lay.dp
    decode_s = (w.output_len - 1) * p.tpot_s
    prefill_s = p.cycle_s - decode_s
    a_pre = activity(dep, dep.prefill_shape(b, w.input_len), prefill_s, wm)
    mid = dep.decode_shape(b / lay.pp, w.input_len + (w.output_len - 1) / 2)
    a_dec = activity(dep, mid, dep.step_time(mid), wm)
    return Energy(p.chips, cp, over, prefill_s, decode_s, a_pre, a_dec, w.batch * w.input_len,
                  w.batch * w.output_len)


def power_dict(e: Energy, pue: float) -> dict:
    return {
        "chip_tdp_w": e.chip.tdp_w, "chip_idle_w": e.chip.idle_w,
        "chip_prefill_w": e.chip.at(e.prefill_activity), "chip_decode_w": e.chip.at(e.decode_activity),
        "prefill_activity": e.prefill_activity, "decode_activity": e.decode_activity,
        "node_overhead_w": e.overhead_w, "idle_it_w": e.idle_it_w,
        "prefill_it_w": e.it_w(e.prefill_activity), "decode_it_w": e.it_w(e.decode_activity),
        "serving_it_w": e.serving_it_w, "serving_wall_w": e.serving_it_w * pue, "pue": pue,
    }
