"""A Dynamo manifest (`DynamoGraphDeployment`, Kubernetes) for plans one `vllm serve` cannot run: disaggregated
prefill and decode workers, and deployment units larger than a node.

What is written is only what NVIDIA Dynamo documents (`DOCS`): the `nvidia.com/v1alpha1` DynamoGraphDeployment
with a `Frontend` and one worker service per role (`componentType: worker`, `subComponentType: prefill` for the
prefill pool), each with `replicas`, `resources.limits.gpu` (GPUs per node) and, past one node,
`multinode.nodeCount` (total GPUs = nodeCount x gpu); the worker runs `python3 -m dynamo.vllm` or `dynamo.sglang`,
which pass every engine argument through, plus `--disaggregation-mode prefill|decode`. The engine arguments are the
plan's, checked against the version's documented flags (`engines/data/flags/`) as `launch.sh` is.
"""

from __future__ import annotations

from math import ceil

import yaml

from suanli.engines.flags import FlagTable
from suanli.schema import SuanliError

DYNAMO_VERSION = "1.5.0"
# engine -> (worker module, its model argument, runtime image, service name prefix); each backend passes the
# engine's own arguments through (`DOCS`)
BACKENDS = {"vllm": ("dynamo.vllm", "--model", "vllm-runtime", "Vllm"),
            "sglang": ("dynamo.sglang", "--model-path", "sglang-runtime", "SGLang"),
            "trt-llm": ("dynamo.trtllm", "--model-path", "tensorrtllm-runtime", "Trtllm")}
# TensorRT-LLM workers take their engine settings as an LLM API options file (`--extra-engine-args`), written to a
# ConfigMap beside the graph and mounted file by file (subPath) so the image's /workspace stays visible
ENGINE_DIR = "/workspace/engine_configs"
TRTLLM_WORKER_FLAGS = ("--model-path", "--served-model-name", "--extra-engine-args", "--disaggregation-mode")
DOCS = {
    "graph": "https://docs.nvidia.com/dynamo/latest/kubernetes/ (DynamoGraphDeployment v1alpha1: services, "
             "componentType, subComponentType, replicas, resources.limits.gpu, extraPodSpec.mainContainer)",
    "multinode": "Dynamo multinode orchestration guide: multinode.nodeCount x resources.limits.gpu = the worker's "
                 "GPUs; tensor/pipeline parallel flags must match that total",
    "vllm": f"https://docs.nvidia.com/dynamo/v{DYNAMO_VERSION}/knowledge-base/modular-components/backends/v-llm/"
            "reference-guide (all vLLM engine arguments are passed through; Dynamo adds --disaggregation-mode)",
    "sglang": f"https://docs.nvidia.com/dynamo/v{DYNAMO_VERSION}/knowledge-base/modular-components/backends/sg-lang/"
              "reference-guide (all SGLang engine arguments are passed through; prefill workers take "
              "--disaggregation-mode prefill)",
    "trt-llm": "https://docs.nvidia.com/dynamo/v1.5.1/recipes/kubernetes-templates/dgd/tensor-rt-llm and the "
               "TensorRT-LLM configuration reference (python3 -m dynamo.trtllm --model-path, --served-model-name, "
               "--extra-engine-args FILE: the LLM API options, over Dynamo's own defaults; --disaggregation-mode "
               "prefill|decode; the options file mounted from a ConfigMap with subPath); prefill workers run without "
               "the overlap scheduler (\"not currently supported in prefill only workers\", the examples' "
               "engine_configs/*/prefill.yaml)",
}


def needs_dynamo(best: dict, chips_per_node: int) -> bool:
    """A plan that one `vllm serve` on one node cannot run."""
    return bool(best.get("disaggregated")) or _worker_chips(best) > chips_per_node


def _worker_chips(best: dict) -> int:
    return best["tp"] * best["pp"] * max(1, best.get("dp", 1))


