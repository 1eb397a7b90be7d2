"""Engines whose steps either prefill or decode (vLLM V0 without chunked prefill), with multi-step scheduling
(`--num-scheduler-steps`): the analytic model against the simulator, and AMD's MLPerf harness settings."""

import dataclasses

import pytest

from suanli.perf.factors import bundled_calibration
from suanli.validate.data import load_rows
from suanli.validate.deploy import _deployments
from suanli.validate.scenarios import _cap, _rate_analytic, simulated, steady
from suanli.validate.setup import Setup
from suanli.validate.sources import setup_of

HEADER = ("id,source,url,hardware,n_accel,model,weight_precision,kv_precision,engine,tp,pp,ep,dp,scenario,"
          "input_len,output_len,concurrency,request_rate,ttft_slo_ms,tpot_slo_ms,metric,value,unit,notes")
RESULTS = "https://github.com/mlcommons/inference_results_v5.1/blob/main/closed/"


def _loaded(calls: int, load: float):
    """Llama-3.1-8B on one H100, 512/128 tokens, prompts in steps of their own, at `load` of capacity."""
    launch = (("scheduler_steps", calls), ("mixed_batches", False), ("chunked_prefill", False))
    s = Setup("h100-sxm", 1, "llama-3.1-8b", "bf16", None, "vllm 0.6.5", 1, 1, 1, 1, "rate", 512, 128, None, None,
              None, None, None, launch=launch)
    cal = bundled_calibration()
    dep = _deployments(s, cal)[0]
    s = dataclasses.replace(s, rate=load * steady(dep, _cap(dep, s, 512), s).out_tok_s / 128)
    return _rate_analytic([dep], s, 3000), simulated(dep, s, cal, rate=s.rate, requests=3000)


@pytest.mark.parametrize("calls, load", [(1, 0.3), (1, 0.6), (8, 0.3), (8, 0.6)])
def test_multi_step_engine_analytic_matches_the_simulator(calls, load):
    """One or eight decode steps per scheduler call, prefill steps of their own: the analytic means within 10 % of
    the simulator's, the p99s within 20 % (a prompt waits for the rest of the running call or prefill step, then
    its own step)."""
    a, m = _loaded(calls, load)
    assert a.ttft == pytest.approx(m.ttft, rel=0.10)
    assert a.tpot == pytest.approx(m.tpot, rel=0.10)
    assert a.ttft_p99 == pytest.approx(m.ttft_p99, rel=0.20)
    assert a.tpot_p99 == pytest.approx(m.tpot_p99, rel=0.20)


def test_prefill_steps_of_their_own_cost_the_decodes_a_weight_read():
    """Without mixed steps each prefill step reads the weights again: the simulator's TPOT and the analytic one
    agree (within 5 %) and both exceed a mixed-step engine's at the same load; TTFT means agree within 10 %."""
    a, m = _loaded(1, 0.6)
    assert a.tpot == pytest.approx(m.tpot, rel=0.05) and a.ttft == pytest.approx(m.ttft, rel=0.10)
    cal = bundled_calibration()
    s = Setup("h100-sxm", 1, "llama-3.1-8b", "bf16", None, "vllm 0.6.5", 1, 1, 1, 1, "rate", 512, 128, None, None,
              None, None, None, launch=(("mixed_batches", True), ("chunked_prefill", True)))
    dep = _deployments(s, cal)[0]
    mixed = _rate_analytic([dep], dataclasses.replace(s, rate=0.6 * steady(dep, _cap(dep, s, 512), s).out_tok_s
                                                      / 128), 3000)
    assert a.tpot > 1.1 * mixed.tpot


def test_a_scheduler_call_runs_through_arrivals():
    """In the simulator a prompt that arrives during a call of 8 decode steps waits for its end: about 3.5 decode
    steps more than with one step per call (a uniform arrival, the call's share of the time)."""
    (_, one), (_, eight) = _loaded(1, 0.3), _loaded(8, 0.3)
    gained = (eight.ttft - one.ttft) / one.tpot
    assert 2.0 < gained < 4.5, gained


