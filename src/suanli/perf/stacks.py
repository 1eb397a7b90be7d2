"""The same work on one system across software stacks: how much of the gap is software.

Each engine (a profile at a version, `suanli.engines`) gets the deployment `compare` would pick for it on the
system (or the layout given), and its row says what the stack assumed: the kernel paths it takes, its host costs
per step, per sequence and per kernel, the efficiencies of its paths on this chip, and the sources behind them.
"""

from __future__ import annotations

from suanli.catalog.loader import node_of
from suanli.engines import Stack
from suanli.model.arch import Arch
from suanli.perf.compare import compare_units
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Calibration
from suanli.schema import Chip, Deployment, SuanliError, System, Workload

SHOWN_FACTORS = ("gemm_compute", "gemm_memory", "attn_compute", "attn_memory", "moe_compute", "moe_memory",
                 "step_overhead_ms", "seq_overhead_us", "kernel_us")


def stack_rows(arch: Arch, model_id: str, system: System, chip: Chip, stacks: list[Stack], base: Deployment,
               wl: Workload, *, batch: int | None = None, tpot_limit_ms: float | None = None,
               calibration: Calibration | None = None) -> list[dict]:
    """A row per engine, best output tok/s per chip first; engines that cannot run the work say why
    (`suanli.api.compare_stacks` resolves the ids)."""
    family = chip.family
    rows = []
    for st in stacks:
        asked = st.asked or st.id
        spec = base.model_copy(update={"engine": asked})
        row = compare_units(arch, model_id, [(system, chip)], spec, wl, batch=batch, tpot_limit_ms=tpot_limit_ms,
                            calibration=calibration)[0]
        factors = _factors(arch, model_id, system, chip, row, spec, calibration)
        rows.append({"engine": st.label, "engine_name": st.profile.name, "version_note": st.note,
                     "tuned": st.tuned_for(family), "paths": st.kernel_paths(), "factors": factors,
                     "sources": sorted(set(st.sources.values()) | {st.profile.docs}),
                     **{k: v for k, v in row.items() if k not in ("factors", "engine")},
                     "factors_note": row.get("factors")})
    ok = sorted((r for r in rows if "error" not in r), key=lambda r: -r["output_tok_s_per_chip"])
    best = ok[0]["output_tok_s_per_chip"] if ok else None
    for r in ok:
        r["vs_best"] = r["output_tok_s_per_chip"] / best if best else None
    if not ok and rows:
        raise SuanliError(f"no engine can run {model_id} on {system.id}: {rows[0]['error']}")
    return ok + [r for r in rows if "error" in r]


def _factors(arch: Arch, model_id: str, system: System, chip: Chip, row: dict, spec: Deployment,
             calibration: Calibration | None) -> dict[str, float]:
    """The factors the stack's deployment ran with: the chip's, the engine's own, and its slower kernel paths."""
    if "error" in row:
        return {}
    layout = spec.model_copy(update={k: row[k] for k in ("tp", "pp", "ep", "dp")})
    wide = system if row["chips"] <= system.chips else node_of(chip, row["chips"], f"{row['chips']}x{chip.id}")
    try:
        dep = Deployed(arch, chip, wide, layout, model_id, calibration)
    except SuanliError:
        return {}
    return {k: getattr(dep.factors, k) for k in SHOWN_FACTORS}
