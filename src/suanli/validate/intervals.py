"""Held-out residuals for the interval table (`suanli.perf.intervals`), and the coverage of its bands.

Every row is predicted with factors fitted without its source: throughput rows by the leave-one-source-out fit
(`fit.leave_one_source_out`), latency rows with that source's held-out chip factors and the engines' front ends
refitted without it (`first_token`). A source with latency rows only takes the full fit's chip factors (its rows
set none of them). The rows' cases are classed as the held-out prediction saw them: a family whose only rows
were held out is borrowed there.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from suanli.engines import resolve_engine
from suanli.perf.factors import Calibration
from suanli.perf.intervals import Case, build_table, chip_and_engine, interval, load_class, metric_class
from suanli.validate.data import Row
from suanli.validate.fit import leave_one_source_out
from suanli.validate.setup import Setup

LIMIT_SCENARIOS = ("offline", "server", "interactive")  # runs at the engine's limit (or the most its SLOs allow)


def case_of(rec: dict, cal: Calibration) -> Case | None:
    """The interval class of a predicted record, as its prediction saw it (`cal`: the factors it used)."""
    metric = metric_class(rec["metric"])
    setup: Setup | None = rec.get("setup")
    if metric is None or setup is None or rec["predicted"] is None:
        return None
    from suanli.catalog import catalog

    cat = catalog()
    family = cat.chips[cat.resolve("chip", setup.hardware)].family
    stack = resolve_engine(setup.engine, family, strict=False)
    _, note = cal.resolve(family, stack.factor_key, stack.tuned_for(family))
    tp, pp, _, _ = rec.get("layout") or (setup.tp or 1, setup.pp or 1, 1, 1)
    ranks = max(1, setup.n // max(1, tp * pp))
    # no stated concurrency outside the limit scenarios (open arrivals at a rate): a batch of unknown size
    per_rank = setup.concurrency / ranks if setup.concurrency else 2.0
    at_limit = setup.scenario in LIMIT_SCENARIOS
    chip, engine = chip_and_engine(note, stack)
    return Case(metric=metric, chip=chip, engine=engine,
                load=load_class(per_rank, at_limit), serving="disaggregated" if setup.disagg else "colocated")


def held_out(rows: list[Row], prior: Calibration, fitted: Calibration, best: dict[str, float] | None = None,
             tick=None, floors=None) -> tuple[list[dict], dict[str, dict]]:
    """Every predictable row of `rows` predicted without its source (records with their `case`), and the
    throughput leave-one-source-out fits ({source: {rows, records, calibration}})."""
    from suanli.validate.first_token import _fit, _points
    from suanli.validate.run import predict_rows

    thr = [r for r in rows if r.kind == "throughput"]
    per = leave_one_source_out(thr, prior, best=best, tick=tick, floors=floors)
    out = []
    for v in per.values():
        for rec in v["records"]:
            rec["case"] = case_of(rec, v["calibration"])
            out.append(rec)
    points = _points(rows, fitted)
    for src in sorted({r.source for r in rows if r.kind == "latency"}):
        base = per[src]["calibration"] if src in per else fitted
        table, _ = _fit([pt for pt in points if pt[1] != src])
        cal = replace(base, first_token=table)
        if floors is not None:
            cal = replace(cal, moe_floor=floors.table(without=src))
        for rec in predict_rows([r for r in rows if r.source == src and r.kind == "latency"], cal):
            rec["case"] = case_of(rec, cal)
            out.append(rec)
    return [r for r in out if r.get("case") is not None], per


HELD_COLUMNS = ("id", "source", "metric", "chip", "engine", "load", "serving", "ratio")


def write_held(recs: list[dict], path) -> None:
    """The held-out residuals behind a calibration's bands (`<calibration>.heldout.csv.gz`): one row per
    prediction, its case and measured / predicted, so the bands and their coverage can be rebuilt and checked
    without a refit."""
    import csv
    import gzip
    import io

    from suanli.schema.files import write_atomic

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HELD_COLUMNS)
    for r in recs:
        c = r["case"]
        w.writerow([r["id"], r["source"], c.metric, c.chip, c.engine, c.load, c.serving,
                    f"{r['measured'] / r['predicted']:.5g}"])
    write_atomic(path, gzip.compress(buf.getvalue().encode("utf-8"), mtime=0))


def read_held(path) -> list[dict]:
    """Records as `held_out` gives them (case, source, measured / predicted as measured with predicted 1)."""
    import csv
    import gzip

    out = []
    with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            case = Case(row["metric"], row["chip"], row["engine"], row["load"], row["serving"])
            out.append({"id": row["id"], "source": row["source"], "case": case, "predicted": 1.0,
                        "measured": float(row["ratio"])})
    return out


def held_path(calibration_path) -> Path:
    p = Path(calibration_path)
    return p.with_name(p.stem + ".heldout.csv.gz")


def samples(recs: list[dict]) -> list[tuple[Case, str, float]]:
    return [(r["case"], r["source"], r["measured"] / r["predicted"]) for r in recs
            if r["predicted"] and r["measured"] and math.isfinite(r["predicted"])]


LEVELS = (0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01)  # tail shares tried, narrowest band first
TARGET = 0.8


def fit_levels(recs: list[dict]) -> dict[str, float]:
    """Per metric, the tail level whose bands, drawn without each source, cover closest to 80% of that source's
    rows (the narrowest band on a tie). Each level is one number per metric, fitted on held-out coverage."""
    out = {}
    for metric in sorted({r["case"].metric for r in recs}):
        mine = [r for r in recs if r["case"].metric == metric]
        scored = [(abs(coverage(mine, levels={metric: q}).get(metric, {}).get("covered", 0.0) - TARGET), -q)
                  for q in LEVELS]
        out[metric] = -min(scored)[1]
    return out


def coverage_doubly_nested(recs: list[dict]) -> dict[str, dict]:
    """Coverage of bands whose level and quantiles were both drawn without the scored source: what a source suanli
    has not seen should expect."""
    return _per_source(recs, lambda rest: build_table(samples(rest), fit_levels(rest)))


def coverage(recs: list[dict], table: dict | None = None, levels: dict[str, float] | None = None,
             ) -> dict[str, dict]:
    """Share of measured values inside [P10, P90] and median relative width (P90 - P10) / predicted, per metric.
    Without `table`, nested: each source's rows get bands built (at `levels`) from the other sources' residuals
    only, so a band is never scored on the rows it was drawn from."""
    if table is not None:
        return _score([(r, table) for r in recs])
    return _per_source(recs, lambda rest: build_table(samples(rest), levels))


def _per_source(recs: list[dict], bands_without) -> dict[str, dict]:
    """Each source's rows scored against the bands `bands_without(the other sources' rows)` draws."""
    by_src: dict[str, list[dict]] = {}
    for r in recs:
        by_src.setdefault(r["source"], []).append(r)
    scored = []
    for src, mine in by_src.items():
        table = bands_without([r for r in recs if r["source"] != src])
        scored += [(r, table) for r in mine]
    return _score(scored)


def _score(scored: list[tuple[dict, dict]]) -> dict[str, dict]:
    hits: dict[str, list[tuple[bool, float]]] = {}
    for r, table in scored:
        iv = interval(table, r["case"], r["predicted"])
        if iv is None:
            continue
        inside = iv["p10"] <= r["measured"] <= iv["p90"]
        hits.setdefault(r["case"].metric, []).append((inside, (iv["p90"] - iv["p10"]) / r["predicted"]))
    hits["latency"] = hits.get("ttft", []) + hits.get("tpot", [])
    out = {}
    for metric, h in sorted(hits.items()):
        if not h:
            continue
        widths = sorted(w for _, w in h)
        out[metric] = {"rows": len(h), "covered": sum(i for i, _ in h) / len(h), "median_width": widths[len(h) // 2]}
    return out
