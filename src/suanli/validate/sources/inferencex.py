"""SemiAnalysis InferenceX runs (and the AIConfigurator files that carry them): their harness draws lengths at
random around the nominal ones."""

from __future__ import annotations

import re

# Benchmark harnesses whose prompts and outputs are drawn at random around the nominal lengths: (a phrase of the
# row's source, a phrase that excludes it, the lowest fraction of the nominal length drawn). InferenceX runs
# `benchmark_serving --random-range-ratio 0.8 --ignore-eos`: lengths uniform in [0.8 L, L] (RANDOM_RANGE_RATIO
# in github.com/SemiAnalysisAI/InferenceX/blob/00983c3e22a0489aa5f3219f4b8765f2258099fe/.github/workflows/
# benchmark-tmpl.yml). Varied lengths also keep closed-loop clients from moving in lockstep.
RANDOM_LENGTHS = (("inferencex", "not inferencex", 0.8),)


def range_ratio(source: str) -> float | None:
    src = source.lower()
    for phrase, unless, ratio in RANDOM_LENGTHS:
        if phrase in src and unless not in src:
            return ratio
    return None


def attention_ranks(notes: str) -> int:
    """Attention-DP ranks an AIConfigurator row states ("attention_dpK"), 1 when it states none."""
    m = re.search(r"attention_dp(\d+)", notes)
    return int(m.group(1)) if m else 1


def clients_per_deployment(notes: str, concurrency: int | None) -> int | None:
    """Clients that reached the one deployment a row describes. AIConfigurator's files state the batch per
    attention-DP rank ("AIC batch_size N (per attention-DP rank)", with "attention_dpK"); in 44 rows of NVIDIA's
    internal Dynamo runs the client concurrency is a whole multiple of N x K: the load of several replicas of the
    deployment, while the row's layout and chips are one replica's. Those rows are predicted at N x K clients."""
    m = re.search(r"AIC batch_size (\d+)", notes)
    if not m or not concurrency:
        return None
    per = int(m.group(1)) * attention_ranks(notes)
    if per < concurrency and concurrency % per == 0:
        return per
    return None


NODE_GPUS = 8  # InferenceX's single-node runners (B200, B300, H100, H200, MI300X-MI355X nodes)


