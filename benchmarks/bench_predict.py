"""Speed of the step-level model: one warm `predict` call, and `compare` over 10 systems.

Targets: one warm predict of issue 25's point (Llama-2-7B, one A100, batch 1, 2,048 in / 128 out) at most 50 us
median, printed next to llm-analysis's time for the same point when that package is installed (issue 3: any
predict under 1 ms); compare over 10 systems under 50 ms. Prints the figures.
Run: python benchmarks/bench_predict.py
"""

from __future__ import annotations

import statistics
import time

from suanli.api import compare, predict
from suanli.catalog import catalog


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def llm_analysis_time() -> str:
    """llm-analysis's inference estimate of the same point, timed the same way, or why it was not."""
    try:
        from llm_analysis.analysis import infer
    except ImportError:
        return "llm-analysis not installed (pip install llm-analysis to time it here)"
    call = lambda: infer(model_name="NousResearch_Llama-2-7b-hf", gpu_name="a100-sxm-80gb",  # noqa: E731
                         dtype_name="w16a16e16", batch_size_per_gpu=1, seq_len=2048, num_tokens_to_generate=128,
                         log_level="ERROR")  # its bundled config of Llama-2-7B: no download
    try:
        call()
    except Exception as e:  # noqa: BLE001 - a third-party tool's failure is reported, not fatal
        return f"llm-analysis failed on the point ({type(e).__name__})"
    ts = timed(call, 200)
    return f"llm-analysis: median {statistics.median(ts) * 1e6:.0f} us"


def main() -> None:
    point = lambda: predict("llama-2-7b", "1xa100-sxm", batch=1, input=2048, output=128)  # noqa: E731
    point()
    ts = timed(point, 3000)
    print(f"predict (llama-2-7b, 1xa100-sxm, batch 1, 2048/128, warm): median {statistics.median(ts) * 1e6:.1f} us, "
          f"p90 {sorted(ts)[int(0.9 * len(ts))] * 1e6:.1f} us  [target <= 50 us median]; {llm_analysis_time()}")
    call = lambda: predict("llama-3.1-70b", "dgx-h100", tp=8, precision="fp8", batch=64, input=2048, output=128)  # noqa: E731
    call()  # warm: catalog loaded, architecture parsed
    ts = timed(call, 300)
    print(f"predict (llama-3.1-70b, dgx-h100, tp8, fp8, batch 64): median {statistics.median(ts) * 1e3:.3f} ms, "
          f"p90 {sorted(ts)[int(0.9 * len(ts))] * 1e3:.3f} ms  [target < 1 ms median]")

    cat = catalog()
    preferred = ["dgx-h100", "dgx-h200", "dgx-b200", "gb200-nvl72", "mi300x-8", "atlas-800-a2", "hgx-h20",
                 "dgx-a100", "tpu-v6e-8", "cloudmatrix-384", "gaudi3-8", "mi355x-8"]
    systems = [s for s in preferred if s in cat.systems][:10]
    systems += [s for s in cat.systems if s.startswith("1x")][: 10 - len(systems)]
    run = lambda: compare("llama-3.1-70b", systems, input=2048, output=512, precision="fp8")  # noqa: E731
    run()
    ts = timed(run, 10)
    print(f"compare over {len(systems)} systems ({', '.join(systems)}): median {statistics.median(ts) * 1e3:.1f} ms "
          f" [target < 50 ms]")


if __name__ == "__main__":
    main()
