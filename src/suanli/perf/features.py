"""Feature values of a step: the numbers every op's FLOPs, bytes and messages are linear in.

Names: `one`; `tokens`, `logits`, `prefill_tokens`, `decode_tokens`, `seqs`; `<x>_pad` = rows padded to the
matrix tile; `pp:<w>`/`dp:<w>` = attended (query, key) pairs of prefill/decode for window w (`inf` = full);
`pr:<w>`/`dr:<w>` = cached tokens read; `touched:<E>:<k>` = share of a chip's experts some token picked;
`xrows:<E>:<k>` = expert GEMM rows on a chip, padded per touched expert; `blocks:<E>:<k>` = expert blocks a
blockwise expert kernel runs (`blockwise_moe`); `ar_large` = 1 when the step's all-reduce messages exceed the
engines' small-message size (see cost.py).
"""

from __future__ import annotations

from math import ceil, inf

import numpy as np

from suanli.model.ops import Layout, wkey
from suanli.model.shape import StepShape

GEMV_ROWS = 8  # up to this many rows engines run matrix-vector kernels on the vector units: no tile to fill


def pad(rows: float, tile: float) -> float:
    """GEMM rows as the matrix unit sees them: rounded up to whole tiles, except for GEMV-sized batches."""
    if rows <= GEMV_ROWS or tile <= 1:
        return max(rows, 0.0)
    return ceil(rows / tile - 1e-9) * tile


def features(shape: StepShape, windows: tuple[float, ...], moe: tuple[tuple[int, int], ...], lay: Layout,
             tile: float, ar_threshold_tokens: float = float("inf"), moe_path: str = "grouped") -> dict[str, float]:
    t = shape.tokens
    x = {"one": 1.0, "tokens": t, "tokens_pad": pad(t, tile), "logits": shape.logits, "ar_large":
         1.0 if t > ar_threshold_tokens else 0.0,
         "logits_pad": pad(shape.logits, tile), "prefill_tokens": shape.prefill.tokens,
         "decode_tokens": shape.decode.tokens, "seqs": shape.seqs}
    for w in windows:
        k = wkey(w)
        x[f"pp:{k}"] = shape.prefill.pairs[w]
        x[f"pr:{k}"] = shape.prefill.kv_read[w]
        x[f"dp:{k}"] = shape.decode.pairs[w]
        x[f"dr:{k}"] = shape.decode.kv_read[w]
    x.update(moe_features(t, moe, lay, tile, moe_path, shape.prefill.tokens > 0))
    return x


MOE_BLOCK = 512  # tokens per block of NxD's blockwise expert kernel (moe/model_utils.py DEFAULT_BLOCK_SIZE)
MOE_SELECTIVE = 1.0  # NxD token generation loads only the chosen experts below tokens*k/E = this
# (DEFAULT_SELECTIVE_LOADING_THRESHOLD), else runs every expert on every token


def blockwise_moe(tokens: float, e: int, k: int, lay: Layout, tile: float, context: bool) -> tuple[float, float, float]:
    """(share of a chip's experts loaded, expert GEMM rows, blocks) of AWS Neuron's NxD MoE (expert_mlps_v2.py,
    neuronx-distributed, as optimum-neuron and NxD Inference run it). Context encoding is dropless blockwise:
    ceil(T k / B) + E - 1 blocks of B token slots, each one expert's GEMMs on its tokens and padding; token
    generation runs every expert on all T rows, or below T k / E = 1 loads only the T k chosen ones."""
    group = tokens * lay.moe_ranks
    local = e / lay.ep
    if group <= 0:
        return 0.0, 0.0, 0.0
    if context:
        blocks = ceil(group * k / lay.ep / MOE_BLOCK - 1e-9) + local - 1
        return 1.0, blocks * MOE_BLOCK, blocks
    if group * k / e >= MOE_SELECTIVE:
        return 1.0, local * pad(group, tile), 0.0
    return group * k / e, group * k / lay.ep, 0.0


