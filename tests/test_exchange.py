"""The expert-parallel exchange (MoE dispatch/combine all-to-alls): its figures from micro-benchmarks, by hand, and
what the cost model charges with them."""

import pytest

from suanli.catalog import catalog
from suanli.model.resolve import model_arch
from suanli.perf.deployed import Deployed
from suanli.perf.factors import bundled_calibration
from suanli.schema import Deployment
from suanli.validate.exchange import EXCHANGE_FILE, exchange_factors
from suanli.validate.ops import measured_factors

HEADER = "id,source,url,hardware,n_accel,op,dtype,m,n,k,size_bytes,metric,value,unit,notes"


def _rows(tmp_path, lines):
    p = tmp_path / "ops.csv"
    p.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return p


def test_exchange_fixed_cost_and_bandwidth_by_hand(tmp_path):
    """Fixed: a layer's ops summed per token count (1: 12+10+14 = 36, 8: 13+11+16 = 40), median 38, half per op = 19.
    Bandwidth: dispatch moves 9e6 - 1e6 = 8e6 bytes more in 30 - 14 us = 16 us: 500 GB/s of 900 -> 0.556; combine
    32e6 - 4e6 in 70 - 20 us: 560 GB/s -> 0.622; median 0.589. A row without its tokens per rank is not read."""
    p = _rows(tmp_path, [
        "a,s,u,gb200,8,moe_prepare,,1,,7168,,latency_us,12,us,x",
        "b,s,u,gb200,8,moe_dispatch,fp4,1,,7168,1000,latency_us,10,us,x",
        "c,s,u,gb200,8,moe_combine,bf16,1,,7168,4000,latency_us,14,us,x",
        "d,s,u,gb200,8,moe_prepare,,8,,7168,,latency_us,13,us,x",
        "e,s,u,gb200,8,moe_dispatch,fp4,8,,7168,8000,latency_us,11,us,x",
        "f,s,u,gb200,8,moe_combine,bf16,8,,7168,32000,latency_us,16,us,x",
        "g,s,u,gb200,8,moe_dispatch,fp4,128,,7168,1000000,latency_us,14,us,x",
        "h,s,u,gb200,8,moe_dispatch,fp4,1024,,7168,9000000,latency_us,30,us,x",
        "i,s,u,gb200,8,moe_combine,bf16,128,,7168,4000000,latency_us,20,us,x",
        "j,s,u,gb200,8,moe_combine,bf16,1024,,7168,32000000,latency_us,70,us,x",
        "k,s,u,h800,8,moe_dispatch,fp8,,,,,latency_us,77,us,128 tokens in the notes",
        "l,s,u,gb200,8,all_reduce,,,,,17179869184,busbw_gb_s,700,GB/s,not an exchange",
    ])
    got = exchange_factors(p)
    assert list(got) == ["nvidia-blackwell"]
    assert got["nvidia-blackwell"]["a2a_us"] == pytest.approx(19.0)
    assert got["nvidia-blackwell"]["a2a_bandwidth"] == pytest.approx((500 / 900 + 560 / 900) / 2, abs=1e-3)
    assert measured_factors(p)["nvidia-blackwell"]["a2a_us"] == pytest.approx(19.0)


def test_bundled_exchange_figures_are_the_transcribed_measurements():
    """The calibration's a2a figures are what the bundled micro-benchmark file gives, not numbers typed in."""
    measured = exchange_factors(EXCHANGE_FILE)
    physical = bundled_calibration().physical
    assert set(measured) == {"nvidia-blackwell", "nvidia-hopper"}
    for fam, m in measured.items():
        assert physical[fam]["a2a_us"] == m["a2a_us"] and physical[fam]["a2a_bandwidth"] == m["a2a_bandwidth"]


def _deepseek(system: str, ep: int, engine: str = "trt-llm") -> Deployed:
    cat = catalog()
    _, arch = model_arch("deepseek-r1")
    sys_ = cat.system(system)
    return Deployed(arch, cat.chips[sys_.chip], sys_, Deployment(precision="fp4", tp=1, dp=ep, ep=ep, engine=engine),
                    "deepseek-r1", None)


def _exchange_us(d: Deployed, tokens_per_rank: float) -> float:
    """The exchange's microseconds per MoE layer at one decode step."""
    ops = [t for t in d.timed(d.decode_shape(tokens_per_rank, 2000)) if t.op.name in ("ep_dispatch", "ep_combine")]
    layers = sum(g.count for g in d.arch.groups if g.mlp.kind == "moe")
    return sum(t.seconds for t in ops) / layers * 1e6


def test_exchange_costs_its_fixed_time_plus_its_bytes_at_the_measured_share():
    """DeepSeek-R1 NVFP4, 32 ranks of a GB200 NVL72: per MoE layer, at one token per rank the exchange is its two
    ops' measured least time; from there it grows by the bytes over a2a_bandwidth x the link. AIConfigurator's
    TensorRT-LLM sweep (prepare + dispatch + combine, EP32) measured 41 us at 1 token, 78 at 128, 197 at 512."""
    phys = bundled_calibration().physical["nvidia-blackwell"]
    d = _deepseek("gb200-nvl72", 32)
    one = _exchange_us(d, 1)
    h, k, ep = d.arch.hidden, 8, 32
    per_token = k * (ep - 1) / ep * h * (d.numerics.dispatch_bytes + d.numerics.act_bytes)
    link = 900e9 * phys["a2a_bandwidth"]
    assert one == pytest.approx(2 * phys["a2a_us"] + per_token / link * 1e6, rel=1e-6)
    for tokens, measured in ((128, 78.0), (512, 197.0)):
        assert _exchange_us(d, tokens) == pytest.approx(measured, rel=0.15)
