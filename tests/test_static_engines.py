"""Engines compiled for fixed shapes (AWS Neuron NxD / optimum-neuron, JetStream on TPU) and NxD's MoE paths: the
padding, the one-prompt-at-a-time prefill, the decode graph that always runs its compiled rows, and the blockwise
expert kernel, each against a hand calculation."""

from math import ceil

import numpy as np
import pytest

from suanli.catalog import catalog
from suanli.model.ops import Layout
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed, StaticGraph
from suanli.perf.factors import bundled_calibration
from suanli.perf.features import MOE_BLOCK, blockwise_moe, moe_features
from suanli.schema import Deployment, SuanliError
from suanli.validate.data import load_rows
from suanli.validate.deploy import _deployments
from suanli.validate.scenarios import simulated, steady
from suanli.validate.sources import setup_of

E2E_HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
              "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")
NEURON = "vllm-neuron (optimum-neuron; guidellm 0.1.0 client)"


def _rows(tmp_path, body: str):
    p = tmp_path / "e2e.csv"
    p.write_text(E2E_HEADER + "\n" + body)
    return load_rows(p)


def _deployed(model: str, chip: str, n: int, engine: str, tp: int) -> Deployed:
    cat = catalog()
    _, arch = model_arch(model)
    from suanli.validate.deploy import system_for
    return Deployed(arch, cat.chips[chip], system_for(chip, n), Deployment(tp=tp, engine=engine), model,
                    bundled_calibration())


def test_static_graph_pads_prompts_to_power_of_two_buckets_or_the_whole_length():
    nxdi = StaticGraph(batch=8, length=4096, first_bucket=128)
    assert [nxdi.padded(t) for t in (1, 128, 129, 1500, 5000)] == [128, 128, 256, 2048, 4096]
    jetstream = StaticGraph(batch=96, length=1024, first_bucket=16)
    assert [jetstream.padded(t) for t in (3, 17, 125)] == [16, 32, 128]
    assert StaticGraph(batch=32, length=4096).padded(1500) == 4096  # no buckets: the compiled length


def test_nxd_blockwise_experts_by_hand():
    """Qwen3-30B-A3B (128 experts, top-8), one 4096-token prompt on 1 chip: ceil(4096 * 8 / 512) + 127 = 191
    blocks of 512 token slots, every expert loaded. Token generation of 16 rows: 16 * 8 / 128 = 1 reaches the
    selective-loading threshold, so all 128 experts run all 16 rows; 4 rows load only their 32 chosen experts."""
    lay = Layout(1, 1, 1, 1)
    touched, rows, blocks = blockwise_moe(4096, 128, 8, lay, 16, context=True)
    assert blocks == ceil(4096 * 8 / 512) + 127 == 191
    assert (touched, rows) == (1.0, 191 * MOE_BLOCK)
    assert blockwise_moe(16, 128, 8, lay, 16, context=False) == (1.0, 128 * 16, 0.0)
    assert blockwise_moe(4, 128, 8, lay, 16, context=False) == (32 / 128, 32, 0.0)
    grouped = moe_features(4, ((128, 8),), lay, 16)
    assert "blocks:128:8" not in grouped and grouped["touched:128:8"] < 32 / 128  # distinct experts, not loads


def test_neuron_engine_pays_a_fixed_cost_per_expert_block():
    """The per-block factor adds blocks x layers x moe_block_us to a prefill on Neuron and nothing elsewhere."""
    from dataclasses import replace
    dep = _deployed("qwen3-30b-a3b", "trainium2", 1, NEURON, 1)
    shape = dep.prefill_shape(1, 4096)
    base = dep.step_time(shape)
    layers = sum(g.count for g in dep.arch.groups if g.mlp.kind == "moe")
    cal = bundled_calibration()
    f, _ = cal.resolve("aws-neuron", NEURON)
    fams = {**cal.families, "aws-neuron": {**cal.families.get("aws-neuron", {}), "moe_block_us": f.moe_block_us + 100}}
    slower = Deployed(dep.arch, dep.chip, dep.system, dep.dep, dep.model_id, replace(cal, families=fams))
    assert slower.step_time(shape) - base == pytest.approx(191 * layers * 100e-6, rel=1e-6)
    gpu = _deployed("qwen3-30b-a3b", "h100-sxm", 1, "vllm", 1)
    assert "blocks:128:8" not in gpu.feature_index


