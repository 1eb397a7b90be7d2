"""The step model over arrays of design points: one deployment, many chips that differ in their figures.

A deployment's step costs are linear in a few chip figures: an op's compute time in 1 / (the peak of the dtype it
runs at), its memory time in 1 / memory bandwidth, a collective's in 1 / the bandwidth of the link it crosses;
latencies and kernel costs stay. So the base chip's per-op compute and memory seconds for each step of the
prediction (`perf.steps.StepPlan`) are computed once, and a design point rescales them by its figures' ratios to
the base's, takes the same roofline per op and the same arithmetic (`StepPlan.combine`) — numpy over points,
no Python loop per point. `tests/test_explore.py` checks it against `predict` on derived chips to 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.perf.cost import COMPUTE_EFF, peak_key
from suanli.perf.deployed import Deployed, combine
from suanli.perf.hardware import sustained_share
from suanli.perf.steps import TOKEN_BUDGET
from suanli.schema import SuanliError, Workload


@dataclass
class Figures:
    """Chip figures of N design points (arrays of one length; catalog units: TFLOPS, GB/s, GB, W)."""

    rates: dict[str, np.ndarray]  # dense peak by dtype (matrix, else vector), TFLOPS
    bandwidth: np.ndarray
    capacity: np.ndarray
    tdp: np.ndarray | None
    links: dict[str, np.ndarray]  # chip link field ("scale_up", "host_link", "scale_out") -> GB/s


class Vectorized:
    """One deployment and workload, evaluated for N chips at once."""

    def __init__(self, dep: Deployed, wl: Workload, link_fields: dict[str, str]):
        if dep.static:
            raise SuanliError(f"explore: {dep.stack.label} compiles fixed shapes; explore runs engines with "
                              "dynamic batching")
        lay = dep.layout
        self.dep, self.wl = dep, wl
        self.b = wl.batch / lay.dp
        self.plan, x = dep.plan_for(self.b, wl.input_len, wl.output_len)
        counts = dep._count[None, :]
        # a ring's pipeline fill (feature ar_large) is a latency: it does not scale with the link's bandwidth
        c, fill = dep._c.copy(), np.zeros_like(dep._c)
        ring = dep.feature_index.get("ar_large")
        if ring is not None:
            fill[:, ring], c[:, ring] = c[:, ring], 0.0
        self.tc0 = x @ c.T * counts  # (steps, ops) compute seconds on the base chip that scale with a figure
        self.tc_fill = x @ fill.T * counts
        self.tm0 = x @ dep._m.T * counts
        self.fixed = ((x[:, dep._active] > 0) * dep._fixed_count[None, :]).sum(axis=1)
        self.n = dep._n
        hw, f = dep.hw, dep.factors
        self.factors = f
        self.chip = dep.chip
        # what each op's compute side scales with: a peak (by dtype key), a link, or nothing (host work)
        self.groups: dict[tuple[str, str], list[int]] = {}
        links = {id(hw.scale_up): "up", id(hw.scale_out): "out"}
        span = {"all_reduce": lay.tp, "all_gather": lay.tp, "all_to_all": lay.tp * lay.dp, "p2p": lay.chips}
        for i, op in enumerate(dep.ops):
            if op.op_class == "comm" and op.group > 1:
                which = links.get(id(hw.link_for(op.group, span.get(op.comm, 1))))
                key = ("link", link_fields.get(which, "")) if which else None
            elif op.op_class in COMPUTE_EFF:
                key = ("peak", peak_key(hw, op.dtype))
            else:
                key = None
            if key is not None and key[1]:
                self.groups.setdefault(key, []).append(i)
        self.peak0 = dict(hw.peak)  # FLOP/s, power cap included
        self.bw0 = hw.mem_bw
        self.link0 = {"scale_up": _bw(dep.chip.scale_up), "host_link": _bw(dep.chip.host_link),
                      "scale_out": _bw(dep.chip.scale_out)}
        self.step_tokens = min(self.b * wl.input_len, max(TOKEN_BUDGET, wl.input_len))

    def power_share(self, fig: Figures) -> np.ndarray | float:
        """`perf.hardware.power_cap` for each point (a power-limited part sustains less than its rated peak)."""
        f = self.factors
        rated = fig.rates.get("bf16", fig.rates.get("fp16"))
        if not (f.power_ref_w and f.power_ref_tflops) or fig.tdp is None or rated is None:
            return 1.0
        return sustained_share(fig.tdp, rated, f)

    def evaluate(self, fig: Figures) -> dict[str, np.ndarray]:
        """ttft, ttft_loaded, tpot, cycle (s), output tok/s, fits and memory used per chip (bytes) per point."""
        n = len(fig.bandwidth)
        share = self.power_share(fig)
        scale = np.ones((n, self.tc0.shape[1]))
        for (kind, name), ops in self.groups.items():
            if kind == "peak":
                scale[:, ops] = (self.peak0[name] / (fig.rates[name] * 1e12 * share))[:, None]
            elif name in fig.links:
                scale[:, ops] = (self.link0[name] / fig.links[name])[:, None]
        mem = (self.bw0 / (fig.bandwidth * 1e9))[:, None, None]
        tc = self.tc0[None, :, :] * scale[:, None, :] + self.tc_fill[None, :, :]
        tm = self.tm0[None, :, :] * mem
        t = combine(tc, tm, self.n)
        t = t.sum(axis=2) + self.fixed[None, :] + self.dep.overhead_s
        out = self.plan.combine(t, self.dep.overhead_s)
        use = self.dep.memory(self.b, self.wl.input_len + self.wl.output_len, self.step_tokens,
                              capacity=fig.capacity * 1e9 * (self.chip.memory.usable_fraction or 1.0))
        out["fits"] = use.free >= 0
        out["memory_used"] = np.broadcast_to(use.weights + use.kv_cache + use.activations, (n,))
        out["ttft_loaded"] = self.plan.host + out["admission"] + out["loaded_prefill"]
        out["output_tok_s"] = self.wl.batch * self.wl.output_len / out["cycle"]
        return out


def _bw(link) -> float | None:
    return link.bandwidth_gb_s if link and link.bandwidth_gb_s else None
