"""Parameter counts, by component, from an Arch: total and active per token.

The same per-component sizes feed the weight bytes of the op builder, so a test of these counts against published
totals is also a test of the bytes suanli thinks a decode step reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.model.arch import MLP, Arch, Attention


def attention_params(a: Attention, hidden: int) -> float:
    if a.kind == "mha":
        q = a.heads * a.head_dim * (2 if a.out_gate else 1)
        qkv = hidden * (q + a.kv_heads * (a.head_dim + a.v_head_dim))
        bias = (a.heads * a.head_dim + a.kv_heads * (a.head_dim + a.v_head_dim)) if a.bias else 0
        return qkv + a.heads * a.v_head_dim * hidden + bias
    if a.kind == "mla":
        qk = a.head_dim  # nope + rope
        nope = qk - a.qk_rope_dim
        if a.q_lora_rank:
            q = hidden * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * a.heads * qk
        else:
            q = hidden * a.heads * qk
        kv = hidden * (a.kv_lora_rank + a.qk_rope_dim) + a.kv_lora_rank + a.kv_lora_rank * a.heads * (
            nope + a.v_head_dim)
        o = a.heads * a.v_head_dim * hidden
        indexer = 0
        if a.sparse_topk:
            src = a.q_lora_rank or hidden
            indexer = src * a.index_heads * a.index_dim + hidden * a.index_dim + hidden * a.index_heads
        return q + kv + o + indexer
    if a.kind == "linear":
        if a.ssm_heads:  # Mamba-2: in (z, x, B, C, dt), conv over x, B, C (+bias), dt bias, A, D, gated norm, out
            di, nh = a.ssm_inner, a.ssm_heads
            conv = a.ssm_conv_dim
            return hidden * (di + conv + nh) + conv * (a.lin_conv + 1) + 3 * nh + di + di * hidden
        if a.ssm_inner:  # Mamba: in (x and z), conv (+bias), x -> (dt, B, C), dt -> inner (+bias), A, D, out,
            # and Jamba's RMSNorms of dt, B and C
            di, ds, r = a.ssm_inner, a.ssm_state, a.ssm_dt_rank
            return (2 * hidden * di + di * (a.lin_conv + 1) + di * (r + 2 * ds) + r * di + di + di * ds + di
                    + di * hidden + r + 2 * ds)
        if a.lin_lowrank:  # RWKV-7: r, k, v, o square projections plus low-rank w/a/v/g
            return 4 * hidden * hidden + 2 * hidden * a.lin_lowrank
        qk = 2 * a.lin_k_heads * a.lin_k_dim
        v = a.lin_v_heads * a.lin_v_dim
        proj = hidden * (qk + 2 * v + 2 * a.lin_v_heads)  # q, k, v, z and the b/a gates
        conv = a.lin_conv * (qk + v)
        return proj + conv + v * hidden + 2 * a.lin_v_heads + a.lin_v_dim
    return 0.0


def mlp_matrices(m: MLP) -> int:
    return 3 if m.gated else 2


def dense_mlp_params(width: int, hidden: int, m: MLP) -> float:
    p = mlp_matrices(m) * hidden * width
    if m.bias:
        p += width * (mlp_matrices(m) - 1) + hidden
    return p


def expert_params(m: MLP, hidden: int) -> float:
    """One routed expert."""
    return dense_mlp_params(m.expert_intermediate, hidden, m)


def mlp_params(m: MLP, hidden: int) -> tuple[float, float]:
    """(total, active per token) parameters of one MLP block."""
    if m.kind == "dense":
        p = dense_mlp_params(m.intermediate, hidden, m)
        return p, p
    router = hidden * m.experts
    shared = dense_mlp_params(m.shared_intermediate, hidden, m) if m.shared_intermediate else 0.0
    shared += hidden if m.shared_gate else 0.0
    e = expert_params(m, hidden)
    return router + shared + m.experts * e, router + shared + m.topk * e


@dataclass(frozen=True)
class ParamCount:
    embedding: float
    lm_head: float
    attention: float
    mlp_total: float
    mlp_active: float
    norms: float

    @property
    def total(self) -> float:
        return self.embedding + self.lm_head + self.attention + self.mlp_total + self.norms

    @property
    def active(self) -> float:
        return self.embedding + self.lm_head + self.attention + self.mlp_active + self.norms


def count_params(arch: Arch) -> ParamCount:
    att = mt = ma = 0.0
    for g in arch.groups:
        att += g.count * attention_params(g.attn, arch.hidden)
        t, a = mlp_params(g.mlp, arch.hidden)
        mt += g.count * t
        ma += g.count * a
    per_layer = arch.norms_per_layer or (1 if arch.parallel_block else 2)
    norms = arch.hidden * (arch.layers * per_layer + 1)
    emb = arch.vocab * arch.hidden
    head = 0.0 if arch.tie_embeddings else arch.vocab * arch.hidden + (arch.vocab if arch.lm_head_bias else 0)
    return ParamCount(emb, head, att, mt, ma, norms + arch.extra_params)