def moe_features(tokens: float, moe: tuple[tuple[int, int], ...], lay: Layout, tile: float,
                 path: str = "grouped", context: bool = False) -> dict[str, float]:
    x = {}
    for e, k in moe:
        if path == "blockwise":
            touched, xrows, blocks = blockwise_moe(tokens, e, k, lay, tile, context)
            x[f"touched:{e}:{k}"], x[f"xrows:{e}:{k}"], x[f"blocks:{e}:{k}"] = touched, xrows, blocks
            continue
        group = tokens * lay.moe_ranks  # tokens of all attention ranks reach the experts of this stage
        touched = 1.0 - (1.0 - k / e) ** group if group > 0 else 0.0
        rows = group * k / (e * touched) if touched > 0 else 0.0
        x[f"touched:{e}:{k}"] = touched
        x[f"xrows:{e}:{k}"] = (e / lay.ep) * touched * pad(rows, tile)
    return x


ALWAYS = ("one", "tokens", "tokens_pad", "logits", "logits_pad", "prefill_tokens", "decode_tokens", "seqs",
          "ar_large")


def is_full(w: float) -> bool:
    return w == inf


class FeatureWriter:
    """Writes a step's features straight into a vector (no dictionaries): the serving simulator's fast path."""

    def __init__(self, index: dict[str, int], windows: tuple[float, ...], moe: tuple[tuple[int, int], ...],
                 lay: Layout, tile: float, ar_threshold_tokens: float = float("inf"), moe_path: str = "grouped"):
        self.n = len(index)
        self.moe_path = moe_path
        self.ar_threshold = ar_threshold_tokens
        self.lay, self.tile, self.moe = lay, tile, moe
        g = index.get
        self.i = {k: g(k) for k in ALWAYS}
        self.win = [(w, g(f"pp:{wkey(w)}"), g(f"pr:{wkey(w)}"), g(f"dp:{wkey(w)}"), g(f"dr:{wkey(w)}"))
                    for w in windows]
        self.moe_idx = [(e, k, g(f"touched:{e}:{k}"), g(f"xrows:{e}:{k}"), g(f"blocks:{e}:{k}")) for e, k in moe]
        self.scale_i = g("spec_scale")  # one emitted token per step on this path (speculation: `Deployed.write`)

    def write(self, pre_tokens: float, pre_pairs: dict[float, float], pre_read: dict[float, float],
              dec_n: float, dec_ctx: dict[float, float], logits: float, seqs: float) -> np.ndarray:
        """`dec_ctx[w]` = sum over decodes of min(context + 1, w): attended pairs and cached tokens read."""
        x = np.zeros(self.n)
        if self.scale_i is not None:
            x[self.scale_i] = 1.0
        t = pre_tokens + dec_n
        i = self.i
        for key, v in (("one", 1.0), ("tokens", t), ("tokens_pad", pad(t, self.tile)), ("logits", logits),
                       ("logits_pad", pad(logits, self.tile)), ("prefill_tokens", pre_tokens),
                       ("decode_tokens", dec_n), ("seqs", seqs),
                       ("ar_large", 1.0 if t > self.ar_threshold else 0.0)):
            if i[key] is not None:
                x[i[key]] = v
        for w, a, b, c, d in self.win:
            if a is not None:
                x[a] = pre_pairs.get(w, 0.0)
            if b is not None:
                x[b] = pre_read.get(w, 0.0)
            if c is not None:
                x[c] = dec_ctx[w]
            if d is not None:
                x[d] = dec_ctx[w]
        if self.moe_idx:
            got = moe_features(t, self.moe, self.lay, self.tile, self.moe_path, pre_tokens > 0)
            for e, k, ti, xi, bi in self.moe_idx:
                for i, name in ((ti, "touched"), (xi, "xrows"), (bi, "blocks")):
                    if i is not None:
                        x[i] = got.get(f"{name}:{e}:{k}", 0.0)
        return x
