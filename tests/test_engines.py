"""Engine profiles: versioned, sourced, resolved from free text; the physics asks them, never an engine's name."""

import ast
import json
import pathlib
import re

import pytest

from suanli.engines import profiles, resolve_engine, stacks_for, version_key
from suanli.schema import SuanliError

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "suanli"
NAMES = re.compile(r"vllm|sglang|trt|tensorrt|neuron|nxd|jetstream|mlperf|inferencex|dstack|llama\.cpp|llamacpp|"
                   r"mindie|ollama|rkllm|optimum|guidellm", re.I)


def _literals(path: pathlib.Path) -> list[int]:
    """Lines of string literals (not docstrings) that name an engine or a benchmark source."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs and NAMES.search(n.value)]


def test_the_physics_names_no_engine_and_no_source():
    hits = [f"{f.relative_to(SRC)}:{line}" for pkg in ("model", "perf", "serve", "plan", "econ")
            for f in (SRC / pkg).rglob("*.py") for line in _literals(f)]
    assert hits == []


def test_engines_import_only_the_schema():
    for f in (SRC / "engines").glob("*.py"):
        tree = ast.parse(f.read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        ours = {m for m in mods if m.startswith("suanli")}
        assert all(m.startswith(("suanli.schema", "suanli.engines")) for m in ours), (f.name, ours)


def test_every_profile_and_release_is_sourced_and_ordered():
    ps = profiles()
    assert {"vllm", "sglang", "trt-llm", "vllm-ascend", "mindie", "llama.cpp", "mlc", "nxd-inference",
            "optimum-neuron", "jetstream", "rkllm", "tuned"} <= set(ps)
    for p in ps.values():
        assert p.base_source and p.docs
        keys = [version_key(r.version) for r in p.releases]
        assert keys == sorted(keys)
        for r in p.releases:
            assert r.source.startswith("http"), (p.id, r.version)


@pytest.mark.parametrize("text,engine,version", [
    ("vllm 0.7.3", "vllm", "0.7.3"),
    ("sglang==0.5.9", "sglang", "0.5.9"),
    ("trt-llm 1.0.0rc3", "trt-llm", "1.0.0rc3"),
    ("trt-llm 0.20 (pytorch backend)", "trt-llm", "0.20"),  # not PyTorch the engine
    ("trt-llm (tensorrt 10.11)", "trt-llm", None),  # a TensorRT version is not TensorRT-LLM's
    ("vllm-neuron (optimum-neuron; guidellm 0.1.0 client)", "optimum-neuron", None),  # the client's version neither
    ("llmboost (vllm 0.9.0.2.dev108+rocm641)", "vllm", "0.9.0.2.dev108+rocm641"),
    ("vllm-ascend (version not stated)", "vllm-ascend", None),
    ("llama.cpp b3000", "llama.cpp", "b3000"),
])
def test_free_text_names_resolve_to_a_profile_and_version(text, engine, version):
    st = resolve_engine(text, strict=False)
    assert (st.id, st.version) == (engine, version)


def test_a_version_takes_the_features_of_the_releases_up_to_it_and_says_when_it_is_unknown():
    early, mla = resolve_engine("vllm 0.6.6"), resolve_engine("vllm 0.7.3")
    assert not early.features.mla_absorbed and mla.features.mla_absorbed  # MLA kernels from vLLM 0.7.1
    assert early.note == "" and mla.resolved == "0.7.3"
    assert "not stated" in resolve_engine("vllm").note
    assert "newer than the latest profiled release" in resolve_engine("vllm 9.0").note
    assert "older than the first" in resolve_engine("vllm-ascend 0.6").note
    # vllm-ascend ran eager until ACL graphs became its default in 0.9.0rc1
    assert resolve_engine("vllm-ascend 0.8.4").features.graph_mode == "eager"
    assert resolve_engine("vllm-ascend 0.13.0rc1").features.graph_mode == "graphs"


def test_unknown_engines_fail_in_one_line_from_users_and_pass_as_tuned_from_files():
    with pytest.raises(SuanliError, match="engine 'vlm 0.3': unknown; known: .*nearest: vllm"):
        resolve_engine("vlm 0.3")
    st = resolve_engine("deepsparse 1.5.2", strict=False)
    assert st.id == "tuned" and "no profile" in st.note


def test_without_an_engine_the_best_known_stack_for_the_chip_is_named():
    assert resolve_engine(None, "huawei-ascend").id == "mindie"
    assert resolve_engine(None, "nvidia-hopper").id == "trt-llm"
    assert resolve_engine(None, "aws-neuron").id == "nxd-inference"
    st = resolve_engine(None, "some-new-npu")
    assert st.id == "tuned" and "best-known stack" in st.note
    assert stacks_for("huawei-ascend")[:1] == ["mindie"] and "vllm-ascend" in stacks_for("huawei-ascend")


def test_version_gated_fallbacks():
    assert resolve_engine("vllm 0.4.3+rocm614").fallback("fp8-meta", "amd-cdna3") is not None
    assert resolve_engine("vllm 0.9.2").fallback("fp8-meta", "amd-cdna3") is None
    assert resolve_engine("vllm rocm (image)", strict=False).fallback("fp8-meta", "amd-cdna3") is not None
    assert resolve_engine("vllm 0.4.3").fallback("fp8-meta", "nvidia-hopper") is None


def _deployed(engine, model="deepseek-r1", system="dgx-h200", tp=8, precision="fp8-block"):
    from suanli.api import deploy
    from suanli.schema import Deployment

    return deploy(model, system, Deployment(tp=tp, precision=precision, engine=engine))


def test_an_engine_without_mla_kernels_caches_every_heads_k_and_v():
    from suanli.perf.memory import kv_bytes_per_seq

    old, new = _deployed("vllm==0.6.6"), _deployed("vllm==0.7.1")
    kv_old = kv_bytes_per_seq(old.arch, old.layout, old.numerics, 1000)
    kv_new = kv_bytes_per_seq(new.arch, new.layout, new.numerics, 1000)
    # DeepSeek-R1: 128 heads x (192 + 128) per token split over TP 8, against a 512 + 64 latent on every rank
    assert kv_old / kv_new == pytest.approx(128 / 8 * 320 / 576)
    assert any("absorbed MLA" in n for n in old.engine_notes)


def test_memory_policy_comes_from_the_engine():
    whole, after = _deployed("vllm", "llama-3.1-8b", "1xh100-sxm", 1, "bf16"), \
        _deployed("trt-llm", "llama-3.1-8b", "1xh100-sxm", 1, "bf16")
    m_whole, m_after = whole.memory(1, 1000, 1000), after.memory(1, 1000, 1000)
    # 10% of the whole 80 GB is slack for vLLM; 10% of what the runtime and the 16 GB of weights leave for
    # TensorRT-LLM: the difference is 10% of those two
    rt = after.factors.runtime_reserve_gb * 1e9
    assert m_whole.reserve - m_after.reserve == pytest.approx(0.1 * (after.weight_bytes + rt), rel=1e-6)


def test_predict_json_names_the_engine_and_its_paths(cli):
    r = cli("predict", "--model", "qwen3-32b", "--system", "atlas-800-a2", "--tp", "4", "--batch", "8", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)["engine"]
    assert e["id"] == "mindie" and "best-known stack" in e["note"]
    assert {"gemm", "attention", "graph", "moe", "memory", "scheduler"} <= set(e["paths"])
    bad = cli("predict", "--model", "qwen3-32b", "--system", "atlas-800-a2", "--engine", "vlm")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("system", ["atlas-800-a2", "dgx-h100", "mi300x-8", "1xjetson-agx-orin"])
def test_stack_prints_a_row_per_engine_with_sources(cli, system):
    r = cli("stack", "--model", "llama-3.1-8b", "--system", system, "--input", "512", "--output", "128", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["engines"]
    assert len(rows) >= 2 and len({x["engine"] for x in rows}) == len(rows)
    for x in rows:
        assert x["sources"] and x["paths"] and ("error" in x or x["output_tok_s_per_chip"] > 0)
    ok = [x for x in rows if "error" not in x]
    assert max(x["vs_best"] for x in ok) == pytest.approx(1.0)
    text = cli("stack", "--model", "llama-3.1-8b", "--system", system, "--input", "512", "--output", "128")
    assert text.returncode == 0 and "sources:" in text.stdout


def test_stack_shows_what_an_untuned_engine_costs_on_ascend(cli):
    r = cli("stack", "--model", "qwen3-32b", "--system", "atlas-800-a2", "--engines", "mindie,vllm-ascend==0.13.0",
            "--input", "1024", "--output", "256", "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["engine"]: x for x in json.loads(r.stdout)["engines"]}
    assert rows["mindie"]["vs_best"] == 1.0 and rows["vllm-ascend==0.13.0"]["vs_best"] < 0.7


def test_ascend_in_proportion_with_its_tuned_stack():
    """A 910B with Huawei's own stack against an edge module and an H100: per chip, in the ratio their peaks
    and bandwidths allow, not the 16-20x an untuned tutorial stack's fit once put between 910B and H100."""
    from suanli.api import compare
    from suanli.catalog import catalog

    rows = {r["system"]: r for r in compare("qwen3-32b", ["atlas-800-a2", "1xjetson-agx-orin", "dgx-h100"],
                                            input=1024, output=256, precision="int8")}
    ascend, orin, h100 = (rows[s]["output_tok_s_per_chip"] for s in ("atlas-800-a2", "1xjetson-agx-orin",
                                                                       "dgx-h100"))
    assert ascend > 3 * orin
    cat = catalog()
    a, h = cat.chips["ascend-910b"], cat.chips["h100-sxm"]
    peak = h.peak_tflops("int8") / a.peak_tflops("int8")
    bandwidth = h.memory.bandwidth_gb_s / a.memory.bandwidth_gb_s
    assert min(peak, bandwidth) * 0.8 <= h100 / ascend <= max(peak, bandwidth) * 1.2