# the planner's candidates on such an engine: short and long requests, a model whose steps barely grow and one
# whose steps grow (as test_serving_model's planner grid)
APART = [("llama-3.1-8b", "1xh100-sxm", 2000, 400, 16), ("llama-3.1-8b", "1xh100-sxm", 512, 128, 64),
         ("qwen3-32b", "1xh200", 512, 128, 64)]


@pytest.mark.parametrize("calls", [1, 8])
@pytest.mark.parametrize("model, system, inp, out, cap", APART)
def test_planner_reads_prefill_steps_of_their_own_as_the_simulator_runs_them(calls, model, system, inp, out, cap):
    """The planner's unit (`Unit._apart`) on an engine whose prompts have steps of their own: at the rate it plans a
    candidate for, mean TTFT and TPOT within 10 % of the simulator's, p99s within 20 %."""
    from test_serving_model import assert_planned_as_simulated

    from suanli.catalog import catalog
    from suanli.engines import resolve_engine
    from suanli.model.resolve import model_arch
    from suanli.perf.deployed import Deployed
    from suanli.schema import Deployment

    model_id, arch = model_arch(model)
    sys_ = catalog().system(system)
    stack = resolve_engine("vllm 0.6.5", catalog().chips[sys_.chip].family)
    stack = dataclasses.replace(stack, features=stack.features.model_copy(
        update={"scheduler_steps": calls, "mixed_batches": False, "chunked_prefill": False}))
    dep = Deployed(arch, catalog().chips[sys_.chip], sys_, Deployment(precision="fp8", kv_precision="fp8"),
                   model_id, None, stack)
    assert_planned_as_simulated(dep, system, inp, out, cap, 4096)


def _row(tmp_path, path: str, model: str, scenario: str, metric: str = "ttft_mean_ms"):
    p = tmp_path / "rows.csv"
    p.write_text(HEADER + "\n" + f"a,MLPerf Inference v5.1,{RESULTS}{path}/performance/run_1/mlperf_log_summary.txt,"
                 f"mi325x,8,{model},fp8,,vllm 0.9.0.2.dev108+rocm641,,,,,{scenario},,,,,2000,200,{metric},1,ms,\n")
    return setup_of(load_rows(p)[0])


def test_amd_harness_runs_take_their_config(tmp_path):
    """AMD's harness config for MI325X Llama-2-70B Server: eight TP1 engines, nine steps per scheduler call, no
    chunked prefill, 40,960 tokens per step, at most 832 running (its scheduler patch); Vultr's Mixtral copy runs
    seven steps per call; Supermicro's MI325X results ran MangoBoost's engine: no AMD harness settings."""
    s, notes = _row(tmp_path, "AMD/results/8xMI325X_2xEPYC_9575F_1/llama2-70b-99/Server", "llama-2-70b", "server")
    launch = dict(s.launch)
    assert (s.tp, s.pp, s.dp, s.batch_cap) == (1, 1, 8, 832)
    assert launch["scheduler_steps"] == 9 and launch["token_budget"] == 40960
    assert launch["mixed_batches"] is False and launch["chunked_prefill"] is False
    assert any("server_mi325x.yaml" in n for n in notes)
    s, _ = _row(tmp_path, "Vultr/results/8xMI325X_2xEPYC_9575F/mixtral-8x7b/Server", "mixtral-8x7b", "server")
    assert dict(s.launch)["scheduler_steps"] == 7
    # each engine holds the whole MoE model: no expert parallelism across the eight GPUs
    assert (s.tp, s.ep, s.dp) == (1, 1, 8)
    assert {d.layout.ep for d in _deployments(s, bundled_calibration())} == {1}
    s, _ = _row(tmp_path, "Supermicro/results/8xMI325X_2xEPYC_9575F/llama2-70b-99/Server", "llama-2-70b", "server")
    assert "scheduler_steps" not in dict(s.launch)
    # Offline: the sync engine, 13 steps per call, 4,736 running; GigaComputing's copy takes 65,000 tokens a step
    s, notes = _row(tmp_path, "AMD/results/8xMI325X_2xEPYC_9575F_1/mixtral-8x7b/Offline", "mixtral-8x7b", "offline",
                    "output_tok_s")
    launch = dict(s.launch)
    assert (s.batch_cap, launch["scheduler_steps"], launch["token_budget"]) == (4736, 13, 51200)
    assert launch["mixed_batches"] is False and s.memory_utilization == 0.96
    assert any("offline_mi325x.yaml" in n for n in notes)
    s, _ = _row(tmp_path, "GigaComputing/results/8xMI325X_2xEPYC_9575F/mixtral-8x7b/Offline", "mixtral-8x7b",
                "offline", "output_tok_s")
    assert dict(s.launch)["token_budget"] == 65000


