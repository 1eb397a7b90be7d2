"""Invariants of the cost model, checked on random deployments with hypothesis."""

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.api import deploy
from suanli.schema import Deployment

MODELS = ["llama-3.1-70b"]
SYSTEMS = ["dgx-h100"]


def _dep(model, system, tp, precision="fp8"):
    return deploy(model, system, Deployment(tp=tp, precision=precision))


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4, 8]), b=st.integers(1, 512),
       ctx=st.integers(1, 32000))
def test_more_batch_never_lowers_step_time(model, tp, b, ctx):
    d = _dep(model, "dgx-h100", tp)
    assert d.step_time(d.decode_shape(b + 1, ctx)) >= d.step_time(d.decode_shape(b, ctx))
    assert d.step_time(d.prefill_shape(b + 1, 64)) >= d.step_time(d.prefill_shape(b, 64))


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4]))
def test_more_tp_never_raises_weight_memory(model, tp):
    assert _dep(model, "dgx-h100", tp * 2).weight_bytes <= _dep(model, "dgx-h100", tp).weight_bytes


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4, 8]), b=st.integers(1, 4096),
       ctx=st.integers(16, 64000))
def test_memory_fit_monotone_in_batch(model, tp, b, ctx):
    d = _dep(model, "dgx-h100", tp)
    if d.memory(b + 1, ctx, min((b + 1) * 16, 8192)).fits:
        assert d.memory(b, ctx, min(b * 16, 8192)).fits


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(MODELS), tp=st.sampled_from([1, 2, 4]), b=st.integers(1, 64),
       prompt=st.integers(256, 8192))
def test_more_chips_never_slower_for_compute_bound_prefill(model, tp, b, prompt):
    """Doubling TP at a fixed batch never makes the compute of a prefill step slower."""
    def compute_time(d):
        shape = d.prefill_shape(b, prompt)
        return sum(t.seconds for t in d.timed(shape) if t.op.op_class != "comm")
    assert compute_time(_dep(model, "dgx-h100", tp * 2)) <= compute_time(_dep(model, "dgx-h100", tp)) * 1.0001


# The same invariants through the CLI, over its input space (`suanli predict --json`, run in-process): a user who
# asks for more sequences or a longer context never gets a faster token or a smaller memory footprint.
CLI_MODELS = ["llama-3.1-8b", "qwen3-32b", "mixtral-8x7b", "deepseek-r1", "qwen2.5-0.5b"]
CLI_SYSTEMS = {"1xh100-sxm": 1, "dgx-h100": 8, "4xb200": 4, "mi300x-8": 8, "atlas-800-a2": 8, "1xjetson-agx-orin": 1}


def _predict_json(args: list[str]) -> dict | None:
    import contextlib
    import io
    import json

    from suanli.cli import main

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            main(["predict", *args, "--json"])
    except SystemExit as e:
        if e.code not in (0, None):
            assert e.code == 2, (args, e.code)
            return None  # refused with one line (does not fit, a layout the model cannot take)
    return json.loads(out.getvalue())


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(model=st.sampled_from(CLI_MODELS), system=st.sampled_from(sorted(CLI_SYSTEMS)),
       tp_log=st.integers(0, 3), batch=st.integers(1, 256), more=st.integers(1, 256),
       prompt=st.integers(16, 16384), longer=st.integers(1, 16384), precision=st.sampled_from(["bf16", "fp8"]))
def test_cli_tpot_and_memory_never_fall_with_batch_or_context(model, system, tp_log, batch, more, prompt, longer,
                                                             precision):
    tp = min(2 ** tp_log, CLI_SYSTEMS[system])
    base = ["-m", model, "-s", system, "--tp", str(tp), "--precision", precision, "--output", "64"]
    point = _predict_json([*base, "--batch", str(batch), "--input", str(prompt)])
    if point is None:
        return
    for bigger in ([*base, "--batch", str(batch + more), "--input", str(prompt)],
                   [*base, "--batch", str(batch), "--input", str(prompt + longer)]):
        other = _predict_json(bigger)
        if other is None:
            continue  # no longer fits: the larger point is refused, which is itself monotone
        assert other["tpot_ms"] >= point["tpot_ms"] * (1 - 1e-9), (bigger, other["tpot_ms"], point["tpot_ms"])
        assert _used_gb(other) >= _used_gb(point) * (1 - 1e-9), bigger


def _used_gb(result: dict) -> float:
    mem = result["memory_gb_per_chip"]
    return mem["weights"] + mem["kv_cache"] + mem["activations"]
