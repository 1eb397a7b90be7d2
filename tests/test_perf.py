"""Cost model: hand calculations of single ops and collectives, and physical bounds over the whole catalog."""

from dataclasses import replace
from math import inf

import pytest

from suanli.api import predict
from suanli.catalog import catalog
from suanli.model.arch import parse_config
from suanli.model.ops import Layout, LinOp, Numerics, _gemm, at, moe_shapes, step_ops, windows_of
from suanli.model.params import count_params
from suanli.model.resolve import model_arch
from suanli.model.shape import StepShape, _attended
from suanli.perf.cost import op_cost
from suanli.perf.deployed import Deployed
from suanli.perf.factors import Factors
from suanli.perf.features import features
from suanli.perf.hardware import Hardware, LinkView
from suanli.perf.predict import predict_deployed
from suanli.schema import Chip, Deployment, SuanliError, Workload


def toy_hw() -> Hardware:
    chip = Chip(id="toy", name="toy", vendor="t", category="datacenter", family="toy",
                matrix_tflops={"bf16": 100}, memory={"capacity_gb": 80, "bandwidth_gb_s": 1000})
    sys_ = catalog().system("1xh100-sxm")
    return Hardware(chip, sys_, {"bf16": 100e12}, 1000e9, 80e9, 8, LinkView(100e9, 2e-6), None)


def _seconds(op: LinOp, x: dict, f: Factors, span: int = 1) -> float:
    c = op_cost(op, toy_hw(), f, span)
    tc = sum(v * x.get(k, 0) for k, v in c.compute.items())
    tm = sum(v * x.get(k, 0) for k, v in c.memory.items())
    return max(tc, tm) + c.fixed


def test_gemm_roofline_by_hand():
    f = replace(Factors(), gemm_compute=0.5, gemm_memory=0.8, gemm_tile_m=1, kernel_us=1.0)
    num = Numerics(weight_bytes=2.0, head_bytes=2.0, kv_bytes=2.0, gemm_dtype="bf16")
    op = _gemm("qkv", "gemm", 1, 3072, 1024, 2.0, num)
    # decode GEMM M=1, N=3072, K=1024, bf16: weights 3072*1024*2 bytes + (3072+1024)*2 activation bytes
    t = _seconds(op, {"one": 1, "tokens": 1, "tokens_pad": 1}, f)
    assert t == pytest.approx((3072 * 1024 * 2 + 4096 * 2) / (1000e9 * 0.8) + 1e-6)
    # M=8192: compute bound, 2*8192*3072*1024 / (100e12 * 0.5)
    t = _seconds(op, {"one": 1, "tokens": 8192, "tokens_pad": 8192}, f)
    assert t == pytest.approx(2 * 8192 * 3072 * 1024 / 50e12 + 1e-6)


def test_small_m_gemm_pays_for_a_whole_tile():
    shape = StepShape.decode_of(16, 10, (inf,))
    assert features(shape, (inf,), (), Layout(), 64)["tokens_pad"] == 64
    assert features(shape, (inf,), (), Layout(), 1)["tokens_pad"] == 16
    one = StepShape.decode_of(1, 10, (inf,))  # a single row runs as a GEMV: nothing padded
    assert features(one, (inf,), (), Layout(), 64)["tokens_pad"] == 1
    f = replace(Factors(), gemm_compute=1, gemm_memory=1, gemm_tile_m=64, kernel_us=0)
    num = Numerics(weight_bytes=0.0, head_bytes=0.0, kv_bytes=2.0, gemm_dtype="bf16", act_bytes=0.0)
    op = _gemm("g", "gemm", 1, 4096, 4096, 0.0, num)
    assert _seconds(op, {"one": 1, "tokens": 16, "tokens_pad": 64}, f) == pytest.approx(64 * 2 * 4096 * 4096 / 100e12)


def test_allreduce_alpha_beta_by_hand():
    f = replace(Factors(), comm_bandwidth=0.5, kernel_us=0)
    op = LinOp("ar", "comm", 1, comm="all_reduce", comm_bytes={"tokens": 8e6}, group=8)
    # 2 latency phases of 2 us + 2*(7/8)*8e6 bytes at 50 GB/s
    assert _seconds(op, {"one": 1, "tokens": 1}, f, 8) == pytest.approx(4e-6 + 2 * 7 / 8 * 8e6 / 50e9)


