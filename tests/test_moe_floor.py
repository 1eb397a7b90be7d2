"""The engines' fixed MoE chain (`moe_floor_us`): an expert op takes its roofline plus the chain per MoE layer, by
hand, at a few tokens and at many alike; dense models never see it; and its fit picks each engine's best value
from the rows of that engine, with a source left out when asked."""

from dataclasses import replace

import numpy as np
import pytest

from suanli.api import deploy
from suanli.perf.factors import bundled_calibration, load_calibration
from suanli.schema import Deployment, SuanliError
from suanli.validate.moe_floor import GRID_US, MIN_ROWS, Curves

MOE = ("qwen3-30b-a3b", "1xh100-sxm")


def _floored(us: float, model: str = MOE[0], system: str = MOE[1]):
    cal = bundled_calibration()
    cal = replace(cal, moe_floor={"trt-llm": {"moe_floor_us": us}})
    return deploy(model, system, Deployment(engine="trt-llm"), cal)


def test_expert_op_adds_the_chain_to_its_roofline():
    plain, high = _floored(0.0), _floored(500.0)
    x = plain.features(plain.decode_shape(1, 1024))
    experts = [i for i, op in enumerate(plain.ops) if op.name == "experts"]
    assert len(experts) == 1 and plain.ops[experts[0]].count == 48  # one expert op, 48 MoE layers
    t0, _, _ = plain.op_seconds(x)
    t1, _, _ = high.op_seconds(x)
    i = experts[0]
    assert t0[i] > plain._fixed_count[i] > 0  # streaming the routed experts and the kernels' launches
    assert t1[i] == pytest.approx(t0[i] + 48 * 500e-6)
    others = np.arange(len(t0)) != i
    assert np.allclose(t0[others], t1[others])
    # the step is the sum of its ops plus the host's step overhead, one way or the other
    assert high.time_of(x) == pytest.approx(plain.time_of(x) - t0[i] + t1[i])
    assert high.time_of(x) == pytest.approx(t1.sum() + high.overhead_s)
    assert high.times_of(np.stack([x, x]))[1] == pytest.approx(high.time_of(x))


def test_chain_costs_the_same_on_a_long_prefill():
    """The chain's kernels run once per layer and step however many tokens the step routes."""
    plain, low = _floored(0.0), _floored(20.0)
    x = plain.features(plain.prefill_shape(4, 4096))
    assert low.time_of(x) - plain.time_of(x) == pytest.approx(48 * 20e-6, rel=1e-9)


def test_dense_models_have_no_floor():
    plain = _floored(0.0, "llama-3.1-8b")
    high = _floored(500.0, "llama-3.1-8b")
    x = plain.features(plain.decode_shape(1, 1024))
    assert high.time_of(x) == plain.time_of(x)


def test_floor_is_the_engines_own():
    """Another engine's floor does not reach this one's ops."""
    cal = replace(bundled_calibration(), moe_floor={"sglang": {"moe_floor_us": 500.0}})
    d = deploy(*MOE, Deployment(engine="trt-llm"), cal)
    assert d.factors.moe_floor_us == 0.0  # the table names SGLang's floor only
    assert deploy(*MOE, Deployment(engine="sglang"), cal).factors.moe_floor_us == 500.0


