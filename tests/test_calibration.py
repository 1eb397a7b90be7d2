"""Calibration: measured factors from micro-benchmarks, plausible ranges, families measured on MoE rows only,
beam search in the validation scenarios, and this machine's own factors picked up by default."""

from dataclasses import replace

import pytest

from suanli.perf.factors import bundled_calibration
from suanli.validate import fit as fitmod
from suanli.validate.data import load_rows
from suanli.validate.deploy import _deployments
from suanli.validate.ops import comm_fractions, is_ops_file
from suanli.validate.scenarios import mixed_step, steady
from suanli.validate.sources import setup_of

OPS_HEADER = "id,source,url,hardware,n_accel,op,dtype,m,n,k,size_bytes,metric,value,unit,notes"
E2E_HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
              "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")


def test_comm_fraction_is_the_median_of_large_in_node_all_reduces(tmp_path):
    p = tmp_path / "ops.csv"
    p.write_text(OPS_HEADER + "\n" + "\n".join([
        "a,s,u,h200,8,all_reduce,,,,,17179869184,busbw_gb_s,367.2,GB/s,ring",   # 367.2 / 450 = 0.816
        "b,s,u,h200,8,all_reduce,,,,,17179869184,busbw_gb_s,480.0,GB/s,nvls",   # 480 / 450 -> capped at 1
        "c,s,u,h200,4,all_reduce,,,,,8589934592,busbw_gb_s,363.3,GB/s,ring",    # 0.807
        "d,s,u,h200,8,all_reduce,,,,,1048576,busbw_gb_s,36.0,GB/s,small",       # too small: not the asymptote
        "e,s,u,h200,2,all_reduce,,,,,8589934592,busbw_gb_s,100.0,GB/s,pair",    # 2 chips: not every link busy
        "f,s,u,h200,1,gemm,bf16,4096,4096,4096,,achieved_tflops,700,TFLOP/s,x",  # not a collective
    ]) + "\n")
    assert is_ops_file(p)
    got = comm_fractions(p)
    assert list(got) == ["nvidia-hopper"]
    assert got["nvidia-hopper"]["rows"] == 3
    assert got["nvidia-hopper"]["comm_bandwidth"] == pytest.approx(367.2 / 450, abs=1e-3)


def test_clip_keeps_fractions_physical():
    assert fitmod._clip("moe_memory", 0.05) == 0.3
    assert fitmod._clip("comm_bandwidth", 0.01) == 0.25
    assert fitmod._clip("gemm_compute", 0.01) == 0.1
    assert fitmod._clip("gemm_memory", 1.7) == 1.0
    assert fitmod._clip("step_overhead_ms", 80.0) == 50.0


def _rows(tmp_path, body: str):
    p = tmp_path / "e2e.csv"
    p.write_text(E2E_HEADER + "\n" + body)
    return load_rows(p)


def test_measured_factor_is_not_moved_by_the_fit(tmp_path):
    rows = _rows(tmp_path, "".join(
        f"r{i},me,,h100-sxm,8,llama-3.1-70b,fp8,fp8,trt-llm,8,1,1,1,batch,1024,128,{b},,,,output_tok_s,{v},tok/s,\n"
        for i, (b, v) in enumerate([(1, 60), (8, 400), (32, 1200), (64, 1900), (128, 2600), (256, 3300)])))
    from dataclasses import replace
    prior = bundled_calibration().prior()
    prior = replace(prior, physical={**prior.physical, "nvidia-hopper": {
        **prior.physical.get("nvidia-hopper", {}), "comm_bandwidth": 0.42}})
    ff = fitmod.fit_family(rows, prior, "nvidia-hopper", sweeps=1, names=fitmod.DENSE_FACTORS)
    assert ff.fitted["comm_bandwidth"] == pytest.approx(0.42)


def test_family_measured_only_on_moe_rows_keeps_dense_factors(tmp_path, monkeypatch):
    rows = _rows(tmp_path, "".join(
        f"r{i},me,,h100-sxm,8,mixtral-8x7b,fp8,fp8,trt-llm,8,1,1,1,batch,1024,128,{b},,,,output_tok_s,{v},tok/s,\n"
        for i, (b, v) in enumerate([(1, 20), (8, 150), (32, 500), (64, 800), (128, 1100)])))
    seen: list[tuple[str, ...]] = []
    real = fitmod.fit_family

    def spy(rows, cal, family, sweeps=2, prior_cal=None, names=fitmod.FITTED):
        seen.append(names)
        return real(rows, cal, family, 1, prior_cal=prior_cal, names=names)

    monkeypatch.setattr(fitmod, "fit_family", spy)
    fitmod.fit(rows, bundled_calibration().prior(), families=["nvidia-hopper"], sweeps=1)
    assert seen and seen[0] == fitmod.MOE_ONLY
    assert "gemm_memory" not in seen[0] and "comm_bandwidth" not in seen[0]


def test_beam_search_decodes_four_sequences_per_request(tmp_path):
    body = ("g,MLPerf Inference v4.1,,h100-sxm,1,gpt-j-6b,fp8,fp8,trt-llm,1,1,1,1,offline,,,,,,,requests_s,30,req/s,\n"
            "h,other,,h100-sxm,1,gpt-j-6b,fp8,fp8,trt-llm,1,1,1,1,offline,871,69,,,,,requests_s,30,req/s,\n")
    mlperf, other = _rows(tmp_path, body)
    s4, notes = setup_of(mlperf)
    s1, _ = setup_of(other)
    assert s4.beams == 4 and s1.beams == 1
    assert any("beam search" in n for n in notes)
    dep = _deployments(s4, None)[0]
    p4, p1 = steady(dep, 64, s4), steady(dep, 64, s1)
    # 64 running sequences are 16 requests: a quarter of the prompts to prefill per step, so a shorter step...
    assert mixed_step(dep, 64, s4) < mixed_step(dep, 64, s1)
    # ...and each request's output counted once: out = sequences / beams x output_len / end-to-end
    e2e = p4.ttft + (s4.output_len - 1) * p4.step
    assert p4.out_tok_s == pytest.approx(64 / 4 * s4.output_len / e2e)
    assert p1.out_tok_s / 4 < p4.out_tok_s < p1.out_tok_s


def test_local_calibration_is_merged_for_new_families_only(tmp_path, monkeypatch):
    local = tmp_path / "local"
    local.mkdir()
    (local / "local-cpu.calibration.yaml").write_text(
        "families:\n  local-cpu:\n    gemm_compute: 0.83\n  nvidia-hopper:\n    gemm_compute: 0.01\n"
        "pairs:\n  local-cpu/pytorch:\n    step_overhead_ms: 11\n")
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path))
    bundled_calibration.cache_clear()
    try:
        cal = bundled_calibration()
        assert cal.families["local-cpu"]["gemm_compute"] == 0.83
        assert cal.pairs["local-cpu/pytorch"]["step_overhead_ms"] == 11
        assert cal.families["nvidia-hopper"]["gemm_compute"] != 0.01  # a user file cannot bend bundled families
    finally:
        monkeypatch.delenv("SUANLI_HOME")
        bundled_calibration.cache_clear()


