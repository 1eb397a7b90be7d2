"""Feature values of a step: the numbers every op's FLOPs, bytes and messages are linear in.

Names: `one`; `tokens`, `logits`, `prefill_tokens`, `decode_tokens`, `seqs`; `<x>_pad` = rows padded to the
matrix tile; `pp:<w>`/`dp:<w>` = attended (query, key) pairs of prefill/decode for window w (`inf` = full);
`pr:<w>`/`dr:<w>` = cached tokens read; `touched:<E>:<k>` = share of a chip's experts some token picked;
`xrows:<E>:<k>` = expert GEMM rows on a chip, padded per touched expert.
"""

from __future__ import annotations

from math import ceil, inf

from suanli.model.ops import Layout, wkey
from suanli.model.shape import StepShape


def pad(rows: float, tile: float) -> float:
    if rows <= 0 or tile <= 1:
        return max(rows, 0.0)
    return ceil(rows / tile - 1e-9) * tile


def features(shape: StepShape, windows: tuple[float, ...], moe: tuple[tuple[int, int], ...], lay: Layout,
             tile: float) -> dict[str, float]:
    t = shape.tokens
    x = {"one": 1.0, "tokens": t, "tokens_pad": pad(t, tile), "logits": shape.logits,
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


ALWAYS = ("one", "tokens", "tokens_pad", "logits", "logits_pad", "prefill_tokens", "decode_tokens", "seqs")


def is_full(w: float) -> bool:
    return w == inf
