"""NVIDIA's TensorRT-LLM performance pages: figures from `trtllm-bench` / gptManagerBenchmark, which drive the
executor in process (no HTTP server, no tokenizer on the request path)."""

from __future__ import annotations

from suanli.validate.data import Row

# the sources' own titles (public.csv `source`): TensorRT-LLM's perf overview and docs/source/performance pages
PHRASES = ("tensorrt-llm perf overview", "tensorrt-llm docs/source/performa")


def is_trtllm_bench(row: Row) -> bool:
    """Offline pages only: the "Online Serving Measurements" page sent requests to a server."""
    src = row.source.lower()
    return any(p in src for p in PHRASES) and "online serving" not in src
