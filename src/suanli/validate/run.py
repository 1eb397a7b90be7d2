"""Predict every row of a measurement file and measure the error: per row, and summarised by metric kind and group.

A row suanli cannot predict (unknown hardware or model, a layout that does not fit, a missing length with no
published data-set mean) is kept as skipped with its reason: a skipped row is a gap, not a success.
APE = |predicted - measured| / measured; bias = mean of (predicted - measured) / measured (signed).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from suanli.perf.factors import Calibration, bundled_calibration
from suanli.schema import SuanliError
from suanli.validate.data import Row, load_rows
from suanli.validate.scenarios import Point, predict_setup
from suanli.validate.setup import Setup, Skip
from suanli.validate.sources import setup_of


def predict_rows(rows: list[Row], cal: Calibration | None = None, fast: bool = False,
                 frozen: dict[Setup, tuple] | None = None, tick: Callable[[int], None] | None = None) -> list[dict]:
    """Predict every row; `fast` and `frozen` (a layout per setup) are for calibration fits (see fit.py); `tick`
    is called once per row (a progress bar)."""
    cache: dict[Setup, Point | Skip] = {}
    out = []
    for row in rows:
        rec = {"id": row.id, "line": row.line, "source": row.source, "hardware": row.hardware, "model": row.model,
               "engine": row.engine, "scenario": row.scenario, "metric": row.metric, "kind": row.kind,
               "measured": row.value, "predicted": None, "ape": None, "skipped_reason": None, "assumptions": []}
        try:
            setup, notes = setup_of(row)
            rec["assumptions"] = notes
            if setup not in cache:
                try:
                    cache[setup] = predict_setup(setup, cal, fast, (frozen or {}).get(setup))
                except Skip as e:
                    cache[setup] = e
                except SuanliError as e:  # the setup itself cannot run (layout, memory): a gap with its reason
                    cache[setup] = Skip(str(e))
            result = cache[setup]
            if isinstance(result, Skip):
                raise result
            try:
                pred = result.metric(setup, row.metric)
            except ArithmeticError as e:  # one row's metric must not end the run: a gap with its reason
                raise Skip(f"{row.metric} could not be computed for this setup ({e})") from None
            if not math.isfinite(pred) or pred <= 0:
                raise Skip(f"{row.metric} came out {pred:g} for this setup: not a rate or time, not scored")
            rec["predicted"] = pred
            rec["setup"], rec["layout"], rec["in_system"] = setup, result.layout, result.batch
            rec["ape"] = abs(pred - row.value) / row.value
            rec["signed"] = (pred - row.value) / row.value
        except Skip as e:
            rec["skipped_reason"] = str(e)
        out.append(rec)
        if tick:
            tick(1)
    return out


def _group_stats(recs: list[dict]) -> dict:
    done = [r for r in recs if r["predicted"] is not None]
    apes = [r["ape"] for r in done]
    banded = [r for r in done if r.get("p10") is not None]
    return {
        "rows": len(recs), "predicted": len(done), "skipped": len(recs) - len(done),
        "mape": statistics.fmean(apes) if apes else None,
        "median_ape": statistics.median(apes) if apes else None,
        "bias": statistics.fmean(r["signed"] for r in done) if done else None,
        # share of measured values inside the [P10, P90] band, and the band's median width over the prediction
        "coverage": statistics.fmean(r["p10"] <= r["measured"] <= r["p90"] for r in banded) if banded else None,
        "median_width": statistics.median((r["p90"] - r["p10"]) / r["predicted"] for r in banded) if banded else None,
    }


def summarize(recs: list[dict], by: list[str]) -> dict:
    summary: dict = {"overall": {}, "groups": {}, "worst": {}, "skipped_reasons": {}}
    for kind in ("throughput", "latency"):
        mine = [r for r in recs if r["kind"] == kind]
        if not mine:
            continue
        summary["overall"][kind] = _group_stats(mine)
        if by:
            groups: dict[str, list[dict]] = defaultdict(list)
            for r in mine:
                groups[" / ".join(str(r[k]) for k in by)].append(r)
            summary["groups"][kind] = {g: _group_stats(v) for g, v in sorted(groups.items())}
        done = sorted((r for r in mine if r["ape"] is not None), key=lambda r: -r["ape"])
        summary["worst"][kind] = [{k: r[k] for k in ("id", "hardware", "model", "metric", "measured", "predicted",
                                                     "ape")} for r in done[:10]]
    reasons: dict[str, int] = defaultdict(int)
    for r in recs:
        if r["skipped_reason"]:
            reasons[r["skipped_reason"]] += 1
    summary["skipped_reasons"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1]))
    return summary


def add_intervals(recs: list[dict], cal: Calibration) -> None:
    """`p10` and `p90` beside each prediction, from the calibration's interval bands (None where it has none)."""
    from suanli.perf.intervals import interval
    from suanli.validate.intervals import case_of

    for r in recs:
        case = case_of(r, cal) if r["predicted"] is not None and cal.intervals else None
        iv = interval(cal.intervals, case, r["predicted"]) if case else None
        r["p10"], r["p90"] = (iv["p10"], iv["p90"]) if iv else (None, None)


def validate(path: str | Path, by: list[str] | None = None, cal: Calibration | None = None,
             progress: Callable | None = None) -> dict:
    """`progress(label, total)`: a context manager yielding tick(n) (the CLI's bar), or None."""
    t0 = time.perf_counter()
    rows = load_rows(path)
    if progress is None:
        recs = predict_rows(rows, cal)
    else:
        with progress(f"predicting {Path(path).name}", len(rows)) as tick:
            recs = predict_rows(rows, cal, tick=tick)
    add_intervals(recs, cal or bundled_calibration())
    return {"rows": recs, "summary": summarize(recs, by or []), "wall_s": time.perf_counter() - t0,
            "calibration": cal.source if cal else "bundled calibration"}