def test_calibration_file_reads_the_floor_table(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("families: {nvidia-hopper: {gemm_compute: 0.7}}\nmoe_floor: {vllm: {moe_floor_us: 70}}\n")
    assert load_calibration(p).resolve("nvidia-hopper", "vllm")[0].moe_floor_us == 70.0
    p.write_text("families: {nvidia-hopper: {gemm_compute: 0.7}}\nmoe_floor: {vllm: {moe_floor_us: -1}}\n")
    with pytest.raises(SuanliError, match="moe_floor_us = -1"):
        load_calibration(p)


def _curves(best: dict[str, int], rows: int = MIN_ROWS, other_best: int = 0):
    """Synthetic error curves: `rows` rows of each engine from source "a", whose error is least at its `best`
    floor, and as many from source "b" whose error is least at `other_best`."""
    grid = np.array(GRID_US, dtype=float)
    eng, src, err = [], [], []
    for key, b in best.items():
        for s, at in (("a", b), ("b", other_best)):
            for _ in range(rows):
                eng.append(key)
                src.append(s)
                err.append(np.abs(grid - at) / 100.0 + (0.5 if s == "b" else 0.0))
    return Curves(tuple(eng), tuple(src), np.array(err))


def test_fit_takes_each_engines_least_error_floor():
    c = _curves({"sglang": 80, "vllm": 40}, other_best=80)
    table = c.table()
    assert table["sglang"] == {"moe_floor_us": 80.0}
    assert table["vllm"]["moe_floor_us"] in (40.0, 50.0, 60.0, 70.0, 80.0)  # a tie between the sources' optima
    assert c.table(without="b") == {"sglang": {"moe_floor_us": 80.0}, "vllm": {"moe_floor_us": 40.0}}
    assert c.table(without="a")["vllm"] == {"moe_floor_us": 80.0}
    rep = c.report()["sglang"]
    assert rep["rows"] == 2 * MIN_ROWS and rep["mape_after"] < rep["mape_before"]


def test_an_engine_with_too_few_rows_gets_no_floor():
    c = _curves({"sglang": 80}, rows=MIN_ROWS // 2)
    assert "sglang" in c.table()  # both sources together reach MIN_ROWS
    assert c.table(without="a") == {}


def test_result_names_the_floor_it_assumed():
    d = _floored(70.0)
    assert "70 us per MoE layer and step" in d.engine_dict["paths"]["moe"]
    assert "per MoE layer" not in _floored(0.0).engine_dict["paths"]["moe"]


def test_fit_recovers_the_floor_the_rows_were_made_with():
    """Low-load MoE TPOT rows made by predicting with a 60 us floor under vLLM: the grid fit finds 60 us, and
    without a floor (fitted from zero) the error on them is larger."""
    from suanli.validate.data import Row
    from suanli.validate.moe_floor import fit_moe_floor
    from suanli.validate.run import predict_rows

    rows = [Row(line=i, id=f"r{i}", source="a serving benchmark", hardware="h100-sxm", n_accel=1,
                model="qwen3-30b-a3b", weight_precision="bf16", kv_precision="", engine="vllm 0.10.0", tp=1, pp=1,
                ep=1, dp=1, scenario="concurrency", input_len=inp, output_len=256, concurrency=c,
                request_rate=None, ttft_slo_ms=None, tpot_slo_ms=None, metric="tpot_mean_ms", value=1.0, notes="")
            for i, (c, inp) in enumerate((c, inp) for c in (1, 2, 4, 8) for inp in (256, 1024, 2048))]
    truth = replace(bundled_calibration(), moe_floor={"vllm": {"moe_floor_us": 60.0}})
    made = [replace(r, value=rec["predicted"]) for r, rec in zip(rows, predict_rows(rows, truth), strict=True)]
    table, report, _ = fit_moe_floor(made, replace(bundled_calibration(), moe_floor={}))
    assert table == {"vllm": {"moe_floor_us": 60.0}}
    assert report["vllm"]["rows"] == len(rows)
    assert report["vllm"]["mape_after"] < 1e-9 < report["vllm"]["mape_before"]


def test_held_out_fits_start_from_the_chains_fitted_without_the_source(monkeypatch):
    """The chain adds to the experts at every load, so each leave-one-source-out throughput fit runs with the
    engines' chains (fitted without that source) in place, not without any."""
    from types import SimpleNamespace

    from suanli.validate import fit as fitmod
    from suanli.validate.data import Row

    seen = {}

    def fake_fit(rows, cal, **kw):
        seen[rows[0].source] = dict(cal.moe_floor)
        return SimpleNamespace(calibration=cal)

    monkeypatch.setattr(fitmod, "fit", fake_fit)
    monkeypatch.setattr(fitmod, "predict_rows", lambda rows, cal: [])
    rows = [Row(line=i, id=f"r{i}", source=src, hardware="h100-sxm", n_accel=1, model="qwen3-30b-a3b",
                weight_precision="bf16", kv_precision="", engine="vllm 0.10.0", tp=1, pp=1, ep=1, dp=1,
                scenario="offline", input_len=256, output_len=256, concurrency=None, request_rate=None,
                ttft_slo_ms=None, tpot_slo_ms=None, metric="output_tok_s", value=1.0, notes="")
            for i, src in enumerate(("a", "b"))]
    floors = SimpleNamespace(table=lambda without=None: {"vllm": {"moe_floor_us": 30.0 if without == "a" else 50.0}})
    fitmod.leave_one_source_out(rows, replace(bundled_calibration(), moe_floor={}), floors=floors)
    assert seen == {"b": {"vllm": {"moe_floor_us": 30.0}}, "a": {"vllm": {"moe_floor_us": 50.0}}}