def manifest(key: str, best: dict, plan: dict, row: dict, repo: str, table: FlagTable,
             flags: list[tuple[str, object, str]], chips_per_node: int) -> str:
    """The DynamoGraphDeployment YAML (with a header saying where each part comes from)."""
    if key not in BACKENDS:
        why = "disaggregated" if best.get("disaggregated") else "a unit larger than a node"
        raise SuanliError(f"emit: the plan needs a Dynamo deployment ({why}); its manifest is written for vLLM, "
                          f"SGLang and TensorRT-LLM workers (plan with --engine vllm, sglang or trt-llm), not {key}")
    module, model_arg, runtime, prefix = BACKENDS[key]
    image = f"nvcr.io/nvidia/ai-dynamo/{runtime}:{DYNAMO_VERSION}"
    chips = _worker_chips(best)
    nodes = ceil(chips / chips_per_node)
    gpus = chips if nodes == 1 else chips_per_node
    if nodes * gpus != chips:
        raise SuanliError(f"emit: a worker of {chips} chips does not split into whole nodes of {chips_per_node}")
    args = [model_arg, repo]
    dropped = []
    if key == "trt-llm":  # its settings are in the options file of each role (`engine_configs`)
        args += ["--served-model-name", repo]
    for name, value, _ in flags:
        if not table.has(name):
            dropped.append(name)
            continue
        args += [name] if value is None else [name, str(value)]
    units = int(best.get("instances", 1))
    roles = [(f"{prefix}Worker", None, units)]
    if best.get("disaggregated"):
        p, d = (int(x) for x in str(best["prefill_decode_ratio"]).split(":"))
        roles = [(f"{prefix}PrefillWorker", "prefill", p * units), (f"{prefix}DecodeWorker", "decode", d * units)]
    services: dict = {"Frontend": {"componentType": "frontend", "replicas": 1,
                                   "extraPodSpec": {"mainContainer": {"image": image}}}}
    for name, mode, replicas in roles:
        svc: dict = {"componentType": "worker"}
        if mode == "prefill":
            svc["subComponentType"] = "prefill"
        svc["replicas"] = replicas
        if nodes > 1:
            svc["multinode"] = {"nodeCount": nodes}
        svc["resources"] = {"limits": {"gpu": str(gpus)}}
        main = {"image": image, "command": ["python3", "-m", module],
                "args": args + (["--disaggregation-mode", mode] if mode else [])}
        svc["extraPodSpec"] = {"mainContainer": main}
        if key == "trt-llm":
            file = f"{mode or 'agg'}.yaml"
            main["args"] += ["--extra-engine-args", f"{ENGINE_DIR}/{file}"]
            main["volumeMounts"] = [{"name": "engine-config", "mountPath": f"{ENGINE_DIR}/{file}", "subPath": file,
                                     "readOnly": True}]
            svc["extraPodSpec"]["volumes"] = [{"name": "engine-config",
                                               "configMap": {"name": config_map_name(plan["model"])}}]
        services[name] = svc
    doc = {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
           "metadata": {"name": _name(plan["model"])}, "spec": {"services": services}}
    head = [f"suanli plan: {plan['model']} on {row['system']} ({row['chip']}), {best['label']}",
            f"{units} unit(s) of {best.get('unit_chips', chips)} chips for the planned load; each worker: {chips} "
            f"chips = {nodes} node(s) x {gpus} GPUs",
            *[f"{k}: {v}" for k, v in DOCS.items()],
            f"{table.engine} arguments as documented for {table.version}: {table.docs}",
            *[f"not set: {n} is not a documented flag of {table.engine} {table.version}" for n in dropped]]
    return "".join(f"# {h}\n" for h in head) + yaml.safe_dump(doc, sort_keys=False)


def _name(model: str) -> str:
    """A Kubernetes object name (lowercase alphanumerics and '-', at most 63)."""
    out = "".join(c if c.isalnum() else "-" for c in model.lower()).strip("-")
    return (out or "suanli")[:63].rstrip("-")


def config_map_name(model: str) -> str:
    return f"{_name(model)[:48]}-engine-config"


def engine_configs(plan: dict, options: dict, disaggregated: bool, render) -> str:
    """The ConfigMap of a TensorRT-LLM graph's options files: `agg.yaml`, or `prefill.yaml` and `decode.yaml`
    (the KV cache sent between them by the runtime's default transceiver; prefill without the overlap scheduler).
    `render(dict) -> str` writes one file, keeping only keys the TensorRT-LLM version documents."""
    roles = {"agg": options}
    if disaggregated:
        moved = {"cache_transceiver_config": {"backend": "DEFAULT"}}
        roles = {"prefill": {**options, **moved, "disable_overlap_scheduler": True},
                 "decode": {**options, **moved, "disable_overlap_scheduler": False}}
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_map_name(plan["model"])},
           "data": {f"{role}.yaml": render(opts) for role, opts in roles.items()}}
    return "# apply before dynamo.yaml (kubectl apply -f engine-config.yaml -f dynamo.yaml)\n" + \
        yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False)


class _BlockDumper(yaml.SafeDumper):
    """Writes a file held in a ConfigMap as a literal block, line for line."""


_BlockDumper.add_representer(str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v,
                                                                   style="|" if "\n" in v else None))
