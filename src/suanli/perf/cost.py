"""Time of one op on one chip: roofline with efficiency factors, and alpha-beta collectives.

op time = max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x memory efficiency)) + kernels x kernel_us
A GEMM with fewer rows than the matrix unit's tile still pays for the whole tile (`gemm_tile_m`), which is why
small-M decode GEMMs never reach peak even when compute would bind.
Collectives (alpha-beta): latency phases x alpha (two for all-reduce, one otherwise: the one-/two-shot
algorithms inference engines use for small messages) + algorithm bytes / (link bandwidth x efficiency), with the ring
volumes 2(n-1)/n x S for all-reduce, (n-1) x S for all-gather of S per chip, S for all-to-all (S already counts
only what leaves the chip), S for point-to-point.
"""

from __future__ import annotations

from math import ceil

from suanli.model.ops import Op
from suanli.perf.factors import Factors
from suanli.perf.hardware import Hardware

COMPUTE_EFF = {"gemm": "gemm_compute", "attention": "attn_compute", "moe": "moe_compute"}
MEMORY_EFF = {"gemm": "gemm_memory", "attention": "attn_memory", "moe": "moe_memory",
              "elementwise": "elementwise_memory"}


def peak_for(hw: Hardware, dtype: str) -> float:
    """FLOP/s for a dtype, falling back to the nearest wider type the chip has."""
    order = {"fp4": ("fp4", "fp8", "int8", "bf16", "fp16", "fp32"), "fp8": ("fp8", "bf16", "fp16", "fp32"),
             "int8": ("int8", "fp8", "bf16", "fp16", "fp32"), "int4": ("int4", "int8", "fp16", "bf16", "fp32"),
             "bf16": ("bf16", "fp16", "fp32"), "fp16": ("fp16", "bf16", "fp32"), "fp32": ("fp32", "tf32", "bf16")}
    for d in order.get(dtype, (dtype, "bf16", "fp16", "fp32")):
        p = hw.peak.get(d)
        if p:
            return p
    return max(hw.peak.values())


def compute_memory_times(op: Op, hw: Hardware, f: Factors) -> tuple[float, float]:
    """(compute seconds, memory seconds) of a non-communication op, efficiencies applied."""
    flops = op.flops
    if op.m > 0 and op.op_class in ("gemm", "moe") and f.gemm_tile_m > 1:
        flops *= ceil(op.m / f.gemm_tile_m) * f.gemm_tile_m / op.m
    c_name = COMPUTE_EFF.get(op.op_class)
    t_c = flops / (peak_for(hw, op.dtype) * getattr(f, c_name)) if (c_name and flops) else 0.0
    t_m = op.bytes / (hw.mem_bw * getattr(f, MEMORY_EFF[op.op_class])) if op.bytes else 0.0
    return t_c, t_m


def collective_time(op: Op, hw: Hardware, f: Factors, span: int) -> float:
    n = op.group
    if n <= 1 or op.comm_bytes <= 0:
        return 0.0
    link = hw.link_for(n, span)
    bw = link.bandwidth * f.comm_bandwidth
    if op.comm == "all_reduce":  # reduce-scatter + all-gather: two latency phases
        return 2 * link.latency_s + 2.0 * (n - 1) / n * op.comm_bytes / bw
    if op.comm == "all_gather":
        return link.latency_s + (n - 1) * op.comm_bytes / bw
    return link.latency_s + op.comm_bytes / bw  # all_to_all (bytes already remote only) and p2p


def op_time(op: Op, hw: Hardware, f: Factors, span: int) -> tuple[float, str]:
    """Seconds for one occurrence of the op, and what bounds it: compute, memory or network."""
    if op.op_class == "comm":
        return collective_time(op, hw, f, span) + f.kernel_us * 1e-6, "network"
    t_c, t_m = compute_memory_times(op, hw, f)
    return max(t_c, t_m) + op.kernels * f.kernel_us * 1e-6, ("compute" if t_c >= t_m else "memory")