def test_gemm_memory_from_decode_shaped_gemms(tmp_path):
    p = tmp_path / "ops.csv"
    p.write_text(OPS_HEADER + "\n" + "\n".join([
        "a,s,u,h800,1,gemm,fp8,64,7168,16384,,bandwidth_gb_s,2668,GB/s,x",  # 117 MB of weights: 2668 / 3350
        "b,s,u,h800,1,gemm,fp8,128,4096,7168,,bandwidth_gb_s,2221,GB/s,x",  # 29 MB: 2221 / 3350
        "c,s,u,h800,1,gemm,fp8,64,2112,7168,,bandwidth_gb_s,1688,GB/s,x",   # 15 MB: launch-bound, left out
        "d,s,u,h800,1,gemm,fp8,4096,7168,16384,,bandwidth_gb_s,900,GB/s,x",  # prefill-shaped: left out
        "e,s,u,h800,1,gemm,fp8,64,7168,16384,,achieved_tflops,336,TFLOP/s,x",  # not a bandwidth
    ]) + "\n")
    from suanli.validate.ops import gemm_fractions, measured_factors
    got = gemm_fractions(p)["nvidia-hopper"]
    assert got["rows"] == 2
    assert got["gemm_memory"] == pytest.approx((2668 / 3350 + 2221 / 3350) / 2, abs=1e-3)
    assert measured_factors(p) == {"nvidia-hopper": {"gemm_memory": got["gemm_memory"]}}


def test_notes_saying_kv_auto_keep_the_model_dtype(tmp_path):
    body = ("a,other,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm 1.0,1,1,1,1,offline,1000,1000,,,,,output_tok_s,1,tok/s,"
            "doc llm_options: KV dtype 'auto' on Hopper\n"
            "b,other,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm 1.0,1,1,1,1,offline,1000,1000,,,,,output_tok_s,1,tok/s,\n")
    auto, recipe = _rows(tmp_path, body)
    assert setup_of(auto)[0].kv is None  # bf16, as the notes say
    assert setup_of(recipe)[0].kv == "fp8"  # TensorRT-LLM's fp8 recipe quantizes the KV cache too


def test_vllm_caps_memory_as_a_share_of_the_whole_device():
    """vLLM's gpu_memory_utilization is of the whole memory, TensorRT-LLM's fraction is of what the weights
    leave: by hand for 405B fp8 on 8 x H100 (85.05 GB as the runtime sees it): reserve 1 + 0.1 x 85.05 = 9.5 GB vs
    1 + 0.1 x (85.05 - 1 - W)."""
    from suanli.catalog import catalog
    from suanli.model.resolve import model_arch
    from suanli.perf.deployed import Deployed
    from suanli.schema import Deployment

    cat = catalog()
    _, arch = model_arch("llama-3.1-405b")
    use = {}
    for engine in ("vllm 0.6.3", "trt-llm 0.14.0"):
        dep = Deployment(precision="fp8", tp=8, engine=engine)
        d = Deployed(arch, cat.chips["h100-sxm"], cat.systems["dgx-h100"], dep, "llama-3.1-405b", None)
        use[engine] = d.memory(1, 1000, 1000)
    w = use["vllm 0.6.3"].weights
    assert use["vllm 0.6.3"].reserve == pytest.approx(1e9 + 0.1 * 85.05e9, rel=1e-3)
    assert use["trt-llm 0.14.0"].reserve == pytest.approx(1e9 + 0.1 * (85.05e9 - 1e9 - w), rel=1e-3)


def test_gemm_k0_fitted_from_a_shape_sweep(tmp_path):
    """Fractions of peak built as 0.7 x K / (K + 400) on one chip come back as k0 = 400, e = 0.7; the best shape of
    a search and decode-sized GEMMs are not part of the sweep."""
    from suanli.validate.ops import gemm_k0s

    peak = 1978.9  # h800 fp8 dense TFLOP/s
    lines = [f"k{k},sweep,u,h800,1,gemm,fp8,4096,7168,{k},,achieved_tflops,{0.7 * k / (k + 400) * peak:.3f},TFLOP/s,x"
             for k in (512, 1536, 2048, 7168, 16384)]
    lines.append("best,mamf,u,h800,1,gemm,fp8,4096,4096,8192,,achieved_tflops,1900,TFLOP/s,best shape from a search")
    lines.append("small,sweep,u,h800,1,gemm,fp8,64,7168,256,,achieved_tflops,50,TFLOP/s,decode-sized")
    p = tmp_path / "ops.csv"
    p.write_text(OPS_HEADER + "\n" + "\n".join(lines) + "\n")
    got = gemm_k0s(p)["nvidia-hopper"]
    assert got["gemm_k0"] == 400 and got["peak_fraction"] == pytest.approx(0.7, abs=1e-3)
    assert got["rows"] == 5


def test_inferencex_rows_draw_lengths_like_its_harness(tmp_path):
    """InferenceX sends lengths uniform in [0.8 L, L]: predicted at the means, simulated with the spread."""
    body = ("a,SemiAnalysis InferenceX via NVIDIA AIConfigurator silicon_sample.csv,,h100-sxm,1,llama-3.1-8b,fp8,,"
            "vllm 0.10,1,1,1,1,concurrency,1000,500,4,,,,ttft_mean_ms,50,ms,\n"
            "b,NVIDIA internal Dynamo benchmark runs; not InferenceX,,h100-sxm,1,llama-3.1-8b,fp8,,"
            "vllm 0.10,1,1,1,1,concurrency,1000,500,4,,,,ttft_mean_ms,50,ms,\n")
    ix, other = _rows(tmp_path, body)
    s, notes = setup_of(ix)
    assert s.spread == (800, 1000, 400, 500) and (s.input_len, s.output_len) == (900, 450)
    assert any("uniform" in n for n in notes)
    assert setup_of(other)[0].spread is None


def test_roofline_sharpness_by_hand_and_from_a_sweep(tmp_path):
    """t = (tc^n + tm^n)^(1/n): equal halves at n = 2 take sqrt(2) x either; the n that built a sweep comes back."""
    import numpy as np

    from suanli.perf.deployed import combine
    from suanli.validate.ops import roofline_sharpness

    assert combine(np.array([1.0]), np.array([1.0]), 2.0)[0] == pytest.approx(2 ** 0.5)
    assert combine(np.array([3.0]), np.array([1.0]), 0.0)[0] == 3.0
    peak, bw, e, k0, mem, n = 1978.9e12, 3.35e12, 0.7, 400.0, 0.73, 2.5
    lines = []
    for i, (m, k) in enumerate([(256, 7168), (512, 2048), (384, 4096), (4096, 7168), (64, 7168), (300, 3000)]):
        nn = 4096
        tc = 2 * m * nn * k / (peak * e * k / (k + k0))
        tm = (nn * k + m * k + 2 * m * nn) / (bw * mem)
        t = (tc ** n + tm ** n) ** (1 / n)
        lines.append(f"r{i},s,u,h800,1,gemm,fp8,{m},{nn},{k},,achieved_tflops,{2 * m * nn * k / t / 1e12:.4f},TF,x")
    p = tmp_path / "ops.csv"
    p.write_text(OPS_HEADER + "\n" + "\n".join(lines) + "\n")
    got = roofline_sharpness(p, {"nvidia-hopper": k0}, {"nvidia-hopper": e}, {"nvidia-hopper": mem})
    assert got["nvidia-hopper"]["roofline_n"] == pytest.approx(n)


