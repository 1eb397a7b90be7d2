"""Vision towers of vision-language models: how many prompt tokens an image becomes, and what encoding it costs.

An image enters a VLM as patches run through a ViT (the vision tower), then merged or pooled into the prompt
tokens the language model reads. Two layouts are modelled, from the towers' reference code (transformers):
* native resolution (Qwen2-VL, Qwen2.5-VL): the image is resized to multiples of patch x merge pixels (within the
  processor's pixel limits), every patch is a ViT row, and merge x merge patches become one prompt token;
  Qwen2.5-VL attends within windows of `window_size` pixels in all but its `fullatt_block_indexes` layers;
* fixed resolution (Gemma 3's SigLIP): every image is resized to `image_size`, (image_size / patch)^2 patches
  attend to each other in full, and an average pool leaves `mm_tokens_per_image` tokens.
The tower is costed as the op builder costs a transformer layer (GEMMs on the patch rows, attention on the
attended pairs) in the precision the language model's attention runs at: engines keep vision towers unquantized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from suanli.schema import SuanliError

# Image processor pixel limits (preprocessor_config.json): Qwen2-VL / Qwen2.5-VL "min_pixels": 3136, "max_pixels":
# 12845056; Qwen3-VL / Qwen3.5 "size": {"shortest_edge": 65536, "longest_edge": 16777216} (a pixel count each)
PIXELS = {"qwen2_5_vl": (3136, 12845056), "qwen2_vl": (3136, 12845056), "qwen3_vl": (65536, 16777216),
          "qwen3_5": (65536, 16777216), "qwen3_5_moe": (65536, 16777216)}
NATIVE = tuple(PIXELS)  # vision model_types with native-resolution patches
QWEN3 = ("qwen3_vl", "qwen3_5", "qwen3_5_moe")  # learned positions, GELU MLP, DeepStack mergers
FIXED = ("siglip_vision_model",)  # fixed-resolution towers


@dataclass(frozen=True)
class VisionTower:
    kind: str  # the vision config's model_type; "" when the tower is not one suanli models (`unsupported`)
    layers: int = 0
    hidden: int = 0
    intermediate: int = 0
    heads: int = 0
    patch: int = 14  # pixels per patch side
    merge: int = 1  # patches per prompt-token side (Qwen's spatial merge)
    gated: bool = False  # SwiGLU MLP (Qwen2.5-VL) or a plain GELU MLP (Qwen2-VL, SigLIP)
    window: int = 0  # pixels per side of a local attention window (Qwen2.5-VL); 0 = full attention everywhere
    full_layers: int = 0  # layers that attend in full although the tower uses windows
    image_size: int = 0  # fixed input resolution (SigLIP); 0 = native resolution
    tokens_per_image: int = 0  # tokens a fixed-resolution image pools to
    out_hidden: int = 0  # the language model's width, which the projector maps to
    temporal: int = 1  # frames one Qwen patch spans (a still image is repeated to fill them)
    positions: int = 0  # learned position embeddings (Qwen3-VL: interpolated to the image's grid)
    deepstack: int = 0  # extra mergers feeding intermediate features to early LM layers (Qwen3-VL DeepStack)
    unsupported: str = ""  # the model_type of a tower suanli does not model

    @property
    def mlp_matrices(self) -> int:
        return 3 if self.gated else 2


def parse_vision(cfg: dict[str, Any], text_hidden: int) -> VisionTower | None:
    """The tower a config's `vision_config` describes, None for a text-only model."""
    v = cfg.get("vision_config")
    if not isinstance(v, dict):
        return None
    # Qwen2-VL's own config.json names no vision model_type: the wrapper's (its text config's, less "_text") holds
    kind = str(v.get("model_type") or str(cfg.get("model_type") or "").removesuffix("_text")).lower()
    try:
        if kind in NATIVE:
            hidden = int(v.get("embed_dim") or v["hidden_size"]) if kind == "qwen2_vl" else int(v["hidden_size"])
            inter = int(v.get("intermediate_size") or hidden * int(v.get("mlp_ratio", 4)))
            full = v.get("fullatt_block_indexes") or []
            return VisionTower(kind, int(v["depth"]), hidden, inter, int(v["num_heads"]), int(v["patch_size"]),
                               int(v.get("spatial_merge_size", 2)), gated=kind == "qwen2_5_vl",
                               window=int(v.get("window_size") or 0) if kind == "qwen2_5_vl" else 0,
                               full_layers=len(full), out_hidden=int(v.get("out_hidden_size") or text_hidden),
                               temporal=int(v.get("temporal_patch_size", 2)),
                               positions=int(v.get("num_position_embeddings") or 0) if kind in QWEN3 else 0,
                               deepstack=len(v.get("deepstack_visual_indexes") or []) if kind in QWEN3 else 0)
        if kind in FIXED:
            tokens = int(cfg.get("mm_tokens_per_image") or 0)
            if not tokens:
                return VisionTower("", unsupported=f"{kind} without mm_tokens_per_image")
            return VisionTower(kind, int(v["num_hidden_layers"]), int(v["hidden_size"]), int(v["intermediate_size"]),
                               int(v["num_attention_heads"]), int(v["patch_size"]), image_size=int(v["image_size"]),
                               tokens_per_image=tokens, out_hidden=text_hidden)
    except (KeyError, TypeError, ValueError):
        return VisionTower("", unsupported=f"{kind} (its vision_config lacks a size)")
    return VisionTower("", unsupported=kind or "unnamed")


