"""From a Hugging Face config.json to a normalised architecture: groups of identical layers.

Every supported family (Llama/Mistral/Qwen/Gemma, Mixtral and Qwen-MoE, DeepSeek V2/V3/R1/V3.2 and Kimi with MLA,
gpt-oss, Llama 4, GLM-4.x, MiniMax, Qwen3-Next/3.5 hybrids with linear attention, GPT-J, Falcon, ChatGLM,
InternLM2, Phi-3, ERNIE 4.5, Hunyuan-A13B, RWKV-6/7) is reduced to the same few numbers, so the op builder has one
code path. Layers that are identical (same attention kind, window and MLP kind) are grouped with a count: this
keeps a step evaluation at a few dozen ops whatever the depth of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from suanli.model.state_space import refuse_state_space
from suanli.model.vision import VisionTower, parse_vision
from suanli.schema import SuanliError


@dataclass(frozen=True)
class Attention:
    kind: str  # "mha" (MHA/GQA/MQA), "mla", "linear" (state-space / linear attention), "none"
    heads: int
    kv_heads: int
    head_dim: int  # q/k head dim (mha); qk_nope + qk_rope (mla)
    v_head_dim: int
    window: int | None = None  # sliding or chunked window in tokens; None = full context
    bias: bool = False
    out_gate: bool = False  # Qwen3-Next/3.5: q_proj also produces a sigmoid gate on the attention output
    # MLA (DeepSeek): low-rank q and compressed kv latent; the cache holds kv_lora_rank + qk_rope_dim per token.
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_dim: int = 0
    # DeepSeek Sparse Attention: a lightweight indexer picks `sparse_topk` tokens per query.
    sparse_topk: int = 0
    index_heads: int = 0
    index_dim: int = 0
    # MLA run without weight absorption: the engine caches per-head K and V, not the latent (`expanded_mla`)
    mla_expanded: bool = False
    # Linear attention (gated DeltaNet, RWKV-7): a fixed state per sequence replaces the KV cache.
    lin_k_heads: int = 0
    lin_v_heads: int = 0
    lin_k_dim: int = 0
    lin_v_dim: int = 0
    lin_conv: int = 0
    lin_lowrank: int = 0  # RWKV low-rank projections, total rank: RWKV-7 w, a, v, g; RWKV-6 token shift, decay
    # Mamba (selective state space, Jamba's mixer): inner width, state size per channel, rank of the step size
    ssm_inner: int = 0
    ssm_state: int = 0
    ssm_dt_rank: int = 0
    # Mamba-2 (SSD: a scalar decay per head, B and C shared within groups): heads and groups; 0 for Mamba-1
    ssm_heads: int = 0
    ssm_groups: int = 0
    ssm_chunk: int = 256  # SSD's chunk length (chunk_size), the span of its intra-chunk matrix products

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def ssm_conv_dim(self) -> int:
        """Mamba-2's convolved channels: x and the groups' B and C."""
        return self.ssm_inner + 2 * self.ssm_groups * self.ssm_state

    def kv_cache_elems(self) -> float:
        """Cached elements per token per layer, before tensor parallelism."""
        if self.kind == "mla" and self.mla_expanded:
            return self.heads * (self.head_dim + self.v_head_dim)
        if self.kind == "mla":
            return self.kv_lora_rank + self.qk_rope_dim + (self.index_dim if self.sparse_topk else 0)
        if self.kind == "mha":
            return self.kv_heads * (self.head_dim + self.v_head_dim)
        return 0.0

    def state_elems(self) -> float:
        """Recurrent state per sequence per layer (linear attention), elements."""
        if self.kind != "linear":
            return 0.0
        if self.ssm_heads:  # Mamba-2: each head's state (head dim x state) and the conv window over x, B and C
            return self.ssm_inner * self.ssm_state + self.lin_conv * self.ssm_conv_dim
        if self.ssm_inner:  # Mamba: the convolution window and the SSM state of every inner channel
            return self.ssm_inner * (self.lin_conv + self.ssm_state)
        conv = self.lin_conv * (2 * self.lin_k_heads * self.lin_k_dim + self.lin_v_heads * self.lin_v_dim)
        return self.lin_v_heads * self.lin_k_dim * self.lin_v_dim + conv


@dataclass(frozen=True)
class MLP:
    kind: str  # "dense" or "moe"
    intermediate: int = 0  # dense MLP width
    gated: bool = True  # SwiGLU/GeGLU: three matrices; plain GELU MLP: two
    bias: bool = False
    experts: int = 0
    topk: int = 0
    expert_intermediate: int = 0
    shared_intermediate: int = 0  # all shared experts together
    shared_gate: bool = False  # Qwen-MoE style sigmoid gate on the shared expert


@dataclass(frozen=True)
class LayerGroup:
    attn: Attention
    mlp: MLP
    count: int


@dataclass(frozen=True)
class Arch:
    name: str
    hidden: int
    vocab: int
    tie_embeddings: bool
    groups: tuple[LayerGroup, ...]
    parallel_block: bool = False  # attention and MLP read the same input (GPT-J, Falcon): one TP all-reduce
    lm_head_bias: bool = False
    mtp_layers: int = 0  # multi-token-prediction modules (not counted in published totals)
    extra_params: float = 0.0  # per-layer embeddings and other tensors outside the block structure
    notes: tuple[str, ...] = field(default_factory=tuple)
    model_type: str = ""  # the config's model_type: engines treat some architectures as others
    vision: VisionTower | None = None  # a vision-language model's image encoder (`model/vision.py`)
    norms_per_layer: int | None = None  # None: 1 with a parallel block, else 2; single-block layers (Mamba-2): 1

    @property
    def layers(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def is_moe(self) -> bool:
        return any(g.mlp.kind == "moe" for g in self.groups)


def _get(cfg: dict[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if cfg.get(n) is not None:
            return cfg[n]
    return default


def _text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Multimodal wrappers keep the language model in `text_config` (or `language_config`)."""
    for key in ("text_config", "language_config", "llm_config"):
        inner = cfg.get(key)
        if isinstance(inner, dict) and _get(inner, "hidden_size", "n_embd", "d_model"):
            merged = {k: v for k, v in cfg.items() if k != key}
            merged.update(inner)
            return merged
    return cfg