def test_vector_unit_families_skip_the_tile_pipeline_priors():
    """A family whose GEMMs have no row tile (CPUs, probed machines) gets no k0 and no ridge smoothing from the
    defaults, which were measured on GPUs; a GPU family keeps them."""
    from dataclasses import replace

    cal = bundled_calibration()
    cal = replace(cal, families={**cal.families, "probed-cpu": {"gemm_tile_m": 1.0, "gemm_compute": 0.9}})
    cpu, _ = cal.resolve("probed-cpu", None)
    gpu, _ = cal.resolve("nvidia-hopper", None)
    assert (cpu.gemm_k0, cpu.roofline_n) == (0.0, 0.0)
    assert gpu.gemm_k0 > 0 and gpu.roofline_n > 0


def test_meta_fp8_checkpoints_keep_attention_in_bf16(tmp_path):
    """Meta's FP8 releases quantize the FFNs only: by hand for 405B on 8 chips, attention projections take
    2 bytes per weight (fp8 elsewhere), run as bf16 GEMMs, and the notes naming the checkpoint select the scheme."""
    from suanli.catalog import catalog
    from suanli.model.params import attention_params
    from suanli.model.resolve import model_arch
    from suanli.perf.deployed import Deployed
    from suanli.schema import Deployment

    cat = catalog()
    _, arch = model_arch("llama-3.1-405b")
    w = {}
    for prec in ("fp8", "fp8-meta"):
        d = Deployed(arch, cat.chips["h100-sxm"], cat.systems["dgx-h100"], Deployment(precision=prec, tp=8),
                     "llama-3.1-405b", None)
        w[prec] = d.weight_bytes
        qkv = next(op for op in d.ops if op.name == "qkv_proj")
        assert qkv.dtype == ("bf16" if prec == "fp8-meta" else "fp8")
    attn = sum(g.count * attention_params(g.attn, arch.hidden) for g in arch.groups) / 8
    assert w["fp8-meta"] - w["fp8"] == pytest.approx(attn * 1.0, rel=1e-6)  # one extra byte per attention weight
    body = ("a,dstack,,h100-sxm,8,llama-3.1-405b,fp8,,vllm 0.6.3,8,,,,offline,128,2048,4,,,,total_tok_s,1,tok/s,"
            "checkpoint meta-llama/Llama-3.1-405B-FP8; label x\n"
            "b,dstack,,h100-sxm,8,llama-3.1-405b,fp8,,vllm 0.6.3,8,,,,offline,128,2048,4,,,,total_tok_s,1,tok/s,"
            "checkpoint amd/Llama-3.1-405B-Instruct-FP8-KV\n")
    meta, amd = _rows(tmp_path, body)
    assert setup_of(meta)[0].precision == "fp8-meta"
    assert setup_of(amd)[0].precision == "fp8"


def test_mlperf_reference_harness_is_one_untuned_engine(tmp_path):
    """The MLPerf reference SUT drives one OpenAI-compatible server: one engine over all chips at vLLM's default
    max-num-seqs, not the tuned replicas suanli would choose; other rows keep the free choice."""
    url = ("https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/NeuralMagic/results/"
           "vLLM_8xL40S-reference-cpu-pytorch-v2.3.1-default_config/llama2-70b-99/offline/x.txt")
    p = tmp_path / "r.csv"
    p.write_text(E2E_HEADER + "\n"
                 f"a,MLPerf Inference v4.1,{url},l40s,8,llama-2-7b,fp8,,vllm 0.5.2,,,,,offline,222,294,,,,,"
                 "output_tok_s,1,tok/s,\n"
                 f"b,MLPerf Inference v4.1,{url.replace('-reference-', '-')},l40s,8,llama-2-7b,fp8,,vllm 0.5.2,,,,,"
                 "offline,222,294,,,,,output_tok_s,1,tok/s,\n")
    ref, tuned = load_rows(p)
    s, notes = setup_of(ref)
    assert (s.tp, s.pp, s.dp, s.batch_cap) == (8, 1, 1, 256)
    assert any("reference harness" in n for n in notes)
    t = setup_of(tuned)[0]
    assert (t.tp, t.dp, t.batch_cap) == (None, None, None)
    # the llama3.1-8b reference SUT feeds its engine --batch-size samples at a time (default 1)
    edge = tmp_path / "e.csv"
    edge.write_text(E2E_HEADER + "\n"
                    "c,MLPerf Inference v5.1,https://x/open/G/results/G_RTX4090x2-reference-gpu-vllm-default_config/"
                    "llama3_1-8b-edge/offline/x.txt,rtx-4090,2,llama-3.1-8b,,,vllm,,,,,offline,,,,,,,output_tok_s,1,"
                    "tok/s,\n")
    e = setup_of(load_rows(edge)[0])[0]
    assert (e.tp, e.batch_cap) == (2, 1)


def _nvidia_b200_v51_server(tmp_path, model: str, lengths: str, result: str | None = None):
    """The setup and notes of one MLPerf v5.1 Server row of NVIDIA's 8 x B200 TensorRT-LLM submission (its configs
    are read from the result's URL); `lengths`: input, output, concurrency, rate, TTFT and TPOT limits."""
    url = ("https://github.com/mlcommons/inference_results_v5.1/blob/main/closed/NVIDIA/results/"
           f"B200-SXM-180GBx8_TRT/{result or model}/Server/performance/run_1/mlperf_log_summary.txt")
    p = tmp_path / f"{model}.csv"
    p.write_text(E2E_HEADER + "\n" + f"a,MLPerf Inference v5.1,{url},b200,8,{model},fp4,,trt-llm (tensorrt 10.11),"
                 f",,,,server,{lengths},ttft_mean_ms,1,ms,\n")
    return setup_of(load_rows(p)[0])


def test_mlperf_attention_dp_runs_take_their_harness_balancing(tmp_path):
    """DeepSeek-R1 Server on 8 x B200 (NVIDIA's config): attention DP with adp_balancing timeout 9, batching wait 3;
    the analytic TTFT carries the wait for a periodic release, about 4 steps on average."""
    from suanli.validate.scenarios import server

    s, notes = _nvidia_b200_v51_server(tmp_path, "deepseek-r1", "804,3886,,,2000,80")
    assert dict(s.launch)["adp_balance_iters"] == 9 and dict(s.launch)["adp_batching_iters"] == 3
    assert (s.tp, s.dp, s.ep) == (1, 8, 8) and any("attention-DP balancing" in n for n in notes)
    deps = _deployments(s, bundled_calibration())
    with_wait = server(deps, s)
    off = replace(s, launch=tuple((k, 0 if k.startswith("adp_") else v) for k, v in s.launch))
    without = server(_deployments(off, bundled_calibration()), off)
    assert with_wait.ttft - without.ttft == pytest.approx(4 * with_wait.step, rel=0.3)


