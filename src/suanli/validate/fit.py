"""Fitting the efficiency factors to measured throughput, and checking them on rows they were not fitted on.

Per chip family, a few physical factors (fraction of peak compute and bandwidth per op class, collective
bandwidth, per-step host overhead) are fitted by coordinate descent in log space, minimising the weighted mean
absolute percentage error |predicted / measured - 1| over the family's throughput rows (the figure `validate`
reports), capped at 300%: a row predicted at four times its measured value says something is wrong with that
run or with the model of it (an untuned submission, a checkpoint the software of the day ran badly), not with
the chip's efficiency, so it stops pulling harder. Plus a ridge term that pulls every factor toward its prior (the
defaults): the data must earn every move. Rows from one table or submission are not independent, so a row of a (source,
hardware, model, scenario) cluster of n rows weighs 1/sqrt(n). Factors stay in (0, 1] (fractions)
or >= 0 (times). Families with fewer than `MIN_ROWS` rows keep the defaults (and borrow, as before).

`leave_one_source_out` refits without each source in turn and predicts that source's rows with the factors fitted
on the others: the honest estimate of how suanli does on data it has not seen.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace

import yaml

from suanli.catalog import catalog
from suanli.engines import resolve_engine
from suanli.perf.factors import Calibration, Factors
from suanli.schema import SuanliError
from suanli.validate.data import Row
from suanli.validate.run import predict_rows

# 4-bit GEMM efficiency first: on a family whose rows are mostly FP4 (Blackwell) it is what those rows measure,
# and a greedy search that moved streaming and attention first would bend them instead
DENSE_FACTORS = ("fp4_compute", "gemm_compute", "gemm_memory", "attn_compute", "attn_memory", "comm_bandwidth",
                 "comm_latency_us", "step_overhead_ms", "seq_overhead_us")
MOE_FACTORS = ("moe_compute", "moe_memory", "moe_block_us")
FITTED = DENSE_FACTORS + MOE_FACTORS
MOE_ONLY = MOE_FACTORS + ("step_overhead_ms", "seq_overhead_us", "comm_latency_us")  # what MoE rows alone may move
BOUNDS = {"step_overhead_ms": (0.0, 50.0), "seq_overhead_us": (0.0, 200.0), "comm_latency_us": (1.0, 50.0),
          "moe_block_us": (0.0, 2000.0), "kernel_us": (0.0, 100.0)}
# Times move by steps of this size, not by ratios, and their ridge pulls on this scale. Host overhead per step is
# weakly identified by max-throughput rows (a few ms on steps of 100 ms), so it must be earned: with a looser
# ridge it drifted to 3-4 ms on Hopper and made held-out low-batch decode a third too slow; where rows do say
# it (Ascend with vllm-ascend, 6-7 ms), the steps are long enough to get there.
ADDITIVE = {"step_overhead_ms": 4.0, "seq_overhead_us": 20.0, "comm_latency_us": 8.0, "moe_block_us": 200.0,
            "kernel_us": 8.0}
RIDGE_SCALE = {"step_overhead_ms": 1.9, "seq_overhead_us": 25.0, "comm_latency_us": 10.0, "moe_block_us": 100.0,
               "kernel_us": 10.0}
# What an engine's own rows may move on top of the chip: its host costs (per step, per sequence, per kernel
# launched) and the efficiency of the kernel paths it takes; never the fabric's collectives
ENGINE_FACTORS = ("kernel_us",)
# Plausible ranges of a fraction of peak. Tuned kernels stream weights and caches at well over a quarter of
# the memory bandwidth, and collectives reach 0.7-0.93 of the links' (ops.csv). A fit that wants less is
# compensating for something the model lacks, and such a factor ruins other regimes: a moe_memory of 0.12
# fitted on large-batch MLPerf rows made small-batch decode 3-4x too slow on held-out rows.
FRACTION = (0.02, 1.0)
FLOOR = {"memory": 0.3, "bandwidth": 0.25, "compute": 0.1}
MIN_ROWS = 5
RIDGE = 0.02  # weight of (log factor / prior)^2 per factor, against a mean |log error| of order 0.2
GRID = (0.5, 0.7, 0.85, 1.0, 1.2, 1.45, 2.0)


def family_of(row: Row) -> str | None:
    cat = catalog()
    try:
        return cat.chips[cat.resolve("chip", row.hardware)].family
    except SuanliError:
        return None


@dataclass
class FamilyFit:
    family: str
    rows: int
    prior: dict[str, float]
    fitted: dict[str, float]
    error_before: float  # weighted mean |log error| on the fitted rows
    error_after: float


@dataclass
class FitResult:
    calibration: Calibration
    families: list[FamilyFit] = field(default_factory=list)


def _weights(rows: list[Row]) -> list[float]:
    sizes: dict[tuple, int] = defaultdict(int)
    for r in rows:
        sizes[(r.source, r.hardware, r.model, r.scenario)] += 1
    return [1.0 / math.sqrt(sizes[(r.source, r.hardware, r.model, r.scenario)]) for r in rows]


def _loss(rows: list[Row], weights: list[float], cal: Calibration, frozen: dict | None = None
          ) -> tuple[float, float]:
    """(weighted APE capped at 300%, weighted mean |log error|); unpredictable rows count as an APE of 1.
    Fits run the analytic steady states only, on the layouts the prior chose (`frozen`): the factors move the
    step times, and re-searching layouts and re-simulating at every trial would make a fit take an hour."""
    recs = predict_rows(rows, cal, fast=True, frozen=frozen)
    ape = ab = tot = 0.0
    for rec, w in zip(recs, weights, strict=True):
        if rec["predicted"] is None:
            a, e = 1.0, 1.0
        else:
            ratio = rec["predicted"] / rec["measured"]
            e = abs(math.log(ratio))
            a = min(abs(ratio - 1.0), 3.0)
        ape += w * a
        ab += w * e
        tot += w
    return ape / tot, ab / tot


def _clip(name: str, v: float) -> float:
    lo, hi = BOUNDS.get(name, FRACTION)
    lo = max(lo, FLOOR.get(name.rsplit("_", 1)[-1], lo))
    return min(hi, max(lo, v))


def _with(cal: Calibration, family: str, values: dict[str, float]) -> Calibration:
    """A copy of `cal` with these factors for a family, or for a "family/engine" pair."""
    if "/" in family:
        return replace(cal, pairs={**cal.pairs, family: {**cal.pairs.get(family, {}), **values}})
    fams = {**cal.families, family: {**cal.families.get(family, {}), **values}}
    return replace(cal, families=fams)


def is_moe_row(row: Row) -> bool:
    from suanli.model.resolve import model_arch

    try:
        return model_arch(row.model)[1].is_moe
    except SuanliError:
        return False


def fit_family(rows: list[Row], cal: Calibration, family: str, sweeps: int = 2,
               prior_cal: Calibration | None = None, names: tuple[str, ...] = FITTED,
               own_paths: bool = False) -> FamilyFit:
    """`own_paths`: a (family, engine) pair whose rows may set the efficiency of the engine's own kernel paths
    (its factors under `pairs`), even where micro-benchmarks measured the chip's best kernels (`physical`)."""
    weights = _weights(rows)
    fam, _, eng = family.partition("/")
    measured = {} if own_paths else cal.physical.get(fam, {})
    names = tuple(k for k in names if k not in measured)  # measured by micro-benchmarks: not the rows' to move
    base, _ = (prior_cal or cal).resolve(fam, eng or None)
    prior = {k: getattr(base, k) for k in FITTED + ENGINE_FACTORS}
    current = dict(prior)
    cal = _with(cal, family, current)  # start from the prior, not from what a borrowed family was fitted to
    frozen = {r["setup"]: r["layout"] for r in predict_rows(rows, cal, fast=True) if r.get("layout")}

    def objective(values: dict[str, float]) -> float:
        mse, _ = _loss(rows, weights, _with(cal, family, values), frozen)
        ridge = sum(math.log(max(values[k], 1e-3) / max(prior[k], 1e-3)) ** 2 for k in names if k not in ADDITIVE)
        ridge += sum(((values[k] - prior[k]) / RIDGE_SCALE[k]) ** 2 for k in names if k in ADDITIVE)
        return mse + RIDGE * ridge

    _, before = _loss(rows, weights, _with(cal, family, current), frozen)
    best = objective(current)
    for sweep in range(sweeps):
        spread = 1.0 / (sweep + 1)
        for k in names:
            for g in GRID:
                if g == 1.0:
                    continue
                trial = dict(current)
                if k in ADDITIVE:
                    trial[k] = _clip(k, current[k] + (g - 1.0) * ADDITIVE[k] * spread)
                else:
                    trial[k] = _clip(k, current[k] * g ** spread)
                if trial[k] == current[k]:
                    continue
                val = objective(trial)
                if val < best - 1e-9:
                    best, current = val, trial
    _, after = _loss(rows, weights, _with(cal, family, current), frozen)
    if not frozen:
        raise SuanliError(f"calibrate: no row of {family} could be predicted; nothing to fit")
    return FamilyFit(family, len(rows), prior, {k: round(v, 4) for k, v in current.items()}, before, after)


