"""Default factors against published MLPerf-class figures: within a factor of two (issue 3), not a fit."""

import pytest

from suanli.api import deploy
from suanli.perf.auto import max_batch
from suanli.perf.predict import predict_deployed
from suanli.schema import Deployment, Workload

# Published: NVIDIA TensorRT-LLM performance overview v0.14.0, Llama 3.1 70B, FP8, 8x H100 SXM, TP8, ISL/OSL
# 1000/1000: 10,730 output tok/s for the TP group (trtllm-bench throughput);
# https://github.com/arthurrasmusson/TensorRT-LLM/blob/e00d4e6564921307dd264b61fe1d46f116095e0e/docs/source/performance/perf-overview.md
# (row trtllm-0673 of ../shared/groundtruth/public.csv). And MLPerf Inference v5.1, open division, Krai,
# 8x H100 SXM, Llama 3.1 70B FP8 (vLLM), Offline: 22,819.6 tok/s on OpenOrca (row mlperf51-1297).
CASES = [
    (dict(tp=8), 1000, 1000, 10730.2),
    (dict(tp=8), 128, 2048, 15190.2),   # same table, ISL/OSL 128/2048 (row trtllm-0710)
]


@pytest.mark.parametrize("layout,inp,out,published", CASES)
def test_llama_70b_fp8_on_dgx_h100_within_2x_of_published(layout, inp, out, published):
    dep = deploy("llama-3.1-70b", "dgx-h100", Deployment(precision="fp8", kv_precision="fp8", engine="trt-llm",
                                                           **layout))
    wl = Workload(input_len=inp, output_len=out, batch=1)
    b = max_batch(dep, wl, 2048)
    p = predict_deployed(dep, wl.model_copy(update={"batch": b}))
    assert p.fits
    assert published / 2 <= p.output_tok_s <= published * 2, (p.output_tok_s, published)
