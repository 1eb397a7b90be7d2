"""What a deployment's layout and precision resolve to before any step is timed: the layout checked against the
model (TP divides the heads, EP the experts), and the dtypes the chip runs the asked precision at."""

from __future__ import annotations

from suanli.model.arch import Arch
from suanli.model.ops import Layout, Numerics
from suanli.schema import Chip, Deployment, SuanliError, get_precision
from suanli.schema.precision import matrix_dtype_for

GGUF_LIKE = ("q4", "q5", "q6", "q8", "f16")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def check_layout(arch: Arch, lay: Layout, model_id: str, pads_heads: bool = False) -> None:
    """`pads_heads`: the engine pads attention heads up to a multiple of TP and replicates KV heads
    (`Features.pads_heads`), so any TP runs; heads per chip are then counted as a fraction (the padding is not
    costed)."""
    for g in arch.groups:
        a = g.attn
        if a.kind in ("mha", "mla") and a.heads % lay.tp and not pads_heads:
            allowed = ", ".join(str(d) for d in _divisors(a.heads) if d <= 64)
            raise SuanliError(f"tp={lay.tp} does not divide the {a.heads} attention heads of {model_id}; "
                              f"allowed tp: {allowed}")
        if a.kind == "mha" and a.kv_heads % lay.tp and lay.tp % a.kv_heads and not pads_heads:
            raise SuanliError(f"tp={lay.tp} and the {a.kv_heads} KV heads of {model_id}: one must divide the other")
        if a.kind == "linear" and a.ssm_heads and (a.ssm_heads % lay.tp or a.ssm_groups % lay.tp):
            raise SuanliError(f"tp={lay.tp} does not divide the {a.ssm_heads} Mamba-2 heads and "
                              f"{a.ssm_groups} groups of {model_id}")
        if a.kind == "linear" and a.lin_v_heads % lay.tp:
            raise SuanliError(f"tp={lay.tp} does not divide the {a.lin_v_heads} linear-attention heads of {model_id}")
        m = g.mlp
        if m.kind == "moe" and m.experts % lay.ep:
            raise SuanliError(f"ep={lay.ep} does not divide the {m.experts} experts of {model_id}")
    if lay.ep > 1 and not arch.is_moe:
        raise SuanliError(f"ep={lay.ep}: {model_id} is a dense model; expert parallelism needs MoE layers (use ep=1)")
    if (lay.tp * lay.dp) % lay.ep:
        raise SuanliError(f"ep={lay.ep} must divide tp*dp={lay.tp * lay.dp} (experts live on the chips of a stage)")
    if lay.pp > arch.layers:
        raise SuanliError(f"pp={lay.pp} exceeds the {arch.layers} layers of {model_id}")


def numerics_for(chip: Chip, dep: Deployment) -> Numerics:
    prec = get_precision(dep.precision)
    gemm = matrix_dtype_for(prec, chip.available_dtypes())
    if gemm is None:
        have = ", ".join(sorted(chip.available_dtypes())) or "none"
        if have == "none":
            raise SuanliError(f"chip {chip.id}: no compute rate is known (matrix_tflops and vector_tflops are empty "
                              "in the catalog), so no prediction can be made")
        rates = chip.available_dtypes()
        runs = [p for p in ("int8", "fp8", "fp4", "bf16") if matrix_dtype_for(get_precision(p), rates)]
        raise SuanliError(f"precision {prec.name}: chip {chip.id} has no known rate for it (known: {have}); "
                          f"precisions it runs: {', '.join(runs) or 'none'}")
    kv = get_precision(dep.kv_precision, "kv_precision") if dep.kv_precision else None
    gguf = prec.name.startswith(GGUF_LIKE)
    head = prec.bytes if (gguf or prec.bits >= 16) else 2.0
    attn = next((d for d in ("bf16", "fp16", "fp32") if chip.available_dtypes().get(d)), gemm)
    return Numerics(weight_bytes=prec.bytes, head_bytes=head, kv_bytes=kv.bytes if kv else 2.0, gemm_dtype=gemm,
                    attn_dtype=attn, dispatch_bytes=1.0 if gemm in ("fp8", "fp4") else 2.0,
                    attn_weight_bytes=prec.attn_bits / 8.0 if prec.attn_bits else None)
