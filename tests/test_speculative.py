"""Speculative decoding (MTP, EAGLE heads): the verify step's shape by hand, the sourced acceptance lengths, the
costs against a published speed-up, the same answer from the analytic model and the simulator, and the InferenceX
adapter that tells MTP runs apart by their image."""

from __future__ import annotations

import json
from math import inf

import pytest

from suanli.api import predict, simulate
from suanli.model.shape import StepShape
from suanli.perf.speculative import acceptance_length, chain_length, parse_speculative, verify_shape
from suanli.schema import SuanliError
from suanli.validate.data import Row
from suanli.validate.sources import setup_of

IX = "SemiAnalysis InferenceX via NVIDIA AIConfigurator silicon_sample.csv"


def test_the_verify_step_carries_k_plus_one_tokens_per_sequence_and_a_steps_of_prompts():
    s = StepShape.build([(1.0, 100.0, 0.0)], [(4.0, 1.0, 50.0)], (inf,))
    v = verify_shape(s, k=3, a=2.5)
    assert v.decode.seqs == 4 and v.decode.tokens == 16  # 4 sequences x (3 drafts + 1)
    # each sequence's keys: 50 cached, its own token and the 3 drafts; its 4 queries attend 51, 52, 53, 54 of them
    assert v.decode.kv_read[inf] == pytest.approx(4 * 54)
    assert v.decode.pairs[inf] == pytest.approx(4 * (51 + 52 + 53 + 54))
    assert v.prefill.tokens == pytest.approx(250) and v.prefill.seqs == pytest.approx(2.5)
    assert v.logits == pytest.approx(4 * 4 + 1 * 2.5)  # every verified position, and the prompts that finish


def test_acceptance_lengths_are_the_sourced_ones_unless_given():
    assert acceptance_length(parse_speculative("mtp:3"))[0] == 2.82  # TensorRT-LLM blog 1, DeepSeek-R1 on B200
    assert acceptance_length(parse_speculative("mtp:9"))[0] == 3.01  # past the 5 drafts measured: no more
    assert acceptance_length(parse_speculative("eagle:4"))[0] == pytest.approx((1 - 0.8 ** 5) / 0.2)
    assert acceptance_length(parse_speculative("eagle:4:2.5")) == (2.5, "given")
    assert chain_length(0.5, 1) == pytest.approx(1.5)


@pytest.mark.parametrize("text", ["foo", "eagle:x", "mtp:3:9", "eagle:0", "eagle:99", "mtp:1:0.5", "draft:4",
                                  "eagle=llama-3.2-1b:4", "draft=nosuch:3"])
