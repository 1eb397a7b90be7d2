"""The work of one engine step on one chip: a short list of ops whose FLOPs, bytes and messages are linear
forms over a few features of the step (tokens, attended pairs per window, experts touched ...).

Building the ops once per deployment and evaluating them as dot products keeps a step evaluation at a few
microseconds, which the serving simulator and the planner need. `features.py` turns a step's shape into the
feature values; `Op` is one op evaluated at a step, for explanations.

Parallel layout (per pipeline stage of tp*dp chips):
* attention is split over `tp` chips by heads; `dp` attention replicas each serve their own sequences;
* dense MLPs are split over `tp`; MoE experts are split over `ep` chips of the tp*dp group, each expert over
  moe_tp = tp*dp/ep chips; without expert parallelism (ep = 1) the dp ranks are replicas sharing nothing, each
  holding every expert sliced over its tp chips;
* communication: a TP all-reduce after attention and after each MLP (one per layer for parallel blocks);
  with attention data parallelism and EP, all-to-all dispatch and combine instead of the MLP all-reduce;
  pipeline stages pass activations point to point.
Counts are per chip, for one pipeline stage (layers/pp of each group, plus the embedding and the LM head, which
makes it the last and slowest stage). Weights are read once per step (batching shares them); each MoE chip reads
only the experts some token picked, whose expected share under uniform routing is 1 - (1 - k/E)^tokens.
GEMM FLOPs are counted on rows padded to the matrix unit's tile ("tokens_pad"), bytes on the real rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import inf

from suanli.model.arch import MLP, Arch, Attention
from suanli.model.params import mlp_matrices

Lin = dict[str, float]  # feature name -> coefficient


# the ops of the expert-parallel token exchange, which have their own measured cost figures (Factors.a2a_*)
EP_EXCHANGE = ("ep_dispatch", "ep_combine")


@dataclass(frozen=True, slots=True)
class Layout:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1

    @property
    def moe_tp(self) -> int:
        """Chips each expert is sliced over: the tp*dp group's chips beyond the ep that split the experts; without
        expert parallelism the dp ranks are replicas that share nothing, each expert sliced over tp alone."""
        return max(1, self.tp * self.moe_ranks // self.ep)

    @property
    def moe_ranks(self) -> int:
        """Attention ranks whose tokens reach one chip's experts: the dp ranks with expert parallelism, else one."""
        return self.dp if self.ep > 1 else 1

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp


@dataclass(frozen=True, slots=True)
class Numerics:
    weight_bytes: float  # per element of the linear layers
    head_bytes: float  # per element of embeddings and LM head
    kv_bytes: float  # per cached element
    gemm_dtype: str  # matrix dtype of the linear layers on this chip
    attn_dtype: str = "bf16"
    act_bytes: float = 2.0
    dispatch_bytes: float = 2.0  # per element sent to experts (1 with fp8 dispatch)
    attn_weight_bytes: float | None = None  # attention projections, where a checkpoint keeps them wider

    @property
    def attn_wb(self) -> float:
        return self.weight_bytes if self.attn_weight_bytes is None else self.attn_weight_bytes

    @property
    def attn_gemm_dtype(self) -> str:
        return self.gemm_dtype if self.attn_weight_bytes is None else self.attn_dtype


@dataclass(slots=True)
class LinOp:
    name: str
    op_class: str  # gemm | attention | moe | elementwise | comm
    count: float  # occurrences per step on this chip (layers of this stage)
    flops: Lin = field(default_factory=dict)  # per occurrence
    bytes: Lin = field(default_factory=dict)  # memory traffic per occurrence
    dtype: str = ""
    comm: str = ""  # all_reduce | all_to_all | all_gather | p2p
    comm_bytes: Lin = field(default_factory=dict)  # message size per chip
    group: int = 1  # chips taking part in the collective
    kernels: float = 1.0  # launches per occurrence
    active: str = "one"  # feature that is 0 when the op does not run in a step
    m: str = "tokens"  # feature giving the GEMM rows (for explanations)
    k_mix: tuple[tuple[float, float], ...] = ()  # (share of the FLOPs, reduction length K per chip) of its GEMMs


