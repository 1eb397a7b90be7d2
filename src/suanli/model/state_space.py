"""State-space layers suanli does not model yet, refused by name rather than misread (issue 21)."""

from __future__ import annotations

from typing import Any

from suanli.schema import SuanliError

# Config fields of Mamba-2 mixers (Nemotron-H, Falcon-H1, Zamba2, Mamba-2/Codestral): their state and kernels are
# not modelled, and read as attention + MLP layers they would silently double a model's size (Nemotron-H 8B: 17 B)
MAMBA2_FIELDS = ("hybrid_override_pattern", "mamba_num_heads", "mamba_n_heads", "mamba_d_ssm", "mamba_head_dim",
                 "ssm_state_size", "mamba_n_groups")
STATE_SPACE_TYPES = {"mamba", "mamba2", "falcon_mamba", "nemotron_h", "falcon_h1", "zamba", "zamba2", "bamba"}


def refuse_state_space(cfg: dict[str, Any], name: str, mtype: str) -> None:
    if mtype == "jamba":  # Jamba's Mamba-1 layers are modelled (`_attention_per_layer`)
        return
    field = next((k for k in MAMBA2_FIELDS if k in cfg), None)
    if field or mtype in STATE_SPACE_TYPES:
        why = f"config field {field!r}" if field else f"model_type {mtype!r}"
        raise SuanliError(f"{name}: Mamba / Mamba-2 state-space layers ({why}) are not modelled; suanli models "
                          "Jamba's Mamba layers, gated linear attention (Qwen3-Next) and RWKV")
