"""The engines' fixed cost per MoE layer (`moe_floor_us`), fitted per engine family.

An engine's MoE path is a chain of kernels around the expert GEMMs (top-k routing, permuting tokens into expert
order, quantising activations, the activation between the projections, combining) that run in turn with them and
do not get shorter with fewer tokens. The model adds that chain's time to the expert GEMMs' roofline
(`perf.deployed`): at a few clients it is most of the layer (SGLang's fused_moe micro-benchmark, sgl-project/sglang
PR #9272: 99 us for DeepSeek-V3's experts at batch 1 on an H20, where streaming the 8 routed experts' FP8 weights
at TP 8 takes about 11 us), and it stays on top when the GEMMs grow. AIConfigurator's TensorRT-LLM MoE sweep on
B200 (ai-dynamo/aiconfigurator @095f58a5, systems/data/b200_sxm/moe/trtllm/1.3.0rc10/moe_perf.parquet, DeepSeek-R1
NVFP4 experts, balanced routing, EP 8/16/32, 8 to 16384 tokens) is fitted to a mean |log error| of 0.16 by
roofline + chain against 0.25 by max(roofline, floor), each with its best factors on a grid.
The chain is fitted per engine family (the profile's factor key) on low-load MoE TPOT rows: closed loops of at most
`LOW_LOAD` clients, aggregated serving, where it is most of the layer. The values of a grid are each predicted once
for every row (a row depends only on its own engine's value), and each engine takes the grid value with the least
mean relative error over its rows. An engine with fewer than `MIN_ROWS` such rows has none (0): nothing measured
says how long its path takes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from suanli.perf.factors import Calibration
from suanli.schema import SuanliError
from suanli.validate.data import Row
from suanli.validate.first_token import engine_key, low_load_setup

# 0-100 us per MoE layer: the slowest fused-MoE layer measured at batch 1 (PR #9272: 99 us on an H20, where the
# weights' streaming is 11 us of it) bounds what the chain may take; a larger fitted value would be absorbing
# something else about a source's runs
GRID_US = tuple(range(0, 101, 10))
MIN_ROWS = 10
TPOT = ("tpot_mean_ms", "tpot_median_ms", "itl_mean_ms", "itl_median_ms")


@cache
def _is_moe(model: str) -> bool:
    from suanli.model.resolve import model_arch

    try:
        return model_arch(model)[1].is_moe
    except SuanliError:
        return False


def low_load_moe(row: Row) -> bool:
    setup = low_load_setup(row, TPOT)
    return setup is not None and not setup.disagg and _is_moe(row.model)


@dataclass(frozen=True)
class Curves:
    """Each low-load MoE TPOT row's relative error at every floor of `GRID_US`."""

    engines: tuple[str, ...]
    sources: tuple[str, ...]
    errors: np.ndarray  # (rows, len(GRID_US))

    def table(self, without: str | None = None) -> dict[str, dict[str, float]]:
        """{engine key: {"moe_floor_us": F}} fitted on every row but those of source `without`."""
        out = {}
        for key in sorted(set(self.engines)):
            mine = [i for i, (e, s) in enumerate(zip(self.engines, self.sources, strict=True))
                    if e == key and s != without]
            if len(mine) < MIN_ROWS:
                continue
            out[key] = {"moe_floor_us": float(GRID_US[int(np.argmin(self.errors[mine].mean(axis=0)))])}
        return out

    def report(self) -> dict[str, dict]:
        table = self.table()
        rep = {}
        for key, v in table.items():
            mine = [i for i, e in enumerate(self.engines) if e == key]
            col = GRID_US.index(int(v["moe_floor_us"]))
            rep[key] = {"rows": len(mine), "mape_before": float(self.errors[mine, 0].mean()),
                        "mape_after": float(self.errors[mine, col].mean()), **v}
        return rep


def floor_curves(rows: list[Row], cal: Calibration) -> Curves:
    """Predict the low-load MoE TPOT rows of `rows` at each floor of the grid (every other factor from `cal`)."""
    from suanli.validate.run import predict_rows

    mine = [r for r in rows if low_load_moe(r)]
    keys = [engine_key(r) for r in mine]
    names = sorted({k for k in keys if k})
    errs: dict[int, list[float]] = defaultdict(list)
    for f in GRID_US:
        trial = replace(cal, moe_floor={k: {"moe_floor_us": float(f)} for k in names})
        for i, rec in enumerate(predict_rows(mine, trial)):
            errs[i].append(np.nan if rec["predicted"] is None else rec["ape"])
    keep = [i for i in range(len(mine)) if keys[i] and not np.isnan(errs[i]).any()]
    return Curves(tuple(keys[i] for i in keep), tuple(mine[i].source for i in keep),
                  np.array([errs[i] for i in keep]).reshape(len(keep), len(GRID_US)))


def fit_moe_floor(rows: list[Row], cal: Calibration) -> tuple[dict[str, dict[str, float]], dict[str, dict], Curves]:
    """(moe_floor table, per-engine fit report, the curves for leave-one-source-out fits)."""
    curves = floor_curves(rows, cal)
    return curves.table(), curves.report(), curves
