"""Time of one op on one chip: roofline with efficiency factors, and alpha-beta collectives.

op time = max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x memory efficiency)) + kernels x kernel_us
A GEMM with fewer rows than the matrix unit's tile still pays for the whole tile (`gemm_tile_m`), which is why
small-M decode GEMMs never reach peak even when compute would bind. A GEMM with a short reduction (K) pays each
output tile's prologue and epilogue over fewer steps of K: efficiency K / (K + gemm_k0), with gemm_k0 measured
from GEMM shape sweeps (ops.csv: DeepGEMM fp8 on H800 falls from 0.77 of peak at K=16384 to 0.39 at K=512).
Collectives (alpha-beta): latency phases x hops x alpha (two phases for all-reduce, one otherwise: the
one-/two-shot algorithms inference engines use for small messages; one hop through a switch or a full mesh, the
group's diameter on a torus or ring, where a message reaches the farthest chip only link by link) + algorithm
bytes / (link bandwidth x efficiency), with the
ring volumes 2(n-1)/n x S for all-reduce, (n-1) x S for all-gather of S per chip, S for all-to-all (S already
counts only what leaves the chip), S for point-to-point. All-reduces larger than the engine's own one-/two-shot
kernels take (feature `custom_ar_max_mb`: 8 MiB in vLLM and SGLang, 8 MB in TensorRT-LLM at TP > 2) run as NCCL
rings, whose achieved bandwidth ramps with size (pipeline fill): measured busbw on 8 B200s is 36% of peak at
32 MB, 63% at 128 MB, 80% at 1 GB (ops.csv, all_reduce_bench), which a fixed fill time of about 60 us on top of
the bandwidth term reproduces. It is charged to steps whose message exceeds the threshold (feature `ar_large`).
The step in step time this makes is the engines' own: at 8 MB the same curve takes 116 us, several times its
bandwidth term, where the engine's kernel had been bandwidth-bound.
The expert-parallel exchange (MoE dispatch and combine) inside a scale-up domain has measured figures of its own
(`a2a_us`, `a2a_bandwidth` from `validate.exchange`): its kernels signal and wait on every peer, which takes
12-22 us per op at a few tokens (several times fabric latency + a launch), and their copies reach about half the
link's bandwidth.

`OpCost` turns an op into per-feature seconds, so that a step's time is two dot products and a maximum per op.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.model.ops import EP_EXCHANGE, LinOp
from suanli.perf.factors import Factors
from suanli.perf.hardware import Hardware

COMPUTE_EFF = {"gemm": "gemm_compute", "attention": "attn_compute", "moe": "moe_compute"}
MEMORY_EFF = {"gemm": "gemm_memory", "attention": "attn_memory", "moe": "moe_memory",
              "elementwise": "elementwise_memory"}
PEAK_FALLBACK = {
    "fp4": ("fp4", "fp8", "int8", "bf16", "fp16", "fp32"), "fp8": ("fp8", "bf16", "fp16", "fp32"),
    "int8": ("int8", "fp8", "bf16", "fp16", "fp32"), "int4": ("int4", "int8", "fp16", "bf16", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"), "fp16": ("fp16", "bf16", "fp32"), "fp32": ("fp32", "tf32", "bf16", "fp16"),
}


def peak_for(hw: Hardware, dtype: str) -> float:
    """FLOP/s for a dtype, falling back to the nearest wider type the chip has."""
    return hw.peak[peak_key(hw, dtype)]


def peak_key(hw: Hardware, dtype: str) -> str:
    """The dtype whose rate a `dtype` op runs at: itself, the nearest wider type the chip has, else its fastest."""
    for d in PEAK_FALLBACK.get(dtype, (dtype, "bf16", "fp16", "fp32")):
        if hw.peak.get(d):
            return d
    return max(hw.peak, key=hw.peak.get)


def k_penalty(op: LinOp, k0: float) -> float:
    """How much slower than its asymptote a GEMM runs for its reduction length: each output tile pays a fixed
    prologue and epilogue worth `k0` steps of K, so efficiency is K / (K + k0); an op of several GEMMs averages
    the time over its FLOP shares."""
    if not k0 or not op.k_mix:
        return 1.0
    return sum(share * (1.0 + k0 / k) for share, k in op.k_mix if k > 0) or 1.0


@dataclass(frozen=True)
class OpCost:
    """Seconds per unit of each feature: compute side, memory side, and a fixed cost when the op runs."""

    compute: dict[str, float]
    memory: dict[str, float]
    fixed: float
    network: bool


def op_cost(op: LinOp, hw: Hardware, f: Factors, span: int) -> OpCost:
    kernel = op.kernels * f.kernel_us * 1e-6
    if op.op_class == "comm":
        n = op.group
        if n <= 1:
            return OpCost({}, {}, 0.0, True)
        link = hw.link_for(n, span)
        # the expert exchange inside a scale-up domain has its own measured figures (Factors.a2a_*)
        exchange = op.name in EP_EXCHANGE and link is hw.scale_up
        bw = link.bandwidth * (f.a2a_bandwidth if exchange and f.a2a_bandwidth else f.comm_bandwidth)
        volume = {"all_reduce": 2.0 * (n - 1) / n, "all_gather": float(n - 1)}.get(op.comm, 1.0)
        # latency: the phases of the small-message algorithm, each crossing the fabric's hops among the group
        phases = (2 if op.comm == "all_reduce" else 1) * (link.hops(n) if op.comm != "p2p" else 1)
        compute = {k: c * volume / bw for k, c in op.comm_bytes.items()}
        if op.comm == "all_reduce":
            compute["ar_large"] = f.comm_ring_us * 1e-6
        fixed = phases * link.latency_s + f.kernel_us * 1e-6
        return OpCost(compute, {}, max(fixed, f.a2a_us * 1e-6) if op.name in EP_EXCHANGE else fixed, True)
    c_name = COMPUTE_EFF.get(op.op_class)
    compute = {}
    if c_name:
        rate = peak_for(hw, op.dtype) * getattr(f, c_name) / k_penalty(op, f.gemm_k0)
        if op.dtype == "fp4" and hw.peak.get("fp4"):
            rate *= f.fp4_compute  # 4-bit matrix units reach less of their (doubled) peak
        compute = {k: c / rate for k, c in op.flops.items()}
    mem_rate = hw.mem_bw * getattr(f, MEMORY_EFF[op.op_class])
    return OpCost(compute, {k: c / mem_rate for k, c in op.bytes.items()}, kernel, False)
