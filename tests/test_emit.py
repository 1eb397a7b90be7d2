"""`suanli plan --emit ENGINE --out DIR` (issue 24): launch files whose settings are the plan's, in flags each engine
documents for the version named."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from suanli.engines.flags import flag_table
from suanli.report.launch import EMITTERS, emit, hf_repo
from suanli.schema import SuanliError

SOURCE = "https://huggingface.co/meta-llama/Llama-3.1-70B/blob/main/config.json"


def plan_of(engine: str, version: str | None, **best) -> dict:
    b = {"label": "tp=2 pp=1 fp8, kv fp8", "tp": 2, "pp": 1, "ep": 1, "dp": 2, "precision": "fp8",
         "kv_precision": "fp8", "max_batch": 512, "token_budget": 8192, "disaggregated": False,
         "output_tok_s_per_chip": 1234.0, "ttft_p99_ms": 900.0, "tpot_p99_ms": 30.0, "instances": 3,
         "unit_chips": 4, "memory_utilization": 0.9, **best}
    return {"model": "llama-3.1-70b", "input": 2000, "output": 500,
            "systems": [{"system": "dgx-h100", "chip": "h100-sxm", "best": b,
                         "engine": {"id": engine, "name": engine, "version": version, "as_of": version}}]}


def args_of(script: str) -> dict[str, str | None]:
    """The flags of the script's `args=( ... )` array: flag -> value (None for a switch)."""
    body = script.split("args=(", 1)[1].split("\n)", 1)[0]
    words = shlex.split(body, comments=True)
    out, i = {}, 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is not None and not nxt.startswith("-"):
            out[w], i = nxt, i + 2
        else:
            out[w], i = None, i + 1
    return out


@pytest.mark.parametrize("engine", ["vllm", "vllm-ascend", "sglang", "trt-llm", "llama.cpp"])
def test_every_emitted_flag_is_documented_for_its_version(engine, tmp_path: Path):
    version = None
    plan = plan_of(engine, version)
    paths = emit(engine, plan, tmp_path, SOURCE)
    script = (tmp_path / "launch.sh").read_text()
    table = flag_table(engine, version)
    flags = args_of(script)
    assert flags, script
    for flag in flags:
        assert table.has(flag), f"{engine} {table.version}: {flag} is not documented"
    assert table.docs in script and "plan.json" in {p.name for p in paths}
    assert json.loads((tmp_path / "plan.json").read_text())["model"] == "llama-3.1-70b"


def test_vllm_settings_equal_the_plan(tmp_path: Path):
    plan = plan_of("vllm", "0.11.0", dp=1, max_batch=256)
    emit("vllm", plan, tmp_path, SOURCE)
    a = args_of((tmp_path / "launch.sh").read_text())
    b = plan["systems"][0]["best"]
    assert a["--tensor-parallel-size"] == str(b["tp"]) and a["--pipeline-parallel-size"] == str(b["pp"])
    assert a["--max-num-seqs"] == str(b["max_batch"]) and a["--max-num-batched-tokens"] == str(b["token_budget"])
    assert a["--gpu-memory-utilization"] == str(b["memory_utilization"]) and a["--kv-cache-dtype"] == "fp8"
    assert "meta-llama/Llama-3.1-70B" in (tmp_path / "launch.sh").read_text()


def test_sglang_and_trtllm_attention_dp(tmp_path: Path):
    plan = plan_of("sglang", None, tp=1, dp=8, ep=8, max_batch=1024)
    emit("sglang", plan, tmp_path / "s", SOURCE)
    a = args_of((tmp_path / "s" / "launch.sh").read_text())
    assert a["--tp-size"] == "8" and a["--dp-size"] == "8" and "--enable-dp-attention" in a
    emit("trt-llm", plan_of("trt-llm", None, tp=1, dp=8, ep=8, max_batch=1024), tmp_path / "t", SOURCE)
    a = args_of((tmp_path / "t" / "launch.sh").read_text())
    assert a["--tp_size"] == "8" and a["--ep_size"] == "8" and a["--max_batch_size"] == "128"
    extra = yaml.safe_load((tmp_path / "t" / "extra_llm_api_options.yaml").read_text())
    assert extra["enable_attention_dp"] is True and extra["kv_cache_config"]["dtype"] == "fp8"


def test_mindie_config_keys_are_documented(tmp_path: Path):
    plan = plan_of("mindie", None, tp=8, dp=1, max_batch=200)
    emit("mindie", plan, tmp_path, SOURCE)
    cfg = json.loads((tmp_path / "config.json").read_text())
    table = flag_table("mindie", None)

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for i, item in enumerate(v):
                    yield from leaves(item, f"{prefix}{k}[{i}].")
            else:
                yield f"{prefix}{k}", v

    found = dict(leaves(cfg))
    assert found, cfg
    for key in found:
        assert table.has(key), f"mindie {table.version}: {key} is not documented"
    assert 200 in found.values() and 8 in found.values()


