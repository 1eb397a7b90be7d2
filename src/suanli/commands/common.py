"""Options and output helpers shared by every command module (units in the help texts)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

out = Console(width=None if sys.stdout.isatty() else 160)

# Options shared by several commands, with units in the help.
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="model id or alias from `suanli catalog models`, or a "
                                                             "path to a Hugging Face config.json")]
InputOpt = Annotated[int, typer.Option("--input", help="prompt length, tokens per request")]
OutputOpt = Annotated[int, typer.Option("--output", help="generated tokens per request")]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="weight/matmul precision: bf16, fp16, fp8, fp8-block, "
                                                               "int8, w4a16 (int4), fp4 (nvfp4), mxfp4, q4_k_m, ...")]
KvOpt = Annotated[str | None, typer.Option("--kv-precision", help="KV-cache precision (default bf16)")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="serving engine family for calibrated factors: "
                                                                "trt-llm, vllm, sglang, llama.cpp, mindie, ...")]
SpecOpt = Annotated[str | None, typer.Option("--speculative", help="speculative decoding METHOD:K[:A]: mtp (the "
                                            "model's MTP module) or eagle (a one-layer draft head), K drafts a "
                                            "step, A tokens out per step (default: sourced), e.g. mtp:3")]
ImagesOpt = Annotated[str | None, typer.Option("--images", help="images in every prompt of a vision-language model, "
                                              "N[@WIDTHxHEIGHT] in pixels (default size 1024x1024), e.g. 1 or "
                                              "2@1280x720: their tokens join the prompt, the vision tower encodes "
                                              "them in the prefill")]
PowerOpt = Annotated[float | None, typer.Option("--power-limit", help="each chip's power limit in W, as "
                                              "`nvidia-smi -pl` sets it (MLPerf's MaxQ runs): compute slows on the "
                                              "family's power curve, memory bandwidth does not (default: rated TDP)")]
CalOpt = Annotated[str | None, typer.Option("--calibration", help="calibration YAML (default: the bundled one)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of tables")]


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(x):
    if hasattr(x, "model_dump"):
        return x.model_dump()
    if x == float("inf"):
        return None
    return str(x)
