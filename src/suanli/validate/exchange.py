"""Expert-parallel token exchange (MoE dispatch and combine all-to-alls) from micro-benchmarks: two physical factors.

Rows in the ops.csv format with `op` moe_dispatch / moe_combine / moe_prepare (a kernel that trades routing counts
before the dispatch, TensorRT-LLM's), `metric` latency_us, `m` tokens per rank, `n_accel` ranks in the exchange,
`size_bytes` the bytes the op moves per rank as suanli's cost model counts them (`model/ops.py`).
* `a2a_us`: the least time of one exchange op inside one scale-up domain, half of what a MoE layer's exchange
  (prepare + dispatch + combine) takes at 1-8 tokens per rank (median over those token counts, then over the
  measured kernels and EP widths of a family). The kernels signal and wait on every peer before and after the
  copy, which costs several times one link crossing: ~12-22 us per op measured, against ~5 us that fabric latency
  plus a launch give.
* `a2a_bandwidth`: the share of the chip's scale-up bandwidth per direction the exchange's copies reach: bytes over
  time between 128 and 1024 tokens per rank (the slope, so the fixed part drops out), median over ops.
Rows of other ops or metrics are left to `validate.ops`; none of these rows is an all-reduce, so the two readers
never count the same row. `EXCHANGE_FILE` holds such rows transcribed from AIConfigurator's collected kernel
timings (each row names its file and commit): `calibrate` always reads it, before any micro-benchmark file given.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from suanli.catalog import catalog
from suanli.schema import SuanliError
from suanli.validate.ops import _num, _read

EXCHANGE_FILE = Path(__file__).parent / "exchange.csv"
EXCHANGE_OPS = ("moe_prepare", "moe_dispatch", "moe_combine")
FEW_TOKENS = 8  # tokens per rank up to which the exchange's time is flat (its fixed cost)
SLOPE_FROM, SLOPE_TO = 128, 1024  # tokens per rank between which its time grows with the bytes moved


def exchange_factors(path: str | Path) -> dict[str, dict]:
    """{family: {"a2a_us": ..., "a2a_bandwidth": ..., "rows": n, "chips": [...]}} from expert-exchange rows."""
    name, rows = _read(path)
    cat = catalog()
    # (source, chip, ranks) -> tokens -> summed latency of the layer's exchange ops; (..., op) -> tokens -> (bytes, us)
    layer: dict[tuple, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    ops: dict[tuple, dict[float, tuple[float, float]]] = defaultdict(dict)
    chip_of: dict[tuple, object] = {}
    used: dict[str, int] = defaultdict(int)
    for line, r in enumerate(rows, 2):
        op = r["op"].strip()
        if op not in EXCHANGE_OPS or r["metric"].strip() != "latency_us":
            continue
        try:
            chip = cat.chips[cat.resolve("chip", r["hardware"].strip())]
        except SuanliError:
            continue
        if not chip.family or not chip.scale_up or not chip.scale_up.bandwidth_gb_s:
            continue
        if not (r.get("m") or "").strip():  # a single figure without its tokens per rank (DeepEP's README table)
            continue
        tokens, us = _num(name, line, r.get("m")), _num(name, line, r["value"])
        if tokens <= 0 or us <= 0:
            raise SuanliError(f"data: {name} line {line}: m (tokens per rank) = {r['m']!r} and value = "
                              f"{r['value']!r}: an exchange row needs both > 0")
        key = (r["source"].strip(), chip.id, r["n_accel"].strip())
        chip_of[key] = chip
        layer[key][tokens] += us
        if op != "moe_prepare" and (r.get("size_bytes") or "").strip():
            ops[(*key, op)][tokens] = (_num(name, line, r["size_bytes"]), us)
        used[chip.family] += 1
    fixed: dict[str, list[float]] = defaultdict(list)
    share: dict[str, list[float]] = defaultdict(list)
    chips: dict[str, set[str]] = defaultdict(set)
    for key, by_tokens in layer.items():
        few = [t for tok, t in by_tokens.items() if tok <= FEW_TOKENS]
        if few:
            fam = chip_of[key].family
            fixed[fam].append(statistics.median(few) / 2)
            chips[fam].add(chip_of[key].id)
    for key, by_tokens in ops.items():
        lo, hi = by_tokens.get(SLOPE_FROM), by_tokens.get(SLOPE_TO)
        if lo and hi and hi[1] > lo[1] and hi[0] > lo[0]:
            chip = chip_of[key[:3]]
            gb_s = (hi[0] - lo[0]) / (hi[1] - lo[1]) / 1e3  # bytes per us -> GB/s
            share[chip.family].append(min(1.0, gb_s / chip.scale_up.bandwidth_gb_s))
    out: dict[str, dict] = {}
    for fam in sorted(set(fixed) | set(share)):
        entry: dict = {"rows": used[fam], "chips": sorted(chips[fam])}
        if fixed[fam]:
            entry["a2a_us"] = round(statistics.median(fixed[fam]), 1)
        if share[fam]:
            entry["a2a_bandwidth"] = round(statistics.median(share[fam]), 3)
        out[fam] = entry
    return out