def test_refusals(tmp_path: Path):
    with pytest.raises(SuanliError, match="emit"):
        emit("ollama", plan_of("vllm", None), tmp_path, SOURCE)
    with pytest.raises(SuanliError, match="disaggregated.*vLLM, SGLang and TensorRT-LLM workers"):
        emit("llama.cpp", plan_of("llama.cpp", None, disaggregated=True, prefill_decode_ratio="1:1"), tmp_path,
             SOURCE)
    with pytest.raises(SuanliError, match="made for"):
        emit("vllm", plan_of("sglang", None), tmp_path, SOURCE)
    assert set(EMITTERS) >= {"vllm", "sglang", "trt-llm", "llama.cpp", "mindie"}
    assert hf_repo(SOURCE) == "meta-llama/Llama-3.1-70B" and hf_repo("local.json") == ""


def test_plan_emit_end_to_end(cli, tmp_path: Path):
    out = tmp_path / "d"
    r = cli("plan", "--model", "llama-3.1-8b", "--systems", "dgx-h100", "--load", "50req/s", "--slo",
            "ttft_p99=2s,tpot_p99=60ms", "--confirm", "0", "--emit", "vllm", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    best = next(s["best"] for s in plan["systems"] if s["best"])
    a = args_of((out / "launch.sh").read_text())
    assert a["--tensor-parallel-size"] == str(best["tp"]) and a["--pipeline-parallel-size"] == str(best["pp"])
    assert int(a["--max-num-seqs"]) == best["max_batch"] // best["dp"]
    assert a["--max-num-batched-tokens"] == str(best["token_budget"])
    assert float(a["--gpu-memory-utilization"]) == best["memory_utilization"]
    assert a["--kv-cache-dtype"] == ("fp8" if best["kv_precision"].startswith("fp8") else "auto")
    assert re.search(r"^exec vllm serve ", (out / "launch.sh").read_text(), re.M)
    # refused before any search: an engine without launch files, --out without --emit
    r = cli("plan", "--model", "llama-3.1-8b", "--systems", "dgx-h100", "--emit", "ollama", "--out", str(out))
    assert r.returncode == 2 and "emit" in r.stderr and "Traceback" not in r.stderr
    r = cli("plan", "--model", "llama-3.1-8b", "--systems", "dgx-h100", "--out", str(out))
    assert r.returncode == 2 and "--emit" in r.stderr


def _workers(doc: dict) -> dict:
    return {k: v for k, v in doc["spec"]["services"].items() if v["componentType"] == "worker"}


def test_disaggregated_plan_becomes_a_dynamo_graph(tmp_path: Path):
    """Prefill and decode pools as Dynamo worker services: replicas = the plan's ratio x its units, GPUs = the
    worker's tp x pp x dp, every vLLM argument documented for the version, Dynamo's disaggregation mode per pool."""
    import yaml

    from suanli.engines.flags import flag_table

    plan = plan_of("vllm", "0.11.0", disaggregated=True, prefill_decode_ratio="3:1", tp=4, pp=1, dp=1, instances=2)
    paths = emit("vllm", plan, tmp_path, SOURCE)
    assert {p.name for p in paths} == {"plan.json", "dynamo.yaml"}
    doc = yaml.safe_load((tmp_path / "dynamo.yaml").read_text())
    assert doc["kind"] == "DynamoGraphDeployment" and doc["apiVersion"] == "nvidia.com/v1alpha1"
    workers = _workers(doc)
    assert workers["VllmPrefillWorker"]["replicas"] == 6 and workers["VllmDecodeWorker"]["replicas"] == 2
    assert workers["VllmPrefillWorker"]["subComponentType"] == "prefill"
    table = flag_table("vllm", "0.11.0")
    for name, w in workers.items():
        assert w["resources"]["limits"]["gpu"] == "4" and "multinode" not in w
        args = w["extraPodSpec"]["mainContainer"]["args"]
        assert args[args.index("--tensor-parallel-size") + 1] == "4"
        assert args[args.index("--disaggregation-mode") + 1] == ("prefill" if "Prefill" in name else "decode")
        for a in args:
            if a.startswith("--") and a not in ("--model", "--disaggregation-mode"):
                assert table.has(a), a


def test_unit_past_one_node_spans_nodes(tmp_path: Path):
    import yaml

    plan = plan_of("vllm", "0.11.0", tp=8, pp=2, dp=1, instances=1, unit_chips=16)  # dgx-h100: 8 per node
    emit("vllm", plan, tmp_path, SOURCE)
    (worker,) = _workers(yaml.safe_load((tmp_path / "dynamo.yaml").read_text())).values()
    assert worker["multinode"]["nodeCount"] == 2 and worker["resources"]["limits"]["gpu"] == "8"
    args = worker["extraPodSpec"]["mainContainer"]["args"]
    assert int(args[args.index("--tensor-parallel-size") + 1]) * int(args[args.index("--pipeline-parallel-size")
                                                                          + 1]) == 16


def test_sglang_disaggregated_plan_becomes_a_dynamo_graph(tmp_path: Path):
    import yaml

    from suanli.engines.flags import flag_table

    plan = plan_of("sglang", None, disaggregated=True, prefill_decode_ratio="1:2", tp=8, pp=1, dp=1, instances=1)
    emit("sglang", plan, tmp_path, SOURCE)
    doc = yaml.safe_load((tmp_path / "dynamo.yaml").read_text())
    workers = _workers(doc)
    assert workers["SGLangPrefillWorker"]["replicas"] == 1 and workers["SGLangDecodeWorker"]["replicas"] == 2
    table = flag_table("sglang", None)
    for name, w in workers.items():
        main = w["extraPodSpec"]["mainContainer"]
        assert main["command"] == ["python3", "-m", "dynamo.sglang"] and "sglang-runtime" in main["image"]
        args = main["args"]
        assert args[0] == "--model-path" and args[args.index("--tp-size") + 1] == "8"
        assert args[args.index("--disaggregation-mode") + 1] == ("prefill" if "Prefill" in name else "decode")
        assert all(table.has(a) for a in args if a.startswith("--"))


def test_trtllm_disaggregated_plan_becomes_a_dynamo_graph_with_its_options_files(tmp_path: Path):
    """TensorRT-LLM workers (dynamo.trtllm) read the plan's settings from LLM API options files in a ConfigMap:
    every key documented for the version, the values the plan's, the KV transceiver set on both pools."""
    import yaml

    from suanli.engines.flags import flag_table
    from suanli.report.dynamo import TRTLLM_WORKER_FLAGS

    plan = plan_of("trt-llm", None, disaggregated=True, prefill_decode_ratio="2:1", tp=4, pp=1, dp=1, ep=4,
                   instances=1)
    paths = emit("trt-llm", plan, tmp_path, SOURCE)
    assert {p.name for p in paths} == {"plan.json", "dynamo.yaml", "engine-config.yaml"}
    config = yaml.safe_load((tmp_path / "engine-config.yaml").read_text())
    workers = _workers(yaml.safe_load((tmp_path / "dynamo.yaml").read_text()))
    assert workers["TrtllmPrefillWorker"]["replicas"] == 2 and workers["TrtllmDecodeWorker"]["replicas"] == 1
    keys = flag_table("trt-llm", None).extra["extra_llm_api_options"]
    for name, w in workers.items():
        main = w["extraPodSpec"]["mainContainer"]
        assert main["command"] == ["python3", "-m", "dynamo.trtllm"] and "tensorrtllm-runtime" in main["image"]
        args = main["args"]
        assert all(a in TRTLLM_WORKER_FLAGS for a in args if a.startswith("--"))
        role = args[args.index("--disaggregation-mode") + 1]
        assert role == ("prefill" if "Prefill" in name else "decode")
        file = args[args.index("--extra-engine-args") + 1]
        (mount,) = main["volumeMounts"]
        assert mount["mountPath"] == file and mount["subPath"] == f"{role}.yaml"
        assert w["extraPodSpec"]["volumes"][0]["configMap"]["name"] == config["metadata"]["name"]
        opts = yaml.safe_load(config["data"][f"{role}.yaml"])
        assert opts["tensor_parallel_size"] == 4 and opts["moe_expert_parallel_size"] == 4
        assert opts["max_batch_size"] == 512 and opts["max_num_tokens"] == 8192 and opts["max_seq_len"] == 2500
        assert opts["kv_cache_config"] == {"dtype": "fp8", "free_gpu_memory_fraction": 0.9}
        assert opts["cache_transceiver_config"]["backend"] == "DEFAULT"
        assert opts["disable_overlap_scheduler"] is (role == "prefill")
        leaves = [f"{k}.{sub}" if isinstance(v, dict) else k for k, v in opts.items()
                  for sub in (v if isinstance(v, dict) else [None])]
        assert all(key in keys for key in leaves), leaves


def test_launch_files_of_an_engine_without_dynamo_plan_one_node_units():
    from suanli.plan import plan

    def unit(one_node: bool) -> int:
        r = plan("llama-3.1-405b", ["gb200-nvl72"], input=2000, output=500, slo="ttft_p99=5s,tpot_p99=100ms",
                 load="5req/s", confirm=0, executor="serial", precision="fp8", disaggregate=False,
                 one_node=one_node)
        return r["systems"][0]["best"]["unit_chips"]

    assert unit(False) > 4 >= unit(True)  # a GB200 node holds 4 GPUs