def resized(t: VisionTower, width: int, height: int) -> tuple[int, int]:
    """(width, height) in pixels the processor feeds the tower (Qwen's `smart_resize`: multiples of patch x merge,
    the pixel count kept within the processor's limits; a fixed-resolution tower's own size)."""
    if t.image_size:
        return t.image_size, t.image_size
    least, most = PIXELS[t.kind]
    f = t.patch * t.merge
    h, w = max(f, round(height / f) * f), max(f, round(width / f) * f)
    if h * w > most:
        beta = math.sqrt(height * width / most)
        h, w = max(f, math.floor(height / beta / f) * f), max(f, math.floor(width / beta / f) * f)
    elif h * w < least:
        beta = math.sqrt(least / (height * width))
        h, w = math.ceil(height * beta / f) * f, math.ceil(width * beta / f) * f
    return w, h


def patches_and_tokens(t: VisionTower, width: int, height: int) -> tuple[int, int]:
    """ViT rows (patches) one image runs through the tower, and the prompt tokens it becomes."""
    w, h = resized(t, width, height)
    patches = (w // t.patch) * (h // t.patch)
    return patches, (t.tokens_per_image or patches // (t.merge * t.merge))


def attended_pairs(t: VisionTower, patches: int) -> float:
    """(query, key) pairs per layer, averaged over the tower's layers: full attention over the image's patches,
    or windows of (window / patch)^2 patches in the windowed layers."""
    if not t.window:
        return float(patches) * patches
    per_window = min(patches, (t.window // t.patch) ** 2)
    windowed = float(patches) * per_window
    full = float(patches) * patches
    return (t.full_layers * full + (t.layers - t.full_layers) * windowed) / t.layers


def tower_params(t: VisionTower) -> float:
    """Parameters of the tower and its projector (Qwen's patch merger; Gemma 3's projection after the pool)."""
    h, i = t.hidden, t.intermediate
    attn = 4 * h * h + 4 * h  # qkv and output projections, with biases
    mlp = t.mlp_matrices * h * i + (t.mlp_matrices - 1) * i + h  # with biases
    layer = attn + mlp + 4 * h  # two norms, weight and bias
    embed = 3 * t.temporal * t.patch * t.patch * h
    if t.image_size:  # SigLIP: conv bias and a learned position per patch; post-norm; Gemma's norm + projection
        embed += h + (t.image_size // t.patch) ** 2 * h
        proj = 2 * h + h + h * t.out_hidden
    else:  # Qwen merger: norm, then an MLP from merge^2 patches to one token; Qwen3-VL: conv bias, positions,
        # and one more merger per DeepStack layer (normed after the merge: 2 m)
        m = h * t.merge * t.merge
        proj = 2 * h + m * m + m + m * t.out_hidden + t.out_hidden
        proj += t.deepstack * (2 * m + m * m + m + m * t.out_hidden + t.out_hidden)
        embed += (h + t.positions * h) if t.kind in QWEN3 else 0
    return t.layers * layer + embed + proj


@dataclass(frozen=True)
class ImageWork:
    """One image through the tower: the matrices its rows meet and the pairs they attend to."""

    patches: int  # ViT rows
    attn_weights: int  # per layer: qkv and output projections
    mlp_weights: int  # per layer
    pairs: float  # attended (query, key) pairs per layer, mean over the layers
    proj_tokens: int  # rows the projector runs on: the image's prompt tokens
    proj_weights: int  # the projector's matrices (every merger)


def image_work(t: VisionTower, patches: int) -> ImageWork:
    """What encoding one image of `patches` patches involves (the op builder's and `encoder_flops`'s one source)."""
    h = t.hidden
    if t.image_size:  # pooled to the image's tokens, each projected to the language model's width
        tokens, proj = t.tokens_per_image, h * t.out_hidden
    else:  # merge x merge patches concatenated, a two-layer MLP to one token; one more per DeepStack layer
        m = h * t.merge * t.merge
        tokens, proj = patches // (t.merge * t.merge), (m * m + m * t.out_hidden) * (1 + t.deepstack)
    return ImageWork(patches, 4 * h * h, t.mlp_matrices * h * t.intermediate, attended_pairs(t, patches),
                     tokens, proj)


def encoder_flops(t: VisionTower, patches: int) -> dict[str, float]:
    """FLOPs of encoding one image, by op class: the tower's GEMMs (the projector's included), its attention."""
    w = image_work(t, patches)
    gemm = 2.0 * patches * (w.attn_weights + w.mlp_weights) * t.layers + 2.0 * w.proj_tokens * w.proj_weights
    return {"gemm": gemm, "attention": 4.0 * w.pairs * t.hidden * t.layers}  # QK^T and PV over every head


def check_images(t: VisionTower | None, model_id: str) -> VisionTower:
    """The tower images go through, or a one-line refusal naming what is missing."""
    if t is None:
        raise SuanliError(f"images: {model_id} has no vision tower (its config has no vision_config); use a "
                          "vision-language model, e.g. qwen2.5-vl-7b or gemma-3-4b")
    if t.unsupported:
        raise SuanliError(f"images: the vision tower of {model_id} ({t.unsupported}) is not modelled; towers "
                          f"modelled: {', '.join(NATIVE + FIXED)}")
    return t
