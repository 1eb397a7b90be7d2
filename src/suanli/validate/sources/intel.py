"""Intel's MLPerf v5.1 harnesses: pinned SGLang CPU instances per core slice on Xeon, and vLLM instances of TP x PP
Arc GPUs with quantized activations on Arc Pro B60, as their published code configures them."""

from __future__ import annotations

from suanli.validate.data import Row

# Intel's MLPerf v5.1 CPU code (closed/Intel/code/llama3_1-8b/pytorch-cpu/configure_workload.sh, github.com/mlcommons/
# inference_results_v5.1; Cisco, Lenovo and VMware ran the same code): one SGLang server per slice of cores, pinned
# with taskset, with at most MAX_REQUESTS running requests; per scenario (cores per instance, running requests):
# Server 42 cores / 32 requests (32 cores on 192-core machines), Offline 7 cores / 64 (8 on 192-core machines).
INTEL_CPU_SLICES = {"server": (42, 32), "offline": (7, 64)}
INTEL_CPU_SLICES_192 = {"server": (32, 32), "offline": (8, 64)}


# Intel's MLPerf v5.1 XPU code (closed/Intel/code/llama3_1-8b/pytorch-xpu/model_init/<model>/init_env_<scenario>,
# init_env_base, SUT.py; github.com/mlcommons/inference_results_v5.1): one vLLM instance per TP x PP group of Arc
# GPUs, (tp, pp, max_num_seqs) per (model, scenario); int4 weights with quantized activations, int8 KV cache.
# (tp, pp, max_num_seqs, gpu_memory_utilization, kv_cache_dtype) per (model, scenario). The 8B runs use the Triton
# paged attention (VLLM_XPU_PA_IMPL=triton), for which utils_model.py sets utilization 0.9 and an fp8_e5m2 cache;
# the 70B runs keep SUT.py's int8 cache at utilization 0.955 (0.99 in Server, init_env_server).
INTEL_XPU_RUNS = {("llama-3.1-8b", "offline"): (1, 1, 128, 0.9, "fp8"),
                  ("llama-3.1-8b", "server"): (1, 1, 448, 0.9, "fp8"),
                  ("llama-2-70b", "offline"): (1, 4, 768, 0.955, "int8"),
                  ("llama-2-70b", "server"): (2, 1, 160, 0.99, "int8")}


def intel_xpu_mlperf(row: Row) -> bool:
    return "mlperf inference v5.1" in (row.source + " " + row.notes).lower() and "intel xpu" in row.engine.lower()


def cpu_instances(row: Row, chip) -> tuple[int, int, int] | None:
    """(instances per socket, cores each, running requests each) for rows run with Intel's MLPerf CPU harness."""
    if not ("mlperf inference v5.1" in row.source.lower() or "mlperf inference v5.1" in row.notes.lower()) \
            or chip.category != "cpu" or "cpu" not in row.engine.lower() or row.model != "llama-3.1-8b" \
            or not chip.cores:
        return None
    table = INTEL_CPU_SLICES_192 if chip.cores * row.n_accel == 192 else INTEL_CPU_SLICES
    if row.scenario not in table:
        return None
    cores, seqs = table[row.scenario]
    per_chip = max(1, chip.cores // cores)
    return per_chip, cores, seqs
