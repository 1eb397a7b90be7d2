"""The same work on one system across software stacks: how much of the gap is software.

Each engine (a profile at a version, `suanli.engines`) gets the deployment `compare` would pick for it on the
system (or the layout given), and its row says what the stack assumed: the kernel paths it takes, its host costs
per step, per sequence and per kernel, the efficiencies of its paths on this chip, and the sources behind them.
"""

from __future__ import annotations

from suanli.catalog import catalog
from suanli.engines import resolve_engine, stacks_for
from suanli.perf.compare import compare
from suanli.perf.factors import Calibration
from suanli.schema import SuanliError

SHOWN_FACTORS = ("gemm_compute", "gemm_memory", "attn_compute", "attn_memory", "moe_compute", "moe_memory",
                 "step_overhead_ms", "seq_overhead_us", "kernel_us")


def compare_stacks(model: str, system: str, engines: list[str] | None = None, *, input: int, output: int,
                   precision: str = "bf16", kv_precision: str | None = None, batch: int | None = None,
                   tpot_limit_ms: float | None = None, calibration: Calibration | None = None) -> list[dict]:
    """A row per engine, best output tok/s per chip first; engines that cannot run the work say why."""
    cat = catalog()
    sys_ = cat.system(system)
    family = cat.chips[sys_.chip].family
    names = engines or stacks_for(family)
    stacks = [resolve_engine(e, family) for e in names]  # unknown engines fail before any work
    rows = []
    for st in stacks:
        asked = st.asked or st.id
        row = compare(model, [sys_.id], input=input, output=output, precision=precision, kv_precision=kv_precision,
                      engine=asked, batch=batch, tpot_limit_ms=tpot_limit_ms, calibration=calibration)[0]
        factors = _factors(model, sys_.id, row, asked, precision, kv_precision, calibration)
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
        raise SuanliError(f"no engine can run {model} on {sys_.id}: {rows[0]['error']}")
    return ok + [r for r in rows if "error" in r]


def _factors(model: str, system: str, row: dict, engine: str, precision: str, kv_precision: str | None,
             calibration: Calibration | None) -> dict[str, float]:
    """The factors the stack's deployment ran with: the chip's, the engine's own, and its slower kernel paths."""
    from suanli.perf.predict import deploy
    from suanli.schema import Deployment

    if "error" in row:
        return {}
    spec = Deployment(tp=row["tp"], pp=row["pp"], ep=row["ep"], dp=row["dp"], precision=precision,
                      kv_precision=kv_precision, engine=engine)
    try:
        dep = deploy(model, system if row["chips"] <= catalog().system(system).chips else f"{row['chips']}x"
                     f"{row['chip']}", spec, calibration)
    except SuanliError:
        return {}
    return {k: getattr(dep.factors, k) for k in SHOWN_FACTORS}
