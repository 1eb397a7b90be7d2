"""Deployment (how a model is laid out on chips) and Workload (what is asked of it), in their simple forms."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Deployment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tp: int = Field(1, ge=1, description="tensor parallelism: chips that split each layer's heads and GEMMs")
    pp: int = Field(1, ge=1, description="pipeline parallelism: stages of consecutive layers")
    ep: int = Field(1, ge=1, description="expert parallelism: chips that split the MoE experts (within tp*dp)")
    dp: int = Field(1, ge=1, description="data parallelism: replicas of attention (and of the model, when ep=1)")
    precision: str = Field("bf16", description="weight and matmul precision")
    kv_precision: str | None = Field(None, description="KV-cache precision (default: bf16, or fp8 with fp8 weights)")
    engine: str | None = Field(None, description="serving engine family, e.g. vllm, sglang, trt-llm, llama.cpp")

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # 10 M tokens: the longest context any released model claims (Llama 4 Scout); past it nothing can be served
    input_len: int = Field(ge=1, le=10_000_000, description="prompt tokens per request")
    output_len: int = Field(ge=1, le=10_000_000, description="generated tokens per request")
    batch: int = Field(1, ge=1, description="concurrent sequences in the whole deployment")
