"""Feature values of a step: the numbers every op's FLOPs, bytes and messages are linear in.

Names: `one`; `tokens`, `logits`, `prefill_tokens`, `decode_tokens`, `seqs`; `<x>_pad` = rows padded to the
matrix tile; `pp:<w>`/`dp:<w>` = attended (query, key) pairs of prefill/decode for window w (`inf` = full);
`pr:<w>`/`dr:<w>` = cached tokens read; `touched:<E>:<k>` = share of a chip's experts some token picked;
`xrows:<E>:<k>` = expert GEMM rows on a chip, padded per touched expert; `ar_large` = 1 when the step's
all-reduce messages exceed the engines' small-message size (see cost.py).
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
             tile: float, ar_threshold_tokens: float = float("inf")) -> dict[str, float]:
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
    x.update(moe_features(t, moe, lay, tile))
    return x


def moe_features(tokens: float, moe: tuple[tuple[int, int], ...], lay: Layout, tile: float) -> dict[str, float]:
    x = {}
    for e, k in moe:
        group = tokens * lay.dp  # tokens of all attention ranks reach the experts of this stage
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
                 lay: Layout, tile: float, ar_threshold_tokens: float = float("inf")):
        self.n = len(index)
        self.ar_threshold = ar_threshold_tokens
        self.lay, self.tile, self.moe = lay, tile, moe
        g = index.get
        self.i = {k: g(k) for k in ALWAYS}
        self.win = [(w, g(f"pp:{wkey(w)}"), g(f"pr:{wkey(w)}"), g(f"dp:{wkey(w)}"), g(f"dr:{wkey(w)}"))
                    for w in windows]
        self.moe_idx = [(e, k, g(f"touched:{e}:{k}"), g(f"xrows:{e}:{k}")) for e, k in moe]

    def write(self, pre_tokens: float, pre_pairs: dict[float, float], pre_read: dict[float, float],
              dec_n: float, dec_ctx: dict[float, float], logits: float, seqs: float) -> np.ndarray:
        """`dec_ctx[w]` = sum over decodes of min(context + 1, w): attended pairs and cached tokens read."""
        x = np.zeros(self.n)
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
            for key, v in moe_features(t, self.moe, self.lay, self.tile).items():
                e, k = key.split(":")[1:]
                for e2, k2, ti, xi in self.moe_idx:
                    if (str(e2), str(k2)) == (e, k):
                        if key.startswith("touched") and ti is not None:
                            x[ti] = v
                        elif key.startswith("xrows") and xi is not None:
                            x[xi] = v
        return x
