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
