"""Efficiency factors for this machine, fitted to real runs, checked on runs the fit did not see.

Few and physical: the fit moves five factors (gemm_compute, gemm_memory, attn_compute, attn_memory,
step_overhead_ms) within their physical bounds (fractions in (0, 1], overhead >= 0); the probe fixes the rest:
kernel_us (one eager op, measured), elementwise_memory (elementwise GB/s over read GB/s), gemm_tile_m (16 rows with
AMX tiles, else 1: SIMD FMA units have no row tile). The residuals are log(predicted / measured) of TTFT and TPOT
of every fit run, plus a weak pull (weight 0.1; 0.5 for gemm_memory) of each fraction toward what the
micro-benchmarks measured, so a factor the runs cannot see stays where the hardware put it. scipy's bounded
least squares does the work, with a soft-L1 loss so that one run slowed by another process pulls less.

The result is a calibration file in the format of `suanli.perf.factors` (bundled content + this chip's family,
and the pair `<family>/pytorch` so an engine-wide entry cannot override what was measured here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import yaml

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.perf.factors import BUNDLED, Calibration, Factors, load_calibration
from suanli.perf.predict import predict_deployed
from suanli.schema import Chip, Deployment, SuanliError, Workload

FITTED = ("gemm_compute", "gemm_memory", "attn_compute", "attn_memory", "step_overhead_ms")
KEYS = ("ttft_ms", "tpot_ms", "output_tok_s")
# How hard each fraction is pulled toward its micro-benchmark (0.1: the runs decide). gemm_memory is measured
# directly (GEMV over weights larger than the cache) and trades off against step_overhead_ms in decode steps, so it
# moves only where the runs clearly need it to.
PRIOR_WEIGHT = {"gemm_memory": 0.5}


def priors(probe: dict, chip: Chip) -> dict[str, float]:
    """Starting factors from the micro-benchmarks: each a measured rate over the chip's measured peak."""
    bench = probe["bench"]
    dtype = bench["best_dtype"]
    peak = chip.peak_tflops(dtype) or max(chip.available_dtypes().values())
    bw = chip.memory.bandwidth_gb_s or 1.0
    shapes = bench["gemm"][dtype]["shapes"]
    big = [r["tflops_median"] for n, r in shapes.items() if "tflops_median" in r and not n.startswith("decode")]

    def frac(x: float) -> float:
        return float(min(1.0, max(0.02, x)))

    return {
        "gemm_compute": frac(max(big, default=peak) / peak),
        "gemm_memory": frac(bench["weight_streaming"]["gb_s_median"] / bw),
        "attn_compute": frac(bench["attention"]["prefill_tflops"] / peak),
        "attn_memory": frac(bench["attention"]["decode_gb_s"] / bw),
        "elementwise_memory": frac(bench["elementwise"]["gb_s_median"] / bw),
        "step_overhead_ms": 1.0,
        "kernel_us": float(max(0.0, bench["kernel_us"])),
        "gemm_tile_m": float(bench["gemm_tile_m"]),
    }


@dataclass
class Evaluator:
    """Predictions of recorded runs on one chip, for any factor set, without re-reading the catalog."""

    chip: Chip
    runs: list[dict]

    def __post_init__(self) -> None:
        cat = catalog()
        self.system = cat.system(f"1x{self.chip.id}")
        self.arches = {r["model"]: model_arch(r["model"]) for r in self.runs}

    def predict(self, run: dict, cal: Calibration) -> dict[str, float]:
        model_id, arch = self.arches[run["model"]]
        dep = Deployment(precision=run["precision"], kv_precision=run["precision"], engine=run.get("engine"))
        wl = Workload(input_len=run["input"], output_len=run["output"], batch=run["batch"])
        p = predict_deployed(Deployed(arch, self.chip, self.system, dep, model_id, cal), wl, with_fit_search=False)
        return {"ttft_ms": p.ttft_s * 1e3, "tpot_ms": p.tpot_s * 1e3, "output_tok_s": p.output_tok_s}


def calibration_of(family: str, factors: dict[str, float], base: Calibration | None = None) -> Calibration:
    base = base or load_calibration(None)
    return replace(base, families={**base.families, family: dict(factors)},
                   pairs={**base.pairs, f"{family}/pytorch": dict(factors)}, source=f"fitted for {family}")


