"""Prediction intervals from held-out residuals: how far off suanli was, on measurements it was not fitted on.

A prediction is classed by what decides how much to trust it (a `Case`): the metric (throughput, TTFT, TPOT),
whether its chip family has factors of its own or borrows them, whether its engine version has a profile or is
resolved to the nearest one, its load (one stream, a batch, heavy) and colocated or disaggregated
serving. `suanli calibrate --loso` predicts every measured row with factors fitted without that row's source and
stores, per class, the 10th and 90th percentiles of measured / predicted (`intervals` in the calibration file).
A class with fewer than MIN_ROWS rows or MIN_SOURCES sources is not used: the prediction takes its parent class
(the same case with a dimension merged), and the basis says so.

The interval is for the measured value: [P10, P90] = predicted x [q10, q90]; the central value stays the
prediction (the band is not used to correct it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

METRICS = ("throughput", "ttft", "tpot")
MIN_ROWS = 40
HEAVY = 64  # sequences per attention rank from which a load counts as heavy (or the engine run at its limit)
MIN_SOURCES = 3
ANY = "*"
# dimensions merged, in this order, when a class is too thin: the engine's resolution first, the chip's last (a
# borrowed chip is the largest single cause of error, so it is kept apart as long as any class allows)
MERGE_ORDER = ("engine", "serving", "load", "chip")


@dataclass(frozen=True)
class Case:
    metric: str  # throughput | ttft | tpot
    chip: str = "calibrated"  # calibrated | borrowed
    engine: str = "profiled"  # profiled | nearest
    load: str = "batch"  # single (one sequence per replica) | batch | heavy (see HEAVY)
    serving: str = "colocated"  # colocated | disaggregated

    def key(self, merged: tuple[str, ...] = ()) -> str:
        parts = [self.metric] + [ANY if d in merged else getattr(self, d) for d in ("chip", "engine", "load",
                                                                                      "serving")]
        return "/".join(parts)

    def chain(self) -> list[str]:
        """Its class, then its parents: one more dimension merged at a time."""
        return [self.key(MERGE_ORDER[:i]) for i in range(len(MERGE_ORDER) + 1)]

    def words(self) -> str:
        return (f"{self.metric}, {self.chip} chip, {self.engine} engine, {self.load} load, {self.serving}")


def chip_and_engine(factors_note: str, stack) -> tuple[str, str]:
    """The chip and engine classes of a prediction: from the note of its factors (`Calibration.resolve`) and its
    stack (`Stack.nearest`)."""
    return ("calibrated" if factors_note.startswith("calibrated") else "borrowed",
            "nearest" if stack.nearest else "profiled")


def load_class(per_rank: float, at_limit: bool = False) -> str:
    """single: one sequence per replica; heavy: HEAVY or more per attention rank, or a run at the engine's limit
    (offline, or a server at the most load its latency limits allow); batch: in between."""
    if at_limit or per_rank >= HEAVY:
        return "heavy"
    return "single" if per_rank <= 1 else "batch"


def metric_class(metric: str) -> str | None:
    """A measurement's metric name as an interval metric (None: not one suanli bands)."""
    m = metric.lower()
    if m.startswith("ttft"):
        return "ttft"
    if m.startswith(("tpot", "itl")):
        return "tpot"
    if "tok_s" in m or "requests_s" in m:
        return "throughput"
    return None


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted-able values (numpy's default method)."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def build_table(samples: list[tuple[Case, str, float]], levels: dict[str, float] | None = None,
                ) -> dict[str, dict[str, float]]:
    """Bands from (case, source, measured / predicted) of held-out predictions: every class and parent with
    enough rows and sources, as {key: {p10, p50, p90, rows, sources, level}} (ratios of measured to predicted).
    `levels` (per metric, default 0.1): the tail share each side at which the class's residuals are cut. The rows
    a band is drawn from were predicted without their own source, but a new source differs from all of them: the
    level that makes bands drawn without a source cover 80% of it (`validate.intervals.fit_levels`) is lower than
    0.1, and P10 / P90 of a new measurement are the class's quantiles at that level."""
    by_key: dict[str, list[tuple[str, float]]] = {}
    for case, src, ratio in samples:
        ratio = float(ratio)
        if not (ratio > 0 and math.isfinite(ratio)):
            continue
        for k in case.chain():
            by_key.setdefault(k, []).append((src, ratio))
    table = {}
    for k, vals in sorted(by_key.items()):
        sources = {s for s, _ in vals}
        if len(vals) < MIN_ROWS or len(sources) < MIN_SOURCES:
            continue
        r = [float(v) for _, v in vals]  # numpy scalars from the predictions would not write as YAML
        q = (levels or {}).get(k.split("/")[0], 0.1)
        table[k] = {"p10": round(quantile(r, q), 4), "p50": round(quantile(r, 0.5), 4),
                    "p90": round(quantile(r, 1 - q), 4), "rows": len(r), "sources": len(sources), "level": q}
    return table


def band_of(table: dict[str, dict[str, float]], case: Case) -> tuple[str, dict[str, float]] | None:
    """The band a case takes: its own class if the table has it, else the nearest parent; None if none."""
    for k in case.chain():
        if k in table:
            return k, table[k]
    return None


def interval(table: dict[str, dict[str, float]], case: Case, value: float) -> dict | None:
    """{"p10", "p90", "basis"} for a predicted value, or None (no table, no band, or no finite value)."""
    if not table or value is None or not math.isfinite(value) or value <= 0:
        return None
    hit = band_of(table, case)
    if hit is None:
        return None
    key, band = hit
    own = key == case.key()
    basis = (f"held-out residuals of {int(band['rows'])} rows from {int(band['sources'])} sources, class "
             f"{key}" + ("" if own else f" (parent: too few held-out rows for {case.key()})"))
    return {"p10": value * band["p10"], "p90": value * band["p90"], "basis": basis}


def check_table(table: dict, where: str) -> dict[str, dict[str, float]]:
    """A table read from a calibration file: finite, positive, p10 <= p50 <= p90; one-line errors."""
    from suanli.schema import SuanliError

    out = {}
    for k, band in (table or {}).items():
        if not isinstance(band, dict):
            raise SuanliError(f"{where}: intervals.{k} must be a mapping with p10, p50, p90, rows, sources")
        try:
            vals = {f: float(band[f]) for f in ("p10", "p50", "p90", "rows", "sources")}
            vals["level"] = float(band.get("level", 0.1))
        except (KeyError, TypeError, ValueError):
            raise SuanliError(f"{where}: intervals.{k} needs numbers p10, p50, p90, rows, sources") from None
        if not 0 < vals["level"] <= 0.5:
            raise SuanliError(f"{where}: intervals.{k}: level {vals['level']} must be in (0, 0.5]")
        if not all(math.isfinite(v) for v in vals.values()) or not 0 < vals["p10"] <= vals["p50"] <= vals["p90"]:
            raise SuanliError(f"{where}: intervals.{k}: want 0 < p10 <= p50 <= p90, got {band}")
        if str(k).split("/")[0] not in METRICS:
            raise SuanliError(f"{where}: intervals.{k}: the class must start with one of {', '.join(METRICS)}")
        out[str(k)] = vals
    return out