def test_a_batching_harness_holds_queries_and_sends_them_together(tmp_path):
    """AMD's v4.1 Server harness holds queries up to 0.3 s or 96 and sends them to one engine together: at 73.5
    queries/s the window is 0.3 s (96 / 73.5 = 1.3 s later), 22 queries a batch; a query waits 0.15 s there on
    average, 0.3 s at the tail, and its batch shares its prefill step."""
    from suanli.validate.scenarios import _in_system, held_together, under_arrivals

    p = tmp_path / "rows.csv"
    url = "https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/AMD/results/"
    p.write_text(HEADER + "\n" + f"a,MLPerf Inference v4.1,{url}8xMI300X_2xEPYC-9374F/llama2-70b-99/Server/"
                 "performance/run_1/mlperf_log_summary.txt,mi300x,8,llama-2-70b,fp8,,vllm 0.4.3+rocm614,,,,,server,"
                 ",,,,2000,200,ttft_mean_ms,1,ms,target_qps=73.5\n")
    s, _ = setup_of(load_rows(p)[0])
    assert s.dispatch == (0.3, 96) and (s.tp, s.dp, s.batch_cap) == (1, 8, 1024) and s.memory_utilization == 0.97
    assert dict(s.launch)["token_budget"] == 49152 and "scheduler_steps" not in dict(s.launch)
    assert held_together(s, 73.5) == pytest.approx((0.3, 22.05))
    assert held_together(s, 640.0) == pytest.approx((0.15, 96.0))  # the count comes first
    dep = _deployments(s, bundled_calibration())[0]
    b = _in_system(dep, s, s.rate, 10_000)
    held, alone = under_arrivals(dep, b, s), under_arrivals(dep, b, dataclasses.replace(s, dispatch=None))
    assert held.ttft - alone.ttft > 0.15 and held.ttft_p99 - alone.ttft_p99 > 0.3
    assert held.tpot == alone.tpot


def test_dells_v4_1_mi300x_server_ran_the_async_batcher(tmp_path):
    """Dell's README runs run_tests_Server.sh, which runs AMD's AsyncServer script: queries held up to 0.4 s or 32,
    768 running, 65,536 tokens a step; Dell's H200 results (TensorRT-LLM) take nothing of it."""
    url = "https://github.com/mlcommons/inference_results_v4.1/blob/main/closed/Dell/results/"
    p = tmp_path / "rows.csv"
    p.write_text(HEADER + "\n" + f"a,MLPerf Inference v4.1,{url}XE9680_MI300X_192GBx8/llama2-70b-99/Server/"
                 "performance/run_1/mlperf_log_summary.txt,mi300x,8,llama-2-70b,fp8,,vllm 0.4.3+rocm614,,,,,server,"
                 ",,,,2000,200,ttft_mean_ms,1,ms,target_qps=68.5\n"
                 f"b,MLPerf Inference v4.1,{url}XE9680_H200_SXM_141GBx8_TRT/llama2-70b-99/Server/performance/run_1/"
                 "mlperf_log_summary.txt,h200,8,llama-2-70b,fp8,fp8,trt-llm (tensorrt 10.2.0),,,,,server,,,,,2000,"
                 "200,ttft_mean_ms,1,ms,target_qps=102.5\n")
    (mi, notes), (h200, _) = (setup_of(r) for r in load_rows(p))
    assert mi.dispatch == (0.4, 32) and mi.batch_cap == 768 and mi.memory_utilization == 0.97
    assert dict(mi.launch)["token_budget"] == 65536
    assert any("AsyncServer" in n for n in notes)
    assert h200.dispatch is None
