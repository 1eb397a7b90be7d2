"""Deployment (how a model is laid out on chips) and Workload (what is asked of it), in their simple forms."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class Speculation(BaseModel):
    """Speculative decoding: each step drafts `draft_tokens` tokens per sequence and the model verifies them in one
    pass; `acceptance` is the mean tokens a step then emits (the accepted drafts plus the model's own token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["mtp", "eagle", "draft"] = Field(description="mtp: the model's own multi-token-prediction "
                                                     "module; eagle: a one-layer draft head on the model's hidden "
                                                     "states; draft: a smaller model (draft_model)")
    draft_tokens: int = Field(ge=1, le=16, description="tokens drafted per sequence per step (chain drafting)")
    acceptance: float | None = Field(None, ge=1.0, description="mean tokens emitted per step, 1..draft_tokens+1 "
                                     "(default: the method's sourced acceptance rate)")
    draft_model: str | None = Field(None, description="the drafting model (method draft): a catalog id or config")
    # (model id, Arch) of the draft model, set by the service layer that resolves ids (`suanli.api.speculation`)
    _draft: object = PrivateAttr(None)

    @model_validator(mode="after")
    def _within(self) -> Speculation:
        if (self.method == "draft") != bool(self.draft_model):
            raise ValueError("a draft model goes with method draft, and only with it")
        if self.acceptance is not None and self.acceptance > self.draft_tokens + 1:
            raise ValueError(f"acceptance {self.acceptance:g} exceeds draft_tokens + 1 = {self.draft_tokens + 1}")
        return self


class Images(BaseModel):
    """The images in every request's prompt (vision-language models): each is encoded by the model's vision tower
    and becomes prompt tokens (`model/vision.py`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(1, ge=1, le=64, description="images per request")
    width: int = Field(1024, ge=1, le=16384, description="image width, pixels")
    height: int = Field(1024, ge=1, le=16384, description="image height, pixels")
    prompt_tokens: int | None = Field(None, ge=1, le=10_000_000, description="tokens of the whole prompt, text and "
                                      "images: what share of the prefill is image tokens (set by suanli.api)")


class Deployment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tp: int = Field(1, ge=1, description="tensor parallelism: chips that split each layer's heads and GEMMs")
    pp: int = Field(1, ge=1, description="pipeline parallelism: stages of consecutive layers")
    ep: int = Field(1, ge=1, description="expert parallelism: chips that split the MoE experts (within tp*dp)")
    dp: int = Field(1, ge=1, description="data parallelism: replicas of attention (and of the model, when ep=1)")
    precision: str = Field("bf16", description="weight and matmul precision")
    kv_precision: str | None = Field(None, description="KV-cache precision (default: bf16, or fp8 with fp8 weights)")
    engine: str | None = Field(None, description="serving engine family, e.g. vllm, sglang, trt-llm, llama.cpp")
    speculative: Speculation | None = Field(None, description="speculative decoding (none: one token per step)")
    images: Images | None = Field(None, description="images in every prompt, which the vision tower encodes")
    power_limit_w: float | None = Field(None, gt=0, le=5000, description="each chip's power limit in W (as "
                                        "`nvidia-smi -pl` sets it); none: its rated TDP")

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # 10 M tokens: the longest context any released model claims (Llama 4 Scout); past it nothing can be served
    input_len: int = Field(ge=1, le=10_000_000, description="prompt tokens per request")
    output_len: int = Field(ge=1, le=10_000_000, description="generated tokens per request")
    batch: int = Field(1, ge=1, description="concurrent sequences in the whole deployment")