def test_attended_pairs_causal_and_windowed():
    # 4 new tokens after 10 cached: keys 11+12+13+14
    assert _attended(10, 4, inf) == 50
    # window 12: min(11,12)+12+12+12
    assert _attended(10, 4, 12) == 47
    # fresh prompt of n tokens: n(n+1)/2
    assert _attended(0, 100, inf) == 5050


def _evaluated(arch, lay, num, shape, tile=1.0):
    x = features(shape, windows_of(arch), moe_shapes(arch), lay, tile)
    return [at(op, x) for op in step_ops(arch, lay, num)]


def test_decode_step_reads_every_weight_once():
    _, arch = model_arch("llama-3.1-70b")
    num = Numerics(weight_bytes=1.0, head_bytes=2.0, kv_bytes=2.0, gemm_dtype="fp8")
    ops = _evaluated(arch, Layout(tp=8), num, StepShape.decode_of(1, 1000, (inf,)))
    gemm_bytes = sum(o.bytes * o.count for o in ops if o.op_class == "gemm")
    pc = count_params(arch)
    expected = (pc.attention + pc.mlp_total) / 8 * 1.0 + arch.vocab * arch.hidden / 8 * 2.0
    # activations add a little on top of the weights: within 1%
    assert gemm_bytes == pytest.approx(expected, rel=0.01)
    assert gemm_bytes >= expected


def test_moe_decode_reads_only_touched_experts():
    cfg = {"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
           "num_key_value_heads": 4, "intermediate_size": 32, "num_local_experts": 8, "num_experts_per_tok": 2,
           "vocab_size": 10}
    arch = parse_config(cfg)
    num = Numerics(weight_bytes=1.0, head_bytes=1.0, kv_bytes=2.0, gemm_dtype="bf16", act_bytes=0.0)
    ops = _evaluated(arch, Layout(), num, StepShape.decode_of(1, 10, (inf,)))
    experts = next(o for o in ops if o.name == "experts")
    # one token picks 2 of 8 experts: 2 experts x 3 matrices x 64 x 32
    assert experts.bytes == pytest.approx(2 * 3 * 64 * 32)
    # many tokens touch every expert, and the FLOPs are 2 * tokens * k * 3 * 64 * 32
    ops = _evaluated(arch, Layout(), num, StepShape.decode_of(4096, 10, (inf,)))
    experts = next(o for o in ops if o.name == "experts")
    assert experts.bytes == pytest.approx(8 * 3 * 64 * 32, rel=1e-6)
    assert experts.flops == pytest.approx(2 * 4096 * 2 * 3 * 64 * 32, rel=1e-6)


def test_tp_must_divide_heads():
    with pytest.raises(SuanliError, match="tp=3 does not divide the 64 attention heads"):
        predict("llama-3.1-70b", "dgx-h100", tp=3)


def test_ep_needs_moe():
    with pytest.raises(SuanliError, match="dense model"):
        predict("llama-3.1-70b", "dgx-h100", tp=8, ep=8)


def _layout_for(arch, chips: int) -> int:
    heads = [g.attn.heads for g in arch.groups if g.attn.kind in ("mha", "mla")] or [1]
    tp = 1
    while tp * 2 <= chips and all(h % (tp * 2) == 0 for h in heads):
        tp *= 2
    return tp


def test_physics_bounds_for_every_model_and_system():
    """TPOT at batch 1 >= active weight bytes per chip / bandwidth; TTFT >= prefill FLOPs per chip / peak."""
    cat = catalog()
    systems = [s for s in cat.systems.values() if s.chips <= 72 or s.id.startswith("cloudmatrix")]
    checked = 0
    for m in cat.models.values():
        _, arch = model_arch(m.id)
        pc = count_params(arch)
        nonembed_active = pc.attention + pc.mlp_active
        for s in systems:
            chip = cat.chips[s.chip]
            tp = _layout_for(arch, min(s.chips, 8))
            try:
                dep = Deployed(arch, chip, s, Deployment(tp=tp, precision="bf16"), m.id)
            except SuanliError:
                continue  # unknown bandwidth or rates: the prediction refuses, which is honest
            p = predict_deployed(dep, Workload(input_len=512, output_len=8, batch=1), with_fit_search=False)
            bw = chip.memory.bandwidth_gb_s * 1e9
            peak = max(chip.available_dtypes().values()) * 1e12
            assert p.tpot_s >= nonembed_active * 2.0 / tp / bw * 0.999, (m.id, s.id)
            assert p.ttft_s >= 2 * nonembed_active * 512 / tp / peak * 0.999, (m.id, s.id)
            checked += 1
    assert checked > 100