@dataclass(slots=True)
class Op:
    """One op evaluated at a step: plain numbers, for breakdowns and tests."""

    name: str
    op_class: str
    count: float
    flops: float
    bytes: float
    dtype: str
    m: float
    comm: str = ""
    comm_bytes: float = 0.0
    group: int = 1
    kernels: float = 1.0


def at(op: LinOp, x: dict[str, float]) -> Op:
    def ev(lin: Lin) -> float:
        return sum(c * x.get(k, 0.0) for k, c in lin.items())

    return Op(op.name, op.op_class, op.count, ev(op.flops), ev(op.bytes), op.dtype, x.get(op.m, 0.0), op.comm,
              ev(op.comm_bytes), op.group, op.kernels)


def wkey(window: float) -> str:
    return "inf" if window == inf else str(int(window))


def windows_of(arch: Arch) -> tuple[float, ...]:
    ws = {inf}
    for g in arch.groups:
        if g.attn.window:
            ws.add(float(g.attn.window))
        if g.attn.sparse_topk:
            ws.add(float(g.attn.sparse_topk))
    return tuple(sorted(ws))


def moe_shapes(arch: Arch) -> tuple[tuple[int, int], ...]:
    """Distinct (experts, top-k) pairs among the MoE layers."""
    return tuple(sorted({(g.mlp.experts, g.mlp.topk) for g in arch.groups if g.mlp.kind == "moe"}))


def kv_heads_local(a: Attention, tp: int) -> float:
    """KV heads per chip: split by TP, replicated when TP exceeds the KV heads."""
    return max(1.0, a.kv_heads / tp)


def _gemm(name: str, cls: str, count: float, n: float, k: float, wb: float, num: Numerics, rows: str = "tokens",
          dtype: str | None = None) -> LinOp:
    """A GEMM of `rows` x k by k x n: FLOPs on padded rows, bytes = weights + activations in and out."""
    ab = num.act_bytes
    return LinOp(name, cls, count, {f"{rows}_pad": 2.0 * n * k}, {"one": n * k * wb, rows: (n + k) * ab},
                 dtype or num.gemm_dtype, m=rows, k_mix=((1.0, k),))


def _attn_gemm(name: str, count: float, n: float, k: float, num: Numerics) -> LinOp:
    """An attention projection: at the checkpoint's attention width and matching matrix dtype."""
    return _gemm(name, "gemm", count, n, k, num.attn_wb, num, dtype=num.attn_gemm_dtype)


def step_ops(arch: Arch, lay: Layout, num: Numerics) -> list[LinOp]:
    ops: list[LinOp] = []
    h = arch.hidden
    for g in arch.groups:
        n = g.count / lay.pp
        ops += _attention_ops(g.attn, arch, lay, num, n)
        if lay.tp > 1 and not arch.parallel_block and g.attn.kind != "none":
            ops.append(LinOp("tp_allreduce_attn", "comm", n, comm="all_reduce",
                             comm_bytes={"tokens": h * num.act_bytes}, group=lay.tp))
        ops += _mlp_ops(g.mlp, arch, lay, num, n)
        # fused residual-add + norm twice (read 2, write 2 hidden each), gated activation (read 2, write 1 width)
        m = g.mlp
        width = (m.intermediate if m.kind == "dense" else m.topk * m.expert_intermediate + m.shared_intermediate)
        ops.append(LinOp("norms_elementwise", "elementwise", n,
                         bytes={"tokens": (8 * h + 3 * width / lay.tp) * num.act_bytes}, kernels=4))
    ops.append(LinOp("embedding", "elementwise", 1, bytes={"tokens": h * (num.head_bytes + num.act_bytes)}))
    ops.append(_gemm("lm_head", "gemm", 1, arch.vocab / lay.tp, h, num.head_bytes, num, rows="logits",
                     dtype=num.attn_dtype))
    if lay.tp > 1:
        ops.append(LinOp("logits_gather", "comm", 1, comm="all_gather",
                         comm_bytes={"logits": arch.vocab / lay.tp * 4.0}, group=lay.tp))
    if lay.pp > 1:
        ops.append(LinOp("pp_send", "comm", 1, comm="p2p", comm_bytes={"tokens": h * num.act_bytes}, group=2))
    return ops


