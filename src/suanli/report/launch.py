"""Launch files for a planned deployment (`suanli plan --emit ENGINE --out DIR`).

From the plan's chosen deployment (its `--json` figures) and the engine profile it was planned for, each emitter
writes the engine's own launch command or config with the settings the plan assumed: parallelism (TP, PP, DP,
expert parallelism and attention data parallelism), the cap on running sequences and tokens per step, the memory
share, the weight quantization and the KV-cache dtype, the context length. Every flag or key is one the engine
documents for the version named (`suanli.engines.flags`, transcribed with its docs page, cited in a comment next
to it); a setting the version does not document is left out with a comment, never invented.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from suanli.engines.flags import FlagTable, flag_table
from suanli.report.dynamo import engine_configs, manifest, needs_dynamo
from suanli.schema import SuanliError

EMITTERS: dict[str, str] = {"vllm": "launch.sh", "vllm-ascend": "launch.sh", "sglang": "launch.sh",
                            "trt-llm": "launch.sh", "llama.cpp": "launch.sh", "mindie": "config.json"}


def check_emit(engine: str) -> str:
    key = engine.split("==")[0].strip().lower()
    if key not in EMITTERS:
        raise SuanliError(f"emit: {engine!r} is not allowed; engines with launch files: {', '.join(EMITTERS)}")
    flag_table(key, None)  # its documented flags are shipped (else a one-line error before any search)
    return key


def hf_repo(source: str) -> str:
    """'https://huggingface.co/org/name/blob/main/config.json' -> 'org/name' (the catalog model's source)."""
    if "huggingface.co/" not in source:
        return ""
    parts = source.split("huggingface.co/", 1)[1].split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 else ""


def _kv(best: dict, fp8: str, auto: str = "auto") -> str:
    return fp8 if str(best.get("kv_precision", "")).startswith("fp8") else auto


def _settings(best: dict, plan: dict) -> dict:
    per_rank = max(1, best["max_batch"] // max(1, best["dp"]))
    return {"tp": best["tp"], "pp": best["pp"], "dp": best["dp"], "ep": best["ep"], "seqs": best["max_batch"],
            "seqs_per_rank": per_rank, "tokens": best["token_budget"], "mem": best.get("memory_utilization"),
            "ctx": plan["input"] + plan["output"], "precision": best["precision"]}


def vllm_flags(best: dict, plan: dict) -> list[tuple[str, object, str]]:
    s = _settings(best, plan)
    out = [("--tensor-parallel-size", s["tp"], "plan tp"), ("--pipeline-parallel-size", s["pp"], "plan pp")]
    if s["dp"] > 1:
        out.append(("--data-parallel-size", s["dp"], "plan dp (one engine core per rank)"))
    if s["ep"] > 1:
        out.append(("--enable-expert-parallel", None, f"plan ep={s['ep']}: experts split over tp x dp ranks"))
    out += [("--max-num-seqs", s["seqs_per_rank"], f"plan max_batch {s['seqs']} over dp={s['dp']} ranks"),
            ("--max-num-batched-tokens", s["tokens"], "plan token_budget"),
            ("--kv-cache-dtype", _kv(best, "fp8"), f"plan kv_precision {best['kv_precision']}"),
            ("--max-model-len", s["ctx"], "prompt + output of the planned requests")]
    if s["mem"] is not None:
        out.append(("--gpu-memory-utilization", s["mem"], "the engine profile's memory share the plan assumed"))
    if s["precision"] == "fp8":
        out.append(("--quantization", "fp8", "plan precision fp8 (online per-tensor FP8 of a 16-bit checkpoint; "
                                             "drop for an FP8 checkpoint, whose format is read from it)"))
    return out


def sglang_flags(best: dict, plan: dict) -> list[tuple[str, object, str]]:
    s = _settings(best, plan)
    out = [("--tp-size", s["tp"] * (s["dp"] if s["ep"] > 1 else 1), "plan tp (x dp under attention DP: "
                                                                      "SGLang's tp spans the DP ranks)"),
           ("--pp-size", s["pp"], "plan pp")]
    if s["dp"] > 1:
        out.append(("--dp-size", s["dp"], "plan dp"))
        if s["ep"] > 1:
            out.append(("--enable-dp-attention", None, "plan: attention data parallel with expert parallel MoE"))
    if s["ep"] > 1:
        out.append(("--ep-size", s["ep"], "plan ep"))
    out += [("--max-running-requests", s["seqs"], "plan max_batch"),
            ("--chunked-prefill-size", s["tokens"], "plan token_budget"),
            ("--kv-cache-dtype", _kv(best, "fp8_e4m3"), f"plan kv_precision {best['kv_precision']}"),
            ("--context-length", s["ctx"], "prompt + output of the planned requests")]
    if s["mem"] is not None:
        out.append(("--mem-fraction-static", s["mem"], "the engine profile's memory share the plan assumed"))
    if s["precision"] == "fp8":
        out.append(("--quantization", "fp8", "plan precision fp8 (drop for an FP8 checkpoint)"))
    return out


def trtllm_flags(best: dict, plan: dict) -> tuple[list[tuple[str, object, str]], dict]:
    """trtllm-serve's flags for the plan's settings (`trtllm_options`), and the options it takes only from the
    --extra_llm_api_options file."""
    o = trtllm_options(best, plan)
    adp, kv = o["enable_attention_dp"], o["kv_cache_config"]
    out = [("--backend", "pytorch", "the PyTorch backend the 1.x profiles describe"),
           ("--tp_size", o["tensor_parallel_size"], "plan tp" + (" x dp (attention DP)" if adp else "")),
           ("--pp_size", o["pipeline_parallel_size"], "plan pp")]
    if "moe_expert_parallel_size" in o:
        out.append(("--ep_size", o["moe_expert_parallel_size"], "plan ep"))
    out += [("--max_batch_size", o["max_batch_size"], "plan max_batch" + (" per attention-DP rank" if adp else "")),
            ("--max_num_tokens", o["max_num_tokens"], "plan token_budget"),
            ("--max_seq_len", o["max_seq_len"], "prompt + output of the planned requests")]
    if "free_gpu_memory_fraction" in kv:
        out.append(("--kv_cache_free_gpu_memory_fraction", kv["free_gpu_memory_fraction"],
                    "the memory share the plan assumed"))
    return out, {"enable_attention_dp": adp, "kv_cache_config": {"dtype": kv["dtype"]}}


def trtllm_options(best: dict, plan: dict) -> dict:
    """The plan's settings as TensorRT-LLM LLM API options (the keys of an --extra_llm_api_options file)."""
    s = _settings(best, plan)
    adp = s["dp"] > 1 and s["ep"] > 1  # TensorRT-LLM's DEP: tp_size spans the attention-DP ranks
    out: dict = {"tensor_parallel_size": s["tp"] * (s["dp"] if adp else 1), "pipeline_parallel_size": s["pp"]}
    if s["ep"] > 1:
        out["moe_expert_parallel_size"] = s["ep"]
    out |= {"enable_attention_dp": adp, "max_batch_size": s["seqs_per_rank"] if adp else s["seqs"],
            "max_num_tokens": s["tokens"], "max_seq_len": s["ctx"]}
    kv: dict = {"dtype": _kv(best, "fp8")}
    if s["mem"] is not None:
        kv["free_gpu_memory_fraction"] = s["mem"]
    return out | {"kv_cache_config": kv}


def llamacpp_flags(best: dict, plan: dict) -> list[tuple[str, object, str]]:
    s = _settings(best, plan)
    out = [("--parallel", s["seqs"], "plan max_batch: one slot per running sequence"),
           ("--ctx-size", s["ctx"] * s["seqs"], "every slot's prompt + output (the context is shared by the slots)"),
           ("--batch-size", s["tokens"], "plan token_budget (logical batch per step)"),
           ("--n-gpu-layers", 999, "all layers on the accelerator")]
    if s["tp"] > 1 or s["pp"] > 1:
        out.append(("--split-mode", "row" if s["tp"] > 1 else "layer",
                    f"plan tp={s['tp']} pp={s['pp']}: split rows (tensor) or layers over the devices"))
    if str(best.get("kv_precision", "")).startswith(("fp8", "int8", "q8")):
        out += [("--cache-type-k", "q8_0", "8-bit KV cache"), ("--cache-type-v", "q8_0", "8-bit KV cache")]
    return out


def _script(table: FlagTable, command: str, flags: list[tuple[str, object, str]], header: list[str]) -> str:
    """A bash script: the flags in an array, each with why it has that value (comments may sit inside an array,
    not inside a backslash-continued command), then `command "${args[@]}"`."""
    lines = ["#!/usr/bin/env bash", *[f"# {h}" for h in header],
             f"# flags as documented for {table.engine} {table.version}: {table.docs}"]
    if table.note:
        lines.append(f"# {table.note}")
    lines += [f"# not set: {name} ({why}) is not a documented flag of {table.engine} {table.version}"
              for name, _, why in flags if not table.has(name)]
    lines += ["set -euo pipefail", "args=("]
    for name, value, why in flags:
        if table.has(name):
            arg = name if value is None else f"{name} {shlex.quote(str(value))}"
            lines.append(f"  {arg}  # {why}")
    lines += [")", command + ' "${args[@]}"']
    return "\n".join(lines) + "\n"


def emit(engine: str, plan: dict, out_dir: str | Path, model_source: str, system: str | None = None) -> list[Path]:
    """Write the launch files of the plan's chosen deployment for `engine` into `out_dir` (created; files written
    whole). Returns the paths written."""
    from suanli.schema.files import write_atomic

    files = launch_files(engine, plan, model_source, system)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SuanliError(f"emit --out: {str(out)!r} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        p = out / name
        write_atomic(p, text)
        if name.endswith(".sh"):
            p.chmod(0o755)
        written.append(p)
    return written


def launch_files(engine: str, plan: dict, model_source: str, system: str | None = None) -> dict[str, str]:
    """{file name: text} of the plan's chosen deployment for `engine` (the web's Plan page downloads them)."""
    key = check_emit(engine)
    rows = [s for s in plan["systems"] if s.get("best") and (system is None or s["system"] == system)]
    if not rows:
        raise SuanliError("emit: no feasible deployment in the plan to write launch files for")
    row = rows[0]
    best, eng = row["best"], row.get("engine") or {}
    if eng.get("id") and eng["id"] != key:
        raise SuanliError(f"emit: the plan was made for {eng['id']}, not {key}; plan with --engine {key}")
    table = flag_table(key, eng.get("version"))  # not stated: the newest version whose flags are transcribed
    repo = hf_repo(model_source) or plan["model"]
    header = [f"suanli plan: {plan['model']} on {row['system']} ({row['chip']}), {best['label']}",
              f"predicted: {best['output_tok_s_per_chip']:,.0f} output tok/s per chip, TTFT p99 "
              f"{best['ttft_p99_ms']:,.0f} ms, TPOT p99 {best['tpot_p99_ms']:,.1f} ms; run {best['instances']} "
              f"instance(s) of {best['unit_chips']} chips for the planned load, behind a load balancer",
              f"planned with the profile of {eng.get('name', key)} "
              + (f"{eng['version']}" if eng.get("version") else f"as of {eng.get('as_of') or 'its base'} "
                 "(version not stated: the launch flags are those of the newest release transcribed)")]
    files: dict[str, str] = {"plan.json": json.dumps(plan, indent=1, default=str)}
    model = f'"${{MODEL:-{repo}}}"'
    per_node = _chips_per_node(row["system"])
    if needs_dynamo(best, per_node):  # disaggregated, or a unit past one node: a Dynamo graph, not one server
        if key == "trt-llm":
            files["engine-config.yaml"] = engine_configs(plan, trtllm_options(best, plan), bool(
                best.get("disaggregated")), lambda opts: _trtllm_yaml(table, opts))
            flags = []
        else:
            flags = sglang_flags(best, plan) if key == "sglang" else vllm_flags(best, plan)
        files["dynamo.yaml"] = manifest(key, best, plan, row, repo, table, flags, per_node)
        return files
    if key in ("vllm", "vllm-ascend"):
        files["launch.sh"] = _script(table, f"exec vllm serve {model}", vllm_flags(best, plan), header)
    elif key == "sglang":
        files["launch.sh"] = _script(table, f"exec python -m sglang.launch_server --model-path {model}",
                                     sglang_flags(best, plan), header)
    elif key == "trt-llm":
        flags, extra = trtllm_flags(best, plan)
        files["extra_llm_api_options.yaml"] = _trtllm_yaml(table, extra)
        flags.append(("--extra_llm_api_options", "extra_llm_api_options.yaml", "the LLM API options below"))
        files["launch.sh"] = _script(table, f'cd "$(dirname "$0")"\nexec trtllm-serve {model}', flags, header)
    elif key == "llama.cpp":
        files["launch.sh"] = _script(table, 'exec llama-server -m "${MODEL:?set MODEL to the .gguf file}"',
                                     llamacpp_flags(best, plan), header)
    elif key == "mindie":
        from suanli.report.mindie import mindie_config

        files["config.json"], files["config.notes.txt"] = mindie_config(table, best, plan, repo, header)
    return files


def _chips_per_node(system: str) -> int:
    from suanli.catalog import catalog

    try:
        return catalog().system(system).chips_per_node
    except SuanliError:
        return 8  # a system the plan named but this catalog lacks: an 8-GPU node, said in the manifest's header


def _trtllm_yaml(table: FlagTable, extra: dict) -> str:
    import yaml

    keys = table.extra.get("extra_llm_api_options", {})
    doc, dropped = {}, []
    for k, v in extra.items():
        if isinstance(v, dict):
            kept = {sub: x for sub, x in v.items() if f"{k}.{sub}" in keys}
            dropped += [f"{k}.{sub}" for sub in v if f"{k}.{sub}" not in keys]
            if kept:
                doc[k] = kept
        elif k in keys:
            doc[k] = v
        else:
            dropped.append(k)
    head = f"# LLM API options as documented for {table.engine} {table.version}: {table.docs}\n"
    head += "".join(f"# not set: {k} is not documented for {table.version}\n" for k in dropped)
    return head + yaml.safe_dump(doc, sort_keys=False)