def test_cache_held_per_running_request_follows_the_scheduler(tmp_path):
    """A reserving scheduler (TensorRT-LLM's default, GUARANTEED_NO_EVICT) holds a running request's whole output
    from its admission; launched with max_utilization (as NVIDIA's MLPerf harness does) it adds blocks as tokens come
    and a running request holds its mean position: with fixed lengths L, prompt + L against prompt + L / 2 tokens."""
    from suanli.perf.auto import max_batch
    from suanli.schema import Workload
    from suanli.validate.scenarios import _cap

    row = _rows(tmp_path, "a,s,,h100-sxm,1,llama-3.1-8b,bf16,,trt-llm 1.0,1,1,1,1,offline,1024,1024,,,,,"
                          "output_tok_s,1,tok/s,\n")[0]
    reserving = setup_of(row)[0]
    caps = []
    for s, held in ((reserving, 1024), (replace(reserving, launch=(("reserves_output", False),)), 512)):
        dep = _deployments(s, bundled_calibration())[0]
        caps.append(_cap(dep, s, 4096))
        assert caps[-1] == max_batch(dep, Workload(input_len=1024, output_len=held, batch=1), 4096)
    assert caps[1] > caps[0] * 1.2
    s, notes = _nvidia_b200_v51_server(tmp_path, "llama-2-70b", "222,294,,,2000,200", "llama2-70b-99")
    assert dict(s.launch)["reserves_output"] is False and s.memory_utilization == 0.95
    assert any("batch_scheduler_policy" in n for n in notes)


def test_server_rows_honour_a_p99_end_to_end_limit(tmp_path):
    """MLPerf GPT-J server limits p99 end-to-end latency (20 s): the chosen batch must finish within it."""
    from suanli.validate.scenarios import server

    note = "Server limit: p99 end-to-end latency <= 20 s (no TTFT/TPOT limits for gptj)"
    body = (f"a,MLPerf,,xeon-8592plus,2,gpt-j-6b,int4,,pytorch (cpu),,,,,server,871,128,,,,,requests_s,1,req/s,"
            f"{note}\n"
            "b,MLPerf,,xeon-8592plus,2,gpt-j-6b,int4,,pytorch (cpu),,,,,server,871,128,,,,,requests_s,1,req/s,\n")
    limited, free = _rows(tmp_path, body)
    s, _ = setup_of(limited)
    assert s.e2e_slo == 20.0 and setup_of(free)[0].e2e_slo is None
    p = server(_deployments(s, bundled_calibration()), s)
    assert p.ttft + (s.output_len - 1) * p.tpot <= 20.0
    q = server(_deployments(setup_of(free)[0], bundled_calibration()), setup_of(free)[0])
    assert q.batch > p.batch


def test_sm120_blackwell_cards_are_their_own_family():
    """RTX PRO 6000 / RTX 50 / GB10 (compute capability 12.x) do not share B200's (10.x) kernels or factors."""
    from suanli.catalog import catalog

    cat, cal = catalog(), bundled_calibration()
    assert {cat.chips[c].family for c in ("rtx-pro-6000", "rtx-5090", "rtx-5080", "dgx-spark")} == \
        {"nvidia-blackwell-rtx"}
    assert cat.chips["b200"].family == "nvidia-blackwell"
    assert "nvidia-blackwell-rtx" in cal.borrow


def test_varied_output_lengths_put_running_requests_further_in(tmp_path):
    """MLPerf DeepSeek-R1 outputs vary (cv 1.253 in the data set's per-sample lengths): a running request is on
    average L (1 + cv^2) / 2 tokens in, not L / 2, so each decode step attends over more context."""
    import dataclasses

    body = ("a,MLPerf Inference v5.1,,b200,8,deepseek-r1,fp4,,trt-llm,,,,,offline,,3886,,,,,output_tok_s,1,tok/s,\n"
            "b,other,,b200,8,deepseek-r1,fp4,,trt-llm,,,,,offline,800,3886,,,,,output_tok_s,1,tok/s,\n")
    mlperf, other = _rows(tmp_path, body)
    s, notes = setup_of(mlperf)
    assert s.output_cv == pytest.approx(1.253)
    assert s.decode_pos == pytest.approx(3886 * (1 + 1.253 ** 2) / 2)
    assert any("cv 1.253" in n for n in notes)
    assert setup_of(other)[0].decode_pos == pytest.approx(3886 / 2)  # no data set named: fixed lengths
    dep = _deployments(s, bundled_calibration())[0]
    fixed = dataclasses.replace(s, output_cv=0.0)
    assert mixed_step(dep, 512, s) > mixed_step(dep, 512, fixed)


def test_fit_leaves_out_runs_whose_load_the_latency_limits_set(tmp_path):
    """Server and interactive throughput is the load a submitter found to pass the p99 limits: validated, not
    fitted, like latency rows; offline throughput is fitted."""
    body = ("a,x,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,offline,1000,1000,,,,,output_tok_s,1,tok/s,\n"
            "b,x,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,server,1000,1000,,,2000,200,output_tok_s,1,tok/s,\n"
            "c,x,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,interactive,1000,1000,,,450,40,output_tok_s,1,tok/s,\n"
            "d,x,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,offline,1000,1000,,,,,ttft_mean_ms,1,ms,\n")
    assert [fitmod.fittable(r) for r in _rows(tmp_path, body)] == [True, False, False, False]


def test_moe_memory_from_the_least_loaded_grouped_gemms(tmp_path):
    """Expert weights stream as fast as a tuned grouped kernel streams them at its fewest rows per group: by hand,
    the median of 2064 / 3350 and 2047 / 3350 (four groups of 7168 x 4096 fp8 = 117 MB); heavier groups and a
    single small group are left out. The fit then leaves the measured factor alone."""
    from suanli.validate.ops import measured_factors, moe_fractions

    p = tmp_path / "ops.csv"
    p.write_text(OPS_HEADER + "\n" + "\n".join([
        "a,s,u,h800,1,grouped_gemm,fp8,256,4096,7168,,bandwidth_gb_s,2064,GB/s,4 groups masked",
        "b,s,u,h800,1,grouped_gemm,fp8,256,7168,2048,,bandwidth_gb_s,2047,GB/s,4 groups masked",
        "c,s,u,h800,1,grouped_gemm,fp8,1024,4096,7168,,bandwidth_gb_s,924,GB/s,1 groups masked",  # 1024 rows
        "d,s,u,h800,1,grouped_gemm,fp8,64,1024,1024,,bandwidth_gb_s,500,GB/s,1 groups",  # 1 MB: launch-bound
    ]) + "\n")
    got = moe_fractions(p)["nvidia-hopper"]
    assert got["rows"] == 2
    assert got["moe_memory"] == pytest.approx((2064 / 3350 + 2047 / 3350) / 2, abs=1e-3)
    assert measured_factors(p)["nvidia-hopper"]["moe_memory"] == got["moe_memory"]
    assert bundled_calibration().resolve("nvidia-hopper", None)[0].moe_memory == pytest.approx(0.614)