def test_moe_routing_glue_is_its_own_memory_traffic():
    """Permute writes k copies of each token (dispatch format), finalize reads k outputs and writes the sum:
    by hand, h=64, k=2, one token, act 2 B and dispatch 1 B: 2 x 64 x (1 + 2) + 2 x 64 x 2/2 x 2 = 640 bytes."""
    cfg = {"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
           "num_key_value_heads": 4, "intermediate_size": 32, "num_local_experts": 8, "num_experts_per_tok": 2,
           "vocab_size": 10}
    arch = parse_config(cfg)
    num = Numerics(weight_bytes=1.0, head_bytes=1.0, kv_bytes=2.0, gemm_dtype="bf16", act_bytes=2.0,
                   dispatch_bytes=1.0)
    ops = _evaluated(arch, Layout(), num, StepShape.decode_of(1, 10, (inf,)))
    glue = next(o for o in ops if o.name == "moe_permute_finalize")
    assert glue.op_class == "elementwise"
    assert glue.bytes == pytest.approx(2 * 64 * 3 + 2 * 64 * 2 / 2 * 2)


def test_short_reductions_slow_gemms_by_hand():
    """Efficiency K / (K + k0): with k0 = 416 an expert op of 2/3 gate-up FLOPs at K = 4096 and 1/3 down FLOPs at
    K = 192 takes 2/3 (1 + 416/4096) + 1/3 (1 + 416/192) = 1.7579 times its asymptotic compute time."""
    from suanli.model.ops import LinOp
    from suanli.perf.cost import k_penalty

    op = LinOp("experts", "moe", 1.0, k_mix=((2 / 3, 4096.0), (1 / 3, 192.0)))
    assert k_penalty(op, 416.0) == pytest.approx(2 / 3 * (1 + 416 / 4096) + 1 / 3 * (1 + 416 / 192))
    assert k_penalty(op, 0.0) == 1.0
    assert k_penalty(LinOp("norm", "elementwise", 1.0), 416.0) == 1.0


def test_replicas_may_span_systems_without_a_network():
    """Two independent TP8 replicas of a 70B model on two 8-GPU MI325X boxes need no scale-out network; expert
    parallelism across the 16 GPUs does."""
    from suanli.catalog import catalog
    from suanli.perf.deployed import Deployed
    from suanli.schema import Deployment

    cat = catalog()
    system = cat.systems["mi325x-8"]
    assert system.chips == 8
    _, dense = model_arch("llama-3.1-70b")
    d = Deployed(dense, cat.chips["mi325x"], system, Deployment(precision="fp8", tp=8, dp=2), "llama-3.1-70b", None)
    assert d.layout.chips == 16
    _, moe = model_arch("mixtral-8x7b")
    with pytest.raises(SuanliError, match="talk to each other"):
        Deployed(moe, cat.chips["mi325x"], system, Deployment(precision="fp8", tp=1, dp=16, ep=8), "mixtral-8x7b",
                 None)


def test_all_reduce_leaves_the_engines_kernel_at_its_buffer_size():
    """Llama-3.1-70B TP 8 on dgx-h100: one more decode row past the engine's custom all-reduce buffer (8 MB in
    TensorRT-LLM, 8 MiB in vLLM) moves every all-reduce to the NCCL ring, which costs its fill time on each of the
    model's 2 x 80 all-reduces; an engine with a larger buffer has no step there (hand count, not a fitted offset)."""
    from suanli.api import deploy

    dep = Deployment(tp=8, precision="fp8", engine="trt-llm 1.2")
    d = deploy("llama-3.1-70b", "dgx-h100", dep)
    rows = 8e6 / (8192 * 2)  # 8 MB of bf16 activations, hidden 8192: 488.3 rows
    below, above = d.step_time(d.decode_shape(488, 2048)), d.step_time(d.decode_shape(489, 2048))
    assert d.ar_threshold == pytest.approx(rows)
    jump = 2 * 80 * d.factors.comm_ring_us * 1e-6
    assert above - below == pytest.approx(jump, rel=0.05)
    vllm = deploy("llama-3.1-70b", "dgx-h100", dep.model_copy(update={"engine": "vllm 0.11.0"}))
    assert vllm.ar_threshold == pytest.approx(8.388607e6 / (8192 * 2))  # under 8 MiB: 511 rows at most
    # before the kernel was on by default: every all-reduce on NCCL
    old = deploy("llama-3.1-70b", "dgx-h100", dep.model_copy(update={"engine": "vllm 0.3.0"}))
    assert old.ar_threshold == 0
