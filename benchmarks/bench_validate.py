"""Speed of validation (issue 4 target: the whole public.csv in under 60 s on a 2-core machine).

Times `suanli validate` on each ground-truth file it finds (catalog loading included: a fresh process) and prints
rows, skipped rows, throughput MAPE and wall time. The files are looked for in $SUANLI_SHARED/groundtruth, then
../shared/groundtruth beside the repository; without them it says so and exits 0.
Run: python benchmarks/bench_validate.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SUANLI_SHARED", ROOT.parent / "shared"))
TARGETS = {"public.csv": 60.0}


def main() -> None:
    folder = SHARED / "groundtruth"
    files = [folder / name for name in ("public.csv", "edge_cn.csv", "serving.csv")]
    if not any(f.exists() for f in files):
        print(f"no ground-truth files under {folder}: validation speed not measured (set SUANLI_SHARED)")
        return
    t0 = time.perf_counter()
    from suanli.validate.run import validate  # import time counts: a user's `suanli validate` pays it too

    load = time.perf_counter() - t0
    for f in files:
        if not f.exists():
            continue
        t = time.perf_counter()
        res = validate(f)
        wall = time.perf_counter() - t + load
        load = 0.0
        thr = res["summary"]["overall"].get("throughput") or {}
        lat = res["summary"]["overall"].get("latency") or {}
        rows = len({r["id"] for r in res["rows"]})
        skipped = sum(1 for r in res["rows"] if r["predicted"] is None)
        target = TARGETS.get(f.name)
        aim = f" [target < {target:.0f} s]" if target else ""
        mape = f"throughput MAPE {thr['mape']:.1%}" if thr.get("mape") is not None else "no throughput rows"
        lmape = f", latency MAPE {lat['mape']:.1%}" if lat.get("mape") is not None else ""
        print(f"validate {f.name}: {rows} rows, {skipped} skipped; {mape}{lmape}; wall {wall:.1f} s{aim}")
        if f.name == "serving.csv":  # latency by load band (issue 20's table), from the same predictions
            from bench_latency import print_table

            print_table(f, res["rows"])


if __name__ == "__main__":
    main()