def test_slower_kernel_paths_cost_what_their_maintainers_measured():
    from suanli.engines import path_cost

    triton, fast = _deployed("sglang==0.4.1"), _deployed("sglang==0.4.5")  # DeepGEMM default from 0.4.5
    share = path_cost("fp8_block_gemm", "triton")["compute"]
    assert triton.factors.gemm_compute == pytest.approx(fast.factors.gemm_compute * share)
    assert triton.factors.moe_compute == pytest.approx(fast.factors.moe_compute * share)
    with pytest.raises(SuanliError, match="no block-scaled FP8 GEMM"):
        _deployed("vllm==0.6.0")  # block FP8 arrived in vLLM 0.6.6
    eager, graphs = (_deployed(e, "llama-3.1-8b", "1xh100-sxm", 1, "bf16") for e in ("vllm==0.2.0", "vllm==0.2.6"))
    assert eager.factors.kernel_us == pytest.approx(graphs.factors.kernel_us + path_cost("graph_mode", "eager")[
        "kernel_us"])
    assert any("eager" in n for n in eager.engine_notes)


def test_four_bit_gemms_keep_their_own_share_of_peak():
    from dataclasses import replace

    from suanli.model.ops import LinOp
    from suanli.perf.cost import op_cost

    d = _deployed("trt-llm", "llama-3.1-8b", "1xb200", 1, "fp4")
    op = LinOp("g", "gemm", 1.0, flops={"tokens": 1e12}, dtype="fp4")
    full = op_cost(op, d.hw, replace(d.factors, fp4_compute=1.0), 1).compute["tokens"]
    half = op_cost(op, d.hw, replace(d.factors, fp4_compute=0.5), 1).compute["tokens"]
    assert half == pytest.approx(2 * full)
    op8 = LinOp("g", "gemm", 1.0, flops={"tokens": 1e12}, dtype="fp8")
    assert op_cost(op8, d.hw, replace(d.factors, fp4_compute=0.5), 1).compute == \
        op_cost(op8, d.hw, replace(d.factors, fp4_compute=1.0), 1).compute