NOT_GATED = {"gptj", "falcon", "gpt2", "gpt_neox", "opt", "bloom", "rwkv7", "rwkv"}


# Sizes a config gives, and the most any model could have: a string, NaN, a negative or an absurd value is refused in
# one line before any op is built from it (a config with 100 million layers would take minutes and gigabytes)
SIZE_KEYS = {k: 10_000_000 for k in (
    "vocab_size", "padded_vocab_size", "intermediate_size", "ffn_hidden_size", "n_inner", "intermediate_size_mlp",
    "moe_intermediate_size", "shared_expert_intermediate_size")}
SIZE_KEYS["max_position_embeddings"] = 100_000_000  # Llama 4 Scout claims 10,485,760
SIZE_KEYS.update({k: 1_000_000 for k in ("hidden_size", "n_embd", "d_model", "head_dim", "kv_channels",
                                          "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim",
                                          "v_head_dim")})
SIZE_KEYS.update({k: 100_000 for k in ("num_attention_heads", "n_head", "num_heads", "num_key_value_heads",
                                        "num_kv_heads", "n_head_kv", "num_experts", "num_local_experts",
                                        "n_routed_experts", "num_experts_per_tok", "n_shared_experts", "moe_topk",
                                        "num_shared_expert")})
SIZE_KEYS.update({k: 10_000 for k in ("num_hidden_layers", "n_layer", "num_layers")})

# Hunyuan-A13B (hunyuan_v1_moe) spells these out once per layer. Every released config repeats one value, which is
# read as that value; a list that varies by layer is refused (each layer group would need its own MLP).
PER_LAYER_KEYS = ("moe_intermediate_size", "moe_topk", "num_shared_expert")


