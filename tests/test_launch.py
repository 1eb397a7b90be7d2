"""Launch settings: the admission waits an engine's scheduler may be launched with (TensorRT-LLM's batch waiting
and attention-DP balance), and the InferenceX adapter that reads what a run's launch script set."""

from dataclasses import replace

import pytest

from suanli.api import deploy
from suanli.schema import Deployment
from suanli.serve.engine import Engine
from suanli.serve.requests import Request
from suanli.serve.sim import SimConfig, run
from suanli.serve.workload import Arrivals, LengthDist
from suanli.validate.data import Row
from suanli.validate.sources import setup_of
from suanli.validate.sources.inferencex import launch

IX = "SemiAnalysis InferenceX via NVIDIA AIConfigurator silicon_sample.csv"


def _engine(ranks: int = 1, **features) -> Engine:
    dep = deploy("llama-3.1-8b", "1xh100-sxm", Deployment(engine="trt-llm"))
    dep.stack = replace(dep.stack, features=dep.stack.features.model_copy(update=features))
    return Engine(dep, 40e9, 256, 8192, 1.0 / ranks, index=0, ranks=ranks)


def _waiting(engine: Engine, n: int, prompt: int = 1024) -> None:
    for i in range(n):
        engine.waiting.append(Request(i, 0.0, prompt, 16, todo=prompt))


def test_batch_wait_holds_prompts_for_at_most_its_steps():
    e = _engine(batch_wait_iters=40, batch_wait_tokens=0.8)
    _waiting(e, 2)  # 2 x 1,024 + 64 decoding < 0.8 x 8,192: held
    holds = [e._hold(64, 0.0) for _ in range(45)]
    assert holds == [True] * 40 + [False] + [True] * 4  # the 41st step lets them in; prompts left start a new wait
    assert e._hold(0, 0.0) is False  # nothing decoding: nothing to wait beside


def test_batch_wait_ends_when_the_step_would_be_full_enough():
    e = _engine(batch_wait_iters=40, batch_wait_tokens=0.8)
    _waiting(e, 7)  # 7 x 1,024 + 64 = 7,232 >= 6,553.6
    assert e._hold(64, 0.0) is False


def test_no_wait_unless_launched():
    e = _engine()
    _waiting(e, 1)
    assert e._hold(64, 0.0) is False


def test_attention_dp_balance_lets_prompts_in_at_periodic_releases():
    """TensorRT-LLM counts every step in which some rank has no prompt, prompts or not, and lets them in when the
    count reaches timeout_iters (then counts again); with a prompt on every rank, after batching_wait_iters."""
    e = _engine(ranks=4, adp_balance_iters=6, adp_batching_iters=2)
    assert [e._hold(8, 0.0) for _ in range(4)] == [True] * 4  # the count runs with nothing waiting
    _waiting(e, 1)
    assert [e._hold(8, 0.0) for _ in range(2)] == [True, False]  # a late prompt waits only the rest of the cycle
    assert [e._hold(8, 0.0) for _ in range(6)] == [True] * 5 + [False]  # then whole cycles
    _waiting(e, 3)  # a prompt for every rank: the count restarts, two batching steps
    assert [e._hold(8, 0.0) for _ in range(3)] == [True, True, False]
    assert e._hold(2, 0.0) is False  # a rank with nothing decoding does not wait


def test_balance_wait_is_half_a_release_cycle_unless_every_rank_fills_first():
    from types import SimpleNamespace

    from suanli.serve.analytic import balance_wait

    f = SimpleNamespace(adp_balance_iters=9, adp_batching_iters=3)
    assert balance_wait(f, 8, 0.0) == (4.0, pytest.approx(0.99 * 8))  # uniform over 0..8 steps
    assert balance_wait(f, 1, 0.5) == (0.0, 0.0)
    # 0.5 prompts per step per rank: the other 3 ranks hold one after (1 + 1/2 + 1/3) / 0.5 = 3.67 steps, + 3
    fill = (1 + 1 / 2 + 1 / 3) / 0.5 + 3
    assert balance_wait(f, 4, 0.5) == (pytest.approx(fill - fill ** 2 / 16), pytest.approx(fill))