PAIR_MIN_ROWS = 20


def fittable(row: Row) -> bool:
    """Throughput rows (single-stream prefill/decode rates included), except where p99 latency limits set the
    load. Latency rows are validated, not fitted: under load they mostly measure where a benchmark chose to
    operate and how long requests queued; so does the throughput of a server or interactive run, which is the
    load its submitter found to pass the limits, not what the chip can do."""
    return (row.kind == "throughput" and row.scenario not in LIMITED_SCENARIOS
            and not DISAGGREGATED.search(row.notes or ""))


LIMITED_SCENARIOS = ("server", "interactive")
# Disaggregated runs are predicted by a coarse pool model (scenarios.disaggregated), not the simulator: fitted,
# their errors bent the factors every SGLang-on-Hopper prediction uses (decode attention at 0.33 of bandwidth)
DISAGGREGATED = re.compile(r"disaggregated( \d+P\d+D|: prefill)")


def compute_priors(cal: Calibration, fitted: set[str], best: dict[str, float]) -> dict[str, float]:
    """The large-GEMM factor of every family measured by a best-shape GEMM search: its best-shape efficiency times
    the median ratio (fitted factor / best-shape efficiency) of the families a tuned stack's rows fitted. That
    ratio is how much of a shape search's best a tuned stack keeps on real models' GEMMs; the family's own rows
    then fit what the search does not measure (4-bit GEMMs, attention, host costs)."""
    ratios = [cal.families[f]["gemm_compute"] / best[f] for f in fitted
              if f in best and "gemm_compute" in cal.families.get(f, {})]
    if not ratios:
        return {}
    r = statistics.median(ratios)
    return {f: round(min(1.0, r * e), 4) for f, e in best.items()}


