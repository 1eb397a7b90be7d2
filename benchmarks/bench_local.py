"""Measuring this machine, end to end: `suanli probe`, `suanli run` of smollm2-135m, `suanli calibrate --from-probe`.

Prints the time of each command, the probe's figures (GEMM TFLOPS per dtype, memory GB/s), and the prediction
errors: the runs `run` measured (held out: the probe's own calibration never saw their shapes), and after
`calibrate --from-probe` its fit and held-out errors. Targets (issue 8): probe < 60 s, run < 120 s, held-out
output tok/s within 25% and TTFT within 35%. Works in a temporary SUANLI_HOME, so the user's own files are untouched.
Run: python benchmarks/bench_local.py [--batch 1,4,16]   (needs `pip install 'suanli[local]'`; says so otherwise)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path


def suanli(home: str, *args: str) -> tuple[dict, float]:
    exe = str(Path(sys.executable).parent / "suanli")
    t = time.perf_counter()
    r = subprocess.run([exe, *args, "--json"], capture_output=True, text=True, env={**os.environ, "SUANLI_HOME": home})
    took = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"suanli {' '.join(args)} failed: {r.stderr.strip()}")
    return json.loads(r.stdout), took


def errors(rows: list[dict], label: str) -> None:
    for r in rows:
        e = r["error"]
        print(f"  {label:9s} batch {r['batch']:>3} input {r['input']:>4} output {r['output']:>3}: "
              f"TTFT {r['measured']['ttft_ms']:8.1f} ms ({e['ttft_ms']:+.1%}), TPOT {r['measured']['tpot_ms']:7.2f} ms "
              f"({e['tpot_ms']:+.1%}), {r['measured']['output_tok_s']:7.1f} tok/s ({e['output_tok_s']:+.1%})")


def worst(rows: list[dict], key: str) -> float:
    return max((abs(r["error"][key]) for r in rows), default=float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", default="1,4,16")
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    if not all(find_spec(m) for m in ("torch", "transformers", "scipy")):
        print("bench_local: skipped: needs the local extra (pip install 'suanli[local]')")
        return
    with tempfile.TemporaryDirectory(prefix="suanli-bench-") as home:
        probe, probe_s = suanli(home, "probe")
        b = probe["bench"]
        print(f"probe: {probe_s:.1f} s wall [target < 60 s] on {probe['machine']['name']}, "
              f"{probe['machine']['cores']} cores; other load {probe['other_load']}")
        print("  GEMM peak TFLOPS: " + ", ".join(f"{d} {v:.3f}" for d, v in b["rates_tflops"].items())
              + f"; memory read {b['bandwidth']['read_gb_s']:.1f} GB/s, copy {b['bandwidth']['copy_gb_s']:.1f} GB/s;"
              f" weight streaming {b['weight_streaming']['gb_s']:.1f} GB/s; one eager op {b['kernel_us']:.2f} us")
        cal = probe["calibration"]
        print("  probe calibration factors: " + ", ".join(f"{k}={v:.4g}" for k, v in cal["factors"].items()))
        errors(cal["fit_runs"], "fit")
        errors(cal["heldout_runs"], "held-out")
        run, run_s = suanli(home, "run", "--model", args.model, "--input", "256", "--output", "64", "--batch",
                            args.batch)
        print(f"run: {run_s:.1f} s wall [target < 120 s] ({args.model}, {run['precision']}, batch {args.batch}, "
              f"input 256, output 64); other load {run['other_load']}")
        errors(run["runs"], "held-out")
        print(f"  worst held-out |error|: output tok/s {worst(run['runs'], 'output_tok_s'):.1%} [target <= 25%], "
              f"TTFT {worst(run['runs'], 'ttft_ms'):.1%} [target <= 35%]")
        refit, refit_s = suanli(home, "calibrate", "--from-probe")
        print(f"calibrate --from-probe: {refit_s:.1f} s; every third recorded run held out")
        errors(refit["fit_runs"], "fit")
        errors(refit["heldout_runs"], "held-out")
        print(f"  worst held-out |error|: output tok/s {worst(refit['heldout_runs'], 'output_tok_s'):.1%}, "
              f"TTFT {worst(refit['heldout_runs'], 'ttft_ms'):.1%}")


if __name__ == "__main__":
    main()
