"""Images on the step model: the vision tower's work as ops of the prefill.

An engine encodes a request's images in the step that prefills them (vLLM V1 schedules encoder inputs with the
prompt chunk holding their tokens) and caches the result, so the tower's work rides on prefill tokens: with
`count` images in a prompt of `prompt_tokens` tokens, every prefill token carries count / prompt_tokens of an
image's encoding. The tower's ops are then linear in the step's prefill tokens like every other op, and every
consumer of steps (predict, the simulator, the planner) sees them. Towers are split over the tensor-parallel chips
as the language model is (an all-reduce after attention and after the MLP of each layer), in 16-bit weights.
"""

from __future__ import annotations

from suanli.model.ops import LinOp, Numerics
from suanli.model.vision import check_images, image_work, patches_and_tokens, tower_params
from suanli.schema import SuanliError

TOWER_BYTES = 2.0  # engines keep vision towers in 16 bits, also for quantized language models
PER = "prefill_tokens"


def vision_ops(t, patches: int, rate: float, tp: int, num: Numerics) -> list[LinOp]:
    """The tower's ops per prefill token: `rate` images per token, each `patches` ViT rows."""
    w = image_work(t, patches)
    h, ab = t.hidden, num.act_bytes
    rows = patches * rate
    dt = num.attn_dtype  # the 16-bit matrix rate (or the chip's nearest), as the language model's attention

    def gemm(name: str, count: int, weights: float, width_in: float, width_out: float, n: float) -> LinOp:
        """`n` rows per image through a matrix of `weights` elements, read once per image (16-bit)."""
        return LinOp(name, "gemm", count, {PER: 2.0 * rate * n * weights / tp},
                     {PER: rate * weights * TOWER_BYTES / tp + rate * n * (width_in + width_out) * ab}, dt,
                     active=PER, m=PER)

    ops = [
        gemm("vision_attn_proj", t.layers, w.attn_weights, h, 4 * h / tp, patches),
        LinOp("vision_attention", "attention", t.layers, {PER: 4.0 * rate * w.pairs * h / tp},
              {PER: rows * 4 * h / tp * ab}, dt, active=PER, m=PER),
        gemm("vision_mlp", t.layers, w.mlp_weights, h, (t.mlp_matrices - 1) * t.intermediate / tp, patches),
        LinOp("vision_norms", "elementwise", t.layers, bytes={PER: rows * 8 * h * ab}, kernels=4, active=PER, m=PER),
        gemm("vision_projector", 1, w.proj_weights, 0.0, t.out_hidden, w.proj_tokens),
    ]
    if tp > 1:
        ops.append(LinOp("vision_allreduce", "comm", 2 * t.layers, comm="all_reduce", comm_bytes={PER: rows * h * ab},
                         group=tp, active=PER, m=PER))
    return ops


def add_vision(dep) -> tuple[list[LinOp], str]:
    """Checks the deployment's images against its model (`Deployed`), loads the tower's weights; returns the
    tower's ops and the path as the engine report names it."""
    im = dep.dep.images
    t = check_images(dep.arch.vision, dep.model_id)
    patches, tokens = patches_and_tokens(t, im.width, im.height)
    prompt = im.prompt_tokens
    if prompt is None:
        raise SuanliError("images: the prompt's length is not set (give images through suanli.api, which adds "
                          "their tokens to the prompt)")
    if prompt < im.count * tokens:
        raise SuanliError(f"images: a prompt of {prompt} tokens cannot hold {im.count} image(s) of {tokens} tokens")
    lay = dep.layout
    dep.weight_bytes += tower_params(t) * TOWER_BYTES / lay.tp
    path = (
        f"{im.count} image(s) of {im.width}x{im.height} a request, {tokens} prompt tokens each ({patches} patches "
        f"through a {t.layers}-layer {t.kind} tower, in the prefill step that holds them, split over tp "
        f"{lay.tp})")
    return vision_ops(t, patches, im.count / prompt, lay.tp, dep.numerics), path


def parse_images(text: str | None) -> tuple[int, int, int] | None:
    """`N[@WxH]` or `WxH` (e.g. `1`, `2@1280x720`, `896x896`) as (count, width, height); None or '' for none.
    Without a size an image is 1024x1024."""
    if not text:
        return None
    count, _, size = text.strip().lower().partition("@")
    if "x" in count and not size:
        count, size = "1", count
    try:
        n = int(count)
        w, h = (int(v) for v in size.split("x")) if size else (1024, 1024)
    except ValueError:
        raise SuanliError(f"images: {text!r} is not allowed; give N[@WIDTHxHEIGHT] in pixels, e.g. 1, 2@1280x720 or "
                          "896x896") from None
    return n, w, h