def _fit_families(by_family: dict[str, list[Row]], result: FitResult, cal: Calibration,
                  families: list[str] | None, sweeps: int) -> None:
    for fam, mine in sorted(by_family.items()):
        if (families and fam not in families) or len(mine) < MIN_ROWS:
            continue
        # dense GEMM/attention/comm factors on dense models first, then the expert factors on MoE models, so
        # that an error particular to one kind of model does not bend the factors of the other
        dense = [r for r in mine if not is_moe_row(r)]
        moe = [r for r in mine if is_moe_row(r)]
        dense_fitted = False
        if len(dense) >= MIN_ROWS:
            try:
                ff = fit_family(dense, result.calibration, fam, sweeps, prior_cal=cal, names=DENSE_FACTORS)
            except SuanliError:
                continue
            result.families.append(ff)
            result.calibration = _with(result.calibration, fam, ff.fitted)
            dense_fitted = True
        # a family measured only on MoE models keeps its borrowed dense factors: expert layers and host
        # overhead explain MoE rows; letting them bend GEMM or collective bandwidth would wreck its dense models
        names = MOE_FACTORS if dense_fitted else MOE_ONLY
        if len(moe) >= MIN_ROWS:
            try:
                ff = fit_family(moe, result.calibration, fam, sweeps, prior_cal=result.calibration, names=names)
            except SuanliError:
                continue
            ff.family = f"{fam} (MoE rows)"
            result.families.append(ff)
            result.calibration = _with(result.calibration, fam, ff.fitted)


