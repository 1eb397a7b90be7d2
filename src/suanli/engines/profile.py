"""What a serving engine does, as typed data: its features at each release, each with the release that brought it
and a source.

A profile is data (`data/<id>.yaml`), never code: adding an engine or a release is adding a file or an entry.
`Features` lists everything the rest of suanli may ask of an engine — the physics (`perf`) asks only these typed
fields, never an engine's name. A profile folds its releases in version order: the features of `vllm 0.7.3` are
the base features updated by every release up to 0.7.3.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FixedShapes(BaseModel):
    """An engine compiled ahead of time for fixed shapes: prompts one at a time padded to a bucket (powers of two
    from `first_bucket`; 0 = padded to the compiled length), a decode graph of a fixed number of rows that attends
    to the whole compiled length (or, with `decode_buckets`, to a power-of-two bucket of its context)."""

    model_config = ConfigDict(extra="forbid")
    first_bucket: int = Field(0, ge=0)
    decode_buckets: bool = False


class Features(BaseModel):
    """Everything suanli's physics, scheduler and memory model may ask of an engine at one version."""

    model_config = ConfigDict(extra="forbid")
    graph_mode: Literal["graphs", "eager", "static"] = Field("graphs", description="device graphs, eager launches, "
                                                             "or graphs compiled for fixed shapes")
    chunked_prefill: bool = Field(True, description="long prompts split over steps that also decode")
    mixed_batches: bool = Field(True, description="prompts and decodes share a step; false: a step either "
                                "prefills (the running decodes wait) or decodes")
    max_num_seqs: int = Field(256, ge=1, description="default cap on running sequences per instance")
    token_budget: int = Field(8192, ge=1, description="default tokens per step (max_num_batched_tokens)")
    memory_policy: Literal["whole_device", "after_weights"] = Field(
        "whole_device", description="share of the whole memory for weights + KV + activations, or a share of what "
                                    "the weights leave for the KV cache")
    memory_utilization: float = Field(0.9, gt=0, le=1, description="that share")
    # whether a request's cache for its whole output is held from its admission (TensorRT-LLM's default capacity
    # scheduler, GUARANTEED_NO_EVICT) or grows block by block as it generates, running requests paused when the cache
    # is full (MAX_UTILIZATION); suanli's cap on the number running reads the first unless a run sets the second
    reserves_output: bool = Field(True, description="a request holds cache for its whole output from admission "
                                  "(false: blocks as tokens come)")
    mla_absorbed: bool = Field(True, description="MLA decode runs on the compressed latent (absorbed weights)")
    fp8_block_gemm: Literal["fast", "triton", "none"] = Field("fast", description="block-scaled FP8 GEMM path")
    moe_kernel: Literal["grouped", "fused_triton", "blockwise"] = Field("grouped", description="expert GEMM path")
    expert_parallel: bool = Field(True, description="experts split over chips with all-to-all dispatch")
    attention_dp: bool = Field(False, description="attention data-parallel with expert-parallel MoE layers")
    mtp: bool = Field(False, description="multi-token prediction / speculative heads available")
    prefix_cache: bool = Field(False, description="prompt prefixes cached across requests")
    pd_disaggregation: bool = Field(False, description="prefill and decode on separate workers")
    applies_sliding_window: bool = Field(True, description="a model's uniform sliding window is applied")
    pads_heads: bool = Field(False, description="pads attention heads to a multiple of TP: any TP runs")
    kv_fp8_with_fp8_weights: bool = Field(False, description="its fp8/fp4 recipes quantize the KV cache to fp8")
    # an engine's own one-/two-shot all-reduce kernels take messages up to a buffer size; larger ones go to the
    # collective library's rings (NCCL, RCCL), whose pipeline fill is a real step in the time of a step
    custom_ar_max_mb: float = Field(8.0, ge=0, le=4096, description="largest all-reduce (MB) its own kernels take; "
                                    "0 = every all-reduce runs the library's ring")
    # admission waits some schedulers offer (TensorRT-LLM's PyTorch executor), off unless a launch sets them:
    # prompts are held while the step would carry fewer than `batch_wait_tokens` x the token budget, for at most
    # `batch_wait_iters` steps; with attention data parallelism (attention_dp_config), every step in which some rank
    # has no prompt counts towards `adp_balance_iters` (timeout_iters), when prompts go in and the count restarts;
    # once every rank has one, they wait `adp_batching_iters` (batching_wait_iters) more steps
    # (tensorrt_llm/_torch/pyexecutor/py_executor.py `_balance_adp_requests`)
    batch_wait_iters: int = Field(0, ge=0, le=10_000, description="steps a prompt may be held to fill a batch")
    batch_wait_tokens: float = Field(0.0, ge=0, le=1, description="share of the token budget that ends the wait")
    adp_balance_iters: int = Field(0, ge=0, le=10_000, description="steps between admissions while some "
                                   "attention-DP rank has no prompt")
    adp_batching_iters: int = Field(0, ge=0, le=10_000, description="steps prompts wait once every attention-DP "
                                    "rank has one")
    # overlap (async) scheduling: the CPU prepares step n+1 while the device runs step n, so a request arriving
    # during step n cannot join the step already prepared: it starts one step later (TTFT + one step under load)
    overlap_scheduling: bool = Field(False, description="the next step is prepared while one runs: a new "
                                     "request joins the step after the prepared one")
    prefill_worker_overlap: bool = Field(True, description="a disaggregated prefill worker keeps the overlap "
                                         "scheduling (false: its workers run without it)")
    # multi-step scheduling (vLLM V0's --num-scheduler-steps): one scheduler call runs this many forward steps of
    # the decode batch, so a prompt that arrives during them waits for the call's last step to be admitted
    scheduler_steps: int = Field(1, ge=1, le=64, description="forward steps per scheduler call: new prompts "
                                 "join only between calls")
    fixed_shapes: FixedShapes | None = None


