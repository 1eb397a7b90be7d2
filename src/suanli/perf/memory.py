"""Memory per chip: weights, KV cache (or recurrent state), activations, and what is left.

Weights follow the same split as the ops (attention by heads over tp, q_a/kv_a of MLA replicated, experts over ep
and moe_tp, dense MLPs over tp, layers over pp). The KV cache of a sequence of L tokens holds min(L, window)
tokens per windowed layer; MLA's latent is not split by heads, so every TP rank keeps all of it (which is why
MLA models are served with attention data parallelism). Activations are the largest step's working set.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.model.arch import Arch, Attention, LayerGroup
from suanli.model.ops import Layout, Numerics, kv_heads_local
from suanli.model.params import attention_params, dense_mlp_params, expert_params, mlp_matrices

GB = 1e9


def attention_params_local(a: Attention, hidden: int, tp: int) -> float:
    if a.kind == "mha":
        kvh = kv_heads_local(a, tp)
        q = a.heads / tp * a.head_dim * (2 if a.out_gate else 1)
        return hidden * (q + kvh * (a.head_dim + a.v_head_dim)) + a.heads / tp * a.v_head_dim * hidden
    if a.kind == "mla":
        replicated = hidden * (a.q_lora_rank + a.kv_lora_rank + a.qk_rope_dim) if a.q_lora_rank else \
            hidden * (a.kv_lora_rank + a.qk_rope_dim)
        return replicated + (attention_params(a, hidden) - replicated) / tp
    return attention_params(a, hidden) / tp


def weight_bytes_per_chip(arch: Arch, lay: Layout, num: Numerics) -> float:
    h = arch.hidden
    layer_bytes = 0.0
    for g in arch.groups:
        m = g.mlp
        per = attention_params_local(g.attn, h, lay.tp) * num.attn_wb
        if m.kind == "dense":
            per += dense_mlp_params(m.intermediate, h, m) / lay.tp * num.weight_bytes
        else:
            per += h * m.experts * 2.0  # router, bf16
            if m.shared_intermediate:
                per += dense_mlp_params(m.shared_intermediate, h, m) / lay.tp * num.weight_bytes
            per += m.experts / lay.ep * expert_params(m, h) / lay.moe_tp * num.weight_bytes
        per += 2 * h * 2.0  # norms
        layer_bytes += g.count * per
    emb = arch.vocab * h / lay.tp * num.head_bytes
    head = 0.0 if arch.tie_embeddings else emb
    ends = emb + head if lay.pp == 1 else max(emb, head)
    return layer_bytes / lay.pp + ends


def kv_bytes_of_group(g: LayerGroup, lay: Layout, num: Numerics, tokens: float) -> float:
    """Cache bytes one sequence of `tokens` tokens takes on one chip in one layer group (all its layers)."""
    a = g.attn
    if a.kind == "linear":
        return g.count * a.state_elems() / lay.tp * 4.0 / lay.pp
    kept = min(tokens, a.window) if a.window else tokens
    if a.kind == "mla" and a.mla_expanded:  # per-head K and V, split over TP like MHA heads
        per_token = a.heads / lay.tp * (a.head_dim + a.v_head_dim) * num.kv_bytes
    elif a.kind == "mla":
        per_token = (a.kv_lora_rank + a.qk_rope_dim) * num.kv_bytes + (a.index_dim * 1.0 if a.sparse_topk else 0)
    else:
        per_token = kv_heads_local(a, lay.tp) * (a.head_dim + a.v_head_dim) * num.kv_bytes
    return g.count * kept * per_token / lay.pp


def kv_bytes_per_seq(arch: Arch, lay: Layout, num: Numerics, tokens: float) -> float:
    """Cache bytes one sequence of `tokens` tokens takes on one chip."""
    return sum(kv_bytes_of_group(g, lay, num, tokens) for g in arch.groups)


def activation_bytes(arch: Arch, lay: Layout, num: Numerics, step_tokens: float, logits: float) -> float:
    """Working set of the largest step: a few hidden-sized buffers plus the widest local projection."""
    widest = 0.0
    for g in arch.groups:
        a, m = g.attn, g.mlp
        q = a.heads / lay.tp * (a.head_dim + a.v_head_dim) + (a.kv_heads * 2 * a.head_dim) / lay.tp
        mlp_w = mlp_matrices(m) * (m.intermediate / lay.tp if m.kind == "dense" else
                                   max(m.shared_intermediate / lay.tp, m.expert_intermediate * m.topk / lay.moe_tp))
        widest = max(widest, q, mlp_w)
    per_token = (4 * arch.hidden + widest) * num.act_bytes
    return step_tokens * per_token + logits * arch.vocab / lay.tp * 4.0


@dataclass(frozen=True)
class MemoryUse:
    capacity: float  # bytes the engine may use on one chip
    weights: float
    kv_cache: float
    activations: float
    reserve: float  # runtime (context, workspaces) and the engine's unused share

    @property
    def free(self) -> float:
        return self.capacity - self.weights - self.kv_cache - self.activations - self.reserve

    @property
    def fits(self) -> bool:
        return self.free >= 0

    def as_gb(self) -> dict[str, float]:
        return {k: round(v / GB, 3) for k, v in (
            ("weights", self.weights), ("kv_cache", self.kv_cache), ("activations", self.activations),
            ("reserve", self.reserve), ("free", self.free), ("capacity", self.capacity))}
