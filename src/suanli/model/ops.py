"""The work of one engine step on one chip: a short list of ops with FLOPs, bytes and messages.

Parallel layout (per pipeline stage of tp*dp chips):
* attention is split over `tp` chips by heads; `dp` attention replicas each serve their own sequences;
* dense MLPs are split over `tp`; MoE experts are split over `ep` chips of the tp*dp group, each expert over
  moe_tp = tp*dp/ep chips;
* communication: a TP all-reduce after attention and after each MLP (one per layer for parallel blocks);
  with attention data parallelism and EP, all-to-all dispatch and combine instead of the MLP all-reduce;
  pipeline stages pass activations point to point.
Counts are per chip, for one pipeline stage (layers/pp of each group, plus the embedding and the LM head, which
makes it the last and slowest stage). Sizes are per occurrence; `count` says how many layers repeat the op.
Weights are read once per step (batching shares them); each MoE chip reads only the experts some token picked,
whose expected number under uniform routing is E_local * (1 - (1 - k/E)^tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import inf

from suanli.model.arch import MLP, Arch, Attention
from suanli.model.params import mlp_matrices
from suanli.model.shape import StepShape


@dataclass(frozen=True, slots=True)
class Layout:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1

    @property
    def moe_tp(self) -> int:
        return max(1, self.tp * self.dp // self.ep)

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


@dataclass(slots=True)
class Op:
    name: str
    op_class: str  # gemm | attention | moe | elementwise | comm
    phase: str  # prefill | decode | mixed
    count: float  # occurrences per step on this chip (layers of this stage)
    flops: float = 0.0  # per occurrence
    bytes: float = 0.0  # memory traffic per occurrence
    dtype: str = ""
    m: float = 0.0  # GEMM rows (tokens), for small-M efficiency
    comm: str = ""  # all_reduce | all_to_all | all_gather | p2p
    comm_bytes: float = 0.0  # message size per chip
    group: int = 1  # chips taking part in the collective
    kernels: float = 1.0  # launches per occurrence


def _gemm(name: str, cls: str, count: float, m: float, n: float, k: float, wb: float, num: Numerics,
          phase: str = "mixed", dtype: str | None = None) -> Op:
    ab = num.act_bytes
    return Op(name, cls, phase, count, 2.0 * m * n * k, n * k * wb + m * (n + k) * ab, dtype or num.gemm_dtype, m)


def _phase(shape: StepShape) -> str:
    if shape.prefill.tokens and shape.decode.tokens:
        return "mixed"
    return "prefill" if shape.prefill.tokens else "decode"


def windows_of(arch: Arch) -> tuple[float, ...]:
    ws = {inf}
    for g in arch.groups:
        if g.attn.window:
            ws.add(float(g.attn.window))
        if g.attn.sparse_topk:
            ws.add(float(g.attn.sparse_topk))
    return tuple(sorted(ws))


def kv_heads_local(a: Attention, tp: int) -> float:
    """KV heads per chip: split by TP, replicated when TP exceeds the KV heads."""
    return max(1.0, a.kv_heads / tp)


def step_ops(arch: Arch, lay: Layout, num: Numerics, shape: StepShape) -> list[Op]:
    ops: list[Op] = []
    t = shape.tokens
    phase = _phase(shape)
    for g in arch.groups:
        n = g.count / lay.pp
        ops += _attention_ops(g.attn, arch, lay, num, shape, n, phase)
        if lay.tp > 1 and not arch.parallel_block:
            ops.append(Op("tp_allreduce_attn", "comm", phase, n, comm="all_reduce",
                          comm_bytes=t * arch.hidden * num.act_bytes, group=lay.tp))
        ops += _mlp_ops(g.mlp, arch, lay, num, t, n, phase)
        # fused residual-add + norm twice (read 2, write 2 hidden each), gated activation (read 2, write 1 width)
        width = (g.mlp.intermediate if g.mlp.kind == "dense" else
                 g.mlp.topk * g.mlp.expert_intermediate + g.mlp.shared_intermediate) / lay.tp
        ops.append(Op("norms_elementwise", "elementwise", phase, n,
                      bytes=t * (8 * arch.hidden + 3 * width) * num.act_bytes, kernels=4))
    h = arch.hidden
    ops.append(Op("embedding", "elementwise", phase, 1, bytes=t * h * (num.head_bytes + num.act_bytes)))
    logits = shape.logits
    ops.append(_gemm("lm_head", "gemm", 1, logits, arch.vocab / lay.tp, h, num.head_bytes, num, phase,
                     dtype=num.attn_dtype))
    if lay.tp > 1:
        ops.append(Op("logits_gather", "comm", phase, 1, comm="all_gather",
                      comm_bytes=logits * arch.vocab / lay.tp * 4.0, group=lay.tp))
    if lay.pp > 1:
        ops.append(Op("pp_send", "comm", phase, 1, comm="p2p", comm_bytes=t * h * num.act_bytes, group=2))
    return ops


def _attention_ops(a: Attention, arch: Arch, lay: Layout, num: Numerics, shape: StepShape, n: float,
                   phase: str) -> list[Op]:
    h, tp, ab = arch.hidden, lay.tp, num.act_bytes
    t = shape.tokens
    heads = a.heads / tp
    ops: list[Op] = []
    if a.kind == "mha":
        kvh = kv_heads_local(a, tp)
        q_out, kv_out = heads * a.head_dim, kvh * (a.head_dim + a.v_head_dim)
        ops.append(_gemm("qkv_proj", "gemm", n, t, q_out + kv_out, h, num.weight_bytes, num, phase))
        per_pair = 2.0 * heads * (a.head_dim + a.v_head_dim)
        cached = kvh * (a.head_dim + a.v_head_dim)
        ops += _attention_core(a.window or inf, shape, n, per_pair, cached, q_out + heads * a.v_head_dim, num)
        ops.append(_gemm("o_proj", "gemm", n, t, h, heads * a.v_head_dim, num.weight_bytes, num, phase))
    elif a.kind == "mla":
        nope = a.head_dim - a.qk_rope_dim
        if a.q_lora_rank:
            ops.append(_gemm("q_a_proj", "gemm", n, t, a.q_lora_rank, h, num.weight_bytes, num, phase))
            ops.append(_gemm("q_b_proj", "gemm", n, t, heads * a.head_dim, a.q_lora_rank, num.weight_bytes, num,
                             phase))
        else:
            ops.append(_gemm("q_proj", "gemm", n, t, heads * a.head_dim, h, num.weight_bytes, num, phase))
        ops.append(_gemm("kv_a_proj", "gemm", n, t, a.kv_lora_rank + a.qk_rope_dim, h, num.weight_bytes, num, phase))
        # kv_b: up-projects the latent (prefill) or is absorbed into q and o (decode): same FLOPs per query token
        ops.append(_gemm("kv_b_proj", "gemm", n, t, heads * (nope + a.v_head_dim), a.kv_lora_rank,
                         num.weight_bytes, num, phase))
        latent = a.kv_lora_rank + a.qk_rope_dim
        window = float(a.sparse_topk) if a.sparse_topk else inf
        q_io = heads * (a.head_dim + a.v_head_dim)
        if shape.prefill.tokens:
            ops += _attention_core(window, shape, n, 2.0 * heads * (a.head_dim + a.v_head_dim), latent, q_io, num,
                                   only="prefill")
        if shape.decode.tokens:
            ops += _attention_core(window, shape, n, 2.0 * heads * (latent + a.kv_lora_rank), latent, q_io, num,
                                   only="decode")
        if a.sparse_topk:
            src = a.q_lora_rank or h
            ops.append(_gemm("indexer_proj", "gemm", n, t, a.index_heads * a.index_dim + a.index_dim + a.index_heads,
                             src, num.weight_bytes, num, phase))
            pairs = shape.prefill.pairs[inf] + shape.decode.pairs[inf]
            read = shape.prefill.kv_read[inf] + shape.decode.kv_read[inf]
            ops.append(Op("indexer", "attention", phase, n, 2.0 * pairs * a.index_heads * a.index_dim,
                          read * a.index_dim * 1.0, "fp8" if num.gemm_dtype in ("fp8", "fp4") else num.attn_dtype))
        ops.append(_gemm("o_proj", "gemm", n, t, h, heads * a.v_head_dim, num.weight_bytes, num, phase))
    elif a.kind == "linear":
        vh, kh = a.lin_v_heads / tp, a.lin_k_heads / tp
        if a.lin_lowrank:  # RWKV-7: r, k, v (+ low-rank w, a, v, g) in, o out
            ops.append(_gemm("rkv_proj", "gemm", n, t, 3 * h / tp + a.lin_lowrank, h, num.weight_bytes, num, phase))
            ops.append(_gemm("o_proj", "gemm", n, t, h, h / tp, num.weight_bytes, num, phase))
        else:
            in_n = 2 * kh * a.lin_k_dim + 2 * vh * a.lin_v_dim + 2 * vh
            ops.append(_gemm("in_proj", "gemm", n, t, in_n, h, num.weight_bytes, num, phase))
            ops.append(_gemm("o_proj", "gemm", n, t, h, vh * a.lin_v_dim, num.weight_bytes, num, phase))
        state = a.state_elems() / tp * 4.0  # fp32 recurrent state
        flops = t * vh * (6.0 * a.lin_k_dim * a.lin_v_dim + 128.0 * (a.lin_k_dim + a.lin_v_dim))
        ops.append(Op("linear_attention", "attention", phase, n, flops,
                      2.0 * shape.seqs * state + t * (2 * kh * a.lin_k_dim + 2 * vh * a.lin_v_dim) * ab, "fp32"))
    return ops


def _attention_core(window: float, shape: StepShape, n: float, flops_per_pair: float, cached_elems: float,
                    io_elems: float, num: Numerics, only: str = "") -> list[Op]:
    """Attention of the new tokens over the cache: one op for prefill chunks, one for decode sequences."""
    ops = []
    for name, part in (("prefill", shape.prefill), ("decode", shape.decode)):
        if not part.tokens or (only and only != name):
            continue
        pairs, read = part.pairs[window], part.kv_read[window]
        bytes_ = read * cached_elems * num.kv_bytes + part.tokens * (io_elems * num.act_bytes +
                                                                     cached_elems * num.kv_bytes)
        ops.append(Op(f"attention_{name}", "attention", name, n, flops_per_pair * pairs, bytes_, num.attn_dtype,
                      part.tokens, kernels=1))
    return ops


def _mlp_ops(m: MLP, arch: Arch, lay: Layout, num: Numerics, t: float, n: float, phase: str) -> list[Op]:
    h, tp, mats = arch.hidden, lay.tp, mlp_matrices(m)
    ops: list[Op] = []
    if m.kind == "dense":
        ops.append(_gemm("mlp_up", "gemm", n, t, (mats - 1) * m.intermediate / tp, h, num.weight_bytes, num, phase))
        ops.append(_gemm("mlp_down", "gemm", n, t, h, m.intermediate / tp, num.weight_bytes, num, phase))
        if tp > 1:
            ops.append(Op("tp_allreduce_mlp", "comm", phase, n, comm="all_reduce",
                          comm_bytes=t * h * num.act_bytes, group=tp))
        return ops
    e, k = m.experts, m.topk
    group_tokens = t * lay.dp
    ops.append(_gemm("router", "moe", n, t, e, h, 2.0, num, phase, dtype=num.attn_dtype))
    if m.shared_intermediate:
        w = m.shared_intermediate / tp
        ops.append(_gemm("shared_expert", "gemm", n, t, mats * w, h, num.weight_bytes, num, phase))
    touched = 1.0 - (1.0 - k / e) ** group_tokens
    expert_w = mats * h * m.expert_intermediate / lay.moe_tp
    flops = 2.0 * t * k * mats * h * m.expert_intermediate / tp
    routed = group_tokens * k / lay.ep  # token-expert pairs landing on this chip
    act = routed * (2 * h + mats * m.expert_intermediate / lay.moe_tp) * num.act_bytes
    ops.append(Op("experts", "moe", phase, n, flops, (e / lay.ep) * touched * expert_w * num.weight_bytes + act,
                  num.gemm_dtype, group_tokens * k / e, kernels=2))
    if lay.ep > 1 and lay.dp > 1:
        remote = min(k, lay.ep) * (lay.ep - 1) / lay.ep
        ops.append(Op("ep_dispatch", "comm", phase, n, comm="all_to_all",
                      comm_bytes=t * remote * h * num.dispatch_bytes, group=lay.ep))
        ops.append(Op("ep_combine", "comm", phase, n, comm="all_to_all",
                      comm_bytes=t * remote * h * num.act_bytes, group=lay.ep))
    elif tp > 1:
        ops.append(Op("tp_allreduce_mlp", "comm", phase, n, comm="all_reduce", comm_bytes=t * h * num.act_bytes,
                      group=tp))
    return ops