def test_moe_compute_from_compute_bound_grouped_gemms(tmp_path):
    """Grouped GEMMs of at least 1024 rows per group, over peak and with the K penalty taken out: by hand for H800
    fp8 (peak 1978.9), 1346 at K = 7168 and 1214 at K = 2048 with k0 = 416 give 0.680 x 7584 / 7168 and
    0.613 x 2464 / 2048; their median is the factor. Fewer rows per group sit at the ridge and are left out."""
    from suanli.validate.ops import moe_compute_fractions

    p = tmp_path / "ops.csv"
    p.write_text(OPS_HEADER + "\n" + "\n".join([
        "a,s,u,h800,1,grouped_gemm,fp8,4096,4096,7168,,achieved_tflops,1346,TFLOP/s,8 groups",
        "b,s,u,h800,1,grouped_gemm,fp8,4096,7168,2048,,achieved_tflops,1214,TFLOP/s,8 groups",
        "c,s,u,h800,1,grouped_gemm,fp8,256,4096,7168,,achieved_tflops,932,TFLOP/s,4 groups",
    ]) + "\n")
    got = moe_compute_fractions(p, {"nvidia-hopper": 416.0})["nvidia-hopper"]
    peak = 1978.9
    hand = sorted([1346 / peak * (1 + 416 / 7168), 1214 / peak * (1 + 416 / 2048)])
    assert got["rows"] == 2 and got["moe_compute"] == pytest.approx(sum(hand) / 2, abs=1e-3)
    assert moe_compute_fractions(p, {}) == {}  # no measured k0: nothing to take out, nothing claimed


def test_held_out_family_borrows_factors_fitted_on_the_rest(tmp_path):
    """Leave-one-source-out must predict a family left without rows the way an unseen chip is predicted: with
    the factors it borrows, fitted on the other sources (here B200 borrows Hopper, fitted on source b)."""
    from suanli.validate.fit import fit, leave_one_source_out
    from suanli.validate.run import predict_rows

    lines = [f"h{i},b,,h100-sxm,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,offline,{n},{n},,,,,output_tok_s,{v},tok/s,"
             for i, (n, v) in enumerate([(128, 9000), (512, 6000), (1024, 4000), (2048, 2500), (256, 8000)])]
    lines.append("x,a,,b200,1,llama-3.1-8b,fp8,,trt-llm,1,1,1,1,offline,1024,1024,,,,,output_tok_s,20000,tok/s,")
    rows = _rows(tmp_path, "\n".join(lines) + "\n")
    prior = bundled_calibration().prior()
    held = [r for r in rows if r.source == "a"]
    got = leave_one_source_out(rows, prior)["a"]["records"][0]["predicted"]
    borrowed = fit([r for r in rows if r.source == "b"], prior, families=["nvidia-blackwell", "nvidia-hopper"],
                   sweeps=1)
    assert got == pytest.approx(predict_rows(held, borrowed.calibration)[0]["predicted"])
    assert got != pytest.approx(predict_rows(held, prior)[0]["predicted"])


def test_beams_share_their_prompt_cache(tmp_path):
    """The beams of a request share its prompt's KV blocks (TRT-LLM addSequence, vLLM paged attention): by
    hand, a beam then holds 1/beams of the prompt plus its output, so more beams fit than whole sequences would."""
    from math import ceil

    from suanli.perf.auto import max_batch
    from suanli.schema import Workload
    from suanli.validate.scenarios import _cap

    body = "g,MLPerf Inference v4.1,,l40s,1,gpt-j-6b,fp8,fp8,trt-llm,1,1,1,1,offline,,,,,,,requests_s,30,req/s,\n"
    s, _ = setup_of(_rows(tmp_path, body)[0])
    assert s.beams == 4
    dep = _deployments(s, None)[0]
    held = max(1, round(s.output_len + s.decode_pos - s.output_len / 2))
    whole = max_batch(dep, Workload(input_len=s.input_len, output_len=held, batch=1), 4096)
    shared = max_batch(dep, Workload(input_len=ceil(s.input_len / 4), output_len=held, batch=1), 4096)
    assert _cap(dep, s, 4096) == shared
    assert shared > 2 * whole  # 871-token prompts, 69-token outputs: the prompt dominates the cache


def test_trt_llm_runs_a_uniform_sliding_window_as_full_attention():
    """TensorRT-LLM builds Mistral 7B v0.1 as Llama; its 4096 window is a run-time option trtllm-bench leaves
    unset: the KV cache holds the whole context. Interleaved windows (Gemma 2) and other engines keep theirs."""
    from suanli.catalog import catalog
    from suanli.model.resolve import model_arch
    from suanli.perf.deployed import Deployed
    from suanli.perf.memory import kv_bytes_per_seq
    from suanli.schema import Deployment

    cat = catalog()
    chip, system = cat.chips["h200"], cat.systems["dgx-h200"]
    _, mistral = model_arch("mistral-7b")
    kv = {}
    for engine in ("trt-llm 0.14.0", "vllm 0.6.3"):
        d = Deployed(mistral, chip, system, Deployment(precision="fp8", engine=engine), "mistral-7b", None)
        kv[engine] = kv_bytes_per_seq(d.arch, d.layout, d.numerics, 20000)
        assert bool(d.engine_notes) == engine.startswith("trt-llm")  # the prediction says why
    assert kv["trt-llm 0.14.0"] == pytest.approx(kv["vllm 0.6.3"] * 20000 / 4096)
    _, gemma = model_arch("gemma-2-2b")
    d = Deployed(gemma, chip, system, Deployment(precision="bf16", engine="trt-llm 0.14.0"), "gemma-2-2b", None)
    assert any(g.attn.window for g in d.arch.groups)


def test_rocm_vllm_per_channel_fp8_fallback_is_skipped_with_its_reason(tmp_path):
    """vLLM on AMD GPUs ran per-channel FP8 (Meta's checkpoints) through an unfused scaled_mm fallback until
    0.9: such rows are skipped with the reason; per-tensor FP8, newer vLLM and NVIDIA chips are predicted."""
    from suanli.validate.setup import Skip

    meta = "checkpoint meta-llama/Llama-3.1-405B-FP8"
    body = "".join(f"{i},dstack,,{hw},8,llama-3.1-405b,fp8,,{eng},8,,,,offline,128,2048,4,,,,total_tok_s,1,tok/s,"
                   f"{note}\n" for i, (hw, eng, note) in enumerate([
                       ("mi300x", "vllm rocm (embeddedllm/vllm-rocm:cb3b2b9)", meta),
                       ("mi300x", "vllm 0.6.3 (rocm)", meta),
                       ("mi300x", "vllm 0.9.2 (rocm)", meta),
                       ("mi300x", "vllm rocm", "checkpoint amd/Llama-3.1-405B-Instruct-FP8-KV"),
                       ("h100-sxm", "vllm 0.6.3", meta)]))
    rows = _rows(tmp_path, body)
    for r in rows[:2]:
        with pytest.raises(Skip, match="unfused scaled_mm fallback"):
            setup_of(r)
    assert [setup_of(r)[0].precision for r in rows[2:]] == ["fp8-meta", "fp8", "fp8-meta"]