def _uniform_lists(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The config with every per-layer list of PER_LAYER_KEYS replaced by its one repeated value."""
    out = cfg
    for key in PER_LAYER_KEYS:
        v = cfg.get(key)
        if not isinstance(v, list):
            continue
        values: list[Any] = []
        for x in v:
            if x not in values:
                values.append(x)
        if not values:
            raise SuanliError(f"{name}: config field {key!r} is an empty per-layer list; give one value per layer")
        if len(values) > 1:
            shown = ", ".join(repr(x) for x in values[:4]) + (", ..." if len(values) > 4 else "")
            raise SuanliError(f"{name}: config field {key!r} differs between layers ({shown}); suanli models one "
                              f"value for every layer")
        out = {**out, key: values[0]}
    return out


def _check_sizes(cfg: dict[str, Any], name: str) -> None:
    for key, most in SIZE_KEYS.items():
        v = cfg.get(key)
        if v is None:
            continue
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v == int(v)
        if not ok or not 0 <= v <= most:
            raise SuanliError(f"{name}: config field {key!r} = {v!r} is not allowed; give a whole number from 0 to "
                              f"{most:,}")


def parse_config(cfg: dict[str, Any], name: str = "model") -> Arch:
    """Normalise a Hugging Face config into an Arch. Raises SuanliError on configs it cannot read."""
    cfg = _uniform_lists(_text_config(cfg), name)
    _check_sizes(cfg, name)
    mtype = str(_get(cfg, "model_type", default="")).lower()
    archs = " ".join(_get(cfg, "architectures", default=[]) or []).lower()
    hidden = _get(cfg, "hidden_size", "n_embd", "d_model")
    layers = _get(cfg, "num_hidden_layers", "n_layer", "num_layers")
    vocab = _get(cfg, "vocab_size", "padded_vocab_size")
    if not (hidden and layers and vocab):
        raise SuanliError(f"{name}: config lacks hidden_size, num_hidden_layers or vocab_size")
    hidden, layers, vocab = int(hidden), int(layers), int(vocab)
    if cfg.get("cross_attention_layers"):  # Llama 3.2 Vision (mllama): image cross-attention is not modelled
        raise SuanliError(f"{name}: cross-attention layers (model_type {mtype or 'unnamed'}, layers "
                          f"{cfg['cross_attention_layers']}) are not modelled; suanli reads decoder-only models")
    refuse_state_space(cfg, name, mtype)
    if mtype.startswith("rwkv") or "rwkv" in archs:
        from suanli.model.rwkv import rwkv_arch  # the recurrent families have their own builders

        return rwkv_arch(cfg, name, hidden, layers, vocab)
    if mtype in ("mamba2", "nemotron_h"):
        from suanli.model.mamba2 import mamba2_arch

        return mamba2_arch(cfg, name, hidden, layers, vocab)

    heads = int(_get(cfg, "num_attention_heads", "n_head", "num_heads", default=0))
    if heads <= 0:
        raise SuanliError(f"{name}: config lacks num_attention_heads")
    kv = _get(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv")
    if cfg.get("multi_query_attention") and cfg.get("multi_query_group_num"):
        kv = cfg["multi_query_group_num"]  # ChatGLM
    if kv is None and cfg.get("multi_query") and not cfg.get("new_decoder_architecture"):
        kv = 1  # Falcon-7B style multi-query
    kv = int(kv or heads)
    head_dim = int(_get(cfg, "head_dim", "kv_channels", default=hidden // heads))
    gated = mtype not in NOT_GATED and "gptj" not in archs and "falcon" not in archs
    inter = _get(cfg, "intermediate_size_mlp", "ffn_hidden_size", "intermediate_size", "n_inner")
    inter = int(inter) if inter else 4 * hidden
    attn_bias = bool(_get(cfg, "attention_bias", "qkv_bias", "add_qkv_bias", "bias", default=False)) or mtype in {
        "qwen2", "qwen2_moe", "qwen2_vl_text", "qwen2_5_vl_text"}
    mlp_bias = bool(_get(cfg, "mlp_bias", "bias", default=False)) or mtype in {"gptj"}

    # Attention kind per layer
    if cfg.get("kv_lora_rank"):
        base = Attention(
            "mla", heads, heads, int(cfg["qk_nope_head_dim"]) + int(cfg["qk_rope_head_dim"]), int(cfg["v_head_dim"]),
            q_lora_rank=int(cfg.get("q_lora_rank") or 0), kv_lora_rank=int(cfg["kv_lora_rank"]),
            qk_rope_dim=int(cfg["qk_rope_head_dim"]), sparse_topk=int(cfg.get("index_topk") or 0),
            index_heads=int(cfg.get("index_n_heads") or 0), index_dim=int(cfg.get("index_head_dim") or 0),
        )
    else:
        base = Attention("mha", heads, kv, head_dim, head_dim, bias=attn_bias,
                         out_gate=bool(cfg.get("attn_output_gate")))
    attns = _attention_per_layer(cfg, base, layers, hidden)
    mlps = _mlp_per_layer(cfg, layers, inter, gated, mlp_bias, mtype)

    groups: list[LayerGroup] = []
    for a, m in zip(attns, mlps, strict=True):
        if groups and groups[-1].attn == a and groups[-1].mlp == m:
            groups[-1] = LayerGroup(a, m, groups[-1].count + 1)
        else:
            groups.append(LayerGroup(a, m, 1))
    groups = _merge_groups(groups)
    parallel = bool(cfg.get("parallel_attn")) or mtype == "gptj" or bool(cfg.get("new_decoder_architecture"))
    tie = bool(_get(cfg, "tie_word_embeddings", default=mtype in {"gemma", "gemma2", "gemma3_text", "gemma3"}))
    if mtype == "chatglm":
        tie = False
    return Arch(
        name=name, hidden=hidden, vocab=vocab, tie_embeddings=tie, groups=tuple(groups), parallel_block=parallel,
        lm_head_bias=mtype == "gptj",
        mtp_layers=int(cfg.get("num_nextn_predict_layers") or cfg.get("mtp_num_hidden_layers") or 0),
        model_type=mtype, vision=parse_vision(cfg, hidden),
    )


def _merge_groups(groups: list[LayerGroup]) -> list[LayerGroup]:
    """Layers need not be adjacent to share a group: cost depends on the layer kind, not its position."""
    merged: dict[tuple[Attention, MLP], int] = {}
    for g in groups:
        merged[(g.attn, g.mlp)] = merged.get((g.attn, g.mlp), 0) + g.count
    return [LayerGroup(a, m, n) for (a, m), n in merged.items()]


LAYER_TYPES = {"full_attention", "attention", "sliding_attention", "chunked_attention", "linear_attention"}


def _attention_per_layer(cfg: dict[str, Any], base: Attention, layers: int, hidden: int) -> list[Attention]:
    types = cfg.get("layer_types")
    window = cfg.get("sliding_window")
    out: list[Attention] = []
    linear = None
    if cfg.get("linear_num_value_heads") or (types and "linear_attention" in types):
        linear = Attention(
            "linear", base.heads, base.kv_heads, base.head_dim, base.v_head_dim,
            lin_k_heads=int(cfg["linear_num_key_heads"]), lin_v_heads=int(cfg["linear_num_value_heads"]),
            lin_k_dim=int(cfg["linear_key_head_dim"]), lin_v_dim=int(cfg["linear_value_head_dim"]),
            lin_conv=int(cfg.get("linear_conv_kernel_dim") or 4),
        )
    if str(cfg.get("model_type", "")).lower() == "jamba":  # Mamba layers, attention every attn_layer_period
        d_inner = int(cfg.get("mamba_expand") or 2) * hidden
        linear = Attention("linear", base.heads, base.kv_heads, base.head_dim, base.v_head_dim,
                           lin_conv=int(cfg.get("mamba_d_conv") or 4), ssm_inner=d_inner,
                           ssm_state=int(cfg.get("mamba_d_state") or 16),
                           ssm_dt_rank=int(cfg.get("mamba_dt_rank") or -(-hidden // 16)))
        period, offset = int(cfg.get("attn_layer_period") or 8), int(cfg.get("attn_layer_offset") or 4)
        types = ["full_attention" if i % period == offset else "linear_attention" for i in range(layers)]
    for i in range(layers):
        kind = None
        if types:
            kind = types[i]
            if kind not in LAYER_TYPES:
                raise SuanliError(f"layer_types: {kind!r} (layer {i}) is not a layer type suanli models; "
                                  f"supported: {', '.join(sorted(LAYER_TYPES))}")
        elif linear is not None:
            interval = int(cfg.get("full_attention_interval") or 4)
            kind = "full_attention" if (i + 1) % interval == 0 else "linear_attention"
        elif cfg.get("attention_chunk_size") and cfg.get("no_rope_layers"):
            # Llama 4: rope layers attend within chunks; NoPE layers (flag 0) attend globally
            kind = "chunked_attention" if cfg["no_rope_layers"][i] else "full_attention"
        elif window and str(cfg.get("model_type", "")).startswith("gemma2"):
            kind = "sliding_attention" if i % 2 == 0 else "full_attention"
        elif window and cfg.get("sliding_window_pattern"):
            pattern = int(cfg["sliding_window_pattern"])
            kind = "full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
        elif window and cfg.get("use_sliding_window", True) and not _sliding_disabled(cfg, i):
            kind = "sliding_attention"
        if kind == "linear_attention":
            out.append(linear)  # type: ignore[arg-type]
        elif kind == "sliding_attention":
            out.append(_with_window(base, int(window)))
        elif kind == "chunked_attention":
            out.append(_with_window(base, int(cfg["attention_chunk_size"])))
        else:
            out.append(base)
    return out


def _sliding_disabled(cfg: dict[str, Any], i: int) -> bool:
    """Qwen2-style configs carry a sliding_window that is off unless use_sliding_window is set."""
    if "use_sliding_window" in cfg and not cfg["use_sliding_window"]:
        return True
    max_window_layers = cfg.get("max_window_layers")
    return bool(max_window_layers is not None and "use_sliding_window" in cfg and i >= max_window_layers)


def without_uniform_window(arch: Arch) -> Arch:
    """The arch with full attention where a Mistral-architecture model has the same sliding window on every layer
    (Mistral 7B v0.1): engines that build it as Llama apply the window only when told to at run time."""
    windows = {g.attn.window for g in arch.groups if g.attn.kind != "linear"}
    if arch.model_type != "mistral" or len(windows) != 1 or None in windows:
        return arch
    groups = tuple(LayerGroup(Attention(**{**g.attn.__dict__, "window": None}), g.mlp, g.count)
                   for g in arch.groups)
    return Arch(**{**arch.__dict__, "groups": groups,
                   "notes": (*arch.notes, "sliding window not applied by this engine: full attention")})


def expanded_mla(arch: Arch) -> Arch:
    """The arch as an engine without absorbed MLA kernels runs it: the latent is up-projected once per token and
    every head's K and V are cached and read (multi-head attention over 128 heads for DeepSeek-V3)."""
    if not any(g.attn.kind == "mla" for g in arch.groups):
        return arch
    groups = tuple(LayerGroup(Attention(**{**g.attn.__dict__, "mla_expanded": g.attn.kind == "mla"}), g.mlp, g.count)
                   for g in arch.groups)
    return Arch(**{**arch.__dict__, "groups": groups,
                   "notes": (*arch.notes, "MLA without absorbed kernels: per-head K and V cached and read")})


def _with_window(a: Attention, window: int) -> Attention:
    return Attention(**{**a.__dict__, "window": window})


def _mlp_per_layer(cfg: dict[str, Any], layers: int, inter: int, gated: bool, bias: bool, mtype: str) -> list[MLP]:
    experts = int(_get(cfg, "n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts", default=0))
    dense = MLP("dense", inter, gated, bias)
    if experts <= 1:
        return [dense] * layers
    topk = int(_get(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", "top_k", "moe_k", default=2))
    e_inter = int(_get(cfg, "moe_intermediate_size", "expert_intermediate_size", default=0) or
                  cfg.get("intermediate_size") or inter)
    # Hunyuan names the shared-expert count `num_shared_expert` (its shared MLP is that many experts wide)
    n_shared = int(_get(cfg, "n_shared_experts", "moe_num_shared_experts", "num_shared_expert", default=0))
    shared = int(cfg.get("shared_expert_intermediate_size") or 0) or n_shared * e_inter
    if str(mtype).startswith("llama4"):
        shared = int(cfg.get("intermediate_size") or e_inter)  # one shared expert of the expert width
        dense = MLP("dense", int(cfg.get("intermediate_size_mlp") or inter), gated, bias)
    elif cfg.get("intermediate_size") and (cfg.get("first_k_dense_replace") or cfg.get("moe_intermediate_size")):
        dense = MLP("dense", int(cfg["intermediate_size"]), gated, bias)
    moe = MLP("moe", 0, gated, bias or mtype == "gpt_oss", experts, topk, e_inter, shared,
              shared_gate=bool(cfg.get("shared_expert_intermediate_size")))
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    freq = int(_get(cfg, "moe_layer_freq", "decoder_sparse_step", "interleave_moe_layer_step", "moe_layer_interval",
                    default=1) or 1)
    only_dense = set(cfg.get("mlp_only_layers") or [])
    # ERNIE 4.5: experts from moe_layer_start_index to moe_layer_end_index (inclusive; unset or -1: the last layer)
    first_dense = max(first_dense, int(cfg.get("moe_layer_start_index") or 0))
    last = cfg.get("moe_layer_end_index")
    last = layers - 1 if last is None or int(last) < 0 else int(last)
    out = []
    for i in range(layers):
        is_moe = first_dense <= i <= last and (i + 1) % freq == 0 and i not in only_dense
        if str(mtype).startswith("llama4") and freq > 1:
            is_moe = (i + 1) % freq == 0
        if mtype == "jamba":  # experts every expert_layer_period layers, from expert_layer_offset
            is_moe = i % int(cfg.get("expert_layer_period") or 2) == int(cfg.get("expert_layer_offset") or 1)
        out.append(moe if is_moe else dense)
    return out