def test_static_steps_serialise_prompts_and_always_run_the_compiled_rows():
    """A step of a fixed-shape engine is one context-graph run per prompt (padded to 4096) plus one run of the
    32-row decode graph at the full length, however many sequences actually decode."""
    dep = _deployed("llama-3.1-8b", "trainium2", 1, NEURON, 1)
    dep.static = StaticGraph(batch=32, length=4096)
    one = dep.step_time(dep.prefill_shape(1, 1500))
    dep.static = None
    padded, decode = dep.step_time(dep.prefill_shape(1, 4096)), dep.step_time(dep.decode_shape(32, 4096))
    dep.static = StaticGraph(batch=32, length=4096)
    assert one == pytest.approx(padded)
    assert dep.static_time(2, 3000, 0, 0) == pytest.approx(2 * padded)
    assert dep.static_time(0, 0, 1, 10) == pytest.approx(decode) == dep.static_time(0, 0, 30, 2000)
    assert dep.static_time(1, 1500, 5, 100) == pytest.approx(padded + decode)


def test_neuron_attention_heads_are_padded_to_any_tp():
    """NxD pads query heads and replicates KV heads, so Llama-4-Scout's 40 heads run at TP 16; other engines keep
    the divisibility check."""
    assert _deployed("llama-4-scout", "trainium2", 16, NEURON, 16).layout.tp == 16
    with pytest.raises(SuanliError, match="does not divide the 40 attention heads"):
        _deployed("llama-4-scout", "h100-sxm", 16, "vllm", 16)


def test_optimum_neuron_rows_run_one_fixed_shape_engine_over_all_chips(tmp_path):
    notes = ("TP over 64 logical NeuronCores; guidellm mode synchronous (max concurrency 128); "
             "compiled batch_size=32, seq_len=4096")
    body = (f"a,x,,trainium2,16,llama-4-scout,bf16,,{NEURON},,,,,concurrency,1500,250,1,,,,output_tok_s,1,tok/s,"
            f"\"{notes}\"\n")
    s, got = setup_of(_rows(tmp_path, body)[0])
    assert s.static == StaticGraph(32, 4096, 0, False) and (s.tp, s.pp, s.dp, s.ep) == (16, 1, 1, 1)
    assert any("fixed-shape engine" in n for n in got)


def test_one_client_on_a_static_engine_waits_for_its_padded_prompt_then_decodes(tmp_path):
    """Closed loop with one client: TTFT = one padded prefill, every later token one run of the compiled decode
    graph (the simulator), and the analytic steady state does not charge the client's own prompt twice."""
    notes = "TP over 4 logical NeuronCores; compiled batch_size=2, seq_len=4096"
    body = f"a,x,,trainium2,1,qwen3-32b,bf16,,{NEURON},,,,,concurrency,1500,250,1,,,,output_tok_s,1,tok/s,\"{notes}\"\n"
    s, _ = setup_of(_rows(tmp_path, body)[0])
    dep = _deployments(s, bundled_calibration())[0]
    prefill, decode = dep.static_time(1, 1500, 0, 0), dep.static_time(0, 0, 1, 0)
    sim = simulated(dep, s, bundled_calibration(), clients=1, requests=20)
    assert sim.ttft == pytest.approx(prefill, rel=1e-6)
    assert sim.tpot == pytest.approx(decode, rel=1e-6)
    closed = steady(dep, 1, s, closed=True)
    assert closed.step == pytest.approx(decode)
    assert closed.out_tok_s == pytest.approx(250 / (closed.ttft + 249 * decode))
    assert steady(dep, 1, s).step > decode  # open arrivals: a stranger's prompt may come at any step


def test_a_prompt_stalls_every_running_decode_on_a_static_engine(tmp_path):
    """Two clients on a 2-row engine: each request's decodes wait while the other's prompt runs, so the mean ITL
    exceeds a decode step, by about one prefill over the 249 gaps."""
    notes = "compiled batch_size=2, seq_len=4096"
    body = (f"a,x,,trainium2,1,qwen3-32b,bf16,,{NEURON},1,1,,1,concurrency,1500,250,2,,,,output_tok_s,1,tok/s,"
            f"\"{notes}\"\n")
    s, _ = setup_of(_rows(tmp_path, body)[0])
    dep = _deployments(s, bundled_calibration())[0]
    prefill, decode = dep.static_time(1, 1500, 0, 0), dep.static_time(0, 0, 1, 0)
    sim = simulated(dep, s, bundled_calibration(), clients=2, requests=40)
    assert decode < sim.tpot <= decode + 1.1 * prefill / 249