def test_data_parallel_replicas_of_a_moe_model_share_nothing():
    """Without expert parallelism (ep = 1) the dp ranks are replicas (MLPerf's eight TP1 Mixtral engines, AMD's
    eight vLLM engines): each holds every expert and its step is one replica's, whatever dp; with expert
    parallelism the experts are split and the tokens cross the group (all-to-all)."""
    from suanli.catalog import catalog
    from suanli.model.resolve import model_arch
    from suanli.model.shape import StepShape
    from suanli.perf.deployed import Deployed
    from suanli.schema import Deployment

    cat = catalog()
    _, arch = model_arch("mixtral-8x7b")
    chip, system = cat.chips["h100-sxm"], cat.systems["dgx-h100"]

    def deployed(dp: int, ep: int) -> Deployed:
        return Deployed(arch, chip, system, Deployment(precision="fp8", tp=1, dp=dp, ep=ep), "mixtral-8x7b", None)

    one, four = deployed(1, 1), deployed(4, 1)
    assert four.weight_bytes == one.weight_bytes  # every replica holds the whole model
    assert {op.name for op in four.ops} == {op.name for op in one.ops}
    shape = StepShape.build([(2.0, 400, 0.0)], [(200.0, 1.0, 600.0)], four.windows)
    assert four.step_time(shape) == pytest.approx(one.step_time(shape))
    e = deployed(4, 4)
    assert "ep_dispatch" in {op.name for op in e.ops} and e.weight_bytes < one.weight_bytes / 3


def test_vllm_fp8_meta_notes_the_unfused_fallback_only_where_it_ran():
    """vLLM 0.6.3 ran Meta's fp8 checkpoints through an unfused scaled_mm fallback; 0.9.2 fuses them."""
    from suanli.catalog import catalog
    from suanli.model.resolve import model_arch
    from suanli.perf.deployed import Deployed
    from suanli.schema import Deployment

    cat = catalog()
    _, arch = model_arch("llama-3.1-405b")
    notes = {}
    for engine in ("vllm 0.6.3", "vllm 0.9.2"):
        d = Deployed(arch, cat.chips["mi300x"], cat.system("8xmi300x"),
                     Deployment(precision="fp8-meta", tp=8, engine=engine), "llama-3.1-405b", None)
        notes[engine] = " ".join(d.engine_notes)
    assert "unfused scaled_mm fallback" in notes["vllm 0.6.3"] and not notes["vllm 0.9.2"]  # predict warns too


def test_only_mistral_architectures_lose_their_window_under_trt_llm():
    """Phi-3 mini's uniform 2047-token window is kept: the rule is about models TensorRT-LLM builds as Llama."""
    from suanli.model.arch import without_uniform_window
    from suanli.model.resolve import model_arch

    _, phi = model_arch("phi-3-mini")
    _, mistral = model_arch("mistral-7b")
    assert without_uniform_window(phi) is phi
    assert all(g.attn.window is None for g in without_uniform_window(mistral).groups)


def test_jetstream_sharegpt_rows_take_the_harness_logged_lengths(tmp_path):
    """JetStream's benchmark_serving.py printed its ShareGPT totals (PR #83): 12,503 input / 30,175 generated
    tokens over 100 Llama-2 requests, 214,914 / 415,416 over 1,780 Llama-3 requests. Rows without lengths take
    those means; the output, generated under a 1024-token cap instead of the golden length, is an assumption."""
    body = "".join(f"{i},AI-Hypercomputer jetstream-pytorch benchmarks/summary.md,,tpu-v5e,8,{m},bf16,,"
                   f"jetstream-pytorch,,,,,offline,,,,,,,output_tok_s,1,tok/s,ShareGPT\n"
                   for i, m in enumerate(["llama-2-7b", "llama-2-13b", "llama-3-8b", "gemma-2b"]))
    got = [setup_of(r) for r in _rows(tmp_path, body)]
    llama2, llama3 = (round(12503 / 100), round(30175 / 100)), (round(214914 / 1780), round(415416 / 1780))
    assert [(s.input_len, s.output_len) for s, _ in got] == [llama2, llama2, llama3, llama3]
    for _, notes in got:
        assert any("(assumption)" in n and n.startswith("output_len") for n in notes)
    assert "assumption data-set mean" in got[3][1][0]  # Gemma borrows the Llama-3 count
    assert "published data-set mean" in got[2][1][0]


def test_shard_on_batch_splits_one_servers_batch_over_its_chips(tmp_path):
    """jetstream-pytorch --shard_on_batch runs one server whose batch_size is sharded over the chips: the cap is the
    whole group's, so each chip holds batch_size / dp; without the flag a stated batch is per engine."""
    body = "".join(f"{i},x,,tpu-v5e,8,gemma-2b,bf16,,jetstream-pytorch,,,,8,offline,128,256,,,,,output_tok_s,1,"
                   f"tok/s,server batch_size=512{note}\n" for i, note in enumerate(["; shard_on_batch", ""]))
    sharded, plain = (setup_of(r)[0] for r in _rows(tmp_path, body))
    assert sharded.batch_cap == 64 and plain.batch_cap == 512


def test_prompt_wait_is_pollaczek_khinchine_by_hand():
    """A replica with 100 ms mean steps, 50 ms without prompts, half a prompt per step: rho = 0.5 and each prompt
    takes S = 0.05 / 0.5 = 0.1 s. M/D/1 mean wait rho S / (2 (1 - rho)) = 0.05 s; the tail P(W > t) =
    rho exp(-x t / S) with 0.5 (e^x - 1) = x, x = 1.2564 (e^1.2564 = 3.5128), so p99 = 0.1 ln 50 / 1.2564.
    Varied prompt lengths (cv 1) double the mean; no prompt work means no wait; a replica busy with prompts all
    the time never catches up."""
    from math import log

    from suanli.serve.analytic import prompt_wait
    mean, p99 = prompt_wait(0.1, 0.05, 0.5, 0.0)
    assert mean == pytest.approx(0.05)
    assert p99 == pytest.approx(0.1 * log(50) / 1.2564, rel=1e-4)
    assert prompt_wait(0.1, 0.05, 0.5, 1.0)[0] == pytest.approx(0.1)
    assert prompt_wait(0.05, 0.05, 0.5, 0.0) == (0.0, 0.0)
    assert prompt_wait(0.1, 0.0, 0.5, 0.0)[0] == float("inf")


def test_random_prompts_make_the_mean_step_longer_than_their_mean_fraction(tmp_path):
    """With Poisson arrivals a step carries 0, 1, 2... whole prompts, not b / L of one. A step with a whole prompt
    is compute-bound and one without is not, so the mean of the mix exceeds the step with the mean fraction (the
    step time is convex in its tokens); with no prompts the two agree."""
    body = "a,x,,xeon-6787p,2,llama-3.1-8b,int8,,pytorch (cpu),,,,,server,870,128,,,2000,100,output_tok_s,1,tok/s,\n"
    s, _ = setup_of(_rows(tmp_path, body)[0])
    dep = _deployments(s, bundled_calibration())[0]
    spread, smooth = mixed_step(dep, 16, s, arrivals=True), mixed_step(dep, 16, s)
    assert spread > 1.1 * smooth
    assert mixed_step(dep, 16, s, prefill_share=0.0, arrivals=True) == mixed_step(dep, 16, s, prefill_share=0.0)