def _attention_ops(a: Attention, arch: Arch, lay: Layout, num: Numerics, n: float) -> list[LinOp]:
    h, tp, ab = arch.hidden, lay.tp, num.act_bytes
    heads = a.heads / tp
    ops: list[LinOp] = []
    if a.kind == "mha":
        kvh = kv_heads_local(a, tp)
        q_out, kv_out = heads * a.head_dim, kvh * (a.head_dim + a.v_head_dim)
        gate = q_out if a.out_gate else 0.0
        ops.append(_attn_gemm("qkv_proj", n, q_out + gate + kv_out, h, num))
        for phase in ("prefill", "decode"):
            ops.append(_core(phase, a.window or inf, n, 2.0 * heads * (a.head_dim + a.v_head_dim), kv_out,
                             q_out + heads * a.v_head_dim, num))
        ops.append(_attn_gemm("o_proj", n, h, heads * a.v_head_dim, num))
    elif a.kind == "mla":
        nope = a.head_dim - a.qk_rope_dim
        if a.q_lora_rank:
            ops.append(_attn_gemm("q_a_proj", n, a.q_lora_rank, h, num))
            ops.append(_attn_gemm("q_b_proj", n, heads * a.head_dim, a.q_lora_rank, num))
        else:
            ops.append(_attn_gemm("q_proj", n, heads * a.head_dim, h, num))
        ops.append(_attn_gemm("kv_a_proj", n, a.kv_lora_rank + a.qk_rope_dim, h, num))
        # kv_b up-projects the latent (prefill) or is absorbed into q and o (decode): same FLOPs per query token
        ops.append(_attn_gemm("kv_b_proj", n, heads * (nope + a.v_head_dim), a.kv_lora_rank, num))
        latent = a.kv_lora_rank + a.qk_rope_dim
        window = float(a.sparse_topk) if a.sparse_topk else inf
        q_io = heads * (a.head_dim + a.v_head_dim)
        per_head = 2.0 * heads * (a.head_dim + a.v_head_dim)
        if a.mla_expanded:  # K and V of every local head cached and read, as multi-head attention
            cached = heads * (a.head_dim + a.v_head_dim)
            ops.append(_core("prefill", window, n, per_head, cached, q_io, num))
            ops.append(_core("decode", window, n, per_head, cached, q_io, num))
        else:
            ops.append(_core("prefill", window, n, per_head, latent, q_io, num))
            ops.append(_core("decode", window, n, 2.0 * heads * (latent + a.kv_lora_rank), latent, q_io, num))
        if a.sparse_topk:
            src = a.q_lora_rank or h
            ops.append(_gemm("indexer_proj", "gemm", n, a.index_heads * a.index_dim + a.index_dim + a.index_heads,
                             src, num.attn_wb, num, dtype=num.attn_gemm_dtype))
            per_pair = 2.0 * a.index_heads * a.index_dim
            dtype = "fp8" if num.gemm_dtype in ("fp8", "fp4") else num.attn_dtype
            ops.append(LinOp("indexer", "attention", n, {"pp:inf": per_pair, "dp:inf": per_pair},
                             {"pr:inf": a.index_dim * 1.0, "dr:inf": a.index_dim * 1.0}, dtype))
        ops.append(_attn_gemm("o_proj", n, h, heads * a.v_head_dim, num))
    elif a.kind == "linear":
        vh, kh = a.lin_v_heads / tp, a.lin_k_heads / tp
        if a.ssm_heads:  # Mamba-2: in_proj (z, x, B, C, dt) and out_proj; heads and groups split on TP
            di, conv = a.ssm_inner / tp, a.ssm_conv_dim / tp
            ops.append(_attn_gemm("in_proj", n, di + conv + a.ssm_heads / tp, h, num))
            ops.append(_attn_gemm("o_proj", n, h, di, num))
            state = a.state_elems() / tp * 4.0
            io, conv_flops = (2 * di + conv) * ab, conv * 2.0 * a.lin_conv
            # prompts: SSD's chunked form, matrix products on the matrix units (Dao & Gu 2024, arXiv 2405.21060
            # sec. 6): per token and head, C B^T and its product with X within a chunk of Q tokens (Q (N + P)),
            # the chunk's state and the state's read-out (2 N P); the state written once per sequence
            heads, q, nst, hd = a.ssm_heads / tp, float(a.ssm_chunk), float(a.ssm_state), float(a.head_dim)
            chunked = 2.0 * heads * (q * (nst + hd) + 2.0 * nst * hd) + conv_flops
            ops.append(LinOp("ssd_chunked", "attention", n, {"prefill_tokens": chunked}, {"prefill_tokens": io},
                             num.attn_dtype, active="prefill_tokens", m="prefill_tokens"))
            # decodes: the recurrent form, each head's state decayed, updated by x B and read out by C (fp32),
            # read and written once per sequence and step
            step = di * (nst * 6.0 + 4.0) + conv_flops
            ops.append(LinOp("ssd_step", "attention", n, {"decode_tokens": step},
                             {"seqs": 2.0 * state, "decode_tokens": io}, "fp32", active="decode_tokens",
                             m="decode_tokens"))
            return ops
        if a.ssm_inner:  # Mamba: in_proj (x, z), x_proj (dt, B, C), dt_proj, out_proj; inner channels split on TP
            di = a.ssm_inner / tp
            ops.append(_attn_gemm("in_proj", n, 2 * di, h, num))
            ops.append(_attn_gemm("x_proj", n, a.ssm_dt_rank + 2 * a.ssm_state, di, num))
            ops.append(_attn_gemm("dt_proj", n, di, a.ssm_dt_rank, num))
            ops.append(_attn_gemm("o_proj", n, h, di, num))
            state = a.state_elems() / tp * 4.0
            # the selective scan per token and channel: discretise (exp, products), update the state, read it out
            per_token = di * (a.ssm_state * 10.0 + 2.0 * a.lin_conv)
            ops.append(LinOp("selective_scan", "attention", n, {"tokens": per_token},
                             {"seqs": 2.0 * state, "tokens": 4 * di * ab}, "fp32"))
            return ops
        if a.lin_lowrank:  # RWKV-7: r, k, v (+ low-rank w, a, v, g) in, o out
            ops.append(_attn_gemm("rkv_proj", n, 3 * h / tp + a.lin_lowrank, h, num))
            ops.append(_attn_gemm("o_proj", n, h, h / tp, num))
        else:
            ops.append(_attn_gemm("in_proj", n, 2 * kh * a.lin_k_dim + 2 * vh * a.lin_v_dim + 2 * vh, h, num))
            ops.append(_attn_gemm("o_proj", n, h, vh * a.lin_v_dim, num))
        state = a.state_elems() / tp * 4.0  # fp32 recurrent state, read and written once per sequence and step
        per_token = vh * (6.0 * a.lin_k_dim * a.lin_v_dim + 128.0 * (a.lin_k_dim + a.lin_v_dim))
        io = (2 * kh * a.lin_k_dim + 2 * vh * a.lin_v_dim) * ab
        ops.append(LinOp("linear_attention", "attention", n, {"tokens": per_token},
                         {"seqs": 2.0 * state, "tokens": io}, "fp32"))
    return ops