FEATURE_NAMES = tuple(Features.model_fields)


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    date: str | None = None
    source: str
    features: dict[str, object] = Field(default_factory=dict)
    quote: str | None = None
    only_on: list[str] = Field(default_factory=list, description="prefixes of the chip families the change reached "
                               "(empty: all); e.g. a CUDA-only kernel")

    @model_validator(mode="after")
    def _known_features(self) -> Release:
        bad = [k for k in self.features if k not in FEATURE_NAMES]
        if bad:
            raise ValueError(f"unknown feature {bad[0]!r}; allowed: {', '.join(FEATURE_NAMES)}")
        return self


class Fallback(BaseModel):
    """A kernel path suanli has no cost model for: predictions warn, validation skips the row."""

    model_config = ConfigDict(extra="forbid")
    families: str = Field(description="chip families it applies to (a prefix, e.g. amd-)")
    precision: str
    until: str = Field(description="the release that replaced the path")
    when_unstated: bool = Field(True, description="applies when the version is not stated")
    reason: str
    source: str


class EngineProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    aliases: list[str] = Field(description="lowercase phrases that name this engine in free text")
    docs: str
    tuned_on: list[str] = Field(default_factory=list, description="prefixes of the chip families where it runs "
                                "the vendor's tuned kernels: there its end-to-end rows may set the chip's factors")
    runs_on: list[str] = Field(default_factory=list, description="prefixes of the chip families it serves")
    best_for: list[str] = Field(default_factory=list, description="chip families it is the best-known stack for")
    factor_key: str | None = Field(None, description="the calibration's key for its factors (default: id)")
    paths: dict[str, str] = Field(default_factory=dict, description="kernel libraries per op class, for display")
    base: Features = Field(default_factory=Features)
    base_source: str
    releases: list[Release] = Field(default_factory=list)
    fallbacks: list[Fallback] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> EngineProfile:
        keys = [version_key(r.version) for r in self.releases]
        if keys != sorted(keys):
            raise ValueError(f"engine {self.id}: releases must be listed in version order")
        return self

    def tuned_for(self, family: str) -> bool:
        return any(family.startswith(p) for p in self.tuned_on)

    def serves(self, family: str) -> bool:
        return any(family.startswith(p) for p in self.runs_on)

    @property
    def key(self) -> str:
        return self.factor_key or self.id


def version_key(version: str) -> tuple[int, ...]:
    """'0.9.0.2.dev108+rocm641' -> (0, 9, 0, 2); '1.0.0rc3' -> (1, 0, 0); 'b3000' (llama.cpp build) -> (3000,).
    Pre-release tags sort with their release: a profile's granularity is the release, not the candidate."""
    m = re.match(r"v?b?(\d+(?:\.\d+)*)", version.strip().lower())
    if not m:
        raise ValueError(f"version {version!r}: expected digits like 0.9.2 or b3000")
    return tuple(int(p) for p in m.group(1).split("."))