def test_server_latency_carries_the_step_boundary_and_the_prompt_queue(tmp_path):
    """Under Poisson arrivals a request waits for the running step to end (half a step on average) and for the
    prompts ahead of it, and its step also carries the prompts that arrive while it waits (rho = the share of time
    the engine spends on prompts, of that wait); its p99 TPOT carries the prompts that arrive while it decodes. On a
    CPU, where prompts
    dominate the work, that caps the load the 100 ms p99 TPOT and 2 s p99 TTFT limits allow well below offline."""
    from suanli.serve.analytic import prompt_wait
    from suanli.validate.scenarios import predict_setup, under_arrivals
    body = ("a,x,,xeon-6787p,2,llama-3.1-8b,int8,,pytorch (cpu),,,,,server,870,128,,,2000,100,output_tok_s,1,tok/s,\n"
            "b,x,,xeon-6787p,2,llama-3.1-8b,int8,,pytorch (cpu),,,,,offline,870,128,,,,,output_tok_s,1,tok/s,\n")
    srv, off = (setup_of(r)[0] for r in _rows(tmp_path, body))
    cal = bundled_calibration()
    dep = _deployments(srv, cal)[0]
    p, bare = under_arrivals(dep, 32, srv), steady(dep, 32, srv, arrivals=True)
    decode = mixed_step(dep, 32, srv, prefill_share=0.0)
    wait = prompt_wait(p.step, decode, 32 / dep.layout.dp / 128, 0.0)[0]
    rho = 1.0 - decode / p.step
    assert p.ttft == pytest.approx(bare.ttft + (wait + p.step / 2) * (1.0 + rho))
    assert p.tpot_p99 > p.tpot
    got = predict_setup(srv, cal)
    assert got.tpot_p99 <= 0.1 + 1e-9 and got.ttft_p99 <= 2.0
    assert got.out_tok_s < 0.85 * predict_setup(off, cal, fast=True).out_tok_s


def test_intel_cpu_harness_runs_pinned_sglang_instances_per_core_slice(tmp_path):
    """Intel's MLPerf v5.1 CPU code runs one SGLang server per slice of cores: 42-core instances with 32 running
    requests for Server, 7-core ones with 64 for Offline. On two 86-core Xeon 6787P that is 2 x 2 = 4 and
    2 x 12 = 24 instances; each slice gets its share of the socket's peak and memory bandwidth."""
    from suanli.catalog import catalog
    from suanli.validate.deploy import sub_chip
    body = ("a,MLPerf Inference v5.1,,xeon-6787p,2,llama-3.1-8b,int8,,pytorch (cpu),,,,,server,,,,,2000,100,"
            "output_tok_s,1,tok/s,\n"
            "b,MLPerf Inference v5.1,,xeon-6787p,2,llama-3.1-8b,int8,,pytorch (cpu),,,,,offline,,,,,,,"
            "output_tok_s,1,tok/s,\n"
            "c,other,,xeon-6787p,2,llama-3.1-8b,int8,,pytorch (cpu),,,,,offline,870,128,,,,,output_tok_s,1,tok/s,\n")
    srv, off, other = (setup_of(r) for r in _rows(tmp_path, body))
    assert (srv[0].tp, srv[0].dp, srv[0].batch_cap) == (1, 4, 32)
    assert (off[0].dp, off[0].batch_cap) == (24, 64)
    assert any("42 cores" in n for n in srv[1])
    assert other[0].dp is None  # not the harness: suanli chooses the layout
    chip = catalog().chips["xeon-6787p"]
    half = sub_chip(chip, 2)
    assert half.memory.bandwidth_gb_s == pytest.approx(chip.memory.bandwidth_gb_s / 2)
    assert half.matrix_tflops["int8"] == pytest.approx(chip.matrix_tflops["int8"] / 2)
    assert half.family == chip.family and half.cores == chip.cores // 2
    deps = _deployments(srv[0], bundled_calibration())
    assert [d.layout.dp for d in deps] == [4] and deps[0].system.chips == 4


def test_intel_xpu_harness_layout_quantization_and_memory_share(tmp_path):
    """Intel's MLPerf v5.1 Arc runs: int4 weights with quantized activations (int8 matrix units), one vLLM
    instance per TP x PP group with its max_num_seqs and gpu_memory_utilization, as its init_env files set."""
    row = ("a,MLPerf Inference v5.1,,arc-pro-b60,8,llama-2-70b,int4,,vllm 0.9.0 (intel xpu),,,,,{sc},,,,,2000,200,"
           "output_tok_s,1,tok/s,\n")
    srv, off = (setup_of(r)[0] for r in _rows(tmp_path, row.format(sc="server") + row.format(sc="offline")))
    assert (srv.precision, srv.kv, srv.tp, srv.pp, srv.dp, srv.batch_cap) == ("w4a8", "int8", 2, 1, 4, 160)
    assert (off.tp, off.pp, off.dp, off.batch_cap) == (1, 4, 2, 768)
    assert srv.memory_utilization == 0.99 and off.memory_utilization == 0.955
    dep = _deployments(srv, bundled_calibration())[0]
    assert dep.factors.memory_utilization == 0.99
    plain = _rows(tmp_path, row.format(sc="server").replace("MLPerf Inference v5.1", "other"))[0]
    assert setup_of(plain)[0].precision == "int4" and setup_of(plain)[0].memory_utilization is None


def test_mlperf_rows_take_the_layout_and_batch_their_submitter_published(tmp_path, monkeypatch):
    """An MLPerf result's path (closed/<submitter>/results/<system>/<benchmark>/<scenario>/) finds the harness
    config the submitter published with it: Fujitsu ran Llama-2-70B on 8 L40S as TP4 engines of batch 1024, so
    the prediction uses two such engines instead of choosing its own layout."""
    from suanli.validate.sources import mlperf
    table = tmp_path / "configs.csv"
    table.write_text("# test\nversion,submitter,system_id,benchmark,scenario,config_path,gpu_batch_size,"
                     "tensor_parallelism,pipeline_parallelism\n"
                     "v4.1,Fujitsu,CDI_L40Sx8_TRT,llama2-70b-99,Offline,closed/Fujitsu/configs/x.py,1024,4,\n")
    monkeypatch.setattr(mlperf, "MLPERF_CONFIGS", table)
    mlperf.mlperf_configs.cache_clear()
    url = ("https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/Fujitsu/results/CDI_L40Sx8_TRT/"
           "llama2-70b-99/Offline/performance/run_1/mlperf_log_summary.txt")
    body = (f"a,MLPerf Inference v4.1,{url},l40s,8,llama-2-70b,fp8,,trt-llm,,,,,offline,222,294,,,,,"
            "output_tok_s,1,tok/s,\n"
            f"b,MLPerf Inference v4.1,{url.replace('Offline', 'Server')},l40s,8,llama-2-70b,fp8,,trt-llm,,,,,server,"
            "222,294,,,2000,200,output_tok_s,1,tok/s,\n")
    try:
        (known, notes), (unknown, _) = (setup_of(r) for r in _rows(tmp_path, body))
        assert (known.tp, known.pp, known.dp, known.batch_cap) == (4, 1, 2, 1024)
        assert any("closed/Fujitsu/configs/x.py" in n for n in notes)
        assert unknown.tp is None and unknown.batch_cap is None  # no config for that scenario: suanli chooses
    finally:
        mlperf.mlperf_configs.cache_clear()


