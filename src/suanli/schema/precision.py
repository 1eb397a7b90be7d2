"""Number formats: how many bits a stored element really takes, and which matrix unit multiplies it.

A precision names a storage format (bits per element, including its scales) and the matrix dtype the chip
uses to multiply it. A chip without that matrix dtype falls back along `fallback`; if the fallback is a
wider dtype than the storage, the weights are dequantised on the fly ("weight-only"), so memory traffic keeps
the small format while compute runs at the wider rate. Bits per element include the scale overhead, because
that is what crosses the memory bus:

* fp8 block scales: one fp32 scale per 128x128 tile -> 8 + 32/16384 bits (DeepSeek-V3 recipe);
  UE8M0 power-of-two scales are one byte per 1x128 group -> 8 + 8/128.
* nvfp4: one e4m3 scale per 16 elements -> 4 + 8/16 = 4.5 bits. mxfp4 (OCP MX): one e8m0 scale per 32 -> 4.25.
* AWQ/GPTQ int4, group 128: fp16 scale + 4-bit zero per group -> 4 + 20/128 = 4.156 bits.
* GGUF types: bits per weight as llama.cpp defines its blocks (q4_0: 18 bytes per 32 weights = 4.5; q8_0: 34/32
  bytes = 8.5; q6_k 6.5625; q4_k 4.5; q5_k 5.5). The _k_m mixes keep some tensors at a higher type; their
  average bpw is from llama.cpp's quantize table for Llama-3.1-8B (q4_k_m 4.89, q5_k_m 5.70).
Sources are in `PRECISION_SOURCES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.schema.errors import SuanliError

MATRIX_DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp6", "fp4", "int4")


@dataclass(frozen=True)
class Precision:
    name: str
    bits: float  # storage bits per element, scales included
    compute: str  # preferred matrix dtype
    fallback: tuple[str, ...] = ()  # matrix dtypes to try, in order, when the chip lacks `compute`
    note: str = ""
    attn_bits: float | None = None  # attention projections kept at this width (multiplied in 16 bits), if not `bits`

    @property
    def bytes(self) -> float:
        return self.bits / 8.0


_P = Precision
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        _P("fp32", 32, "fp32", ("tf32",), "IEEE single"),
        _P("bf16", 16, "bf16", ("fp16", "fp32"), "bfloat16"),
        _P("fp16", 16, "fp16", ("bf16", "fp32"), "IEEE half"),
        _P("fp8", 8.0, "fp8", ("bf16", "fp16"), "e4m3 with per-tensor scales"),
        _P("fp8-block", 8 + 32 / 16384, "fp8", ("bf16", "fp16"), "e4m3 with fp32 scales per 128x128 block"),
        _P("fp8-meta", 8.0, "fp8", ("bf16", "fp16"), "Meta's FP8 checkpoints: FFN weights e4m3 per channel, "
           "dynamic per-token activations; attention projections kept in bf16", attn_bits=16),
        _P("fp8-ue8m0", 8 + 8 / 128, "fp8", ("bf16", "fp16"), "e4m3 with power-of-two (UE8M0) scales per 1x128"),
        _P("int8", 8.0, "int8", ("bf16", "fp16"), "w8a8 int8 with per-channel scales"),
        _P("w8a16", 8.0, "bf16", ("fp16",), "int8 weights, 16-bit activations (weight-only)"),
        _P("w4a16", 4 + 20 / 128, "bf16", ("fp16",), "int4 weights (AWQ/GPTQ, group 128), 16-bit activations"),
        _P("w4a8", 4 + 20 / 128, "fp8", ("int8", "bf16", "fp16"), "int4 weights, fp8/int8 activations"),
        _P("fp4", 4.5, "fp4", ("fp8", "bf16", "fp16"), "NVFP4: e2m1 with e4m3 scales per 16"),
        # where a chip has no 4-bit matrix unit the engines keep activations in 16 bits and widen the weights in
        # the kernel (PRECISION_SOURCES["mxfp4"]): W4A16, not W4A8
        _P("mxfp4", 4.25, "fp4", ("bf16", "fp16", "fp8"), "OCP MXFP4: e2m1 with e8m0 scales per 32"),
        _P("q4_0", 4.5, "fp16", ("bf16", "fp32"), "GGUF q4_0: 18 bytes per 32 weights"),
        _P("q4_k_m", 4.89, "fp16", ("bf16", "fp32"), "GGUF q4_k_m (mix of q4_k and q6_k)"),
        _P("q5_k_m", 5.70, "fp16", ("bf16", "fp32"), "GGUF q5_k_m (mix of q5_k and q6_k)"),
        _P("q6_k", 6.5625, "fp16", ("bf16", "fp32"), "GGUF q6_k"),
        _P("q8_0", 8.5, "fp16", ("bf16", "fp32"), "GGUF q8_0: 34 bytes per 32 weights"),
        _P("f16", 16, "fp16", ("bf16", "fp32"), "GGUF f16"),
        _P("q4f16", 4 + 16 / 32, "fp16", ("bf16", "fp32"), "MLC q4f16_1: int4 with fp16 scale per 32"),
    )
}

ALIASES = {
    "int4": "w4a16",
    "awq": "w4a16",
    "gptq": "w4a16",
    "nvfp4": "fp4",
    "e4m3": "fp8",
    "float8": "fp8",
    "w8a8": "int8",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "auto": "bf16",
    "fp8_e4m3": "fp8",
    "fbgemm_fp8": "fp8-meta",
}

PRECISION_SOURCES = {
    "fp8-block": "https://arxiv.org/abs/2412.19437 (DeepSeek-V3 technical report, sec. 3.3 fine-grained quantization)",
    "fp8-ue8m0": "https://github.com/deepseek-ai/DeepGEMM (UE8M0 scale format for SM100)",
    "fp4": "https://docs.nvidia.com/cuda/cublas/#d-block-scaling-factors-layout (NVFP4: 16-element blocks, e4m3 scale)",
    "mxfp4": "https://www.opencompute.org/documents/ocp-microscaling-formats-mx-v1-0-spec-final-pdf "
             "(32-element blocks); without FP4 matrix units (Hopper, MI300X) vLLM and SGLang run MXFP4 experts "
             "through triton_kernels matmul_ogs or Marlin with BF16 activations, FP8 x FP4 MMA only on Blackwell "
             "(vllm/model_executor/layers/quantization/mxfp4.py, get_mxfp4_backend; "
             "https://docs.vllm.ai/projects/recipes/en/latest/OpenAI/GPT-OSS.html)",
    # The first and last layers' FFNs also stay bf16 (modules_to_not_convert of the checkpoints' config.json);
    # suanli counts them at fp8, 2 of 126 layers for 405B (+0.8% of its weights).
    "fp8-meta": "https://arxiv.org/abs/2407.21783 (The Llama 3 Herd of Models, sec. 6.2: FP8 quantization of the "
                "feedforward layers only; self-attention parameters and the first and last layers not quantized); "
                "https://huggingface.co/meta-llama/Llama-3.1-405B-FP8/blob/main/config.json (fbgemm_fp8, "
                "modules_to_not_convert)",
    "w4a16": "https://arxiv.org/abs/2306.00978 (AWQ, group size 128)",
    "gguf": "https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md (bits per weight per type)",
}


def get_precision(name: str | None, field: str = "precision") -> Precision:
    """Look a precision up by name or alias; unknown names raise a one-line error listing the allowed ones."""
    if name is None:
        return PRECISIONS["bf16"]
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in PRECISIONS:
        allowed = ", ".join(sorted(PRECISIONS))
        raise SuanliError(f"{field}: unknown precision {name!r}; allowed: {allowed}")
    return PRECISIONS[key]


def matrix_dtype_for(prec: Precision, available: dict[str, float]) -> str | None:
    """The matrix dtype a chip uses for `prec`: the preferred one if the chip has it, else the first fallback."""
    for dtype in (prec.compute, *prec.fallback):
        if available.get(dtype):
            return dtype
    return None


def default_precision(available: dict[str, float]) -> str:
    """The precision a prediction takes when none is given: bf16 where the chip runs 16-bit matrices (directly or by
    a fallback), else the first of fp8, int8 (w8a8) and fp4 it runs (an NPU whose only published rate is INT8
    runs models quantized for it, as its SDK does); bf16 when it runs none (the caller then says why)."""
    for name in ("bf16", "fp8", "int8", "fp4"):
        if matrix_dtype_for(PRECISIONS[name], available):
            return name
    return "bf16"