def test_bad_speculation_is_one_line_naming_the_field(cli, text):
    r = cli("predict", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--speculative", text)
    assert r.returncode == 2 and "speculative" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_mtp_needs_the_models_mtp_layers_and_an_engine_that_drafts():
    with pytest.raises(SuanliError, match="no multi-token-prediction layers"):
        predict("llama-3.1-8b", "1xh100-sxm", speculative="mtp:1")
    with pytest.raises(SuanliError, match="no speculative decoding path"):
        predict("llama-3.1-8b", "1xh100-sxm", engine="llama.cpp", speculative="eagle:3")


def test_mtp_speeds_deepseek_r1_up_about_as_published():
    """TensorRT-LLM's blog 1: DeepSeek-R1 FP4 on 8 x B200 at batch 1, 1K/2K, MTP 3 at 2.82 tokens a step is 2.28 x
    as fast as without MTP (253 tok/s per user). The drafts and the 4-token verify must cost about what they did."""
    kw = dict(tp=8, precision="fp4", engine="trt-llm", batch=1, input=1024, output=2048)
    plain = predict("deepseek-r1", "dgx-b200", **kw)
    mtp = predict("deepseek-r1", "dgx-b200", speculative="mtp:3", **kw)
    assert 1.8 < plain.tpot_s / mtp.tpot_s < 2.8
    assert plain.tpot_s / mtp.tpot_s < 2.82  # never the acceptance length itself: the drafts cost something
    assert mtp.ttft_s == pytest.approx(plain.ttft_s, rel=0.02)  # the first token comes from the prefill alone
    d = mtp.to_dict()
    assert "mtp, 3 draft token(s)" in d["engine"]["paths"]["speculative"]
    assert d["memory_gb_per_chip"]["weights"] > plain.to_dict()["memory_gb_per_chip"]["weights"]  # the module


def test_tpot_falls_as_acceptance_rises_and_a_useless_draft_only_costs():
    kw = dict(batch=8, input=512, output=256)
    plain = predict("llama-3.1-8b", "1xh100-sxm", **kw).tpot_s
    tpots = [predict("llama-3.1-8b", "1xh100-sxm", speculative=f"eagle:3:{a}", **kw).tpot_s for a in (1, 2, 3, 4)]
    assert all(x > y for x, y in zip(tpots, tpots[1:], strict=False))
    assert tpots[0] > plain  # nothing accepted: the drafts and the wider verify are pure cost


def test_the_simulator_agrees_with_the_analytic_model_at_a_steady_closed_loop(cli):
    r = cli("simulate", "--model", "llama-3.1-8b", "--system", "1xh100-sxm", "--concurrency", "4", "--arrival",
            "concurrency", "--input", "256", "--output", "256", "--requests", "80", "--speculative", "eagle:4",
            "--json")
    assert r.returncode == 0, r.stderr
    sim = json.loads(r.stdout)
    assert sim["deployment"]["speculative"]["method"] == "eagle"
    plain, _ = simulate("llama-3.1-8b", "1xh100-sxm", concurrency=4, arrival="concurrency", input="256",
                        output="256", requests=80)
    analytic = predict("llama-3.1-8b", "1xh100-sxm", speculative="eagle:4", batch=4, input=256, output=256)
    assert sim["tpot_ms"]["mean"] == pytest.approx(analytic.tpot_s * 1e3, rel=0.15)
    assert sim["tpot_ms"]["mean"] < 0.6 * plain["tpot_ms"]["mean"]
    assert 0 < sim["kv_cache_utilization"] <= 1.0


def _row(day: str, image: str, tp: int = 8, dp: int = 1) -> Row:
    return Row(line=1, id="x", source=IX, hardware="b200", n_accel=8, model="deepseek-r1", weight_precision="fp8",
               kv_precision="", engine="trt-llm 1.2.0rc6", tp=tp, pp=1, ep=8 if dp > 1 else 1, dp=dp,
               scenario="concurrency", input_len=1024, output_len=1024, concurrency=64, request_rate=None,
               ttft_slo_ms=None, tpot_slo_ms=None, metric="tpot_mean_ms", value=10.0,
               notes=f"mode=agg; aggregated: tp{tp} pp1 attention_dp{dp}; measured={day}T00:00:00.000Z; "
                     f"image=nvcr.io#nvidia/tensorrt-llm/release:{image}; gemm_quant=fp8")


@pytest.mark.parametrize("day, image, dp, want", [("2026-02-05", "1.2.0rc6.post3", 1, 3),
                                                  ("2026-02-06", "1.2.0rc6.post3", 8, 1),
                                                  ("2026-02-05", "1.2.0rc6.post2", 1, None),
                                                  ("2026-01-14", "1.2.0rc6.post3", 1, None)])
def test_inferencex_mtp_runs_are_told_apart_by_their_image(day, image, dp, want):
    s, notes = setup_of(_row(day, image, tp=1 if dp > 1 else 8, dp=dp))
    if want is None:
        assert s.speculative is None
    else:
        assert (s.speculative.method, s.speculative.draft_tokens) == ("mtp", want)
        assert any("speculative decoding: mtp" in n for n in notes)


def test_an_mtp_runs_token_budget_is_its_scripts_less_the_verify_tokens():
    # MAX_NUM_TOKENS = ((MTP+1) * CONC + ISL + 64 + 63) / 64 * 64; suanli counts one token per running sequence
    s, _ = setup_of(_row("2026-02-05", "1.2.0rc6.post3"))
    assert dict(s.launch)["token_budget"] == (64 + 1024 + 64 + 63) // 64 * 64  # not the plain runs' 8,192
    s, _ = setup_of(_row("2026-02-05", "1.2.0rc6.post2"))
    assert dict(s.launch)["token_budget"] == 8192


def test_a_draft_model_costs_its_own_decode_steps_weights_and_cache():
    kw = dict(tp=8, precision="fp8", batch=4, input=1024, output=256)
    plain = predict("llama-3.1-70b", "dgx-h100", **kw)
    drafted = predict("llama-3.1-70b", "dgx-h100", speculative="draft=llama-3.2-1b:4", **kw)
    useless = predict("llama-3.1-70b", "dgx-h100", speculative="draft=llama-3.2-1b:4:1", **kw)
    bigger = predict("llama-3.1-70b", "dgx-h100", speculative="draft=llama-3.1-8b:4:2.77", **kw)
    a = (1 - 0.7 ** 5) / 0.3  # Leviathan et al.'s chain at the middle of their 0.5-0.9
    assert acceptance_length(parse_speculative("draft=llama-3.2-1b:4"))[0] == pytest.approx(a)
    assert plain.tpot_s / a < drafted.tpot_s < plain.tpot_s  # faster, but the drafts are not free
    assert useless.tpot_s > plain.tpot_s and bigger.tpot_s > drafted.tpot_s  # a larger draft costs more
    m, m0 = drafted.to_dict()["memory_gb_per_chip"], plain.to_dict()["memory_gb_per_chip"]
    # Llama-3.2-1B's 1.24 B parameters at fp8 split over TP 8 (0.155 GB), its 0.26 B embedding and head at 16 bits
    assert 0.15 < m["weights"] - m0["weights"] < 0.22
    assert m["kv_cache"] > m0["kv_cache"]
    assert "decode step of llama-3.2-1b" in drafted.to_dict()["engine"]["paths"]["speculative"]