def test_a_results_weight_format_reported_elsewhere_is_used_when_its_files_omit_it(tmp_path):
    """NVIDIA's v4.1 B200 preview Llama-2-70B result does not state its weight format; reporting on it does (FP4).
    A row of that result with an empty precision takes it, with the source in the notes; a stated precision wins."""
    url = ("https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/NVIDIA/results/B200-SXM-180GBx1_TRT/"
           "llama2-70b-99/Offline/performance/run_1/mlperf_log_summary.txt")
    tail = "trt-llm,,,,,offline,222,294,,,,,output_tok_s,1,tok/s,\n"
    body = (f"a,MLPerf Inference v4.1,{url},b200,1,llama-2-70b,,,{tail}"
            f"b,MLPerf Inference v4.1,{url},b200,1,llama-2-70b,fp8,,{tail}")
    (quiet, notes), (stated, _) = (setup_of(r) for r in _rows(tmp_path, body))
    assert quiet.precision == "fp4" and quiet.kv == "fp8"
    assert any("Tom's Hardware" in n for n in notes)
    assert stated.precision == "fp8"


def test_tensorrt_llm_engine_batch_counts_requests_so_beams_multiply_it(tmp_path, monkeypatch):
    """TensorRT-LLM's max_batch_size (MLPerf's gpu_batch_size) counts requests; MLPerf GPT-J decodes 4 beams per
    request, so an engine batch of 64 holds 256 decoding sequences."""
    from suanli.validate.sources import mlperf
    table = tmp_path / "configs.csv"
    table.write_text("version,submitter,system_id,benchmark,scenario,config_path,gpu_batch_size,tensor_parallelism,"
                     "pipeline_parallelism\nv4.1,X,SYS_TRT,gptj-99,Offline,closed/X/configs/g.py,64,1,1\n")
    monkeypatch.setattr(mlperf, "MLPERF_CONFIGS", table)
    mlperf.mlperf_configs.cache_clear()
    url = ("https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/X/results/SYS_TRT/gptj-99/Offline/"
           "performance/run_1/mlperf_log_summary.txt")
    body = f"a,MLPerf Inference v4.1,{url},h100-sxm,1,gpt-j-6b,fp8,,trt-llm,,,,,offline,,,,,,,output_tok_s,1,tok/s,\n"
    try:
        s, _ = setup_of(_rows(tmp_path, body)[0])
        assert s.beams == 4 and s.batch_cap == 256
    finally:
        mlperf.mlperf_configs.cache_clear()


def test_more_instances_than_chips_must_be_whole_slices(tmp_path):
    """dp above the chip count means slices of each chip (pinned CPU instances, MIG): 4 on 2 sockets is two halves
    each; 3 instances on 2 GPUs is no layout, and the row says so instead of predicting three GPUs' throughput."""
    head = "a,me,,xeon-6787p,2,llama-3.1-8b,int8,,sglang,1,1,,4,offline,870,128,,,,,output_tok_s,800,tok/s,\n"
    odd = "b,me,,h100-sxm,2,llama-3.1-8b,fp8,,vllm,1,1,,3,offline,1000,1000,,,,,output_tok_s,1000,tok/s,\n"
    ok, bad = (setup_of(r)[0] for r in _rows(tmp_path, head + odd))
    deps = _deployments(ok, bundled_calibration())
    assert deps[0].layout.dp == 4 and deps[0].system.chips == 4
    from suanli.validate.setup import Skip
    with pytest.raises(Skip, match="dp=3 on 2 chip"):
        _deployments(bad, bundled_calibration())


def test_a_benchmarks_launch_flags_and_image_version_come_from_its_adapter(tmp_path):
    """dstack's README: the MI300X image reports vLLM 0.6.3 and its offline runs passed --enforce-eager; the row
    is predicted as that version in eager mode (5 us more per kernel launched), its serving runs with graphs."""
    from suanli.validate.deploy import _deployments

    src = 'dstack benchmarks "Llama3.1-405B-FP8: 8xH100 SXM5 vs 8xMI300X" (comparison/h100sxm5_vs_mi300x)'
    tail = "amd/Llama-3.1-405B-Instruct-FP8-KV"
    quoted = '"' + src.replace('"', '""') + '"'  # a CSV field with quotes in it
    body = (f"a,{quoted},,mi300x,8,llama-3.1-405b,fp8,fp8,vllm rocm (embeddedllm/vllm-rocm:cb3b2b9),8,1,,,offline,"
            f"128,2048,4,,,,total_tok_s,100,tok/s,checkpoint {tail}\n"
            f"b,{quoted},,mi300x,8,llama-3.1-405b,fp8,fp8,vllm rocm (embeddedllm/vllm-rocm:cb3b2b9),8,1,,,rate,"
            f"128,2048,,1,,,total_tok_s,100,tok/s,checkpoint {tail}\n")
    (offline, notes), (served, _) = (setup_of(r) for r in _rows(tmp_path, body))
    assert offline.engine.startswith("vllm 0.6.3") and offline.graph_mode == "eager"
    assert served.graph_mode is None and any("--enforce-eager" in n for n in notes)
    eager, graphs = (_deployments(s, None)[0] for s in (offline, served))
    assert eager.factors.kernel_us > graphs.factors.kernel_us


def test_a_tensorrt_engine_runs_without_the_pytorch_executors_overlap(tmp_path):
    """A run that names its TensorRT version ran TensorRT-LLM's C++ Executor, which has no overlap scheduler; a
    PyTorch-backend version keeps it."""
    body = ("g,MLPerf Inference v5.1,,h200,8,llama-2-70b,fp8,fp8,trt-llm (tensorrt 10.11),8,1,1,1,offline,222,294,,"
            ",,,output_tok_s,30000,tok/s,\n"
            "h,other,,h200,8,llama-2-70b,fp8,fp8,trt-llm 1.0.0,8,1,1,1,offline,222,294,,,,,output_tok_s,30000,tok/s,\n")
    trt, torch = _rows(tmp_path, body)
    (s_trt, notes), (s_torch, _) = setup_of(trt), setup_of(torch)
    assert dict(s_trt.launch).get("overlap_scheduling") is False and any("C++ Executor" in n for n in notes)
    assert "overlap_scheduling" not in dict(s_torch.launch)
    assert not _deployments(s_trt, None)[0].stack.features.overlap_scheduling
    assert _deployments(s_torch, None)[0].stack.features.overlap_scheduling
