"""Compare systems on the same work: one model, one precision, one request shape.

Each system gets the deployment a tuned engine would pick on one unit of it (all its chips, or `chips` if given;
when one unit cannot hold the model, the fewest whole units joined by the scale-out network that can):
the layout with the highest output tokens per second per chip at the largest batch that fits (or the given
batch), optionally under a TPOT limit. Rows are ranked by the chosen key; a system that cannot run the work says
why instead of a number.
"""

from __future__ import annotations

from suanli.model.arch import Arch
from suanli.perf.auto import best
from suanli.perf.factors import Calibration
from suanli.perf.predict import predict_deployed
from suanli.schema import Chip, Deployment, SuanliError, System, Workload

MAX_UNITS = 16
RANK_KEYS = {
    "tok_s_per_chip": ("output_tok_s_per_chip", True),
    "tok_s": ("output_tok_s", True),
    "tok_s_per_user": ("tok_s_per_user", True),
    "ttft": ("ttft_ms", False),
    "tpot": ("tpot_ms", False),
}


def compare_units(arch: Arch, model_id: str, units: list[tuple[System, Chip]], base: Deployment, wl: Workload, *,
                  batch: int | None = None, chips: int | None = None, tpot_limit_ms: float | None = None,
                  rank_by: str = "tok_s_per_chip", calibration: Calibration | None = None) -> list[dict]:
    """Rows for each (system, chip), ranked; `suanli.api.compare` resolves the ids and checks the inputs."""
    if rank_by not in RANK_KEYS:
        raise SuanliError(f"rank-by: {rank_by!r} is not allowed; allowed: {', '.join(RANK_KEYS)}")
    rows = []
    for sys_, chip in units:
        n = chips or sys_.chips
        row = {"system": sys_.id, "chip": chip.id, "chips": n}
        try:
            choice = best(arch, model_id, chip, sys_, n, base, wl, calibration, batch,
                          tpot_limit_ms / 1e3 if tpot_limit_ms else None)
            joined = 1
            while choice is None and not chips and joined < MAX_UNITS and (sys_.scale_out or chip.scale_out):
                joined *= 2  # one unit cannot hold the model: the fewest whole units joined by the network that can
                n = joined * sys_.chips
                choice = best(arch, model_id, chip, sys_, n, base, wl, calibration, batch,
                              tpot_limit_ms / 1e3 if tpot_limit_ms else None)
            row["chips"] = n
        except SuanliError as e:
            rows.append({**row, "error": str(e)})
            continue
        if choice is None:
            rows.append({**row, "error": _why_not(tpot_limit_ms)})
            continue
        d = choice.prediction.to_dict()
        lay = choice.layout
        single = _single_stream(choice, wl)
        rows.append({**row, "tp": lay.tp, "pp": lay.pp, "ep": lay.ep, "dp": lay.dp, "batch": choice.batch, **single,
                     "ttft_batch_ms": d["ttft_ms"], "ttft_ms": d["ttft_loaded_ms"],
                     **{k: d[k] for k in ("tpot_ms", "tok_s_per_user", "output_tok_s",
                                          "output_tok_s_per_chip", "total_tok_s", "total_tok_s_per_chip")},
                     "memory_gb_per_chip": d["memory_gb_per_chip"], "notes": "; ".join(d["notes"]),
                     "factors": d["factors"], "engine": d["engine"], "intervals": _bands(d["intervals"])})
    key, high = RANK_KEYS[rank_by]
    ok = sorted((r for r in rows if "error" not in r), key=lambda r: r[key], reverse=high)
    for i, r in enumerate(ok, 1):
        r["rank"] = i
    return ok + [r for r in rows if "error" in r]


def _bands(iv: dict) -> dict:
    """The prediction's intervals under this row's names (its TTFT is that of one request joining the batch)."""
    names = {"ttft_loaded_ms": "ttft_ms", "ttft_ms": "ttft_batch_ms"}
    return {names.get(k, k): v for k, v in iv.items()}


def _single_stream(choice, wl: Workload) -> dict:
    """One user alone on the chosen layout: prompt tokens/s while prefilling and tokens/s while decoding."""
    dep = choice.prediction_dep
    p = predict_deployed(dep, wl.model_copy(update={"batch": dep.layout.dp}), with_fit_search=False)
    return {"prefill_tok_s": wl.input_len / p.ttft_s, "decode_tok_s": 1.0 / p.tpot_s}


def _why_not(tpot_limit_ms: float | None) -> str:
    if tpot_limit_ms:
        return f"no layout fits in memory with TPOT under {tpot_limit_ms:g} ms"
    return "does not fit in memory on these chips at any layout (weights + KV of one sequence)"
