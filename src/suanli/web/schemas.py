"""Request bodies of the HTTP API: one pydantic model per CLI command, with the CLI's option names and defaults.

Range checks (batch >= 1, a TP that divides the heads, a known precision) are left to suanli's own functions, so a
bad value gets exactly the one-line error the CLI prints, as HTTP 422. The schemas only fix the types, forbid
unknown fields (a typo is named, not ignored) and cap what a public server should not be asked to do (a
million-request simulation, a 5 MB body). What the CLI takes as a path (a trace, a measurement CSV, a config.json)
the API takes as the file's content in a field; nothing here names a file on the server.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from suanli.serve.api import MAX_REQUESTS  # the simulator's own bound, the same for the CLI

MAX_TEXT = 5_000_000  # characters of an uploaded CSV or trace (the body limit is 5 MB as well)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Layout(In):
    tp: int = Field(1, description="tensor parallel size (chips splitting each layer)")
    pp: int = Field(1, description="pipeline parallel size (stages of layers)")
    ep: int = Field(1, description="expert parallel size (MoE experts split over chips of a stage)")
    dp: int = Field(1, description="data parallel size (replicas, or attention-DP ranks with EP)")


class PredictIn(Layout):
    model: str = Field("llama-3.1-70b", description="model id or alias from /api/catalog/models")
    system: str = Field("dgx-h100", description="system id, '1x<chip>' or '<n>x<chip>'")
    precision: str = Field("bf16", description="weight/matmul precision: bf16, fp16, fp8, int8, w4a16, fp4, ...")
    kv_precision: str | None = Field(None, description="KV-cache precision (default bf16)")
    engine: str | None = Field(None, description="serving engine NAME or NAME==VERSION (see /api/engines); "
                                                 "default: the best-known stack for the chip")
    batch: int = Field(1, description="concurrent sequences in the whole deployment")
    input: int = Field(1024, description="prompt length, tokens per request")
    output: int = Field(128, description="generated tokens per request")
    speculative: str | None = Field(None, description="speculative decoding METHOD:K[:A]: mtp:3, eagle:4:3.2 or "
                                                      "draft=MODEL:4 (a catalog model)")
    images: str | None = Field(None, description="images in every prompt of a vision-language model, "
                                                 "N[@WIDTHxHEIGHT] in pixels, e.g. 1 or 2@1280x720")
    config: dict[str, Any] | None = Field(None, description="a Hugging Face config.json's content, used instead of "
                                                            "a catalog model (its name is `model`)")
    power_limit: float | None = Field(None, description="each chip's power limit in W (nvidia-smi -pl); default: "
                                                        "its rated TDP")


class WhatIf(In):
    chip: str = Field(description="catalog chip to edit")
    set: str = Field(description="changes as in `suanli design --set`, e.g. memory.bandwidth=6TB/s,price=30000")


class CompareIn(In):
    model: str = "llama-3.1-70b"
    systems: list[str] | str = Field(["dgx-h100", "dgx-h200", "mi300x-8", "atlas-800-a2"],
                                     description="system ids (a list, or comma-separated)")
    input: int = 1024
    output: int = 1024
    precision: str = "fp8"
    kv_precision: str | None = None
    engine: str | None = None
    speculative: str | None = Field(None, description="speculative decoding METHOD:K[:A], as for /api/predict")
    images: str | None = Field(None, description="images in every prompt, N[@WIDTHxHEIGHT], as for /api/predict")
    power_limit: float | None = Field(None, description="each chip's power limit in W, as for /api/predict")
    batch: int | None = Field(None, description="total concurrent sequences per system (default: the largest that "
                                                "fits, up to 512 per replica)")
    chips: int | None = Field(None, description="chips to use on each system (default: one whole unit)")
    tpot_max: float | None = Field(None, description="TPOT limit in ms: shrink the batch to meet it")
    rank_by: str = Field("tok_s_per_chip", description="tok_s_per_chip, tok_s, tok_s_per_user, ttft or tpot")
    detail: bool = Field(False, description="add power, $/Mtok and how each number was made to every row")
    whatif: WhatIf | None = Field(None, description="add a what-if twin of every system built from this chip")


class StackIn(In):
    model: str = "qwen3-32b"
    system: str = "atlas-800-a2"
    engines: list[str] | str | None = Field(None, description="engines NAME or NAME==VERSION (a list, or "
                                            "comma-separated); default: every profiled engine that serves the chip")
    input: int = 1024
    output: int = 1024
    precision: str = "bf16"
    kv_precision: str | None = None
    batch: int | None = None
    tpot_max: float | None = None


class SimulateIn(Layout):
    model: str = "llama-3.1-8b"
    system: str = "1xh100-sxm"
    precision: str = "bf16"
    kv_precision: str | None = None
    engine: str | None = None
    arrival: str = Field("poisson", description="poisson, gamma (bursty, see cv), constant (1/rate "
                         "apart) or concurrency (closed loop)")
    rate: float | None = Field(None, description="arrival rate, requests per second")
    cv: float | None = Field(None, description="coefficient of variation of gaps, gamma arrivals")
    concurrency: int | None = Field(None, description="closed loop: clients")
    input: str | int = Field("1024", description="prompt tokens: N, fixed:N, uniform:low=A,high=B, "
                                                 "lognormal:mean=M,sigma=S")
    output: str | int = Field("128", description="generated tokens, same forms as input")
    trace_csv: str | None = Field(None, max_length=MAX_TEXT, description="content of a trace CSV: arrival_s, "
                                                                        "input_tokens, output_tokens")
    requests: int = Field(1000, le=MAX_REQUESTS, description=f"requests to simulate (at most {MAX_REQUESTS:,})")
    seed: int = 0
    slo: str | None = Field(None, description="limits, e.g. ttft_p99=2s,tpot_p99=60ms")
    disaggregate: str | None = Field(None, description="P:D prefill and decode instances")
    router: str = "least-loaded"
    prefix_hit: float = 0.0
    max_seqs: int | None = Field(None, description="max concurrent sequences per instance (default: the engine's)")
    max_tokens: int | None = None
    series: bool = Field(False, description="add latency CDFs and throughput / queue length over time")


class ValidateIn(In):
    csv: str | None = Field(None, max_length=MAX_TEXT, description="content of a measurement CSV "
                                                                   "(docs/validation.md format)")
    dataset: str | None = Field(None, description="name of a dataset the server offers (/api/validate/datasets)")
    by: list[str] | str | None = Field(None, description="group by: hardware, model, engine, source, scenario, "
                                                         "metric")


class Knobs(In):
    electricity: float | None = Field(None, description="USD per kWh")
    pue: float | None = None
    years: float | None = None
    utilization: float | None = Field(None, description="share of hours spent serving, 0-1")
    price: list[str] | str | None = Field(None, description="chip prices, CHIP=USD")


class CostIn(Knobs):
    model: str = "llama-3.1-70b"
    system: str = "dgx-h100"
    input: int = 1024
    output: int = 1024
    batch: int | None = None
    tp: int | None = None
    pp: int | None = None
    ep: int | None = None
    dp: int | None = None
    chips: int | None = None
    precision: str = "fp8"
    kv_precision: str | None = None
    engine: str | None = None
    tpot_max: float | None = None
    facility: float | None = None
    system_price: float | None = None
    server_overhead: float | None = None
    network_fraction: float | None = None
    tdp: float | None = None
    idle_w: float | None = None


class PpaIn(In):
    chips: str = Field("h100-sxm,mi300x,ascend-910b", description="comma-separated chip ids, or 'all'")
    model: str | None = None
    input: int = 1024
    output: int = 1024
    batch: int | None = None
    precision: str = "fp8"
    node: int = 8
    price: list[str] | str | None = None


class SiliconIn(In):
    die_area: float | None = Field(None, description="area of one compute die, mm^2")
    node: str | None = Field(None, description="process node, e.g. 7nm")
    chip: str | None = Field(None, description="take die area, node, dies and HBM stacks from a catalog chip")
    dies: int | None = None
    wafer_price: float | None = None
    defect_density: float | None = None
    alpha: float | None = None
    yield_model: str | None = None
    hbm_stacks: int | None = None
    hbm_stack_price: float | None = None
    packaging_cost: float | None = None
    package_yield: float | None = None
    nre: float | None = None
    volume: int | None = None
    wafer_diameter: float | None = None
    edge_exclusion: float | None = None


class SiliconSweepIn(SiliconIn):
    areas: list[float] = Field(default_factory=list, max_length=200, description="die areas to evaluate, mm^2")


class PolicyIn(In):
    chips: str = "all"
    hbm_stack_area: float | None = None


class DesignIn(In):
    base: str = "h100-sxm"
    set: str = "memory.bandwidth=x1.5"
    model: str | None = None
    system: str | None = None
    chips: int | None = None
    input: int = 1024
    output: int = 1024
    batch: int | None = None
    precision: str = "fp8"


class IsoperfIn(Knobs):
    model: str = "llama-3.1-70b"
    target: str = "dgx-h100"
    candidate: str = "1xa100-sxm"
    input: int = 1024
    output: int = 1024
    batch: int | None = None
    precision: str = "fp8"
    tpot_max: float | None = None


class ReportSection(In):
    title: str = Field("", max_length=300)
    figure: dict[str, Any] | None = Field(None, description="a plotly figure: {data, layout}")
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    text: str | None = Field(None, max_length=20_000)


class ReportIn(In):
    title: str = Field("suanli report", max_length=300)
    url: str | None = Field(None, max_length=4000, description="the view's shareable URL")
    sections: list[ReportSection] = Field(default_factory=list, max_length=40)


def as_list(v: list[str] | str | None) -> list[str]:
    """A list field that may also come comma-separated."""
    if v is None:
        return []
    items = v.split(",") if isinstance(v, str) else v
    return [s.strip() for s in items if s and s.strip()]
