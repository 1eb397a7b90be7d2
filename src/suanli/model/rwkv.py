"""RWKV-6 (Finch) and RWKV-7 (Goose) as the op builder's linear-attention layers: a recurrent state per sequence
replaces the KV cache; their projections and low-rank mixes are counted as their reference code builds them."""

from __future__ import annotations

from typing import Any

from suanli.model.arch import MLP, Arch, Attention, LayerGroup, _get
from suanli.schema import SuanliError


def rwkv_arch(cfg: dict[str, Any], name: str, hidden: int, layers: int, vocab: int) -> Arch:
    if str(cfg.get("model_type", "")).lower() == "rwkv6" or "rwkv6" in " ".join(cfg.get("architectures") or []).lower():
        return _rwkv6(cfg, name, hidden, layers, vocab)
    head = int(_get(cfg, "head_dim", "head_size", default=64))
    heads = hidden // head
    lowrank = sum(int(cfg.get(k) or 0) for k in ("decay_low_rank_dim", "a_low_rank_dim", "v_low_rank_dim",
                                                  "gate_low_rank_dim"))
    attn = Attention("linear", heads, heads, head, head, lin_k_heads=heads, lin_v_heads=heads, lin_k_dim=head,
                     lin_v_dim=head, lin_lowrank=lowrank)
    inter = int(_get(cfg, "intermediate_size", "dim_ffn", default=4 * hidden))
    mlp = MLP("dense", inter, gated=False)
    return Arch(name=name, hidden=hidden, vocab=vocab, tie_embeddings=bool(cfg.get("tie_word_embeddings")),
                groups=(LayerGroup(attn, mlp, layers),), notes=("RWKV-7: recurrent state replaces the KV cache",))


def _rwkv6(cfg: dict[str, Any], name: str, hidden: int, layers: int, vocab: int) -> Arch:
    """RWKV-6 (Finch) as its reference code builds it (HF modeling_rwkv6.py, RWKV-LM, llama.cpp's converter).

    Time mixing: r, k, v, g and output projections, all hidden x hidden; a data-dependent token shift from a
    rank-5x32 LoRA and a data-dependent decay from a rank-64 LoRA (64 and 128 at width 4096: fixed in the code by
    width, not given in the config). Channel mixing: key to int(3.5 * hidden) rounded down to 32, value back, and
    a hidden x hidden sigmoid receptance."""
    att = int(cfg.get("attention_hidden_size") or hidden)
    if att != hidden:
        raise SuanliError(f"{name}: RWKV-6 with attention_hidden_size {att} != hidden_size {hidden} is not modelled")
    head = int(_get(cfg, "head_size", "head_dim", default=64))
    heads = hidden // head
    mix_rank, decay_rank = (64, 128) if hidden == 4096 else (32, 64)
    ffn = int(cfg.get("intermediate_size") or int(hidden * 3.5 // 32 * 32))
    # r, k, v, o are the square projections the linear-attention op carries; the token-shift (w1: hidden -> 5 x 32,
    # w2: back) and decay LoRAs are its low rank. The time-mix gate g and the channel-mix receptance are two more
    # hidden x hidden GEMMs on the same tokens: they ride as `hidden` extra units of the (ungated) MLP, which gives
    # them the same weights and FLOPs.
    attn = Attention("linear", heads, heads, head, head, lin_k_heads=heads, lin_v_heads=heads, lin_k_dim=head,
                     lin_v_dim=head, lin_lowrank=5 * mix_rank + decay_rank)
    mlp = MLP("dense", ffn + hidden, gated=False)
    # vectors per layer: 6 token-shift mixes, decay and bonus (time_faaaa), the GroupNorm ln_x (2), 2 channel-mix
    # shifts and the biased ln1/ln2 (4) = 16 x hidden, of which the layer count already holds 2; ln0 and the biased
    # ln_out add 3 more
    extra = float(hidden * (14 * layers + 3))
    return Arch(name=name, hidden=hidden, vocab=vocab, tie_embeddings=bool(cfg.get("tie_word_embeddings")),
                groups=(LayerGroup(attn, mlp, layers),), extra_params=extra, model_type="rwkv6",
                notes=("RWKV-6: recurrent state replaces the KV cache",))
