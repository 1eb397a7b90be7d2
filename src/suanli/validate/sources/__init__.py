"""Source adapters: a measurement row (its setup columns, `notes`, `url`, `source`) becomes a typed run, `Setup`.

This package is the only code that reads a row's free text or knows a benchmark by name: one module per source
family (`mlperf`, `intel`, `inferencex`, `dstack`, `notes` common to all), and `setup_of` here composing them with what
the rows of every source share (data-set lengths, compiled sizes of fixed-shape engines, disaggregated pools).
Engines' behaviour comes from their profiles (`suanli.engines`), never from here.
"""

from __future__ import annotations

import re
from math import ceil

from suanli.catalog import catalog
from suanli.engines import resolve_engine
from suanli.perf.deployed import StaticGraph
from suanli.schema import Speculation, SuanliError
from suanli.validate.data import Row
from suanli.validate.setup import RELEASED_FORMAT, Setup, Skip, dataset_lengths
from suanli.validate.sources import amd_harness, dstack, dynamo, guidellm, inferencex, intel, mlperf, trtllm_bench
from suanli.validate.sources import notes as notes_

__all__ = ["setup_of"]


def setup_of(row: Row) -> tuple[Setup, list[str]]:
    """The run a row describes, and the assumptions made to fill its gaps."""
    notes: list[str] = []
    cat = catalog()
    try:
        chip = cat.resolve("chip", row.hardware)
        model = cat.resolve("model", row.model)
    except SuanliError as e:
        raise Skip(str(e)) from None
    inp, out = row.input_len, row.output_len
    if row.metric == "prefill_tok_s" and out is None:
        out = 1  # llama-bench "pp N": a prompt of N tokens, no generation
    if row.metric == "decode_tok_s" and inp is None:
        inp = 1  # llama-bench "tg N": N tokens generated from an empty context
    ds = dataset_lengths().get(model, {})
    if "applies_to" in ds and "mlperf" in ds["applies_to"].lower() and not mlperf.is_mlperf(row):
        ds = next(iter(ds.get("other_rows", {}).values()), {})  # e.g. JetStream ShareGPT rows of llama-2-7b
    if inp is None:
        inp = ds.get("mean_input_tokens")
        status = ds.get("status", "published")
        if not inp and ds.get("assumed_mean_input_tokens"):
            inp, status = ds["assumed_mean_input_tokens"], "assumption:"
        if not inp:
            raise Skip(f"input_len empty and no published mean input length for {model}'s data set")
        notes.append(f"input_len {inp:g} = {status} data-set mean ({ds.get('dataset', '')})")
    if out is None:
        out = ds.get("mean_output_tokens")
        if not out:
            raise Skip(f"output_len empty and no published mean output length for {model}'s data set")
        status = ds.get("output_status", "published")
        notes.append(f"output_len {out:g} = data-set mean" + (" (assumption)" if status == "assumption" else ""))
    precision = row.weight_precision or RELEASED_FORMAT.get(model, "bf16")
    stated = mlperf.RESULT_PRECISION.get(mlperf.mlperf_result(row) or ())
    if not row.weight_precision and stated:
        precision = stated[0]
        notes.append(f"precision {precision}: {stated[1]}")
    elif not row.weight_precision:
        notes.append(f"precision {precision} assumed (released checkpoint)")
    for pattern, scheme in notes_.CHECKPOINT_SCHEMES:
        if precision == "fp8" and re.search(pattern, row.notes):
            precision = scheme
            notes.append(f"precision {scheme}: the format of the checkpoint the notes name")
    mem_util = None
    xpu = intel.INTEL_XPU_RUNS.get((model, row.scenario)) if intel.intel_xpu_mlperf(row) else None
    if xpu and precision == "int4":
        precision = "w4a8"
        notes.append("precision w4a8: Intel's MLPerf XPU harness quantizes activations too (VLLM_USE_SEPARATE_QUANT, "
                     "VLLM_FUSE_NORM_QUANT, VLLM_FUSE_SILU_QUANT) for int8 matrix units")
    engine = dstack.engine_of(row)
    if engine != row.engine:
        notes.append(f"engine {engine}: the version the benchmark's environment dump gives for its image")
    stack = resolve_engine(engine, cat.chips[chip].family, strict=False)
    fallback = stack.fallback(precision, cat.chips[chip].family)
    if fallback:
        raise Skip(fallback.reason)
    disagg = notes_.pools(row.notes)
    kv = row.kv_precision or None
    if xpu and kv is None:
        kv = xpu[4]
        notes.append(f"kv_precision {kv}: the KV cache Intel's MLPerf XPU harness sets")
    if kv is None and re.search(r"KV dtype '?auto'?", row.notes):
        notes.append("kv_precision = the model's dtype (notes: KV dtype 'auto')")
    elif kv is None and precision.startswith(("fp8", "fp4", "nvfp4")) and stack.features.kv_fp8_with_fp8_weights:
        kv = "fp8"  # the engine's fp8/fp4 quantization recipes quantize the KV cache to fp8 as well
        notes.append(f"kv_precision fp8 assumed ({stack.profile.name}'s fp8/fp4 recipe default)")
    cap = notes_.batch_cap(row.notes)
    if cap:
        notes.append(f"engine batch limited to {cap} (from notes)")
    tp, pp, dp = row.tp, row.pp, row.dp
    if cap and dp and dp > 1 and "shard_on_batch" in row.notes:
        # jetstream-pytorch --shard_on_batch: one server's batch_size split over its chips, not per chip
        cap = ceil(cap / dp)
        notes.append(f"batch sharded over {dp} chips (shard_on_batch): {cap} per chip")
    if mlperf.through_one_api_server(row) and tp is None and pp is None and dp is None:
        tp, pp, dp = row.n_accel, 1, 1
        fed = next((b for bench, b in mlperf.REFERENCE_SUT_BATCH.items() if re.search(rf"/{bench}(-edge)?/", row.url)),
                   None)
        cap = cap or fed or stack.features.max_num_seqs
        how = (f"its SUT passes {fed} sample(s) per generate call (main.py --batch-size default)" if fed else
               "vLLM's default max-num-seqs")
        notes.append(f"MLPerf reference harness: one engine over all chips (tp={tp}), batch {cap}: {how}")
    if xpu and tp is None and pp is None and dp is None:
        tp, pp, seqs, mem_util = xpu[:4]
        dp = max(1, row.n_accel // (tp * pp))
        cap = min(cap or seqs, seqs)
        notes.append(f"Intel's MLPerf XPU harness: {dp} vLLM instance(s) of TP{tp} PP{pp}, max_num_seqs {seqs}, "
                     f"gpu_memory_utilization {mem_util:g} (model_init/*/init_env_*, utils_model.py)")
    adp = bool(re.search(r"attention[_ -]dp|attention data-parallel", row.notes, re.IGNORECASE))
    ep = row.ep
    n_accel = row.n_accel
    node = inferencex.one_node_layout(row.source, row.notes, n_accel, tp, ep, dp)
    if node:
        notes.append(f"{node[0]} GPUs (tp{node[1]} ep{node[2]} dp{node[3]}): the export lists this one-node run on "
                     f"tp x ep = {n_accel}")
        n_accel, tp, ep, dp = node
    mismatch = None if node else inferencex.layout_mismatch(row.notes)
    if mismatch:
        raise Skip(mismatch)
    harness = mlperf_cfg = mlperf.mlperf_config(row)
    balance = (harness or {}).get("balance") if (harness or {}).get("adp") else None
    budget = (harness or {}).get("budget") if row.scenario in ("server", "interactive") else None
    if harness and tp is None and pp is None and dp is None and harness.get("tp"):
        tp, pp = harness["tp"], harness.get("pp") or 1
        dp = max(1, row.n_accel // (tp * pp))
        if harness.get("adp"):  # attention data-parallel over the TP group, experts over EP: one batch per rank
            tp, dp, adp = 1, tp * dp, True
        if harness.get("batch"):
            # TensorRT-LLM's max_batch_size counts requests; each decodes its beams as sequences
            seqs = harness["batch"] * (int(ds.get("beams", 1)) if mlperf.is_mlperf(row) else 1)
            cap = min(cap or seqs, seqs)
        ep = harness.get("ep") or (tp * dp if harness.get("adp") else 1)  # else whole-model engines
        notes.append(f"submitter's harness config: TP{tp} PP{pp} x {dp} engine(s)"
                     + (" (attention data-parallel)" if harness.get("adp") else "")
                     + (f", gpu_batch_size {harness['batch']}" if harness.get("batch") else "")
                     + f" ({harness['path']})")
    amd = amd_harness.harness_config(row)
    if amd and tp is None and pp is None and dp is None:
        tp, pp, ep, dp = 1, 1, 1, row.n_accel  # one whole-model engine per GPU (tensor_parallel_size 1)
        cap = min(cap or amd.max_seqs, amd.max_seqs)
        said = dict(amd.launch())
        notes.append(f"AMD's harness config: {dp} vLLM engines of TP1, at most {amd.max_seqs} running, "
                     + ", ".join(f"{k} {v}" for k, v in said.items())
                     + (f", queries held up to {amd.dispatch[0]:g} s or {amd.dispatch[1]} and sent to one engine "
                        "together" if amd.dispatch else "") + f" ({amd.name})")
        if amd.memory and not mem_util:
            mem_util = amd.memory
    slices = intel.cpu_instances(row, cat.chips[chip])
    if slices and tp is None and pp is None and dp is None:
        (per_chip, cores, seqs) = slices
        tp, pp, ep, dp = 1, 1, 1, per_chip * row.n_accel  # whole-model instances
        cap = min(cap or seqs, seqs)
        notes.append(f"Intel's MLPerf CPU harness: {per_chip} SGLang instance(s) of {cores} cores per socket, "
                     f"at most {seqs} running requests each (configure_workload.sh)")
    static = None
    shapes = stack.features.fixed_shapes  # the engine's buckets; the compiled sizes come from the notes
    m = re.search(r"compiled batch_size=(\d+), seq_len=(\d+)", row.notes)
    if m and shapes:
        static = StaticGraph(int(m.group(1)), int(m.group(2)), shapes.first_bucket, shapes.decode_buckets)
        pad = "a bucket" if shapes.first_bucket else m.group(2)
        notes.append(f"fixed-shape engine: prompts one at a time padded to {pad} tokens, decode graph of "
                     f"{m.group(1)} rows ({stack.profile.name} compiled graphs)")
        if re.search(r"TP over \d+ (?:logical )?NeuronCores", row.notes) and tp is None and pp is None and dp is None:
            tp, pp, dp, ep = row.n_accel, 1, 1, 1  # one engine, experts sliced by TP (no expert parallelism)
    m = re.search(r"server batch_size=(\d+), cache length (\d+)", row.notes)
    if m and shapes:
        # one server shards the model over all chips, or with --shard_on_batch splits the batch over them
        lockstep = "shard_on_batch" in row.notes
        if tp is None and pp is None:
            tp, pp, dp = (1, 1, dp or row.n_accel) if lockstep else (row.n_accel, 1, dp or 1)
        ranks = dp if lockstep and dp else 1
        static = StaticGraph(ceil(int(m.group(1)) / ranks), int(m.group(2)), shapes.first_bucket,
                             shapes.decode_buckets, ranks)
        notes.append(f"fixed-shape engine: prompts one at a time padded to a power of two, decode graph of "
                     f"{m.group(1)} rows over a {m.group(2)}-token cache (JetStream)")
        if "jetstream-pytorch" in row.engine and precision == "int8":
            # summary.md's server command: --quantize_weights=$quantize --quantize_kv_cache=$quantize; its int8
            # linears are weight-only (layers.py WeightOnlyInt8Linear: bf16 activations, bf16 matmuls)
            precision, kv = "w8a16", kv or "int8"
            notes.append("precision w8a16 with an int8 KV cache: jetstream-pytorch's weight-only int8 linears, "
                         "cache quantized with the weights")
    m = re.search(r"(\d+) (?:requests|prompts)", row.notes)
    sent = int(m.group(1)) if m else None
    if sent is None and row.scenario == "rate" and guidellm.requests_sent(row):
        sent = guidellm.requests_sent(row)
        notes.append(f"{sent} requests: the rate for guidellm's default {guidellm.MAX_SECONDS} s (--max-seconds)")
    arrival_cv = 1.0
    if row.scenario == "rate" and guidellm.fixed_schedule(row):
        arrival_cv = 0.0
        notes.append(f"requests sent 1/rate apart, not Poisson ({guidellm.SCHEDULE})")
    beams = int(ds.get("beams", 1)) if mlperf.is_mlperf(row) else 1
    if beams > 1:
        notes.append(f"beam search with {beams} beams (the benchmark's rule)")
    m = re.search(r"p99 end-to-end latency <= ([\d.]+) s", row.notes)
    e2e = float(m.group(1)) if m and row.scenario in ("server", "interactive") else None
    cv = float(ds.get("output_cv") or 0.0) if mlperf.is_mlperf(row) else 0.0
    if cv:
        notes.append(f"output lengths vary (cv {cv:g}, the data set's): running requests are on average "
                     f"{(1 + cv * cv) / 2:.2f} x output_len into their output")
    in_cv = float(ds.get("input_cv") or 0.0) if mlperf.is_mlperf(row) else 0.0
    spread = None
    ratio = inferencex.range_ratio(row.source)
    if ratio and row.input_len and row.output_len:  # the harness draws lengths: predict at their means
        lo_in, lo_out = max(1, int(round(ratio * inp))), max(1, int(round(ratio * out)))
        spread = (lo_in, int(round(inp)), lo_out, max(1, int(round(out))))
        inp, out = (lo_in + inp) / 2, (lo_out + out) / 2
        notes.append(f"lengths uniform in [{ratio:g} L, L] (the benchmark harness's random range ratio)")
    clients = row.concurrency
    replica = inferencex.clients_per_deployment(row.notes, row.concurrency)
    if replica:
        clients = replica
        notes.append(f"{replica} clients per deployment: the run's {row.concurrency} clients loaded "
                     f"{row.concurrency // replica} replicas of it (the batch per rank the source states)")
    together = False
    harness = inferencex.closed_loop_harness(row.source, clients) if row.scenario == "concurrency" else None
    if harness and sent is None:
        sent, together = harness, True
        notes.append(f"{sent} requests from clients that start together (the benchmark script's --num-prompts)")
    elif sent and row.scenario == "concurrency":
        together = True  # a stated number of prompts at a concurrency: bench_serving's clients, started at once
    run = dict(model=model, hardware=chip, engine=stack.id, precision=row.weight_precision, isl=row.input_len,
               osl=row.output_len, clients=clients or 0, adp=inferencex.attention_ranks(row.notes) > 1,
               disagg=bool(disagg))
    plan = dynamo.recipe(inferencex.measured_day(row.source, row.notes), run, n_accel)
    if isinstance(plan, str):
        raise Skip(plan)
    if plan:
        disagg, run["disagg"] = plan.pools(), True
        notes.append(f"disaggregated, not as labelled: {plan.ctx} context worker(s) of {dynamo.CONTEXT_GPUS} GPUs, "
                     f"{plan.gen} decode worker(s) of {plan.gen_tp} ({'dep' if plan.adp else 'tep'}, batch "
                     f"{plan.batch}), MTP {plan.mtp} ({dynamo.WHERE})")
    why = inferencex.unknowable(row.source, row.notes, run)
    if why:
        raise Skip(why)
    drafted = inferencex.speculative(row.source, row.notes, run)
    if plan and plan.mtp:
        drafted = ({"method": "mtp", "draft_tokens": plan.mtp}, dynamo.WHERE)
    run["drafts"] = drafted[0]["draft_tokens"] if drafted else 0
    server = None if plan else inferencex.launch(row.source, row.notes, run)  # B200 scripts, not Dynamo's
    launched: tuple = ()
    if budget:  # the engine's tokens per step (max_num_tokens): how fast prompts get in under load
        launched = (("token_budget", budget),)
        notes.append(f"token budget {budget} per step (the submitter's max_num_tokens)")
    if amd:
        launched += amd.launch()
    chunked = (mlperf_cfg or {}).get("chunked")
    if chunked is not None:
        launched += (("chunked_prefill", chunked),)
        notes.append(("prompts split over steps" if chunked else "whole prompts in one step") +
                     " (the harness's enable_chunked_context)")
    kept = (mlperf_cfg or {}).get("reserves")
    if kept is not None:
        launched += (("reserves_output", kept),)
        notes.append("cache " + ("reserved for the whole output at admission" if kept else "grown block by block, "
                     "requests paused when full") + " (the harness's batch_scheduler_policy)")
    power = (mlperf_cfg or {}).get("power")
    if power:
        notes.append(f"GPUs power-limited to {power:g} W (the MaxQ config's power_limit)")
    if (mlperf_cfg or {}).get("memory") and not mem_util:
        mem_util = mlperf_cfg["memory"]
        notes.append(f"KV cache {mem_util:g} of the memory the weights leave (kvcache_free_gpu_mem_frac)")
    if balance:
        launched += (("adp_balance_iters", balance[0]), ("adp_batching_iters", balance[1]))
        notes.append(f"attention-DP balancing: prompts go in every {balance[0]} steps unless every rank has one, "
                     f"then after {balance[1]} more (the harness's adp_balancing_* flags)")
    if stack.features.overlap_scheduling and re.search(r"\btensorrt \d", row.engine, re.IGNORECASE):
        launched += (("overlap_scheduling", False),)  # a TensorRT engine runs on the C++ Executor: no overlap
        notes.append("TensorRT engine backend (C++ Executor): no overlap scheduler")
    if server:
        settings, server_kv, where = server
        launched = tuple(sorted({**dict(launched), **settings}.items()))  # the script's settings win
        kv = row.kv_precision or server_kv or kv
        said = ", ".join(f"{k} {v:g}" for k, v in launched) + (f", KV {server_kv}" if server_kv else "")
        notes.append(f"server launched with {said} ({where})")
    spec = None
    if drafted:
        spec = Speculation(**drafted[0])
        notes.append(f"speculative decoding: {spec.method}, {spec.draft_tokens} draft token(s) ({drafted[1]})")
    offered = row.request_rate
    sent_rate = mlperf.target_qps(row) if row.kind == "latency" and offered is None else None
    if sent_rate:
        # LoadGen sends the run's target rate; its latencies are measured there, not at the limits (the
        # throughput row stays a prediction of the most the limits allow: the rate would be its answer)
        offered = sent_rate[0]
        notes.append(f"offered load {offered:g} queries/s ({sent_rate[1]})")
    graph_mode = dstack.graph_mode(row)
    in_process = trtllm_bench.is_trtllm_bench(row) or (mlperf.is_mlperf(row) and not mlperf.through_one_api_server(row))
    if in_process:
        notes.append("in-process harness: no server front end on the first-token path")
    if graph_mode:
        notes.append(f"graph mode {graph_mode}: the benchmark's launch command (--enforce-eager)")
    return Setup(chip, n_accel, model, precision, kv, engine, tp, pp, ep,
                 dp, row.scenario, int(round(inp)), max(1, int(round(out))), clients, offered,
                 (row.ttft_slo_ms or 0) / 1e3 or None, (row.tpot_slo_ms or 0) / 1e3 or None, disagg, cap, sent,
                 adp, beams, spread, e2e, cv, in_cv, mem_util, static, graph_mode, not in_process, together,
                 launched, spec, amd.dispatch if amd else None, arrival_cv=arrival_cv, power_limit_w=power), notes
