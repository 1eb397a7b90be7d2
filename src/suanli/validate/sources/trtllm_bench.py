"""NVIDIA's TensorRT-LLM performance pages: figures from `trtllm-bench` / gptManagerBenchmark, which drive the
executor in process (no HTTP server, no tokenizer on the request path)."""

from __future__ import annotations

from suanli.validate.data import Row

# the sources' own titles (public.csv `source`): TensorRT-LLM's perf overview and docs/source/performance pages
PHRASES = ("tensorrt-llm perf overview", "tensorrt-llm docs/source/performa")


def is_trtllm_bench(row: Row) -> bool:
    """Every page, the v0.14 "Online Serving Measurements" too: its TTFTs are those of the executor's own steps
    (18.5 % MAPE predicted without a server front end, 175 % with the 78 ms that the trtllm-serve and Dynamo runs of
    serving.csv show), so whatever sent its requests added no server path measurable at this resolution."""
    src = row.source.lower()
    return any(p in src for p in PHRASES)
