"""The same probe on a GPU through torch.cuda: GEMM by shape and dtype, HBM bandwidth, attention kernels.

Used by `suanli probe --device cuda` (and `suanli run --device cuda`) when torch sees a CUDA (or ROCm) device;
without one the command says so in one line. Timings synchronise the device around each repetition.
"""

from __future__ import annotations

from suanli.calibrate.probe import attention, bandwidth, elementwise, gemm_table, kernel_us, weight_streaming
from suanli.schema import SuanliError

GPU_DTYPES = ("bf16", "fp16", "tf32", "fp32")
GPU_SHAPES = (("square-4096", 4096, 4096, 4096), ("square-8192", 8192, 8192, 8192),
              ("prefill-8192x8192x4096", 8192, 8192, 4096), ("prefill-2048x4096x4096", 2048, 4096, 4096),
              ("decode-64x8192x8192", 64, 8192, 8192), ("decode-16x8192x8192", 16, 8192, 8192),
              ("decode-1x8192x8192", 1, 8192, 8192))


def no_gpu_error(torch) -> SuanliError:
    build = "a CPU-only build" if not torch.version.cuda and not getattr(torch.version, "hip", None) else \
        f"CUDA {torch.version.cuda}"
    return SuanliError(f"--device cuda: no CUDA GPU is visible to torch on this machine (torch {torch.__version__}, "
                       f"{build}); use --device cpu")


def detect_gpu(torch, index: int = 0) -> dict:
    """Facts of GPU `index` that need no benchmark."""
    if not torch.cuda.is_available():
        raise no_gpu_error(torch)
    p = torch.cuda.get_device_properties(index)
    free, total = torch.cuda.mem_get_info(index)
    vendor = "amd" if getattr(torch.version, "hip", None) else "nvidia"
    l2 = getattr(p, "L2_cache_size", 0) or 0
    return {"name": p.name, "vendor": vendor, "arch": f"sm_{p.major}{p.minor}" if vendor == "nvidia" else
            getattr(p, "gcnArchName", "gpu"), "cores": p.multi_processor_count, "simd": None,
            "caches": {"L2": f"{l2 // 1024}K"} if l2 else {}, "llc_mb": round(l2 / 2**20, 3) or None,
            "mem_total_gb": round(total / 1e9, 3), "mem_available_gb": round(free / 1e9, 3),
            "capability": f"{p.major}.{p.minor}"}


def probe_gpu(torch, gpu: dict) -> dict:
    """All GPU micro-benchmarks; the model runs at bf16 (fp16 where bf16 is not supported)."""
    device = "cuda"
    sync = torch.cuda.synchronize
    gemm = gemm_table(torch, GPU_DTYPES, GPU_SHAPES, device=device, sync=sync, budget_s=0.5)
    torch.backends.cuda.matmul.allow_tf32 = False
    rates = {d: g["peak_tflops"] for d, g in gemm.items() if "peak_tflops" in g}
    best = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    facts = {**gpu, "llc_mb": gpu.get("llc_mb") or 64}
    bw = bandwidth(torch, {**facts, "llc_mb": max(facts["llc_mb"], 128)}, device, sync)
    return {"gemm": gemm, "rates_tflops": rates, "best_dtype": best, "bandwidth": bw,
            "weight_streaming": weight_streaming(torch, facts, best, device, sync),
            "attention": attention(torch, best, device, sync, prefill=(32, 4096, 128), decode=(16, 32, 4096, 128)),
            "elementwise": elementwise(torch, facts, best, device, sync),
            "kernel_us": kernel_us(torch, device, sync), "gemm_tile_m": 64.0, "largest_gemm": "8192x8192x8192"}
