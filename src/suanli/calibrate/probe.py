"""Micro-benchmarks of the CPU through torch: GEMM rates by dtype and shape, memory bandwidth, attention kernels,
elementwise bandwidth and the fixed cost of one eager op. Each figure is warmed up once, repeated (up to a time
budget) and reported as best (min time) and median.

Threads are pinned before torch starts: as many OpenMP threads as cores this process may use, bound to cores, and
spinning between parallel regions (OMP_WAIT_POLICY=ACTIVE). On small VMs the default passive wait costs a
scheduler tick (~4 ms) per parallel region, which would hide the hardware behind the OS. Settings the user already
exported are kept; all are recorded with the software versions, as is `keep_freed_memory` (malloc tuning).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from suanli.schema import SuanliError

EXTRA_HINT = "pip install 'suanli[local]'"
CPU_DTYPES = ("bf16", "fp32", "fp16")
# (name, M, N, K): square GEMMs, a prefill-like GEMM (tokens x out x in), and decode GEMMs of batch 16 and 1.
GEMM_SHAPES = (("square-1024", 1024, 1024, 1024), ("square-2048", 2048, 2048, 2048),
               ("prefill-2048x4096x1024", 2048, 4096, 1024), ("decode-16x4096x4096", 16, 4096, 4096),
               ("decode-1x4096x4096", 1, 4096, 4096))
SLOW_S = 0.3  # a shape whose single call would take longer than this at the dtype's rate is skipped


MALLOC: dict[str, str] = {}
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse instead of returning each large block to the OS.

    torch's CPU allocator does not cache: with glibc's defaults every activation above the (dynamic) mmap threshold
    is mapped and unmapped again, and each forward pays page faults for it (~20% of a prefill on a small VM). How
    large that is depends on what the process did before, so a probe and a run would disagree; an engine keeps
    its buffers. Linux/glibc only; recorded with the software versions."""
    if MALLOC or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, 256 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):  # not glibc
        return
    if ok:
        MALLOC.update(mmap_threshold="256 MiB", trim_threshold="1 GiB")


def prepare_threads(threads: int | None = None) -> dict[str, str]:
    """Set the OpenMP environment before torch is imported (and keep freed memory); returns what is in force."""
    keep_freed_memory()
    from suanli.calibrate.localchip import usable_cores

    n = str(threads or usable_cores())
    wanted = {"OMP_NUM_THREADS": n, "OMP_WAIT_POLICY": "ACTIVE", "OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}
    if threads:
        os.environ["OMP_NUM_THREADS"] = n
    for k, v in wanted.items():
        os.environ.setdefault(k, v)
    return {k: os.environ[k] for k in wanted}


def check_extra(command: str, modules: tuple[str, ...] = ("torch", "transformers")) -> None:
    """One line naming the extra to install when a module of it is missing (nothing is imported)."""
    from importlib.util import find_spec

    missing = [m for m in modules if find_spec(m) is None]
    if missing:
        raise SuanliError(f"suanli {command} needs {' and '.join(missing)}: {EXTRA_HINT}")


def need_torch(command: str):
    """torch, or a one-line error naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise SuanliError(f"suanli {command} needs torch and transformers: {EXTRA_HINT}") from None
    return torch


def torch_dtype(torch, name: str):
    """torch dtype of a suanli dtype name; tf32 is fp32 storage with TF32 matmuls allowed (GPUs)."""
    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


@dataclass
class Timing:
    min_s: float
    median_s: float
    reps: int


def timeit(fn: Callable[[], object], reps: int = 5, budget_s: float = 0.6,
           sync: Callable[[], None] = lambda: None) -> Timing:
    """Warm up once, then repeat until `reps` runs or the time budget is spent (at least two runs)."""
    fn()
    sync()
    ts: list[float] = []
    start = time.perf_counter()
    while len(ts) < reps and (len(ts) < 2 or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return Timing(min(ts), statistics.median(ts), len(ts))


def software(torch=None) -> dict[str, str]:
    """Versions and thread settings that the measured figures depend on."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    import numpy

    out["numpy"] = numpy.__version__
    if torch is not None:
        out["torch"] = torch.__version__
        out["torch_threads"] = str(torch.get_num_threads())
        cfg = torch.__config__.show()
        libs = {"MKL": "mkl", "oneDNN": "mkl-dnn", "OpenBLAS": "openblas", "Accelerate": "accelerate"}
        out["blas"] = ", ".join(k for k, v in libs.items() if v in cfg.lower()) or "unknown"
        if torch.cuda.is_available():
            out["cuda"] = str(torch.version.cuda)
    tf = sys.modules.get("transformers")
    if tf is None:
        try:
            from importlib.metadata import version

            out["transformers"] = version("transformers")
        except Exception:  # noqa: BLE001 - not installed
            pass
    else:
        out["transformers"] = tf.__version__
    for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "OMP_PLACES"):
        if k in os.environ:
            out[k] = os.environ[k]
    if MALLOC:
        out["malloc"] = ", ".join(f"{k} {v}" for k, v in MALLOC.items())
    return out