def test_a_change_that_reached_some_chips_only_applies_there():
    # vLLM 0.7.1's CUTLASS block-FP8 GEMM and SGLang 0.4.5's DeepGEMM are CUDA kernels: ROCm keeps Triton
    assert resolve_engine("vllm 0.9.2", "nvidia-hopper").features.fp8_block_gemm == "fast"
    assert resolve_engine("vllm 0.9.2", "amd-cdna3").features.fp8_block_gemm == "triton"
    assert resolve_engine("sglang 0.5.9", "amd-cdna3").features.fp8_block_gemm == "triton"
    assert resolve_engine("vllm 0.9.2", "amd-cdna3").features.mla_absorbed  # MLA reached every chip


def test_an_engine_that_does_not_run_on_a_chip_or_a_version_that_is_no_number_is_refused(cli):
    with pytest.raises(SuanliError, match="does not run on huawei-ascend chips; engines that do: mindie"):
        resolve_engine("trt-llm", "huawei-ascend")
    with pytest.raises(SuanliError, match="version 'abc' is not a version number"):
        resolve_engine("vllm==abc", "nvidia-hopper")
    assert resolve_engine("trt-llm", "huawei-ascend", strict=False).id == "trt-llm"  # a file's row says what ran
    r = cli("compare", "--model", "llama-3.1-8b", "--systems", "dgx-h100,atlas-800-a2", "--engine", "trt-llm",
            "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["system"]: x for x in json.loads(r.stdout)["systems"]}
    assert "error" not in rows["dgx-h100"] and "does not run on" in rows["atlas-800-a2"]["error"]


def test_overlap_scheduling_from_the_release_that_made_it_the_default():
    """SGLang's zero-overhead scheduler (0.4.0), vLLM's async scheduling (0.14.0), TensorRT-LLM's PyTorch executor
    (1.0.0rc2): on from those releases, off before."""
    for before, after in (("sglang 0.3.2", "sglang 0.4.0"), ("vllm 0.13.0", "vllm 0.14.0"),
                          ("trt-llm 0.21.0", "trt-llm 1.0.0rc2")):
        assert not resolve_engine(before).features.overlap_scheduling
        assert resolve_engine(after).features.overlap_scheduling


def test_engine_json_carries_each_source_once():
    """A profile's base text sources a dozen features: the JSON keys it by all of them, once, not once each."""
    st = resolve_engine("trt-llm", "nvidia-hopper")
    grouped = st.to_dict()["sources"]
    assert len(set(grouped.values())) == len(grouped)
    assert sorted(f for k in grouped for f in k.split(", ")) == sorted(st.sources)
    assert len(grouped) < len(st.sources)