def test_simulated_balance_wait_matches_the_analytic_one():
    """Poisson arrivals far too sparse to fill every rank, every rank decoding (about 40 running): each prompt waits
    for the next periodic release."""
    from suanli.serve.analytic import balance_wait

    dep = deploy("deepseek-v2-lite", "dgx-h100", Deployment(tp=1, ep=8, dp=8, engine="trt-llm", precision="fp8"))

    def ttft(iters: int) -> float:
        dep.stack = replace(dep.stack, features=dep.stack.features.model_copy(
            update={"adp_balance_iters": iters, "adp_batching_iters": 0}))
        cfg = SimConfig(requests=600, seed=3, max_seqs=64, arrivals=Arrivals("poisson", rate=4.0),
                        input_dist=LengthDist("fixed", {"value": 256}), output_dist=LengthDist("fixed", {"value": 800}))
        r = run(dep, None, cfg)
        done = [q for q in r.requests if q.finish < float("inf")]
        step = sum((q.finish - q.first_token) / (q.output - 1) for q in done) / len(done)
        return sum(q.first_token - q.arrival for q in done) / len(done), step

    base, step = ttft(0)
    held, _ = ttft(20)
    mean, _ = balance_wait(dep.stack.features.model_copy(update={"adp_balance_iters": 20}), 8, 4.0 / 8 * step)
    assert held - base == pytest.approx(mean * step, rel=0.25)


def _ttft(**features) -> float:
    dep = deploy("llama-3.1-8b", "1xh100-sxm", Deployment(engine="trt-llm"))
    dep.stack = replace(dep.stack, features=dep.stack.features.model_copy(update=features))
    cfg = SimConfig(requests=800, seed=0, max_seqs=512, arrivals=Arrivals("concurrency", clients=64),
                    input_dist=LengthDist("fixed", {"value": 1024}), output_dist=LengthDist("fixed", {"value": 256}))
    r = run(dep, None, cfg)
    done = [q for q in r.requests if q.first_token < float("inf")]
    return sum(q.first_token - q.arrival for q in done) / len(done)


def test_a_batch_wait_adds_at_most_its_steps_to_ttft():
    base, held = _ttft(), _ttft(batch_wait_iters=40, batch_wait_tokens=0.8)
    step = 0.02  # an upper bound on this deployment's step at 64 sequences (about 8 ms)
    assert base < held <= base + 41 * step


def _row(**kw) -> Row:
    fields = dict(line=1, id="x", source=IX, hardware="b200", n_accel=2, model="minimax-m2.5", weight_precision="fp8",
                  kv_precision="", engine="vllm 0.19.0", tp=2, pp=1, ep=1, dp=1, scenario="concurrency",
                  input_len=1024, output_len=1024, concurrency=64, request_rate=None, ttft_slo_ms=None,
                  tpot_slo_ms=None, metric="ttft_mean_ms", value=100.0,
                  notes="mode=agg; aggregated: tp2 pp1 attention_dp1 moe_tp2 moe_ep1; measured=2026-04-08T00:00:00Z")
    fields.update(kw)
    return Row(**fields)


def test_inferencex_minimax_launch_follows_the_script_of_its_date():
    s, notes = setup_of(_row())
    assert dict(s.launch) == {"memory_utilization": 0.9, "token_budget": 2048} and s.kv == "fp8"
    assert any("--max-num-batched-tokens" in n for n in notes)
    s, _ = setup_of(_row(notes="mode=agg; measured=2026-03-20T00:00:00Z", engine="vllm 0.17.0"))
    assert dict(s.launch) == {"memory_utilization": 0.95} and s.kv is None
    s, _ = setup_of(_row(source="someone else's benchmark"))
    assert s.launch == ()


@pytest.mark.parametrize("adp, clients, expect", [(True, 64, {"adp_balance_iters": 60}),
                                                   (False, 64, {"batch_wait_iters": 40}),
                                                   (False, 32, {"token_budget": 8192})])
def test_inferencex_trtllm_waits(adp, clients, expect):
    run_ = dict(model="deepseek-r1", engine="trt-llm", precision="fp8", isl=1024, osl=1024, clients=clients, adp=adp)
    got = launch(IX, "measured=2026-02-05T00:00:00Z", run_)
    assert expect.items() <= got[0].items()
    if clients < 64:
        assert "batch_wait_iters" not in got[0]


@pytest.mark.parametrize("day, clients, isl, budget", [("2025-11-02", 256, 1024, 1344), ("2025-11-02", 4, 8192, 8320),
                                                       ("2026-02-05", 256, 1024, 8192)])
def test_inferencex_trtllm_token_budget_holds_the_decodes_and_one_prompt(day, clients, isl, budget):
    # MAX_NUM_TOKENS=$(( ($CONC+$ISL+64+63)/64*64 )), at least 8192 from 2026-01-22
    run_ = dict(model="deepseek-r1", engine="trt-llm", precision="fp4", isl=isl, osl=1024, clients=clients, adp=False)
    assert launch(IX, f"measured={day}T00:00:00Z", run_)[0]["token_budget"] == budget