def test_jetstream_rows_pad_prompts_serialise_them_and_read_the_whole_cache(tmp_path):
    """jetstream-pytorch: one server sharded over all chips, prompts padded to powers of two from 16, a decode
    graph over the whole cache; its int8 is weight-only with an int8 cache; --shard_on_batch runs the chips in
    lockstep: 1024 rows become 128 per chip, and a prompt holds all 8."""
    body = ("a,x,,tpu-v5e,8,llama-2-7b,int8,,jetstream-pytorch,,,,,offline,,,,,,,output_tok_s,1,tok/s,"
            "\"server batch_size=96, cache length 2048\"\n"
            "b,x,,tpu-v5e,8,gemma-2b,bf16,,jetstream-pytorch,,,,8,offline,,,,,,,output_tok_s,1,tok/s,"
            "\"server batch_size=1024, cache length 2048; shard_on_batch\"\n")
    (a, _), (b, _) = (setup_of(r) for r in _rows(tmp_path, body))
    assert (a.tp, a.dp, a.precision, a.kv) == (8, 1, "w8a16", "int8")
    assert a.static == StaticGraph(96, 2048, 16, False, 1)
    assert (b.tp, b.dp) == (1, 8) and b.static == StaticGraph(128, 2048, 16, False, 8)
    dep = _deployments(b, bundled_calibration())[0]
    prompts = np.array([1.0, 8.0])
    per_step = [dep.static_time(p, p * 125, 128, 300) for p in prompts]
    # lockstep: the whole group's prompts, not one rank's share, run one after another
    from suanli.validate.scenarios import mixed_step
    expect = dep.static_time(1024 / b.output_len, 1024 / b.output_len * b.input_len, 128, 0)
    assert mixed_step(dep, 1024, b) == pytest.approx(expect)
    assert per_step[1] - per_step[0] == pytest.approx(7 * dep.static_time(1, 125, 0, 0))


DISAGG = ("disaggregated 1P1D, each worker TP2 (2 workers on 4 GPUs), KV transfer via NIXL; SGLang bench_serving, "
          "500 prompts")


def test_disaggregated_rows_are_validated_not_fitted(tmp_path):
    """Their coarse pool model must not bend the efficiency factors of every other run on the same engine."""
    from suanli.validate.fit import fittable
    body = "".join(f"{i},x,,h200,4,gpt-oss-120b,mxfp4,,sglang,2,,,,concurrency,2048,49,128,,,,output_tok_s,1,tok/s,"
                   f"\"{note}\"\n" for i, note in enumerate([DISAGG, "one engine"]))
    assert [fittable(r) for r in _rows(tmp_path, body)] == [False, True]


def test_a_saturated_prefill_pool_queues_closed_loop_clients(tmp_path):
    """128 clients of 2048-token prompts and 49-token answers on one prefill and one decode worker: the prefill
    worker is the bottleneck, so throughput is its capacity and, by Little's law for the closed loop, each client
    waits n / X - (decode time) for its first token: more than twice what the open-queue pool model (`fast`)
    puts it at."""
    from suanli.validate.scenarios import predict_setup
    body = (f"a,x,,h200,4,gpt-oss-120b,mxfp4,,sglang,2,,,,concurrency,2048,49,128,,,,output_tok_s,1,tok/s,"
            f"\"{DISAGG}\"\n")
    s, _ = setup_of(_rows(tmp_path, body)[0])
    p = predict_setup(s, bundled_calibration())
    lone = predict_setup(s, bundled_calibration(), fast=True)
    x = p.out_tok_s / s.output_len  # requests per second
    assert p.ttft > 2 * lone.ttft
    assert p.ttft + (s.output_len - 1) * p.tpot == pytest.approx(128 / x, rel=0.15)


def test_collective_latency_crosses_the_torus_diameter():
    """A small all-reduce on a switch or a full mesh is two phases of one hop; on a torus each phase crosses the
    group's diameter: 16 chips as a 4 x 4 torus are 2 + 2 hops apart, 8 chips (2 x 4) 1 + 2, a ring of 16 8."""
    from suanli.model.ops import LinOp
    from suanli.perf.cost import op_cost
    from suanli.perf.hardware import LinkView
    torus = LinkView(1e11, 5e-6, "torus")
    assert [torus.hops(n) for n in (1, 2, 4, 8, 16, 64)] == [0, 1, 2, 3, 4, 8]
    assert LinkView(1e11, 5e-6, "ring").hops(16) == 8 and LinkView(1e11, 5e-6, "switch").hops(16) == 1
    dep = _deployed("llama-3.1-8b", "trainium2", 16, NEURON, 16)
    assert dep.hw.scale_up.topology == "torus"
    ar = LinOp("ar", "comm", 1.0, comm="all_reduce", comm_bytes={"tokens": 8192.0}, group=16)
    f = dep.factors
    assert op_cost(ar, dep.hw, f, 16).fixed == pytest.approx(2 * 4 * dep.hw.scale_up.latency_s + f.kernel_us * 1e-6)


def test_only_the_service_layer_looks_ids_up_for_perf_and_serve():
    """`suanli.api` resolves ids against the catalog; perf and serve take the objects it builds (issue 19)."""
    import ast
    from pathlib import Path

    root = Path(__file__).parent.parent / "src" / "suanli"
    calls = []
    for pkg in ("perf", "serve"):
        for f in (root / pkg).rglob("*.py"):
            tree = ast.parse(f.read_text())
            calls += [f"{f.name}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Call)
                      and getattr(n.func, "id", getattr(n.func, "attr", None)) in ("catalog", "model_arch")]
    assert not calls, calls