def gemm_table(torch, dtypes=CPU_DTYPES, shapes=GEMM_SHAPES, device: str = "cpu",
               sync: Callable[[], None] = lambda: None, budget_s: float = 0.4) -> dict[str, dict]:
    """GEMM rates by dtype and shape: {dtype: {"peak_tflops", "shapes": {name: {tflops_best, ...}}}}."""
    out: dict[str, dict] = {}
    for name in dtypes:
        dt = torch_dtype(torch, name)
        if device != "cpu":
            torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
        try:
            a, b = torch.randn(256, 256, device=device).to(dt), torch.randn(256, 256, device=device).to(dt)
            first = timeit(lambda a=a, b=b: a @ b, reps=3, budget_s=0.2, sync=sync)
        except RuntimeError as e:  # dtype not supported by this build
            out[name] = {"skipped": str(e).splitlines()[0]}
            continue
        rate = 2 * 256**3 / first.min_s
        rows: dict[str, dict] = {"small-256": _row(2 * 256**3, first)}
        for sname, m, n, k in shapes:
            flops = 2.0 * m * n * k
            if flops / rate > SLOW_S:
                rows[sname] = {"skipped": f"would take {flops / rate:.1f} s per call at {rate / 1e12:.4f} TFLOPS"}
                continue
            a = torch.randn(m, k, device=device).to(dt)
            w = torch.randn(n, k, device=device).to(dt)  # weights stored [out, in] as in nn.Linear
            rows[sname] = _row(flops, timeit(lambda a=a, w=w: a @ w.t(), reps=5, budget_s=budget_s, sync=sync))
            rate = max(rate, rows[sname]["tflops_best"] * 1e12)
        measured = [r["tflops_best"] for r in rows.values() if "tflops_best" in r]
        out[name] = {"peak_tflops": max(measured), "shapes": rows}
    return out


def _row(flops: float, t: Timing) -> dict:
    return {"tflops_best": flops / t.min_s / 1e12, "tflops_median": flops / t.median_s / 1e12,
            "ms_min": t.min_s * 1e3, "ms_median": t.median_s * 1e3, "reps": t.reps}


MAX_ARRAY_BYTES = 1e9  # a first touch of 3 GB took 22 s on a VM reporting a 480 MB L3 (page faults, not bandwidth)


def _array_bytes(cpu: dict) -> int:
    """Big enough to defeat the last-level cache (streaming twice its size through it evicts every line), small
    enough for the memory at hand and to be touched in well under a second."""
    llc = (cpu.get("llc_mb") or 32) * 1e6
    want = max(512e6, 16 * llc)
    return int(min(want, MAX_ARRAY_BYTES, cpu.get("mem_available_gb", 8) * 1e9 / 8))