def fit(rows: list[Row], cal: Calibration, families: list[str] | None = None, sweeps: int = 2,
        best: dict[str, float] | None = None) -> FitResult:
    """Fit every chip family on the rows of its tuned stacks (the chip's own factors), then every (family,
    engine) pair with enough rows toward its family's fit (what that engine loses or gains on that hardware);
    other families keep what `cal` gives them. A family measured only through untuned stacks keeps its prior
    (op-level figures in `physical`, else the family it borrows from): its engines' pairs take the gap."""
    by_family: dict[str, list[Row]] = defaultdict(list)
    by_pair: dict[str, list[Row]] = defaultdict(list)
    untuned: set[str] = set()
    for r in rows:
        if fittable(r):
            fam = family_of(r)
            if fam:
                stack = resolve_engine(r.engine, fam, strict=False)
                if stack.tuned_for(fam):
                    by_family[fam].append(r)
                else:
                    untuned.add(f"{fam}/{stack.factor_key}")
                by_pair[f"{fam}/{stack.factor_key}"].append(r)
    if best:  # derived below from this fit, never carried over from the file the fit starts from
        cal = replace(cal, physical={f: {k: v for k, v in d.items() if not (f in best and k == "gemm_compute")}
                                     for f, d in cal.physical.items()})
    result = FitResult(cal)
    _fit_families(by_family, result, cal, families, sweeps)
    fitted = {ff.family.split(" ")[0] for ff in result.families}
    priors = compute_priors(result.calibration, fitted, best or {})
    if priors:  # the chip's own large-GEMM figure, from its shape search, for its fits and its engines'
        phys = {f: dict(v) for f, v in cal.physical.items()}
        for f, v in priors.items():
            phys.setdefault(f, {})["gemm_compute"] = v
        cal = replace(cal, physical=phys)
        redo = {f: by_family[f] for f in fitted if f in priors}
        result.families = [ff for ff in result.families if ff.family.split(" ")[0] not in redo]
        result.calibration = replace(result.calibration, physical=phys,
                                     families={k: v for k, v in result.calibration.families.items()
                                               if k not in redo})
        _fit_families(redo, result, cal, families, sweeps)
    fitted_families = result.calibration
    for pair, mine in sorted(by_pair.items()):
        fam = pair.split("/")[0]
        least = PAIR_MIN_ROWS if fam in fitted else MIN_ROWS  # an untuned family's only evidence is its pairs
        if (families and fam not in families) or len(mine) < least:
            continue
        if len(mine) == len(by_family[fam]):
            continue  # the family is this one engine: its fit already is the pair's
        try:
            kinds = {is_moe_row(r) for r in mine}
            names = FITTED if len(kinds) == 2 else DENSE_FACTORS if kinds == {False} else MOE_ONLY
            # collectives belong to the fabric and its library, shared by the engines on it: an engine's own
            # rows (often one old version, one layout) do not identify them; a free pair fit put vLLM's Hopper
            # collective latency at 20 us and made held-out vLLM decode at low concurrency 40% too slow
            names = tuple(k for k in names if not k.startswith("comm_"))
            if fam in fitted:
                ff = fit_family(mine, result.calibration, pair, 1, prior_cal=fitted_families, names=names)
            else:  # the chip is set by op-level figures; this engine's rows say what its paths and host cost
                ff = fit_family(mine, result.calibration, pair, sweeps, prior_cal=fitted_families,
                                names=names + ENGINE_FACTORS, own_paths=True)
        except SuanliError:
            continue
        result.families.append(ff)
        result.calibration = _with(result.calibration, pair, ff.fitted)
    result.calibration = replace(result.calibration, untuned=untuned_losses(result.calibration, untuned))
    return result


