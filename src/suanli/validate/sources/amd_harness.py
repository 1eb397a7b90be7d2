"""AMD's MLPerf LLM harness (`harness_llm`, vLLM on Instinct GPUs): the engine settings of a Server, Interactive or
Offline result, from the config its measurement README names (`--config-name`), as transcribed from the submission.

Read from github.com/mlcommons/inference_results_v5.1 at 965182b03376a00fcae415c54e560e1c83937932:
closed/<submitter>/code/<benchmark>/harness_llm/models/{llama2-70b,mixtral-8x7b}/<config>.yaml (tensor_parallel_size
1, device_count 8: one engine per GPU), the config named by closed/<submitter>/measurements/<system>/<benchmark>/
<scenario>/README.md. Where `VLLM_LLAMA2_MLPERF_SCHED` is set, AMD's scheduler patch (closed/AMD/setup/vllm_patches/
scheduler-change-to-have-prefill-and-decode-reach-go.patch) admits prompts only while fewer than
`VLLM_LLAMA2_MLPERF_MAX_TARGET_DECODE_BATCH` sequences run: that is the engine's batch limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.validate.data import Row
from suanli.validate.sources.mlperf import mlperf_result


@dataclass(frozen=True)
class HarnessConfig:
    name: str  # the config file
    scheduler_steps: int | None  # num_scheduler_steps (None: not set, the engine's default)
    chunked_prefill: bool | None  # enable_chunked_prefill (False on vLLM V0: prompts whole, in steps of their own)
    token_budget: int  # max_num_batched_tokens
    max_seqs: int  # max_num_seqs, or the scheduler patch's target decode batch where it is lower
    memory: float | None = None  # gpu_memory_utilization, where the config sets it
    dispatch: tuple[float, int] | None = None  # the harness's batcher: (seconds, queries) it holds at most

    def launch(self) -> tuple:
        """The engine features these settings set (`Setup.launch`)."""
        out: tuple = (("token_budget", self.token_budget),)
        if self.scheduler_steps is not None:
            out += (("scheduler_steps", self.scheduler_steps),)
        if self.chunked_prefill is not None:
            out += (("chunked_prefill", self.chunked_prefill), ("mixed_batches", self.chunked_prefill))
        return out


_LLAMA2 = "harness_llm/models/llama2-70b/"
_MIXTRAL = "harness_llm/models/mixtral-8x7b/"
CONFIGS = {
    # max_num_seqs 650; VLLM_LLAMA2_MLPERF_MAX_TARGET_DECODE_BATCH 608
    "llama2/server_mi300x": HarnessConfig(_LLAMA2 + "server_mi300x.yaml", 9, False, 40960, 608),
    # max_num_seqs 1024; target decode batch 832
    "llama2/server_mi325x": HarnessConfig(_LLAMA2 + "server_mi325x.yaml", 9, False, 40960, 832),
    # max_num_seqs 600, the scheduler patch not switched on
    "llama2/interactive_mi300x": HarnessConfig(_LLAMA2 + "interactive_mi300x.yaml", 8, False, 40960, 600),
    # engine_version async, VLLM_USE_V1 1 (the V0 scheduler patch does not apply): max_num_seqs 3840
    "llama2/interactive_mi325x": HarnessConfig(_LLAMA2 + "interactive_mi325x.yaml", 1, True, 43008, 3840),
    "mixtral/server_mi300x": HarnessConfig(_MIXTRAL + "server_mi300x.yaml", 8, False, 32000, 4096),
    "mixtral/server_mi325x": HarnessConfig(_MIXTRAL + "server_mi325x.yaml", 10, False, 32000, 2560),
    # Vultr's copy: num_scheduler_steps 7
    "mixtral/server_mi325x-vultr": HarnessConfig(_MIXTRAL + "server_mi325x.yaml", 7, False, 32000, 2560),
    # Offline: the sync V0 engine, chunked prefill off, each engine given its share of the prompts in one
    # generate call; (num_scheduler_steps, max_num_batched_tokens, max_num_seqs, gpu_memory_utilization)
    "llama2/offline_mi300x": HarnessConfig(_LLAMA2 + "offline_mi300x.yaml", 11, False, 40960, 1792, 0.98),
    "llama2/offline_mi325x": HarnessConfig(_LLAMA2 + "offline_mi325x.yaml", 7, False, 65536, 2700, 0.98),
    # GigaComputing's and Vultr's copies
    "llama2/offline_mi325x-b": HarnessConfig(_LLAMA2 + "offline_mi325x.yaml", 11, False, 65000, 2700, 0.97),
    "mixtral/offline_mi300x": HarnessConfig(_MIXTRAL + "offline_mi300x.yaml", 9, False, 51200, 5000, 0.97),
    "mixtral/offline_mi325x": HarnessConfig(_MIXTRAL + "offline_mi325x.yaml", 13, False, 51200, 4736, 0.96),
    "mixtral/offline_mi325x-b": HarnessConfig(_MIXTRAL + "offline_mi325x.yaml", 13, False, 65000, 4736, 0.96),
}
# the submitters whose Offline configs differ from AMD's own (their copies' values above, "-b")
OFFLINE_B = ("GigaComputing", "Vultr")

# v4.1 (github.com/mlcommons/inference_results_v4.1 at 198fc46799b3328b36ee4bcbdebfa2db5a8e6183): AMD's Llama-2-70B
# Server results ran closed/AMD/code/llama2-70b-99.9/test_VllmFp8/test_VllmFp8_SyncServer_perf.sh (their measurement
# READMEs): --enable-batcher with VllmFp8/mainVllmFp8_SyncServer.py's argument defaults, --batcher-threshold 0.3
# ("Maximum time to wait before sending a batch to vLLM") and --gpu-batch-size 96 (sync_sut.py batch_samples_loop
# sends when either is reached, round robin over the engines: -dp 8, TP 1); --max-num-seqs 1024,
# --max-num-batched-tokens 49152, --gpu-memory-utilization 0.97; vLLM's own defaults otherwise (no multi-step, no
# chunked prefill set).
V41_SERVER = HarnessConfig("closed/AMD/code/llama2-70b-99.9/test_VllmFp8/test_VllmFp8_SyncServer_perf.sh", None, None,
                           49152, 1024, 0.97, (0.3, 96))
# Dell's v4.1 MI300X code holds copies of both scripts; its README's Server command, run_tests_Server.sh, runs
# test_VllmFp8_AsyncServer_perf.sh (closed/Dell/code/llama2-70b-99.9/README.md, test_VllmFp8/run_tests_Server.sh):
# --enable-batcher with VllmFp8/mainVllmFp8_AsyncServer.py's defaults, --batcher-threshold 0.4 and --gpu-batch-size
# 32 (async_sut.py batch_samples_loop, the same round robin over -dp 8 engines of TP 1), and its DefaultEngineInput:
# max_num_batched_tokens 65536, max_num_seqs 768, gpu_memory_utilization 0.97.
V41_DELL_SERVER = HarnessConfig("closed/Dell/code/llama2-70b-99.9/test_VllmFp8/test_VllmFp8_AsyncServer_perf.sh", None,
                                None, 65536, 768, 0.97, (0.4, 32))

# The v5.1 submissions run with AMD's harness: (submitter, system) -> the config each measurement README's
# --config-name picks, by GPU ("mi300x" / "mi325x"); the files are in closed/<submitter>/code/<benchmark>/
# (ASUSTeK: code_AMD/). Supermicro's MI325X results ran MangoBoost's LLMBoost instead and are not here.
SYSTEMS = {
    ("AMD", "8xMI300X_2xEPYC_9575F"): "mi300x", ("AMD", "8xMI325X_2xEPYC_9575F_1"): "mi325x",
    ("AMD", "8xMI325X_2xEPYC_9575F_2"): "mi325x", ("ASUSTeK", "ESC_A8A_MI325X_256GBx8"): "mi325x",
    ("Dell", "XE9680_MI300X_192GBx8"): "mi300x", ("GigaComputing", "8xMI325X_2xEPYC_9575F"): "mi325x",
    ("MiTAC", "8xMI325X_2xEPYC_9755"): "mi325x", ("Quanta_Cloud_Technology", "D75T-7U_8xMI325X"): "mi325x",
    ("Vultr", "8xMI325X_2xEPYC_9554"): "mi325x", ("Vultr", "8xMI325X_2xEPYC_9575F"): "mi325x",
}


def harness_config(row: Row) -> HarnessConfig | None:
    """The harness settings of an MLPerf result run with AMD's harness (v4.1, v5.1), where transcribed."""
    key = mlperf_result(row)
    if key and key[0] == "v4.1" and key[3].startswith("llama2-70b") and key[4] == "server":
        if key[1] == "AMD":
            return V41_SERVER
        return V41_DELL_SERVER if key[1:3] == ("Dell", "XE9680_MI300X_192GBx8") else None
    if not key or key[0] != "v5.1" or key[4] not in ("server", "interactive", "offline"):
        return None
    gpu = SYSTEMS.get((key[1], key[2]))
    model = "llama2" if key[3].startswith("llama2-70b") else "mixtral" if key[3] == "mixtral-8x7b" else None
    if not gpu or not model:
        return None
    name = f"{model}/{key[4]}_{gpu}"
    if key[1] == "Vultr" and model == "mixtral" and key[4] == "server":
        name += "-vultr"
    if key[4] == "offline" and key[1] in OFFLINE_B and gpu == "mi325x":
        name += "-b"
    return CONFIGS.get(name)
