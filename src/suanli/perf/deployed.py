"""A model laid out on a system: what stays fixed from step to step, resolved once.

`Deployed` checks the layout (TP divides the heads, EP divides the experts, the chips exist), picks the matrix
dtype the chip runs the chosen precision at, resolves the efficiency factors for the chip and engine family, and
then answers, fast and as often as asked, "how long does a step of this shape take" and "what does memory hold".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import inf

import numpy as np

from suanli.engines import Stack, path_cost, resolve_engine
from suanli.model.arch import Arch, expanded_mla, without_uniform_window
from suanli.model.ops import Layout, LinOp, Op, at, moe_shapes, step_ops, windows_of
from suanli.model.shape import StepShape
from suanli.perf.cost import OpCost, op_cost
from suanli.perf.factors import Calibration, bundled_calibration
from suanli.perf.features import ALWAYS, FeatureWriter, features
from suanli.perf.hardware import Hardware, hardware_of, power_note
from suanli.perf.memory import MemoryUse, activation_bytes, kv_bytes_per_seq, weight_bytes_per_chip
from suanli.perf.numerics import check_layout, numerics_for
from suanli.perf.speculative import check_speculation, draft_only, draft_seconds, shape_of, verify_shape
from suanli.perf.steps import StepPlan, step_plan
from suanli.perf.vision import add_vision
from suanli.schema import Chip, Deployment, SuanliError, System

SPEC_FEATURES = ("spec_scale", "draft_s")  # a step's share per emitted token, and its draft passes' seconds


def remember(cache: dict, key, value, size: int = 256):
    """Keep `value` under `key`, dropping the oldest entry past `size`; returns `value`."""
    if len(cache) >= size:
        cache.pop(next(iter(cache)), None)
    cache[key] = value
    return value


def combine(tc: np.ndarray, tm: np.ndarray, n: float) -> np.ndarray:
    """An op's time from its compute and memory times: the roofline maximum, or with n > 0 the n-norm, which a
    kernel near the ridge point follows (it cannot overlap both fully); counts > 0 scale both alike."""
    if not n:
        return np.maximum(tc, tm)
    return np.power(np.power(tc, n) + np.power(tm, n), 1.0 / n)


@dataclass(frozen=True)
class StaticGraph:
    """An engine compiled ahead of time for fixed shapes (`Features.fixed_shapes`). Its prefill graph takes one
    prompt at a time, padded to the smallest bucket that holds it
    (powers of two from `first_bucket`; 0 = no buckets: padded to `length`), while decodes wait; its decode graph
    always runs `batch` rows, each attending to `length` cached tokens (or, with `decode_buckets`, to a
    power-of-two bucket of its context). `ranks` > 1: one program drives that many data-parallel ranks in
    lockstep: each rank decodes `batch` rows, and a prompt occupies them all."""

    batch: int
    length: int
    first_bucket: int = 0
    decode_buckets: bool = False
    ranks: int = 1

    def padded(self, tokens: float, first: int | None = None) -> float:
        b = self.first_bucket if first is None else first
        if not b:
            return float(self.length)
        while b < tokens and b < self.length:
            b *= 2
        return float(min(b, self.length))


@dataclass
class TimedOp:
    op: Op  # evaluated at the step
    seconds: float  # all occurrences in the step
    bound: str  # compute | memory | network


class Deployed:
    def __init__(self, arch: Arch, chip: Chip, system: System, dep: Deployment, model_id: str = "",
                 calibration: Calibration | None = None, stack: Stack | None = None):
        # the engine: its profile at its version says which paths it takes; perf never reads its name
        self.stack = stack or resolve_engine(dep.engine, chip.family)
        feats = self.stack.features
        self.engine_notes: list[str] = [self.stack.note] if self.stack.note else []
        fb = self.stack.fallback(dep.precision, chip.family)
        if fb:
            self.engine_notes.append(f"not modelled, expect much less: {fb.reason}")
        if not feats.applies_sliding_window:
            full = without_uniform_window(arch)
            if full is not arch:
                self.engine_notes.append(f"{self.stack.profile.name}: the model's sliding window is not applied "
                                         "(a run-time option it leaves unset): full attention")
            arch = full
        if not feats.mla_absorbed:
            expanded = expanded_mla(arch)
            if expanded is not arch:
                self.engine_notes.append(f"{self.stack.label}: no absorbed MLA kernels (before "
                                         f"{self.stack.profile.name}'s MLA support): per-head K and V cached and read")
            arch = expanded
        self.arch, self.chip, self.system, self.dep = arch, chip, system, dep
        self.model_id = model_id or arch.name
        self.layout = Layout(dep.tp, dep.pp, dep.ep, dep.dp)
        check_layout(arch, self.layout, self.model_id, pads_heads=feats.pads_heads)
        self.numerics = numerics_for(chip, dep)
        cal = calibration or bundled_calibration()
        factors, self.factors_note = cal.resolve(chip.family, self.stack.factor_key,
                                                 self.stack.tuned_for(chip.family))
        self.factors = self._paths(replace(factors, memory_utilization=feats.memory_utilization), chip, dep)
        self.calibration, self.calibration_source = cal, cal.source
        self.interval_table = cal.intervals
        self.hw: Hardware = hardware_of(chip, system, self.factors, dep.power_limit_w)
        if dep.power_limit_w:
            self.engine_notes.append(power_note(chip, self.factors, dep.power_limit_w))
        chips = self.layout.chips
        # replicas that share nothing (dp without expert parallelism across them) may sit in separate systems
        # behind a load balancer; a group that exchanges activations must fit one system or have a network
        group = self.layout.tp * self.layout.pp * self.layout.moe_ranks
        if group > system.chips and self.hw.scale_out is None:
            raise SuanliError(f"tp*pp{'*dp' if self.layout.ep > 1 else ''} = {group} chips talk to each other, but "
                              f"system {system.id} has {system.chips} and no scale-out network to join more units")
        talks = self.layout.tp * self.layout.pp > 1 or self.layout.ep > 1  # pure data parallelism needs no link
        if talks and self.hw.scale_up is None and self.hw.scale_out is None:
            raise SuanliError(f"system {system.id}: tp*pp = {self.layout.tp * self.layout.pp} chips need a "
                              "chip-to-chip link, and none is known")
        self.windows = windows_of(arch)
        self.moe = moe_shapes(arch)
        lay = self.layout
        span = {"all_reduce": lay.tp, "all_gather": lay.tp, "all_to_all": lay.tp * lay.dp, "p2p": chips}
        self.weight_bytes = weight_bytes_per_chip(arch, lay, self.numerics)
        self.ops = step_ops(arch, lay, self.numerics)
        vision_path = ""
        if dep.images is not None:  # the vision tower's work rides on prefill tokens (`perf/vision.py`)
            vision, vision_path = add_vision(self)
            self.ops += vision
        costs = [op_cost(op, self.hw, self.factors, span.get(op.comm, 1)) for op in self.ops]
        # the engine's MoE path's fixed chain, once per MoE layer and step on top of the expert GEMMs' roofline: its
        # routing, permuting, quantising and combining kernels run in turn with the GEMMs (`validate.moe_floor`)
        chain = self.factors.moe_floor_us * 1e-6
        costs = [replace(c, fixed=c.fixed + chain) if op.name == "experts" else c for op, c in zip(self.ops, costs,
                                                                                                   strict=True)]
        chained = bool(chain) and any(op.name == "experts" for op in self.ops)
        # blockwise expert kernels (fixed-shape engines) pay per block (features.blockwise_moe)
        self.moe_path = feats.moe_kernel
        if self.moe_path == "blockwise":
            for g in arch.groups:
                if g.mlp.kind == "moe":
                    key = f"blocks:{g.mlp.experts}:{g.mlp.topk}"
                    self.ops.append(LinOp("moe_blocks", "overhead", g.count / lay.pp, m=key, active=key))
                    costs.append(OpCost({key: self.factors.moe_block_us * 1e-6}, {}, 0.0, False))
        # host work that grows with the sequences in the step (sampling, scheduling, detokenising each one)
        self.ops.append(LinOp("host_per_sequence", "overhead", 1.0, m="seqs", active="seqs"))
        costs.append(OpCost({"seqs": self.factors.seq_overhead_us * 1e-6}, {}, 0.0, False))
        names = sorted({k for c in costs for k in (*c.compute, *c.memory)} | {op.active for op in self.ops}
                       | set(ALWAYS) | set(SPEC_FEATURES))
        self.feature_index = {n: i for i, n in enumerate(names)}
        n_ops, n_feat = len(self.ops), len(names)
        self._c = np.zeros((n_ops, n_feat))
        self._m = np.zeros((n_ops, n_feat))
        for i, c in enumerate(costs):
            for k, v in c.compute.items():
                self._c[i, self.feature_index[k]] = v
            for k, v in c.memory.items():
                self._m[i, self.feature_index[k]] = v
        self._fixed = np.array([c.fixed for c in costs])
        self._active = np.array([self.feature_index[op.active] for op in self.ops])
        self._count = np.array([op.count for op in self.ops])
        self._network = np.array([c.network for c in costs])
        self.overhead_s = self.factors.step_overhead_ms * 1e-3
        self._n = self.factors.roofline_n
        # fast path: compute and memory rows stacked, counts folded in (count > 0 commutes with max)
        self._cm = np.vstack([self._c * self._count[:, None], self._m * self._count[:, None]])
        self._cm_t = np.ascontiguousarray(self._cm.T)
        self._fixed_count = self._fixed * self._count
        self._n_ops = n_ops
        # tokens per step past which the all-reduce leaves the engine's own kernels for the library's ring
        self.ar_threshold = feats.custom_ar_max_mb * 1e6 / (arch.hidden * self.numerics.act_bytes)
        self.writer = FeatureWriter(self.feature_index, self.windows, self.moe, lay, self.factors.gemm_tile_m,
                                    self.ar_threshold, self.moe_path)
        self.static: StaticGraph | None = None
        self._plans: dict[tuple, tuple[StepPlan, np.ndarray]] = {}
        self._memory: dict[tuple, MemoryUse] = {}
        self.engine_dict = self.stack.to_dict()  # the stack as predictions report it
        if vision_path:
            self.engine_dict["paths"]["vision"] = vision_path
        self._speculate(dep)
        if chained:
            self.engine_dict["paths"]["moe"] += (f"; {self.factors.moe_floor_us:g} us per MoE layer and step for its "
                                                 "routing and combining kernels (fitted on its low-load MoE rows)")

    def _paths(self, f, chip: Chip, dep: Deployment):
        """The engine's slower kernel paths on top of the chip's factors (`engines/data/paths.yaml`)."""
        feats, name = self.stack.features, self.stack.label
        if dep.precision == "fp8-block":
            if feats.fp8_block_gemm == "none":
                raise SuanliError(f"precision fp8-block: {name} has no block-scaled FP8 GEMM; use a later version "
                                  "of it or another precision")
            cost = path_cost("fp8_block_gemm", feats.fp8_block_gemm)
            if cost:
                f = replace(f, gemm_compute=f.gemm_compute * cost["compute"],
                            moe_compute=f.moe_compute * cost["compute"])
                self.engine_notes.append(f"{name}: block-FP8 GEMMs on its {feats.fp8_block_gemm} kernel "
                                         f"({cost['compute']:g} of the tuned kernel's rate)")
        eager = path_cost("graph_mode", feats.graph_mode)
        if eager and chip.category != "cpu":  # a CPU runs its ops where they are launched
            f = replace(f, kernel_us=f.kernel_us + eager["kernel_us"])
            self.engine_notes.append(f"{name}: eager launches, {eager['kernel_us']:g} us more per kernel")
        return f

    def _speculate(self, dep: Deployment) -> None:
        """Speculative decoding (`perf/speculative.py`): k drafts and a verify pass per step, `accept` tokens out."""
        self.spec, self.accept, self.draft = dep.speculative, 1.0, None
        self._scale_i, self._draft_i = self.feature_index["spec_scale"], self.feature_index["draft_s"]
        self._draft_cache: dict[tuple, float] = {}
        if self.spec is not None:
            self.accept = check_speculation(self)

    # --- steps ---------------------------------------------------------------------------------------------
    def features(self, shape: StepShape) -> np.ndarray:
        """The step's features; a speculative step's are those of its verify pass, with its drafts' seconds and
        the share of it one emitted token stands for (`spec_scale`)."""
        if self.spec is None or shape.decode.seqs <= 0:
            return self.raw_features(shape)
        x = self.raw_features(verify_shape(shape, self.spec.draft_tokens, self.accept))
        d = shape.decode
        key = (d.seqs, d.kv_read[inf])
        draft = self._draft_cache.get(key)
        if draft is None:
            draft = remember(self._draft_cache, key, draft_seconds(self, draft_only(shape)))
        x[self._draft_i] = draft
        x[self._scale_i] = 1.0 / self.accept
        return x

    def write(self, pre_tokens: float, pre_pairs: dict[float, float], pre_read: dict[float, float], dec_n: float,
              dec_ctx: dict[float, float], logits: float, seqs: float) -> np.ndarray:
        """`FeatureWriter.write` (the simulator's and planner's fast path); a speculative step goes through its
        shape (`features`), whose decodes carry more than one token."""
        if self.spec is None or dec_n <= 0:
            return self.writer.write(pre_tokens, pre_pairs, pre_read, dec_n, dec_ctx, logits, seqs)
        return self.features(shape_of(pre_tokens, pre_pairs, pre_read, dec_n, dec_ctx, logits, seqs))

    def raw_features(self, shape: StepShape) -> np.ndarray:
        """The features of the step as given: one token per decoding sequence, whatever the deployment drafts."""
        x = np.zeros(len(self.feature_index))
        for k, v in features(shape, self.windows, self.moe, self.layout, self.factors.gemm_tile_m,
                             self.ar_threshold, self.moe_path).items():
            i = self.feature_index.get(k)
            if i is not None:
                x[i] = v
        x[self._scale_i] = 1.0
        return x

    def op_seconds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per op (all occurrences): seconds, compute seconds and memory seconds, for a feature vector."""
        tc, tm = self._c @ x, self._m @ x
        active = x[self._active] > 0
        t = combine(tc, tm, self._n) * self._count
        scale = x[self._scale_i]
        return (t + self._fixed * active * self._count) * scale, tc * scale, tm * scale

    def time_of(self, x: np.ndarray) -> float:
        """Seconds one pipeline stage spends on a step with these features, host overhead included."""
        y = self._cm @ x
        n = self._n_ops
        active = x[self._active] > 0
        t = combine(y[:n], y[n:], self._n)
        return (float(t.sum() + self._fixed_count @ active) + self.overhead_s + x[self._draft_i]) * x[self._scale_i]

    def times_of(self, x: np.ndarray) -> np.ndarray:
        """`time_of` for several steps at once (one row of features per step)."""
        y = x @ self._cm_t
        n = self._n_ops
        active = x[:, self._active] > 0
        t = combine(y[:, :n], y[:, n:], self._n)
        total = t.sum(axis=1) + active @ self._fixed_count + self.overhead_s + x[:, self._draft_i]
        return total * x[:, self._scale_i]

    def plan_for(self, b: float, n_in: int, n_out: int) -> tuple[StepPlan, np.ndarray]:
        """The steps of a prediction and their features, kept per workload (a repeated query recomputes only the
        arithmetic over them)."""
        key = (b, n_in, n_out)
        hit = self._plans.get(key)
        if hit is None:
            from suanli.serve.analytic import host_ttft  # serve builds on perf

            plan = step_plan(self, b, n_in, n_out, host_ttft(self.factors, n_in))
            hit = remember(self._plans, key, (plan, np.stack([self.features(s) for s in plan.shapes])))
        return hit

    def plan_times(self, plan: StepPlan, x: np.ndarray) -> np.ndarray:
        """Step times of a plan. A fixed-shape engine runs its decode steps on the compiled graph; its prefill and
        mid-generation breakdown steps are costed as submitted (as `timed` reports them)."""
        if not self.static:
            return self.times_of(x)
        return np.array([self.time_of(x[i]) if i in (0, 3) else self.step_time(s)
                         for i, s in enumerate(plan.shapes)])

    def step_time(self, shape: StepShape) -> float:
        if self.static:
            return self.static_time(shape.prefill.seqs, shape.prefill.tokens, shape.decode.seqs,
                                    shape.decode.kv_read[inf] / max(shape.decode.seqs, 1e-9))
        return self.time_of(self.features(shape))

    def static_time(self, prompts: float, prompt_tokens: float, decodes: float, context: float) -> float:
        """A step of a fixed-shape engine (`static`): each prompt runs the context graph alone (batch 1, padded to
        its bucket), then, if any sequence decodes, the token-generation graph runs all its compiled rows."""
        g, t = self.static, 0.0
        if prompts > 0:
            t += prompts * self.time_of(self.features(self.prefill_shape(1, g.padded(prompt_tokens / prompts))))
        if decodes > 0:
            span = g.padded(context, 128) if g.decode_buckets else g.length
            t += self.time_of(self.features(self.decode_shape(g.batch, span)))
        return t

    def timed(self, shape: StepShape) -> list[TimedOp]:
        raw = features(shape, self.windows, self.moe, self.layout, self.factors.gemm_tile_m, self.ar_threshold,
                       self.moe_path)
        x = self.features(shape)
        t, tc, tm = self.op_seconds(x)
        out = []
        for i, op in enumerate(self.ops):
            if op.op_class == "overhead":
                bound = "overhead"
            else:
                bound = "network" if self._network[i] else ("compute" if tc[i] >= tm[i] else "memory")
            out.append(TimedOp(at(op, raw), float(t[i]), bound))
        return out

    def prefill_shape(self, batch: float, prompt: float, cached: float = 0.0) -> StepShape:
        return StepShape.prefill_of(batch, prompt, self.windows, cached)

    def decode_shape(self, batch: float, context: float) -> StepShape:
        return StepShape.decode_of(batch, context, self.windows)

    # --- memory --------------------------------------------------------------------------------------------
    def memory_of(self, seqs_per_rank: float, tokens_per_seq: float, step_tokens: float) -> MemoryUse:
        """`memory`, kept per question (MemoryUse is not changed by its readers)."""
        key = (seqs_per_rank, tokens_per_seq, step_tokens)
        hit = self._memory.get(key)
        if hit is None:
            hit = remember(self._memory, key, self.memory(*key))
        return hit

    def memory(self, seqs_per_rank: float, tokens_per_seq: float, step_tokens: float, capacity=None) -> MemoryUse:
        """What one chip holds; `capacity` (bytes, a number or a numpy array of design points) replaces the
        chip's."""
        f = self.factors
        cap = self.hw.capacity if capacity is None else capacity
        # an engine caps weights + KV + activations at a share of the whole memory (slack: a share of the
        # capacity), or loads the weights and gives the KV cache a share of what is left (`memory_policy`)
        if self.stack.features.memory_policy == "whole_device":
            reserve = f.runtime_reserve_gb * 1e9 + (1 - f.memory_utilization) * cap
        else:
            left = cap - f.runtime_reserve_gb * 1e9 - self.weight_bytes
            left = np.maximum(0.0, left) if isinstance(left, np.ndarray) else max(0.0, left)
            reserve = f.runtime_reserve_gb * 1e9 + (1 - f.memory_utilization) * left
        kv = seqs_per_rank * kv_bytes_per_seq(self.arch, self.layout, self.numerics, tokens_per_seq)
        if self.draft is not None:  # a draft model keeps its own cache of every sequence
            d = self.draft
            kv += seqs_per_rank * kv_bytes_per_seq(d.arch, d.layout, d.numerics, tokens_per_seq)
        act = activation_bytes(self.arch, self.layout, self.numerics, step_tokens, seqs_per_rank)
        return MemoryUse(cap, self.weight_bytes, kv, act, reserve)
