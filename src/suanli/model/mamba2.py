"""Mamba-2 mixers (SSD: state-space duality, a scalar decay per head, B and C shared within groups) as the op
builder's linear-attention layers: pure Mamba-2 models (Mamba-Codestral) and NVIDIA's Nemotron-H hybrids, whose
layers are each one block, a Mamba-2 mixer, an attention layer, an MLP or a MoE layer (`hybrid_override_pattern`)."""

from __future__ import annotations

from typing import Any

from suanli.model.arch import MLP, Arch, Attention, LayerGroup, _get, _merge_groups
from suanli.schema import SuanliError

NONE = Attention("none", 0, 0, 0, 0)
NO_MLP = MLP("dense", 0, gated=False)


def mixer(cfg: dict[str, Any], hidden: int) -> Attention:
    """The Mamba-2 mixer a config describes (transformers' Mamba2Config / NemotronHConfig field names)."""
    heads = int(_get(cfg, "mamba_num_heads", "num_heads", default=0))
    head_dim = int(_get(cfg, "mamba_head_dim", "head_dim", default=64))
    if heads <= 0:
        inner = int(_get(cfg, "expand", default=2)) * hidden
        heads = inner // head_dim
    return Attention("linear", heads, heads, head_dim, head_dim, lin_conv=int(_get(cfg, "conv_kernel", default=4)),
                     ssm_inner=heads * head_dim, ssm_state=int(_get(cfg, "ssm_state_size", "state_size", default=128)),
                     ssm_heads=heads, ssm_groups=int(_get(cfg, "n_groups", "mamba_n_groups", default=1)),
                     ssm_chunk=int(_get(cfg, "chunk_size", default=256)))


def mamba2_arch(cfg: dict[str, Any], name: str, hidden: int, layers: int, vocab: int) -> Arch:
    mix = mixer(cfg, hidden)
    tie = bool(cfg.get("tie_word_embeddings"))
    if str(cfg.get("model_type", "")).lower() == "mamba2":
        return Arch(name=name, hidden=hidden, vocab=vocab, tie_embeddings=tie,
                    groups=(LayerGroup(mix, NO_MLP, layers),), model_type="mamba2", norms_per_layer=1,
                    notes=("Mamba-2: a recurrent state per sequence replaces the KV cache",))
    pattern = str(cfg.get("hybrid_override_pattern") or "")
    if len(pattern) != layers:
        raise SuanliError(f"{name}: hybrid_override_pattern has {len(pattern)} layers, num_hidden_layers {layers}")
    heads = int(_get(cfg, "num_attention_heads", default=0))
    head_dim = int(_get(cfg, "attention_head_dim", "head_dim", default=hidden // max(heads, 1)))
    attn = Attention("mha", heads, int(_get(cfg, "num_key_value_heads", default=heads)), head_dim, head_dim,
                     bias=bool(cfg.get("attention_bias")))
    # Nemotron-H's MLP layers are squared-ReLU, two matrices (mlp_hidden_act "relu2")
    mlp = MLP("dense", int(_get(cfg, "intermediate_size", default=4 * hidden)), gated=False,
              bias=bool(cfg.get("mlp_bias")))
    kinds = {"M": (mix, NO_MLP), "*": (attn, NO_MLP), "-": (NONE, mlp)}
    if "E" in pattern:  # MoE layers (Nemotron 3): squared-ReLU routed experts and one shared expert
        experts = int(_get(cfg, "n_routed_experts", default=0))
        if experts <= 1:
            raise SuanliError(f"{name}: hybrid_override_pattern has MoE ('E') layers but n_routed_experts is "
                              f"{experts}; give the config's expert fields")
        kinds["E"] = (NONE, MLP("moe", 0, False, bool(cfg.get("mlp_bias")), experts,
                                int(_get(cfg, "num_experts_per_tok", default=1)),
                                int(_get(cfg, "moe_intermediate_size", default=0)),
                                int(_get(cfg, "moe_shared_expert_intermediate_size", default=0))))
    unknown = sorted(set(pattern) - set(kinds))
    if unknown:
        raise SuanliError(f"{name}: hybrid_override_pattern layer type {unknown[0]!r} is not modelled (suanli "
                          "models M: Mamba-2, *: attention, -: MLP, E: MoE)")
    groups = _merge_groups([LayerGroup(*kinds[c], 1) for c in pattern])
    return Arch(name=name, hidden=hidden, vocab=vocab, tie_embeddings=tie, groups=tuple(groups),
                model_type="nemotron_h", norms_per_layer=1,
                notes=(f"Nemotron-H: {pattern.count('M')} Mamba-2, {pattern.count('*')} attention, "
                       f"{pattern.count('-')} MLP and {pattern.count('E')} MoE layers",))