def errors(pred: dict[str, float], meas: dict[str, float]) -> dict[str, float]:
    """Signed fractions: predicted / measured - 1."""
    return {k: pred[k] / meas[k] - 1.0 for k in KEYS if meas.get(k)}


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Mean and worst |error| per key over rows that carry an `error` dict."""
    out = {}
    for k in KEYS:
        xs = [abs(r["error"][k]) for r in rows if k in r.get("error", {})]
        if xs:
            out[k] = {"mean_abs": sum(xs) / len(xs), "max_abs": max(xs), "n": len(xs)}
    return out


def fit(runs: list[dict], heldout: list[dict], chip: Chip, probe: dict) -> dict:
    """Fit the factors on `runs`, report errors on them and on `heldout`; returns factors and both tables."""
    if not runs:
        raise SuanliError("calibrate: no real runs to fit; run `suanli probe` (it measures a few) or `suanli run`")
    try:
        from scipy.optimize import least_squares
    except ImportError:
        from suanli.calibrate.probe import EXTRA_HINT

        raise SuanliError(f"calibrate needs scipy: {EXTRA_HINT}") from None
    prior = priors(probe, chip)
    ev = Evaluator(chip, runs + heldout)
    base = load_calibration(None)
    fixed = {k: v for k, v in prior.items() if k not in FITTED}
    fixed.update(moe_compute=prior["gemm_compute"], moe_memory=prior["gemm_memory"])

    def factors_of(x) -> dict[str, float]:
        f = {**fixed, **{k: float(v) for k, v in zip(FITTED, x, strict=True)}}
        f["moe_compute"], f["moe_memory"] = f["gemm_compute"], f["gemm_memory"]
        return f

    def residuals(x) -> list[float]:
        cal = calibration_of(chip.family, factors_of(x), base)
        res = []
        for r in runs:
            p = ev.predict(r, cal)
            res += [math.log(p[k] / r["measured"][k]) for k in ("ttft_ms", "tpot_ms")]
        res += [PRIOR_WEIGHT.get(k, 0.1) * math.log(x[i] / prior[k]) for i, k in enumerate(FITTED)
                if k != "step_overhead_ms"]
        return res

    x0 = [prior[k] for k in FITTED]
    lo = [1e-3, 1e-3, 1e-3, 1e-3, 0.0]
    hi = [1.0, 1.0, 1.0, 1.0, 1000.0]
    sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale=[0.1, 0.1, 0.1, 0.1, 1.0], diff_step=1e-3,
                        loss="soft_l1", f_scale=0.15, max_nfev=200)  # one run slowed by a neighbour pulls less
    factors = {k: round(v, 5) for k, v in factors_of(sol.x).items()}
    Factors(**factors).check()
    cal = calibration_of(chip.family, factors, base)
    return {"factors": factors, "priors": prior, "fitted": list(FITTED),
            "fit_runs": table(ev, runs, cal), "heldout_runs": table(ev, heldout, cal), "cost": float(sol.cost)}


def table(ev: Evaluator, runs: list[dict], cal: Calibration) -> list[dict]:
    rows = []
    for r in runs:
        p = ev.predict(r, cal)
        rows.append({"model": r["model"], "batch": r["batch"], "input": r["input"], "output": r["output"],
                     "measured": {k: r["measured"][k] for k in KEYS}, "predicted": p,
                     "error": errors(p, r["measured"])})
    return rows


def split(runs: list[dict], every: int = 3) -> tuple[list[dict], list[dict]]:
    """Held-out runs: every `every`-th run in (model, batch, input, output) order, at least one when there are 3+."""
    order = sorted(runs, key=lambda r: (r["model"], r["batch"], r["input"], r["output"]))
    if len(order) < 3:
        return order, []
    held = order[1::every]
    return [r for r in order if r not in held], held


def write_calibration(path, family: str, result: dict, note: str) -> None:
    """Save the fitted factors as a calibration file `predict --calibration` and `run` accept."""
    raw = yaml.safe_load(BUNDLED.read_text()) or {}
    factors = result["factors"]
    raw.setdefault("families", {})[family] = dict(factors)
    raw.setdefault("pairs", {})[f"{family}/pytorch"] = dict(factors)
    fit_s, held_s = summary(result["fit_runs"]), summary(result["heldout_runs"])

    def line(s: dict) -> str:
        return ", ".join(f"{k} mean |err| {v['mean_abs']:.1%} (max {v['max_abs']:.1%}, n={v['n']})"
                         for k, v in s.items()) or "none"

    header = (f"# Calibration for {family}, fitted on {date.today().isoformat()} by suanli ({note}).\n"
              f"# Bundled factors + this machine's family (`families.{family}`, and `pairs.{family}/pytorch`).\n"
              f"# fitted: {', '.join(result['fitted'])}; fixed from the probe: kernel_us, elementwise_memory, "
              "gemm_tile_m.\n"
              f"# fit runs:      {line(fit_s)}\n# held-out runs: {line(held_s)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False, width=110))
    load_calibration(path)  # must load back