UNTUNED_FACTORS = ("gemm_compute", "gemm_memory", "attn_compute", "attn_memory", "moe_compute", "moe_memory",
                   "step_overhead_ms", "seq_overhead_us", "kernel_us")


def untuned_losses(cal: Calibration, pairs: set[str]) -> dict[str, float]:
    """The median, over the fitted (family, engine) pairs of stacks not tuned for their family, of each engine
    factor: efficiencies as shares of the family's own, host costs as they are. What an unmeasured untuned stack
    is assumed to lose (`Calibration.untuned`); none from fewer than two such pairs."""
    fitted = [p for p in sorted(pairs) if p in cal.pairs]
    if len(fitted) < 2:
        return {}
    out = {}
    for k in UNTUNED_FACTORS:
        vals = []
        for p in fitted:
            fam, key = p.split("/", 1)
            chip, _ = cal.resolve(fam, None)
            mine, _ = cal.resolve(fam, key)
            vals.append(getattr(mine, k) / getattr(chip, k) if k.endswith(("_compute", "_memory"))
                        else getattr(mine, k))
        out[k] = round(min(1.0, statistics.median(vals)) if k.endswith(("_compute", "_memory"))
                       else statistics.median(vals), 4)
    return out


def leave_one_source_out(rows: list[Row], cal: Calibration, sweeps: int = 1,
                         best: dict[str, float] | None = None, tick=None, floors=None) -> dict[str, dict]:
    """For each source: fit on all other sources, predict this one. Returns per-source errors; `tick(1)` after
    each source (a progress bar). `floors` (`moe_floor.Curves`): the engines' MoE floors, refitted without the
    source too."""
    sources = sorted({r.source for r in rows})
    out = {}
    for src in sources:
        held = [r for r in rows if r.source == src]
        rest = [r for r in rows if r.source != src]
        fams = {f for f in (family_of(r) for r in held) if f}
        for f in list(fams):  # a family left without rows borrows: fit what it borrows from on the rest too
            while f in cal.borrow and cal.borrow[f] not in fams:
                f = cal.borrow[f]
                fams.add(f)
        if any(not _tuned(r) for r in held):  # its untuned stacks take the losses of the others' untuned stacks
            fams |= {f for r in rest if fittable(r) and not _tuned(r) and (f := family_of(r))}
        # the engines' MoE chains refitted without the source too, in place while the factors are (they add to the
        # expert GEMMs at every load)
        start = cal if floors is None else replace(cal, moe_floor=floors.table(without=src))
        fitted = fit(rest, start, families=sorted(fams), sweeps=sweeps, best=best).calibration
        if floors is not None:
            fitted = replace(fitted, moe_floor=floors.table(without=src))
        recs = predict_rows(held, fitted)
        out[src] = {"rows": len(held), "records": recs, "calibration": fitted}
        if tick:
            tick(1)
    return out


def _tuned(row: Row) -> bool:
    fam = family_of(row)
    return fam is None or resolve_engine(row.engine, fam, strict=False).tuned_for(fam)


def to_yaml(cal: Calibration, result: FitResult, note: str) -> str:
    doc = {
        "note": note,
        "defaults": cal.defaults,
        "physical": result.calibration.physical,
        "families": dict(result.calibration.families),
        "engines": cal.engines,
        "pairs": dict(result.calibration.pairs),
        "borrow": cal.borrow,
        "untuned": result.calibration.untuned,
        "moe_floor": result.calibration.moe_floor,
        "first_token": result.calibration.first_token,
        "fit": {ff.family: {"rows": ff.rows, "mean_abs_log_error_before": round(ff.error_before, 4),
                            "mean_abs_log_error_after": round(ff.error_after, 4),
                            "moved": {k: [ff.prior[k], ff.fitted[k]] for k in ff.fitted
                                      if abs(ff.fitted[k] - ff.prior[k]) > 1e-9}}
                for ff in result.families},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def factor_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Factors))
