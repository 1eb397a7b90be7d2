"""Design-space exploration speed (issue 25): points per second for 10^4, 10^5 and 10^6 design points of one
deployment (Llama-3.1-70B on 8 chips, TP 8, FP8, batch 64 per replica) around the H100, and the peak memory.

Target: 10^6 points in under 60 s on a 2-core machine, under 4 GB; on Ray, the same points on 1 and 2 local
worker processes (near-linear scaling). Prints the figures.
Run: python benchmarks/bench_explore.py
"""

from __future__ import annotations

import resource
import sys
import time

from suanli.explore.run import explore
from suanli.explore.space import from_options


def space(points: int):
    steps = {10_000: (100, 100, 1), 100_000: (100, 100, 10), 1_000_000: (100, 100, 100)}[points]
    vary = [f"memory.bandwidth=1TB/s:8TB/s:{steps[0]}", f"compute=x0.05:x1:{steps[1]}",
            f"memory.capacity=48:192:{steps[2]}"]
    return from_options("h100-sxm", vary, models=["llama-3.1-70b"], chips=[8], tp=[8], batch=[64],
                        precision=["fp8"], input=2048, output=256)


def main() -> None:
    for n in (10_000, 100_000, 1_000_000):
        sp = space(n)
        t = time.perf_counter()
        r = explore(sp, where="tpp<4800 and pd<5.92", goals="tok_s_per_chip:max,usd_per_mtok:min")
        wall = time.perf_counter() - t
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e9
        print(f"explore {n:>9,} points: {wall:6.2f} s, {n / wall:>9,.0f} points/s, {r['feasible']:,} feasible, "
              f"front {len(r['front'])}, peak memory {peak_gb:.2f} GB"
              + ("  [target: 10^6 points < 60 s, < 4 GB]" if n == 1_000_000 else ""))


def ray_scaling() -> None:
    """The same 10^6 points on a local Ray instance of 1 and 2 worker processes (near-linear scaling expected;
    this machine has 2 cores)."""
    try:
        import ray
    except ImportError:
        print("explore on Ray: Ray not installed (pip install 'suanli[ray]')")
        return
    walls = {}
    for cpus in (1, 2):
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        sp = space(1_000_000)
        explore(sp, where="tpp<4800", goals="tok_s_per_chip:max,usd_per_mtok:min", ray="local")  # warm workers
        t = time.perf_counter()
        explore(sp, where="tpp<4800", goals="tok_s_per_chip:max,usd_per_mtok:min", ray="local")
        walls[cpus] = time.perf_counter() - t
        ray.shutdown()
    print(f"explore 1,000,000 points on Ray: {walls[1]:.2f} s with 1 worker, {walls[2]:.2f} s with 2: speed-up "
          f"{walls[1] / walls[2]:.2f}x on 2 workers")


if __name__ == "__main__":
    main()
    ray_scaling()
