"""MLPerf Inference results (rounds v4.1 and v5.1): what a result's path, its submitter's published harness config
and the benchmark's rules say about the run (layout, engine batch, beams, the reference harness's single server,
weight formats reported elsewhere)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from suanli.engines import resolve_engine
from suanli.validate.data import Row


def is_mlperf(row: Row) -> bool:
    return "mlperf" in row.source.lower()


# MLPerf reference SUTs that feed the engine a fixed number of samples at a time, by benchmark name in the URL:
# language/llama3.1-8b/SUT_VLLM.py queues `batch_size` samples per LLM.generate call, main.py --batch-size
# default 1 (github.com/mlcommons/inference, commit c8eb2599; the -edge variant runs the same code). The llama2-70b
# API SUT sends all queries at once.
REFERENCE_SUT_BATCH = {"llama3_1-8b": 1}

MLPERF_CONFIGS = Path(__file__).parent.parent / "mlperf_configs.csv"
_MLPERF_URL = re.compile(r"inference_results_(v[\d.]+)/blob/[^/]+/(closed|open)/([^/]+)/results/([^/]+)/([^/]+)/"
                         r"([^/]+)/")


@cache
def mlperf_configs() -> dict[tuple[str, ...], dict]:
    """The TensorRT-LLM harness settings MLPerf submitters published with their results (configs/ in each
    submission): layout and engine batch per (round, submitter, system, benchmark, scenario)."""
    import csv
    if not MLPERF_CONFIGS.exists():
        return {}
    out = {}
    with MLPERF_CONFIGS.open() as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            key = (r["version"], r["submitter"], r["system_id"], r["benchmark"], r["scenario"].lower())
            out[key] = {"tp": _int(r, "tensor_parallelism"), "pp": _int(r, "pipeline_parallelism"),
                        "ep": _int(r, "moe_expert_parallelism"), "batch": _int(r, "gpu_batch_size"),
                        "adp": (r.get("enable_attention_dp") or "").strip().lower() == "true",
                        "budget": _budget(r.get("max_num_tokens") or ""), "path": r["config_path"],
                        "balance": _balance(r), "memory": _float(r, "kvcache_free_gpu_mem_frac"),
                        "qps": _float(r, "server_target_qps"), "power": _float(r, "power_limit"),
                        "chunked": {"true": True, "false": False}.get((r.get("enable_chunked_context") or "").strip()),
                        "reserves": {"max_util": False, "guaranteed_no_evict": True}.get(
                            (r.get("batch_scheduler_policy") or "").strip())}
    return out


def _balance(r: dict) -> tuple[int, int] | None:
    """Attention-DP balancing, (timeout_iters, batching_wait_iters), where the harness turned it on."""
    t, w = _int(r, "adp_balance_timeout_iters"), _int(r, "adp_balance_batching_wait_iters")
    return (t, w or 0) if t else None


def _budget(text: str) -> int | None:
    """The engine's token budget per step at run time: `1536`, or `build:1536|runtime:12000` (the runtime one)."""
    m = re.search(r"runtime:(\d+)", text) or re.fullmatch(r"\s*(\d+)\s*", text)
    return int(m.group(1)) if m else None


def _float(r: dict, key: str) -> float | None:
    v = (r.get(key) or "").strip()
    return float(v) if v else None


def _int(r: dict, key: str) -> int | None:
    v = (r.get(key) or "").strip()
    return int(v) if v.isdigit() else None


def mlperf_result(row: Row) -> tuple[str, ...] | None:
    """(round, submitter, system, benchmark, scenario) of an MLPerf result row, from the result's path in its URL."""
    m = _MLPERF_URL.search(row.url)
    if not m:
        return None
    version, _, submitter, system, benchmark, scenario = m.groups()
    return version, submitter, system, benchmark, scenario.lower()


def mlperf_config(row: Row) -> dict | None:
    """The published harness config of an MLPerf result row."""
    key = mlperf_result(row)
    return mlperf_configs().get(key) if key else None


def target_qps(row: Row) -> tuple[float, str] | None:
    """The rate LoadGen sent a Server or Interactive run (queries/s, Poisson) and where it is stated: the result's
    target_qps in the row's notes, else the submitter's config (server_target_qps)."""
    if not is_mlperf(row) or row.scenario not in ("server", "interactive"):
        return None
    m = re.search(r"target_qps=([\d.]+)", row.notes or "")
    if m:
        return float(m.group(1)), "the result's target_qps"
    cfg = mlperf_config(row)
    return (cfg["qps"], f"the submitter's server_target_qps, {cfg['path']}") if cfg and cfg.get("qps") else None


# Weight formats of MLPerf results whose own files do not state them, from reporting on the result: (round,
# submitter, system, benchmark, scenario) -> (precision, source).
_B200_V41 = ("fp4", "Tom's Hardware, 2024-08-28, 'Nvidia publishes first Blackwell B200 MLPerf results: Up to 4X "
                    "faster than its H100 predecessor, when using FP4' ('Nvidia's Blackwell processor used FP4 "
                    "precision'; copy: worldnl.com/nvidia-publishes-first-blackwell-b200-mlperf-results-up-to-4x-"
                    "faster-than-its-h100-predecessor-when-31162.html)")
RESULT_PRECISION = {("v4.1", "NVIDIA", "B200-SXM-180GBx1_TRT", bench, sc): _B200_V41
                    for bench in ("llama2-70b-99", "llama2-70b-99.9") for sc in ("offline", "server")}


def through_one_api_server(row: Row) -> bool:
    """MLPerf runs of the reference implementation with a vLLM backend (systems named "...-reference-..." by
    MLCommons' CM automation): its SUT drives one engine, through a single OpenAI-compatible server (SUT_API.py
    asserts one `api_server`) or in process (SUT_VLLM.py), launched without tuning flags."""
    return ("mlperf" in row.source.lower() and "-reference-" in row.url
            and resolve_engine(row.engine, strict=False).id == "vllm")
