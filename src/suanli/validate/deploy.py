"""The deployments a measured run stands for: its chip (or a slice of one), the catalog system that holds its chips,
the engine stack with the run's own launch settings, and the layouts to evaluate (the run's own, or every one the
engine can run)."""

from __future__ import annotations

from dataclasses import replace

from suanli.catalog import catalog
from suanli.catalog.loader import node_of
from suanli.engines import resolve_engine
from suanli.model.resolve import model_arch
from suanli.perf.auto import layouts
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration
from suanli.schema import Deployment, SuanliError, System
from suanli.validate.setup import Setup, Skip


def system_for(chip_id: str, n: int) -> System:
    """The catalog system built on this chip that holds n chips in the fewest units, else an n-chip node."""
    cat = catalog()
    options = [s for s in cat.systems.values() if s.chip == chip_id and s.chips > 1 and not s.id[0].isdigit()]
    fitting = sorted((s for s in options if s.chips >= n), key=lambda s: s.chips)
    if fitting:
        return fitting[0]
    if options:
        return max(options, key=lambda s: s.chips)  # several units over the scale-out network
    return cat.system(f"{n}x{chip_id}")


def sub_chip(chip, parts: int):
    """One of `parts` equal slices of a chip (a CPU's cores and memory channels split between pinned instances, a
    GPU's MIG slices): its peaks, memory and bandwidth divided by `parts`; links and family unchanged."""
    def share(v):
        return None if v is None else v / parts
    mem = chip.memory.model_copy(update=dict(capacity_gb=share(chip.memory.capacity_gb),
                                             bandwidth_gb_s=share(chip.memory.bandwidth_gb_s)))
    return chip.model_copy(update=dict(
        id=f"{chip.id}-slice{parts}", name=f"1/{parts} of {chip.name}",
        matrix_tflops={k: v / parts for k, v in chip.matrix_tflops.items()},
        vector_tflops={k: v / parts for k, v in chip.vector_tflops.items()}, memory=mem,
        cores=chip.cores // parts if chip.cores else None, sram_mb=share(chip.sram_mb), tdp_w=share(chip.tdp_w)))


def _deployments(s: Setup, cal: Calibration | None, chips: int | None = None,
                 layout: tuple[int, int, int, int] | None = None) -> list[Deployed]:
    cat = catalog()
    n = chips or s.n
    _, arch = model_arch(s.model)
    chip = cat.chips[s.hardware]
    system = system_for(s.hardware, n)
    if s.dp and s.dp > n and chips is None:  # instances on slices of one chip (cores, MIG)
        if s.dp % n or (s.tp or 1) * (s.pp or 1) > 1:
            raise Skip(f"dp={s.dp} on {n} chip(s): instances larger than one chip must fill tp*pp*dp <= chips, and "
                       "slices of a chip need tp = pp = 1 and dp a multiple of the chips")
        chip = sub_chip(chip, s.dp // n)
        n = s.dp
        system = node_of(chip, n, f"{n}x{chip.id}")
    base = Deployment(precision=s.precision, kv_precision=s.kv, engine=s.engine or None, speculative=s.speculative,
                      power_limit_w=s.power_limit_w)
    stack = resolve_engine(s.engine, chip.family, strict=False)
    if s.graph_mode:  # the run's own launch flag
        stack = replace(stack, features=stack.features.model_copy(update={"graph_mode": s.graph_mode}))
    if s.launch:  # what the run's launch command set on the server
        stack = replace(stack, features=stack.features.model_copy(update=dict(s.launch)))
    if layout:
        options = [layout]
    elif s.tp and chips is None:
        tp, pp = s.tp, s.pp or 1
        dp = s.dp or max(1, n // (tp * pp))
        ep = s.ep or (tp * dp if arch.is_moe and s.dp and s.dp > 1 else 1)
        if arch.is_moe and s.attention_dp and not s.dp and not s.ep:  # "tp" is the group: attention DP + expert EP
            tp, dp, ep = 1, tp * dp, tp * dp
        options = [(tp, pp, ep, dp)]
    else:
        domain = system.scale_up.domain if system.scale_up else system.chips_per_node
        options = [(lay.tp, lay.pp, lay.ep, lay.dp) for lay in layouts(arch, n, domain, stack.features)]
    out = []
    for tp, pp, ep, dp in options:
        try:
            d = Deployed(arch, chip, system, base.model_copy(update=dict(tp=tp, pp=pp, ep=ep, dp=dp)), s.model, cal,
                         stack)
            if s.memory_utilization:  # the run states it: not a fitted factor
                d.factors = replace(d.factors, memory_utilization=s.memory_utilization)
            d.static = s.static
            out.append(d)
        except SuanliError as e:
            if len(options) == 1:
                raise Skip(str(e)) from None
    if not out:
        raise Skip(f"no valid layout of {s.model} on {n} x {s.hardware}")
    return out