def one_node_layout(source: str, notes: str, n: int, tp: int | None, ep: int | None, dp: int | None) \
        -> tuple[int, int, int, int] | None:
    """(GPUs, tp, ep, dp) of an aggregated InferenceX run that AIConfigurator's later exports (2026-04-06, the
    2026-04-27 database dump) list on tp x ep GPUs. InferenceX runs aggregated serving on one node, its experts
    spread over the TP group's own GPUs (`--tensor-parallel-size=$TP --enable-expert-parallel`,
    benchmarks/single_node/*.sh), and names these runs tpN_epN: the exports then give N x N GPUs (tp64 or
    attention_dp64 with moe_tp8 moe_ep8 for tp8_ep8; the earlier export lists the same measurement on 8). A run
    beyond one node whose GPU count is such a square is read back as the N GPUs it ran on. None otherwise."""
    if range_ratio(source) is None or "mode=agg" not in notes or n <= NODE_GPUS or not ep or ep <= 1:
        return None
    root = round(n ** 0.5)
    if root * root != n or root > NODE_GPUS:
        return None
    tp1 = min(tp or 1, root)
    return root, tp1, min(ep, root), max(1, root // tp1)


AGG_LAYOUT = r"aggregated: tp(\d+) pp(\d+) attention_dp(\d+) moe_tp(\d+) moe_ep(\d+)"


def layout_mismatch(notes: str) -> str | None:
    """Why an aggregated AIConfigurator row's layout cannot be read, else None. AIConfigurator requires the
    attention and expert widths equal (`tp_size * attention_dp_size == moe_tp_size * moe_ep_size`,
    aic-core/src/aiconfigurator_core/sdk/config.py `resolve_moe_parallelism`), and the engines run one TP group
    that holds both. 38 rows of NVIDIA's internal vLLM runs of Qwen3-235B-A22B on H200 give tp1 or tp2 with
    moe_tp2 or moe_tp4: their TPOT follows moe_tp (51-58 ms at moe_tp2, 34-46 ms at moe_tp4), but their TTFT is
    2-8 x that of the rows labelled tp = moe_tp at the same lengths (3.2 s against 0.42 s at 2000/2000 tokens), and
    the FP8 model fits no single H200: neither width describes the run."""
    m = re.search(AGG_LAYOUT, notes)
    if not m or "mode=agg" not in notes:
        return None
    tp, _, adp, moe_tp, moe_ep = (int(g) for g in m.groups())
    if moe_tp * moe_ep <= tp * adp:
        return None
    return (f"the row's layout is inconsistent: tp{tp} x attention_dp{adp} attention GPUs against moe_tp{moe_tp} x "
            f"moe_ep{moe_ep} expert GPUs (AIConfigurator requires them equal, sdk/config.py); which ran is unknown")


# InferenceX's serving script sends CONC x 10 prompts with --max-concurrency CONC, all clients starting at once
# (`run_benchmark_serving ... --num-prompts "$((CONC * 10))" --max-concurrency "$CONC"` in
# github.com/SemiAnalysisAI/InferenceX/blob/07e171a32875ab4f06e073d8d9f2fd3e475402ba/benchmarks/single_node/
# minimaxm2.5_fp8_b200.sh and the other single-node scripts): the first wave's queue is in the measured means.
PROMPTS_PER_CLIENT = 10


def closed_loop_harness(source: str, concurrency: int | None) -> int | None:
    """Requests an InferenceX closed-loop run sent (its clients start together), else None."""
    if range_ratio(source) is None or not concurrency:
        return None
    return PROMPTS_PER_CLIENT * concurrency


# What InferenceX's launch scripts set on the server, by the date a run was measured (the script in the repository
# then). Each entry: (model, engine profile id, a condition on the run, first date, last date or None, settings as
# engine features, KV cache dtype or None, where it is written). Scripts under benchmarks/ (before 2026-01-22
# benchmarks/*_slurm.sh) of github.com/SemiAnalysisAI/InferenceX, at the commits named.
IX = "github.com/SemiAnalysisAI/InferenceX/blob"


LAUNCH = (
    ("minimax-m2.5", "vllm", lambda r: True, "2026-03-11", "2026-04-02", lambda r: {"memory_utilization": 0.95},
     None, f"{IX}/f342df18e/benchmarks/single_node/minimaxm2.5_fp8_b200.sh (--gpu-memory-utilization 0.95)"),
    ("minimax-m2.5", "vllm", lambda r: True, "2026-04-03", None,
     lambda r: {"memory_utilization": 0.90, "token_budget": 2 * r["isl"]}, "fp8",
     f"{IX}/bddbf4031/benchmarks/single_node/minimaxm2.5_fp8_b200.sh and the fp4/B300 scripts after it "
     "(--gpu-memory-utilization 0.90 --kv-cache-dtype fp8 --max-num-batched-tokens $((ISL * 2)))"),
    # TensorRT-LLM, DeepSeek-R1 on B200: attention-DP ranks wait for each other's prompts (enable_balance,
    # timeout_iters 60); KvCacheConfig free_gpu_memory_fraction 0.8
    ("deepseek-r1", "trt-llm", lambda r: r["adp"], "2025-09-18", None,
     lambda r: {"adp_balance_iters": 60, "memory_utilization": 0.8}, None,
     f"{IX}/ec90f3fe7/benchmarks/dsr1_fp8_b200_trt_slurm.sh (attention_dp_config: enable_balance true, "
     "timeout_iters 60, batching_wait_iters 0; free_gpu_memory_fraction 0.8)"),
    # TensorRT-LLM, DeepSeek-R1 on B200: the token budget holds the decodes and one prompt (trtllm-serve
    # --max_num_tokens, chunked prefill left off), from 2026-01-22 at least 8,192
    ("deepseek-r1", "trt-llm", lambda r: True, "2025-09-18", "2026-01-21",
     lambda r: {"token_budget": _round64(r["clients"] + r["isl"] + 64)}, None,
     f"{IX}/ec90f3fe7/benchmarks/dsr1_fp4_b200_trt_slurm.sh (MAX_NUM_TOKENS=$(( ($CONC+$ISL+64+63)/64*64 )))"),
    ("deepseek-r1", "trt-llm", lambda r: not r.get("drafts"), "2026-01-22", None,
     lambda r: {"token_budget": max(8192, _round64(r["clients"] + r["isl"] + 64))}, None,
     f"{IX}/64af5a771/benchmarks/dsr1_fp4_b200_trt.sh (MAX_NUM_TOKENS at least 8192)"),
    # the -mtp scripts budget (MTP+1) tokens per running sequence, one prompt and 64; suanli's steps count one token
    # per sequence (a speculative step's verify width is in its cost), so what is left for prompts is the same
    ("deepseek-r1", "trt-llm", lambda r: bool(r.get("drafts")), "2026-02-05", None,
     lambda r: {"token_budget": _round64(_mtp_batch(r) + r["isl"] + 64)}, None,
     f"{IX}/0aae52d4c/benchmarks/dsr1_fp8_b200_trt_mtp.sh (MAX_NUM_TOKENS=$(( ((MTP+1)*MAX_BATCH_SIZE+ISL+64+63)/64*64 "
     ")), MAX_BATCH_SIZE = CONC, or CONC / 8 with attention DP)"),
    # the FP8 script delays context batches at 1k/1k from 64 clients (DELAY_BATCHING)
    ("deepseek-r1", "trt-llm", lambda r: not r["adp"] and r["precision"] == "fp8" and r["isl"] == r["osl"] == 1024
     and r["clients"] >= 64, "2026-01-29", None,
     lambda r: {"batch_wait_iters": 40, "batch_wait_tokens": 0.8, "memory_utilization": 0.8}, None,
     f"{IX}/ec7bafaae/benchmarks/single_node/dsr1_fp8_b200_trt.sh (batch_wait_timeout_iters 40, "
     "batch_wait_max_tokens_ratio 0.8 when ISL = OSL = 1024 and CONC >= 64)"),
)


# Runs launched with speculative decoding, told apart by their image: from 2026-02-05 (FP8) and 2026-02-06 (FP4) the
# -mtp configs of DeepSeek-R1 with TensorRT-LLM on B200 run release:1.2.0rc6.post3 and the plain ones rc6.post2
# (.github/configs/nvidia-master.yaml at 0aae52d4c, unchanged to April 2026); their scripts set MTP=3, or MTP=1
# with attention data parallelism (benchmarks/dsr1_fp8_b200_trt_mtp.sh and dsr1_fp4_b200_trt_mtp.sh at 0aae52d4c:
# "MTP=3 ... if DP_ATTENTION == true ... MTP=1"; speculative_config decoding_type MTP, num_nextn_predict_layers).
SPECULATIVE = (
    ("deepseek-r1", "trt-llm", "b200", "release:1.2.0rc6.post3", "2026-02-05",
     lambda r: {"method": "mtp", "draft_tokens": 1 if r["adp"] else 3},
     f"{IX}/0aae52d4c/benchmarks/dsr1_fp8_b200_trt_mtp.sh (MTP=3, or MTP=1 with DP_ATTENTION; the -mtp configs "
     "alone run image release:1.2.0rc6.post3)"),
)


def speculative(source: str, notes: str, run: dict) -> tuple[dict, str] | None:
    """The speculative decoding an InferenceX run was launched with: (Speculation fields, source), or None."""
    day = measured_day(source, notes)
    image = re.search(r"image=([^;]+)", notes)
    if day is None or image is None:
        return None
    for model, engine, hardware, tag, first, spec, where in SPECULATIVE:
        if (run["model"], run["engine"], run["hardware"]) == (model, engine, hardware) and first <= day \
                and image.group(1).strip().endswith(tag):
            return spec(run), where
    return None


def measured_day(source: str, notes: str) -> str | None:
    """The day an InferenceX run was measured ("measured=YYYY-MM-DD" in its notes), None for other sources."""
    m = re.search(r"measured=(\d{4}-\d\d-\d\d)", notes)
    return m.group(1) if m and range_ratio(source) is not None else None


def launch(source: str, notes: str, run: dict) -> tuple[dict, str | None, str] | None:
    """The server settings an InferenceX run was launched with: (engine features, KV cache dtype, source), or None.
    `run` names model, engine (profile id), precision, isl, osl, clients and adp (attention data parallelism)."""
    day = measured_day(source, notes)
    if day is None:
        return None
    found = [(settings(run), kv, where) for model, engine, when, first, last, settings, kv, where in LAUNCH
             if run["model"] == model and run["engine"] == engine and first <= day <= (last or "9999") and when(run)]
    if not found:
        return None
    merged = {k: v for settings, _, _ in found for k, v in settings.items()}
    return merged, next((kv for _, kv, _ in found if kv), None), "; ".join(where for _, _, where in found)


def _mtp_batch(r: dict) -> int:
    """MAX_BATCH_SIZE of the -mtp scripts: CONC, or CONC / 8 per attention-DP rank (CONC itself below 8)."""
    c = r["clients"]
    return c if not r["adp"] or c < 8 else c // 8


def _round64(tokens: int) -> int:
    return (tokens + 63) // 64 * 64


# Runs whose setup the row cannot give: (model, hardware, engine profile, first and last date measured, clients,
# why). InferenceX's gpt-oss H100 vLLM script sent 512 clients whatever the config's CONC while launching the
# server with --max-num-seqs=$CONC; the row keeps 512 and not CONC, so the server's batch is unknown.
UNKNOWABLE = (
    ("gpt-oss-120b", "h100-sxm", "vllm", "2025-11-21", "2025-12-08", 512,
     "the benchmark sent 512 clients (--max-concurrency 512 hard-coded) to a server launched with --max-num-seqs "
     f"set to its config's concurrency, which the row does not state ({IX}/d22bf9ca9/benchmarks/"
     "gptoss_fp4_h100_docker.sh, fixed in 4e135fd3f)"),
)


# Models InferenceX runs on a hardware only as multi-node disaggregated deployments (Dynamo, prefill and decode
# workers of their own layouts): (model, hardware, where that is written). AIConfigurator's export labels some of
# them "agg" with tp = every GPU of the run (tp 12-64, most not dividing the model's heads), which names no split.
DISAGG_ONLY = (
    ("deepseek-r1", "gb200",
     f"{IX}/97f253b51/runners/launch_gb200-nv.sh (2025-11: every GB200 run goes through Dynamo's submit_disagg.sh) "
     "and configs/nvidia-master.yaml since (dsr1-*-gb200-dynamo-*: multinode, disagg: true)"),
)


def unknowable(source: str, notes: str, run: dict) -> str | None:
    """Why a run's setup cannot be known from its row (the row is skipped), or None."""
    day = measured_day(source, notes)
    if day is None:
        return None
    for model, hardware, where in DISAGG_ONLY:
        if (run["model"], run["hardware"]) == (model, hardware) and not run["disagg"]:
            return (f"labelled aggregated, but InferenceX runs {model} on {hardware} only disaggregated over "
                    f"several nodes ({where}); the row does not give the prefill/decode split")
    for model, hardware, engine, first, last, clients, why in UNKNOWABLE:
        if (run["model"], run["hardware"], run["engine"], run["clients"]) == (model, hardware, engine, clients) \
                and first <= day <= last:
            return why
    return None
