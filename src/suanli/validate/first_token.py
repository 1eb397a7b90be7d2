"""The engines' costs on the first-token path outside their steps, fitted per engine family: their own share
(`engine_request_ms`), which in-process harnesses pay too, and their server front end's (`request_ms`,
`prompt_host_us`).

At low load (closed loops of at most `LOW_LOAD` clients, aggregated serving) a request hardly queues, so what a
measured mean TTFT holds beyond the engine's own steps is its front end: HTTP, tokenizing, handing the request to
the scheduler, returning the first token. For each engine family (the profile's factor key) with enough such rows
the two costs solve a least-squares fit of the relative error,
    measured ~ predicted without them + request_ms + prompt_host_us x prompt,
bounded to what a host path can take. Rows of in-process harnesses (MLPerf LoadGen, trtllm-bench) have no front
end: theirs at low load (a static batch or closed loop of at most `LOW_LOAD`, a rate run with at most that many
predicted in the system) fit the engine's own share first,
    measured ~ predicted without it + engine_request_ms,
and the front-end fit then holds that share in place. The other rows of a file (higher load, disaggregated) are
validated, not fitted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from suanli.engines import resolve_engine
from suanli.perf.factors import Calibration
from suanli.validate.data import Row
from suanli.validate.fit import family_of
from suanli.validate.setup import Setup, Skip
from suanli.validate.sources import setup_of

LOW_LOAD = 8  # clients: below this a request's TTFT is its own path, not a queue
MIN_ROWS = 10
BOUNDS = {"request_ms": (0.0, 500.0), "prompt_host_us": (0.0, 50.0)}
ENGINE_BOUNDS = (0.0, 50.0)  # ms: the engine's own share (queue hand-off, next pass, first token's return)
TTFT = ("ttft_mean_ms", "ttft_median_ms")


def low_load_setup(row: Row, metrics: tuple[str, ...]) -> Setup | None:
    """The run of a row of one of `metrics` measured in a closed loop of at most `LOW_LOAD` clients, else None."""
    if row.metric not in metrics or row.scenario != "concurrency" or not row.concurrency:
        return None
    if row.concurrency > LOW_LOAD:
        return None
    try:
        return setup_of(row)[0]
    except Skip:
        return None


def low_load(row: Row) -> bool:
    setup = low_load_setup(row, TTFT)
    return setup is not None and setup.front_end and not setup.disagg


def in_process(row: Row) -> bool:
    """A TTFT row of an in-process harness (no front end), aggregated, that may be at low load: a static batch or
    closed loop of at most `LOW_LOAD` requests, or a rate run (kept when its predicted number in the system is)."""
    if row.metric not in TTFT or row.scenario not in ("batch", "concurrency", "rate"):
        return False
    if row.scenario != "rate" and not (row.concurrency and row.concurrency <= LOW_LOAD):
        return False
    try:
        setup = setup_of(row)[0]
    except Skip:
        return False
    return not setup.front_end and not setup.disagg


def engine_key(row: Row) -> str | None:
    fam = family_of(row)
    return resolve_engine(row.engine, fam, strict=False).factor_key if fam else None


def fit_first_token(rows: list[Row], cal: Calibration) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """(first_token table, per-engine fit report). `cal` gives every other factor; its own first_token is
    ignored (the costs are fitted from zero)."""
    return _fit(_points(rows, cal))


def _points(rows: list[Row], cal: Calibration) -> list[tuple[str, str, float, float, float, bool]]:
    """(engine key, source, predicted s without any first-token cost, measured s, prompt tokens, in-process) of
    each low-load row."""
    from suanli.validate.run import predict_rows

    mine = [r for r in rows if low_load(r) or in_process(r)]
    recs = predict_rows(mine, replace(cal, first_token={}))
    out = []
    for row, rec in zip(mine, recs, strict=True):
        key = engine_key(row)
        if not key or rec["predicted"] is None:
            continue
        inside = not rec["setup"].front_end
        if inside and rec.get("in_system", 0.0) > LOW_LOAD:  # a rate run that queues: not the path alone
            continue
        out.append((key, row.source, rec["predicted"] / 1e3, row.value / 1e3, float(rec["setup"].input_len), inside))
    return out


def _fit(points: list[tuple]) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """The engine's own share on the in-process rows first (one fixed cost), then the front end on the rest with
    that share in place."""
    inside: dict[str, list[tuple[float, float]]] = defaultdict(list)
    served: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for key, _, p, m, n, own in points:
        (inside[key].append((p, m)) if own else served[key].append((p, m, n)))
    table: dict[str, dict[str, float]] = {}
    report: dict[str, dict] = {}
    engine = {}
    for key, pts in sorted(inside.items()):
        if len(pts) < MIN_ROWS:
            continue
        p, m = np.array(pts).T
        engine[key] = _solve_fixed(p, m)
        table[key] = {"engine_request_ms": round(engine[key] * 1e3, 2)}
        report[key] = {"in_process_rows": len(pts), "engine_request_ms": table[key]["engine_request_ms"],
                       "in_process_mape_before": float(np.mean(np.abs(p / m - 1))),
                       "in_process_mape_after": float(np.mean(np.abs((p + engine[key]) / m - 1)))}
    for key, pts in sorted(served.items()):
        if len(pts) < MIN_ROWS:
            continue
        arr = np.array(pts)
        arr[:, 0] += engine.get(key, 0.0)
        a, b = _solve(arr)
        table.setdefault(key, {}).update({"request_ms": round(a * 1e3, 2), "prompt_host_us": round(b * 1e6, 3)})
        p, m, n = arr.T
        report.setdefault(key, {}).update({"rows": len(pts), "mape_before": float(np.mean(np.abs(p / m - 1))),
                                           "mape_after": float(np.mean(np.abs((p + a + b * n) / m - 1))),
                                           "request_ms": table[key]["request_ms"],
                                           "prompt_host_us": table[key]["prompt_host_us"]})
    return table, report


def _solve_fixed(p: np.ndarray, m: np.ndarray) -> float:
    """Least squares of the relative error (m - p - a) / m in one fixed cost a, within `ENGINE_BOUNDS`."""
    x = 1.0 / m
    a = float(x @ ((m - p) / m) / (x @ x))
    return min(max(a, ENGINE_BOUNDS[0] * 1e-3), ENGINE_BOUNDS[1] * 1e-3)


def leave_one_source_out(rows: list[Row], cal: Calibration, floors=None) -> dict[str, dict]:
    """For each source with latency rows: the first-token costs (and with `floors`, a `moe_floor.Curves`, the
    engines' MoE floors) fitted without it, then every latency row of it predicted (all loads, aggregated and
    disaggregated). Returns {source: {"rows", "records"}}."""
    from suanli.validate.run import predict_rows

    points = _points(rows, cal)
    out = {}
    for src in sorted({r.source for r in rows if r.kind == "latency"}):
        table, _ = _fit([pt for pt in points if pt[1] != src])
        held = [r for r in rows if r.source == src and r.kind == "latency"]
        held_cal = replace(cal, first_token=table)
        if floors is not None:
            held_cal = replace(held_cal, moe_floor=floors.table(without=src))
        out[src] = {"rows": len(held), "records": predict_rows(held, held_cal)}
    return out


def _solve(pts: np.ndarray) -> tuple[float, float]:
    """Bounded least squares of (measured - predicted) / measured on (1 / measured, prompt / measured)."""
    p, m, n = pts.T
    y = (m - p) / m
    x = np.stack([1.0 / m, n / m], axis=1)
    lo = np.array([BOUNDS["request_ms"][0] * 1e-3, BOUNDS["prompt_host_us"][0] * 1e-6])
    hi = np.array([BOUNDS["request_ms"][1] * 1e-3, BOUNDS["prompt_host_us"][1] * 1e-6])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    for i in (0, 1):  # one coefficient at a bound: refit the other alone
        if not lo[i] <= coef[i] <= hi[i]:
            coef[i] = min(max(coef[i], lo[i]), hi[i])
            j = 1 - i
            rest = y - x[:, i] * coef[i]
            coef[j] = float(x[:, j] @ rest / (x[:, j] @ x[:, j]))
    coef = np.clip(coef, lo, hi)
    return float(coef[0]), float(coef[1])
