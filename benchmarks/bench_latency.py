"""Latency accuracy on serving.csv (issue 20): TTFT and TPOT MAPE by concurrency band and mode, skipped rows
counted as misses (100 %), with the median ratio predicted / measured per band.

Run: python benchmarks/bench_latency.py [path/to/serving.csv]   (default: ../shared/groundtruth/serving.csv)
Prints one table; `--json` prints the per-band figures as JSON; `--fast` uses the analytic model only (no
simulator). `bench_validate.py` prints the same table for serving.csv from its own predictions (CI).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SUANLI_SHARED", ROOT.parent / "shared"))
BANDS = (("c <= 8", 0, 8), ("c 16-64", 9, 64), ("c > 64", 65, 10 ** 9))


def band_of(c: float) -> str:
    return next(name for name, lo, hi in BANDS if lo <= c <= hi)


def table(recs: list[dict]) -> dict:
    out: dict = {}
    for metric in ("ttft_mean_ms", "tpot_mean_ms"):
        mine = [r for r in recs if r["metric"] == metric]
        groups: dict[str, list[dict]] = {"all": mine}
        for r in mine:
            mode = "disagg" if r["disagg"] else "agg"
            groups.setdefault(f"{mode}, {band_of(r['concurrency'])}", []).append(r)
        out[metric] = {}
        for name, rows in groups.items():
            done = [r for r in rows if r["predicted"] is not None]
            apes = [r["ape"] for r in done]
            skipped = len(rows) - len(done)
            out[metric][name] = {
                "rows": len(rows), "skipped": skipped,
                "mape_with_skips": (sum(apes) + skipped) / len(rows) if rows else None,
                "mape": statistics.fmean(apes) if apes else None,
                "median_ratio": statistics.median(r["predicted"] / r["measured"] for r in done) if done else None,
            }
    return out


def print_table(path: Path, recs: list[dict], as_json: bool = False) -> None:
    """The band table for validation records of `path` (each with its row's id)."""
    from suanli.validate.data import load_rows

    by_id = {r.id: r for r in load_rows(path)}
    for rec in recs:
        row = by_id[rec["id"]]
        rec["concurrency"] = row.concurrency or 1
        # disaggregated as labelled, or as the adapter read a run labelled otherwise (validate/sources/dynamo.py)
        setup = rec.get("setup")
        rec["disagg"] = "mode=disagg" in row.notes or (setup is not None and bool(setup.disagg))
    res = table(recs)
    if as_json:
        print(json.dumps(res, indent=1))
        return
    print(f"{'metric':14} {'group':20} {'rows':>5} {'skip':>4} {'MAPE':>7} {'w/ skips':>8} {'median p/m':>10}")
    for metric, groups in res.items():
        for name, g in groups.items():
            mape = f"{g['mape']:.1%}" if g["mape"] is not None else "-"
            ratio = f"{g['median_ratio']:.2f}" if g["median_ratio"] is not None else "-"
            print(f"{metric:14} {name:20} {g['rows']:5d} {g['skipped']:4d} {mape:>7} {g['mape_with_skips']:8.1%} "
                  f"{ratio:>10}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else SHARED / "groundtruth" / "serving.csv"
    if not path.exists():
        print(f"{path} not found: latency accuracy not measured (set SUANLI_SHARED)")
        return
    from suanli.validate.data import load_rows
    from suanli.validate.run import predict_rows

    t = time.perf_counter()
    recs = predict_rows(load_rows(path), fast="--fast" in sys.argv)
    if "--json" not in sys.argv:
        print(f"{path.name}: {len(recs)} rows in {time.perf_counter() - t:.0f} s")
    print_table(path, recs, "--json" in sys.argv)


if __name__ == "__main__":
    main()
