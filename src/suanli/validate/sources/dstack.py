"""dstack's benchmarks (github.com/dstackai/benchmarks, comparison/h100sxm5_vs_mi300x): how their README says vLLM
was run. Its MI300X image `ghcr.io/embeddedllm/vllm-rocm:cb3b2b9` reports "vLLM Version: 0.6.3.dev109+gcb3b2b9b" in
the environment dump, and the MI300X offline runs (`benchmark_throughput.py`) pass `--enforce-eager`, both for
Meta's and for AMD's checkpoint; the serving runs and every H100 run use CUDA/HIP graphs."""

from __future__ import annotations

from suanli.validate.data import Row

SOURCE = "dstack benchmarks \"llama3.1-405b-fp8"
IMAGE_VERSIONS = {"embeddedllm/vllm-rocm:cb3b2b9": "0.6.3"}


def is_dstack_405b(row: Row) -> bool:
    return row.source.lower().startswith(SOURCE)


def engine_of(row: Row) -> str:
    """The engine with the version the benchmark's environment dump gives for its image."""
    for image, version in IMAGE_VERSIONS.items():
        if image in row.engine and is_dstack_405b(row):
            return f"vllm {version} ({image})"
    return row.engine


def graph_mode(row: Row) -> str | None:
    """'eager' where the README's command passed --enforce-eager, else None (the engine's own default)."""
    eager = is_dstack_405b(row) and row.hardware.startswith("mi300x") and row.scenario == "offline"
    return "eager" if eager else None
