"""Planning at a confidence: size for the pessimistic side of the interval bands (`suanli.perf.intervals`).

At confidence c the plan takes, per system and serving mode, the c-quantile of measured / predicted for latency
(TTFT, TPOT: later than predicted) and the (1 - c)-quantile for throughput (less than predicted), drawn from the
held-out residuals of its class. The calibration file stores the 10th, 50th and 90th percentiles; between them
the quantile is interpolated linearly, so c may be 0.5 (the median: the prediction corrected for the class's
typical bias) to 0.9. Without a confidence the plan sizes on the predictions themselves (every margin 1).
"""

from __future__ import annotations

from math import ceil

from suanli.engines.resolve import Stack
from suanli.perf.factors import Calibration, bundled_calibration
from suanli.perf.intervals import Case, band_of, chip_and_engine
from suanli.schema import SuanliError

LOWEST, HIGHEST = 0.5, 0.9
HEAVY_LOAD = "heavy"  # a planned fleet is sized to run loaded


def check_confidence(c: float | None) -> float | None:
    if c is None:
        return None
    if not LOWEST <= c <= HIGHEST:
        raise SuanliError(f"confidence: {c:g} is not allowed; give {LOWEST} to {HIGHEST} (the bands are fitted "
                          "between the 10th and 90th percentiles of held-out errors)")
    return float(c)


def quantile_at(band: dict[str, float], q: float) -> float:
    """Quantile q in [0.1, 0.9] of measured / predicted, linear between the stored P10, P50 and P90."""
    if q >= 0.5:
        return band["p50"] + (band["p90"] - band["p50"]) * (q - 0.5) / 0.4
    return band["p50"] - (band["p50"] - band["p10"]) * (0.5 - q) / 0.4


def case_for(cal: Calibration, family: str, stack: Stack, metric: str, mode: str) -> Case:
    _, note = cal.resolve(family, stack.factor_key, stack.tuned_for(family))
    return Case(metric, *chip_and_engine(note, stack), HEAVY_LOAD,
                "disaggregated" if mode == "disaggregated" else "colocated")


def margins(cal: Calibration | None, family: str, stack: Stack, confidence: float | None) -> dict[str, dict]:
    """{mode: {metric: multiplier}} for one system: what its predicted figures are multiplied by at `confidence`
    (1 where no confidence is asked or no band is known)."""
    if confidence is None:
        return {}
    cal = cal or bundled_calibration()
    out: dict[str, dict] = {}
    for mode in ("colocated", "disaggregated"):
        out[mode] = {}
        for metric in ("throughput", "ttft", "tpot"):
            hit = band_of(cal.intervals, case_for(cal, family, stack, metric, mode))
            q = 1.0 - confidence if metric == "throughput" else confidence
            out[mode][metric] = quantile_at(hit[1], q) if hit else 1.0
    return out


def bands(cal: Calibration | None, family: str, stack: Stack, mode: str) -> dict[str, tuple[str, dict]]:
    """{metric: (class, band)} of one system's candidates in one mode."""
    cal = cal or bundled_calibration()
    found = {}
    for metric in ("throughput", "ttft", "tpot"):
        hit = band_of(cal.intervals, case_for(cal, family, stack, metric, mode))
        if hit:
            found[metric] = hit
    return found


def instances_for(load_out_tok_s: float, headroom: float, unit_out_tok_s: float) -> int:
    return max(1, ceil(load_out_tok_s * (1 + headroom) / unit_out_tok_s - 1e-9))