def test_a_run_whose_server_batch_the_row_cannot_give_is_skipped():
    from suanli.validate.setup import Skip

    row = _row(model="gpt-oss-120b", hardware="h100-sxm", engine="vllm 0.11.2", concurrency=512, tp=8,
               weight_precision="mxfp4", notes="mode=agg; measured=2025-12-05T00:00:00Z")
    with pytest.raises(Skip, match="max-num-seqs"):
        setup_of(row)
    setup_of(_row(model="gpt-oss-120b", hardware="h100-sxm", engine="vllm 0.11.2", concurrency=64, tp=8,
                  weight_precision="mxfp4", notes="mode=agg; measured=2025-12-05T00:00:00Z"))


@pytest.mark.parametrize("n, tp, ep, dp, want", [(64, 64, 8, 1, (8, 8, 8, 1)), (64, 1, 8, 64, (8, 1, 8, 8)),
                                                 (16, 4, 16, 4, (4, 4, 4, 1)), (16, 16, 4, 1, (4, 4, 4, 1))])
def test_a_one_node_run_listed_on_tp_times_ep_gpus_runs_on_one_node(n, tp, ep, dp, want):
    row = _row(model="deepseek-r1", engine="trt-llm", weight_precision="fp4", n_accel=n, tp=tp, ep=ep, dp=dp,
               notes=f"mode=agg; aggregated: tp{tp} attention_dp{dp}; measured=2026-02-03T00:00:00Z")
    s, notes = setup_of(row)
    assert (s.n, s.tp, s.ep, s.dp) == want
    assert any("tp x ep" in x for x in notes)


def test_a_layout_within_one_node_or_from_another_source_is_kept():
    kept = dict(model="deepseek-r1", engine="trt-llm", weight_precision="fp4", tp=8, ep=8, dp=1,
                notes="mode=agg; aggregated: tp8; measured=2026-02-03T00:00:00Z")
    s, _ = setup_of(_row(n_accel=8, **kept))
    assert (s.n, s.tp, s.ep) == (8, 8, 8)
    s, _ = setup_of(_row(n_accel=64, source="someone's multi-node benchmark", **kept | {"tp": 64}))
    assert (s.n, s.tp) == (64, 64)


@pytest.mark.parametrize("layout, n, skipped", [("tp1 pp1 attention_dp1 moe_tp2 moe_ep1", 1, True),
                                                ("tp2 pp1 attention_dp1 moe_tp4 moe_ep1", 2, True),
                                                ("tp2 pp1 attention_dp1 moe_tp2 moe_ep1", 2, False),
                                                ("tp2 pp1 attention_dp1 moe_tp1 moe_ep2", 2, False)])
def test_a_row_whose_expert_layout_is_wider_than_its_attention_layout_is_skipped(layout, n, skipped):
    """AIConfigurator requires tp x attention_dp == moe_tp x moe_ep: a row listing fewer attention GPUs than
    expert GPUs describes no run suanli can rebuild (NVIDIA's internal Qwen3-235B runs on H200)."""
    from suanli.validate.setup import Skip

    tp = int(layout.split()[0][2:])
    row = _row(model="qwen3-235b-a22b", hardware="h200", engine="vllm 0.12.0", weight_precision="fp8", n_accel=n,
               tp=tp, ep=1, dp=1, concurrency=8, source="NVIDIA internal Dynamo benchmark runs",
               notes=f"mode=agg; aggregated: {layout}, AIC batch_size 8 (per attention-DP rank)")
    if skipped:
        with pytest.raises(Skip, match="layout is inconsistent"):
            setup_of(row)
    else:
        assert setup_of(row)[0].n == n


def test_an_aggregated_label_on_a_run_inferencex_only_runs_disaggregated_is_skipped():
    from suanli.validate.setup import Skip

    row = _row(model="deepseek-r1", hardware="gb200", engine="trt-llm", weight_precision="fp4", n_accel=32, tp=32,
               notes="mode=agg; aggregated: tp32; measured=2025-11-17T00:00:00Z")
    with pytest.raises(Skip, match="only disaggregated"):
        setup_of(row)


def _gb200(gpus: int, clients: int, isl: int = 1024) -> Row:
    return _row(model="deepseek-r1", hardware="gb200", engine="trt-llm", weight_precision="fp4", n_accel=gpus,
                tp=gpus, ep=1, input_len=isl, concurrency=clients,
                notes=f"mode=agg; aggregated: tp{gpus} pp1 attention_dp1 moe_tp{gpus} moe_ep1; measured=2025-11-17")


