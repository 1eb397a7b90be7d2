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
            "sglang": ("dynamo.sglang", "--model-path", "sglang-runtime", "SGLang")}
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
        raise SuanliError(f"emit: the plan needs a Dynamo deployment ({why}); its manifest is written for vLLM and "
                          f"SGLang workers (plan with --engine vllm or sglang), not {key}")
    module, model_arg, runtime, prefix = BACKENDS[key]
    image = f"nvcr.io/nvidia/ai-dynamo/{runtime}:{DYNAMO_VERSION}"
    chips = _worker_chips(best)
    nodes = ceil(chips / chips_per_node)
    gpus = chips if nodes == 1 else chips_per_node
    if nodes * gpus != chips:
        raise SuanliError(f"emit: a worker of {chips} chips does not split into whole nodes of {chips_per_node}")
    args = [model_arg, repo]
    dropped = []
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
        svc["extraPodSpec"] = {"mainContainer": {"image": image, "command": ["python3", "-m", module],
                                                 "args": args + (["--disaggregation-mode", mode] if mode else [])}}
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