def bandwidth(torch, cpu: dict, device: str = "cpu", sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Memory bandwidth in GB/s: read (sum of a large fp32 tensor) and copy (read + write)."""
    n = _array_bytes(cpu) // 4
    x = torch.ones(n, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    read = timeit(lambda: x.sum(), reps=9, budget_s=1.0, sync=sync)
    copy = timeit(lambda: y.copy_(x), reps=5, budget_s=1.0, sync=sync)
    size = n * 4
    return {"read_gb_s": size / read.min_s / 1e9, "read_gb_s_median": size / read.median_s / 1e9,
            "copy_gb_s": 2 * size / copy.min_s / 1e9, "copy_gb_s_median": 2 * size / copy.median_s / 1e9,
            "array_mb": size / 1e6}


def weight_streaming(torch, cpu: dict, dtype: str, device: str = "cpu",
                     sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Decode-like GEMV (one token) over distinct weight matrices far larger than the cache: GB/s of weights read."""
    dt = torch_dtype(torch, dtype)
    n, k = 4096, 4096
    per = n * k * torch.tensor([], dtype=dt).element_size()
    count = max(4, int(_array_bytes(cpu) // 2 // per))
    ws = [torch.randn(n, k, device=device).to(dt) for _ in range(count)]
    x = torch.randn(1, k, device=device).to(dt)

    def run() -> None:
        for w in ws:
            x @ w.t()

    t = timeit(run, reps=5, budget_s=1.0, sync=sync)
    return {"dtype": dtype, "gb_s": count * per / t.min_s / 1e9, "gb_s_median": count * per / t.median_s / 1e9,
            "matrices": count, "mb": count * per / 1e6}


def attention(torch, dtype: str, device: str = "cpu", sync: Callable[[], None] = lambda: None,
              prefill: tuple[int, int, int] = (8, 1024, 64), decode: tuple[int, int, int, int] = (8, 8, 2048, 64)
              ) -> dict[str, float]:
    """scaled_dot_product_attention: causal prefill TFLOPS, and decode (one query over a cache) GB/s of KV read."""
    import torch.nn.functional as F

    dt = torch_dtype(torch, dtype)
    h, s, d = prefill
    q, k, v = (torch.randn(1, h, s, d, device=device).to(dt) for _ in range(3))
    tp = timeit(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), reps=5, budget_s=0.5, sync=sync)
    flops = 4.0 * h * s * s * d / 2
    b, h2, ctx, d2 = decode
    q1 = torch.randn(b, h2, 1, d2, device=device).to(dt)
    kc, vc = (torch.randn(b, h2, ctx, d2, device=device).to(dt) for _ in range(2))
    td = timeit(lambda: F.scaled_dot_product_attention(q1, kc, vc), reps=7, budget_s=0.5, sync=sync)
    kv = 2 * kc.numel() * kc.element_size()
    return {"dtype": dtype, "prefill_tflops": flops / tp.min_s / 1e12, "prefill_ms": tp.min_s * 1e3,
            "prefill_shape": f"heads {h}, seq {s}, head_dim {d}, causal",
            "decode_gb_s": kv / td.min_s / 1e9, "decode_ms": td.min_s * 1e3,
            "decode_shape": f"batch {b}, heads {h2}, context {ctx}, head_dim {d2}"}


def elementwise(torch, cpu: dict, dtype: str, device: str = "cpu",
                sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """An elementwise op over a large tensor (read + write): GB/s."""
    dt = torch_dtype(torch, dtype)
    n = _array_bytes(cpu) // 2 // torch.tensor([], dtype=dt).element_size()
    x = torch.ones(n, dtype=dt, device=device)
    y = torch.empty_like(x)
    t = timeit(lambda: torch.mul(x, 2.0, out=y), reps=5, budget_s=0.8, sync=sync)
    size = 2 * n * x.element_size()
    return {"dtype": dtype, "gb_s": size / t.min_s / 1e9, "gb_s_median": size / t.median_s / 1e9}


def kernel_us(torch, device: str = "cpu", sync: Callable[[], None] = lambda: None) -> float:
    """Fixed cost of one eager op on a tiny tensor (dispatch, launch), microseconds: median of batches of 500."""
    a = torch.ones(64, device=device)
    b = torch.ones(64, device=device)
    c = torch.empty(64, device=device)

    def run() -> None:
        for _ in range(500):
            torch.add(a, b, out=c)

    return timeit(run, reps=7, budget_s=0.5, sync=sync).median_s / 500 * 1e6


def probe_cpu(torch, cpu: dict) -> dict:
    """All CPU micro-benchmarks; the dtype the model runs at is the fastest measured of bf16 and fp32."""
    from suanli.calibrate.localchip import matrix_tile_rows

    gemm = gemm_table(torch)
    rates = {d: g["peak_tflops"] for d, g in gemm.items() if "peak_tflops" in g}
    best = max(("bf16", "fp32"), key=lambda d: rates.get(d, 0.0))
    bw = bandwidth(torch, cpu)
    return {"gemm": gemm, "rates_tflops": rates, "best_dtype": best, "bandwidth": bw,
            "weight_streaming": weight_streaming(torch, cpu, best), "attention": attention(torch, best),
            "elementwise": elementwise(torch, cpu, best), "kernel_us": kernel_us(torch),
            "gemm_tile_m": matrix_tile_rows(cpu.get("simd", [])), "largest_gemm": "2048x4096x1024"}