def _core(phase: str, window: float, n: float, flops_per_pair: float, cached_elems: float, io_elems: float,
          num: Numerics) -> LinOp:
    """Attention of the new tokens over the cache, for prefill chunks or decode sequences."""
    p, w = phase[0] + "p", wkey(window)  # "pp"/"dp": pairs; "pr"/"dr": cached tokens read
    r = phase[0] + "r"
    tokens = f"{phase}_tokens"
    return LinOp(f"attention_{phase}", "attention", n, {f"{p}:{w}": flops_per_pair},
                 {f"{r}:{w}": cached_elems * num.kv_bytes,
                  tokens: io_elems * num.act_bytes + cached_elems * num.kv_bytes},
                 num.attn_dtype, active=tokens, m=tokens)


def _mlp_ops(m: MLP, arch: Arch, lay: Layout, num: Numerics, n: float) -> list[LinOp]:
    h, tp, mats, wb = arch.hidden, lay.tp, mlp_matrices(m), num.weight_bytes
    ops: list[LinOp] = []
    allreduce = LinOp("tp_allreduce_mlp", "comm", n, comm="all_reduce", comm_bytes={"tokens": h * num.act_bytes},
                      group=tp)
    if m.kind == "dense" and not m.intermediate:  # a layer of a mixer alone (Mamba-2, Nemotron-H)
        return ops
    if m.kind == "dense":
        ops.append(_gemm("mlp_up", "gemm", n, (mats - 1) * m.intermediate / tp, h, wb, num))
        ops.append(_gemm("mlp_down", "gemm", n, h, m.intermediate / tp, wb, num))
        return ops + ([allreduce] if tp > 1 else [])
    e, k = m.experts, m.topk
    ops.append(_gemm("router", "moe", n, e, h, 2.0, num, dtype=num.attn_dtype))
    if m.shared_intermediate:
        ops.append(_gemm("shared_expert", "gemm", n, mats * m.shared_intermediate / tp, h, wb, num))
    per_row = 2.0 * mats * h * m.expert_intermediate / lay.moe_tp
    expert_bytes = mats * h * m.expert_intermediate / lay.moe_tp * wb
    routed_act = lay.moe_ranks * k / lay.ep * (2 * h + mats * m.expert_intermediate / lay.moe_tp) * num.act_bytes
    ops.append(LinOp("experts", "moe", n, {f"xrows:{e}:{k}": per_row},
                     {f"touched:{e}:{k}": (e / lay.ep) * expert_bytes, "tokens": routed_act},
                     num.gemm_dtype, kernels=2, m=f"xrows:{e}:{k}",
                     k_mix=((1.0 - 1.0 / mats, h), (1.0 / mats, m.expert_intermediate / lay.moe_tp))))
    # the routing glue runs as kernels of its own around the expert GEMMs, so its traffic adds to their time:
    # permute (read each token, write its k copies in the dispatch format) and finalize (read the k expert
    # outputs, write their weighted sum)
    copies = lay.moe_ranks * k / lay.ep
    ops.append(LinOp("moe_permute_finalize", "elementwise", n,
                     bytes={"tokens": copies * h * (num.dispatch_bytes + num.act_bytes) + 2 * h * copies / k
                            * num.act_bytes}, kernels=2))
    if lay.moe_ranks > 1:
        remote = min(k, lay.ep) * (lay.ep - 1) / lay.ep
        ops.append(LinOp("ep_dispatch", "comm", n, comm="all_to_all",
                         comm_bytes={"tokens": remote * h * num.dispatch_bytes}, group=lay.ep))
        ops.append(LinOp("ep_combine", "comm", n, comm="all_to_all",
                         comm_bytes={"tokens": remote * h * num.act_bytes}, group=lay.ep))
    elif tp > 1:
        ops.append(allreduce)
    return ops