def test_an_aggregated_label_on_a_dynamo_gb200_run_reads_the_launch_scripts_split():
    """36 GPUs at 1,075 clients: one 4-GPU context worker and one DEP32 decode worker of batch 32 per rank, MTP off
    (launch_gb200-nv.sh: `"mtp=off" "dep" 1 1 32 32 32 "0.7" 0 0 "1075"`); at 512 clients the MTP-3 line."""
    from suanli.validate.setup import Pools, Skip

    s, notes = setup_of(_gb200(36, 1075))
    assert s.disagg == Pools(1, 1, (1, 1, 4, 4), (1, 1, 32, 32), None, 32) and s.speculative is None
    assert any("not as labelled" in n for n in notes)
    s, _ = setup_of(_gb200(36, 512))
    assert (s.speculative.method, s.speculative.draft_tokens, s.disagg.decode_layout) == ("mtp", 3, (1, 1, 32, 32))
    s, _ = setup_of(_gb200(28, 102, isl=8192))  # 3 TEP8 decode workers x 34 clients
    assert s.disagg == Pools(1, 3, (1, 1, 4, 4), (8, 1, 8, 1), None, 32) and s.speculative is None
    with pytest.raises(Skip, match="MTP 0 and 3"):  # 4 x 4 clients ran both with and without MTP
        setup_of(_gb200(36, 16))


def _admitted(chunked: bool, prompts: list[int], budget: int = 2048) -> list[int]:
    e = _engine(chunked_prefill=chunked)
    e.token_budget = budget
    for i, p in enumerate(prompts):
        e.waiting.append(Request(i, 0.0, p, 16, todo=p))
    it = e.plan(0.0)
    return [chunk for _, chunk in it.prefills]


def test_without_chunked_prefill_a_prompt_goes_in_whole():
    assert _admitted(True, [1500, 1500]) == [1500, 548]  # chunked: the second fills the budget's rest
    assert _admitted(False, [1500, 1500]) == [1500]  # whole: the second waits for the next step
    assert _admitted(False, [3000, 100]) == [3000]  # one longer than the budget still goes, alone


def test_an_engine_that_keeps_prompts_and_decodes_apart_runs_them_in_separate_steps():
    for mixed in (True, False):
        e = _engine(mixed_batches=mixed)
        e.waiting.append(Request(0, 0.0, 512, 4, todo=512))
        e.finish(e.plan(0.0), 0.01)  # prefilled: now decoding
        e.waiting.append(Request(1, 0.0, 512, 4, todo=512))
        it = e.plan(0.02)
        assert [r.rid for r, _ in it.prefills] == [1]
        assert len(it.decode_slots) == (1 if mixed else 0)  # SGLang, vLLM V0: the decode waits for the prefill
    e.finish(it, 0.03)
    assert len(e.plan(0.04).decode_slots) == 2 and not e.waiting  # nothing left to prefill: both decode


def test_an_mlperf_server_run_steps_at_its_submitters_token_budget():
    """configs/<system>/Server/llama3_1-8b.py sets max_num_tokens (HPE's H200: 12000, Quanta's: 1536); under
    Poisson arrivals it sets how many steps a prompt takes. Offline runs are left at suanli's default."""
    url = ("https://github.com/mlcommons/inference_results_v5.1/blob/main/closed/{}/results/{}/llama3.1-8b/{}/"
           "performance/run_1/mlperf_log_summary.txt")
    base = dict(source="MLPerf Inference v5.1", hardware="h200", n_accel=8, model="llama-3.1-8b", engine="trt-llm",
                tp=None, pp=None, ep=None, dp=None, input_len=None, output_len=None, concurrency=None,
                ttft_slo_ms=2000.0, tpot_slo_ms=100.0, metric="output_tok_s", notes="")
    for submitter, system, budget in (("HPE", "HPE_Cray_XD670_H200_SXM_141GBx8_TRT", 12000),
                                      ("Quanta_Cloud_Technology", "D74U-7U_H200-SXM-141GBx8_TRT", 1536)):
        s, notes = setup_of(_row(**base, scenario="server", url=url.format(submitter, system, "Server")))
        assert dict(s.launch)["token_budget"] == budget and any("max_num_tokens" in n for n in notes)
    s, _ = setup_of(_row(**base | {"ttft_slo_ms": None, "tpot_slo_ms": None}, scenario="offline",
                         url=url.format("HPE", "HPE_Cray_XD670_H200_SXM_141GBx8_TRT", "Offline")))
    assert "token_budget" not in dict(s.launch)
